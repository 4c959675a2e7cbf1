"""MLflow, called from one background thread: a parent run per search, a child run per trial.

A slow or unreachable server never holds up the search: the first failure is logged once and
MLflow is left alone for the rest of the run (:mod:`wrnsearch.tracking`). The same thread
publishes a search's summary when the run ends (:mod:`wrnsearch.tracking._search_summary`).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from wrnsearch import __version__
from wrnsearch.errors import one_line
from wrnsearch.objectives import ERROR, OBJECTIVES
from wrnsearch.record import Status, TrialRecord
from wrnsearch.space import Space

log = logging.getLogger(__name__)

PARENT_ATTR = "mlflow_parent"  # study user attribute: {"uri", "experiment_id", "run_id"}
MLFLOW_WAIT_S = 30.0  # the longest the driver waits for MLflow, at the start and at the end
_MLFLOW_TAG_MAX = 5000  # MLflow's tag values are limited; a trial's reason is cut to this
FINISHED, KILLED, FAILED = "FINISHED", "KILLED", "FAILED"  # MLflow's run states
# a trial's final figures in MLflow (val_error is the curve's last point)
# the final figures of a trial's run: its test error and wall time beside every objective but the
# error (logged by epoch as val_error), each under the objective's name in the objective's unit
FINAL_METRICS = ("test_error", *(o.name for o in OBJECTIVES.values() if o is not ERROR), "wall_time_s")
SPACE_ARTIFACT, FRONT_ARTIFACT = "space.yaml", "pareto.csv"  # the parent run's, as the run directory's
_BATCH_PARAMS = 100  # the most params MLflow takes in one log_batch
Figure = tuple[str, float, int, int]  # an MLflow metric: key, value, timestamp (ms), step


def final_metrics(record: TrialRecord) -> dict[str, float]:
    """The :data:`FINAL_METRICS` a record has, by name (objectives in their own units)."""
    figures = record.to_dict()
    out = {}
    for name in FINAL_METRICS:
        value = OBJECTIVES[name].of_record(record) if name in OBJECTIVES else figures.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out


@dataclass(frozen=True)
class SearchSummary:
    """A search as its parent run shows it (:func:`~wrnsearch.tracking.search_summary` reads it from
    the study): plain data, so that the study is read on the caller's thread, never on MLflow's."""

    params: dict[str, str]
    metrics: dict[str, float]  # hypervolume (when a front exists), front_size
    trained: int  # the metrics' step: trials trained so far
    space_yaml: str
    front_csv: str
    alone: dict[int, list[Figure]]  # trial number -> its latencies timed alone


def mlflow_status(status: Status) -> str:
    """The MLflow state of a trial's run: complete is FINISHED; stopped early or interrupted KILLED; else FAILED."""
    if status == Status.COMPLETE:
        return FINISHED
    return KILLED if status.stopped_early or status == Status.INTERRUPTED else FAILED


class MlflowMirror:
    """MLflow calls in order on one daemon thread; after the first failure, none."""

    def __init__(self, uri: str | None) -> None:
        self.uri = uri
        self.calls: queue.Queue[tuple[Callable[[], Any], Future[Any]] | None] = queue.Queue()
        self.failed = False
        self.client: Any = None
        self.experiment_id: str | None = None
        self.parent: str | None = None
        self.created = False  # whether this mirror created the parent run (else it found the study's)
        self.children: dict[int, str] = {}  # trial number -> run id; touched by the thread only
        self.thread = threading.Thread(target=self._serve, name="wrnsearch-mlflow", daemon=True)
        self.thread.start()

    @classmethod
    def start(cls, space: Space, study: optuna.Study, run_dir: Path, *, reopen: bool = True) -> MlflowMirror | None:
        """Connect, find or create the parent run, and record it in the study; None when MLflow failed.

        ``reopen``: a parent run found is set RUNNING again (a search goes on in it); without, it
        keeps its state (a summary published after the search).
        """
        cfg = space.tracking.mlflow
        tracking = cls(cfg.uri)
        stored = study.user_attrs.get(PARENT_ATTR) or {}
        experiment = cfg.experiment or space.name
        tags = {"wrnsearch.study": study.study_name, "wrnsearch.run_dir": str(Path(run_dir).resolve()),
                "wrnsearch.version": __version__, "wrnsearch.dataset": space.dataset.name,
                "wrnsearch.objectives": ",".join(space.objectives), "wrnsearch.sampler": space.search.sampler,
                "wrnsearch.scheduler": space.search.scheduler}
        try:
            parent = tracking._submit(
                lambda: tracking._open_parent(experiment, stored, study.study_name, tags, reopen)
            ).result(timeout=MLFLOW_WAIT_S)
        except FutureTimeout:
            log.warning("MLflow at %s did not answer in %.0f s: the search goes on without it (the study keeps "
                        "every result)", cfg.uri or "the default store", MLFLOW_WAIT_S)
            tracking.failed = True
            parent = None
        except Exception:  # noqa: BLE001 - the thread warned
            parent = None
        if parent is None:
            tracking.calls.put(None)  # the thread ends
            return None
        if parent != stored:
            study.set_user_attr(PARENT_ATTR, parent)
        return tracking

    def _open_parent(self, experiment: str, stored: Mapping[str, str], name: str,
                     tags: dict[str, str], reopen: bool) -> dict[str, str]:
        """The search's parent run: the one the study names when it is in this store, else a new one."""
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        # MLflow's store set-up (its schema migrations on a new SQLite store) prints INFO lines on
        # a terminal handler of its own, over the live view: its warnings and errors still show
        for chatty in (logging.getLogger("mlflow"), logging.getLogger("alembic")):
            if chatty.getEffectiveLevel() < logging.WARNING:
                chatty.setLevel(logging.WARNING)
        self.client = MlflowClient(tracking_uri=self.uri)
        self.uri = self.client.tracking_uri
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
        if stored.get("uri") == self.uri and stored.get("experiment_id") == self.experiment_id:
            try:
                if self.client.get_run(stored["run_id"]).info.lifecycle_stage == "active":
                    if reopen:
                        self.client.update_run(stored["run_id"], status="RUNNING")  # a resumed search goes on in it
                    self.parent = stored["run_id"]
            except MlflowException as e:
                if e.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
        if self.parent is None:
            self.parent = self.client.create_run(self.experiment_id, run_name=name, tags=tags).info.run_id
            self.created = True
        return {"uri": self.uri, "experiment_id": self.experiment_id, "run_id": self.parent}

    # -- the calls ------------------------------------------------------------------------------

    def start_child(self, number: int, name: str, arch: str, spec: Mapping[str, Any]) -> None:
        def create() -> None:
            from mlflow.entities import Param

            run = self.client.create_run(self.experiment_id, run_name=name, tags={
                "mlflow.parentRunId": self.parent, "wrnsearch.trial": str(number), "wrnsearch.arch": arch})
            self.children[number] = run.info.run_id
            params = [Param("arch", arch)] + [Param(k, str(v)) for k, v in spec.items()]
            self.client.log_batch(run.info.run_id, params=params)

        self._submit(create)

    def log_epochs(self, number: int, epochs: list[tuple[int, dict[str, float]]]) -> None:
        now_ms = int(time.time() * 1000)

        def log_metrics() -> None:
            from mlflow.entities import Metric

            metrics = [Metric(k, v, now_ms, epoch) for epoch, scalars in epochs for k, v in scalars.items()]
            if number in self.children:
                self.client.log_batch(self.children[number], metrics=metrics)

        self._submit(log_metrics)

    def end_child(self, number: int, record: TrialRecord) -> None:
        """End a trial's run with its status and :func:`final_metrics`."""
        now_ms = int(time.time() * 1000)
        step = record.epochs or 0

        def end() -> None:
            from mlflow.entities import Metric, RunTag

            run_id = self.children.pop(number, None)
            if run_id is None:
                return
            metrics = [Metric(k, value, now_ms, step) for k, value in final_metrics(record).items()]
            tags = [RunTag("wrnsearch.status", record.status.value)]
            if record.reason:
                tags.append(RunTag("wrnsearch.reason", record.reason[:_MLFLOW_TAG_MAX]))
            self.client.log_batch(run_id, metrics=metrics, tags=tags)
            self.client.set_terminated(run_id, mlflow_status(record.status), end_time=now_ms)

        self._submit(end)

    def publish(self, summary: SearchSummary) -> None:
        """The search's summary on the parent run (params new to it, metrics at step = trials
        trained, the space and the front as artifacts), and the latencies timed alone on the runs
        of the trials they belong to, found under the parent (trials of earlier sessions too)."""
        now_ms = int(time.time() * 1000)

        def log() -> None:
            from mlflow.entities import Metric, Param

            known = self.client.get_run(self.parent).data.params  # MLflow refuses to change a param
            params = [Param(k, v) for k, v in summary.params.items() if k not in known]
            metrics = [Metric(k, v, now_ms, summary.trained) for k, v in summary.metrics.items()]
            for i in range(0, max(len(params), 1), _BATCH_PARAMS):
                self.client.log_batch(self.parent, metrics=metrics if i == 0 else [],
                                      params=params[i:i + _BATCH_PARAMS])
            self.client.log_text(self.parent, summary.space_yaml, SPACE_ARTIFACT)
            self.client.log_text(self.parent, summary.front_csv, FRONT_ARTIFACT)
            for run in self._child_runs() if summary.alone else ():
                figures = summary.alone.get(int(run.data.tags.get("wrnsearch.trial", -1)), ())
                new = [Metric(*m) for m in figures if run.data.metrics.get(m[0]) != m[1]]
                if new:
                    self.client.log_batch(run.info.run_id, metrics=new)

        self._submit(log)

    def _child_runs(self) -> list[Any]:
        """Every trial's run under the parent, with its tags and latest metrics."""
        runs, token = [], None
        while True:
            page = self.client.search_runs([self.experiment_id], f"tags.mlflow.parentRunId = '{self.parent}'",
                                           max_results=1000, page_token=token)
            runs += list(page)
            token = page.token
            if not token:
                return runs

    def close(self, status: str | None, open_trials: list[int]) -> None:
        """End the trials still open and the parent run with ``status`` (None: a parent run this
        mirror found keeps its state, one it created is FINISHED); wait for the thread, a while."""
        def end_all() -> None:
            for number in open_trials:
                run_id = self.children.pop(number, None)
                if run_id is not None:
                    self.client.set_terminated(run_id, KILLED)
            if status is not None or self.created:
                self.client.set_terminated(self.parent, status or FINISHED)

        done = self._submit(end_all)
        self.calls.put(None)
        try:
            done.result(timeout=MLFLOW_WAIT_S)
        except FutureTimeout:
            log.warning("MLflow at %s: runs not ended in %.0f s; the study keeps every result", self.uri,
                        MLFLOW_WAIT_S)
        except Exception:  # noqa: BLE001 - the thread warned
            pass

    # -- the thread -----------------------------------------------------------------------------

    def _submit(self, call: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self.calls.put((call, future))
        return future

    def _serve(self) -> None:
        while (item := self.calls.get()) is not None:
            call, future = item
            if self.failed:
                future.set_exception(RuntimeError("MLflow failed earlier in this search"))
                continue
            try:
                future.set_result(call())
            except Exception as e:  # noqa: BLE001 - an MLflow failure must never stop the search
                self.failed = True
                log.warning("MLflow at %s failed (%s: %s): no more MLflow runs in this search; the study keeps "
                            "every result", self.uri or "the default store", type(e).__name__,
                            one_line(e, 200))
                future.set_exception(e)
