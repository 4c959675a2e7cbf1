"""Training one architecture: the paper's recipe on one device, checkpointed every epoch.

- :mod:`~wrnsearch.train._loop`: :func:`train_trial`, the trial itself, returning its
  :class:`~wrnsearch.record.TrialRecord`;
- :mod:`~wrnsearch.train._augment`: batched augmentation on the device;
- :mod:`~wrnsearch.train._checkpoint`: atomic, weights-only checkpoints and when to resume them;
- :mod:`~wrnsearch.train._device`: the device and the fast path (bf16, channels_last, compile);
- :mod:`~wrnsearch.train._timing`: a trial's steps timed on random images, for a forecast.
"""

from __future__ import annotations

from wrnsearch.train._augment import Augmenter
from wrnsearch.train._checkpoint import (
    CHECKPOINT_GLOB,
    DIGEST_SUFFIX,
    WEIGHTS_FILE,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
)
from wrnsearch.train._device import (
    BF16_FASTER,
    cpu_bf16_speedup,
    cpu_has_bf16_units,
    fast_path,
    fast_path_reason,
    measure_like_a_trial,
    pick_device,
)
from wrnsearch.train._loop import EpochReport, evaluate, lr_milestones, train_trial
from wrnsearch.train._recipe import Recipe
from wrnsearch.train._timing import StepTimes, time_trial_steps

__all__ = [
    "Augmenter", "BF16_FASTER", "CHECKPOINT_GLOB", "DIGEST_SUFFIX", "EpochReport", "Recipe", "StepTimes",
    "WEIGHTS_FILE", "cpu_bf16_speedup", "cpu_has_bf16_units", "evaluate", "fast_path", "fast_path_reason",
    "load_checkpoint", "load_weights", "lr_milestones", "measure_like_a_trial", "pick_device", "save_checkpoint",
    "save_weights", "time_trial_steps", "train_trial",
]
