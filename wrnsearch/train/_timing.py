"""A trial's steps timed without its data: what a forecast of its epochs is fitted to.

:func:`time_trial_steps` builds the trial's own trainer (the recipe's optimizer, the augmentation
on the device, the fast path the trial would take) on random images of the data set's shape, and
times its training step at the recipe's batch, its evaluation pass, and the checkpoint it writes
every epoch. The code is the trial's, so nothing a trial does per step is left out or added.
"""

from __future__ import annotations

import io
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from wrnsearch.data import Splits
from wrnsearch.measure import synchronize
from wrnsearch.spec import WRNSpec
from wrnsearch.train._device import fast_path
from wrnsearch.train._loop import _Trainer, evaluate
from wrnsearch.train._recipe import Recipe


@dataclass(frozen=True)
class StepTimes:
    """Seconds of one architecture's steps, as its trial would take them on this device."""

    train_step_s: float  # median training step at ``batch`` images
    batch: int
    eval_image_s: float  # evaluation (eval mode, no grad) per image, at ``eval_batch`` images a pass
    eval_batch: int
    checkpoint_s: float  # serializing the model and optimizer state once (the per-epoch checkpoint)
    amp: bool
    channels_last: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _random_splits(spec: WRNSpec, resolution: int, images: int) -> Splits:
    g = torch.Generator().manual_seed(0)
    shape = (images, spec.in_channels, resolution, resolution)
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    y = torch.randint(0, max(1, spec.num_classes), (images,), generator=g)
    mean, std = (0.5,) * spec.in_channels, (0.25,) * spec.in_channels
    return Splits(x, y, x, y, x[:0], y[:0], [str(i) for i in range(spec.num_classes)], mean, std)


def time_trial_steps(spec: WRNSpec, recipe: Recipe, device: torch.device, *, resolution: int, batch: int | None = None,
                     eval_batch: int | None = None, steps: int = 3, warmup: int = 2) -> StepTimes:
    """Time ``spec``'s training step (median of ``steps`` after ``warmup``), one evaluation pass
    and one checkpoint, with the trainer a trial of ``recipe`` would build on ``device``.

    ``batch`` and ``eval_batch`` default to the recipe's; a forecast of a network too slow to
    time at the full batch passes a smaller one (time per image is flat in the batch on a CPU).
    """
    batch = int(batch or recipe.batch_size)
    eval_batch = int(eval_batch or min(recipe.eval_batch_size, 4 * batch))
    amp, channels_last, use_compile = fast_path(recipe, device)
    splits = _random_splits(spec, resolution, max(batch, eval_batch))
    trainer = _Trainer(spec, recipe, splits, device, 1, amp, channels_last, use_compile)
    idx = torch.arange(batch, device=device)
    times = []
    for i in range(warmup + steps):
        synchronize(device)
        start = time.perf_counter()
        trainer._step(idx)  # noqa: SLF001 - the trial's own step, in its own package
        synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    val_x, val_y = trainer.val_x[:eval_batch], trainer.val_y[:eval_batch]
    evaluate(trainer.model, val_x, val_y, trainer.aug, eval_batch, device, amp)  # warm-up
    synchronize(device)
    start = time.perf_counter()
    evaluate(trainer.model, val_x, val_y, trainer.aug, eval_batch, device, amp)
    eval_s = time.perf_counter() - start
    start = time.perf_counter()
    torch.save({"model": trainer.model.state_dict(), "optimizer": trainer.optimizer.state_dict()}, io.BytesIO())
    checkpoint_s = time.perf_counter() - start
    return StepTimes(train_step_s=statistics.median(times), batch=batch, eval_image_s=eval_s / len(val_y),
                     eval_batch=eval_batch, checkpoint_s=checkpoint_s, amp=amp, channels_last=channels_last)
