"""The objectives a search can minimise, each defined here once.

An objective is a figure of a trained trial that a search minimises. Each one says:

- the name a space lists it by (``objectives: [error, params, latency_ms]``);
- the field of the trial record that holds its raw figure, stored under the same name as a user
  attribute of the trial, and the factor to the objective's unit (peak memory is stored in bytes
  and minimised in MiB);
- its unit, axis title and table column;
- its kind:
  - :attr:`Kind.KNOWN`: exact before any training, from the architecture alone (parameters, MACs);
  - :attr:`Kind.PREDICTED`: measured on the device while a trial trains, and smooth in the
    architecture's size, so a sampler predicts an untried architecture's value from the trials
    measured so far (the latencies, the peak memory);
  - :attr:`Kind.MEASURED`: only training tells (the validation error);
- whether it depends on the device (then the trial records which: its ``device`` attribute) and
  whether a search times it again alone at the end, where figures taken while other trials shared
  the device are contended (the latencies).

Every package reads these entries; none branches on an objective's name. A new objective is one
entry here and the code that measures it into the trial record.

No torch, Ray or Optuna here.

Example:
    >>> get("memory_mb").of_attrs({"peak_memory_bytes": 3 * 2**20})
    3.0
    >>> [o.name for o in known(["error", "params", "latency_ms"])]
    ['params']
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wrnsearch.record import Attr


class Kind(str, enum.Enum):
    """When an objective's value is known (see the module docstring)."""

    KNOWN = "known"  # exact before training
    PREDICTED = "predicted"  # measured on the device, predicted from the trials measured so far
    MEASURED = "measured"  # only training tells

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Objective:
    """One objective: how it is named, stored, shown and known."""

    name: str
    attr: str  # the trial record's field and the stored user attribute holding the raw figure
    unit: str  # of the objective's value ("" for a count)
    title: str  # axis title, without the unit
    column: str  # short table header
    slug: str  # in HTML ids and file names (``plot-error-<slug>``)
    kind: Kind
    device_bound: bool  # measured on a device (recorded as the trial's ``device``)
    timed_alone: bool  # timed again alone at the end of a search, the device to itself
    measured: str  # how, in a sentence (docs and ``--help``)
    scale: float = 1.0  # the objective's value is the raw figure times this
    log_axis: bool = True  # drawn on a logarithmic axis (spans orders of magnitude)
    batch_setting: str | None = None  # the train.* key whose batch size the figure is timed at
    inference: bool = False  # timed as eval-mode forward passes without gradients, not training steps
    direction: str = "minimize"  # every objective is a cost

    def value(self, raw: Any) -> float | None:
        """The objective's value from a raw figure; None for a missing or non-numeric one."""
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            return None
        return float(raw) * self.scale

    def of_attrs(self, attrs: Mapping[str, Any]) -> float | None:
        """The value held by a stored trial's user attributes (or an epoch report)."""
        return self.value(attrs.get(self.attr))

    def of_record(self, record: Any) -> float | None:
        """The value held by a :class:`~wrnsearch.record.TrialRecord`."""
        return self.value(getattr(record, self.attr, None))

    def axis_title(self, train: Mapping[str, Any] | None = None) -> str:
        """``"training-step latency (ms, batch 32)"``: the title, the unit and, for a timed
        figure, the batch the space's ``train`` section timed it at, when given."""
        details = [self.unit] if self.unit else []
        if self.batch_setting and train is not None and train.get(self.batch_setting) is not None:
            details.append(f"batch {train[self.batch_setting]}")
        return f"{self.title} ({', '.join(details)})" if details else self.title


ERROR = Objective(
    name="error", slug="error", attr=Attr.VAL_ERROR, unit="%", title="validation error", column="error %",
    kind=Kind.MEASURED, device_bound=False, timed_alone=False, log_axis=False,
    measured="top-1 error on the validation split after the last epoch")
PARAMS = Objective(
    name="params", slug="params", attr=Attr.PARAMS, unit="", title="parameters", column="params", kind=Kind.KNOWN,
    device_bound=False, timed_alone=False, measured="counted from the architecture (wrnsearch.cost)")
MACS = Objective(
    name="macs", slug="macs", attr=Attr.MACS, unit="", title="multiply-accumulates", column="MACs", kind=Kind.KNOWN,
    device_bound=False, timed_alone=False, measured="counted from the architecture at the data's resolution")
LATENCY = Objective(
    name="latency_ms", slug="latency", attr=Attr.LATENCY_MS, unit="ms", title="training-step latency",
    column="latency ms", kind=Kind.PREDICTED, device_bound=True, timed_alone=True, batch_setting="latency_batch",
    measured="median of timed training steps (forward, backward, SGD) at train.latency_batch on the trial's device")
LATENCY_INFER = Objective(
    name="latency_infer_ms", slug="infer-latency", attr=Attr.LATENCY_INFER_MS, unit="ms", title="inference latency",
    column="infer ms", kind=Kind.PREDICTED, device_bound=True, timed_alone=True, batch_setting="infer_batch",
    inference=True, measured="median of timed eval-mode forward passes without gradients at train.infer_batch")
MEMORY = Objective(
    name="memory_mb", slug="memory", attr=Attr.PEAK_MEMORY_BYTES, unit="MiB", title="peak training memory",
    column="memory MiB", kind=Kind.PREDICTED, device_bound=True, timed_alone=False, scale=1 / 2**20,
    measured="peak memory while the trial trains: CUDA's peak allocation on a GPU, the process's peak resident "
             "set (reset when training starts) on the CPU")

OBJECTIVES: dict[str, Objective] = {o.name: o for o in (ERROR, PARAMS, MACS, LATENCY, LATENCY_INFER, MEMORY)}
NAMES: tuple[str, ...] = tuple(OBJECTIVES)
DEFAULT: tuple[str, ...] = ("error", "params", "latency_ms")


def get(name: str) -> Objective:
    """The objective called ``name``.

    Raises:
        KeyError: naming the objectives there are, for an unknown name.
    """
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise KeyError(f"unknown objective {name!r}: choose from {', '.join(NAMES)}") from None


def _of_kind(names: Iterable[str], kind: Kind) -> list[Objective]:
    return [o for o in map(get, names) if o.kind == kind]


def known(names: Iterable[str]) -> list[Objective]:
    """The objectives among ``names`` known exactly before training."""
    return _of_kind(names, Kind.KNOWN)


def predicted(names: Iterable[str]) -> list[Objective]:
    """The objectives among ``names`` measured on the device and predicted from measured trials."""
    return _of_kind(names, Kind.PREDICTED)


def retimed(names: Iterable[str]) -> list[Objective]:
    """The objectives among ``names`` that a search times again alone at its end."""
    return [o for o in map(get, names) if o.timed_alone]


def device_bound(names: Iterable[str]) -> list[Objective]:
    """The objectives among ``names`` measured on a device."""
    return [o for o in map(get, names) if o.device_bound]


def record_values(record: Any, names: Iterable[str]) -> list[float]:
    """A complete record's value of each objective, ``inf`` for a device figure it lacks (a trial
    whose timing failed ranks behind every measured one). ``error`` falls back to the test error in
    a retrain that held out no validation images."""
    return _values(lambda field: getattr(record, field, None), names)


def attrs_values(attrs: Mapping[str, Any], names: Iterable[str]) -> list[float]:
    """The same as :func:`record_values`, from a stored trial's user attributes."""
    return _values(attrs.get, names)


def _values(raw: Callable[[str], Any], names: Iterable[str]) -> list[float]:
    out = []
    for o in map(get, names):
        value = o.value(raw(o.attr))
        if value is None and o is ERROR:
            value = ERROR.value(raw(Attr.TEST_ERROR))
        out.append(math.inf if value is None else value)
    return out


def infeasible_values(names: Iterable[str], known_values: Mapping[str, float]) -> list[float]:
    """Values told for an untrained, over-budget architecture: its known objectives as they are
    (``known_values`` by name), the worst possible value of every other."""
    return [float(known_values[o.name]) if o.kind == Kind.KNOWN else math.inf for o in map(get, names)]
