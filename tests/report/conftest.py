"""The report every report test reads: a running multi-device study with every trial state
(CIFAR-10), written once per test process."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from tests.studies import CPU, GPU, make_study


@pytest.fixture(scope="session")
def multi_report(tmp_path_factory) -> tuple[optuna.Study, Path]:
    """The study and its report.html, alone in its directory."""
    from wrnsearch.report import write_report

    root = tmp_path_factory.mktemp("multi")
    study = make_study(root / "multi.db", n_complete=30, devices=(GPU, CPU), seed=1, name="multi")
    return study, write_report(study, root / "report" / "report.html")
