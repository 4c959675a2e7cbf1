"""What a trial's worker needs besides its spec: built once by the driver, read by attribute.

It crosses into Ray's workers as plain data (:meth:`TrialContext.to_dict`, through
``tune.with_parameters``) and is read back once at the top of the trainable
(:meth:`TrialContext.from_dict`): the one dict conversion at the Ray boundary, so that a trainable
of the user's (or a test's) receives what Tune hands every trainable, plain JSON-able values,
and ours reads typed, validated attributes. No Ray or Optuna here: the worker imports it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wrnsearch.space import DatasetConfig, Space, TrainConfig


@dataclass(frozen=True)
class TrialContext:
    """Everything every trial of a run shares: its data, recipe, folders and resources."""

    dataset: DatasetConfig
    train: TrainConfig
    data_root: str | None  # absolute, or None for dataset.root / $WRNSEARCH_DATA / the default
    checkpoints: str  # absolute: RUN_DIR/checkpoints, a folder per trial key below it
    progress: str | None  # absolute: where progress within an epoch goes for the live view
    trial_time_s: float | None  # budget.trial_time: a trial past it is truncated
    gpus: float  # per trial
    cpus: int  # per trial: the trainer's threads
    memory_per_trial: int | None  # bytes; an address-space cap on CPU

    @classmethod
    def for_run(cls, space: Space, run_dir: Path, *, data_root: str | None, progress: Path | None,
                gpus: float) -> TrialContext:
        """The context of a run of ``space`` in ``run_dir``, paths made absolute for the workers."""
        return cls(
            dataset=space.dataset, train=space.train,
            data_root=str(Path(data_root).resolve()) if data_root else None,
            checkpoints=str((Path(run_dir) / "checkpoints").resolve()),
            progress=str(Path(progress).resolve()) if progress is not None else None,
            trial_time_s=space.budget.trial_time, gpus=float(gpus),
            cpus=int(max(1, space.resources.cpus_per_trial)), memory_per_trial=space.resources.memory_per_trial,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, as it crosses into a worker.

        Example:
            >>> from wrnsearch.space import parse_space
            >>> space = parse_space("name: x\\ndataset: {name: synthetic}\\nspace: {depth: 10, widen_factor: 1}")
            >>> ctx = TrialContext.for_run(space, Path("/runs/x"), data_root=None, progress=None, gpus=0)
            >>> TrialContext.from_dict(ctx.to_dict()) == ctx, ctx.to_dict()["checkpoints"]
            (True, '/runs/x/checkpoints')
        """
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["dataset"] = self.dataset.model_dump(mode="json")
        out["train"] = self.train.model_dump(mode="json")
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialContext:
        """The context a worker was handed, validated again (the recipe and data set as the driver saw them)."""
        values = dict(data)
        values["dataset"] = DatasetConfig.model_validate(values["dataset"])
        values["train"] = TrainConfig.model_validate(values["train"])
        return cls(**values)
