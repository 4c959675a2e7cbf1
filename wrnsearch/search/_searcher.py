"""The Tune searcher: asks the Optuna study for architectures, tells it every outcome.

It does what Ray's own ``OptunaSearch`` does not:

- over-budget specs are told as infeasible at once and never reach Tune;
- an architecture already trained with the same recipe is not trained again: its result is
  copied to the new trial (``reused_from``), and a proposal equal to one in flight waits for it;
- pruned (ASHA), truncated (trial time limit), diverged and out-of-memory trials are recorded with
  their state and reason (:mod:`wrnsearch.study`), and never enter the front;
- a trial whose setup failed before its first epoch (``setup_failed``: data, import, device,
  storage) gives its place in ``budget.max_trials`` back, and :data:`SETUP_STREAK` of them in a
  row with the same reason stop the search (``setup_error``, which the driver raises).

It runs in the driver, which alone writes the study. Importing this module imports Ray.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from ray.tune.search import Searcher

from wrnsearch.compat import tell
from wrnsearch.record import Attr, Status, TrialRecord
from wrnsearch.samplers import Proposal, propose, search_distributions
from wrnsearch.search._fitting_proposals import fitting_params
from wrnsearch.search._options import EventCallback, RunProgress
from wrnsearch.search._stop_decisions import (
    FREE_PROPOSALS_REASON,
    MAX_FREE_PROPOSALS,
    SetupStreak,
    predict_trial_s,
    setup_stop_reason,
    stop_proposing,
    time_left_reason,
)
from wrnsearch.space import Space, space_size
from wrnsearch.spec import WRNSpec
from wrnsearch.study import (
    Outcome,
    Result,
    is_reusable,
    lost_worker_record,
    outcome_of,
    report_epochs,
    stopped_record,
    tell_copy,
    tell_infeasible,
    tell_leader_failed,
    tell_record,
    tell_stopped,
    trial_key,
)
from wrnsearch.tracking import Tracker

log = logging.getLogger(__name__)


@dataclass
class _InFlight:
    """A trial handed to Tune: its Optuna trial, what was proposed, and its architecture's key."""

    trial: optuna.Trial
    proposal: Proposal
    key: str
    reported: set[int] = field(default_factory=set)  # epochs whose validation error is in the study
    handed: float = field(default_factory=time.monotonic)  # given to Tune
    started: float | None = None  # its trainable started on a node (Tune's on_trial_start)


def _not_restorable() -> None:
    """What Tune's pickled copy of the searcher becomes: the study, not Tune, restores a run."""
    return None


class StudySearcher(Searcher):
    """A Ray Tune searcher backed by the run's Optuna study (see the module docstring).

    ``allowed`` is how many trials this run may still train (``budget.max_trials`` less those
    trained before a resume). ``room``: how many trials the cluster hosts at once; beyond it, one
    trial at most is handed to Tune to wait for resources. ``launched`` counts the trials started
    in this run less those whose setup failed. ``tracker`` copies the trials' curves to TensorBoard
    and MLflow.
    """

    def __init__(self, space: Space, study: optuna.Study, progress: RunProgress, on_event: EventCallback | None,
                 allowed: int, *, tracker: Tracker | None = None, room: int = 1) -> None:
        super().__init__(metric="val_error", mode="min")
        self.space, self.study, self.progress, self.on_event = space, study, progress, on_event
        self.tracker = tracker or Tracker()
        self.allowed = allowed
        self.room = room  # trials the cluster hosts at once: more are handed to Tune only as they start
        self.launched = 0
        self.live: dict[str, _InFlight] = {}  # tune trial id -> the trial it trains
        self.leaders: dict[str, str] = {}  # key -> tune trial id training it
        self.followers: dict[str, list[optuna.Trial]] = {}  # key -> optuna trials waiting on it
        self.results: dict[str, Result] = {}  # key -> finished trial whose outcome can be reused
        self.tried_keys: set[str] = set()
        # (MACs, seconds) of each trial of this run trained to its end: what predicts a proposal's time
        self.finished_costs: list[tuple[float, float]] = []
        self.space_total = space_size(space)
        self.dists: dict[str, BaseDistribution] = search_distributions(space)
        self.stop_reason: str | None = None
        self.setup_streak = SetupStreak()
        self.setup_error: str | None = None  # the search stopped on a broken setup: why, in one line
        self.lock = threading.Lock()
        for t in study.get_trials(deepcopy=False):
            key = t.user_attrs.get(Attr.KEY)
            if not key:
                continue
            if is_reusable(t):
                self.results.setdefault(key, Result.of(t))
            if outcome_of(t) not in (Outcome.WAITING, Outcome.INTERRUPTED, Outcome.SETUP_FAILED, Outcome.DEFERRED):
                self.tried_keys.add(key)

    # -- proposing ------------------------------------------------------------------------------

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self._suggest(trial_id)

    def _suggest(self, trial_id: str) -> Any:
        if self.setup_error is not None:
            return self._finish(self.setup_error)
        if len(self.live) >= self.room and any(f.started is None for f in self.live.values()):
            # the cluster is full and a trial already waits for resources: the next is proposed (and
            # stored RUNNING) once that one runs, and it is proposed knowing more results
            return None
        for _ in range(MAX_FREE_PROPOSALS):
            reason = stop_proposing(
                launched=self.launched, allowed=self.allowed, max_trials=self.progress.max_trials,
                elapsed_s=self.progress.elapsed_s, time_budget_s=self.space.budget.time, tried=len(self.tried_keys),
                space_total=self.space_total,
                waiting=len(self.tried_keys) >= self.space_total and self._has_waiting(),
                trial_s=self._predict_s(min((m for m, _ in self.finished_costs), default=0.0)),
            )
            if reason:
                if self.launched >= self.allowed and any(not f.reported for f in self.live.values()):
                    return None  # a trial in flight may still fail in its setup and give its place back
                return self._finish(reason)
            asked = self._ask()
            if isinstance(asked, str):  # nothing untried fits the time left: nothing was stored
                return self._finish(asked)
            trial, proposal, key = asked
            self.tried_keys.add(key)
            if not proposal.feasible:
                tell_infeasible(self.study, trial, self.space, proposal)
                self.progress.count(Outcome.INFEASIBLE)
                self._event(Outcome.INFEASIBLE, number=trial.number, arch=proposal.spec.name,
                            reason="; ".join(proposal.violations))
            elif key in self.results:
                self._copy(trial, self.results[key])
            elif key in self.leaders:
                self.followers.setdefault(key, []).append(trial)
            else:
                if (check := self._time_check(proposal)) is not None:
                    trial.set_user_attr(Attr.PREDICTED_S, check[0])
                    trial.set_user_attr(Attr.TIME_LEFT_S, round(check[1], 1))
                return self._launch(trial_id, trial, proposal, key)
        return self._finish(FREE_PROPOSALS_REASON)

    def _ask(self) -> tuple[optuna.Trial, Proposal, str] | str:
        """The next trial and its proposal; or, when a time check applies and no proposal would
        finish in the time left, why (:mod:`wrnsearch.search._fitting_proposals`: nothing stored)."""
        budget = self.space.budget.time
        if budget and self.finished_costs and not self._has_waiting():
            left = budget - self.progress.elapsed_s
            params, why = fitting_params(
                self.study, lambda study, trial: self._propose(trial, study)[0],
                lambda p: None if self._reused_or_skipped(p) else self._too_long(self._time_check(p)),
                lambda cost: (self._predict_s(float(cost.macs)) or 0.0) <= left)
            if params is None:
                return why
            self.study.enqueue_trial(params, skip_if_exists=False)
        trial = self.study.ask()
        return (trial, *self._propose(trial))

    def _reused_or_skipped(self, proposal: Proposal) -> bool:
        """Not trained if asked for: over a budget, trained before, or in flight (no time check)."""
        key = proposal.attrs[Attr.KEY]
        return not proposal.feasible or key in self.results or key in self.leaders

    def _predict_s(self, macs: float) -> float | None:
        return predict_trial_s(self.finished_costs, macs) if macs else None

    def _time_check(self, proposal: Proposal) -> tuple[float, float] | None:
        """(predicted seconds, seconds left of ``budget.time``) for the proposal; None without a
        time budget or before a trial of this run has finished."""
        budget = self.space.budget.time
        predicted = self._predict_s(float(proposal.cost.macs)) if budget else None
        if predicted is None:
            return None
        return predicted, (budget or 0.0) - self.progress.elapsed_s

    @staticmethod
    def _too_long(check: tuple[float, float] | None) -> str | None:
        """Why the proposal would not finish within what is left of ``budget.time`` (None: it would)."""
        if check is None or check[0] <= check[1]:
            return None
        return time_left_reason(check[1], check[0])

    def _propose(self, trial: optuna.Trial, study: optuna.Study | None = None) -> tuple[Proposal, str]:
        keys: list[str] = []  # the key, computed once, written with the proposal's attributes

        def key_attrs(spec: WRNSpec) -> dict[str, Any]:
            keys.append(trial_key(self.space, spec))
            return {Attr.KEY: keys[0], Attr.SPEC: spec.to_dict()}

        proposal = propose(study or self.study, trial, self.space, key_attrs, self.dists)
        return proposal, keys[0]

    def _launch(self, trial_id: str, trial: optuna.Trial, proposal: Proposal, key: str) -> dict[str, Any]:
        """Hand the trial to Tune: it waits for a node's resources until :meth:`started`."""
        self.live[trial_id] = _InFlight(trial, proposal, key)
        self.leaders[key] = trial_id
        self.launched += 1
        self._waiting_changed(+1)
        return {"spec": proposal.spec.to_dict(), "key": key, "number": trial.number}

    def started(self, trial_id: str) -> None:
        """Tune started the trial's trainable on a node: from now on it runs (a retry is no new start)."""
        with self.lock:
            flight = self.live.get(trial_id)
            if flight is None or flight.started is not None:
                return
            flight.started = time.monotonic()
            self._waiting_changed(-1)
            self.progress.count(Outcome.RUNNING)
            number, spec = flight.trial.number, flight.proposal.spec
            self.tracker.trial_started(number, spec.name, spec.to_dict())
            self._event("start", number=number, arch=spec.name, params=flight.proposal.cost.params,
                        epochs=self.space.train.epochs, waited_s=round(flight.started - flight.handed, 1))

    def _waiting_changed(self, by: int) -> None:
        p = self.progress
        p.waiting_resources += by
        waiting = [f.handed for f in self.live.values() if f.started is None]
        p.waiting_since = min(waiting) if waiting else None

    def _ended(self, flight: _InFlight) -> None:
        """A trial in flight is over: it no longer runs, or no longer waits."""
        if flight.started is None:
            self._waiting_changed(-1)
        else:
            self.progress.count(Outcome.RUNNING, -1)

    def _has_waiting(self) -> bool:
        return bool(self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))

    def _finish(self, reason: str) -> Any:
        if self.stop_reason is None:
            self.stop_reason = reason
            log.info("no more trials: %s", reason)
        return Searcher.FINISHED

    def _copy(self, trial: optuna.Trial, source: Result) -> None:
        tell_copy(self.study, trial, source)
        self.progress.count(Outcome.REUSED)
        self._event(Outcome.REUSED, number=trial.number, arch=source.user_attrs.get(Attr.ARCH),
                    reused_from=source.number)

    # -- outcomes -------------------------------------------------------------------------------

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        flight = self.live.get(trial_id)
        if flight is not None and not result.get("final"):
            with self.lock:  # the learning curve grows in the study as the trial trains
                flight.reported.update(report_epochs(self.study, flight.trial,
                                                     {result.get("epoch", 0): result.get("val_error")}))
            self.tracker.epochs(flight.trial.number, [result])
            self._event("epoch", number=flight.trial.number, arch=flight.proposal.spec.name,
                        epoch=result.get("epoch"), val_error=result.get("val_error"))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        with self.lock:
            flight = self.live.pop(trial_id, None)
            if flight is None:
                return
            self.leaders.pop(flight.key, None)
            self._ended(flight)
            if result and not result.get("final"):  # the report a scheduler stopped it on: Tune sends it here only
                self.tracker.epochs(flight.trial.number, [result])
            told = self._tell(flight, self._record(flight, result, error))
            reusable = told.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
            if reusable:
                self.results[flight.key] = told
            for follower in self.followers.pop(flight.key, []):
                if reusable:
                    self._copy(follower, told)
                else:  # the leader failed: the follower is no result either
                    tell_leader_failed(self.study, follower, told.number)

    @staticmethod
    def _record(flight: _InFlight, result: dict[str, Any] | None, error: bool) -> TrialRecord:
        if result and result.get("final") and "record" in result:
            return TrialRecord.from_json(result["record"])
        if error:
            return lost_worker_record(flight.proposal.spec.name)
        return stopped_record(flight.proposal.spec.name, result)  # ASHA, or the search's time budget

    def _tell(self, flight: _InFlight, record: TrialRecord) -> Result:
        # the epochs no report carried: the last (sent with the record), those before a restart
        curve = record.curve or ([{"epoch": record.epochs, "val_error": record.val_error}]  # stopped: its last
                                 if record.status.stopped_early and record.epochs else [])
        missing = {e["epoch"]: e.get("val_error") for e in curve if e.get("epoch") not in flight.reported}
        report_epochs(self.study, flight.trial, missing)
        told = tell_record(self.study, flight.trial, record, list(self.space.objectives), flight.proposal)
        number, arch = flight.trial.number, flight.proposal.spec.name
        self.tracker.trial_ended(number, record)
        if record.status != Status.SETUP_FAILED:
            self.setup_streak.add(None)
        if record.status == Status.COMPLETE:
            began = flight.started if flight.started is not None else flight.handed
            self.finished_costs.append((float(flight.proposal.cost.macs), time.monotonic() - began))
            self.progress.count(Outcome.DONE)
            error = record.val_error if record.val_error is not None else record.test_error  # retrain: test
            self.progress.add_result(list(told.values or ()), float(error))
            self._event(Outcome.DONE, number=number, arch=arch, val_error=record.val_error,
                        test_error=record.test_error, latency_ms=record.latency_ms,
                        latency_infer_ms=record.latency_infer_ms)
        elif record.status == Status.SETUP_FAILED:
            self.launched -= 1  # not trained: its place in budget.max_trials is free again
            self.progress.count(Outcome.SETUP_FAILED)
            # told to the live view as failed, with its status
            self._event(Outcome.FAILED, number=number, arch=arch, status=record.status.value, reason=record.reason)
            if self.setup_streak.add(record.reason or record.status.value) and self.setup_error is None:
                where = f"{record.node} ({record.node_ip})" if record.node else None
                self.setup_error = setup_stop_reason(self.setup_streak.count, self.setup_streak.reason or "", where)
                log.warning("%s", self.setup_error)
        elif record.status.stopped_early:
            self.progress.count(Outcome.PRUNED)
            self._event(record.status.value, number=number, arch=arch, epochs=record.epochs, reason=record.reason)
        else:
            self.progress.count(Outcome.FAILED)
            self._event(Outcome.FAILED, number=number, arch=arch, status=record.status.value, reason=record.reason)
        return told

    def _event(self, kind: str, **data: Any) -> None:
        kind = str(kind)
        self.progress.last_event = f"{kind} {data.get('arch', '')}".strip()
        if self.on_event is not None:
            self.on_event(kind, data, self.progress)

    # -- the end of a run -----------------------------------------------------------------------

    def finish_stragglers(self, reason: str) -> None:
        """Trials Tune never completed (time budget): pruned with the reason; their followers fail."""
        with self.lock:
            for trial_id, flight in list(self.live.items()):
                tell_stopped(self.study, flight.trial, reason)
                self.tracker.trial_ended(flight.trial.number, TrialRecord(name=flight.proposal.spec.name,
                                                                          status=Status.PRUNED, reason=reason))
                self.live.pop(trial_id)
                self._ended(flight)
                self.progress.count(Outcome.PRUNED)
            for followers in self.followers.values():
                for follower in followers:
                    tell(self.study, follower, state=optuna.trial.TrialState.FAIL)
            self.followers.clear()

    def forget_in_flight(self) -> None:
        """Forget the trials in flight and the proposals waiting on them (they stay RUNNING
        in the study, for reconcile_running to mark interrupted and queue again)."""
        with self.lock:
            self.followers.clear()
            flights = list(self.live.values())
            self.live.clear()
            for flight in flights:
                self._ended(flight)

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        # Tune pickles its searcher for its own restore, which we never use: the study is the
        # state (and holds a database engine, locks and callbacks that cannot be pickled).
        return (_not_restorable, ())

    def save(self, checkpoint_path: str) -> None:  # the study is the state
        pass

    def restore(self, checkpoint_path: str) -> None:
        pass
