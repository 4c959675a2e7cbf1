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
  epoch, the final figures, and FINISHED, KILLED (pruned, interrupted) or FAILED. When the run
  ends, after the front's latencies were timed alone, the driver publishes the search on the
  parent run and those latencies on the trials' runs (:mod:`wrnsearch.tracking._search_summary`).

Steps only go forward in a trial's run: an epoch at or before one already written is skipped (a
trial restarted from its checkpoint reports epochs again). A trial queued again after an
interrupted driver resumes from its checkpoint under a new number; its run starts there, the
epochs before are in the interrupted trial's run.

Every MLflow call goes through one background thread, so that a slow or unreachable server never
holds up the search: the first failure is logged once and MLflow is left alone for the rest of
the run. The driver waits for it only with a time limit: for the parent run at the start (its id
goes into the study), for the last calls at the end, and twice more for the summary.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from wrnsearch.errors import RunError, one_line
from wrnsearch.record import TrialRecord
from wrnsearch.space import Space
from wrnsearch.tracking._mlflow import FAILED, FINISHED, KILLED, MlflowMirror

log = logging.getLogger(__name__)

TENSORBOARD_DIR = "tensorboard"  # under the run directory
EPOCH_SCALARS = ("val_error", "train_loss", "lr", "images_per_s")  # per epoch, step = epoch


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

    def __init__(self, tensorboard_dir: Path | None = None, mlflow: MlflowMirror | None = None) -> None:
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
                            one_line(e, 200))
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
        mlflow = MlflowMirror.start(space, study, run_dir)
    return Tracker(tensorboard_dir, mlflow)
