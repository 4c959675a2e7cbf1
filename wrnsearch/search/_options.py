"""How a search is asked for (:class:`RunOptions`) and what it tells while it runs (:class:`RunProgress`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wrnsearch.pareto import non_dominated_mask
from wrnsearch.study import Outcome

if TYPE_CHECKING:
    from wrnsearch.search._events import Event


@dataclass(frozen=True)
class RunOptions:
    """How to run a space: where, on what, with which overrides."""

    name: str | None = None  # default: the space's name
    runs_dir: Path = Path("runs")
    run_dir: Path | None = None  # overrides runs_dir/name (used by resume)
    storage: str | None = None  # Optuna storage URL; default the run directory's study.db (study.journal on NFS)
    address: str | None = None  # Ray cluster address; None starts a local Ray
    data_root: str | None = None
    overrides: tuple[str, ...] = ()
    num_cpus: int | None = None  # for a local Ray; default all cores
    preflight_data: bool = True  # check the data set is there before starting (local runs)
    measure_alone: bool = True  # time the front's latencies alone when the search ends (_exclusive_latency)
    figure_interval_s: float = 15.0  # the dashboard's figures are redrawn at most this often
    warm_start: Path | None = None  # another run whose results are copied in first (_warm_start)
    plan: bool = True  # the search forecast in one line at its start (wrnsearch.plan)


# the outcomes the live view counts, in its order
COUNTED = (Outcome.DONE, Outcome.RUNNING, Outcome.PRUNED, Outcome.FAILED, Outcome.INFEASIBLE, Outcome.REUSED,
           Outcome.COPIED, Outcome.SETUP_FAILED)


@dataclass
class RunProgress:
    """Counts the live view shows; updated by the searcher in the driver."""

    started: float = field(default_factory=time.monotonic)
    time_budget_s: float | None = None
    max_trials: int = 0
    done: int = 0
    running: int = 0
    pruned: int = 0
    failed: int = 0
    infeasible: int = 0
    reused: int = 0
    copied: int = 0  # another run's results (--warm-start): not trained here, not counted in max_trials
    setup_failed: int = 0  # failed before their first epoch (data, import, device, storage): not trained
    # handed to Ray Tune, whose trainable has not started on a node yet (Tune holds them until one
    # has the resources): not running; since when the oldest has waited, and what for
    waiting_resources: int = 0
    waiting_since: float | None = None
    waiting_for: str = ""
    front_size: int = 0
    best_error: float | None = None
    finished_before: int = 0  # trained trials found in the study at start (resume)
    last_event: str = ""
    # (objective values, validation error) of the front's candidates
    results: list[tuple[list[float], float]] = field(default_factory=list)

    @property
    def trained(self) -> int:
        return self.done + self.pruned + self.failed

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def count(self, outcome: Outcome, by: int = 1) -> None:
        """One more (or ``by`` more) trial with this outcome."""
        setattr(self, outcome.value, getattr(self, outcome.value) + by)

    def add_result(self, values: list[float], val_error: float) -> None:
        """A trial that may be on the front: front size and best error, from memory (no study read)."""
        self.results.append((values, val_error))
        mask = non_dominated_mask([v for v, _ in self.results])
        self.front_size = int(mask.sum())
        self.best_error = min(error for _, error in self.results)

    @property
    def waited_s(self) -> float | None:
        """Seconds the oldest trial handed to Tune has waited for a node (None: none waits)."""
        return None if self.waiting_since is None else time.monotonic() - self.waiting_since

    def to_dict(self) -> dict[str, Any]:
        waited = self.waited_s
        return {
            "elapsed_s": round(self.elapsed_s, 1), "time_budget_s": self.time_budget_s, "max_trials": self.max_trials,
            **{o.value: getattr(self, o.value) for o in COUNTED}, "waiting_resources": self.waiting_resources,
            "waited_s": None if waited is None else round(waited, 1), "front_size": self.front_size,
            "best_error": self.best_error,
        }


# what the driver calls with each event of the run (:mod:`wrnsearch.search._events`) and the counts
EventCallback = Callable[["Event", RunProgress], None]


@dataclass
class RunResult:
    run_dir: Path
    storage: str
    study_name: str
    progress: RunProgress
    stop_reason: str | None
    reconciled: list[int]
