"""The Python API of a search, for notebooks and scripts: ``wrnsearch.run``, ``wrnsearch.open_run``
and ``wrnsearch.plan`` (the :mod:`wrnsearch.plan` package, called).

What ``wrnsearch run SPACE.yaml`` does, without the CLI: the same driver, the same run directory
(``runs/<name>``, its study, ``pareto.csv`` and ``report.html``), the same resume when run again.
The result holds the Optuna study and the front as rows, so that a notebook goes on from there.

Example:
    >>> import wrnsearch
    >>> result = wrnsearch.run("spaces/quickstart.yaml", data_root="data")  # doctest: +SKIP
    >>> result.front_frame()  # doctest: +SKIP
    >>> wrnsearch.open_run("runs/quickstart").study.best_trials  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from wrnsearch.pareto import front_rows
from wrnsearch.report import write_run_outputs
from wrnsearch.search import EventCallback, RunOptions, run_search
from wrnsearch.space import Space, as_space
from wrnsearch.study import load_study, resolve_run, run_study_url

if TYPE_CHECKING:
    import pandas

SpaceLike = str | os.PathLike[str] | Mapping[str, Any] | Space
Overrides = Mapping[str, Any] | Sequence[str]


@dataclass
class SearchRun:
    """A search's run, finished (or stopped) and read back.

    - ``run_dir``: its directory (``space.yaml``, the study, checkpoints, ``run.log``);
    - ``storage``: the Optuna storage URL of its study;
    - ``study``: the study itself (every trial, its user attributes and learning curve);
    - ``front``: the Pareto front as rows (``trial``, ``arch``, the objectives, ``test_error``, ...,
      as ``wrnsearch pareto`` prints them), best first in the first objective;
    - ``report``, ``front_csv``: ``report.html`` and ``pareto.csv`` when they exist;
    - ``stop_reason``: why the search stopped proposing (None when it was opened, not run).
    """

    run_dir: Path
    storage: str
    study: optuna.Study
    front: list[dict[str, Any]]
    report: Path | None
    front_csv: Path | None
    stop_reason: str | None = None

    def front_frame(self) -> pandas.DataFrame:
        """The front as a pandas DataFrame, one row per trial (pandas must be installed)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("the front as a DataFrame needs pandas (pip install pandas); "
                              "the same rows are in .front") from None
        return pandas.DataFrame(self.front)


def _overrides(overrides: Overrides) -> list[str]:
    """``{"train.epochs": 2}`` or ``["train.epochs=2"]`` as ``--set`` items."""
    if isinstance(overrides, Mapping):
        return [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
    return [str(item) for item in overrides]


def run(space: SpaceLike, *, name: str | None = None, runs_dir: str | os.PathLike[str] = "runs",
        storage: str | None = None, address: str | None = None, data_root: str | None = None,
        overrides: Overrides = (), warm_start: str | os.PathLike[str] | None = None, measure_alone: bool = True,
        on_event: EventCallback | None = None) -> SearchRun:
    """Run a search, or resume it, as ``wrnsearch run`` does; return it read back.

    Args:
        space: a space file (``"spaces/quickstart.yaml"``), its sections as a mapping
            (``{"name": ..., "dataset": {...}, "space": {...}, ...}``), or a loaded Space.
        name: the study's and run directory's name (default: the space's).
        runs_dir: where run directories live (``runs/<name>``).
        storage: an Optuna storage URL (default: the run directory's ``study.db``).
        address: a Ray cluster to join (default: start a local Ray, or use the one this process
            has initialized).
        data_root: where the data set lives.
        overrides: ``--set`` items, as ``{"train.epochs": 2}`` or ``["train.epochs=2"]``.
        warm_start: another run whose complete results are copied in first.
        measure_alone: time the front's latencies again alone when the search ends.
        on_event: called with each typed event (:mod:`wrnsearch.search`'s ``Event`` kinds) and
            the running counts; nothing is printed without it.

    Returns:
        The :class:`SearchRun`, with ``pareto.csv`` and ``report.html`` written into its directory.

    Raises:
        WRNSearchError: bad input (a located one-line message), a missing data set, a crashed search
            (every finished trial is kept: run again to resume).
    """
    if not isinstance(space, (str, os.PathLike, Mapping, Space)):
        raise TypeError(f"space: a space file, a mapping of its sections or a Space, not {type(space).__name__}")
    if isinstance(space, Mapping):  # validated here, so that its errors say where it came from
        space = as_space(space, source="<space given to wrnsearch.run>")
    options = RunOptions(name=name, runs_dir=Path(runs_dir), storage=storage, address=address, data_root=data_root,
                         overrides=tuple(_overrides(overrides)), measure_alone=measure_alone,
                         warm_start=Path(warm_start) if warm_start is not None else None)
    result = run_search(space, options, on_event=on_event)
    write_run_outputs(result.run_dir, result.storage, result.study_name)
    out = _read(result.run_dir, result.storage, result.study_name)
    out.stop_reason = result.stop_reason
    return out


def open_run(run_dir: str | os.PathLike[str], *, storage: str | None = None) -> SearchRun:
    """An existing run, read back (read-only: safe while its search runs), as :func:`run` returns it.

    ``storage``: the run's Optuna storage URL, when it used one other than its directory's.
    """
    space, path = resolve_run(None, run_dir=run_dir)
    url = storage or space.storage or run_study_url(path)
    return _read(path, url, space.name)


def _read(run_dir: Path, storage: str, study_name: str) -> SearchRun:
    study = load_study(storage=storage, study_name=study_name)
    report, csv = run_dir / "report.html", run_dir / "pareto.csv"
    return SearchRun(run_dir=run_dir, storage=storage, study=study, front=front_rows(study),
                     report=report if report.is_file() else None, front_csv=csv if csv.is_file() else None)
