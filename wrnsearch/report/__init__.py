"""The report of a search: a self-contained HTML page, and the files a run leaves behind.

- :mod:`~wrnsearch.report._page`: :func:`write_report`, the page;
- :mod:`~wrnsearch.report._figures`, :mod:`~wrnsearch.report._parallel`: its plotly figures (the
  learning curves are :mod:`wrnsearch.figures`', shared with optuna-dashboard), with their axes
  (:mod:`~wrnsearch.report._axes`) and the paper's labels placed
  apart (:mod:`~wrnsearch.report._labels`);
- :mod:`~wrnsearch.report._plotlyjs`: plotly.js carried in the page, gzip-compressed;
- :mod:`~wrnsearch.report._paper_results`: the paper's published results, as data;
- :mod:`~wrnsearch.report._outputs`: ``pareto.csv`` and ``report.html`` at the end of a run;
- :mod:`~wrnsearch.report._screenshot`: a PNG of the page as Chromium draws it (``--png``).

plotly is imported here, in :mod:`wrnsearch.figures` and by ``wrnsearch bench search --html`` only.
The arithmetic lives in :mod:`wrnsearch.pareto` and :mod:`wrnsearch.dominance`.
"""

from __future__ import annotations

from wrnsearch.report._html import size_text
from wrnsearch.report._outputs import write_run_outputs
from wrnsearch.report._page import render_report, write_report
from wrnsearch.report._paper_results import PAPER_LABEL, PAPER_RESULTS, PaperResult, paper_results
from wrnsearch.report._screenshot import screenshot_report

__all__ = [
    "PAPER_LABEL", "PAPER_RESULTS", "PaperResult", "paper_results", "render_report", "screenshot_report", "size_text",
    "write_report", "write_run_outputs",
]
