"""The schema of a space file: its sections as frozen pydantic models, validated once.

A :class:`Space` is built by :func:`wrnsearch.space.load_space` (with located errors) and is
valid from then on: every default, including the paper's recipe for its data set, is filled in
before validation, so no model is changed after it is built.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from wrnsearch import dataset_registry, sampler_registry
from wrnsearch.objectives import DEFAULT as DEFAULT_OBJECTIVES
from wrnsearch.objectives import NAMES as OBJECTIVES  # every objective a space may list
from wrnsearch.space._dims import BlockList, Dim, IntDim, NumDim, PositiveAmount, parse_dim
from wrnsearch.space._limits import (
    MAX_BATCH,
    MAX_DEPTH,
    MAX_EPOCHS,
    MAX_IMAGES,
    MAX_WIDEN_FACTOR,
    Section,
)
from wrnsearch.space._run_sections import (
    BudgetConfig,
    ResourcesConfig,
    SearchConfig,
    TrackingConfig,
)
from wrnsearch.spec import is_odd_kernel, width_problem

SHAPE_KEYS = dataset_registry.SHAPE_KEYS
SYNTHETIC_ONLY_KEYS = ("train_size", "test_size")  # how many images the synthetic data set makes


def paper_recipe(dataset: str) -> dict[str, Any]:
    """The paper's training recipe for a data set (its entry's: SVHN's, or CIFAR's for every other)."""
    return dataset_registry.recipe_for(dataset)


class DatasetConfig(Section):
    """What to train on and how to split it."""

    name: Literal[dataset_registry.NAMES] = dataset_registry.DEFAULT
    root: str | None = None  # default: $WRNSEARCH_DATA or ~/.cache/wrnsearch/data
    download: bool = True  # torchvision download when the root lacks the files
    # images held out of training (count, or fraction if < 1); 0 trains on the whole training set,
    # for `wrnsearch train` only (as the paper did): a search optimizes validation error
    val_size: Annotated[float, Field(ge=0, le=MAX_IMAGES)] = 5000
    # train on this many (or this fraction) only; evaluate the test set on this many only
    train_subset: Annotated[PositiveAmount, Field(le=MAX_IMAGES)] | None = None
    test_subset: Annotated[PositiveAmount, Field(le=MAX_IMAGES)] | None = None
    split_seed: int = 0
    num_classes: int | None = Field(default=None, ge=1, le=1_000_000)  # imagefolder, synthetic
    resolution: int | None = Field(default=None, ge=8, le=4096)  # imagefolder, synthetic
    channels: int | None = Field(default=None, ge=1, le=1024)  # imagefolder, synthetic
    train_size: int = Field(default=1024, ge=2, le=MAX_IMAGES)  # synthetic only
    test_size: int = Field(default=256, ge=1, le=MAX_IMAGES)  # synthetic only

    @model_validator(mode="before")
    @classmethod
    def _fill_shape(cls, data: Any) -> Any:
        """The shape a named data set fixes (classes, resolution, channels), filled before validation."""
        if not isinstance(data, dict) or not isinstance(data.get("name", dataset_registry.DEFAULT), str):
            return data  # pydantic reports what is wrong with it
        entry = dataset_registry.DATASETS.get(data.get("name", dataset_registry.DEFAULT))
        if entry is None:
            return data  # not a data set's name: the field's own check says so
        filled = dict(data)
        if entry.shape is not None:
            for key, known in zip(SHAPE_KEYS, entry.shape):
                given = data.get(key)
                if given is not None and given != known:
                    raise ValueError(f"{entry.name} has {key} {known}, not {given}: leave {key} out")
                filled[key] = known
        for key, default in entry.shape_defaults.items():
            if filled.get(key) is None:
                filled[key] = default
        return filled

    @model_validator(mode="after")
    def _check_sizes(self) -> DatasetConfig:
        missing = [k for k in ("num_classes", "resolution") if getattr(self, k) is None]
        if missing:
            raise ValueError(f"an imagefolder dataset needs {' and '.join(missing)} (e.g. resolution: 64)")
        for key in ("val_size", "train_subset", "test_subset"):
            v = getattr(self, key)
            if v is not None and v >= 1 and v != int(v):
                raise ValueError(f"{key} {v} must be a whole count or a fraction below 1")
        return self


class SpaceDims(Section):
    """The architecture dimensions. Either ``architecture`` (a list of WRN names) or dimensions."""

    architecture: list[str] | None = None
    depth: IntDim | None = None
    blocks_per_group: IntDim | None = None
    widen_factor: NumDim | None = None
    block: BlockList | None = None
    convs_per_block: IntDim | None = None
    kernel_sizes: list[int] | None = None
    dropout: NumDim = Field(default_factory=lambda: Dim("fixed", False, (0.0,)))

    @model_validator(mode="after")
    def _check_form(self) -> SpaceDims:
        if self.architecture is not None:
            others = [k for k in ("depth", "blocks_per_group", "widen_factor", "block", "convs_per_block",
                                  "kernel_sizes") if getattr(self, k) is not None]
            if others:
                raise ValueError(f"architecture lists whole WRNs: drop {', '.join(others)}")
            if not self.architecture:
                raise ValueError("architecture is an empty list: give at least one name such as WRN-16-4")
            return self
        if (self.depth is None) == (self.blocks_per_group is None):
            raise ValueError("give exactly one of depth and blocks_per_group")
        if self.widen_factor is None:
            raise ValueError("widen_factor is missing (e.g. widen_factor: {low: 1, high: 12})")
        if self.block is not None and (self.convs_per_block is not None or self.kernel_sizes is not None):
            raise ValueError("give either block or convs_per_block with kernel_sizes, not both")
        if self.block is None and (self.convs_per_block is None) != (self.kernel_sizes is None):
            raise ValueError("convs_per_block and kernel_sizes go together")
        return self

    @field_validator("kernel_sizes")
    @classmethod
    def _odd_kernels(cls, v: list[int] | None) -> list[int] | None:
        if v is not None:
            if not v:
                raise ValueError("kernel_sizes is empty: give at least one odd size, e.g. [1, 3]")
            bad = [k for k in v if not is_odd_kernel(k)]
            if bad:
                raise ValueError(f"kernel size {bad[0]} must be a positive odd integer")
        return v

    @field_validator("depth", "blocks_per_group")
    @classmethod
    def _positive_int(cls, d: Dim | None, info: Any) -> Dim | None:
        if d is not None:
            limit = MAX_DEPTH if info.field_name == "depth" else MAX_DEPTH // 3
            if d.minimum < 1 or d.maximum > limit:
                raise ValueError(f"{info.field_name} values must lie in 1..{limit}")
        return d

    @field_validator("widen_factor")
    @classmethod
    def _widths(cls, d: Dim | None) -> Dim | None:
        if d is None:
            return d
        if d.minimum <= 0 or d.maximum > MAX_WIDEN_FACTOR:
            raise ValueError(f"widen_factor values must lie in (0, {MAX_WIDEN_FACTOR}]")
        if d.kind == "range" and not d.integer:
            if d.step is None:
                raise ValueError("a fractional widen_factor range needs a step such that 16*step is whole "
                                 "(e.g. step: 0.25)")
            checks = (("low", d.low), ("step", d.step))  # every value is low + i * step
        else:
            checks = tuple((None, v) for v in d.finite_values())
        for name, v in checks:
            problem = width_problem(v)
            if problem:
                raise ValueError(problem if name is None else f"{problem}, the range's {name}")
        return d

    @field_validator("dropout")
    @classmethod
    def _dropout(cls, d: Dim) -> Dim:
        if d.minimum < 0 or d.maximum >= 1:
            raise ValueError("dropout values must lie in [0, 1)")
        return d


class TrainConfig(Section):
    """The training recipe. Unset keys take the dataset's recipe from the paper."""

    epochs: int | None = Field(default=None, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(default=128, ge=1, le=MAX_BATCH)
    lr: float | None = Field(default=None, gt=0)  # a rate that diverges is a result (diverged), not bad input
    momentum: float = Field(default=0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(default=5e-4, ge=0, le=1)
    lr_milestones: list[float] | None = None  # fractions of the epochs
    lr_gamma: float | None = Field(default=None, gt=0, le=1)
    augment: bool | None = None  # reflect-pad 4, random crop, horizontal flip
    normalize: Literal["meanstd", "scale"] | None = None  # per-channel mean/std, or /255
    # The fast path. auto: on with CUDA, and on a CPU where a training step measured at least 1.2x as
    # fast in bf16 with channels_last (AMX, AVX512-BF16: about 2x; train/_device.py); true: on any
    # device; false: off.
    amp: bool | Literal["auto"] = "auto"  # bf16 autocast
    channels_last: bool | Literal["auto"] = "auto"
    compile: bool = False  # torch.compile (static shapes); costs a compile at the trial's start
    eval_batch_size: int = Field(default=512, ge=1, le=MAX_BATCH)
    seed: int = 0
    latency_batch: int = Field(default=32, ge=1, le=MAX_BATCH)  # images per timed training step (latency_ms)
    latency_steps: int = Field(default=20, ge=20, le=10_000)  # timed runs of each latency (median)
    infer_batch: int = Field(default=1, ge=1, le=MAX_BATCH)  # images per timed inference pass (latency_infer_ms)

    @field_validator("lr_milestones")
    @classmethod
    def _milestones(cls, v: list[float] | None) -> list[float] | None:
        if v is not None:
            if any(not 0 < m < 1 for m in v) or sorted(v) != v:
                raise ValueError("lr_milestones are increasing fractions of the epochs in (0, 1), e.g. [0.3, 0.6, 0.8]")
        return v


def _architectures_bound(dims: Any) -> float | None:
    """An upper bound on the architectures raw space dimensions hold (``inf`` with a continuous
    range); None where they do not say: a list of whole WRNs, or a mistake the validation that
    follows reports."""
    if not isinstance(dims, dict):
        return math.inf
    if "architecture" in dims:
        return None
    size = 1.0
    try:
        for key, integer in (("depth", True), ("blocks_per_group", True), ("widen_factor", False),
                             ("dropout", False)):
            if key in dims:
                size *= parse_dim(dims[key], integer).size()
        blocks = dims.get("block", dims.get("kernel_sizes"))
        if isinstance(blocks, list):
            size *= max(1, len(blocks)) ** (1 if "block" in dims else 3)
    except (ValueError, TypeError):
        return None
    return size


class Space(Section):
    """A whole, validated space file. Build it with :func:`load_space`."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    space: SpaceDims
    objectives: list[Literal[OBJECTIVES]] = Field(default_factory=lambda: list(DEFAULT_OBJECTIVES))
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    storage: str | None = None  # Optuna storage URL; default: SQLite in the run directory
    # retrain: the final training of architectures a search chose (wrnsearch retrain), which may
    # hold out no validation images; its error is then the test error
    phase: Literal["search", "retrain"] = "search"

    _source: str = PrivateAttr(default="<space>")

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("objectives is empty: give at least one of " + ", ".join(OBJECTIVES))
        if len(set(v)) != len(v):
            raise ValueError("an objective is listed twice")
        return v

    @model_validator(mode="before")
    @classmethod
    def _default_sampler(cls, data: Any) -> Any:
        """A space that names no sampler gets the registry's default where it takes the space's size
        (ehvi: a finite space of at most 20,000 architectures), else its fallback (tpe); filled
        before validation, so the saved space names it."""
        if not isinstance(data, dict) or not isinstance(data.get("search", {}), dict):
            return data
        search = data.get("search") or {}
        if "sampler" in search:
            return data
        sampler = sampler_registry.default_for(_architectures_bound(data.get("space")))
        return {**data, "search": {**search, "sampler": sampler}}

    @model_validator(mode="before")
    @classmethod
    def _recipe_defaults(cls, data: Any) -> Any:
        """The paper's recipe for the data set, for every train key the file leaves unset."""
        if not isinstance(data, dict):
            return data
        dataset = data.get("dataset")
        name = dataset.get("name") if isinstance(dataset, dict) else getattr(dataset, "name", None)
        defaults = paper_recipe(name if isinstance(name, str) else dataset_registry.DEFAULT)
        train = data.get("train")
        if train is None:
            return {**data, "train": defaults}
        if isinstance(train, TrainConfig):
            unset = {k: v for k, v in defaults.items() if getattr(train, k) is None}
            return {**data, "train": train.model_copy(update=unset)}
        if isinstance(train, dict):
            return {**data, "train": {**train, **{k: v for k, v in defaults.items() if train.get(k) is None}}}
        return data

    @property
    def source(self) -> str:
        """The file (or ``--set``-built text) the space was read from, for messages."""
        return self._source

    def located(self, source: str) -> Space:
        """This space, marked as read from ``source``."""
        self._source = source
        return self

    @property
    def directions(self) -> list[str]:
        return ["minimize"] * len(self.objectives)

    def to_yaml_dict(self) -> dict[str, Any]:
        """The resolved space as plain YAML-able data: every default filled in that its data set reads
        (see :func:`drop_unused_keys`); it validates back to an equal space."""
        return drop_unused_keys(self.model_dump(mode="json"))


def drop_unused_keys(data: dict[str, Any]) -> dict[str, Any]:
    """Remove, in place, the dataset keys its data set never reads that hold their defaults: the
    synthetic set's sizes on a real data set. A value someone changed stays, so that the data
    validates back to the same space (and the same trial keys, which hash the whole section).

    Example:
        >>> drop_unused_keys({"dataset": {"name": "cifar10", "train_size": 1024, "test_size": 256}})
        {'dataset': {'name': 'cifar10'}}
    """
    dataset = data.get("dataset")
    name = dataset.get("name", dataset_registry.DEFAULT) if isinstance(dataset, dict) else None
    entry = dataset_registry.DATASETS.get(name) if isinstance(name, str) else None
    if entry is not None and not entry.generated:
        for key in SYNTHETIC_ONLY_KEYS:
            if key in dataset and dataset[key] == DatasetConfig.model_fields[key].default:
                del dataset[key]
    return data
