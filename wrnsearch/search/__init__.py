"""The search: Optuna proposes, Ray Tune trains, the Optuna study keeps every result.

- :mod:`~wrnsearch.search.driver`: :func:`run_search`, the driver;
- :mod:`~wrnsearch.search.searcher`: the Tune searcher backed by the study (imports Ray);
- :mod:`~wrnsearch.search.trainable`: the worker's trainable;
- :mod:`~wrnsearch.search.decisions`: scheduling decisions as pure functions (no Ray);
- :mod:`~wrnsearch.search.connect`: starting or joining Ray, and Ray's errors in one line;
- :mod:`~wrnsearch.search.options`: what a run is asked for and what it reports.

Only this package knows Ray and Optuna together. Importing it does not import Ray.
"""

from __future__ import annotations

from wrnsearch.search.driver import run_search
from wrnsearch.search.options import EventCallback, RunOptions, RunProgress, RunResult

__all__ = ["EventCallback", "RunOptions", "RunProgress", "RunResult", "run_search"]
