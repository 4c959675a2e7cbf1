"""What the trainer reads of a recipe, typed without importing the space language above it.

:class:`wrnsearch.space.TrainConfig` (a validated space's ``train`` section, its paper defaults
filled in by the space) is the recipe every trial gets; this protocol names the fields the
trainer, its timing and its fast path read, so that train/ needs no upward import to say so.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol


class Recipe(Protocol):
    """The fields of a resolved ``train`` section the trainer reads."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    lr_milestones: list[float]
    lr_gamma: float
    augment: bool
    normalize: Literal["meanstd", "scale"]
    amp: bool | Literal["auto"]
    channels_last: bool | Literal["auto"]
    compile: bool
    eval_batch_size: int
    seed: int
    latency_batch: int
    latency_steps: int
    infer_batch: int

    def model_dump(self, *, mode: str = ...) -> dict[str, Any]: ...
