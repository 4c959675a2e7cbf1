"""Progress within an epoch, from a trial's worker to the live view, through a small file.

Ray Tune hears from a trial at the end of each epoch only (a report is a scheduling decision, and
costs milliseconds at the driver), which leaves a live view blind for the minutes an epoch of a
wide network takes on a CPU. A trial's worker therefore writes ``RUN_DIR/progress/<number>.json``
(atomically, at most once a second): its phase, epoch of epochs, minibatch of minibatches,
images per second, the last validation error and when its training began. The live view reads
the files of the trials it knows to be running.

Where a worker cannot write into the run directory (a cluster node without the shared file
system), the file is simply not written: the view then shows what the epoch reports carry.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROGRESS_DIR = "progress"  # in a run directory
STARTING, TRAINING, EVALUATING = "starting", "training", "evaluating"


class ProgressFile:
    """The worker's side: one trial's progress, written at most every ``interval_s`` seconds."""

    def __init__(self, folder: str | Path | None, number: int, arch: str, epochs: int, batch: int,
                 interval_s: float = 1.0) -> None:
        self.path = Path(folder) / f"{number}.json" if folder else None
        self.interval_s = interval_s
        self.state: dict[str, Any] = {"number": number, "arch": arch, "phase": STARTING, "epoch": 0,
                                      "epochs": epochs, "step": 0, "steps": 0, "images_per_s": None,
                                      "val_error": None, "started": time.time(), "training_since": None,
                                      "done_at_start": 0.0}
        self.batch = batch
        self.last_write = -math.inf
        self.epoch_began: tuple[float, int] | None = None  # (monotonic time, step) of the rate's start
        self.write(force=True)

    def step(self, epoch: int, step: int, steps: int) -> None:
        """After a minibatch (``epoch`` from 1): the trainer's ``on_step``."""
        now = time.monotonic()
        if self.state["training_since"] is None:  # a resumed trial starts some way in
            self.state["training_since"] = time.time()
            epochs = max(1, self.state["epochs"])
            self.state["done_at_start"] = min(1.0, ((epoch - 1) + (step - 1) / max(1, steps)) / epochs)
        if self.epoch_began is None or epoch != self.state["epoch"] or step < self.state["step"]:
            self.epoch_began = (now, step)
        began, first = self.epoch_began
        if now > began and step > first:
            self.state["images_per_s"] = (step - first) * self.batch / (now - began)
        last = epoch == self.state["epochs"] and step == steps
        self.state.update(phase=EVALUATING if last else TRAINING, epoch=epoch, step=step, steps=steps)
        self.write(force=last)

    def epoch_done(self, epoch: int, val_error: float | None) -> None:
        """An epoch's validation error, as the epoch report carries it."""
        self.state["val_error"] = val_error
        self.write(force=True)

    def write(self, force: bool = False) -> None:
        if self.path is None or (not force and time.monotonic() - self.last_write < self.interval_s):
            return
        self.last_write = time.monotonic()
        self.state["updated"] = time.time()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.state))
            os.replace(tmp, self.path)
        except OSError as e:  # not this node's disk: the view falls back to the epoch reports
            log.debug("no progress file for trial %s: %s", self.state["number"], e)
            self.path = None


def read_progress(folder: str | Path, number: int) -> dict[str, Any] | None:
    """A trial's last progress, or None when it wrote none (yet) or it cannot be read."""
    try:
        data = json.loads((Path(folder) / f"{number}.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def fraction_done(progress: dict[str, Any]) -> float | None:
    """How much of the trial's training is done, 0..1 (None before its first minibatch)."""
    epochs, steps = progress.get("epochs") or 0, progress.get("steps") or 0
    if not epochs or not steps or not progress.get("epoch"):
        return None
    return min(1.0, ((progress["epoch"] - 1) + progress.get("step", 0) / steps) / epochs)


def trial_eta_s(progress: dict[str, Any], now: float | None = None) -> float | None:
    """Seconds of training left, extrapolated from this worker's training so far (None until 2 %
    of the trial is done)."""
    done = fraction_done(progress)
    since = progress.get("training_since")
    if done is None or since is None:
        return None
    progressed = done - float(progress.get("done_at_start") or 0.0)
    if progressed < 0.02:
        return None
    elapsed = (time.time() if now is None else now) - since
    return max(0.0, elapsed * (1 - done) / progressed)
