"""Copies of each trial's learning curve for TensorBoard and MLflow, where many users keep their runs.

The study stays the record; these are mirrors, written by the search's driver as each trial's
reports reach it: one writer that knows the trial's number and architecture, sees every report
whether or not the trials share a disk with it, and outlives a trial's restarts.

- TensorBoard (``tracking.tensorboard``, on by default): one run per trained trial,
  ``RUN_DIR/tensorboard/<number>-<arch>/``, with the scalars of :data:`EPOCH_SCALARS` at
  step = epoch (``tensorboard --logdir RUN_DIR``).
- MLflow (``tracking.mlflow``): a parent run per search, named after the study, whose id the
  study keeps (:data:`PARENT_ATTR`) so that a resumed search goes on in it; under it one run per
  trained trial (``<number>-<arch>``), its architecture as parameters, the same metrics per
  epoch, the final figures, and FINISHED, KILLED (pruned, interrupted) or FAILED.

Steps only go forward in a trial's run: an epoch at or before one already written is skipped (a
trial restarted from its checkpoint reports epochs again). A trial queued again after an
interrupted driver resumes from its checkpoint under a new number; its run starts there, the
epochs before are in the interrupted trial's run.

Every MLflow call goes through one background thread, so that a slow or unreachable server never
holds up the search: the first failure is logged once and MLflow is left alone for the rest of
the run. The driver waits for it twice only, with a time limit: for the parent run at the start
(its id goes into the study), and for the last calls at the end.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from wrnsearch import __version__
from wrnsearch.errors import RunError
from wrnsearch.record import Status, TrialRecord
from wrnsearch.space import Space

log = logging.getLogger(__name__)

TENSORBOARD_DIR = "tensorboard"  # under the run directory
EPOCH_SCALARS = ("val_error", "train_loss", "lr", "images_per_s")  # per epoch, step = epoch
# a trial's final figures in MLflow (val_error is the curve's last point)
FINAL_METRICS = ("test_error", "params", "macs", "latency_ms", "latency_infer_ms", "wall_time_s")
PARENT_ATTR = "mlflow_parent"  # study user attribute: {"uri", "experiment_id", "run_id"}
MLFLOW_WAIT_S = 30.0  # the longest the driver waits for MLflow, at the start and at the end
_MLFLOW_TAG_MAX = 5000  # MLflow's tag values are limited; a trial's reason is cut to this

FINISHED, KILLED, FAILED = "FINISHED", "KILLED", "FAILED"  # MLflow's run states


def check_tracking(space: Space) -> None:
    """Refuse, before anything is written, a space that asks for MLflow where it is not installed.

    Raises:
        RunError: naming ``tracking.mlflow`` and the install command.
    """
    if space.tracking.mlflow is not None and importlib.util.find_spec("mlflow") is None:
        raise RunError(f"{space.source}: tracking.mlflow needs MLflow, which is not installed: "
                       "pip install 'wrnsearch[mlflow]'")


def run_name(number: int, arch: str) -> str:
    """A trial's run, in TensorBoard and MLflow: ``<number>-<arch>``."""
    return f"{number}-{arch}"


def mlflow_status(status: Status) -> str:
    """The MLflow state of a trial's run: complete is FINISHED; stopped early or interrupted KILLED; else FAILED."""
    if status == Status.COMPLETE:
        return FINISHED
    return KILLED if status.stopped_early or status == Status.INTERRUPTED else FAILED


def _scalars(report: Mapping[str, Any]) -> dict[str, float]:
    """The finite scalars of an epoch report (a missing validation error, a NaN loss are left out)."""
    return {k: float(report[k]) for k in EPOCH_SCALARS
            if isinstance(report.get(k), (int, float)) and math.isfinite(report[k])}


@dataclass
class _Trial:
    name: str  # <number>-<arch>
    last_epoch: int = 0  # the highest step written
    events: Any = None  # TensorBoard's writer of the trial's run


class Tracker:
    """The search's TensorBoard runs and MLflow runs (see the module docstring).

    Called by the Tune searcher in the driver; safe from several threads. Use :func:`open_tracker`.
    """

    def __init__(self, tensorboard_dir: Path | None = None, mlflow: _Mlflow | None = None) -> None:
        self.tensorboard_dir, self.mlflow = tensorboard_dir, mlflow
        self.trials: dict[int, _Trial] = {}
        self.lock = threading.Lock()

    def trial_started(self, number: int, arch: str, spec: Mapping[str, Any]) -> None:
        """A trial handed to Tune: its runs open (its TensorBoard events file appears at its first epoch)."""
        with self.lock:
            self.trials[number] = _Trial(run_name(number, arch))
        if self.mlflow is not None:
            self.mlflow.start_child(number, run_name(number, arch), arch, spec)

    def epochs(self, number: int, reports: Iterable[Mapping[str, Any]]) -> None:
        """Epoch reports (``epoch`` and any of :data:`EPOCH_SCALARS`) of a running trial, in order."""
        with self.lock:
            trial = self.trials.get(number)
            if trial is None:
                return
            new = []
            for report in reports:
                epoch = int(report.get("epoch") or 0)
                scalars = _scalars(report)
                if epoch > trial.last_epoch and scalars:
                    new.append((epoch, scalars))
                    trial.last_epoch = epoch
            if not new:
                return
            if self.tensorboard_dir is not None:
                self._tensorboard(self._write_events, trial, new)
        if self.mlflow is not None:
            self.mlflow.log_epochs(number, new)

    def trial_ended(self, number: int, record: TrialRecord) -> None:
        """A trial's outcome: its last epochs (from the record's curve), final figures, and state."""
        self.epochs(number, record.curve or ())
        with self.lock:
            trial = self.trials.pop(number, None)
            if trial is None:
                return
            self._tensorboard(self._close_events, trial)
        if self.mlflow is not None:
            self.mlflow.end_child(number, record)

    def close(self, status: str = FINISHED) -> None:
        """The search ended (``status`` FINISHED), was interrupted (KILLED) or failed (FAILED):
        trials still open end with it, the parent run too; waits at most :data:`MLFLOW_WAIT_S`."""
        with self.lock:
            open_trials = list(self.trials)
            for trial in self.trials.values():
                self._tensorboard(self._close_events, trial)
            self.trials.clear()
        if self.mlflow is not None:
            self.mlflow.close(status, open_trials)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: Any) -> None:
        self.close(FINISHED if kind is None else KILLED if issubclass(kind, KeyboardInterrupt) else FAILED)

    # -- TensorBoard ----------------------------------------------------------------------------

    def _tensorboard(self, write: Callable[..., None], *args: Any) -> None:
        """A TensorBoard write; one that fails (a full disk, no permission) is warned about once, and
        TensorBoard is left alone for the rest of the search: the study keeps every result."""
        try:
            write(*args)
        except Exception as e:  # noqa: BLE001 - a copy must never stop the search
            if self.tensorboard_dir is not None:
                log.warning("TensorBoard events in %s could not be written (%s: %s): no more in this search; the "
                            "study keeps every result", self.tensorboard_dir, type(e).__name__,
                            " ".join(str(e).split())[:200])
            self.tensorboard_dir = None

    def _write_events(self, trial: _Trial, epochs: list[tuple[int, dict[str, float]]]) -> None:
        """Scalar events through TensorBoard's own writer (a thread that flushes every few seconds)."""
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        if trial.events is None:
            trial.events = EventFileWriter(str(self.tensorboard_dir / trial.name), flush_secs=5)
        now = time.time()
        for epoch, scalars in epochs:
            values = [Summary.Value(tag=tag, simple_value=value) for tag, value in scalars.items()]
            trial.events.add_event(Event(wall_time=now, step=epoch, summary=Summary(value=values)))

    @staticmethod
    def _close_events(trial: _Trial) -> None:
        if trial.events is not None:
            trial.events.close()
            trial.events = None


def open_tracker(space: Space, study: optuna.Study, run_dir: Path) -> Tracker:
    """The tracker a space asks for; its MLflow parent run created, or reused when the study names
    one in the same store (a resumed search). MLflow that fails here is warned about and left out."""
    tensorboard_dir = Path(run_dir) / TENSORBOARD_DIR if space.tracking.tensorboard else None
    mlflow = None
    if space.tracking.mlflow is not None:
        check_tracking(space)
        mlflow = _Mlflow.start(space, study, run_dir)
    return Tracker(tensorboard_dir, mlflow)


class _Mlflow:
    """MLflow calls in order on one daemon thread; after the first failure, none."""

    def __init__(self, uri: str | None) -> None:
        self.uri = uri
        self.calls: queue.Queue[tuple[Callable[[], Any], Future[Any]] | None] = queue.Queue()
        self.failed = False
        self.client: Any = None
        self.experiment_id: str | None = None
        self.parent: str | None = None
        self.children: dict[int, str] = {}  # trial number -> run id; touched by the thread only
        self.thread = threading.Thread(target=self._serve, name="wrnsearch-mlflow", daemon=True)
        self.thread.start()

    @classmethod
    def start(cls, space: Space, study: optuna.Study, run_dir: Path) -> _Mlflow | None:
        """Connect, find or create the parent run, and record it in the study; None when MLflow failed."""
        cfg = space.tracking.mlflow
        tracking = cls(cfg.uri)
        stored = study.user_attrs.get(PARENT_ATTR) or {}
        experiment = cfg.experiment or space.name
        tags = {"wrnsearch.study": study.study_name, "wrnsearch.run_dir": str(Path(run_dir).resolve()),
                "wrnsearch.version": __version__, "wrnsearch.dataset": space.dataset.name,
                "wrnsearch.objectives": ",".join(space.objectives), "wrnsearch.sampler": space.search.sampler,
                "wrnsearch.scheduler": space.search.scheduler}
        try:
            parent = tracking._submit(lambda: tracking._open_parent(experiment, stored, study.study_name, tags)) \
                .result(timeout=MLFLOW_WAIT_S)
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
                     tags: dict[str, str]) -> dict[str, str]:
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
                    self.client.update_run(stored["run_id"], status="RUNNING")  # a resumed search goes on in it
                    self.parent = stored["run_id"]
            except MlflowException as e:
                if e.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
        if self.parent is None:
            self.parent = self.client.create_run(self.experiment_id, run_name=name, tags=tags).info.run_id
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
        now_ms = int(time.time() * 1000)
        step = record.epochs or 0

        def end() -> None:
            from mlflow.entities import Metric, RunTag

            run_id = self.children.pop(number, None)
            if run_id is None:
                return
            figures = record.to_dict()
            metrics = [Metric(k, float(figures[k]), now_ms, step) for k in FINAL_METRICS
                       if isinstance(figures.get(k), (int, float)) and math.isfinite(figures[k])]
            tags = [RunTag("wrnsearch.status", record.status.value)]
            if record.reason:
                tags.append(RunTag("wrnsearch.reason", record.reason[:_MLFLOW_TAG_MAX]))
            self.client.log_batch(run_id, metrics=metrics, tags=tags)
            self.client.set_terminated(run_id, mlflow_status(record.status), end_time=now_ms)

        self._submit(end)

    def close(self, status: str, open_trials: list[int]) -> None:
        """End the trials still open and the parent run with ``status``; wait for the thread, a while."""
        def end_all() -> None:
            for number in open_trials:
                run_id = self.children.pop(number, None)
                if run_id is not None:
                    self.client.set_terminated(run_id, KILLED)
            self.client.set_terminated(self.parent, status)

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
                            " ".join(str(e).split())[:200])
                future.set_exception(e)
