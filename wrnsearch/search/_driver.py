"""The search: Optuna proposes, Ray Tune trains, the Optuna study keeps every result.

:func:`run_search` opens (or creates) the run directory and its study, starts a local Ray or
joins a cluster, and hands Ray Tune a :class:`~wrnsearch.search._searcher.StudySearcher`. The
study is the whole state: a resumed run (same command, or ``wrnsearch resume RUN_DIR``)
reconciles trials a killed driver left RUNNING (marked failed as interrupted, and queued again
so they continue from their checkpoint), counts what is finished, and goes on. With ``--warm-start``
another run's comparable results are copied in first (:mod:`wrnsearch.search._warm_start`). Ray Tune's own
restore is not used (it has lost searcher state across releases), nor are its per-result log
files: the study records every result.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna

from wrnsearch import dataset_registry
from wrnsearch.compat import close_storage
from wrnsearch.errors import RunError, SearchCrashed, WRNSearchError, one_line
from wrnsearch.pareto import eligible_trials
from wrnsearch.plan import TrialRequest
from wrnsearch.record import Attr
from wrnsearch.search._dashboard_figures import DashboardFigures
from wrnsearch.search._epoch_progress import PROGRESS_DIR
from wrnsearch.search._events import Event, Noted, PhaseStarted, Planned, RunEnded, RunStarted, TimedAlone
from wrnsearch.search._node_checks import check_data_on_nodes
from wrnsearch.search._options import EventCallback, RunOptions, RunProgress, RunResult
from wrnsearch.search._preflight import check_trials_can_start
from wrnsearch.search._ray_connection import RUN_LOG, cluster_node_count, gpus_per_trial, init_ray, run_log
from wrnsearch.search._scheduler_decisions import grace_epochs
from wrnsearch.search._stop_decisions import TIME_STOPPED_REASON, end_reason, exhausted_reason, max_trials_reason
from wrnsearch.search._trial_context import TrialContext
from wrnsearch.search._warm_start import WarmSource, check_warm_start, copy_warm_start
from wrnsearch.space import Space, space_size
from wrnsearch.study import (
    Outcome,
    RunLock,
    check_storage_for_cluster,
    count_outcomes,
    display_url,
    enqueue_first,
    open_study,
    outcome_of,
    reconcile_running,
    resolve_run,
    storage_url,
    study_lock,
    tried_keys,
    without_password,
    write_run_dir,
)
from wrnsearch.tracking import Tracker, check_tracking, open_tracker, publish_search

log = logging.getLogger(__name__)

Trainable = Callable[..., None]
PLAN_PROBES = 3  # architectures the run's own forecast times (wrnsearch plan times 5)


def run_search(space_path: str | Path | Space | None, options: RunOptions = RunOptions(), *,
               on_event: EventCallback | None = None, trainable: Trainable | None = None) -> RunResult:
    """Run (or resume) a search. See the module docstring. ``trainable`` replaces the trainer (benchmarks)."""
    space, run_dir = resolve_run(space_path, run_dir=options.run_dir, runs_dir=options.runs_dir, name=options.name,
                                 overrides=options.overrides)
    check_tracking(space)
    url = storage_url(run_dir, options.storage or space.storage)
    if options.storage or space.storage:  # saved without its password, so that a resume finds the study
        space = space.model_copy(update={"storage": without_password(url)})
    if options.preflight_data and options.address is None and trainable is None:
        _preflight_data(space, options.data_root)
    warm = None
    if options.warm_start is not None:  # checked before the run directory is written: a refusal leaves nothing
        warm = check_warm_start(space, options.warm_start, run_dir=run_dir, data_root=options.data_root)
    write_run_dir(space, run_dir)
    with RunLock(run_dir), study_lock(url, space.name, run_dir):  # no second driver of the study, anywhere
        study = open_study(space, url)
        try:
            return _run_locked(space, study, run_dir, url, options, on_event, trainable, warm)
        except (WRNSearchError, KeyboardInterrupt):
            raise
        except Exception as e:
            raise _crashed(e, run_dir, url, space.name) from e
        finally:
            close_storage(study)


def _run_locked(space: Space, study: optuna.Study, run_dir: Path, url: str, options: RunOptions,
                on_event: EventCallback | None, trainable: Trainable | None,
                warm: WarmSource | None = None) -> RunResult:
    """The run, under the run directory's lock, on its open study (``warm``: a checked warm start)."""
    found = len(study.get_trials(deepcopy=False))  # before this run adds any: what a resume found
    reconciled = reconcile_running(study, space)
    warmed = None
    if warm is not None:  # before enqueue_first, which skips the architectures the study holds
        warmed = copy_warm_start(study, space, warm)
    enqueue_first(study, space)
    trials = study.get_trials(deepcopy=False)
    progress = _progress_of(space, study, trials)
    if on_event:
        # resumed: the study held trials before this run (not the warm start's copies or the
        # enqueued proposals it added just now)
        on_event(RunStarted(str(run_dir), display_url(url), found > 0, found, reconciled, progress.finished_before),
                 progress)
        if warmed is not None:
            on_event(warmed.to_event(), progress)
    figures = DashboardFigures(study, options.figure_interval_s)
    events = _redrawing(figures, on_event)
    stop_reason = _nothing_left(space, trials, progress)
    try:
        if stop_reason is None:
            try:
                # Ray's start-up and Tune's chatter stay out of the view; TensorBoard and MLflow copies
                with run_log(run_dir / RUN_LOG), open_tracker(space, study, run_dir) as tracker:
                    stop_reason = _tune(space, study, run_dir, options, progress, events, trainable, tracker)
            except Exception as e:
                cause = _storage_failure(e)
                if cause is None:
                    raise
                raise RunError(
                    f"the study could not be written ({cause}); every trial finished before is kept in "
                    f"{display_url(url)}: "
                    f"free disk space or fix permissions, then resume with: wrnsearch resume {run_dir}"
                ) from e
        if options.measure_alone and trainable is None:
            events(PhaseStarted("timing the front's latencies alone"), progress)
            _measure_alone(space, study, progress, events)
        publish_search(space, study, run_dir)  # MLflow's parent run: the space, the front, its hypervolume
    finally:  # the figures show what the study holds, however the run ended (Ctrl-C included)
        figures.flush()
    if on_event:
        on_event(RunEnded(stop_reason), progress)
    return RunResult(run_dir, url, space.name, progress, stop_reason, reconciled)


def _crashed(error: Exception, run_dir: Path, url: str, study_name: str) -> SearchCrashed:
    """An unexpected error as one line; its traceback goes to the run's log (the terminal gets the line)."""
    log_path = run_dir / RUN_LOG
    try:
        with open(log_path, "a", encoding="utf-8") as f:
            f.write("the search stopped on an unexpected error:\n"
                    + "".join(traceback.format_exception(type(error), error, error.__traceback__)))
        where = f"the traceback is in {log_path}"
    except OSError:
        where = "run with --debug for the traceback"
    text = one_line(error)
    return SearchCrashed(
        f"the search stopped on an unexpected error: {type(error).__name__}{': ' + text if text else ''} ({where}); "
        f"every finished trial is kept in {display_url(url)}: resume with: wrnsearch resume {run_dir}",
        str(run_dir), url, study_name)


def _redrawing(figures: DashboardFigures, on_event: EventCallback | None) -> EventCallback:
    """The run's events, passed on, each trial's report and end redrawing the dashboard's figures."""

    def events(event: Event, progress: RunProgress) -> None:
        if on_event is not None:
            on_event(event, progress)
        if event.changes_study:
            figures.changed()

    return events


def _measure_alone(space: Space, study: optuna.Study, progress: RunProgress, on_event: EventCallback | None) -> None:
    """The front's latencies timed again with the device to itself (no trial runs any more)."""
    from wrnsearch.search._exclusive_latency import measure_front_alone

    def timed(arch: str, figures: dict[str, Any]) -> None:
        if on_event:
            on_event(TimedAlone(arch, figures), progress)

    result = measure_front_alone(study, space, on_timed=timed)
    for arch, why in result.skipped.items():
        log.warning("latency of %s not timed alone here: %s (run wrnsearch measure on that device)", arch, why)


def _progress_of(space: Space, study: optuna.Study, trials: list[optuna.trial.FrozenTrial]) -> RunProgress:
    """The live counts as a resumed run starts: what the study already holds."""
    counts = count_outcomes(trials)
    progress = RunProgress(time_budget_s=space.budget.time, max_trials=space.budget.max_trials,
                           finished_before=sum(counts[o.value] for o in Outcome if o.trained))
    for outcome in (Outcome.DONE, Outcome.PRUNED, Outcome.FAILED, Outcome.INFEASIBLE, Outcome.REUSED, Outcome.COPIED):
        progress.count(outcome, counts[outcome.value])
    for t in eligible_trials(study):
        error = t.user_attrs.get(Attr.VAL_ERROR, t.user_attrs.get(Attr.TEST_ERROR))  # retrain: test error
        if error is not None:
            progress.add_result(list(t.values), error)
    return progress


def _nothing_left(space: Space, trials: list[optuna.trial.FrozenTrial], progress: RunProgress) -> str | None:
    """Why a run has nothing to do before it starts Ray (budget spent, space exhausted), or None."""
    if space.budget.max_trials - progress.finished_before <= 0:
        return max_trials_reason(space.budget.max_trials)
    waiting = any(outcome_of(t) == Outcome.WAITING for t in trials)
    total = space_size(space)
    if len(tried_keys(trials)) >= total and not waiting:
        return exhausted_reason(total)
    return None


def _preflight_data(space: Space, data_root: str | None) -> None:
    """Fail before any trial when a local run's data set is missing (one clear line)."""
    if dataset_registry.get(space.dataset.name).generated:
        return
    from wrnsearch.data import read_dataset, resolve_data_root

    read_dataset(space.dataset.name, resolve_data_root(data_root, space.dataset.root), download=space.dataset.download,
                 resolution=space.dataset.resolution)


def _storage_failure(e: BaseException) -> str | None:
    """A full disk, a read-only file system or a database error anywhere in ``e``'s chain."""
    import sqlalchemy.exc

    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (sqlalchemy.exc.OperationalError, sqlite3.OperationalError, sqlalchemy.exc.DatabaseError)):
            return one_line(getattr(e, "orig", e), 200)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
            return f"{e.strerror}: {e.filename or ''}".strip(": ")
        e = e.__cause__ or e.__context__
    return None


def trial_request(space: Space, gpus: float) -> TrialRequest:
    """What one trial asks of a node: the space's CPUs and memory, ``gpus`` as resolved on the cluster."""
    return TrialRequest(space.resources.cpus_per_trial, gpus, space.resources.memory_per_trial)


def _tuner(space: Space, searcher: Any, trainable: Trainable, context: TrialContext, run_dir: Path) -> Any:
    from ray import tune

    from wrnsearch.search._lost_workers import LostWorkers
    from wrnsearch.search._trial_starts import TrialStarts

    scheduler = _scheduler(space)
    request = trial_request(space, context.gpus)
    resources = {"cpu": request.cpus, "gpu": request.gpus}
    if request.memory_bytes:  # Ray then places no more trials on a node than its memory holds
        resources["memory"] = request.memory_bytes
    return tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, ctx=context.to_dict()), resources),
        tune_config=tune.TuneConfig(
            # unbounded: the searcher stops proposing, and a trial whose setup failed is not counted
            search_alg=searcher, scheduler=scheduler, num_samples=-1,
            max_concurrent_trials=space.search.max_concurrent, reuse_actors=space.resources.reuse_actors,
            time_budget_s=space.budget.time,
        ),
        run_config=tune.RunConfig(
            name="tune", storage_path=str(run_dir.resolve()), verbose=0,
            failure_config=tune.FailureConfig(max_failures=space.search.max_failures), log_to_file=True,
            callbacks=[LostWorkers(space.search.max_failures), TrialStarts(searcher.started)],
        ),
    )


def _scheduler(space: Space) -> Any:
    """Ray Tune's scheduler for ``search.scheduler``: fifo, asha (validation error only), moasha (every objective)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    cfg, epochs = space.search.asha, space.train.epochs
    if space.search.scheduler == "asha":
        return ASHAScheduler(time_attr="epoch", metric="val_error", mode="min", max_t=epochs,
                             grace_period=grace_epochs(cfg.grace_period, epochs),
                             reduction_factor=cfg.reduction_factor)
    if space.search.scheduler == "moasha":
        from wrnsearch.search._moasha_scheduler import MOASHAScheduler

        return MOASHAScheduler(space.objectives, max_t=epochs, grace_period=cfg.grace_period,
                               reduction_factor=cfg.reduction_factor)
    return FIFOScheduler()


def _say_plan(space: Space, options: RunOptions, request: TrialRequest, progress: RunProgress,
              on_event: EventCallback) -> None:
    """The forecast of this search in one line, before the first trial (``wrnsearch plan`` in full).

    Planned where the driver runs: on a cluster the trials' nodes may differ, and the line says
    so. Probes are cached, so a resumed run, or one after ``wrnsearch plan``, times nothing.
    """
    from wrnsearch.plan import make_plan
    from wrnsearch.search._preflight import cluster_nodes

    nodes = cluster_nodes()
    try:
        device = "cuda" if request.gpus > 0 else "cpu"
        plan = make_plan(space, device=device, data_root=options.data_root, probes=PLAN_PROBES,
                         node=None if options.address else (nodes[0] if len(nodes) == 1 else None))
    except WRNSearchError as e:  # the device is on the trials' nodes only, say
        on_event(Planned(f"plan: not forecast here ({e})"), progress)
        return
    line = plan.summary_line() + (" (timed on the driver's machine)" if options.address else "")
    on_event(Planned(line, dict(plan.search)), progress)


@contextlib.contextmanager
def _without_tune_result_files() -> Iterator[None]:
    """Tune's per-trial result files (result.json, progress.csv, TensorBoard events) would repeat
    what the study holds, at a few milliseconds per result: off while this search runs, and the
    warning of Tune's result grid about the files it then cannot find silenced. The process's
    setting is restored afterwards, for other Tune runs in it."""
    name = "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"
    before = os.environ.get(name)
    analysis_log = logging.getLogger("ray.tune.analysis.experiment_analysis")
    level = analysis_log.level
    os.environ[name] = "1"
    analysis_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        analysis_log.setLevel(level)
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _tune(space: Space, study: optuna.Study, run_dir: Path, options: RunOptions, progress: RunProgress,
          on_event: EventCallback | None, trainable: Trainable | None, tracker: Tracker) -> str | None:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # our own live view replaces Tune's tables
    import ray

    from wrnsearch.search._searcher import StudySearcher
    from wrnsearch.search._trainable import wrn_trainable

    started_ray = init_ray(options.address, options.num_cpus)
    try:
        if options.address:  # a study or checkpoints on one node's disk would be lost to the others
            check_storage_for_cluster(storage_url(run_dir, options.storage or space.storage), str(run_dir.resolve()),
                                      cluster_node_count())
        context = TrialContext.for_run(space, run_dir, data_root=options.data_root, progress=run_dir / PROGRESS_DIR,
                                       gpus=gpus_per_trial(space.resources.gpus_per_trial))
        request = trial_request(space, context.gpus)
        room, note = check_trials_can_start(space.source, request, space.search.max_concurrent)  # or refused: exit 2
        progress.waiting_for = request.text()
        if note and on_event:
            on_event(Noted(note), progress)
        if options.address and options.preflight_data and trainable is None:  # a local run checked it already
            check_data_on_nodes(space.dataset.model_dump(mode="json"), context.data_root,
                                space.resources.cpus_per_trial, context.gpus)
        if options.plan and trainable is None and on_event:
            _say_plan(space, options, request, progress, on_event)
        allowed = space.budget.max_trials - progress.finished_before
        searcher = StudySearcher(space, study, progress, on_event, allowed, tracker=tracker, room=room)
        tuner = _tuner(space, searcher, trainable or wrn_trainable, context, run_dir)
        interrupted = False
        # Tune's result grid at the end looks for the per-trial files it was told not to write;
        # the study holds every result, so its warning about them is noise
        try:
            with _without_tune_result_files():
                tuner.fit()
        except KeyboardInterrupt:
            interrupted = True
        time_up = bool(space.budget.time and progress.elapsed_s >= space.budget.time)
        # Tune handles Ctrl-C itself and returns with trials in flight: when the search's time
        # is not up, that was the user. Those trials did not fail; like a killed driver's, they
        # are marked interrupted and queued again, to continue from their checkpoints on resume.
        if interrupted or (searcher.live and not time_up and searcher.stop_reason is None):
            searcher.forget_in_flight()
            reconcile_running(study, space)
            raise KeyboardInterrupt
        searcher.finish_stragglers(TIME_STOPPED_REASON)
        if searcher.setup_error is not None:
            raise RunError(f"{searcher.setup_error}; fix it, then resume with: wrnsearch resume {run_dir}")
        return end_reason(trained=progress.finished_before + searcher.launched, max_trials=space.budget.max_trials,
                          time_up=time_up, searcher_reason=searcher.stop_reason)
    finally:
        if started_ray:
            ray.shutdown()
