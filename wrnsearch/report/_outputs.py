"""What every run leaves in its directory when it ends: ``pareto.csv`` and ``report.html``."""

from __future__ import annotations

import logging
from pathlib import Path

from wrnsearch.errors import WRNSearchError
from wrnsearch.files import atomic_write_text
from wrnsearch.pareto import format_front, front_rows
from wrnsearch.report._html import size_text
from wrnsearch.report._page import write_report
from wrnsearch.study import load_study

log = logging.getLogger(__name__)


def write_run_outputs(run_dir: Path, storage: str, study_name: str) -> list[str]:
    """Write the front as CSV and the HTML report; return one line per file written.

    A failure here never fails the run: the study holds everything, and ``wrnsearch report``
    can write the files again.
    """
    lines = []
    try:
        study = load_study(storage=storage, study_name=study_name)
        csv_path = atomic_write_text(Path(run_dir) / "pareto.csv", format_front(front_rows(study), "csv"))
        lines.append(f"front: {csv_path}")
        report = write_report(study, Path(run_dir) / "report.html")
        lines.append(f"report: {report} ({size_text(report.stat().st_size)}, works offline)")
    except (WRNSearchError, OSError) as e:
        log.warning("could not write the run's outputs: %s", e)
        lines.append(f"warning: could not write pareto.csv / report.html ({e}); run: wrnsearch report {run_dir}")
    return lines
