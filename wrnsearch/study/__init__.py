"""The study: the single source of truth of a search, and the one owner of what a trial counts as.

- what a stored trial counts as (:func:`outcome_of`, :class:`Outcome`); the record itself, what
  the trainer writes and the study stores, is :mod:`wrnsearch.record`;
- where the study lives: storage URLs (:func:`storage_url`, passwords hidden by
  :func:`display_url`), the writer's storage (:func:`open_storage`), read-only readers
  (:func:`load_study`), one driver per study on a server (:func:`study_lock`);
- the run directory, its saved space and its lock (:func:`resolve_run`, :class:`RunLock`);
- the driver's writes, from proposal to told outcome (:func:`open_study`, ``tell_*``);
- whether every node of a cluster can reach the study (:func:`check_storage_for_cluster`).

The samplers that propose what the study stores sit below, in :mod:`wrnsearch.samplers`; the
TensorBoard and MLflow mirrors above, in :mod:`wrnsearch.tracking`.
"""

from __future__ import annotations

from wrnsearch.study._outcome import (
    Outcome,
    count_outcomes,
    counts_as_trained,
    has_full_result,
    is_feasible,
    is_interrupted,
    is_reusable,
    outcome_from,
    outcome_of,
    tried_keys,
)
from wrnsearch.study._run_dir import RunLock, prepare_run_dir, resolve_run, write_run_dir
from wrnsearch.study._shared_fs import SHARED_FS_ENV, check_storage_for_cluster, is_shared_path, network_fs
from wrnsearch.study._storage import load_study, open_storage, run_study_url, storage_url
from wrnsearch.study._study_lock import study_lock
from wrnsearch.study._urls import JOURNAL_FILE, STUDY_FILE, display_url, sqlite_path, without_password
from wrnsearch.study._writer import (
    Result,
    enqueue_first,
    lost_worker_record,
    open_study,
    reconcile_running,
    report_epochs,
    stopped_record,
    tell_copy,
    tell_infeasible,
    tell_leader_failed,
    tell_record,
    tell_stopped,
    trial_key,
)

__all__ = [
    "JOURNAL_FILE", "Outcome", "Result", "RunLock", "SHARED_FS_ENV", "STUDY_FILE", "check_storage_for_cluster",
    "count_outcomes", "counts_as_trained", "display_url", "enqueue_first", "has_full_result", "is_feasible",
    "is_interrupted", "is_reusable", "is_shared_path", "load_study", "lost_worker_record", "network_fs",
    "open_storage", "open_study", "outcome_from", "outcome_of", "prepare_run_dir", "reconcile_running",
    "report_epochs", "resolve_run", "run_study_url", "sqlite_path", "stopped_record", "storage_url", "study_lock",
    "tell_copy", "tell_infeasible", "tell_leader_failed", "tell_record", "tell_stopped", "trial_key", "tried_keys",
    "without_password", "write_run_dir",
]
