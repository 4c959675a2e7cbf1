"""``wrnsearch bench search``: the real searcher replayed on a recorded table, in simulated time.

Each method (``SAMPLER+SCHEDULER``) runs the real proposal path: the searcher of a real search
(:class:`~wrnsearch.search.StudySearcher`: the space's sampler, budgets as constraints,
de-duplication) on a real in-memory Optuna study, and the real rung decisions
(:class:`~wrnsearch.search.Rungs`: ASHA's or MO-ASHA's). Training is replaced by
look-ups in the table (:mod:`wrnsearch.bench._recording`) and a simulated clock: ``workers`` trials
at a time, each charged its recorded fixed costs at its start and each epoch its recorded
seconds. A launched trial is one that trained (fully or until stopped); over-budget and
already-trained proposals are not launched and cost nothing.

Hypervolume is measured as the field measures it: objectives as in a search (final validation
error, params, latency_ms), min-max normalized over the table's architectures (0 best, 1 worst),
reference point 1.1 in each, the same for every method; against launched trials and against
worker-seconds.

A table whose every architecture was trained with more than one seed (``bench record --repeats``
as many as the table holds) is replayed as a noisy benchmark (``truth="mean"``, the default for such
a table): hypervolume and the true front are judged on each architecture's *mean* final validation
error over its seeds, while a search sees, for each architecture it trains, the curve of one of
those seeds, drawn from the replay seed and the architecture's name (so two methods replayed with
one seed see the same draws). A search is then credited for finding the networks that are good,
not the ones one training seed flattered. ``truth="first"`` judges and shows the first seed.
"""

from __future__ import annotations

import heapq
import itertools
import statistics
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wrnsearch import sampler_registry
from wrnsearch.bench._table import OBJECTIVES, REFERENCE, Normalizer, Table, front_of, load_table
from wrnsearch.errors import RunError
from wrnsearch.pareto import hypervolume
from wrnsearch.record import Status, TrialRecord
from wrnsearch.sampler_registry import NAMES as SAMPLERS
from wrnsearch.search import Rungs, grace_epochs, rung_milestones
from wrnsearch.space import SCHEDULERS, SearchConfig, Space, space_from_data
from wrnsearch.spec import WRNSpec


@dataclass(frozen=True)
class Method:
    """A sampler and a scheduler, as ``SAMPLER+SCHEDULER`` names them."""

    sampler: str
    scheduler: str

    @property
    def name(self) -> str:
        return f"{self.sampler}+{self.scheduler}"

    @classmethod
    def parse(cls, text: str) -> Method:
        """``tpe+moasha``; ``default`` is the sampler and scheduler a space gets when it names none.

        Raises:
            RunError: for an unknown sampler or scheduler.
        """
        if text == "default":
            cfg = SearchConfig()
            return cls(cfg.sampler, cfg.scheduler)
        sampler, _, scheduler = text.partition("+")
        scheduler = scheduler or "fifo"
        searching = [name for name in SAMPLERS if not sampler_registry.get(name).exhaustive]  # grid visits all
        if sampler not in searching:
            raise RunError(f"--method {text}: unknown sampler {sampler!r} (one of {', '.join(searching)})")
        if scheduler not in SCHEDULERS:
            raise RunError(f"--method {text}: unknown scheduler {scheduler!r} (one of {', '.join(SCHEDULERS)})")
        return cls(sampler, scheduler)


def method_space(table: Table, method: Method, seed: int, overrides: Sequence[str] = ()) -> Space:
    """The table's space searched by ``method`` with ``seed`` (``--set`` overrides on top)."""
    data = {**table.space_data, "search": {"sampler": method.sampler, "scheduler": method.scheduler, "seed": seed}}
    return space_from_data(data, source=f"{table.meta['space']} table", overrides=overrides)


class _Clock:
    """Busy worker-seconds on a simulated clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.busy_s = 0.0
        self.running = 0

    def advance(self, to: float) -> None:
        self.busy_s += (to - self.now) * self.running
        self.now = to


class _Simulation:
    """A search on the table: ``workers`` trials at a time on a simulated clock, each charged its
    recorded fixed seconds at its start and each epoch its recorded seconds."""

    def __init__(self, table: Table, searcher: Any, rungs: Rungs | None, seed: int, compute_s: float | None) -> None:
        self.table, self.searcher, self.rungs, self.seed, self.compute_s = table, searcher, rungs, seed, compute_s
        self.clock = _Clock()
        self.events: list[tuple[float, int, str]] = []
        self.order = itertools.count()  # ties on the clock: first scheduled, first served
        self.launched: list[str] = []
        self.ended: list[dict[str, Any]] = []
        self.state: dict[str, dict[str, Any]] = {}

    def run(self, workers: int) -> None:
        for _ in range(workers):
            if not self.launch():
                break
        while self.events:
            when, _, tid = heapq.heappop(self.events)
            self.clock.advance(when)
            if self.epoch_ended(tid):
                self.launch()

    def launch(self) -> bool:
        """Ask the searcher for a trial and start it; False when none comes or the compute is spent."""
        if self.compute_s is not None and self.clock.busy_s >= self.compute_s:
            return False
        tid = f"t{len(self.launched)}"
        config = self.searcher.suggest(tid)
        if not isinstance(config, dict):
            return False
        self.searcher.started(tid)  # a simulated worker is always free: the trial starts at once, as Tune would
        name = WRNSpec.from_dict(config["spec"]).name
        if name not in self.table.rows:
            raise RunError(f"the table holds no {name}, which its own space proposed: record the table again")
        row = self.table.rows[name]
        self.state[tid] = {"name": name, "row": row, "seen": self.table.observed(name, self.seed), "epoch": 0}
        self.launched.append(tid)
        self.clock.running += 1
        heapq.heappush(self.events, (self.clock.now + row["fixed_s"] + row["epoch_s"][0], next(self.order), tid))
        return True

    def epoch_ended(self, tid: str) -> bool:
        """A trial's epoch ended: stop it at a rung, go on, or finish it; True when the trial ended."""
        s = self.state[tid]
        s["epoch"] += 1
        row, epoch, epochs = s["row"], s["epoch"], self.table.epochs
        error = s["seen"]["val_error"][epoch - 1]
        if epoch < epochs and self.rungs is not None and not self.rungs.decide(
                tid, epoch, [error, row["params"], row["latency_ms"]]):
            self.searcher.on_trial_complete(tid, {"epoch": epoch, "val_error": error})
            status = Status.PRUNED
        elif epoch < epochs:
            heapq.heappush(self.events, (self.clock.now + row["epoch_s"][epoch], next(self.order), tid))
            return False
        else:
            record = _record(s["name"], row, s["seen"], self.table)
            self.searcher.on_trial_complete(tid, {"final": True, "record": record.to_json()})
            status = Status.COMPLETE
        self.clock.running -= 1
        self.ended.append({"trial": tid, "arch": s["name"], "status": status.value, "epochs": epoch,
                           "val_error": error, "end_s": round(self.clock.now, 3),
                           "worker_s": round(self.clock.busy_s, 3)})
        return True


def replay(table: Table, method: Method, seed: int, *, trials: int, workers: int = 2,
           compute_s: float | None = None, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """One seeded search on the table: what it launched, when, and what it found."""
    import optuna

    from wrnsearch.samplers import make_sampler
    from wrnsearch.search import RunProgress, StudySearcher

    space = method_space(table, method, seed, overrides)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=space.directions, sampler=make_sampler(space))
    with warnings.catch_warnings():  # Optuna calls set_metric_names experimental, at every call
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(space.objectives))
    searcher = StudySearcher(space, study, RunProgress(max_trials=trials), None, allowed=trials)
    sim = _Simulation(table, searcher, _rungs(space, table.epochs), seed, compute_s)
    sim.run(workers)
    summary = _summary(table, sim.launched, sim.state, sim.ended, sim.clock)
    summary["proposed"] = len(study.trials)  # launched, and those over budget or trained before
    return summary


def _rungs(space: Space, epochs: int) -> Rungs | None:
    if space.search.scheduler == "fifo":
        return None
    cfg = space.search.asha
    milestones = rung_milestones(grace_epochs(cfg.grace_period, epochs), cfg.reduction_factor, epochs)
    return Rungs(milestones, cfg.reduction_factor, multi=space.search.scheduler == "moasha")


def _record(name: str, row: dict[str, Any], seen: dict[str, Any], table: Table) -> TrialRecord:
    return TrialRecord(name=name, status=Status.COMPLETE, params=row["params"], macs=row.get("macs"),
                       latency_ms=row["latency_ms"], device=row.get("device"), val_error=seen["val_error"][-1],
                       test_error=seen.get("test_error"), epochs=table.epochs, epochs_budget=table.epochs)


def _summary(table: Table, launched: list[str], state: dict[str, dict[str, Any]], ended: list[dict[str, Any]],
             clock: _Clock) -> dict[str, Any]:
    norm = Normalizer(table)
    complete = {e["trial"] for e in ended if e["status"] == Status.COMPLETE.value}
    hv_at_trials = {}
    for k in range(1, len(launched) + 1):
        names = [state[t]["name"] for t in launched[:k] if t in complete]
        hv_at_trials[str(k)] = round(norm.hv(table, names), 6)
    hv_at_compute, found = [], []
    for e in ended:
        if e["status"] == Status.COMPLETE.value:
            found.append(e["arch"])
        hv_at_compute.append([e["worker_s"], round(norm.hv(table, found), 6)])
    return {"hv_at_trials": hv_at_trials, "hv_at_compute": hv_at_compute, "front": front_of(table, found),
            "launched": len(launched), "stopped": sum(e["status"] == Status.PRUNED.value for e in ended),
            "worker_s": round(clock.busy_s, 3), "makespan_s": round(clock.now, 3), "trials": ended}


def hv_at(curve: Sequence[Sequence[float]], compute_s: float) -> float:
    """The hypervolume a run had reached by ``compute_s`` worker-seconds (a step function)."""
    reached = 0.0
    for worker_s, hv in curve:
        if worker_s > compute_s:
            break
        reached = hv
    return reached


def compute_budget(text: str | float | None, table: Table) -> float | None:
    """Worker-seconds from ``--compute``: seconds, or a multiple of C (``2C``), a quarter of what
    training every architecture of the table fully costs.

    Raises:
        RunError: for anything else.
    """
    if text is None:
        return None
    raw = str(text).strip()
    try:
        value = float(raw[:-1] or 1) * table.full_compute_s() / 4 if raw.upper().endswith("C") else float(raw)
    except ValueError:
        raise RunError(f"--compute {raw}: give worker-seconds (e.g. 3600) or a multiple of C (e.g. 2C)") from None
    if not value > 0:
        raise RunError(f"--compute {raw}: must be positive")
    return value


def bench_search(table_path: str | Path, methods: Sequence[str], *, seeds: int = 100, first_seed: int = 0,
                 trials: int | None = None, workers: int = 2, compute: str | float | None = None,
                 overrides: Sequence[str] = (), processes: int = 1, truth: str = "auto") -> dict[str, Any]:
    """Every method on ``seeds`` seeds; the JSON ``wrnsearch bench search --format json`` prints.

    ``truth``: what an architecture is judged by (:func:`load_table`).

    ``processes`` > 1 replays (method, seed) pairs in that many processes, one thread each.
    """
    table = load_table(table_path, truth)
    compute_s = compute_budget(compute, table)
    for text in methods:
        Method.parse(text)  # every method checked before the first runs
    norm = Normalizer(table)
    n_archs = len(table.rows)
    trials = trials or max(1, n_archs // 4)
    out: dict[str, Any] = {
        "table": str(table_path), "architectures": n_archs, "epochs": table.epochs, "workers": workers,
        "trials": trials, "seeds": list(range(first_seed, first_seed + seeds)), "compute_budget_s": compute_s,
        "truth": table.truth, "seeds_per_architecture": table.seeds_per_architecture,
        "full_compute_s": round(table.full_compute_s(), 1), "objectives": list(OBJECTIVES),
        "reference": REFERENCE, "hv_true": round(float(hypervolume(norm.true, REFERENCE)), 6),
        "true_front": front_of(table, table.rows),
        "overrides": list(overrides), "processes": processes, "methods": {},
    }
    median = statistics.median(r["params"] for r in table.rows.values())
    out["true_front_small"] = [n for n in out["true_front"] if table.rows[n]["params"] < median]
    started = time.perf_counter()
    jobs = [(text, seed) for text in methods for seed in out["seeds"]]
    args = dict(trials=trials, workers=workers, compute_s=compute_s, overrides=tuple(overrides))
    if processes > 1 and len(jobs) > 1:
        import concurrent.futures
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # no forked Ray or torch state
        with concurrent.futures.ProcessPoolExecutor(processes, mp_context=ctx, initializer=_one_thread) as pool:
            runs = list(pool.map(_replay_job, [(table, text, seed, args) for text, seed in jobs]))
    else:
        runs = [_replay_job((table, text, seed, args)) for text, seed in jobs]
    for (text, _), run in zip(jobs, runs):
        method = Method.parse(text)
        key = method.name if text != "default" else f"default ({method.name})"
        out["methods"].setdefault(key, {"seeds": []})["seeds"].append(run)
    out["wall_s"] = round(time.perf_counter() - started, 2)
    return out


def _one_thread() -> None:
    import os

    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import torch

        torch.set_num_threads(1)  # Optuna's GP sampler computes with torch
    except ImportError:  # pragma: no cover
        pass


def _replay_job(job: tuple[Table, str, int, dict[str, Any]]) -> dict[str, Any]:
    table, text, seed, args = job
    t0 = time.perf_counter()
    run = replay(table, Method.parse(text), seed, **args)
    run["seed"], run["wall_s"] = seed, round(time.perf_counter() - t0, 3)
    return run


def small_front_found(result: dict[str, Any], run: dict[str, Any]) -> int:
    """How many of the true front's architectures below the median parameter count a run found."""
    found = {t["arch"] for t in run["trials"] if t["status"] == Status.COMPLETE.value}
    return len(found & set(result["true_front_small"]))
