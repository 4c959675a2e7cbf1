"""One trial: train a WRN with the paper's recipe, evaluate it, measure its speed, keep the record.

Every epoch reports (train loss, validation error, elapsed time, images/s) to a callback, which
may ask to stop (an early-stopping scheduler), and writes a checkpoint atomically; a restarted
trial continues from the newest checkpoint that loads. A wall-clock limit stops training
cleanly (status ``truncated``), a NaN or inf loss stops it (``diverged``), running out of memory
gives ``out_of_memory``. See :mod:`wrnsearch.train._device` for the fast path.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from wrnsearch import __version__
from wrnsearch.cost import model_cost
from wrnsearch.data import Splits
from wrnsearch.errors import one_line
from wrnsearch.measure import autocast_context, device_name, synchronize
from wrnsearch.model import build_model
from wrnsearch.objectives import NAMES, device_bound
from wrnsearch.record import Attr, Status, TrialRecord
from wrnsearch.spec import WRNSpec
from wrnsearch.train._augment import Augmenter
from wrnsearch.train._checkpoint import (
    check_identity,
    load_checkpoint,
    rng_state,
    run_identity,
    save_checkpoint,
    save_weights,
    set_rng_state,
)
from wrnsearch.train._device import fast_path, fast_path_reason, measure_like_a_trial, pick_device
from wrnsearch.train._recipe import Recipe

log = logging.getLogger(__name__)

CHECK_EVERY_STEPS = 25  # how often the loss is checked for NaN (a GPU sync) and the clock read


@dataclass(frozen=True)
class EpochReport:
    """What a trial reports after each epoch."""

    epoch: int  # 1-based, epochs completed
    epochs: int  # the budget
    train_loss: float
    val_error: float | None  # percent; None when the trial holds out no validation images
    elapsed_s: float  # since the trial started (including earlier runs when resumed)
    images_per_s: float  # training throughput of this epoch
    lr: float
    epoch_s: float | None = None  # wall seconds of this epoch: training and validation
    # the trial's device figures so far, by record field (its latencies, its peak memory): what a
    # multi-objective scheduler ranks at a rung beside the error; not in the curve
    measured: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("measured")
        return out


# Return False to stop the trial (an early-stopping scheduler), anything else to go on.
EpochCallback = Callable[[EpochReport, Path | None], Any]
StepCallback = Callable[[int, int, int], None]  # (epoch, step, steps), after every minibatch


def lr_milestones(epochs: int, fractions: list[float]) -> list[int]:
    """Milestones as epochs, scaled to this trial's epoch count (0.3 of 200 epochs = 60)."""
    return sorted({max(1, int(round(f * epochs))) for f in fractions if round(f * epochs) < epochs})


class _Stop(Exception):
    """Training ends early with this status and reason."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class _Trainer:
    """The model, optimizer, LR schedule and data of one trial, on its device."""

    def __init__(self, spec: WRNSpec, recipe: Recipe, splits: Splits, device: torch.device, epochs: int,
                 amp: bool, channels_last: bool, use_compile: bool) -> None:
        self.spec, self.recipe, self.device, self.epochs, self.amp = spec, recipe, device, epochs, amp
        self.model = build_model(spec, device=device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=recipe.lr, momentum=recipe.momentum, dampening=0,
                                         weight_decay=recipe.weight_decay,
                                         nesterov=recipe.nesterov and recipe.momentum > 0)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, lr_milestones(epochs, recipe.lr_milestones), gamma=recipe.lr_gamma)
        self.generator = torch.Generator().manual_seed(recipe.seed)
        # Static shapes: the last, smaller batch of an epoch gets its own graph instead of turning
        # the first one into a slower dynamic-shape graph.
        self.step_model = torch.compile(self.model, dynamic=False) if use_compile else self.model
        self.aug = Augmenter(splits.mean, splits.std, augment=recipe.augment, normalize=recipe.normalize,
                             device=device, channels_last=channels_last)
        self.splits = splits
        self.train_x, self.train_y = splits.train_x.to(device), splits.train_y.to(device)
        self.val_x, self.val_y = splits.val_x.to(device), splits.val_y.to(device)
        # carried across restarts in the checkpoint
        self.curve: list[dict[str, Any]] = []
        self.first_epoch, self.prior_elapsed_s, self.train_time_s, self.images_seen = 0, 0.0, 0.0, 0

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"], self.generator, self.device)
        self.first_epoch, self.curve = int(state["epoch"]), list(state["curve"])
        self.prior_elapsed_s, self.train_time_s = float(state["elapsed_s"]), float(state["train_time_s"])
        self.images_seen = int(state["images_seen"])

    def state(self, epoch: int, identity: dict[str, Any], elapsed_s: float) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(), "run": identity, "epoch": epoch, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "rng": rng_state(self.generator, self.device), "curve": self.curve, "elapsed_s": elapsed_s,
            "train_time_s": self.train_time_s, "images_seen": self.images_seen,
        }

    def train_epoch(self, epoch: int, elapsed_s: Callable[[], float], time_limit_s: float | None,
                    on_step: StepCallback | None) -> float:
        """One pass over the training split; the mean loss. Raises :class:`_Stop` to end early."""
        self.model.train()
        started = time.monotonic()
        loss_sum = torch.zeros((), device=self.device)
        seen, n, batch = 0, len(self.train_y), self.recipe.batch_size
        steps = math.ceil(n / batch)
        perm = torch.randperm(n, generator=self.generator).to(self.device)
        try:
            for step in range(steps):
                idx = perm[step * batch: (step + 1) * batch]
                if len(idx) < 2:  # a batch of one breaks BatchNorm
                    continue
                loss = self._step(idx)
                loss_sum += loss.detach() * len(idx)
                seen += len(idx)
                if on_step is not None:
                    on_step(epoch + 1, step + 1, steps)
                if (step + 1) % CHECK_EVERY_STEPS == 0 or step + 1 == steps:
                    where = f"in epoch {epoch + 1}, step {step + 1}"
                    if not torch.isfinite(loss_sum):
                        raise _Stop(Status.DIVERGED, f"loss became {loss.item()} {where}")
                    if time_limit_s is not None and elapsed_s() > time_limit_s:
                        raise _Stop(Status.TRUNCATED, f"trial time limit of {time_limit_s:g} s reached {where}")
        finally:
            synchronize(self.device)
            self.epoch_time_s = time.monotonic() - started
            self.train_time_s += self.epoch_time_s
            self.images_seen += seen
        self.epoch_images = seen
        return (loss_sum / max(1, seen)).item()

    def _step(self, idx: torch.Tensor) -> torch.Tensor:
        xb = self.aug.train_batch(self.train_x[idx], self.generator)
        with autocast_context(self.device, self.amp):
            loss = F.cross_entropy(self.step_model(xb), self.train_y[idx])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss

    def val_error(self) -> float | None:
        if not len(self.val_y):
            return None
        return evaluate(self.model, self.val_x, self.val_y, self.aug, self.recipe.eval_batch_size, self.device,
                        self.amp)

    def test_error(self) -> float:
        return evaluate(self.model, self.splits.test_x.to(self.device), self.splits.test_y.to(self.device), self.aug,
                        self.recipe.eval_batch_size, self.device, self.amp)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, augmenter: Augmenter, batch_size: int,
             device: torch.device, amp: bool) -> float:
    """Top-1 error in percent."""
    model.eval()
    wrong = torch.zeros((), dtype=torch.int64, device=device)
    for i in range(0, len(y), batch_size):
        xb = augmenter.eval_batch(x[i: i + batch_size])
        with autocast_context(device, amp):
            wrong += (model(xb).argmax(1) != y[i: i + batch_size]).sum()
    model.train()
    return 100.0 * wrong.item() / max(1, len(y))


def train_trial(
    spec: WRNSpec,
    recipe: Recipe,
    splits: Splits,
    *,
    device: str | torch.device | None = None,
    epochs: int | None = None,
    time_limit_s: float | None = None,
    checkpoint_dir: Path | None = None,
    callback: EpochCallback | None = None,
    on_step: StepCallback | None = None,
    threads: int | None = None,
    measure: bool = True,
) -> TrialRecord:
    """Train ``spec`` with ``recipe`` (a :class:`~wrnsearch.space.TrainConfig`) and return its record.

    ``epochs`` overrides the recipe's. ``threads`` sets the CPU threads (the trial's CPUs).
    ``on_step(epoch, step, steps)`` is called after every minibatch (progress bars).
    """
    start = time.monotonic()
    device = pick_device(device)
    if threads:
        torch.set_num_threads(max(1, int(threads)))
    epochs = int(epochs or recipe.epochs)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    _reset_peak_memory(device)
    torch.manual_seed(recipe.seed)
    record = _new_record(spec, recipe, splits, device, epochs)
    try:
        if measure:
            timing, _, _ = measure_like_a_trial(spec, recipe, device, batch=recipe.latency_batch,
                                                resolution=splits.train_x.shape[-1], steps=recipe.latency_steps)
            record.latency_ms, record.latency = timing.latency_ms, timing.to_dict()
            timing, _, _ = measure_like_a_trial(spec, recipe, device, batch=recipe.infer_batch, inference=True,
                                                resolution=splits.train_x.shape[-1], steps=recipe.latency_steps)
            record.latency_infer_ms, record.latency_infer = timing.latency_ms, timing.to_dict()
        trainer = _Trainer(spec, recipe, splits, device, epochs, record.amp, record.channels_last, record.compile)
        identity = run_identity(record.recipe, splits.record)
        state = load_checkpoint(checkpoint_dir, spec)
        if state is not None:
            check_identity(state, identity, checkpoint_dir, spec)
            trainer.restore(state)
            record.resumed_from_epoch = trainer.first_epoch
            log.info("%s: resuming after epoch %d", spec.name, trainer.first_epoch)
        _train_epochs(trainer, record, identity, start, time_limit_s, checkpoint_dir, callback, on_step)
        if checkpoint_dir is not None and record.status == Status.COMPLETE:
            save_weights(checkpoint_dir, trainer.model, spec, splits, recipe.normalize, record.epochs)
    except (torch.cuda.OutOfMemoryError, MemoryError, RuntimeError) as e:
        if not _is_out_of_memory(e):
            raise
        record.status = Status.OUT_OF_MEMORY
        record.reason = f"out of memory ({one_line(e, kind=True)})"
        if device.type == "cuda":
            torch.cuda.empty_cache()
    record.peak_memory_bytes = _peak_memory_bytes(device)
    record.wall_time_s = time.monotonic() - start
    return record


def _new_record(spec: WRNSpec, recipe: Recipe, splits: Splits, device: torch.device, epochs: int) -> TrialRecord:
    amp, channels_last, use_compile = fast_path(recipe, device)
    cost = model_cost(spec, splits.train_x.shape[-1], recipe.batch_size)
    return TrialRecord(
        name=spec.name, spec=spec.to_dict(), recipe={**_recipe_dict(recipe), "epochs": epochs},
        dataset=splits.record, params=cost.params, macs=cost.macs, activation_bytes=cost.activation_bytes,
        device=device_name(device), node=socket.gethostname(), torch=torch.__version__, wrnsearch=__version__,
        seed=recipe.seed, epochs_budget=epochs, amp=amp, channels_last=channels_last, compile=use_compile,
        fast_path=fast_path_reason(recipe, device), started_at=time.time(),
    )


def _train_epochs(trainer: _Trainer, record: TrialRecord, identity: dict[str, Any], start: float,
                  time_limit_s: float | None, checkpoint_dir: Path | None, callback: EpochCallback | None,
                  on_step: StepCallback | None) -> None:
    """Epochs from the trainer's first to the budget; the record gets the curve, status and errors."""

    def elapsed_s() -> float:
        return trainer.prior_elapsed_s + time.monotonic() - start

    try:
        for epoch in range(trainer.first_epoch, trainer.epochs):
            epoch_start = time.monotonic()
            loss = trainer.train_epoch(epoch, elapsed_s, time_limit_s, on_step)
            lr = trainer.optimizer.param_groups[0]["lr"]  # the rate this epoch trained at
            trainer.scheduler.step()
            val_error = trainer.val_error()
            report = EpochReport(epoch=epoch + 1, epochs=trainer.epochs, train_loss=loss, val_error=val_error,
                                 elapsed_s=elapsed_s(),
                                 images_per_s=trainer.epoch_images / max(trainer.epoch_time_s, 1e-9),
                                 lr=lr, epoch_s=time.monotonic() - epoch_start,
                                 measured=_device_figures(record, trainer.device))
            trainer.curve.append(report.to_dict())
            path = None
            if checkpoint_dir is not None:
                path = save_checkpoint(checkpoint_dir, trainer.state(epoch + 1, identity, report.elapsed_s))
            if callback is not None and callback(report, path) is False:
                raise _Stop(Status.PRUNED, f"stopped by the scheduler after epoch {epoch + 1}")
    except _Stop as stop:
        record.status, record.reason = stop.status, stop.reason
    record.curve = trainer.curve
    record.epochs = len(trainer.curve)
    record.images_per_s = trainer.images_seen / trainer.train_time_s if trainer.train_time_s > 0 else None
    if record.status.evaluated:
        last = trainer.curve[-1] if trainer.curve else None
        if record.status == Status.COMPLETE and last is not None and last["epoch"] == trainer.epochs:
            record.val_error = last["val_error"]  # the model has not changed since the last epoch's evaluation
        else:
            record.val_error = trainer.val_error()
        record.test_error = trainer.test_error()


def _is_out_of_memory(e: BaseException) -> bool:
    """CUDA out of memory, or an allocation the CPU allocator (or a memory limit) refused."""
    if isinstance(e, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(e)
    return "can't allocate memory" in text or "out of memory" in text.lower() or "not enough memory" in text


def _recipe_dict(recipe: Recipe) -> dict[str, Any]:
    return recipe.model_dump(mode="json") if hasattr(recipe, "model_dump") else dict(recipe)


def _device_figures(record: TrialRecord, device: torch.device) -> dict[str, float]:
    """The device figures of the trial so far, by record field: its latencies and its peak memory."""
    figures = {o.attr: getattr(record, o.attr, None) for o in device_bound(NAMES)}
    figures[Attr.PEAK_MEMORY_BYTES] = _peak_memory_bytes(device)  # the peak so far, read now
    return {k: v for k, v in figures.items() if v is not None}


def _reset_peak_memory(device: torch.device) -> None:
    """Start counting the trial's peak memory from here: CUDA's peak allocation, or on the CPU the
    process's peak resident set (Linux resets it through ``/proc/self/clear_refs``; a Ray worker
    that ran an earlier trial would otherwise report that trial's peak)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # not Linux, or not allowed: the process's peak since it started
        pass


def _peak_memory_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    except (ImportError, OSError):
        return None
