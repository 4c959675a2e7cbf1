"""What every run leaves in its directory when it ends: ``pareto.csv`` and ``report.html``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from wrnsearch.errors import WRNSearchError

log = logging.getLogger(__name__)


def write_run_outputs(run_dir: Path, storage: str, study_name: str) -> list[str]:
    """Write the front as CSV and the HTML report; return one line per file written.

    A failure here never fails the run: the study holds everything, and ``wrnsearch report``
    can write the files again.
    """
    from wrnsearch.pareto import format_front, front_rows, load_study
    from wrnsearch.report import write_report

    lines = []
    try:
        study = load_study(storage=storage, study_name=study_name)
        csv_path = Path(run_dir) / "pareto.csv"
        tmp = csv_path.with_suffix(".csv.partial")
        tmp.write_text(format_front(front_rows(study), "csv"))
        os.replace(tmp, csv_path)
        lines.append(f"front: {csv_path}")
        lines.append(f"report: {write_report(study, Path(run_dir) / 'report.html')}")
    except (WRNSearchError, OSError) as e:
        log.warning("could not write the run's outputs: %s", e)
        lines.append(f"warning: could not write pareto.csv / report.html ({e}); run: wrnsearch report {run_dir}")
    return lines
