"""The schema of a space file: its sections as frozen pydantic models, validated once.

A :class:`Space` is built by :func:`wrnsearch.space.load_space` (with located errors) and is
valid from then on: every default, including the paper's recipe for its data set, is filled in
before validation, so no model is changed after it is built.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from wrnsearch.cost import format_bytes, format_count
from wrnsearch.space.dims import BlockList, Bytes, Count, Dim, IntDim, NumDim, PositiveAmount, Seconds, parse_dim
from wrnsearch.spec import is_odd_kernel, width_problem
from wrnsearch.units import format_seconds

OBJECTIVES = ("error", "params", "latency_ms", "latency_infer_ms", "macs")
SAMPLERS = ("tpe", "nsga2", "nsga3", "gp", "qmc", "random", "grid", "bruteforce", "ehvi")
SCHEDULERS = ("fifo", "asha", "moasha")
EHVI_MAX_ARCHITECTURES = 20_000  # ehvi ranks every architecture; the default falls back to tpe beyond
MAX_DEPTH = 1000
MAX_WIDEN_FACTOR = 64
# Bounds beyond any sense, so that a typo (an extra zero or ten) is refused with its bound instead
# of starting a search that can never end: the paper trains 200 epochs at batch 128.
MAX_EPOCHS = 10_000
MAX_BATCH = 65_536
MAX_TRIALS = 1_000_000
MAX_CONCURRENT = 4096
MAX_IMAGES = 1_000_000_000  # a data set's images, held out or subsetted
MAX_SECONDS = 366 * 24 * 3600.0  # a year: budget.time, budget.trial_time
MAX_COUNT = 10**13  # params or MACs of any network a budget may bound (GPT-4 class models are ~10**12)
MAX_BYTES = 2**50  # a pebibyte


def _at_most(limit: float, shown: Any) -> AfterValidator:
    """A bound beyond any sense, refused in the units the file is written in (``366d``, ``10T``)."""

    def check(v: float) -> float:
        if v > limit:
            raise ValueError(f"{shown(v)} is beyond any sense: at most {shown(limit)}")
        return v

    return AfterValidator(check)

# name -> (num_classes, resolution, channels)
SHAPE_KEYS = ("num_classes", "resolution", "channels")
KNOWN_DATASETS = {"cifar10": (10, 32, 3), "cifar100": (100, 32, 3), "svhn": (10, 32, 3)}
SYNTHETIC_SHAPE = (10, 32, 3)


def paper_recipe(dataset: str) -> dict[str, Any]:
    """The paper's training recipe for a data set: SVHN's, or CIFAR's for every other."""
    svhn = dataset == "svhn"
    return {
        "epochs": 160 if svhn else 200,
        "lr": 0.01 if svhn else 0.1,
        "lr_milestones": [0.5, 0.75] if svhn else [0.3, 0.6, 0.8],
        "lr_gamma": 0.1 if svhn else 0.2,
        "augment": not svhn,
        "normalize": "scale" if svhn else "meanstd",
    }


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class DatasetConfig(_Section):
    """What to train on and how to split it."""

    name: Literal["cifar10", "cifar100", "svhn", "imagefolder", "synthetic"] = "cifar10"
    root: str | None = None  # default: $WRNSEARCH_DATA or ~/.cache/wrnsearch
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
        if not isinstance(data, dict) or not isinstance(data.get("name", "cifar10"), str):
            return data  # pydantic reports what is wrong with it
        name = data.get("name", "cifar10")
        filled = dict(data)
        if name in KNOWN_DATASETS:
            for key, known in zip(SHAPE_KEYS, KNOWN_DATASETS[name]):
                given = data.get(key)
                if given is not None and given != known:
                    raise ValueError(f"{name} has {key} {known}, not {given}: leave {key} out")
                filled[key] = known
        defaults = dict(zip(SHAPE_KEYS, SYNTHETIC_SHAPE)) if name == "synthetic" else {"channels": 3}
        for key, default in defaults.items():
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


class SpaceDims(_Section):
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


class BudgetConfig(_Section):
    """Limits checked analytically before training (specs) and by the driver (trials, time)."""

    max_params: Annotated[Count, _at_most(MAX_COUNT, format_count)] | None = None
    max_macs: Annotated[Count, _at_most(MAX_COUNT, format_count)] | None = None
    # fp32 activations at train.batch_size
    max_activation_memory: Annotated[Bytes, _at_most(MAX_BYTES, format_bytes)] | None = None
    max_trials: int = Field(default=50, ge=1, le=MAX_TRIALS)
    # the whole search and one trial, wall clock; over trial_time a trial is truncated
    time: Annotated[Seconds, _at_most(MAX_SECONDS, format_seconds)] | None = None
    trial_time: Annotated[Seconds, _at_most(MAX_SECONDS, format_seconds)] | None = None


class TrainConfig(_Section):
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
    # The fast path. auto: on with CUDA and on CPUs with AMX bf16 units (Xeon Sapphire Rapids and
    # later), off on other CPUs, where bf16 is emulated; true: on any device; false: off.
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


class AshaConfig(_Section):
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


# Start-up proposals before a model-based sampler uses its model, where the space leaves them unset.
# ehvi: 4, of 3, 4, 5, 6, 8 and 10 the best after 15 trials on both blocks of tuning seeds of
# benchmarks/wrn-cifar10-cpu.json (BENCHMARKS.md, "Search quality"). TPE and GP: 10, Optuna's
# default for TPE (for TPE, 8 against 10 was mixed on that table).
STARTUP_TRIALS = {"ehvi": 4, "tpe": 10, "gp": 10}


class SearchConfig(_Section):
    # ehvi: the highest hypervolume on benchmarks/wrn-cifar10-cpu.json at every mark, after 15 and 30
    # trials and at a quarter and half of its compute (BENCHMARKS.md, "Search quality")
    sampler: Literal["tpe", "nsga2", "nsga3", "gp", "qmc", "random", "grid", "bruteforce", "ehvi"] = "ehvi"
    seed: int = 0
    scheduler: Literal["fifo", "asha", "moasha"] = "fifo"
    asha: AshaConfig = Field(default_factory=AshaConfig)
    max_concurrent: int = Field(default=1, ge=1, le=MAX_CONCURRENT)
    max_failures: int = Field(default=1, ge=0, le=100)  # retries of a trial whose worker died
    population_size: int = Field(default=20, ge=2, le=MAX_TRIALS)  # nsga2, nsga3
    # ehvi, tpe, gp: proposals before the model is used; unset, the sampler's measured default
    # (STARTUP_TRIALS), filled before validation so that the saved space names it
    n_startup_trials: int = Field(default=STARTUP_TRIALS["ehvi"], ge=0, le=MAX_TRIALS)
    # architectures evaluated first, before the sampler proposes (e.g. the paper's networks); each
    # must be in the space; one over a budget is skipped, and so on resume is one the study holds
    enqueue: list[str] = Field(default_factory=list)
    # ehvi: expected improvement per (MACs / the median candidate's MACs) ** this, MACs standing for
    # the training seconds a proposal costs; 0 ignores cost. 0.5 was better on seeds 0-9 of the CPU
    # table and not on 40 fresh seeds (BENCHMARKS.md), so it is off by default.
    cost_exponent: float = Field(default=0, ge=0, le=2)

    @model_validator(mode="before")
    @classmethod
    def _startup_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("n_startup_trials") is None:
            sampler = data.get("sampler", "ehvi")
            if not isinstance(sampler, str):  # not a sampler's name: the field's own check says so
                return data
            return {**data, "n_startup_trials": STARTUP_TRIALS.get(sampler, STARTUP_TRIALS["tpe"])}
        return data


class ResourcesConfig(_Section):
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


class MlflowConfig(_Section):
    """Where the search's MLflow runs go (needs ``pip install 'wrnsearch[mlflow]'``)."""

    # a tracking URI (http://host:5000, sqlite:///mlflow.db); default MLflow's own: $MLFLOW_TRACKING_URI,
    # else its default store in the working directory
    uri: str | None = Field(default=None, min_length=1)
    experiment: str | None = Field(default=None, min_length=1)  # default: the space's name


class TrackingConfig(_Section):
    """Copies of every trial's learning curve for the tools users keep runs in (the study stays the record)."""

    tensorboard: bool = True  # event files per trial under RUN_DIR/tensorboard/<number>-<arch>/
    mlflow: MlflowConfig | None = None  # a parent run per search, a nested run per trained trial


def _enumerable(dims: Any) -> bool:
    """Whether raw space dimensions are finite and hold at most EHVI_MAX_ARCHITECTURES (an upper bound)."""
    if not isinstance(dims, dict):
        return False
    if "architecture" in dims:
        return True
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
        return True  # the validation that follows reports the problem
    return size <= EHVI_MAX_ARCHITECTURES


class Space(_Section):
    """A whole, validated space file. Build it with :func:`load_space`."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    space: SpaceDims
    objectives: list[Literal["error", "params", "latency_ms", "latency_infer_ms", "macs"]] = Field(
        default_factory=lambda: ["error", "params", "latency_ms"]
    )
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
        """A space that names no sampler gets ehvi where ehvi applies (a finite space of at most
        EHVI_MAX_ARCHITECTURES), else tpe; filled before validation, so the saved space names it."""
        if not isinstance(data, dict) or not isinstance(data.get("search", {}), dict):
            return data
        search = data.get("search") or {}
        if "sampler" in search:
            return data
        sampler = "ehvi" if _enumerable(data.get("space")) else "tpe"
        return {**data, "search": {**search, "sampler": sampler}}

    @model_validator(mode="before")
    @classmethod
    def _recipe_defaults(cls, data: Any) -> Any:
        """The paper's recipe for the data set, for every train key the file leaves unset."""
        if not isinstance(data, dict):
            return data
        dataset = data.get("dataset")
        name = dataset.get("name") if isinstance(dataset, dict) else getattr(dataset, "name", None)
        defaults = paper_recipe(name if isinstance(name, str) else "cifar10")
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
        """The resolved space, every default filled in, as plain YAML-able data."""
        return self.model_dump(mode="json")
