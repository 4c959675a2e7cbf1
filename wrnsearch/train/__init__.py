"""Training one architecture: the paper's recipe on one device, checkpointed every epoch.

- :mod:`~wrnsearch.train.loop`: :func:`train_trial`, the trial itself, returning its
  :class:`~wrnsearch.record.TrialRecord`;
- :mod:`~wrnsearch.train.augment`: batched augmentation on the device;
- :mod:`~wrnsearch.train.checkpoint`: atomic, weights-only checkpoints and when to resume them;
- :mod:`~wrnsearch.train.device`: the device and the fast path (bf16, channels_last, compile).
"""

from __future__ import annotations

from wrnsearch.train.augment import Augmenter
from wrnsearch.train.checkpoint import CHECKPOINT_GLOB, load_checkpoint, save_checkpoint
from wrnsearch.train.device import cpu_has_bf16_units, fast_path, measure_like_a_trial, pick_device
from wrnsearch.train.loop import EpochReport, evaluate, lr_milestones, train_trial

__all__ = [
    "CHECKPOINT_GLOB", "Augmenter", "EpochReport", "cpu_has_bf16_units", "evaluate", "fast_path", "load_checkpoint",
    "lr_milestones", "measure_like_a_trial", "pick_device", "save_checkpoint", "train_trial",
]
