"""What the search trains next: proposals asked of the study, fitted to the time left, de-duplicated.

:class:`Proposals` alone decides what a proposal becomes (:class:`Decision`):

- over a budget: told infeasible at once, never trained;
- an architecture already trained with the same recipe (its key, :func:`wrnsearch.study.trial_key`):
  its result is copied to the new trial (``reused_from``);
- equal to one in flight: it waits for that one (a follower) and gets its outcome;
- otherwise trained, with the predicted seconds and the time left when a time check applies.

It owns the keys tried (:func:`wrnsearch.study.tried_keys`, as the driver's check of an exhausted
space reads them), the reusable results, the trials in flight by key and their followers, and
the (MACs, seconds) of this run's finished trials that predict a proposal's time. It neither
tells the study an outcome (:mod:`wrnsearch.search._telling`) nor counts one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution

from wrnsearch.record import Attr
from wrnsearch.samplers import Proposal, propose, search_distributions
from wrnsearch.search._fitting_proposals import fitting_params
from wrnsearch.search._stop_decisions import predict_trial_s, time_left_reason
from wrnsearch.space import Space, space_size
from wrnsearch.spec import WRNSpec
from wrnsearch.study import Result, is_reusable, trial_key, tried_keys


class Decision(enum.Enum):
    """What a stored proposal becomes."""

    INFEASIBLE = enum.auto()  # over a budget: told at once
    REUSE = enum.auto()  # trained before: its result copied
    FOLLOW = enum.auto()  # the same architecture is in flight: waits for its outcome
    TRAIN = enum.auto()  # handed to Tune


@dataclass(frozen=True)
class Asked:
    """A proposal stored in the study, and what it becomes."""

    trial: optuna.Trial
    proposal: Proposal
    key: str
    decision: Decision
    time_check: tuple[float, float] | None = None  # (predicted s, s left of budget.time) of one to train
    source: Result | None = None  # the earlier result a reused proposal copies


class Proposals:
    """Proposals of the run's study for ``space``; see the module docstring."""

    def __init__(self, space: Space, study: optuna.Study) -> None:
        self.space, self.study = space, study
        self.dists: dict[str, BaseDistribution] = search_distributions(space)
        self.space_total = space_size(space)
        trials = study.get_trials(deepcopy=False)
        self.tried: set[str] = tried_keys(trials)
        self.results: dict[str, Result] = {}  # key -> a finished trial whose outcome can be reused
        for t in trials:
            if (key := t.user_attrs.get(Attr.KEY)) and is_reusable(t):
                self.results.setdefault(key, Result.of(t))
        self.leaders: dict[str, Any] = {}  # key -> the Tune trial id training it
        self.followers: dict[str, list[optuna.Trial]] = {}  # key -> proposals waiting on it
        # (MACs, seconds) of each trial of this run trained to its end: what predicts a proposal's time
        self.finished_costs: list[tuple[float, float]] = []

    # -- asking ---------------------------------------------------------------------------------

    def next(self, elapsed_s: float) -> Asked | str:
        """The next proposal, stored and decided; or, when a time check applies and no proposal
        would finish in the time left, why (nothing stored: :mod:`wrnsearch.search._fitting_proposals`)."""
        budget = self.space.budget.time
        if budget and self.finished_costs and not self.has_waiting():
            left = budget - elapsed_s
            params, why = fitting_params(
                self.study, lambda study, trial: self._propose(trial, study)[0],
                lambda p: None if self._not_trained(p) else self._too_long(self.time_check(p, elapsed_s)),
                lambda cost: (self.predict_s(float(cost.macs)) or 0.0) <= left)
            if params is None:
                return why
            self.study.enqueue_trial(params, skip_if_exists=False)
        trial = self.study.ask()
        proposal, key = self._propose(trial)
        self.tried.add(key)
        if not proposal.feasible:
            return Asked(trial, proposal, key, Decision.INFEASIBLE)
        if key in self.results:
            return Asked(trial, proposal, key, Decision.REUSE, source=self.results[key])
        if key in self.leaders:
            self.followers.setdefault(key, []).append(trial)
            return Asked(trial, proposal, key, Decision.FOLLOW)
        return Asked(trial, proposal, key, Decision.TRAIN, self.time_check(proposal, elapsed_s))

    def _propose(self, trial: optuna.Trial, study: optuna.Study | None = None) -> tuple[Proposal, str]:
        keys: list[str] = []  # the key, computed once, written with the proposal's attributes

        def key_attrs(spec: WRNSpec) -> dict[str, Any]:
            keys.append(trial_key(self.space, spec))
            return {Attr.KEY: keys[0], Attr.SPEC: spec.to_dict()}

        proposal = propose(study or self.study, trial, self.space, key_attrs, self.dists)
        return proposal, keys[0]

    def _not_trained(self, proposal: Proposal) -> bool:
        """Not trained if asked for: over a budget, trained before, or in flight (no time check)."""
        key = proposal.attrs[Attr.KEY]
        return not proposal.feasible or key in self.results or key in self.leaders

    # -- time -----------------------------------------------------------------------------------

    def predict_s(self, macs: float) -> float | None:
        return predict_trial_s(self.finished_costs, macs) if macs else None

    def shortest_s(self) -> float | None:
        """The predicted seconds of the cheapest architecture this run has finished (None: none yet)."""
        return self.predict_s(min((m for m, _ in self.finished_costs), default=0.0))

    def time_check(self, proposal: Proposal, elapsed_s: float) -> tuple[float, float] | None:
        """(predicted seconds, seconds left of ``budget.time``) for the proposal; None without a
        time budget or before a trial of this run has finished."""
        budget = self.space.budget.time
        predicted = self.predict_s(float(proposal.cost.macs)) if budget else None
        if predicted is None:
            return None
        return predicted, (budget or 0.0) - elapsed_s

    @staticmethod
    def _too_long(check: tuple[float, float] | None) -> str | None:
        """Why the proposal would not finish within what is left of ``budget.time`` (None: it would)."""
        if check is None or check[0] <= check[1]:
            return None
        return time_left_reason(check[1], check[0])

    def finished(self, macs: float, seconds: float) -> None:
        """A trial of this run trained to its end in ``seconds``."""
        self.finished_costs.append((macs, seconds))

    # -- the space and the trials in flight -------------------------------------------------------

    @property
    def exhausted(self) -> bool:
        """Every architecture of the space has been tried."""
        return len(self.tried) >= self.space_total

    def has_waiting(self) -> bool:
        """A queued trial (a retry of an interrupted one) waits in the study."""
        return bool(self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))

    def leading(self, key: str, trial_id: Any) -> None:
        """The proposal with this key is trained (as Tune's ``trial_id``): equal ones follow it."""
        self.leaders[key] = trial_id

    def ended(self, key: str, told: Result | None) -> list[optuna.Trial]:
        """The trial training ``key`` is over (``told``: its outcome, None when it was never told):
        its result kept for reuse when it may be, and the proposals that waited on it, to be told."""
        self.leaders.pop(key, None)
        if told is not None and told.outcome.reusable:
            self.results[key] = told
        return self.followers.pop(key, [])

    def abandon_followers(self) -> list[optuna.Trial]:
        """Every proposal still waiting on a trial in flight (the run stops): to be failed or forgotten."""
        followers = [f for waiting in self.followers.values() for f in waiting]
        self.followers.clear()
        return followers
