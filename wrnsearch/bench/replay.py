"""``wrnsearch bench search``: the real searcher replayed on a recorded table, in simulated time.

Each method (``SAMPLER+SCHEDULER``) runs the real proposal path: the searcher of a real search
(:class:`~wrnsearch.search.searcher.StudySearcher`: the space's sampler, budgets as constraints,
de-duplication) on a real in-memory Optuna study, and the real rung decisions
(:class:`~wrnsearch.search.decisions.Rungs`: ASHA's or MO-ASHA's). Training is replaced by
look-ups in the table (:mod:`wrnsearch.bench.record`) and a simulated clock: ``workers`` trials
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
import json
import statistics
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from wrnsearch.errors import RunError
from wrnsearch.pareto import hypervolume, non_dominated_mask, normalization_bounds, normalize
from wrnsearch.record import Status, TrialRecord
from wrnsearch.search.decisions import Rungs, grace_epochs, rung_milestones
from wrnsearch.space import SAMPLERS, SCHEDULERS, SearchConfig, Space, space_from_data
from wrnsearch.spec import WRNSpec

OBJECTIVES = ("error", "params", "latency_ms")
REFERENCE = 1.1


TRUTHS = ("auto", "mean", "first")


@dataclass(frozen=True)
class Table:
    """A recorded table: its meta, its rows by architecture name, and the space it covers.

    ``truth``: ``mean`` judges each architecture by its mean final validation error over the
    table's seeds (and shows a search one seed's curve, :meth:`observed`); ``first`` by its first
    seed's, which a search then sees too.
    """

    meta: dict[str, Any]
    rows: dict[str, dict[str, Any]]
    space_data: dict[str, Any]
    truth: str = "first"

    @property
    def epochs(self) -> int:
        return int(self.meta["recipe"]["epochs"])

    @property
    def seeds_per_architecture(self) -> int:
        """Training seeds every architecture has (1 + its repeats, the fewest over the table)."""
        return _seeds_per_architecture(self.rows)

    def full_compute_s(self) -> float:
        """Worker-seconds that training every architecture fully costs (the sum of all epoch times)."""
        return float(sum(sum(r["epoch_s"]) for r in self.rows.values()))

    def curves(self, name: str) -> list[dict[str, Any]]:
        """Each seed's ``val_error`` (per epoch) and ``test_error`` of an architecture, first seed first."""
        row = self.rows[name]
        return [{"val_error": row["val_error"], "test_error": row.get("test_error")},
                *({"val_error": r["val_error"], "test_error": r.get("test_error")} for r in row.get("repeats") or ())]

    @cached_property
    def _final_errors(self) -> dict[str, float]:
        # computed once: every hypervolume of every replayed trial reads them
        if self.truth == "mean":
            return {n: float(np.mean([c["val_error"][-1] for c in self.curves(n)])) for n in self.rows}
        return {n: float(r["val_error"][-1]) for n, r in self.rows.items()}

    def final_error(self, name: str) -> float:
        """The error an architecture is judged by: its mean final validation error over the seeds
        (``truth`` mean), or the first seed's."""
        return self._final_errors[name]

    def observed(self, name: str, seed: int) -> dict[str, Any]:
        """The curve a search replayed with ``seed`` sees for ``name``: one seed's, drawn from the
        replay seed and the name (``truth`` mean), or the first seed's."""
        curves = self.curves(name)
        if self.truth != "mean":
            return curves[0]
        draw = np.random.default_rng([seed, zlib.crc32(name.encode())]).integers(len(curves))
        return curves[int(draw)]

    def objective_matrix(self, names: Sequence[str]) -> np.ndarray:
        return np.array([[self.final_error(n), self.rows[n]["params"], self.rows[n]["latency_ms"]]
                         for n in names], dtype=float)


def load_table(path: str | Path, truth: str = "auto") -> Table:
    """Read a table written by ``wrnsearch bench record``.

    ``truth`` (:class:`Table`): ``auto`` is ``mean`` when every architecture has repeats, else
    ``first``.

    Raises:
        RunError: naming the file and what is wrong with it.
    """
    if truth not in TRUTHS:
        raise RunError(f"--truth {truth}: one of {', '.join(TRUTHS)}")
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        meta, archs = data["meta"], data["architectures"]
        rows = {a["arch"]: a for a in archs}
        space_data = {"name": f"{meta['space']}-replay", "dataset": meta["dataset"], "space": meta["search_space"],
                      "objectives": list(OBJECTIVES), "budget": {**meta["budget"], "time": None, "trial_time": None},
                      "train": meta["recipe"]}
        for a in archs:
            for key in ("params", "latency_ms", "epoch_s", "fixed_s", "val_error"):
                a[key]  # noqa: B018 - a KeyError names the missing field
            for rep in a.get("repeats") or ():
                if len(rep["val_error"]) != len(a["val_error"]):
                    raise ValueError(f"{a['arch']}: a repeat of {len(rep['val_error'])} epochs, "
                                     f"not {len(a['val_error'])}")
    except FileNotFoundError:
        raise RunError(f"{path}: no such table (make one with wrnsearch bench record)") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RunError(f"{path}: not a benchmark table ({type(e).__name__}: {e})") from None
    multi = _seeds_per_architecture(rows) > 1
    if truth == "mean" and not multi:
        raise RunError(f"--truth mean: {path} has a single seed for some architectures; record repeats of "
                       f"every one (wrnsearch bench record --repeats {len(rows)}), or use --truth first")
    return Table(meta, rows, space_data, "mean" if truth == "mean" or (truth == "auto" and multi) else "first")


def _seeds_per_architecture(rows: dict[str, dict[str, Any]]) -> int:
    return min(1 + len(r.get("repeats") or ()) for r in rows.values())


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
        if sampler not in SAMPLERS or sampler in ("grid", "bruteforce"):
            raise RunError(f"--method {text}: unknown sampler {sampler!r} (one of "
                           f"{', '.join(s for s in SAMPLERS if s not in ('grid', 'bruteforce'))})")
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


def replay(table: Table, method: Method, seed: int, *, trials: int, workers: int = 2,
           compute_s: float | None = None, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """One seeded search on the table: what it launched, when, and what it found."""
    import optuna

    from wrnsearch.search.options import RunProgress
    from wrnsearch.search.searcher import StudySearcher
    from wrnsearch.study.sampling import make_sampler

    space = method_space(table, method, seed, overrides)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=space.directions, sampler=make_sampler(space))
    study.set_metric_names(list(space.objectives))
    searcher = StudySearcher(space, study, RunProgress(max_trials=trials), None, allowed=trials)
    rungs = _rungs(space, table.epochs)
    clock, events, launched, ended = _Clock(), [], [], []
    order = iter(range(10**9))  # ties on the clock: first scheduled, first served
    state: dict[str, dict[str, Any]] = {}

    def launch() -> bool:
        if compute_s is not None and clock.busy_s >= compute_s:
            return False
        tid = f"t{len(launched)}"
        config = searcher.suggest(tid)
        if not isinstance(config, dict):
            return False
        name = WRNSpec.from_dict(config["spec"]).name
        if name not in table.rows:
            raise RunError(f"the table holds no {name}, which its own space proposed: record the table again")
        row = table.rows[name]
        state[tid] = {"name": name, "row": row, "seen": table.observed(name, seed), "epoch": 0}
        launched.append(tid)
        clock.running += 1
        heapq.heappush(events, (clock.now + row["fixed_s"] + row["epoch_s"][0], next(order), tid))
        return True

    for _ in range(workers):
        if not launch():
            break
    while events:
        when, _, tid = heapq.heappop(events)
        clock.advance(when)
        s = state[tid]
        s["epoch"] += 1
        row, epoch = s["row"], s["epoch"]
        error = s["seen"]["val_error"][epoch - 1]
        if epoch < table.epochs and rungs is not None and not rungs.decide(
                tid, epoch, [error, row["params"], row["latency_ms"]]):
            searcher.on_trial_complete(tid, {"epoch": epoch, "val_error": error})
            status = Status.PRUNED
        elif epoch < table.epochs:
            heapq.heappush(events, (clock.now + row["epoch_s"][epoch], next(order), tid))
            continue
        else:
            record = _record(s["name"], row, s["seen"], table)
            searcher.on_trial_complete(tid, {"final": True, "record": record.to_json()})
            status = Status.COMPLETE
        clock.running -= 1
        ended.append({"trial": tid, "arch": s["name"], "status": status.value, "epochs": epoch,
                      "val_error": error, "end_s": round(clock.now, 3), "worker_s": round(clock.busy_s, 3)})
        launch()
    summary = _summary(table, launched, state, ended, clock)
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


class Normalizer:
    """Min-max over the table's architectures, per objective: 0 best, 1 worst."""

    def __init__(self, table: Table) -> None:
        values = table.objective_matrix(sorted(table.rows))
        self.bounds = normalization_bounds(values)
        self.true = normalize(values, self.bounds)

    def hv(self, table: Table, names: Sequence[str]) -> float:
        if not names:
            return 0.0
        return float(hypervolume(normalize(table.objective_matrix(list(names)), self.bounds), REFERENCE))


def front_of(table: Table, names: Sequence[str]) -> list[str]:
    """The names, in order, that no other of ``names`` dominates."""
    names = sorted(set(names))
    if not names:
        return []
    return [n for n, keep in zip(names, non_dominated_mask(table.objective_matrix(names))) if keep]


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


def bench_search(table_path: str | Path, methods: Sequence[str], *, seeds: int = 10, first_seed: int = 0,
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


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """Lower quartile, median, upper quartile (linear interpolation)."""
    q = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return float(q[0]), float(q[1]), float(q[2])


def small_front_found(result: dict[str, Any], run: dict[str, Any]) -> int:
    """How many of the true front's architectures below the median parameter count a run found."""
    found = {t["arch"] for t in run["trials"] if t["status"] == Status.COMPLETE.value}
    return len(found & set(result["true_front_small"]))
