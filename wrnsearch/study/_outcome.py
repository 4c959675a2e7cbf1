"""What a stored trial counts as: the one place that reads Optuna's state beside our record.

Every reader asks :func:`outcome_of`: the searcher (what is trained, what may be reused), the
fronts (only ``DONE`` trials with a complete record enter one), the report and the live view
(counts per outcome), and the summaries of tests and benchmarks.

========== ================================================================================
outcome    stored as
========== ================================================================================
done       COMPLETE, within every budget, trained by this trial
infeasible COMPLETE, over a budget (constraint > 0 or ``infeasible_reason``): never trained
pruned     PRUNED: stopped early by the scheduler, the search's time budget or the trial's
failed     FAIL: diverged, out of memory, crashed, or its worker died too often
interrupted FAIL with ``status: interrupted``: the driver stopped while it ran (queued again)
setup_failed FAIL with ``status: setup_failed``: data, import, device or storage failed before the
           first epoch (the setup's fault: not trained, not counted in ``budget.max_trials``)
deferred   FAIL with ``status: deferred``, in studies of earlier versions only: proposed when
           ``budget.time`` had too little left for it to finish, never started. Such a proposal is no
           longer stored (:mod:`wrnsearch.search._fitting_proposals`); old studies read as before
reused     any finished state with ``reused_from``: a copy of an earlier trial's outcome
copied     COMPLETE with ``warm_start``: another run's result, copied by ``--warm-start`` (not trained here)
running    RUNNING
waiting    WAITING (queued: a retry of an interrupted trial)
========== ================================================================================
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from wrnsearch.record import INTERRUPTED_REASON, Attr, Status


class Outcome(str, enum.Enum):
    """What a stored trial counts as (a ``str``: the live view's and report's labels)."""

    DONE = "done"
    INFEASIBLE = "infeasible"
    PRUNED = "pruned"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    SETUP_FAILED = "setup_failed"
    DEFERRED = "deferred"
    REUSED = "reused"
    COPIED = "copied"
    RUNNING = "running"
    WAITING = "waiting"

    def __str__(self) -> str:
        return self.value

    @property
    def trained(self) -> bool:
        """The trial consumed training of its own: counts against ``budget.max_trials``."""
        return self in (Outcome.DONE, Outcome.PRUNED, Outcome.FAILED)

    @property
    def finished(self) -> bool:
        return self not in (Outcome.RUNNING, Outcome.WAITING)

    @property
    def tried(self) -> bool:
        """Its architecture counts as tried (not proposed for training again): anything but a trial
        queued, interrupted, failed in its setup or deferred, which are proposed again."""
        return self not in (Outcome.WAITING, Outcome.INTERRUPTED, Outcome.SETUP_FAILED, Outcome.DEFERRED)

    @property
    def reusable(self) -> bool:
        """It may stand for a later proposal of the same architecture and recipe."""
        return self in (Outcome.DONE, Outcome.PRUNED, Outcome.COPIED)


def is_feasible(trial: FrozenTrial) -> bool:
    """Within every budget (Optuna's own rule: all constraint values <= 0)."""
    return _feasible(trial.constraints.values(), trial.user_attrs)


def _feasible(constraints: Iterable[float], user_attrs: Mapping[str, Any]) -> bool:
    return all(v <= 0 for v in constraints) and Attr.INFEASIBLE_REASON not in user_attrs


def is_interrupted(trial: FrozenTrial) -> bool:
    return _interrupted(trial.state, trial.user_attrs)


def _interrupted(state: TrialState, user_attrs: Mapping[str, Any]) -> bool:
    return state == TrialState.FAIL and (user_attrs.get(Attr.FAIL_REASON) == INTERRUPTED_REASON
                                         or user_attrs.get(Attr.STATUS) == Status.INTERRUPTED)


def outcome_of(trial: FrozenTrial) -> Outcome:
    """What ``trial`` counts as; see the module docstring."""
    return outcome_from(trial.state, trial.user_attrs, trial.constraints.values())


def outcome_from(state: TrialState, user_attrs: Mapping[str, Any], constraints: Iterable[float] = ()) -> Outcome:
    """What a trial with this state, these attributes and constraint values counts as: the one
    mapping, for a stored trial (:func:`outcome_of`) and for one just told (``Result.outcome``)."""
    if state == TrialState.RUNNING:
        return Outcome.RUNNING
    if state == TrialState.WAITING:
        return Outcome.WAITING
    if _interrupted(state, user_attrs):
        return Outcome.INTERRUPTED
    if state == TrialState.FAIL and user_attrs.get(Attr.STATUS) == Status.SETUP_FAILED:
        return Outcome.SETUP_FAILED
    if state == TrialState.FAIL and user_attrs.get(Attr.STATUS) == Status.DEFERRED:
        return Outcome.DEFERRED
    if Attr.REUSED_FROM in user_attrs:
        return Outcome.REUSED
    if Attr.WARM_START in user_attrs and state == TrialState.COMPLETE:
        return Outcome.COPIED
    if state == TrialState.COMPLETE:
        return Outcome.DONE if _feasible(constraints, user_attrs) else Outcome.INFEASIBLE
    if state == TrialState.PRUNED:
        return Outcome.PRUNED
    return Outcome.FAILED


def tried_keys(trials: Iterable[FrozenTrial]) -> set[str]:
    """The architecture keys (``key``) the study has tried: what the searcher does not propose for
    training again, and what tells a resumed run that its space is exhausted."""
    return {key for t in trials if (key := t.user_attrs.get(Attr.KEY)) and outcome_of(t).tried}


def counts_as_trained(trial: FrozenTrial) -> bool:
    """A trial that consumed training: done, pruned or failed, not infeasible, reused, copied, interrupted or
    failed in its setup."""
    return outcome_of(trial).trained


def has_full_result(trial: FrozenTrial) -> bool:
    """Trained for the whole epoch budget within every budget, by this trial or by the other run's
    trial it was copied from (same data, split and recipe): a front candidate."""
    return (outcome_of(trial) in (Outcome.DONE, Outcome.COPIED)
            and trial.user_attrs.get(Attr.STATUS) == Status.COMPLETE)


def is_reusable(trial: FrozenTrial) -> bool:
    """Its outcome may stand for a later proposal of the same architecture and recipe."""
    return outcome_of(trial).reusable


def count_outcomes(trials: Iterable[FrozenTrial]) -> dict[str, int]:
    """How many trials have each outcome, by its name (every outcome present, zero or not)."""
    counts = Counter(outcome_of(t) for t in trials)
    return {o.value: counts.get(o, 0) for o in Outcome}
