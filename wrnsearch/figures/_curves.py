"""Learning curves: every trained trial's validation error by epoch.

The study keeps each epoch's validation error as the trial's intermediate values (read by
:func:`learning_curve`, which also reads the ``curve`` attribute of trials recorded before the
study kept them). Trials that ran to the end are solid lines, those stopped early (pruned, failed)
dotted; the highlighted ones (the front's members, or the best trial) in colour and drawn on top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from optuna.trial import FrozenTrial

from wrnsearch.record import Attr
from wrnsearch.study import Outcome, outcome_of

FRONT_COLOR = "#d62728"
OTHER_COLOR = "#5b84b1"
_RAN_TO_THE_END = (Outcome.DONE, Outcome.RUNNING, Outcome.COPIED)


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
    return {"title": {"text": "epoch"}, "tickmode": "linear", "tick0": first if dtick == 1 else 0, "dtick": dtick,
            "tickformat": "d", "range": [low, last + 0.3 * dtick]}


def curves_trials(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The trials with a curve of their own: trained (to the end or not), training, or copied in by a
    warm start; a reuse of another trial's result would repeat that trial's line."""
    return [t for t in trials if (outcome_of(t).trained or outcome_of(t) in (Outcome.RUNNING, Outcome.COPIED))
            and learning_curve(t)]


def _line(trial: FrozenTrial, colour: str | None, legend: str, first: bool, group: str) -> Any:
    import plotly.graph_objects as go

    curve = learning_curve(trial)
    epochs = sorted(curve)
    outcome = outcome_of(trial)
    arch = str(trial.user_attrs.get(Attr.ARCH, f"trial {trial.number}"))
    on = colour is not None
    return go.Scatter(
        x=epochs, y=[curve[e] for e in epochs], mode="lines+markers",  # a marker: a curve of one epoch shows
        name=legend, legendgroup=group, showlegend=first,
        line=dict(color=colour if on else OTHER_COLOR, width=2.5 if on else 1.2,
                  dash="solid" if outcome in _RAN_TO_THE_END else "dot"),
        marker=dict(size=5 if on else 3), opacity=1.0 if on else 0.5,
        hovertemplate=f"#{trial.number} {arch} ({outcome.value})<br>epoch %{{x}}: %{{y:.2f}} %<extra></extra>",
    )


def curves_figure(trials: Sequence[FrozenTrial], colours: Mapping[int, str], front_name: str | None = "front", *,
                  empty: bool = False) -> Any:
    """One line per trial of :func:`curves_trials`; those in ``colours`` (trial number -> colour) on
    top in their colour, under one legend entry ``front_name``, or each under its own name
    (``#3 WRN-16-2``) when ``front_name`` is None. When no trial has a curve yet: None, or with
    ``empty`` a figure without lines (a dashboard's place kept)."""
    import plotly.graph_objects as go

    drawn = curves_trials(trials)
    if not drawn and not empty:
        return None
    fig = go.Figure()
    seen: set[str] = set()
    for trial in sorted(drawn, key=lambda t: (t.number in colours, t.number)):
        colour = colours.get(trial.number)
        if colour is not None:
            arch = trial.user_attrs.get(Attr.ARCH, f"trial {trial.number}")
            legend = front_name or f"#{trial.number} {arch}"
            group = front_name or f"front-{trial.number}"
        else:
            legend = group = "other trials" if outcome_of(trial) in _RAN_TO_THE_END else "stopped early"
        fig.add_trace(_line(trial, colour, legend, legend not in seen, group))
        seen.add(legend)
    epochs = sorted({e for t in drawn for e in learning_curve(t)})
    fig.update_layout(title=f"Learning curves ({len(drawn)} trained trials)", xaxis=epoch_axis(epochs),
                      yaxis={"title": {"text": "validation error (%)"}}, template="plotly_white", height=460,
                      hovermode="closest")
    return fig
