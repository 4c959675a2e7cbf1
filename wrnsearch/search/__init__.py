"""The search: Optuna proposes, Ray Tune trains, the Optuna study keeps every result.

- :func:`run_search`, the driver, asked for with :class:`RunOptions`, telling :class:`RunProgress`;
- :class:`StudySearcher`, the Tune searcher backed by the study, and the typed events a run
  tells (:class:`Event` and its kinds, :mod:`wrnsearch.search._events`);
- :func:`wrn_trainable`, the worker's side: one architecture trained, its record reported,
  with what every trial shares in a :class:`TrialContext`;
- the schedulers: :class:`MOASHAScheduler`, and the decisions at their rungs (:class:`Rungs`,
  pure functions that a replay calls too); when a search stops proposing is pure as well;
- around a run: Ray started or joined (:func:`cluster_errors`), data checked on every node,
  warm starts (:func:`check_warm_start`), the front's latencies timed alone (:func:`measure_run`),
  figures for optuna-dashboard (:class:`DashboardFigures`), progress within an epoch
  (:func:`read_progress`).

Only this package knows Ray and Optuna together. Importing it imports nothing: each name is
loaded from its module when first asked for, so that a trial's worker imports the trainable
without Optuna or the driver, and a replay the rung decisions without Ray.
"""

from __future__ import annotations

from wrnsearch.lazy import lazy_exports

_EXPORTS = {
    "_driver": ("run_search",),
    "_options": ("COUNTED", "EventCallback", "RunOptions", "RunProgress", "RunResult"),
    "_searcher": ("StudySearcher",),
    "_events": ("TRIAL_ENDS", "EpochReported", "Event", "Noted", "OutputsWritten", "PhaseStarted", "Planned",
                "RunEnded", "RunStarted", "TimedAlone", "TrialDone", "TrialEvent", "TrialFailed", "TrialInfeasible",
                "TrialReused", "TrialStarted", "TrialStopped", "WarmStarted"),
    "_trainable": ("failed_record", "report_record", "wrn_trainable"),
    "_trial_context": ("TrialContext",),
    "_scheduler_decisions": ("Rungs", "grace_epochs", "rung_milestones"),
    "_moasha_scheduler": ("MOASHAScheduler",),
    "_ray_connection": ("RUN_LOG", "assigned_gpus", "cluster_errors", "current_node", "explain_cluster_error"),
    "_preflight": ("autoscaler_present", "check_trials_can_start", "cluster_nodes"),
    "_node_checks": ("check_data_on_nodes", "data_problem"),
    "_warm_start": ("check_warm_start", "copy_warm_start"),
    "_exclusive_latency": ("NOTE_ATTR", "measure_front_alone", "measure_run"),
    "_dashboard_figures": ("CURVES_ID", "FRONT_ID", "DashboardFigures"),
    "_epoch_progress": ("EVALUATING", "PROGRESS_DIR", "STARTING", "TRAINING", "ProgressFile", "fraction_done",
                        "read_progress", "trial_eta_s"),
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
