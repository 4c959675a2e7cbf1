"""When a trial's trainable starts on a node: the moment the search counts it as running.

Ray Tune takes a trial from the searcher and holds it PENDING until a node has its resources;
its actor then starts (or a cached one is reset for it). :class:`TrialStarts` tells the searcher
that moment (Tune's ``on_trial_start``), so that the live view says ``started`` only then, and
counts the trials held back as waiting for resources.
"""

from __future__ import annotations

from typing import Any

from ray import tune


class TrialStarts(tune.Callback):
    """Passes Tune's trial starts to ``started(trial_id)`` (the searcher's)."""

    def __init__(self, started: Any) -> None:
        self.started = started

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.started(trial.trial_id)
