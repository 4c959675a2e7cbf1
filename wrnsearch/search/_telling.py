"""Telling the study what became of each trial the searcher stored: the one writer of outcomes.

Each method writes through :mod:`wrnsearch.study`'s writers and returns what the study now holds
(a :class:`~wrnsearch.study.Result`, whose ``outcome`` is the same status-to-outcome mapping as a
stored trial's, :func:`wrnsearch.study.outcome_from`). Nothing here counts or announces.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import optuna

from wrnsearch.compat import tell
from wrnsearch.record import TrialRecord
from wrnsearch.samplers import Proposal
from wrnsearch.space import Space
from wrnsearch.study import (
    Result,
    lost_worker_record,
    report_epochs,
    stopped_record,
    tell_copy,
    tell_infeasible,
    tell_leader_failed,
    tell_record,
    tell_stopped,
)


def record_of(arch: str, result: dict[str, Any] | None, error: bool) -> TrialRecord:
    """A trial's record from Tune's last word on it: the trainable's final report, a worker lost
    too often (``error``), or the report a scheduler or the time budget stopped it on."""
    if result and result.get("final") and "record" in result:
        return TrialRecord.from_json(result["record"])
    if error:
        return lost_worker_record(arch)
    return stopped_record(arch, result)  # ASHA, or the search's time budget


class Teller:
    """Outcomes into the run's study for ``space``."""

    def __init__(self, space: Space, study: optuna.Study) -> None:
        self.space, self.study = space, study

    def infeasible(self, trial: optuna.Trial, proposal: Proposal) -> None:
        tell_infeasible(self.study, trial, self.space, proposal)

    def copy(self, trial: optuna.Trial, source: Result) -> Result:
        return tell_copy(self.study, trial, source)

    def epochs(self, trial: optuna.Trial, curve: dict[int, float | None]) -> list[int]:
        """Validation errors by epoch into the trial's learning curve; the epochs written."""
        return report_epochs(self.study, trial, curve)

    def trained(self, trial: optuna.Trial, proposal: Proposal, record: TrialRecord, reported: Iterable[int]) -> Result:
        """A trained trial's record, with the epochs no report carried (``reported``: those that did):
        its last (sent with the record), those before a restart."""
        curve = record.curve or ([{"epoch": record.epochs, "val_error": record.val_error}]  # stopped: its last
                                 if record.status.stopped_early and record.epochs else [])
        done = set(reported)
        self.epochs(trial, {e["epoch"]: e.get("val_error") for e in curve if e.get("epoch") not in done})
        return tell_record(self.study, trial, record, list(self.space.objectives), proposal)

    def followed(self, followers: Iterable[optuna.Trial], leader: Result) -> list[tuple[optuna.Trial, Result | None]]:
        """The proposals that waited on ``leader``: its outcome copied when it may be reused, else
        failed with it (None)."""
        out: list[tuple[optuna.Trial, Result | None]] = []
        for follower in followers:
            if leader.outcome.reusable:
                out.append((follower, self.copy(follower, leader)))
            else:
                tell_leader_failed(self.study, follower, leader.number)
                out.append((follower, None))
        return out

    def stopped(self, trial: optuna.Trial, reason: str) -> None:
        """A trial Tune never completed (the time budget): pruned with the reason."""
        tell_stopped(self.study, trial, reason)

    def abandoned(self, trial: optuna.Trial) -> None:
        """A proposal that waited on a trial the run stopped: no result."""
        tell(self.study, trial, state=optuna.trial.TrialState.FAIL)
