"""The report's figures, drawn with plotly from what :mod:`wrnsearch.pareto` computes.

Each function returns a ``plotly.graph_objects.Figure`` (or None when it has nothing to draw);
:mod:`wrnsearch.report._page` lays them out. Latencies measured on several device types get one
marker symbol per device: they are not comparable.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import plotly.graph_objects as go

from wrnsearch.cost import format_count
from wrnsearch.figures import FRONT_COLOR, OTHER_COLOR
from wrnsearch.objectives import ERROR, LATENCY, NAMES, OBJECTIVES, PARAMS, Objective
from wrnsearch.objectives import get as get_objective
from wrnsearch.pareto import REFERENCE_POINT, FrontInfo, non_dominated_mask, trial_figure
from wrnsearch.record import Attr
from wrnsearch.report._axes import linear_range, log_range, log_ticks
from wrnsearch.report._labels import LABEL_FONT_PX, Box, label_size_px, place_labels
from wrnsearch.report._paper_results import PAPER_LABEL, PaperResult

_PAPER_COLOR = "#222222"
_SYMBOLS_2D = ("circle", "diamond", "square", "triangle-up", "cross", "x", "hexagon", "triangle-down")
_SYMBOLS_3D = ("circle", "diamond", "square", "cross", "x", "circle-open", "diamond-open", "square-open")
_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_STAR_SIZE = 12  # plotly's marker size of the paper's stars
_STAR_PX = _STAR_SIZE + 2.0  # the box a star takes on screen, its white outline included
_MARKER_PX = 10.0  # a trial's marker (8) or the front's (9) on screen


# What the page shows of one eligible trial: its number and architecture, its value of every
# objective (wrnsearch.objectives: ``error`` the validation error in %, NaN where it has none), its
# test error, device, epochs and spec.
Point = NamedTuple("Point", [("number", int), ("arch", str), *((name, float) for name in NAMES),
                             ("test_error", float), ("device", str), ("epochs", Any),
                             ("spec", dict[str, Any] | None)])


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def points_of(info: FrontInfo, optimized: Sequence[str]) -> list[Point]:
    out = []
    for trial, name in zip(info.trials, info.names):
        spec = trial.user_attrs.get(Attr.SPEC)
        out.append(Point(
            number=trial.number,
            arch=name,
            **{o: _number(trial_figure(trial, o, optimized, info.alone)) for o in NAMES},
            test_error=_number(trial.user_attrs.get(Attr.TEST_ERROR)),
            device=str(trial.user_attrs.get(Attr.DEVICE) or "unknown device"),
            epochs=trial.user_attrs.get(Attr.EPOCHS),
            spec=spec if isinstance(spec, dict) else None,
        ))
    return out


def value_text(objective: Objective, value: float) -> str:
    """An objective's value as the page writes it: ``36.5M`` for a count, ``4.17`` for a percentage,
    ``1.23`` (three digits) for a time or a size."""
    if value is None or not math.isfinite(value):
        return "-"
    if not objective.unit:
        return format_count(value)
    return f"{value:.2f}" if objective.unit == "%" else f"{value:.3g}"


def fmt(value: float, digits: str = ".2f", suffix: str = "") -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:{digits}}{suffix}"


def _hover(p: Point) -> str:
    figures = [f"{o.column.split(' ')[0]} {value_text(o, getattr(p, o.name))}{' ' + o.unit if o.unit else ''}"
               for o in OBJECTIVES.values() if o is not ERROR]
    return "<br>".join([
        f"<b>{html.escape(p.arch)}</b> (trial {p.number})",
        f"val error {fmt(p.error, '.2f', ' %')}, test error {fmt(p.test_error, '.2f', ' %')}",
        ", ".join(figures) + f" on {html.escape(p.device)}",
        f"epochs {p.epochs if p.epochs is not None else '-'}",
    ])


def _finite(points: Sequence[Point], *keys: str) -> list[Point]:
    return [p for p in points if all(math.isfinite(getattr(p, k)) for k in keys)]


def devices_of(points: Sequence[Point]) -> list[str]:
    """Devices, most trials first (the most common gets the plain circle)."""
    counts = Counter(p.device for p in points)
    return sorted(counts, key=lambda d: (-counts[d], d))


def base_layout(title: str, height: int, **kwargs: Any) -> dict[str, Any]:
    return dict(
        title=dict(text=title, x=0.01, xanchor="left"),
        height=height,
        margin=dict(l=60, r=20, t=50, b=50),
        legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0),
        template="plotly_white",
        **kwargs,
    )


def scatter_3d(points: Sequence[Point], devices: Sequence[str], latency_key: str = LATENCY.name,
               latency_title: str = LATENCY.title) -> go.Figure | None:
    """Error, params and one device figure (a latency by default), the front in red."""
    pts = _finite(points, ERROR.name, PARAMS.name, latency_key)
    if not pts:
        return None
    values = np.array([[p.error, p.params, getattr(p, latency_key)] for p in pts])
    front = non_dominated_mask(values)
    several = len(devices) > 1
    fig = go.Figure()
    for d, device in enumerate(devices):
        for on_front in (False, True):
            group = [p for p, f in zip(pts, front) if f == on_front and p.device == device]
            if not group:
                continue
            name = f"front (error, params, {latency_title})" if on_front else "dominated"
            fig.add_trace(go.Scatter3d(
                x=[p.params for p in group], y=[getattr(p, latency_key) for p in group], z=[p.error for p in group],
                mode="markers",
                name=f"{name} · {device}" if several else name,
                marker=dict(
                    size=6 if on_front else 4, color=FRONT_COLOR if on_front else OTHER_COLOR,
                    opacity=1.0 if on_front else 0.55, symbol=_SYMBOLS_3D[d % len(_SYMBOLS_3D)],
                ),
                text=[_hover(p) for p in group], hovertemplate="%{text}<extra></extra>",
            ))
    fig.update_layout(**base_layout(
        f"Validation error, parameters and {latency_title}", 620,
        scene=dict(
            xaxis=dict(title=dict(text=PARAMS.name), type="log", dtick=1),
            yaxis=dict(title=dict(text=f"{latency_title} ({get_objective(latency_key).unit})"), type="log", dtick=1),
            zaxis=dict(title=dict(text="val error (%)")),
            aspectmode="cube",
            camera=dict(eye=dict(x=1.7, y=1.5, z=0.9)),
        ),
    ))
    fig.update_layout(margin=dict(l=0, r=0, t=40, b=0), legend=dict(y=1.0, yanchor="top", x=0, orientation="v"))
    return fig


def _step_front(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    """The 2D front (both minimized) sorted by x, for a line with shape ``hv``."""
    if not xs:
        return [], []
    values = np.column_stack([xs, ys])
    mask = non_dominated_mask(values)
    front = values[mask]
    front = front[np.lexsort((front[:, 1], front[:, 0]))]
    return front[:, 0].tolist(), front[:, 1].tolist()


def _add_fronts_2d(fig: go.Figure, pts: Sequence[Point], devices: Sequence[str], x_key: str,
                   per_device: bool) -> None:
    """The front of error against ``x_key`` as a step line: one per device for latencies (latencies
    of two devices do not compare), one over all trials otherwise."""
    several = len(devices) > 1
    groups = [(d, [p for p in pts if p.device == device]) for d, device in enumerate(devices)]
    for d, group in groups if per_device else [(0, list(pts))]:
        xs, ys = _step_front([getattr(p, x_key) for p in group], [p.error for p in group])
        if not xs:
            continue
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines+markers",
            line=dict(shape="hv", color=FRONT_COLOR, width=2, dash=_DASHES[d % len(_DASHES)]),
            marker=dict(size=9, color=FRONT_COLOR,
                        symbol=_SYMBOLS_2D[d % len(_SYMBOLS_2D)] if per_device else "circle"),
            name=f"front · {devices[d]}" if per_device and several else "front",
            hoverinfo="skip",  # the trial's own marker underneath answers the hover
        ))


def _paper_trace(paper: Sequence[tuple[PaperResult, float]]) -> go.Scatter:
    """The paper's published results as stars (params as published, test error); their names are
    annotations placed by :func:`_paper_labels`, and on hover."""
    return go.Scatter(
        x=[r.params_m * 1e6 for r, _ in paper], y=[e for _, e in paper], mode="markers",
        name=PAPER_LABEL,
        marker=dict(size=_STAR_SIZE, symbol="star", color=_PAPER_COLOR, line=dict(width=1, color="white")),
        text=[r.name for r, _ in paper],
        customdata=[[r.table, f"{r.params_m:g}M"] for r, _ in paper],
        hovertemplate=(
            "<b>%{text}</b> — paper, %{customdata[0]}<br>test error %{y:.2f} % after 200 epochs"
            " on the full training set<br>params %{customdata[1]} (as published)<extra></extra>"
        ),
    )


def _paper_labels(paper: Sequence[tuple[PaperResult, float]], trials: Sequence[tuple[float, float]],
                  x_range: Sequence[float], y_range: Sequence[float]) -> list[dict[str, Any]]:
    """The stars' names as annotations, each beside its star where it overlaps no other label and
    no star, covering as few ``trials`` (params, error) as it can
    (:func:`wrnsearch.report._labels.place_labels`), a thin line to its star when it had to move off it."""
    (x0, x1), (y0, y1) = x_range, y_range

    def box(x: float, y: float, size_px: float) -> Box:
        return Box((math.log10(x) - x0) / (x1 - x0), (y1 - y) / (y1 - y0), size_px, size_px)

    stars = [box(r.params_m * 1e6, e, _STAR_PX) for r, e in paper]
    markers = [box(x, y, _MARKER_PX) for x, y in trials]
    offsets = place_labels(stars, [label_size_px(r.name) for r, _ in paper], markers=markers)
    return [dict(
        x=math.log10(r.params_m * 1e6), y=e, xref="x", yref="y", text=r.name, name=f"paper label {r.name}",
        ax=dx, ay=dy, showarrow=True, arrowhead=0, arrowwidth=0.7, arrowcolor="#999", standoff=_STAR_PX / 2,
        font=dict(size=LABEL_FONT_PX, color=_PAPER_COLOR), bgcolor="rgba(255,255,255,0.8)", borderpad=1,
    ) for (r, e), (dx, dy) in zip(paper, offsets)]


def _tick_text(x_key: str) -> Callable[[float], str]:
    """``300K``, ``3M`` for counts; ``0.3``, ``30`` for milliseconds or MiB."""
    return format_count if not get_objective(x_key).unit else (lambda v: f"{v:g}")


def scatter_2d(
    points: Sequence[Point],
    devices: Sequence[str],
    x_key: str,
    x_title: str,
    title: str,
    *,
    fronts: bool,
    per_device_front: bool,
    paper: Sequence[tuple[PaperResult, float]] = (),
) -> go.Figure | None:
    pts = _finite(points, ERROR.name, x_key)
    if not pts and not paper:
        return None
    several = len(devices) > 1
    fig = go.Figure()
    for d, device in enumerate(devices):
        group = [p for p in pts if p.device == device]
        if not group:
            continue
        fig.add_trace(go.Scatter(
            x=[getattr(p, x_key) for p in group], y=[p.error for p in group], mode="markers",
            name=f"trials · {device}" if several else "trials",
            marker=dict(
                size=8, symbol=_SYMBOLS_2D[d % len(_SYMBOLS_2D)], color=OTHER_COLOR, opacity=0.75,
                line=dict(width=0.5, color="white"),
            ),
            text=[_hover(p) for p in group], hovertemplate="%{text}<extra></extra>",
        ))
    if fronts and pts:
        _add_fronts_2d(fig, pts, devices, x_key, per_device_front)
    if paper:
        fig.add_trace(_paper_trace(paper))
    # ranges set here, not by plotly, so that the paper's labels know where their stars land
    x_range = log_range([getattr(p, x_key) for p in pts] + [r.params_m * 1e6 for r, _ in paper])
    y_range = linear_range([p.error for p in pts] + [e for _, e in paper])
    fig.update_layout(**base_layout(
        title, 470,
        xaxis=dict(title=dict(text=x_title), type="log", range=x_range, **log_ticks(x_range, _tick_text(x_key))),
        yaxis=dict(title=dict(text="error (%)"), range=y_range),
        annotations=_paper_labels(paper, [(getattr(p, x_key), p.error) for p in pts], x_range, y_range),
    ))
    return fig


def hypervolume_figure(numbers: np.ndarray, hv: np.ndarray, objectives: Sequence[str]) -> go.Figure:
    fig = go.Figure(go.Scatter(
        x=(numbers + 1).tolist(), y=hv.tolist(), mode="lines", line=dict(shape="hv", color=FRONT_COLOR, width=2),
        name="hypervolume", hovertemplate="after trial %{x}: %{y:.4f}<extra></extra>",
    ))
    top = REFERENCE_POINT ** len(objectives)
    fig.update_layout(**base_layout(
        f"Hypervolume of the front ({', '.join(objectives)}), normalized", 380,
        xaxis=dict(title=dict(text="trials (by trial number)")),
        yaxis=dict(title=dict(text=f"hypervolume (max {top:.3g})"), rangemode="tozero"),
        showlegend=False,
    ))
    return fig


def optimization_figure(info: FrontInfo) -> go.Figure:
    objective = info.objectives[0]
    values = info.values[:, 0]
    better = np.minimum if info.directions[0] == "minimize" else np.maximum
    best = better.accumulate(values)
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=list(info.trial_numbers), y=values.tolist(), mode="markers", name=objective,
        marker=dict(color=OTHER_COLOR, size=7), text=list(info.names),
        hovertemplate="<b>%{text}</b><br>trial %{x}: %{y:.4g}<extra></extra>",
    ))
    fig.add_trace(go.Scatter(
        x=list(info.trial_numbers), y=best.tolist(), mode="lines", name=f"best {objective} so far",
        line=dict(shape="hv", color=FRONT_COLOR, width=2), hoverinfo="skip",
    ))
    fig.update_layout(**base_layout(
        f"Optimization history ({objective}, {info.directions[0]})", 400,
        xaxis=dict(title=dict(text="trial number")), yaxis=dict(title=dict(text=objective)),
    ))
    return fig
