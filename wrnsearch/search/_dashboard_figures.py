"""The study's own figures for optuna-dashboard: learning curves and the front, kept current.

optuna-dashboard draws its built-in learning-curve chart only for single-objective studies, and
its Pareto-front chart from the told objective values alone. The driver therefore stores two
plotly figures of its own in the study (``optuna_dashboard.save_plotly_graph_object``: study
system attributes), which the dashboard shows on the study's page:

- ``wrnsearch-learning-curves``: every trained trial's validation error by epoch (its
  intermediate values), complete trials solid, stopped ones dotted, the front's members in colour
  and named, the rest grey;
- ``wrnsearch-front`` (multi-objective studies): the error against each other objective, every
  eligible trial grey and the front's members in colour, with the latencies timed alone where
  the study has them, as ``wrnsearch pareto`` and the report show them.

:class:`DashboardFigures` redraws them when a trial reports or ends, at most every
``min_interval_s`` seconds (a redraw reads the whole study), and once more at the end of the run.
A redraw that fails (a busy or full disk) is logged once and never stops the search: the figures
are a view of the study, which holds every result.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from wrnsearch.pareto import FrontInfo, front_info, study_objectives
from wrnsearch.record import Attr
from wrnsearch.study import Outcome, outcome_of

log = logging.getLogger(__name__)

CURVES_ID = "wrnsearch-learning-curves"
FRONT_ID = "wrnsearch-front"
# the axes of the front figure: objective -> (axis title, logarithmic)
_AXES = {"params": ("parameters", True), "macs": ("multiply-accumulates", True),
         "latency_ms": ("training-step latency (ms)", True), "latency_infer_ms": ("inference latency (ms)", True)}
_GREY = "rgba(140,140,140,0.45)"
# Okabe-Ito, then plotly's defaults: distinguishable with colour blindness first
_PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
            "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def _error_objective(objectives: tuple[str, ...]) -> str | None:
    return next((o for o in objectives if o.endswith("error")), None)


def _front(study: optuna.Study) -> FrontInfo | None:
    try:
        return front_info(study)
    except Exception as e:  # noqa: BLE001 - a study without objectives gets curves only
        log.debug("no front for the dashboard: %s", e)
        return None


def _colours(info: FrontInfo | None) -> dict[int, str]:
    """Trial number -> colour of each front member, in the front's order (best error first)."""
    if info is None:
        return {}
    return {t.number: _PALETTE[i % len(_PALETTE)] for i, t in enumerate(info.front_trials)}


def learning_curve(trial: FrozenTrial) -> dict[int, float]:
    """Validation error by epoch: the trial's intermediate values, or the ``curve`` attribute of a
    trial recorded before the study kept them."""
    if trial.intermediate_values:
        return dict(trial.intermediate_values)
    curve = trial.user_attrs.get(Attr.CURVE)
    points = {}
    for entry in curve if isinstance(curve, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("val_error"), (int, float)):
            points[int(entry.get("epoch", 0))] = float(entry["val_error"])
    return points


def epoch_axis(epochs: list[int]) -> dict[str, Any]:
    """An axis of whole epochs (plotly's own puts ticks at 1.5 and 2.5, which ``tickformat="d"`` then
    prints as ``1 2 2 3 3``): a tick at every epoch up to ten, then every 2, 5, 10, 20 ... epochs.

    >>> epoch_axis([1, 2, 3])["dtick"], epoch_axis(list(range(1, 31)))["dtick"]
    (1, 5)
    """
    first, last = (min(epochs), max(epochs)) if epochs else (1, 1)
    span, scale = last - first + 1, 1
    while span / (5 * scale) > 10:
        scale *= 10
    dtick = next(step * scale for step in (1, 2, 5) if span / (step * scale) <= 10)
    low = first - 0.3 * dtick if first < 1 else max(first - 0.3 * dtick, first - 0.5)  # no epoch 0 to tick
    return {"title": "epoch", "tickmode": "linear", "tick0": first if dtick == 1 else 0, "dtick": dtick,
            "tickformat": "d", "range": [low, last + 0.3 * dtick]}


def curves_figure(trials: list[FrozenTrial], colours: dict[int, str]) -> Any:
    """Validation error by epoch of every trial trained (or training) with a learning curve."""
    import plotly.graph_objects as go

    fig = go.Figure()
    grey_legend = {"solid": False, "dot": False}
    # trained trials, those training and those a warm start copied in with their curves; a reuse
    # of another trial's result in this study repeats that trial's curve
    trained = [t for t in trials if outcome_of(t).trained or outcome_of(t) in (Outcome.RUNNING, Outcome.COPIED)]
    curves = {t.number: learning_curve(t) for t in trained}
    drawn = [t for t in trained if curves[t.number]]
    # grey first, so the front's coloured lines are drawn on top
    for t in sorted(drawn, key=lambda t: (t.number in colours, t.number)):
        epochs = sorted(curves[t.number])
        errors = [curves[t.number][e] for e in epochs]
        arch = str(t.user_attrs.get(Attr.ARCH, f"trial {t.number}"))
        outcome = outcome_of(t)
        dash = "solid" if outcome in (Outcome.DONE, Outcome.RUNNING, Outcome.COPIED) else "dot"
        status = outcome.value
        hover = f"#{t.number} {arch} ({status})<br>epoch %{{x}}: %{{y:.2f}}%<extra></extra>"
        if t.number in colours:
            fig.add_trace(go.Scatter(x=epochs, y=errors, mode="lines+markers", name=f"#{t.number} {arch}",
                                     line={"color": colours[t.number], "width": 2.5, "dash": dash},
                                     marker={"size": 4}, hovertemplate=hover, legendgroup="front",
                                     legendgrouptitle_text="on the front"))
        else:
            first = not grey_legend[dash]
            grey_legend[dash] = True
            fig.add_trace(go.Scatter(x=epochs, y=errors, mode="lines", showlegend=first,
                                     name="other trials" if dash == "solid" else "stopped early",
                                     legendgroup=f"other-{dash}", line={"color": _GREY, "width": 1, "dash": dash},
                                     hovertemplate=hover))
    epochs = sorted({e for t in drawn for e in curves[t.number]})
    fig.update_layout(title=f"Learning curves ({len(drawn)} trials)",
                      xaxis=epoch_axis(epochs), yaxis_title="validation error (%)",
                      template="plotly_white", height=480, margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      hovermode="closest")
    return fig


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
    for col, objective in enumerate(others, start=1):
        j = info.objectives.index(objective)
        title, log_axis = _AXES.get(objective, (objective, False))
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
        fig.update_xaxes(title_text=title, type="log" if log_axis else "linear", row=1, col=col)
    fig.update_yaxes(title_text="validation error (%)" if error == "error" else error, row=1, col=1)
    hv = "" if info.hypervolume is None or not math.isfinite(info.hypervolume) else \
        f", hypervolume {info.hypervolume:.3f}"
    fig.update_layout(title=f"Front: {int(info.on_front.sum())} of {len(info.trials)} trials{hv}",
                      template="plotly_white", height=520, margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      legend={"orientation": "h", "y": -0.22})
    return fig


def save_figures(study: optuna.Study) -> list[str]:
    """Draw the study's figures and store them in it for optuna-dashboard; the ids stored."""
    import optuna_dashboard

    try:
        study_objectives(study)
    except Exception:  # noqa: BLE001 - not a wrnsearch study: nothing of ours to draw
        return []
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING,
                                                      TrialState.FAIL))
    info = _front(study)
    colours = _colours(info)
    saved = [optuna_dashboard.save_plotly_graph_object(study, curves_figure(trials, colours),
                                                       graph_object_id=CURVES_ID)]
    front = front_figure(info, colours) if info is not None else None
    if front is not None:
        saved.append(optuna_dashboard.save_plotly_graph_object(study, front, graph_object_id=FRONT_ID))
    return saved


class DashboardFigures:
    """Redraws the study's figures as a search goes: see the module docstring."""

    def __init__(self, study: optuna.Study, min_interval_s: float = 15.0) -> None:
        self.study, self.min_interval_s = study, min_interval_s
        # the first redraw after an interval too: a short run (a benchmark's) draws once, at its end
        self.last = time.monotonic()  # of the last redraw
        self.stale = True
        self.failed = False
        self.redraws = 0

    def changed(self) -> None:
        """The study changed (an epoch reported, a trial ended): redraw unless one was just made."""
        self.stale = True
        if time.monotonic() - self.last >= self.min_interval_s:
            self.flush()

    def flush(self) -> None:
        """Redraw now if anything changed since the last redraw."""
        if not self.stale:
            return
        self.last, self.stale = time.monotonic(), False
        try:
            save_figures(self.study)
            self.redraws += 1
        except Exception as e:  # noqa: BLE001 - a view of the study must never stop the search
            if not self.failed:
                log.warning("the dashboard figures could not be stored (the search goes on): %s",
                            " ".join(str(e).split())[:200])
            self.failed = True
