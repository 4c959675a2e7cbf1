"""What a running search shows: a live panel in a terminal, plain lines off one (a job log, ``| tee``,
``nohup``), JSON lines in quiet mode (``--quiet``)."""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from wrnsearch.record import Attr
from wrnsearch.search import (
    COUNTED,
    EVALUATING,
    PROGRESS_DIR,
    STARTING,
    TRIAL_ENDS,
    EpochReported,
    Event,
    Noted,
    PhaseStarted,
    Planned,
    RunEnded,
    RunProgress,
    RunStarted,
    TimedAlone,
    TrialDone,
    TrialFailed,
    TrialInfeasible,
    TrialReused,
    TrialStarted,
    TrialStopped,
    WarmStarted,
    fraction_done,
    read_progress,
    trial_eta_s,
)
from wrnsearch.study import Outcome
from wrnsearch.units import format_seconds

PROGRESS_EVERY_S = 30.0  # off a terminal: a progress line at least this often while nothing else is said


def json_line(event: Event, progress: RunProgress | None = None) -> str:
    """An event as its JSON object: time, ``event`` (its kind), its fields, the running counts (when known)."""
    line = {"time": round(time.time(), 3), "event": event.kind, **event.to_dict()}
    if progress is not None:
        line["progress"] = progress.to_dict()
    return json.dumps(line, default=str)


def json_lines(event: Event, progress: RunProgress) -> None:
    """Quiet mode: one JSON object per event on stdout, with the running counts."""
    sys.stdout.write(json_line(event, progress) + "\n")
    sys.stdout.flush()


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _bar(fraction: float, width: int = 12) -> str:
    filled = int(round(fraction * width))
    return "█" * filled + "░" * (width - filled)


WAITING_SAID_AFTER_S = 10.0  # a trial waiting for a node this long is said so (shorter: its worker starting)


def counts_text(p: RunProgress) -> str:
    """Trials per outcome; those Ray Tune holds back for resources beside the running ones."""
    counts = []
    for o in COUNTED:
        counts.append(f"{o.value} {getattr(p, o.value)}")
        if o == Outcome.RUNNING and p.waiting_resources:
            counts.append(f"waiting (resources) {p.waiting_resources}")
    return f"{'  '.join(counts)}   (trained {p.trained} of {p.max_trials})"


def waiting_text(p: RunProgress) -> str | None:
    """``waiting for a node with 1 GPU and 4 CPUs (0:03:12)`` once a trial has waited a while."""
    waited = p.waited_s
    if waited is None or waited < WAITING_SAID_AFTER_S:
        return None
    return f"waiting for a node with {p.waiting_for or 'the resources a trial asks for'} ({_clock(waited)})"


def elapsed_text(p: RunProgress, phase: str | None = None) -> str:
    """Elapsed against ``budget.time``; past it, why the run is still going (``phase``: what it does)."""
    if not p.time_budget_s:
        return _clock(p.elapsed_s)
    text = f"{_clock(p.elapsed_s)} / {format_seconds(p.time_budget_s)}"
    if p.elapsed_s > p.time_budget_s:
        text += f" (budget.time reached: {phase or 'stopping the trials in flight'})"
    return text


def front_text(p: RunProgress) -> str:
    best = f"{p.best_error:.2f}%" if p.best_error is not None else "–"
    return f"{p.front_size} trial(s), best validation error {best}"


def progress_line(p: RunProgress, phase: str | None = None) -> str:
    """One line of where the search stands, for a log: counts, elapsed, front (and what a trial waits for)."""
    waiting = waiting_text(p)
    return (f"progress: {counts_text(p)}; elapsed {elapsed_text(p, phase)}; front {front_text(p)}"
            + (f"; {waiting}" if waiting else ""))


class _Running:
    """A trial the view knows to be running: from its start event, its epoch events, its progress file."""

    def __init__(self, number: int, arch: str, epochs: int | None) -> None:
        self.number, self.arch, self.epochs = number, arch, epochs
        self.started = time.monotonic()
        self.epoch: int | None = None
        self.val_error: float | None = None

    def row(self, progress_dir: Path | None) -> tuple[list[str], float | None]:
        """Its cells (trial, progress, speed, validation error, ETA) and its seconds left, if known."""
        file = read_progress(progress_dir, self.number) if progress_dir is not None else None
        val = file.get("val_error") if file and file.get("val_error") is not None else self.val_error
        val_text = f"val {val:.1f}%" if isinstance(val, (int, float)) else ""
        if file is None or file.get("phase") == STARTING:
            epochs = file.get("epochs") if file else self.epochs
            what = (f"epoch {self.epoch}/{epochs or '?'}" if self.epoch else
                    "starting: data, latency timing" if file else "starting")
            return [f"#{self.number} {self.arch}", what, "", val_text, ""], None
        done = fraction_done(file) or 0.0
        eta = trial_eta_s(file)
        speed = f"{file['images_per_s']:,.0f} img/s" if file.get("images_per_s") else ""
        if file.get("phase") == EVALUATING:
            where = f"epoch {file['epoch']}/{file['epochs']} {_bar(1.0)} evaluating"
            eta = 0.0
        else:
            where = f"epoch {file['epoch']}/{file['epochs']} {_bar(done)} {done:4.0%}"
        return [f"#{self.number} {self.arch}", where, speed, val_text,
                f"ETA {_clock(eta)}" if eta is not None else ""], eta


class LiveView:
    """A rich Live panel: counts per outcome, elapsed and the search's ETA against the budget,
    front size, best error, each running trial's progress within its epoch, the last events."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.events: deque[str] = deque(maxlen=8)
        self.progress: RunProgress | None = None
        self.header = ""
        self.progress_dir: Path | None = None
        self.running: dict[int, _Running] = {}
        self.durations: list[float] = []  # seconds of each trial trained to its end in this run
        self.concurrency = 1  # the most trials seen running at once
        self.phase: str | None = None  # what the run does once its trials are over (the "phase" event)
        self.plan: str | None = None  # the forecast's line (the "plan" event), kept on the panel
        self.live = Live(self._render(), console=self.console, refresh_per_second=2, get_renderable=self._render)
        self.started = False

    def __enter__(self) -> LiveView:
        return self  # the panel appears with the run's first event: bad input prints only its error

    def __exit__(self, *exc: Any) -> None:
        if self.started:
            self.live.__exit__(*exc)

    def on_event(self, event: Event, progress: RunProgress) -> None:
        if not self.started:
            self.live.__enter__()
            self.started = True
        self.progress = progress
        self._track(event)
        line = event_line(event)
        if line and not isinstance(event, Planned):  # the plan keeps a row of its own
            self.events.append(line)
        self.live.refresh()

    def _track(self, event: Event) -> None:
        if isinstance(event, PhaseStarted):
            self.phase = event.phase
        elif isinstance(event, Planned):
            self.plan = event.line
        elif isinstance(event, RunStarted):
            self.header = f"run {event.run_dir}  study {event.storage}"
            self.progress_dir = Path(event.run_dir) / PROGRESS_DIR
        elif isinstance(event, TrialStarted):
            self.running[event.number] = _Running(event.number, str(event.arch), event.epochs)
            self.concurrency = max(self.concurrency, len(self.running))
        elif isinstance(event, EpochReported) and event.number in self.running:
            self.running[event.number].epoch, self.running[event.number].val_error = event.epoch, event.val_error
        elif isinstance(event, TRIAL_ENDS) and event.number in self.running:
            trial = self.running.pop(event.number)
            if isinstance(event, TrialDone):
                self.durations.append(time.monotonic() - trial.started)
        elif isinstance(event, RunEnded):
            self.running.clear()

    def search_eta_s(self, trial_etas: dict[int, float | None]) -> float | None:
        """Seconds until the search ends: the running trials' ends, then the trials left in rounds of
        the concurrency seen, each as long as this run's trials so far took; capped by the budget."""
        p = self.progress
        if p is None or not self.durations:
            return None
        mean = sum(self.durations) / len(self.durations)
        now = time.monotonic()
        left = [trial_etas.get(n) if trial_etas.get(n) is not None else max(0.0, mean - (now - t.started))
                for n, t in self.running.items()]
        remaining = max(0, p.max_trials - p.trained - p.running)  # trained: this run's and those before
        eta = max(left, default=0.0) + math.ceil(remaining / self.concurrency) * mean
        if p.time_budget_s:
            eta = min(eta, max(0.0, p.time_budget_s - p.elapsed_s))
        return eta

    def _render(self) -> Panel:
        p = self.progress
        table = Table.grid(padding=(0, 2))
        if p is None:
            return Panel("starting…", title="wrnsearch")
        rows = {n: self.running[n].row(self.progress_dir) for n in sorted(self.running)}
        eta = self.search_eta_s({n: left for n, (_, left) in rows.items()})
        if self.plan:
            table.add_row("plan", self.plan.removeprefix("plan: "))
        table.add_row("trials", counts_text(p))
        within = p.elapsed_s <= (p.time_budget_s or math.inf)
        table.add_row("elapsed", elapsed_text(p, self.phase) + (f"   search ETA ~{_clock(eta)}" if eta is not None
                                                                and within else ""))
        table.add_row("front", front_text(p))
        if (waiting := waiting_text(p)) is not None:
            table.add_row("resources", waiting)
        trials = Table.grid(padding=(0, 2))
        for cells, _ in rows.values():
            trials.add_row(*cells)
        return Panel(Group(table, trials, *self.events), title="wrnsearch run", subtitle=self.header)


class PlainView:
    """Off a terminal: a line per event on stdout as it happens (timestamped, flushed), a progress
    line after each trial that ends and at least every ``every_s`` seconds while nothing else is said,
    so that a job log shows the search as it goes (rich's live panel would print once, at the end)."""

    def __init__(self, stream: Any = None, every_s: float = PROGRESS_EVERY_S) -> None:
        self.stream = stream or sys.stdout
        self.every_s = every_s
        self.progress: RunProgress | None = None
        self.phase: str | None = None
        self.lock = threading.Lock()
        self.last_line = time.monotonic()
        self.stopping = threading.Event()
        self.ticker: threading.Thread | None = None

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        if self.ticker is not None:
            self.ticker.join(timeout=5)

    def on_event(self, event: Event, progress: RunProgress) -> None:
        self.progress = progress
        if isinstance(event, PhaseStarted):
            self.phase = event.phase
            self._write(f"{self.phase}")
            return
        if isinstance(event, RunStarted):
            self._write(f"run {event.run_dir}  study {event.storage}")
            if self.ticker is None:
                self.ticker = threading.Thread(target=self._tick, name="wrnsearch-progress", daemon=True)
                self.ticker.start()
        line = event_line(event)
        if line:
            self._write(line)
        if isinstance(event, (*TRIAL_ENDS, RunEnded)):
            self._write(progress_line(progress, self.phase))

    def _tick(self) -> None:
        while not self.stopping.wait(min(self.every_s, 1.0)):
            if self.progress is not None and time.monotonic() - self.last_line >= self.every_s:
                self._write(progress_line(self.progress, self.phase))

    def _write(self, line: str) -> None:
        with self.lock:
            self.stream.write(f"{time.strftime('%H:%M:%S')} {line}\n")
            self.stream.flush()
            self.last_line = time.monotonic()


def warm_line(event: WarmStarted) -> str:
    """What a warm start copied and left: "warm start: copied N trials from RUN (skipped ...)"."""
    skipped = [f"{n} {why}" for n, why in ((event.outside, "outside the space"), (event.over_budget, "over budget"),
                                           (event.held, "already in this study"),
                                           (event.not_results, "not complete there")) if n]
    latency = [f"{n} {why}" for n, why in ((event.retimed, "latencies timed again on this device"),
                                           (event.latency_left_out, "latencies from another device left out")) if n]
    return (f"warm start: copied {event.copied} trial(s) from {event.source}"
            + (f" (skipped {', '.join(skipped)})" if skipped else "") + "".join(f"; {x}" for x in latency))


def event_line(event: Event) -> str | None:
    """The line for one event of the search, on the panel and in a job log (None: not listed)."""
    match event:
        case RunStarted(resumed=False):
            return None
        case RunStarted():
            queued = f", {len(event.reconciled)} interrupted trial(s) queued again" if event.reconciled else ""
            return (f"resumed: {event.found} trial(s) found in the study, {event.trained_before} of them "
                    f"trained{queued}")
        case TrialStarted():
            waited = event.waited_s or 0.0
            after = f", after {_clock(waited)} waiting for resources" if waited >= WAITING_SAID_AFTER_S else ""
            return f"{_trial(event)} started ({event.params:,} params{after})"
        case TrialDone(val_error=None):  # a retrain without validation images
            return f"{_trial(event)} done: test error {event.test_error:.2f}%, latency {event.latency_ms:.1f} ms"
        case TrialDone():
            return f"{_trial(event)} done: val error {event.val_error:.2f}%, latency {event.latency_ms:.1f} ms"
        case TrialStopped() | TrialFailed() | TrialInfeasible():
            return f"{_trial(event)} {event.kind}: {event.reason or ''}"
        case TrialReused():
            return f"{_trial(event)} already trained (trial {event.reused_from}): result reused"
        case WarmStarted():
            return warm_line(event)
        case Planned():
            return event.line
        case Noted():
            return f"note: {event.note}"
        case TimedAlone():
            return (f"{event.arch} timed alone: latency {event.figures[Attr.LATENCY_MS]:.1f} ms, inference "
                    f"{event.figures[Attr.LATENCY_INFER_MS]:.2f} ms")
        case RunEnded():
            return f"finished: {event.reason}"
    return None


def _trial(event: TrialDone | TrialStarted | TrialStopped | TrialFailed | TrialInfeasible | TrialReused) -> str:
    return f"#{event.number} {event.arch}"
