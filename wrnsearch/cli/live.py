"""The terminal view of a running search: a live panel, or JSON lines in quiet mode (``--quiet``)."""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from wrnsearch.record import Attr, Status
from wrnsearch.search import RunProgress
from wrnsearch.search.options import COUNTED
from wrnsearch.study import Outcome
from wrnsearch.units import format_seconds


def json_lines(kind: str, data: dict[str, Any], progress: RunProgress) -> None:
    """Quiet mode: one JSON object per event on stdout, with the running counts."""
    sys.stdout.write(json.dumps({"time": round(time.time(), 3), "event": kind, **data, "progress": progress.to_dict()},
                                default=str) + "\n")
    sys.stdout.flush()


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class LiveView:
    """A rich Live panel: counts per outcome, elapsed against the budget, front size, best error."""

    def __init__(self) -> None:
        self.console = Console(stderr=True)
        self.events: deque[str] = deque(maxlen=8)
        self.progress: RunProgress | None = None
        self.header = ""
        self.live = Live(self._render(), console=self.console, refresh_per_second=2, get_renderable=self._render)
        self.started = False

    def __enter__(self) -> LiveView:
        return self  # the panel appears with the run's first event: bad input prints only its error

    def __exit__(self, *exc: Any) -> None:
        if self.started:
            self.live.__exit__(*exc)

    def on_event(self, kind: str, data: dict[str, Any], progress: RunProgress) -> None:
        if not self.started:
            self.live.__enter__()
            self.started = True
        self.progress = progress
        if kind == "run":
            self.header = f"run {data['run_dir']}  study {data['storage']}"
        line = _event_line(kind, data)
        if line:
            self.events.append(line)
        self.live.refresh()

    def _render(self) -> Panel:
        p = self.progress
        table = Table.grid(padding=(0, 2))
        if p is None:
            return Panel("starting…", title="wrnsearch")
        budget = f" / {format_seconds(p.time_budget_s)}" if p.time_budget_s else ""
        counts = "  ".join(f"{o.value} {getattr(p, o.value)}" for o in COUNTED)
        table.add_row("trials", f"{counts}   (trained {p.trained} of {p.max_trials})")
        table.add_row("elapsed", f"{_clock(p.elapsed_s)}{budget}")
        best = f"{p.best_error:.2f}%" if p.best_error is not None else "–"
        table.add_row("front", f"{p.front_size} trial(s), best validation error {best}")
        return Panel(Group(table, *self.events), title="wrnsearch run", subtitle=self.header)


def warm_line(data: dict[str, Any]) -> str:
    """What a warm start copied and left: "warm start: copied N trials from RUN (skipped ...)"."""
    skipped = [f"{data[k]} {why}" for k, why in (("outside", "outside the space"), ("over_budget", "over budget"),
                                                 ("held", "already in this study"),
                                                 ("not_results", "not complete there")) if data.get(k)]
    latency = [f"{data[k]} {why}" for k, why in (("retimed", "latencies timed again on this device"),
                                                 ("latency_left_out", "latencies from another device left out"))
               if data.get(k)]
    return (f"warm start: copied {data['copied']} trial(s) from {data['source']}"
            + (f" (skipped {', '.join(skipped)})" if skipped else "") + "".join(f"; {x}" for x in latency))


def _event_line(kind: str, data: dict[str, Any]) -> str | None:
    """The panel's line for one event of the search (None for events it does not list)."""
    trial = f"#{data.get('number')} {data.get(Attr.ARCH)}"
    if kind == "run":
        if not data.get("resumed"):
            return None
        return (f"resumed: {data['trained_before']} trained trial(s) found, "
                f"{len(data['reconciled'])} interrupted trial(s) queued again")
    if kind == "start":
        return f"{trial} started ({data[Attr.PARAMS]:,} params)"
    if kind == Outcome.DONE:
        if data.get(Attr.VAL_ERROR) is None:  # a retrain without validation images
            return f"{trial} done: test error {data[Attr.TEST_ERROR]:.2f}%, latency {data[Attr.LATENCY_MS]:.1f} ms"
        return f"{trial} done: val error {data[Attr.VAL_ERROR]:.2f}%, latency {data[Attr.LATENCY_MS]:.1f} ms"
    if kind in (Outcome.PRUNED, Status.TRUNCATED, Outcome.FAILED, Outcome.INFEASIBLE):
        return f"{trial} {kind}: {data.get('reason') or ''}"
    if kind == Outcome.REUSED:
        return f"{trial} already trained (trial {data[Attr.REUSED_FROM]}): result reused"
    if kind == "warm":
        return warm_line(data)
    if kind == "alone":
        return (f"{data[Attr.ARCH]} timed alone: latency {data[Attr.LATENCY_MS]:.1f} ms, inference "
                f"{data[Attr.LATENCY_INFER_MS]:.2f} ms")
    if kind == "end":
        return f"finished: {data['reason']}"
    return None
