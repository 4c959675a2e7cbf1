"""``wrnsearch bench record``: a recorded benchmark table, made by the product itself.

A benchmark space is searched as any space is (``wrnsearch run``'s driver, resumable), with the
grid sampler and no early stopping, so that every architecture within its budgets trains for its
whole epoch budget. A second pass trains a few of them again with another training seed (how much
of a difference between two architectures is noise). Then every architecture's latency is timed
again, alone, one at a time; the study, the repeats and the timings are exported as one JSON
table that :mod:`wrnsearch.bench._replay` reads:

``{"meta": {...}, "architectures": [{"arch", "params", "macs", "latency_ms", "device", "epoch_s",
"fixed_s", "val_error", "test_error", ...}]}``

One CPU model and one precision for a whole table: the run directory remembers the CPU it
started on, and a resume on another refuses.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wrnsearch import sampler_registry
from wrnsearch.bench._machine import cpu_model, usable_cores
from wrnsearch.errors import RunError
from wrnsearch.files import atomic_write_text
from wrnsearch.record import Attr
from wrnsearch.space import Space, load_space, space_from_data, with_dataset
from wrnsearch.spec import parse_name

MACHINE_FILE = "machine.json"
LATENCY_FILE = "latency-alone.json"
TABLE_VERSION = 1

Say = Callable[[str], None]


def check_recordable(space: Space) -> None:
    """A benchmark space trains everything fully, in fp32: grid sampler, no early stopping."""
    where = space.source
    if not sampler_registry.get(space.search.sampler).exhaustive:
        raise RunError(f"{where}: search.sampler is {space.search.sampler}; a recorded table trains every "
                       "architecture: set search.sampler: grid")
    if space.search.scheduler != "fifo":
        raise RunError(f"{where}: search.scheduler is {space.search.scheduler}; a recorded table trains every "
                       "architecture for its whole epoch budget: set search.scheduler: fifo")
    for key in ("amp", "channels_last"):
        if getattr(space.train, key) is not False:
            raise RunError(f"{where}: train.{key} is {getattr(space.train, key)}; one precision for a whole "
                           f"table (fp32, the same on every CPU): set train.{key}: false")
    if space.train.compile:
        raise RunError(f"{where}: train.compile is on; epoch times would carry compile time: set train.compile: false")


def check_machine(run_dir: Path, threads: int) -> dict[str, Any]:
    """The machine a recording started on; a resume on another CPU model refuses (one line)."""
    import torch

    here = {"cpu": cpu_model(), "cores": usable_cores(), "torch": torch.__version__, "threads_per_trial": threads}
    path = run_dir / MACHINE_FILE
    if path.is_file():
        first = json.loads(path.read_text())
        if first.get("cpu") != here["cpu"]:
            raise RunError(f"{run_dir} was recorded on {first.get('cpu')!r}, this machine is {here['cpu']!r}: a table "
                           "holds one CPU model's times; resume there, or record afresh with another --run-dir")
        return first
    run_dir.mkdir(parents=True, exist_ok=True)
    here["started"] = _now()
    atomic_write_text(path, json.dumps(here, indent=1) + "\n")
    return here


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def record_table(space_path: str | Path, output: str | Path, *, run_dir: str | Path | None = None,
                 data_root: str | None = None, repeat_seed: int = 1, repeats: int = 8, command: str = "",
                 say: Say = lambda _: None, on_event: Any = None) -> dict[str, Any]:
    """Record (or resume recording) the table of ``space_path`` and write it to ``output``."""
    from wrnsearch.search import RunOptions, run_search

    space = load_space(space_path)
    check_recordable(space)
    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / f"{space.name}-record"
    machine = check_machine(run_dir, int(space.resources.cpus_per_trial))
    say(f"recording {space.source} in {run_dir} on {machine['cpu']}")
    # measure_alone off: every architecture is timed alone below, not only the front's
    result = run_search(space_path, RunOptions(run_dir=run_dir, data_root=data_root, measure_alone=False),
                        on_event=on_event)
    rows = _trained_rows(run_dir)
    missing = _missing(space, rows)
    if missing:
        raise RunError(f"{len(missing)} architectures of {space.source} have no full result yet "
                       f"({result.stop_reason or 'stopped'}; e.g. {missing[0]}): run the same command again to resume")
    chosen = _repeat_choice(rows, repeats)
    repeat_rows: dict[str, dict[str, Any]] = {}
    if chosen:
        repeat_dir = run_dir.parent / f"{run_dir.name}-seed{repeat_seed}"
        check_machine(repeat_dir, int(space.resources.cpus_per_trial))
        repeat_space = _repeat_space(space, chosen, repeat_seed, repeat_dir)
        say(f"training {len(chosen)} architectures again with train.seed {repeat_seed} in {repeat_dir}")
        run_search(repeat_space, RunOptions(run_dir=repeat_dir, data_root=data_root, measure_alone=False),
                   on_event=on_event)
        repeat_rows = _trained_rows(repeat_dir)
        if len(repeat_rows) < len(chosen):
            raise RunError(f"the repeats in {repeat_dir} are not all trained: run the same command again to resume")
    say(f"timing {len(rows)} architectures' latency alone, one at a time")
    alone = time_alone(space, sorted(rows), run_dir / LATENCY_FILE)
    table = build_table(space, rows, repeat_rows, alone, machine, repeat_seed, command)
    atomic_write_text(Path(output), json.dumps(table, indent=1) + "\n")
    return table


def _trained_rows(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Every architecture trained to its whole budget in a run, by canonical name."""
    from wrnsearch.study import has_full_result, load_study

    study = load_study(run_dir)
    rows: dict[str, dict[str, Any]] = {}
    for t in study.get_trials(deepcopy=False):
        if not has_full_result(t) or Attr.REUSED_FROM in t.user_attrs:
            continue
        a = t.user_attrs
        curve = a.get(Attr.CURVE) or []
        epoch_s = [float(e["epoch_s"]) for e in curve if e.get("epoch_s") is not None]
        duration = (t.datetime_complete - t.datetime_start).total_seconds()
        rows[a[Attr.ARCH]] = {
            "params": a[Attr.PARAMS], "macs": a[Attr.MACS], "val_error": [e["val_error"] for e in curve],
            "epoch_s": [round(s, 3) for s in epoch_s], "final_val_error": a[Attr.VAL_ERROR],
            "test_error": a.get(Attr.TEST_ERROR), "latency_ms_colocated": a.get(Attr.LATENCY_MS),
            "device": a.get(Attr.DEVICE), "trial_s": round(duration, 3),
            "fixed_s": round(max(0.0, duration - sum(epoch_s)), 3), "split": a.get(Attr.DATASET_SPLIT),
            "started": t.datetime_start.isoformat(timespec="seconds"),
            "completed": t.datetime_complete.isoformat(timespec="seconds"), "trial": t.number,
        }
        if duration < sum(epoch_s):  # resumed from a checkpoint: its first attempt's fixed costs are lost
            rows[a[Attr.ARCH]]["fixed_s"] = None
    return _fixed_s_of_resumed(rows)


def _fixed_s_of_resumed(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A trial resumed from a checkpoint after its run was killed holds the epochs of both attempts
    but the wall time of the last only, so its fixed costs are unknown: it gets the median of the
    others' (``fixed_s_estimated``), not a zero that would make it look free to start."""
    known = sorted(r["fixed_s"] for r in rows.values() if r["fixed_s"] is not None)
    for r in rows.values():
        if r["fixed_s"] is None:
            r["fixed_s"], r["fixed_s_estimated"] = (known[len(known) // 2] if known else 0.0), True
    return rows


def _missing(space: Space, rows: dict[str, Any]) -> list[str]:
    from wrnsearch.space import budget_violations, iter_specs, space_cost

    names = [s.name for s in iter_specs(space) if not budget_violations(space, space_cost(space, s))]
    return [n for n in names if n not in rows]


def _repeat_choice(rows: dict[str, dict[str, Any]], repeats: int) -> list[str]:
    """``repeats`` architectures spread evenly over the table's parameter counts (smallest to largest)."""
    ordered = sorted(rows, key=lambda n: (rows[n]["params"], n))
    if repeats <= 0 or not ordered:
        return []
    if repeats >= len(ordered):
        return ordered
    step = (len(ordered) - 1) / (repeats - 1) if repeats > 1 else 0
    return sorted({ordered[round(i * step)] for i in range(repeats)}, key=ordered.index)


def _repeat_space(space: Space, names: list[str], seed: int, repeat_dir: Path) -> Path:
    """The space of the repeats, written into their run directory: same data and recipe, another seed."""
    import yaml

    data = space.to_yaml_dict()
    data["name"] = f"{space.name}-seed{seed}"
    data["space"] = {"architecture": names}
    data["train"]["seed"] = seed
    data["budget"]["max_trials"] = len(names)
    data["search"]["sampler"] = "grid"
    space_from_data(data, source=f"{space.source} (seed {seed} repeats)")  # valid before it is written
    repeat_dir.mkdir(parents=True, exist_ok=True)
    path = repeat_dir / "repeat-space.yaml"
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
    return path


def time_alone(space: Space, names: list[str], cache: Path) -> dict[str, dict[str, Any]]:
    """Each architecture's training step timed alone (nothing else running), as a trial times it.

    Threads as a trial's (``resources.cpus_per_trial``). Kept in ``cache``, so that a resumed
    recording times only what is left.
    """
    import torch

    from wrnsearch.train import measure_like_a_trial, pick_device

    done: dict[str, dict[str, Any]] = json.loads(cache.read_text()) if cache.is_file() else {}
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(space.resources.cpus_per_trial)))
    device = pick_device("cpu")
    try:
        for name in names:
            if name in done:
                continue
            spec = with_dataset(space, parse_name(name))
            timing, _, _ = measure_like_a_trial(spec, space.train, device, batch=space.train.latency_batch,
                                                resolution=space.dataset.resolution, steps=space.train.latency_steps)
            done[name] = {"latency_ms": round(timing.latency_ms, 3), "p90_ms": round(timing.latency_p90_ms, 3)}
            atomic_write_text(cache, json.dumps(done, indent=1) + "\n")
    finally:
        torch.set_num_threads(threads)
    return done


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties).

    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40]), spearman([1, 2, 3], [3, 2, 1])
    (1.0, -1.0)
    """
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return cov / var if var else float("nan")


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def build_table(space: Space, rows: dict[str, dict[str, Any]], repeat_rows: dict[str, dict[str, Any]],
                alone: dict[str, dict[str, Any]], machine: dict[str, Any], repeat_seed: int,
                command: str) -> dict[str, Any]:
    """The exported table: meta (provenance, split, seeds, noise) and one row per architecture."""
    archs = []
    for name in sorted(rows, key=lambda n: (rows[n]["params"], n)):
        r = rows[name]
        spec = parse_name(name)
        row = {
            "arch": name, "depth": spec.depth, "widen_factor": spec.widen_factor, "block": spec.block,
            "convs_per_block": spec.convs_per_block, "params": r["params"], "macs": r["macs"],
            "latency_ms": alone[name]["latency_ms"], "latency_ms_colocated": r["latency_ms_colocated"],
            "device": r["device"], "epoch_s": r["epoch_s"], "fixed_s": r["fixed_s"], "val_error": r["val_error"],
            "test_error": r["test_error"], **({"fixed_s_estimated": True} if r.get("fixed_s_estimated") else {}),
        }
        if name in repeat_rows:
            rep = repeat_rows[name]
            row["repeats"] = [{"seed": repeat_seed, "val_error": rep["val_error"], "test_error": rep["test_error"],
                               "epoch_s": rep["epoch_s"], "fixed_s": rep["fixed_s"]}]
        archs.append(row)
    return {"meta": _meta(space, rows, repeat_rows, machine, repeat_seed, command), "architectures": archs}


def _meta(space: Space, rows: dict[str, dict[str, Any]], repeat_rows: dict[str, dict[str, Any]],
          machine: dict[str, Any], repeat_seed: int, command: str) -> dict[str, Any]:
    import optuna
    import torch

    import wrnsearch

    every = list(rows.values()) + list(repeat_rows.values())
    splits = {json.dumps(r["split"], sort_keys=True) for r in every if r.get("split")}
    if len(splits) > 1:
        raise RunError("the recorded trials hold different data splits: record afresh with another --run-dir")
    split = json.loads(splits.pop()) if splits else None
    both = sorted(repeat_rows)
    rho = spearman([rows[n]["final_val_error"] for n in both],
                   [repeat_rows[n]["final_val_error"] for n in both]) if len(both) >= 2 else None
    return {
        "version": TABLE_VERSION, "space": space.name, "command": command,
        "machine": {**{k: machine.get(k) for k in ("cpu", "cores", "threads_per_trial")},
                    "trials_at_once": space.search.max_concurrent},
        "precision": "fp32", "device": "cpu", "torch": torch.__version__, "optuna": optuna.__version__,
        "wrnsearch": wrnsearch.__version__,
        "recorded": {"first_trial": min(r["started"] for r in every), "last_trial": max(r["completed"] for r in every),
                     "trial_seconds": round(sum(r["trial_s"] for r in every), 1)},
        "seeds": {"train": space.train.seed, "repeat": repeat_seed, "split": space.dataset.split_seed},
        "dataset": space.dataset.model_dump(mode="json"), "split": split,
        "recipe": space.train.model_dump(mode="json"), "budget": space.budget.model_dump(mode="json"),
        "search_space": space.space.model_dump(mode="json"), "objectives": list(space.objectives),
        "latency": {"batch": space.train.latency_batch, "steps": space.train.latency_steps,
                    "measured": "alone, one architecture at a time, after the search; the trial's own timing, "
                                "taken while another trial ran beside it, is latency_ms_colocated"},
        "epoch_s": f"training and validation of one epoch, {space.search.max_concurrent} trials at a time with "
                   f"{space.resources.cpus_per_trial:g} CPU thread(s) each",
        "fixed_s": "a trial's wall time (proposal to result) less its epochs: start-up, data, latency "
                   "timing, model build, the final evaluation",
        "repeat_agreement": {"spearman_rho": None if rho is None or math.isnan(rho) else round(rho, 4), "n": len(both),
                             "archs": both},
    }
