"""The dimensions of a space file: a fixed value, a list of choices, or a range, and their types.

Each parser raises ``ValueError`` with a message that quotes the input; pydantic locates it
(the loader adds file, line and key). WRN rules (odd kernels) come from :mod:`wrnsearch.spec`.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer

from wrnsearch.errors import SpecError
from wrnsearch.spec import check_kernels, format_block, parse_block
from wrnsearch.units import format_seconds, parse_bytes, parse_count, parse_seconds


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
        out = [self.low + i * step for i in range(int(self.size()))]
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

    @property
    def maximum(self) -> Any:
        return max(self.values) if self.kind != "range" else self.high

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
        ints = all(isinstance(value.get(k), int) and not isinstance(value.get(k), bool) for k in ("low", "high"))
        int_range = integer or ints and (step is None or isinstance(step, int))
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


def parse_dim(value: Any, integer: bool) -> Dim:
    """A dimension from its YAML form (raises ``ValueError`` when it is not one)."""
    return _make_dim(value, integer)


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
            check_kernels(kernels)
        except SpecError as e:
            raise ValueError(str(e)) from None
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
