"""The sections of a space file that say how a search runs: its budgets, sampler and scheduler,
resources, and the tools it reports to. What is searched (the data set, the architectures, the
recipe) is :mod:`wrnsearch.space._schema`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from wrnsearch import sampler_registry
from wrnsearch.cost import format_bytes, format_count
from wrnsearch.space._dims import Bytes, Count, Seconds
from wrnsearch.space._limits import (
    MAX_BYTES,
    MAX_CONCURRENT,
    MAX_COUNT,
    MAX_EPOCHS,
    MAX_SECONDS,
    MAX_TRIALS,
    Section,
    at_most,
)
from wrnsearch.units import format_seconds

SCHEDULERS = ("fifo", "asha", "moasha")


class BudgetConfig(Section):
    """Limits checked analytically before training (specs) and by the driver (trials, time)."""

    max_params: Annotated[Count, at_most(MAX_COUNT, format_count)] | None = None
    max_macs: Annotated[Count, at_most(MAX_COUNT, format_count)] | None = None
    # fp32 activations at train.batch_size
    max_activation_memory: Annotated[Bytes, at_most(MAX_BYTES, format_bytes)] | None = None
    max_trials: int = Field(default=50, ge=1, le=MAX_TRIALS)
    # the whole search and one trial, wall clock; over trial_time a trial is truncated
    time: Annotated[Seconds, at_most(MAX_SECONDS, format_seconds)] | None = None
    trial_time: Annotated[Seconds, at_most(MAX_SECONDS, format_seconds)] | None = None


class AshaConfig(Section):
    """Successive halving's settings, for ``asha`` and ``moasha``."""

    # epochs before a trial can be stopped: a whole count, or a fraction (< 1) of train.epochs, so
    # that a setting measured on a short benchmark carries to a long search
    # defaults measured on benchmarks/wrn-cifar10-cpu.json (BENCHMARKS.md): 2 of 6 epochs and
    # halving beat 1 epoch and thirds for both ASHA and MO-ASHA
    grace_period: float = Field(default=0.34, gt=0, le=MAX_EPOCHS)
    reduction_factor: float = Field(default=2, gt=1, le=100)

    @field_validator("grace_period")
    @classmethod
    def _grace(cls, v: float) -> float:
        if v > 1 and v != int(v):
            raise ValueError(f"grace_period {v} is a whole number of epochs or a fraction of train.epochs below 1")
        return int(v) if v >= 1 else v


class SearchConfig(Section):
    """How the next architecture is chosen and trials are run. What each sampler reads of it, and
    its defaults, are its entry in :mod:`wrnsearch.sampler_registry`."""

    # a space that names none gets one that takes its size (Space)
    sampler: Literal[sampler_registry.NAMES] = sampler_registry.DEFAULT
    seed: int = 0
    scheduler: Literal["fifo", "asha", "moasha"] = "fifo"
    asha: AshaConfig = Field(default_factory=AshaConfig)
    max_concurrent: int = Field(default=1, ge=1, le=MAX_CONCURRENT)
    max_failures: int = Field(default=1, ge=0, le=100)  # retries of a trial whose worker died
    population_size: int = Field(default=20, ge=2, le=MAX_TRIALS)  # a genetic sampler's generation
    # proposals before a sampler's model is used; unset, its entry's (measured) count, filled before
    # validation so that the saved space names it
    n_startup_trials: int = Field(default=sampler_registry.get(sampler_registry.DEFAULT).n_startup_trials, ge=0,
                                  le=MAX_TRIALS)
    # architectures evaluated first, before the sampler proposes (e.g. the paper's networks); each
    # must be in the space; one over a budget is skipped, and so on resume is one the study holds
    enqueue: list[str] = Field(default_factory=list)
    # ehvi's: expected improvement per (MACs / the median candidate's MACs) ** this, MACs standing for
    # the training seconds a proposal costs; 0 ignores cost. 0.5 was better on seeds 0-9 of the CPU
    # table and not on 40 fresh seeds (BENCHMARKS.md), so it is off by default.
    cost_exponent: float = Field(default=0, ge=0, le=2)

    @model_validator(mode="before")
    @classmethod
    def _startup_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("n_startup_trials") is None:
            sampler = data.get("sampler", sampler_registry.DEFAULT)
            if not isinstance(sampler, str):  # not a sampler's name: the field's own check says so
                return data
            entry = sampler_registry.SAMPLERS.get(sampler)  # an unknown name: the field's own check says so
            count = entry.n_startup_trials if entry else sampler_registry.STARTUP_TRIALS
            return {**data, "n_startup_trials": count}
        return data


class ResourcesConfig(Section):
    cpus_per_trial: float = Field(default=1, gt=0, le=1024)
    gpus_per_trial: float | Literal["auto"] = "auto"  # auto: 1 when CUDA is present, else 0
    reuse_actors: bool = True
    # CPU trials: memory a trial may add to its worker before allocations fail (the trial is then
    # recorded as out_of_memory instead of the host's OOM killer taking a process at random)
    memory_per_trial: Bytes | None = None

    @field_validator("gpus_per_trial")
    @classmethod
    def _gpus(cls, v: Any) -> Any:
        if v != "auto" and v < 0:
            raise ValueError("gpus_per_trial must be >= 0 (fractions share a GPU)")
        return v


class MlflowConfig(Section):
    """Where the search's MLflow runs go (needs ``pip install 'wrnsearch[mlflow]'``)."""

    # a tracking URI (http://host:5000, sqlite:///mlflow.db); default MLflow's own: $MLFLOW_TRACKING_URI,
    # else its default store in the working directory
    uri: str | None = Field(default=None, min_length=1)
    experiment: str | None = Field(default=None, min_length=1)  # default: the space's name


class TrackingConfig(Section):
    """Copies of every trial's learning curve for the tools users keep runs in (the study stays the record)."""

    tensorboard: bool = True  # event files per trial under RUN_DIR/tensorboard/<number>-<arch>/
    mlflow: MlflowConfig | None = None  # a parent run per search, a nested run per trained trial
