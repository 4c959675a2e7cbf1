"""One trial: train a WRN with the paper's recipe, evaluate it, measure its speed, keep the record.

The whole data set sits as uint8 tensors on the trial's device; each minibatch is gathered,
augmented (reflect-pad 4, random crop, horizontal flip) and normalized there in one batched
operation. On CUDA the step runs under bf16 autocast with channels_last memory, cudnn.benchmark
and, optionally, torch.compile. On a CPU with AMX bf16 units the same fast path runs on the
trial's threads; on other CPUs the same maths runs in fp32 (``amp``/``channels_last``: ``auto``
decides so, ``true``/``false`` force it; ``compile: true`` applies on any device).

Every epoch reports (train loss, validation error, elapsed time, images/s) to a callback, which
may ask to stop (an early-stopping scheduler), and writes a checkpoint atomically; a restarted
trial continues from the newest checkpoint that loads (weights-only loading: a checkpoint can
never run code). A wall-clock limit stops training cleanly (status ``truncated``), a NaN or inf
loss stops it (``diverged``), CUDA running out of memory gives ``out_of_memory``.
"""

from __future__ import annotations

import logging
import math
import os
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
from wrnsearch.errors import RunError
from wrnsearch.measure import autocast_context, device_name, measure_training_step, synchronize
from wrnsearch.model import build_model
from wrnsearch.spec import WRNSpec

log = logging.getLogger(__name__)

CHECKPOINT_GLOB = "checkpoint-*.pt"
KEEP_CHECKPOINTS = 2  # the newest and the one before, to fall back on if the newest is corrupt
CHECK_EVERY_STEPS = 25  # how often the loss is checked for NaN (a GPU sync) and the clock read

STATUSES = ("complete", "truncated", "pruned", "diverged", "out_of_memory")


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Return False to stop the trial (an early-stopping scheduler), anything else to go on.
EpochCallback = Callable[[EpochReport, Path | None], Any]


class Augmenter:
    """Batched augmentation and normalization of uint8 image tensors, on any device."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], *, augment: bool, normalize: str,
                 device: torch.device, channels_last: bool = False, pad: int = 4) -> None:
        c = len(mean)
        if normalize == "meanstd":
            self.scale = (1 / (255 * torch.tensor(std, device=device))).view(1, c, 1, 1)
            self.shift = (-torch.tensor(mean, device=device) / torch.tensor(std, device=device)).view(1, c, 1, 1)
        else:  # pixels / 255
            self.scale = torch.full((1, c, 1, 1), 1 / 255, device=device)
            self.shift = torch.zeros((1, c, 1, 1), device=device)
        self.augment, self.pad, self.device = augment, pad, device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() * self.scale + self.shift).contiguous(memory_format=self.memory_format)

    def eval_batch(self, x: torch.Tensor) -> torch.Tensor:
        return self._normalize(x)

    def train_batch(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = self._normalize(x)
        if not self.augment:
            return x
        b, _, h, w = x.shape
        p = self.pad
        padded = F.pad(x, (p, p, p, p), mode="reflect")
        # per-image offsets and flips drawn on the CPU generator (checkpointed), applied on device
        oy = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(self.device, non_blocking=True)
        ox = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(self.device, non_blocking=True)
        flip = (torch.rand(b, generator=generator) < 0.5).to(self.device, non_blocking=True)
        rows = (oy[:, None] + torch.arange(h, device=self.device))[:, :, None]  # (B, H, 1)
        cols = torch.arange(w, device=self.device).expand(b, w)
        cols = torch.where(flip[:, None], w - 1 - cols, cols) + ox[:, None]  # flipping = reading backwards
        crops = padded[torch.arange(b, device=self.device)[:, None, None], :, rows, cols[:, None, :]]  # (B, H, W, C)
        return crops.permute(0, 3, 1, 2).contiguous(memory_format=self.memory_format)


def lr_milestones(epochs: int, fractions: list[float]) -> list[int]:
    """Milestones as epochs, scaled to this trial's epoch count (0.3 of 200 epochs = 60)."""
    return sorted({max(1, int(round(f * epochs))) for f in fractions if round(f * epochs) < epochs})


# --------------------------------------------------------------------------------------------
# Checkpoints


def save_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
    """Write ``checkpoint-<epoch>.pt`` atomically and keep the newest two."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"checkpoint-{state['epoch']:05d}.pt"
    tmp = path.with_suffix(".pt.tmp")
    torch.save(state, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    for old in sorted(directory.glob(CHECKPOINT_GLOB))[:-KEEP_CHECKPOINTS]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(directory: Path | None, spec: WRNSpec) -> dict[str, Any] | None:
    """The newest checkpoint in ``directory`` that loads and belongs to ``spec``, else None.

    Loading is weights-only: a checkpoint whose pickle would build arbitrary objects is refused,
    never executed; a truncated or corrupt one is skipped for the one before it.
    """
    if directory is None or not directory.is_dir():
        return None
    for path in sorted(directory.glob(CHECKPOINT_GLOB), reverse=True):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or state.get("spec") != spec.to_dict() or "model" not in state:
                raise ValueError("not a checkpoint of this architecture")
            return state
        except Exception as e:  # noqa: BLE001 - any unreadable file is skipped, never trusted
            log.warning("skipping checkpoint %s: %s", path, " ".join(str(e).split())[:200])
    return None


# Settings that only change how a run is measured or executed, not what it trains: a checkpoint
# written under other values of these may be resumed.
_NOT_IDENTITY = {"eval_batch_size", "compile", "latency_batch", "latency_steps"}


def run_identity(recipe: dict[str, Any], dataset: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint must have been trained with to be resumed: the recipe and the split.

    The data set's path is left out (it differs between machines holding the same copy); the
    validation indices' hash stands for the split.
    """
    return {"recipe": {k: v for k, v in recipe.items() if k not in _NOT_IDENTITY},
            "dataset": {k: v for k, v in dataset.items() if k != "source"}}


def _identity_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    out = []
    for section in ("recipe", "dataset"):
        a, b = saved.get(section, {}), current.get(section, {})
        out += [f"{section}.{k} {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return out


def _rng_state(generator: torch.Generator, device: torch.device) -> dict[str, Any]:
    state = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], generator: torch.Generator, device: torch.device) -> None:
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# --------------------------------------------------------------------------------------------
# The trial


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


def cpu_has_bf16_units() -> bool:
    """AMX bf16 tiles (Xeon Sapphire Rapids and later): where bf16 on the CPU runs fast.

    There, bf16 autocast with channels_last trained WRN-16-2 2.5x faster than fp32 (BENCHMARKS.md);
    without them bf16 is emulated and slower than fp32.
    """
    try:
        return bool(torch.cpu._is_amx_tile_supported() and torch.cpu._is_avx512_bf16_supported())
    except (AttributeError, RuntimeError):  # another torch: no claim
        return False


def _setting(value: bool | str, fast_device: bool) -> bool:
    return fast_device if value == "auto" else bool(value)


def fast_path(recipe: Any, device: torch.device) -> tuple[bool, bool, bool]:
    """(amp, channels_last, compile) for this recipe on this device.

    ``auto`` is on with CUDA, and on a CPU with AMX bf16 units; ``true``/``false`` force it.
    """
    fast_device = device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16_units())
    return (_setting(recipe.amp, fast_device), _setting(recipe.channels_last, fast_device),
            bool(recipe.compile))


def pick_device(device: str | torch.device | None = None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def train_trial(
    spec: WRNSpec,
    recipe: Any,
    splits: Splits,
    *,
    device: str | torch.device | None = None,
    epochs: int | None = None,
    time_limit_s: float | None = None,
    checkpoint_dir: Path | None = None,
    callback: EpochCallback | None = None,
    on_step: Callable[[int, int, int], None] | None = None,
    threads: int | None = None,
    measure: bool = True,
) -> dict[str, Any]:
    """Train ``spec`` with ``recipe`` (a :class:`~wrnsearch.space.TrainConfig`) and return its record.

    ``epochs`` overrides the recipe's. ``threads`` sets the CPU threads (the trial's CPUs).
    ``on_step(epoch, step, steps)`` is called after every minibatch (progress bars).
    """
    start_wall = time.time()
    start = time.monotonic()
    device = pick_device(device)
    cuda = device.type == "cuda"
    if threads:
        torch.set_num_threads(max(1, int(threads)))
    epochs = int(epochs or recipe.epochs)
    amp, channels_last, use_compile = fast_path(recipe, device)
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)

    cost = model_cost(spec, splits.train_x.shape[-1], recipe.batch_size)
    record: dict[str, Any] = {
        "name": spec.name, "spec": spec.to_dict(), "recipe": {**_recipe_dict(recipe), "epochs": epochs},
        "dataset": splits.record, "params": cost.params, "macs": cost.macs, "activation_bytes": cost.activation_bytes,
        "device": device_name(device), "node": socket.gethostname(), "torch": torch.__version__,
        "wrnsearch": __version__, "seed": recipe.seed, "epochs_budget": epochs, "amp": amp,
        "channels_last": channels_last, "compile": use_compile, "started_at": start_wall,
    }
    status, reason = "complete", None
    model = None
    try:
        if measure:
            timing = measure_training_step(
                build_model(spec), device=device, batch=recipe.latency_batch, resolution=splits.train_x.shape[-1],
                in_channels=spec.in_channels, num_classes=spec.num_classes, steps=recipe.latency_steps,
                amp=amp, channels_last=channels_last,
            )
            record["latency_ms"] = timing.latency_ms
            record["latency"] = timing.to_dict()
        model = build_model(spec, device=device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, dampening=0,
                                    weight_decay=recipe.weight_decay, nesterov=recipe.nesterov and recipe.momentum > 0)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, lr_milestones(epochs, recipe.lr_milestones), gamma=recipe.lr_gamma)
        curve: list[dict[str, Any]] = []
        first_epoch = 0
        prior_elapsed = prior_train_time = 0.0
        prior_images = 0
        identity = run_identity(record["recipe"], splits.record)
        state = load_checkpoint(checkpoint_dir, spec)
        if state is not None and state.get("run") is not None and state["run"] != identity:
            changed = _identity_differences(state["run"], identity)
            raise RunError(f"{checkpoint_dir}: holds {spec.name} trained with other settings "
                           f"({'; '.join(changed[:4])}{'; ...' if len(changed) > 4 else ''}): resume with the same "
                           "settings, or give another checkpoint directory")
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            _set_rng_state(state["rng"], generator, device)
            first_epoch, curve = int(state["epoch"]), list(state["curve"])
            prior_elapsed, prior_train_time = float(state["elapsed_s"]), float(state["train_time_s"])
            prior_images = int(state["images_seen"])
            record["resumed_from_epoch"] = first_epoch
            log.info("%s: resuming after epoch %d", spec.name, first_epoch)
        # Static shapes: the last, smaller batch of an epoch gets its own graph instead of turning
        # the first one into a slower dynamic-shape graph.
        step_model = torch.compile(model, dynamic=False) if use_compile else model

        aug = Augmenter(splits.mean, splits.std, augment=recipe.augment, normalize=recipe.normalize,
                        device=device, channels_last=channels_last)
        train_x, train_y = splits.train_x.to(device), splits.train_y.to(device)
        val_x, val_y = splits.val_x.to(device), splits.val_y.to(device)
        n = len(train_y)
        batch = recipe.batch_size
        steps = math.ceil(n / batch)
        train_time, images_seen = prior_train_time, prior_images
        stopped = False
        for epoch in range(first_epoch, epochs):
            model.train()
            epoch_start = time.monotonic()
            loss_sum = torch.zeros((), device=device)
            seen = 0
            perm = torch.randperm(n, generator=generator).to(device)
            for step in range(steps):
                idx = perm[step * batch: (step + 1) * batch]
                if len(idx) < 2:  # a batch of one breaks BatchNorm
                    continue
                xb = aug.train_batch(train_x[idx], generator)
                yb = train_y[idx]
                with autocast_context(device, amp):
                    loss = F.cross_entropy(step_model(xb), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach() * len(idx)
                seen += len(idx)
                if on_step is not None:
                    on_step(epoch + 1, step + 1, steps)
                if (step + 1) % CHECK_EVERY_STEPS == 0 or step + 1 == steps:
                    if not torch.isfinite(loss_sum):
                        status, reason = "diverged", f"loss became {loss.item()} in epoch {epoch + 1}, step {step + 1}"
                        stopped = True
                        break
                    if time_limit_s is not None and prior_elapsed + time.monotonic() - start > time_limit_s:
                        status = "truncated"
                        reason = f"trial time limit of {time_limit_s:g} s reached in epoch {epoch + 1}, step {step + 1}"
                        stopped = True
                        break
            synchronize(device)
            epoch_time = time.monotonic() - epoch_start
            train_time += epoch_time
            images_seen += seen
            if stopped:
                break
            lr = optimizer.param_groups[0]["lr"]  # the rate this epoch trained at
            scheduler.step()
            val_error = evaluate(model, val_x, val_y, aug, recipe.eval_batch_size, device, amp) if len(val_y) else None
            report = EpochReport(
                epoch=epoch + 1, epochs=epochs, train_loss=(loss_sum / max(1, seen)).item(), val_error=val_error,
                elapsed_s=prior_elapsed + time.monotonic() - start, images_per_s=seen / max(epoch_time, 1e-9),
                lr=lr,
            )
            curve.append(report.to_dict())
            path = None
            if checkpoint_dir is not None:
                path = save_checkpoint(checkpoint_dir, {
                    "spec": spec.to_dict(), "run": identity, "epoch": epoch + 1, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "rng": _rng_state(generator, device), "curve": curve, "elapsed_s": report.elapsed_s,
                    "train_time_s": train_time, "images_seen": images_seen,
                })
            if callback is not None and callback(report, path) is False:
                status, reason = "pruned", f"stopped by the scheduler after epoch {epoch + 1}"
                break
        record["curve"] = curve
        record["epochs"] = len(curve)
        record["images_per_s"] = images_seen / train_time if train_time > 0 else None
        if status in ("complete", "truncated", "pruned"):
            record["val_error"] = (evaluate(model, val_x, val_y, aug, recipe.eval_batch_size, device, amp)
                                   if len(val_y) else None)
            record["test_error"] = evaluate(model, splits.test_x.to(device), splits.test_y.to(device), aug,
                                            recipe.eval_batch_size, device, amp)
    except (torch.cuda.OutOfMemoryError, MemoryError, RuntimeError) as e:
        if not _is_out_of_memory(e):
            raise
        status, reason = "out_of_memory", f"out of memory ({type(e).__name__}: {' '.join(str(e).split())[:300]})"
        model = None
        if cuda:
            torch.cuda.empty_cache()
    record["status"] = status
    if reason:
        record["reason"] = reason
    record["peak_memory_bytes"] = torch.cuda.max_memory_allocated(device) if cuda else _peak_rss_bytes()
    record["wall_time_s"] = time.monotonic() - start
    return record


def _is_out_of_memory(e: BaseException) -> bool:
    """CUDA out of memory, or an allocation the CPU allocator (or a memory limit) refused."""
    if isinstance(e, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(e)
    return "can't allocate memory" in text or "out of memory" in text.lower() or "not enough memory" in text


def _recipe_dict(recipe: Any) -> dict[str, Any]:
    return recipe.model_dump(mode="json") if hasattr(recipe, "model_dump") else dict(recipe)


def _peak_rss_bytes() -> int | None:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    except (ImportError, OSError):
        return None
