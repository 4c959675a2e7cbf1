"""MO-ASHA as a Ray Tune scheduler: asynchronous successive halving over every objective.

At each rung a trial's objective vector (its validation error at that rung, and the space's other
objectives: those known before training, the device figures measured so far, each in every epoch
report of the trainable under its record field, :mod:`wrnsearch.objectives`) is ranked among what the rung
recorded by non-dominated sorting, ties broken by crowding distance
(:func:`wrnsearch.search._scheduler_decisions.moasha_continues`); the top ``1/rf`` go on. Single-objective
ASHA stops the worst validation errors, which are the small, fast networks the front needs at
its low end; MO-ASHA keeps a small network that nothing else at the rung comes near.

The decisions are :class:`~wrnsearch.search._scheduler_decisions.Rungs`, which a replay on a simulated clock
calls too; this class only feeds it Tune's results.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from wrnsearch.objectives import get as get_objective
from wrnsearch.search._scheduler_decisions import Rungs, grace_epochs, rung_milestones

log = logging.getLogger(__name__)


def objective_vector(result: dict[str, Any], objectives: Sequence[str]) -> list[float] | None:
    """The objectives of an epoch report, each read from its record field (error: the validation
    error); None when one is missing."""
    out = []
    for name in objectives:
        value = get_objective(name).of_attrs(result)
        if value is None:
            return None
        out.append(value)
    return out


class MOASHAScheduler(FIFOScheduler):
    """Stop a trial at a rung unless it ranks among the top ``1/reduction_factor`` by every objective."""

    def __init__(self, objectives: Sequence[str], max_t: int, grace_period: float = 1, reduction_factor: float = 3,
                 time_attr: str = "epoch") -> None:
        super().__init__()
        self.objectives = list(objectives)
        self.time_attr = time_attr
        self.max_t = max_t
        self.rungs = Rungs(rung_milestones(grace_epochs(grace_period, max_t), reduction_factor, max_t),
                           reduction_factor, multi=True)
        self.stopped = 0

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        epoch = result.get(self.time_attr)
        if epoch is None or result.get("final") or epoch >= self.max_t:
            return TrialScheduler.CONTINUE
        vector = objective_vector(result, self.objectives)
        if vector is None:  # nothing to rank by (no validation error): no decision
            return TrialScheduler.CONTINUE
        if self.rungs.decide(trial.trial_id, epoch, vector):
            return TrialScheduler.CONTINUE
        self.stopped += 1
        log.info("MO-ASHA stops %s at epoch %s: %s", trial, epoch, vector)
        return TrialScheduler.STOP

    def debug_string(self) -> str:
        sizes = ", ".join(f"{m}: {len(r)}" for m, r in self.rungs.recorded.items())
        return f"MO-ASHA: {self.stopped} stopped; trials per rung {{{sizes}}}"
