"""Search spaces: the YAML language, its validation, and the architectures a space holds.

A space file has the sections ``name``, ``dataset``, ``space``, ``objectives``, ``budget``,
``train``, ``search``, ``resources`` and ``storage`` (see docs/spaces.md). :func:`load_space`
reads one safely, applies ``--set`` overrides, validates everything once, and raises
:class:`~wrnsearch.errors.SpaceError` with one line per problem, each naming the file, line,
column and dotted key. Inside the library a :class:`Space` is always valid.

No torch, Ray or Optuna here: the Optuna side of a space lives in :mod:`wrnsearch.sampling`.
"""

from __future__ import annotations

import difflib
import itertools
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from wrnsearch.cost import Cost, model_cost
from wrnsearch.errors import SpaceError, SpecError
from wrnsearch.spec import WRNSpec, format_block, format_number, parse_block, parse_name
from wrnsearch.units import format_seconds, parse_bytes, parse_count, parse_seconds

log = logging.getLogger(__name__)

OBJECTIVES = ("error", "params", "latency_ms", "macs")
SAMPLERS = ("tpe", "nsga2", "nsga3", "gp", "qmc", "random", "grid", "bruteforce")
MAX_DEPTH = 1000
MAX_WIDEN_FACTOR = 64

# name -> (num_classes, resolution, channels)
KNOWN_DATASETS = {"cifar10": (10, 32, 3), "cifar100": (100, 32, 3), "svhn": (10, 32, 3)}


# --------------------------------------------------------------------------------------------
# Dimensions: a fixed value, a list of choices, or a range


@dataclass(frozen=True)
class Dim:
    """One searchable dimension. ``values`` holds the fixed value or the choices."""

    kind: Literal["fixed", "choice", "range"]
    integer: bool
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False

    @property
    def finite(self) -> bool:
        return self.kind != "range" or self.integer or self.step is not None

    def finite_values(self) -> list[Any]:
        """Every value of a finite dimension, in order."""
        if self.kind != "range":
            return list(self.values)
        if not self.finite:
            raise ValueError("a continuous range has no finite list of values")
        step = self.step if self.step is not None else 1
        count = int(math.floor((self.high - self.low) / step + 1e-9)) + 1
        out = [self.low + i * step for i in range(count)]
        if self.integer:
            return [int(round(v)) for v in out]
        return [round(v, 12) for v in out]

    def size(self) -> float:
        """Number of values (``math.inf`` for a continuous range)."""
        if self.kind != "range":
            return len(self.values)
        if not self.finite:
            return math.inf
        step = self.step if self.step is not None else 1
        return int(math.floor((self.high - self.low) / step + 1e-9)) + 1

    @property
    def minimum(self) -> Any:
        return min(self.values) if self.kind != "range" else self.low

    def to_yaml(self) -> Any:
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "choice":
            return list(self.values)
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.step is not None:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out


_RANGE_KEYS = ("low", "high", "step", "log")


def _number(value: Any, integer: bool, what: str) -> float | int:
    if isinstance(value, bool):
        raise ValueError(f"{what} {value!r} is not a number")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{what} {value!r} is not a number") from None
    if isinstance(value, int):
        return value
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} {value!r} is not a finite number")
    if integer:
        if float(value) != int(value):
            raise ValueError(f"{what} {value!r} must be an integer")
        return int(value)
    return value


def _make_dim(value: Any, integer: bool) -> Dim:
    """Parse a fixed value, a list of choices or a {low, high, step, log} range."""
    if isinstance(value, Dim):
        return value
    if isinstance(value, dict):
        unknown = [k for k in value if k not in _RANGE_KEYS]
        if unknown:
            key = unknown[0]
            hint = difflib.get_close_matches(str(key), _RANGE_KEYS, n=1)
            raise ValueError(
                f"unknown range key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + "; a range has low, high and optional step and log"
            )
        if "low" not in value or "high" not in value:
            raise ValueError("a range needs both low and high, e.g. {low: 1, high: 12}")
        step = value.get("step")
        int_range = integer or all(isinstance(value.get(k), int) and not isinstance(value.get(k), bool) for k in ("low", "high")) and (step is None or isinstance(step, int))
        low = _number(value["low"], int_range, "low")
        high = _number(value["high"], int_range, "high")
        if step is not None:
            step = _number(step, int_range, "step")
            if step <= 0:
                raise ValueError(f"step {step!r} must be > 0")
        log = value.get("log", False)
        if not isinstance(log, bool):
            raise ValueError(f"log {log!r} must be true or false")
        if low > high:
            raise ValueError(f"low {low} is above high {high}")
        if log and low <= 0:
            raise ValueError(f"a log range needs low > 0, not {low}")
        if log and step is not None:
            raise ValueError("a range cannot have both step and log")
        return Dim("range", integer=int_range, low=low, high=high, step=step, log=log)
    if isinstance(value, list):
        if not value:
            raise ValueError("the list of choices is empty: give at least one value")
        items = tuple(_number(v, integer, "choice") for v in value)
        if len(set(items)) != len(items):
            dup = next(v for v in items if items.count(v) > 1)
            raise ValueError(f"choice {dup!r} is listed twice")
        return Dim("choice", integer=integer, values=items) if len(items) > 1 else Dim("fixed", integer, items)
    return Dim("fixed", integer=integer, values=(_number(value, integer, "value"),))


def _int_dim(value: Any) -> Dim:
    return _make_dim(value, integer=True)


def _num_dim(value: Any) -> Dim:
    return _make_dim(value, integer=False)


IntDim = Annotated[Dim, BeforeValidator(_int_dim), PlainSerializer(lambda d: d.to_yaml())]
NumDim = Annotated[Dim, BeforeValidator(_num_dim), PlainSerializer(lambda d: d.to_yaml())]


def _blocks(value: Any) -> tuple[tuple[int, ...], ...]:
    """A block (``"B(3,1,3)"`` / ``[3, 1, 3]``) or a list of them."""
    if isinstance(value, str):
        items: list[Any] = [value]
    elif isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        items = [value]  # one kernel list such as [3, 3]
    elif isinstance(value, list):
        items = value
    else:
        raise ValueError(f"{value!r} is not a block ('B(3,3)', [3, 3]) or a list of blocks")
    if not items:
        raise ValueError("the list of blocks is empty: give at least one, e.g. ['B(3,3)']")
    blocks = []
    for item in items:
        try:
            kernels = parse_block(item)
        except SpecError as e:
            raise ValueError(str(e)) from None
        if not kernels or any(k < 1 or k % 2 == 0 for k in kernels):
            raise ValueError(f"block {item!r}: kernel sizes must be positive odd integers")
        if kernels in blocks:
            raise ValueError(f"block {format_block(kernels)} is listed twice")
        blocks.append(kernels)
    return tuple(blocks)


BlockList = Annotated[
    tuple[tuple[int, ...], ...],
    BeforeValidator(_blocks),
    PlainSerializer(lambda bs: [format_block(b) for b in bs]),
]
Count = Annotated[int, BeforeValidator(parse_count)]
Bytes = Annotated[int, BeforeValidator(parse_bytes)]
Seconds = Annotated[float, BeforeValidator(parse_seconds), PlainSerializer(format_seconds)]
PositiveAmount = Annotated[float, Field(gt=0)]  # a count (>= 1) or a fraction (< 1)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


# --------------------------------------------------------------------------------------------
# Sections


class DatasetConfig(_Section):
    """What to train on and how to split it."""

    name: Literal["cifar10", "cifar100", "svhn", "imagefolder", "synthetic"] = "cifar10"
    root: str | None = None  # default: $WRNSEARCH_DATA or ~/.cache/wrnsearch
    download: bool = True  # torchvision download when the root lacks the files
    # images held out of training (count, or fraction if < 1); 0 trains on the whole training set,
    # for `wrnsearch train` only (as the paper did): a search optimizes validation error
    val_size: Annotated[float, Field(ge=0)] = 5000
    train_subset: PositiveAmount | None = None  # train on this many (or this fraction) only
    test_subset: PositiveAmount | None = None  # evaluate the test set on this many only
    split_seed: int = 0
    num_classes: int | None = Field(default=None, ge=1)  # imagefolder, synthetic
    resolution: int | None = Field(default=None, ge=8)  # imagefolder, synthetic
    channels: int | None = Field(default=None, ge=1)  # imagefolder, synthetic
    train_size: int = Field(default=1024, ge=2)  # synthetic only
    test_size: int = Field(default=256, ge=1)  # synthetic only

    @model_validator(mode="after")
    def _fill_shape(self) -> "DatasetConfig":
        if self.name in KNOWN_DATASETS:
            classes, resolution, channels = KNOWN_DATASETS[self.name]
            for key, known in (("num_classes", classes), ("resolution", resolution), ("channels", channels)):
                given = getattr(self, key)
                if given is not None and given != known:
                    raise ValueError(f"{self.name} has {key} {known}, not {given}: leave {key} out")
                object.__setattr__(self, key, known)
        elif self.name == "synthetic":
            for key, default in (("num_classes", 10), ("resolution", 32), ("channels", 3)):
                if getattr(self, key) is None:
                    object.__setattr__(self, key, default)
        else:
            missing = [k for k in ("num_classes", "resolution") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"an imagefolder dataset needs {' and '.join(missing)} (e.g. resolution: 64)")
            if self.channels is None:
                object.__setattr__(self, "channels", 3)
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
    def _check_form(self) -> "SpaceDims":
        if self.architecture is not None:
            others = [k for k in ("depth", "blocks_per_group", "widen_factor", "block", "convs_per_block", "kernel_sizes") if getattr(self, k) is not None]
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
            bad = [k for k in v if k < 1 or k % 2 == 0]
            if bad:
                raise ValueError(f"kernel size {bad[0]} must be a positive odd integer")
        return v

    @field_validator("depth", "blocks_per_group")
    @classmethod
    def _positive_int(cls, d: Dim | None, info: Any) -> Dim | None:
        if d is not None:
            limit = MAX_DEPTH if info.field_name == "depth" else MAX_DEPTH // 3
            if d.minimum < 1 or (d.high if d.kind == "range" else max(d.values)) > limit:
                raise ValueError(f"{info.field_name} values must lie in 1..{limit}")
        return d

    @field_validator("widen_factor")
    @classmethod
    def _widths(cls, d: Dim | None) -> Dim | None:
        if d is None:
            return d
        top = d.high if d.kind == "range" else max(d.values)
        if d.minimum <= 0 or top > MAX_WIDEN_FACTOR:
            raise ValueError(f"widen_factor values must lie in (0, {MAX_WIDEN_FACTOR}]")
        if d.kind == "range" and not d.integer:
            if d.step is None:
                raise ValueError("a fractional widen_factor range needs a step such that 16*step is whole (e.g. step: 0.25)")
            for name, v in (("low", d.low), ("step", d.step)):
                if abs(16 * v - round(16 * v)) > 1e-9:
                    raise ValueError(f"widen_factor {name} {v}: 16*{name} must be a whole number of channels")
        else:
            for v in d.finite_values():
                if abs(16 * v - round(16 * v)) > 1e-9:
                    raise ValueError(f"widen_factor {v}: group width 16*{v} is not a whole number of channels")
        return d

    @field_validator("dropout")
    @classmethod
    def _dropout(cls, d: Dim) -> Dim:
        top = d.high if d.kind == "range" else max(d.values)
        if d.minimum < 0 or top >= 1:
            raise ValueError("dropout values must lie in [0, 1)")
        return d


class BudgetConfig(_Section):
    """Limits checked analytically before training (specs) and by the driver (trials, time)."""

    max_params: Count | None = None
    max_macs: Count | None = None
    max_activation_memory: Bytes | None = None  # fp32 activations at train.batch_size
    max_trials: int = Field(default=50, ge=1)
    time: Seconds | None = None  # whole search, wall clock
    trial_time: Seconds | None = None  # one trial, wall clock; over it a trial is truncated


class TrainConfig(_Section):
    """The training recipe. Unset keys take the dataset's recipe from the paper."""

    epochs: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=128, ge=1)
    lr: float | None = Field(default=None, gt=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(default=5e-4, ge=0)
    lr_milestones: list[float] | None = None  # fractions of the epochs
    lr_gamma: float | None = Field(default=None, gt=0, le=1)
    augment: bool | None = None  # reflect-pad 4, random crop, horizontal flip
    normalize: Literal["meanstd", "scale"] | None = None  # per-channel mean/std, or /255
    # The fast path. auto: on with CUDA and on CPUs with AMX bf16 units (Xeon Sapphire Rapids and
    # later), off on other CPUs, where bf16 is emulated; true: on any device; false: off.
    amp: bool | Literal["auto"] = "auto"  # bf16 autocast
    channels_last: bool | Literal["auto"] = "auto"
    compile: bool = False  # torch.compile (static shapes); costs a compile at the trial's start
    eval_batch_size: int = Field(default=512, ge=1)
    seed: int = 0
    latency_batch: int = Field(default=32, ge=1)
    latency_steps: int = Field(default=20, ge=20)

    @field_validator("lr_milestones")
    @classmethod
    def _milestones(cls, v: list[float] | None) -> list[float] | None:
        if v is not None:
            if any(not 0 < m < 1 for m in v) or sorted(v) != v:
                raise ValueError("lr_milestones are increasing fractions of the epochs in (0, 1), e.g. [0.3, 0.6, 0.8]")
        return v


class AshaConfig(_Section):
    grace_period: int = Field(default=1, ge=1)  # epochs before a trial can be stopped
    reduction_factor: float = Field(default=3, gt=1)


class SearchConfig(_Section):
    sampler: Literal["tpe", "nsga2", "nsga3", "gp", "qmc", "random", "grid", "bruteforce"] = "tpe"
    seed: int = 0
    scheduler: Literal["fifo", "asha"] = "fifo"
    asha: AshaConfig = Field(default_factory=AshaConfig)
    max_concurrent: int = Field(default=1, ge=1)
    max_failures: int = Field(default=1, ge=0)  # retries of a trial whose worker died
    population_size: int = Field(default=20, ge=2)  # nsga2, nsga3
    n_startup_trials: int = Field(default=10, ge=0)  # tpe, gp


class ResourcesConfig(_Section):
    cpus_per_trial: float = Field(default=1, gt=0)
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


class Space(_Section):
    """A whole, validated space file. Build it with :func:`load_space`."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    space: SpaceDims
    objectives: list[Literal["error", "params", "latency_ms", "macs"]] = Field(
        default_factory=lambda: ["error", "params", "latency_ms"]
    )
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    storage: str | None = None  # Optuna storage URL; default: SQLite in the run directory

    _source: str = PrivateAttr(default="<space>")

    @field_validator("objectives")
    @classmethod
    def _objectives(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("objectives is empty: give at least one of " + ", ".join(OBJECTIVES))
        if len(set(v)) != len(v):
            raise ValueError("an objective is listed twice")
        return v

    @model_validator(mode="after")
    def _recipe_defaults(self) -> "Space":
        """Fill the paper's recipe for the dataset where the file leaves a key unset."""
        svhn = self.dataset.name == "svhn"
        defaults = {
            "epochs": 160 if svhn else 200,
            "lr": 0.01 if svhn else 0.1,
            "lr_milestones": [0.5, 0.75] if svhn else [0.3, 0.6, 0.8],
            "lr_gamma": 0.1 if svhn else 0.2,
            "augment": not svhn,
            "normalize": "scale" if svhn else "meanstd",
        }
        for key, value in defaults.items():
            if getattr(self.train, key) is None:
                object.__setattr__(self.train, key, value)
        return self

    @property
    def source(self) -> str:
        return self._source

    @property
    def directions(self) -> list[str]:
        return ["minimize"] * len(self.objectives)

    def to_yaml_dict(self) -> dict[str, Any]:
        """The resolved space, every default filled in, as plain YAML-able data."""
        return self.model_dump(mode="json")


# --------------------------------------------------------------------------------------------
# Loading with positions


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (first on line {seen[key].start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _find_mark(node: yaml.Node | None, path: Sequence[Any]) -> yaml.Mark | None:
    """The mark of the deepest node along ``path``: the key for mappings, the item for lists."""
    mark = node.start_mark if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    mark, node = key_node.start_mark, value_node
                    break
            else:
                return mark
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            mark = node.start_mark
        else:
            return mark
    return mark


def _fields_at(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """Field names of the section at ``loc`` (for did-you-mean hints)."""
    for part in loc:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None) if field else None
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            return []
    return list(model.model_fields)


class _Problems:
    """Collects problems and formats each as ``file:line:col: dotted.key: message``."""

    def __init__(self, source: str, root: yaml.Node | None, overrides: dict[tuple[str, ...], str]) -> None:
        self.source, self.root, self.overrides = source, root, overrides
        self.lines: list[str] = []

    def add(self, path: Sequence[Any], message: str) -> None:
        dotted = ".".join(str(p) for p in path)
        for opath, text in self.overrides.items():
            if tuple(str(p) for p in path[: len(opath)]) == opath:
                self.lines.append(f"{self.source}: --set {text}: {dotted}: {message}")
                return
        mark = _find_mark(self.root, path)
        where = f"{self.source}:{mark.line + 1}:{mark.column + 1}" if mark else self.source
        self.lines.append(f"{where}: {dotted}: {message}" if dotted else f"{where}: {message}")

    def raise_if_any(self) -> None:
        if self.lines:
            raise SpaceError(self.lines)


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """``train.epochs=10`` -> (("train", "epochs"), 10); the value is read as YAML."""
    if "=" not in text:
        raise SpaceError(f"--set {text}: expected KEY=VALUE, e.g. --set train.epochs=10")
    key, raw = text.split("=", 1)
    path = tuple(p.strip() for p in key.split("."))
    if not all(path):
        raise SpaceError(f"--set {text}: {key!r} is not a dotted key such as budget.max_params")
    try:
        value = yaml.load(raw, Loader=_UniqueKeyLoader) if raw.strip() else None
    except yaml.YAMLError as e:
        raise SpaceError(f"--set {text}: the value is not valid YAML ({' '.join(str(e).split())})") from None
    return path, value


def _apply_override(data: dict[str, Any], path: tuple[str, ...], value: Any, text: str) -> None:
    node: Any = data
    for i, part in enumerate(path[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise SpaceError(f"--set {text}: {'.'.join(path[: i + 1])} is not a section")
        node = nxt
    node[path[-1]] = value


# Keys earlier versions wrote into run directories' space.yaml that no longer do anything: they
# are dropped with a warning, so that `wrnsearch resume` of such a run still works.
RETIRED_KEYS = {("train", "workers"): "the trainer uses no DataLoader workers"}


def drop_retired_keys(data: dict[str, Any], source: str | None = None) -> dict[str, Any]:
    """Remove :data:`RETIRED_KEYS` from a space's data in place (warning when ``source`` is given)."""
    for (section, key), why in RETIRED_KEYS.items():
        block = data.get(section)
        if isinstance(block, dict) and key in block:
            del block[key]
            if source is not None:
                log.warning("%s: %s.%s is retired and ignored (%s)", source, section, key, why)
    return data


def load_space(path: str | Path, overrides: Sequence[str] = (), *, search: bool = True) -> Space:
    """Read, override and validate a space file.

    ``search=False`` checks it for training one architecture only (``wrnsearch train``), which
    may hold out no validation images.

    Raises:
        SpaceError: with one line per problem, each naming file, line, column and key.
    """
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpaceError(f"{source}: no such file; the shipped spaces are in spaces/") from None
    except OSError as e:
        raise SpaceError(f"{source}: cannot read: {e.strerror}") from None
    return parse_space(raw, source=source, overrides=overrides, search=search)


def parse_space(raw: bytes | str, *, source: str = "<space>", overrides: Sequence[str] = (), search: bool = True) -> Space:
    """Validate a space given as text; see :func:`load_space`."""
    if isinstance(raw, bytes):
        if b"\x00" in raw:
            raise SpaceError(f"{source}: binary data, not a YAML text file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SpaceError(f"{source}: not UTF-8 text (bad byte at offset {e.start})") from None
    else:
        text = raw
    if len(text) > 1_000_000:
        raise SpaceError(f"{source}: {len(text):,} characters is too large for a space file")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "invalid YAML"
        if "could not determine a constructor" in problem or "tag" in problem and "python" in problem:
            tag = problem.split("tag", 1)[-1].strip(" '") if "tag" in problem else ""
            problem = f"tag {tag!r} is not allowed: space files are plain data (no Python objects)"
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise SpaceError(f"{where}: YAML error: {problem}") from None
    except yaml.YAMLError as e:
        raise SpaceError(f"{source}: YAML error: {' '.join(str(e).split())}") from None
    except RecursionError:
        raise SpaceError(f"{source}: YAML nested too deeply") from None
    if data is None:
        raise SpaceError(f"{source}: the file is empty; a space needs at least name and space (see spaces/quickstart.yaml)")
    if not isinstance(data, dict):
        raise SpaceError(f"{source}:1:1: the top level must be a mapping of sections (name, dataset, space, ...), not a {type(data).__name__}")

    override_text: dict[tuple[str, ...], str] = {}
    for item in overrides:
        opath, value = parse_override(item)
        _apply_override(data, opath, value, item)
        override_text[opath] = item

    problems = _Problems(source, root, override_text)
    drop_retired_keys(data, source)
    try:
        space = Space.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal[", "int", "float", "str", "list[", "bool", "tuple[")))]
            problems.add(loc, _explain(err, loc))
        problems.raise_if_any()
        raise  # pragma: no cover
    space._source = source
    _check_feasible(space, problems)
    if search and space.dataset.val_size == 0:
        problems.add(["dataset", "val_size"], "0 holds out no validation images, but a search optimizes validation "
                     "error: hold out some (e.g. 5000); 0 is for `wrnsearch train` on the whole training set")
    problems.raise_if_any()
    return space


def _explain(err: dict[str, Any], loc: Sequence[Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _fields_at(Space, loc[:-1])
        hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        text = f"unknown key {key!r}"
        if hint:
            return text + f" (did you mean {hint[0]!r}?)"
        return text + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    if kind == "missing":
        return "required key is missing"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    value = err.get("input")
    if kind in ("literal_error", "enum"):
        return f"{value!r} is not allowed: {msg[0].lower() + msg[1:]}"
    if not isinstance(value, (dict, list)) and kind not in ("value_error",):
        return f"{msg} (got {value!r})"
    return msg


# --------------------------------------------------------------------------------------------
# What a space holds


def depth_ok(depth: int, l: int) -> bool:
    """Can a block of ``l`` convs realize this depth (n = 3·N·l + 4, N >= 1)?"""
    return depth >= 3 * l + 4 and (depth - 4) % (3 * l) == 0


def space_blocks(dims: SpaceDims) -> tuple[tuple[int, ...], ...]:
    """The block choices, expanding convs_per_block x kernel_sizes where given that way."""
    if dims.block is not None:
        return dims.block
    if dims.convs_per_block is not None and dims.kernel_sizes is not None:
        return tuple(
            kernels
            for l in dims.convs_per_block.finite_values()
            for kernels in itertools.product(sorted(dims.kernel_sizes), repeat=l)
        )
    return ((3, 3),)


def depths_for(dims: SpaceDims, l: int) -> list[int] | None:
    """Depths the space allows for blocks of ``l`` convs (None when given as blocks_per_group)."""
    if dims.depth is None:
        return None
    d = dims.depth
    if d.kind == "range":
        step = int(d.step or 1)
        return [v for v in range(int(d.low), int(d.high) + 1, step) if depth_ok(v, l)]
    return [v for v in d.values if depth_ok(v, l)]


def _check_feasible(space: Space, problems: _Problems) -> None:
    """Impossible spaces: depths no block realizes, blocks with no depth, budgets below the minimum."""
    dims = space.space
    if dims.architecture is not None:
        for i, name in enumerate(dims.architecture):
            try:
                _with_dataset(space, parse_name(name))
            except SpecError as e:
                problems.add(["space", "architecture", i], str(e))
    else:
        if dims.convs_per_block is not None and dims.convs_per_block.kind == "range" and dims.convs_per_block.size() > 8:
            problems.add(["space", "convs_per_block"], "at most 8 values of convs_per_block (blocks grow as kernel_sizes**l)")
        blocks = space_blocks(dims)
        if len(blocks) > 10_000:
            problems.add(["space", "kernel_sizes"], f"{len(blocks):,} block types is too many; narrow convs_per_block or kernel_sizes")
            return
        if dims.depth is not None:
            ls = sorted({len(b) for b in blocks})
            key = "block" if dims.block is not None else "convs_per_block"
            d = dims.depth
            depths = d.finite_values() if d.kind != "range" else list(range(int(d.low), int(d.high) + 1, int(d.step or 1)))
            for i, depth in enumerate(depths):
                if not any(depth_ok(depth, l) for l in ls):
                    path = ["space", "depth", i] if d.kind == "choice" else ["space", "depth"]
                    problems.add(
                        path,
                        f"depth {depth} is realized by no allowed block: with l convs per block depth = 3*N*l + 4 "
                        f"(l={ls[0]}: {', '.join(str(3 * n * ls[0] + 4) for n in range(1, 5))}, ...)",
                    )
                    if d.kind == "range":
                        break
            if d.kind != "range" or not problems.lines:
                for b in blocks:
                    if not depths_for(dims, len(b)):
                        problems.add(["space", key], f"block {format_block(b)} (l={len(b)}) fits none of the allowed depths")
    if space.search.sampler in ("grid", "bruteforce"):
        for key in ("widen_factor", "dropout"):
            dim = getattr(dims, key)
            if dim is not None and not dim.finite:
                problems.add(["search", "sampler"], f"{space.search.sampler} needs a finite space, but space.{key} is a "
                             "continuous range: give it a step or a list, or use another sampler")
    if problems.lines:
        return
    budget = space.budget
    limits = [("max_params", budget.max_params, 0), ("max_macs", budget.max_macs, 1), ("max_activation_memory", budget.max_activation_memory, 2)]
    if any(limit is not None for _, limit, _ in limits):
        smallest = minimum_costs(space)
        for key, limit, index in limits:
            if limit is not None and smallest[index] > limit:
                problems.add(
                    ["budget", key],
                    f"{limit:,} is below the smallest architecture in the space ({smallest[index]:,}): "
                    "raise the budget or allow smaller architectures",
                )


def _with_dataset(space: Space, spec: WRNSpec) -> WRNSpec:
    ds = space.dataset
    if spec.num_classes == ds.num_classes and spec.in_channels == ds.channels:
        return spec
    return WRNSpec(
        blocks_per_group=spec.blocks_per_group, widen_factor=spec.widen_factor, kernels=spec.kernels,
        dropout=spec.dropout, num_classes=ds.num_classes, in_channels=ds.channels,
    )


def spec_from_params(space: Space, params: dict[str, Any]) -> WRNSpec:
    """The spec for a set of Optuna parameter values (see :mod:`wrnsearch.sampling`)."""
    dims = space.space
    ds = space.dataset
    if dims.architecture is not None:
        name = params["architecture"] if len(dims.architecture) > 1 else dims.architecture[0]
        return parse_name(name, num_classes=ds.num_classes, in_channels=ds.channels)
    blocks = space_blocks(dims)
    kernels = parse_block(params["block"]) if len(blocks) > 1 else blocks[0]
    k = params["widen_factor"] if "widen_factor" in params else dims.widen_factor.values[0]
    dropout = params["dropout"] if "dropout" in params else dims.dropout.values[0]
    common = dict(
        widen_factor=int(k) if float(k).is_integer() else float(k), kernels=kernels, dropout=float(dropout),
        num_classes=ds.num_classes, in_channels=ds.channels,
    )
    if dims.depth is not None:
        name = depth_param(space, len(kernels))
        depth = params[name] if name in params else depths_for(dims, len(kernels))[0]
        return WRNSpec(depth=int(depth), **common)
    n = params["blocks_per_group"] if "blocks_per_group" in params else dims.blocks_per_group.values[0]
    return WRNSpec(blocks_per_group=int(n), **common)


def depth_param(space: Space, l: int) -> str:
    """Optuna parameter name of the depth for blocks of ``l`` convs: ``depth`` when l is unique."""
    ls = {len(b) for b in space_blocks(space.space)}
    return "depth" if len(ls) == 1 else f"depth_l{l}"


def iter_specs(space: Space) -> Iterator[WRNSpec]:
    """Every distinct architecture of a finite space, in a stable order.

    Raises:
        SpaceError: when a dimension is a continuous range.
    """
    dims = space.space
    if dims.architecture is not None:
        seen = set()
        for name in dims.architecture:
            spec = _with_dataset(space, parse_name(name))
            if spec not in seen:
                seen.add(spec)
                yield spec
        return
    for key in ("widen_factor", "dropout"):
        if not getattr(dims, key).finite:
            raise SpaceError(f"{space.source}: space.{key} is a continuous range: the space cannot be enumerated (give a step)")
    ks = dims.widen_factor.finite_values()
    dropouts = dims.dropout.finite_values()
    for kernels in space_blocks(dims):
        if dims.depth is not None:
            sizes = [dict(depth=d) for d in depths_for(dims, len(kernels))]
        else:
            sizes = [dict(blocks_per_group=n) for n in dims.blocks_per_group.finite_values()]
        for size, k, p in itertools.product(sizes, ks, dropouts):
            yield WRNSpec(
                **size, widen_factor=int(k) if float(k).is_integer() else float(k), kernels=kernels,
                dropout=float(p), num_classes=space.dataset.num_classes, in_channels=space.dataset.channels,
            )


def space_size(space: Space) -> float:
    """Number of distinct architectures (``math.inf`` for a continuous space), without enumerating."""
    dims = space.space
    if dims.architecture is not None:
        return len({_with_dataset(space, parse_name(n)) for n in dims.architecture})
    per_block = dims.widen_factor.size() * dims.dropout.size()
    total = 0.0
    for kernels in space_blocks(dims):
        sizes = len(depths_for(dims, len(kernels))) if dims.depth is not None else dims.blocks_per_group.size()
        total += sizes * per_block
    return total


def space_cost(space: Space, spec: WRNSpec) -> Cost:
    """Costs at the dataset's resolution, activation memory at the training batch size."""
    return model_cost(spec, space.dataset.resolution, space.train.batch_size)


def budget_violations(space: Space, cost: Cost) -> list[str]:
    """Why a spec is over budget (empty when it fits), one reason per exceeded limit."""
    b = space.budget
    reasons = []
    if b.max_params is not None and cost.params > b.max_params:
        reasons.append(f"params {cost.params:,} > budget.max_params {b.max_params:,}")
    if b.max_macs is not None and cost.macs > b.max_macs:
        reasons.append(f"macs {cost.macs:,} > budget.max_macs {b.max_macs:,}")
    if b.max_activation_memory is not None and cost.activation_bytes > b.max_activation_memory:
        reasons.append(
            f"activation memory {cost.activation_bytes:,} B at batch {space.train.batch_size} > "
            f"budget.max_activation_memory {b.max_activation_memory:,} B"
        )
    return reasons


def constraint_values(space: Space, cost: Cost) -> list[float]:
    """Optuna constraint values (<= 0 feasible): relative excess over each budget, -1 where unset."""
    b = space.budget
    out = []
    for value, limit in ((cost.params, b.max_params), (cost.macs, b.max_macs), (cost.activation_bytes, b.max_activation_memory)):
        out.append(-1.0 if limit is None else value / limit - 1.0)
    return out


def minimum_costs(space: Space) -> tuple[int, int, int]:
    """The smallest params, MACs and activation bytes of any architecture in the space.

    Costs grow with N, k and dropout, so the minimum over blocks of the smallest setting suffices.
    """
    dims = space.space
    if dims.architecture is not None:
        costs = [space_cost(space, s) for s in iter_specs(space)]
    else:
        k = dims.widen_factor.minimum
        k = int(k) if float(k).is_integer() else float(k)
        costs = []
        for kernels in space_blocks(dims):
            if dims.depth is not None:
                size = dict(depth=min(depths_for(dims, len(kernels))))
            else:
                size = dict(blocks_per_group=int(dims.blocks_per_group.minimum))
            spec = WRNSpec(**size, widen_factor=k, kernels=kernels, dropout=float(dims.dropout.minimum),
                           num_classes=space.dataset.num_classes, in_channels=space.dataset.channels)
            costs.append(space_cost(space, spec))
    return (min(c.params for c in costs), min(c.macs for c in costs), min(c.activation_bytes for c in costs))


def count_specs(space: Space, limit: int = 5_000_000) -> tuple[float, int | None]:
    """(distinct architectures, how many fit the budgets); the second is None if not enumerable."""
    total = space_size(space)
    if math.isinf(total) or total > limit:
        return total, None
    fitting = sum(1 for spec in iter_specs(space) if not budget_violations(space, space_cost(space, spec)))
    return total, fitting


__all__ = [
    "Dim", "Space", "budget_violations", "constraint_values", "count_specs", "depth_param", "depths_for",
    "format_number", "iter_specs", "load_space", "minimum_costs", "parse_space", "space_blocks", "space_cost",
    "space_size", "spec_from_params",
]
