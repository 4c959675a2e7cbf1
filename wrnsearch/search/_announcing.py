"""What the searcher tells while it runs: the live counts, the typed events, the tracking mirror.

:class:`Announcer` owns the run's :class:`~wrnsearch.search._options.RunProgress` as the searcher
updates it (outcomes counted, trials waiting for a node), passes each
:class:`~wrnsearch.search._events.Event` to the run's callback (the live view, plain lines or
JSON lines), and copies trials' starts, curves and ends to TensorBoard and MLflow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wrnsearch.record import TrialRecord
from wrnsearch.search._events import Event, TrialEvent
from wrnsearch.search._options import EventCallback, RunProgress
from wrnsearch.study import Outcome
from wrnsearch.tracking import Tracker


class Announcer:
    """Counts, events and the tracking mirror of one run."""

    def __init__(self, progress: RunProgress, on_event: EventCallback | None, tracker: Tracker | None = None) -> None:
        self.progress, self.on_event = progress, on_event
        self.tracker = tracker or Tracker()

    def say(self, event: Event, outcome: Outcome | None = None) -> None:
        """``event`` to the run's callback, after counting ``outcome`` (when the event is one)."""
        if outcome is not None:
            self.progress.count(outcome)
        arch = event.arch if isinstance(event, TrialEvent) else ""
        self.progress.last_event = f"{event.kind} {arch}".strip()
        if self.on_event is not None:
            self.on_event(event, self.progress)

    def count(self, outcome: Outcome, by: int = 1) -> None:
        """An outcome counted with nothing to say (a trial stopped as the run ends, one running)."""
        self.progress.count(outcome, by)

    def waiting(self, handed: Iterable[float], by: int) -> None:
        """``by`` more (or fewer) trials wait for a node; ``handed``: when each still waiting was handed to Tune."""
        self.progress.waiting_resources += by
        handed = list(handed)
        self.progress.waiting_since = min(handed) if handed else None

    def result(self, values: Iterable[float], error: float) -> None:
        """A trained trial that may be on the front (its objective values, its error)."""
        self.progress.add_result(list(values), error)

    # -- the tracking mirror --------------------------------------------------------------------

    def trial_started(self, number: int, arch: str, spec: dict[str, Any]) -> None:
        self.tracker.trial_started(number, arch, spec)

    def epochs(self, number: int, reports: list[dict[str, Any]]) -> None:
        self.tracker.epochs(number, reports)

    def trial_ended(self, number: int, record: TrialRecord) -> None:
        self.tracker.trial_ended(number, record)
