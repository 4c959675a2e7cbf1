"""The report's parallel coordinates: the architectures of the eligible trials, coloured by error.

Each axis spans the values the trials take, its ticks at those values (a depth of 22, not 22.5).
An axis every trial shares a value of (dropout 0 in a space that fixes it) would draw every line
through one point of an invented range; it is left out, and the caption names it and its value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import plotly.graph_objects as go

from wrnsearch.errors import SpecError
from wrnsearch.report._axes import value_ticks
from wrnsearch.report._figures import Point, base_layout
from wrnsearch.spec import format_block, parse_name


class ArchitectureAxes(NamedTuple):
    """The axes of the parallel coordinates, and those left out as every trial shares their value."""

    dimensions: list[dict[str, Any]]  # plotly's parcoords dimensions, validation error last
    errors: list[float]  # of each line, for its colour
    constant: dict[str, str]  # label -> the value every trial has


def _spec_of(p: Point) -> dict[str, Any] | None:
    if p.spec is not None:
        return p.spec
    try:
        return parse_name(p.arch).to_dict()
    except SpecError:
        return None


def _integer(v: float) -> str:
    return f"{v:.0f}"


def _number(v: float) -> str:
    return f"{v:g}"


def _dimension(label: str, values: list[float], text: Callable[[float], str] | None) -> dict[str, Any]:
    """One axis over the values' own range, ticked at the values when there are few of them."""
    low, high = min(values), max(values)
    if low == high:  # validation error of a single trial: a sliver around it, not -1 .. 1
        margin = max(abs(low) * 0.01, 0.01)
        low, high = low - margin, high + margin
    ticks = value_ticks(values, text) if text is not None else {}
    return dict(label=label, values=values, range=[low, high], **ticks)


def architecture_axes(points: Sequence[Point]) -> ArchitectureAxes | None:
    """The axes of the eligible trials' architectures (None: no trial with a known architecture)."""
    rows = [(p, s) for p in points if (s := _spec_of(p)) is not None and math.isfinite(p.error)]
    if not rows:
        return None
    blocks = [format_block(tuple(s["kernels"])) for _, s in rows]
    block_names = sorted(set(blocks), key=lambda b: (len(b), b))
    columns: list[tuple[str, list[float], Callable[[float], str]]] = [
        ("depth", [float(s["depth"]) for _, s in rows], _integer),
        ("k (widen factor)", [float(s["widen_factor"]) for _, s in rows], _integer),
        ("l (convs/block)", [float(len(s["kernels"])) for _, s in rows], _integer),
        ("block", [float(block_names.index(b)) for b in blocks], lambda v: block_names[int(v)]),
        ("dropout", [float(s.get("dropout", 0.0)) for _, s in rows], _number),
    ]
    dimensions, constant = [], {}
    for label, values, text in columns:
        if len(set(values)) == 1:
            constant[label] = text(values[0])
        else:
            dimensions.append(_dimension(label, values, text))
    errors = [p.error for p, _ in rows]
    dimensions.append(_dimension("val error (%)", errors, None))
    return ArchitectureAxes(dimensions, errors, constant)


def constant_note(axes: ArchitectureAxes) -> str:
    """The caption's sentence on the axes left out, or nothing."""
    if not axes.constant:
        return ""
    shared = ", ".join(f"{label} {value}" for label, value in axes.constant.items())
    return f" Not drawn, as every trial shares its value: {shared}."


def parallel_figure(axes: ArchitectureAxes) -> go.Figure:
    fig = go.Figure(go.Parcoords(
        dimensions=axes.dimensions,
        line=dict(color=axes.errors, colorscale="Viridis", reversescale=True, showscale=True,
                  colorbar=dict(title=dict(text="val error (%)"))),
    ))
    fig.update_layout(**base_layout("Architectures of the eligible trials, coloured by validation error", 420))
    fig.update_layout(margin=dict(l=70, r=40, t=90, b=30))
    return fig
