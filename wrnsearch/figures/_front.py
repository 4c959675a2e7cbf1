"""A study's front as the error against each other objective, the front's members in colour."""

from __future__ import annotations

import math
from typing import Any

from wrnsearch.objectives import OBJECTIVES, Kind
from wrnsearch.pareto import FrontInfo

_GREY = "rgba(140,140,140,0.45)"
# Okabe-Ito, then plotly's defaults: distinguishable with colour blindness first
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
           "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def front_colours(info: FrontInfo | None) -> dict[int, str]:
    """Trial number -> colour of each front member, in the front's order (best error first)."""
    if info is None:
        return {}
    return {t.number: PALETTE[i % len(PALETTE)] for i, t in enumerate(info.front_trials)}


def _error_objective(objectives: tuple[str, ...]) -> str | None:
    """The objective only training measures (the error), if the study optimized it."""
    return next((o for o in objectives if o in OBJECTIVES and OBJECTIVES[o].kind == Kind.MEASURED), None)


def front_figure(info: FrontInfo, colours: dict[int, str]) -> Any | None:
    """The error against each other objective, the front's members in colour (None: one objective)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    error = _error_objective(info.objectives)
    others = [o for o in info.objectives if o != error]
    if error is None or not others or not info.trials:
        return None
    e = info.objectives.index(error)
    fig = make_subplots(rows=1, cols=len(others), shared_yaxes=True, horizontal_spacing=0.06)
    for col, name in enumerate(others, start=1):
        j = info.objectives.index(name)
        objective = OBJECTIVES.get(name)
        title = objective.axis_title() if objective else name
        grey = [i for i in range(len(info.trials)) if info.trials[i].number not in colours]
        fig.add_trace(go.Scatter(
            x=[info.values[i, j] for i in grey], y=[info.values[i, e] for i in grey], mode="markers",
            marker={"color": _GREY, "size": 7}, name="dominated", legendgroup="dominated", showlegend=col == 1,
            text=[f"#{info.trial_numbers[i]} {info.names[i]}" for i in grey],
            hovertemplate="%{text}<br>" + title + " %{x}<br>error %{y:.2f}%<extra></extra>"), row=1, col=col)
        for i in info.front_indices:
            n = info.trial_numbers[i]
            fig.add_trace(go.Scatter(
                x=[info.values[i, j]], y=[info.values[i, e]], mode="markers", name=f"#{n} {info.names[i]}",
                marker={"color": colours.get(n, "#d62728"), "size": 11, "line": {"color": "white", "width": 1}},
                legendgroup=f"front-{n}", showlegend=col == 1,
                hovertemplate=f"#{n} {info.names[i]}<br>{title} %{{x}}<br>error %{{y:.2f}}%<extra></extra>"),
                row=1, col=col)
        log_axis = objective.log_axis if objective else False
        fig.update_xaxes(title_text=title, type="log" if log_axis else "linear", row=1, col=col)
    error_objective = OBJECTIVES.get(error)
    fig.update_yaxes(title_text=error_objective.axis_title() if error_objective else error, row=1, col=1)
    hv = "" if info.hypervolume is None or not math.isfinite(info.hypervolume) else \
        f", hypervolume {info.hypervolume:.3f}"
    fig.update_layout(title=f"Front: {int(info.on_front.sum())} of {len(info.trials)} trials{hv}",
                      template="plotly_white", height=520, margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      legend={"orientation": "h", "y": -0.22})
    return fig
