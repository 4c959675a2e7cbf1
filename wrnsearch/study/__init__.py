"""The study: the single source of truth of a search, and the one owner of what a trial counts as.

- :mod:`~wrnsearch.study.outcome`: what a stored trial counts as (:func:`outcome_of`); the record
  itself, what the trainer writes and the study stores, is :mod:`wrnsearch.record`;
- :mod:`~wrnsearch.study.storage`: storage URLs, the writer's storage, read-only readers;
- :mod:`~wrnsearch.study.rundir`: the run directory, its saved space and its lock;
- :mod:`~wrnsearch.study.sampling`: the space as Optuna parameters, samplers and proposals;
- :mod:`~wrnsearch.study.writer`: the driver's writes, from proposal to told outcome;
- :mod:`~wrnsearch.study.shared_fs`: whether every node of a cluster can reach the study.
"""

from __future__ import annotations

from wrnsearch.study.outcome import (
    Outcome,
    count_outcomes,
    counts_as_trained,
    has_full_result,
    is_feasible,
    is_interrupted,
    is_reusable,
    outcome_of,
)
from wrnsearch.study.storage import JOURNAL_FILE, STUDY_FILE, load_study, open_storage, sqlite_path, storage_url

__all__ = [
    "JOURNAL_FILE", "STUDY_FILE", "Outcome", "count_outcomes", "counts_as_trained", "has_full_result", "is_feasible",
    "is_interrupted", "is_reusable", "load_study", "open_storage", "outcome_of", "sqlite_path", "storage_url",
]
