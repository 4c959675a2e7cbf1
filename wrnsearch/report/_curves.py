"""The report's learning curves: every trained trial's validation error by epoch.

The study keeps each epoch's validation error as the trial's intermediate values (read by
:func:`wrnsearch.search.learning_curve`, which also reads the ``curve`` attribute of older trials).
Trials that ran to the end are solid lines, those stopped early (pruned, failed) dotted; the
front's members (the best trial, in a single-objective study) are red and drawn on top.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import plotly.graph_objects as go
from optuna.trial import FrozenTrial

from wrnsearch.record import Attr
from wrnsearch.report._figures import FRONT_COLOR, OTHER_COLOR, base_layout
from wrnsearch.search import epoch_axis, learning_curve
from wrnsearch.study import Outcome, outcome_of

_RAN_TO_THE_END = (Outcome.DONE, Outcome.RUNNING, Outcome.COPIED)


def curves_trials(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The trials with a curve of their own: trained (to the end or not), training, or copied in by a
    warm start; a reuse of another trial's result would repeat that trial's line."""
    return [t for t in trials if (outcome_of(t).trained or outcome_of(t) in (Outcome.RUNNING, Outcome.COPIED))
            and learning_curve(t)]


def _line(trial: FrozenTrial, on_front: bool, legend: str, first: bool) -> go.Scatter:
    curve = learning_curve(trial)
    epochs = sorted(curve)
    outcome = outcome_of(trial)
    arch = str(trial.user_attrs.get(Attr.ARCH, f"trial {trial.number}"))
    return go.Scatter(
        x=epochs, y=[curve[e] for e in epochs], mode="lines+markers",  # a marker: a curve of one epoch shows
        name=legend, legendgroup=legend, showlegend=first,
        line=dict(color=FRONT_COLOR if on_front else OTHER_COLOR, width=2.5 if on_front else 1.2,
                  dash="solid" if outcome in _RAN_TO_THE_END else "dot"),
        marker=dict(size=5 if on_front else 3), opacity=1.0 if on_front else 0.5,
        hovertemplate=f"#{trial.number} {arch} ({outcome.value})<br>epoch %{{x}}: %{{y:.2f}} %<extra></extra>",
    )


def curves_figure(trials: Sequence[FrozenTrial], front: Collection[int], front_name: str = "front") -> go.Figure | None:
    """One line per trial of :func:`curves_trials`, those whose number is in ``front`` red and on top
    (None: no trial has a curve yet)."""
    drawn = curves_trials(trials)
    if not drawn:
        return None
    fig = go.Figure()
    seen: set[str] = set()
    for trial in sorted(drawn, key=lambda t: (t.number in front, t.number)):
        on_front = trial.number in front
        ran = outcome_of(trial) in _RAN_TO_THE_END
        legend = front_name if on_front else "other trials" if ran else "stopped early"
        fig.add_trace(_line(trial, on_front, legend, legend not in seen))
        seen.add(legend)
    epochs = sorted({e for t in drawn for e in learning_curve(t)})
    fig.update_layout(**base_layout(
        f"Learning curves ({len(drawn)} trained trials)", 420,
        xaxis={**epoch_axis(epochs), "title": {"text": "epoch"}},
        yaxis=dict(title=dict(text="validation error (%)")),
        hovermode="closest",
    ))
    return fig
