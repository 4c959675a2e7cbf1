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

:class:`StudySearcher` is Tune's side of it: the trials in flight, the stop rules, the setup-failure
streak. Its jobs have one owner each: what to train next (:mod:`wrnsearch.search._proposals`),
telling the study (:mod:`wrnsearch.search._telling`), the counts, typed events and tracking
mirror (:mod:`wrnsearch.search._announcing`).

It runs in the driver, which alone writes the study. Importing this module imports Ray.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import optuna
from ray.tune.search import Searcher

from wrnsearch.record import Attr, Status, TrialRecord
from wrnsearch.samplers import Proposal
from wrnsearch.search._announcing import Announcer
from wrnsearch.search._events import (
    EpochReported,
    TrialDone,
    TrialFailed,
    TrialInfeasible,
    TrialReused,
    TrialStarted,
    TrialStopped,
)
from wrnsearch.search._options import EventCallback, RunProgress
from wrnsearch.search._proposals import Asked, Decision, Proposals
from wrnsearch.search._stop_decisions import (
    FREE_PROPOSALS_REASON,
    MAX_FREE_PROPOSALS,
    SetupStreak,
    setup_stop_reason,
    stop_proposing,
)
from wrnsearch.search._telling import Teller, record_of
from wrnsearch.space import Space
from wrnsearch.study import Outcome, Result
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
        self.space, self.study, self.progress = space, study, progress
        self.proposals = Proposals(space, study)
        self.teller = Teller(space, study)
        self.announcer = Announcer(progress, on_event, tracker)
        self.allowed = allowed
        self.room = room  # trials the cluster hosts at once: more are handed to Tune only as they start
        self.launched = 0
        self.live: dict[str, _InFlight] = {}  # tune trial id -> the trial it trains
        self.stop_reason: str | None = None
        self.setup_streak = SetupStreak()
        self.setup_error: str | None = None  # the search stopped on a broken setup: why, in one line
        self.lock = threading.Lock()

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
        proposals = self.proposals
        for _ in range(MAX_FREE_PROPOSALS):
            reason = stop_proposing(
                launched=self.launched, allowed=self.allowed, max_trials=self.progress.max_trials,
                elapsed_s=self.progress.elapsed_s, time_budget_s=self.space.budget.time, tried=len(proposals.tried),
                space_total=proposals.space_total, waiting=proposals.exhausted and proposals.has_waiting(),
                trial_s=proposals.shortest_s(),
            )
            if reason:
                if self.launched >= self.allowed and any(not f.reported for f in self.live.values()):
                    return None  # a trial in flight may still fail in its setup and give its place back
                return self._finish(reason)
            asked = proposals.next(self.progress.elapsed_s)
            if isinstance(asked, str):  # nothing untried fits the time left: nothing was stored
                return self._finish(asked)
            if asked.decision == Decision.INFEASIBLE:
                self.teller.infeasible(asked.trial, asked.proposal)
                self.announcer.say(TrialInfeasible(asked.trial.number, asked.proposal.spec.name,
                                                   "; ".join(asked.proposal.violations)), Outcome.INFEASIBLE)
            elif asked.decision == Decision.REUSE and asked.source is not None:
                self._copy(asked.trial, asked.source)
            elif asked.decision == Decision.TRAIN:
                return self._launch(trial_id, asked)
        return self._finish(FREE_PROPOSALS_REASON)

    def _launch(self, trial_id: str, asked: Asked) -> dict[str, Any]:
        """Hand the trial to Tune: it waits for a node's resources until :meth:`started`."""
        trial, proposal = asked.trial, asked.proposal
        if asked.time_check is not None:
            predicted, left = asked.time_check
            trial.set_user_attr(Attr.PREDICTED_S, predicted)
            trial.set_user_attr(Attr.TIME_LEFT_S, round(left, 1))
        self.live[trial_id] = _InFlight(trial, proposal, asked.key)
        self.proposals.leading(asked.key, trial_id)
        self.launched += 1
        self._waiting_changed(+1)
        return {"spec": proposal.spec.to_dict(), "key": asked.key, "number": trial.number}

    def started(self, trial_id: str) -> None:
        """Tune started the trial's trainable on a node: from now on it runs (a retry is no new start)."""
        with self.lock:
            flight = self.live.get(trial_id)
            if flight is None or flight.started is not None:
                return
            flight.started = time.monotonic()
            self._waiting_changed(-1)
            number, spec = flight.trial.number, flight.proposal.spec
            self.announcer.trial_started(number, spec.name, spec.to_dict())
            self.announcer.say(TrialStarted(number, spec.name, flight.proposal.cost.params, self.space.train.epochs,
                                            round(flight.started - flight.handed, 1)), Outcome.RUNNING)

    def _waiting_changed(self, by: int) -> None:
        self.announcer.waiting([f.handed for f in self.live.values() if f.started is None], by)

    def _ended(self, flight: _InFlight) -> None:
        """A trial in flight is over: it no longer runs, or no longer waits."""
        if flight.started is None:
            self._waiting_changed(-1)
        else:
            self.announcer.count(Outcome.RUNNING, -1)

    def _finish(self, reason: str) -> Any:
        if self.stop_reason is None:
            self.stop_reason = reason
            log.info("no more trials: %s", reason)
        return Searcher.FINISHED

    def _copy(self, trial: optuna.Trial, source: Result) -> None:
        self.teller.copy(trial, source)
        self.announcer.say(TrialReused(trial.number, source.user_attrs.get(Attr.ARCH), source.number), Outcome.REUSED)

    # -- outcomes -------------------------------------------------------------------------------

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        flight = self.live.get(trial_id)
        if flight is not None and not result.get("final"):
            with self.lock:  # the learning curve grows in the study as the trial trains
                flight.reported.update(self.teller.epochs(flight.trial, {result.get("epoch", 0):
                                                                         result.get("val_error")}))
            self.announcer.epochs(flight.trial.number, [result])
            self.announcer.say(EpochReported(flight.trial.number, flight.proposal.spec.name, result.get("epoch"),
                                             result.get("val_error")))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        with self.lock:
            flight = self.live.pop(trial_id, None)
            if flight is None:
                return
            self._ended(flight)
            if result and not result.get("final"):  # the report a scheduler stopped it on: Tune sends it here only
                self.announcer.epochs(flight.trial.number, [result])
            told = self._tell(flight, record_of(flight.proposal.spec.name, result, error))
            for follower, copied in self.teller.followed(self.proposals.ended(flight.key, told), told):
                if copied is not None:
                    self.announcer.say(TrialReused(follower.number, told.user_attrs.get(Attr.ARCH), told.number),
                                       Outcome.REUSED)

    def _tell(self, flight: _InFlight, record: TrialRecord) -> Result:
        told = self.teller.trained(flight.trial, flight.proposal, record, flight.reported)
        number, arch, outcome = flight.trial.number, flight.proposal.spec.name, told.outcome
        self.announcer.trial_ended(number, record)
        if outcome != Outcome.SETUP_FAILED:
            self.setup_streak.add(None)
        if outcome == Outcome.DONE:
            began = flight.started if flight.started is not None else flight.handed
            self.proposals.finished(float(flight.proposal.cost.macs), time.monotonic() - began)
            error = record.val_error if record.val_error is not None else record.test_error  # retrain: test
            self.announcer.result(told.values or (), float(error))
            self.announcer.say(TrialDone(number, arch, record.val_error, record.test_error, record.latency_ms,
                                         record.latency_infer_ms), outcome)
        elif outcome == Outcome.PRUNED:  # stopped early: pruned or truncated, as the event says
            self.announcer.say(TrialStopped(number, arch, record.status.value, record.epochs, record.reason), outcome)
        else:  # failed, or failed in its setup (told to the live view as failed, with its status)
            self.announcer.say(TrialFailed(number, arch, record.status.value, record.reason), outcome)
        if outcome == Outcome.SETUP_FAILED:
            self.launched -= 1  # not trained: its place in budget.max_trials is free again
            if self.setup_streak.add(record.reason or record.status.value) and self.setup_error is None:
                where = f"{record.node} ({record.node_ip})" if record.node else None
                self.setup_error = setup_stop_reason(self.setup_streak.count, self.setup_streak.reason or "", where)
                log.warning("%s", self.setup_error)
        return told

    # -- the end of a run -----------------------------------------------------------------------

    def finish_stragglers(self, reason: str) -> None:
        """Trials Tune never completed (time budget): pruned with the reason; their followers fail."""
        with self.lock:
            for trial_id, flight in list(self.live.items()):
                self.teller.stopped(flight.trial, reason)
                self.announcer.trial_ended(flight.trial.number, TrialRecord(name=flight.proposal.spec.name,
                                                                            status=Status.PRUNED, reason=reason))
                self.live.pop(trial_id)
                self._ended(flight)
                self.announcer.count(Outcome.PRUNED)
            for follower in self.proposals.abandon_followers():
                self.teller.abandoned(follower)

    def forget_in_flight(self) -> None:
        """Forget the trials in flight and the proposals waiting on them (they stay RUNNING
        in the study, for reconcile_running to mark interrupted and queue again)."""
        with self.lock:
            self.proposals.abandon_followers()
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
