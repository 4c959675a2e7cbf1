"""What a running search tells, as typed events: one dataclass per kind.

The driver and the searcher make them; the live panel, the plain lines of a job log and the
``--quiet`` JSON lines (:mod:`wrnsearch.cli._live_view`) consume the same objects. An event's
``kind`` is the JSON line's ``"event"``, and :meth:`Event.to_dict` its other fields, in the order
they are declared (the JSON a script reads). Trial events carry ``number`` and ``arch``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from wrnsearch.study import Outcome


@dataclass(frozen=True)
class Event:
    """One thing the search tells; ``KIND`` is its name in the JSON lines."""

    KIND: ClassVar[str] = ""
    changes_study: ClassVar[bool] = True  # the dashboard's figures are redrawn after it

    @property
    def kind(self) -> str:
        return self.KIND

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class TrialEvent(Event):
    """An event about one trial of the study."""

    number: int
    arch: str


@dataclass(frozen=True)
class RunStarted(Event):
    """The run's directory and study; a resume says what it found."""

    KIND = "run"
    run_dir: str
    storage: str
    resumed: bool
    found: int
    reconciled: list[int]
    trained_before: int


@dataclass(frozen=True)
class WarmStarted(Event):
    """What ``--warm-start`` copied from another run, and why it left the rest."""

    KIND = "warm"
    source: str
    copied: int
    outside: int
    over_budget: int
    held: int
    not_results: int
    retimed: int
    latency_left_out: int


@dataclass(frozen=True)
class Planned(Event):
    """The search's forecast in one line (and, when it was made, its figures)."""

    KIND = "plan"
    changes_study = False
    line: str
    search: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, **self.search}


@dataclass(frozen=True)
class Noted(Event):
    """Something about the run the user should know (a node without the shared file system, ...)."""

    KIND = "note"
    note: str


@dataclass(frozen=True)
class TrialStarted(TrialEvent):
    """Its trainable started on a node, after ``waited_s`` waiting for one."""

    KIND = "start"
    changes_study = False
    params: int
    epochs: int
    waited_s: float


@dataclass(frozen=True)
class EpochReported(TrialEvent):
    """An epoch's validation error, now in the study's learning curve."""

    KIND = "epoch"
    epoch: int | None
    val_error: float | None


@dataclass(frozen=True)
class TrialDone(TrialEvent):
    """Trained to its end within every budget."""

    KIND = Outcome.DONE.value
    val_error: float | None
    test_error: float | None
    latency_ms: float | None
    latency_infer_ms: float | None


@dataclass(frozen=True)
class TrialStopped(TrialEvent):
    """Stopped early: pruned by the scheduler or the time budget, or truncated (its own time limit)."""

    status: str  # the record's status: "pruned" or "truncated", the event's kind
    epochs: int
    reason: str | None

    @property
    def kind(self) -> str:
        return self.status

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "arch": self.arch, "epochs": self.epochs, "reason": self.reason}


@dataclass(frozen=True)
class TrialFailed(TrialEvent):
    """Diverged, out of memory, crashed, or failed in its setup (``status`` says which)."""

    KIND = Outcome.FAILED.value
    status: str
    reason: str | None


@dataclass(frozen=True)
class TrialInfeasible(TrialEvent):
    """Over a budget: told at once, never trained."""

    KIND = Outcome.INFEASIBLE.value
    reason: str


@dataclass(frozen=True)
class TrialReused(TrialEvent):
    """The same architecture and recipe trained before: its outcome copied."""

    KIND = Outcome.REUSED.value
    reused_from: int


@dataclass(frozen=True)
class PhaseStarted(Event):
    """The trials are over and the run does something else before it ends."""

    KIND = "phase"
    changes_study = False
    phase: str


@dataclass(frozen=True)
class TimedAlone(Event):
    """A front member's latencies timed again with the device to itself."""

    KIND = "alone"
    arch: str
    figures: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, **self.figures}


@dataclass(frozen=True)
class RunEnded(Event):
    """Why the search stopped proposing (None: stopped before it began)."""

    KIND = "end"
    changes_study = False
    reason: str | None


@dataclass(frozen=True)
class OutputsWritten(Event):
    """The run's front and report, written once the search is over (the CLI's last line)."""

    KIND = "outputs"
    changes_study = False
    files: list[str]


# the events that end a trial in flight
TRIAL_ENDS = (TrialDone, TrialStopped, TrialFailed)
