"""Axis ranges and ticks of the report's figures, as plain numbers (no plotly).

plotly's own choice crowds a logarithmic axis that spans a few decades (``0.1 2 5 1 2 5 10 2 5``) and
puts ticks between whole numbers on an axis of epochs or of depths (``1 2 2 3 3`` once formatted as
integers). The figures ask here instead: at most seven ticks of one significant digit on a
logarithmic axis (1-3-10 over three decades), whole epochs, ticks at the values an axis of few
values takes, and ranges set explicitly, so that the label placement of
:mod:`wrnsearch.report._labels` knows where each point lands.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

# mantissas of the ticks of a logarithmic axis, densest first: the densest that leaves at most
# ``max_ticks`` labels wins
_LOG_MANTISSAS = (tuple(range(1, 10)), (1, 2, 5), (1, 3), (1,))
_NICE_STEPS = (1, 2, 5)


def log_range(values: Sequence[float], pad: float = 0.05) -> list[float]:
    """The log10 range of a logarithmic axis that holds ``values`` with ``pad`` of its span on each side
    (at least a tenth of a decade), as plotly wants it for ``type="log"``."""
    logs = [math.log10(v) for v in values if v > 0 and math.isfinite(v)]
    low, high = (min(logs), max(logs)) if logs else (0.0, 1.0)
    margin = max((high - low) * pad, 0.1)
    return [low - margin, high + margin]


def linear_range(values: Sequence[float], pad: float = 0.06) -> list[float]:
    """A linear axis that holds ``values`` with ``pad`` of its span on each side (at least 0.5)."""
    finite = [v for v in values if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    margin = max((high - low) * pad, 0.5)
    return [low - margin, high + margin]


def log_ticks(log_range_: Sequence[float], text: Callable[[float], str], max_ticks: int = 7) -> dict[str, Any]:
    """``tickvals`` and ``ticktext`` of a logarithmic axis over ``log_range_`` (log10 units): the
    densest of 1-9, 1-2-5, 1-3 and 1 times powers of ten with at most ``max_ticks`` ticks in the range
    (every other decade, or every third ..., on an axis of very many decades); none (plotly's own)
    when not even two such ticks fall in the range.

    >>> log_ticks([-1.1, 2.4], lambda v: f"{v:g}")["ticktext"]
    ['0.1', '0.3', '1', '3', '10', '30', '100']
    >>> from wrnsearch.cost import format_count
    >>> log_ticks([4.9, 7.8], format_count)["ticktext"]
    ['100K', '300K', '1M', '3M', '10M', '30M']
    >>> log_ticks([0.3, 0.7], lambda v: f"{v:g}")["ticktext"]
    ['2', '3', '4', '5']
    """
    low, high = log_range_
    decades = range(math.floor(low), math.ceil(high) + 1)
    ticks: list[float] = []
    for mantissas in _LOG_MANTISSAS:
        ticks = [m * 10.0**e for e in decades for m in mantissas if low <= math.log10(m) + e <= high]
        if len(ticks) <= max_ticks:
            break
    if len(ticks) < 2:  # an axis within one digit of a decade: plotly's own ticks
        return {}
    ticks = ticks[::math.ceil(len(ticks) / max_ticks)]
    ticks = [float(f"{t:.6g}") for t in ticks]  # 3 * 10**-1 is 0.30000000000000004
    return {"tickmode": "array", "tickvals": ticks, "ticktext": [text(t) for t in ticks]}


def value_ticks(values: Sequence[float], text: Callable[[float], str], max_ticks: int = 12) -> dict[str, Any]:
    """Ticks at the values an axis of few distinct values takes (depths, widen factors, dropouts);
    none (plotly's own) when there are more than ``max_ticks`` of them."""
    distinct = sorted(set(values))
    if len(distinct) > max_ticks:
        return {}
    return {"tickvals": distinct, "ticktext": [text(v) for v in distinct]}
