"""``wrnsearch bench forecast``: the plan's predictions against times that really happened.

The plan of a space (:func:`wrnsearch.plan.make_plan`, timed on this machine now) is set beside
a recorded table's epochs and trials (``--table``: every architecture trained by the product,
with its per-epoch seconds and fixed costs) and beside a finished run's trials (``--run``: each
trial trained there, from its proposal to its result, as the study stamped it). The figures are
relative errors, (predicted - real) / real: their median and 90th percentile of the absolute
value, and the signed median (a bias).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from wrnsearch.bench._machine import machine_description


def errors_summary(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    """Median and 90th percentile of |predicted - real| / real, and the signed median, over (predicted, real) pairs.

    >>> errors_summary([(11.0, 10.0), (9.0, 10.0), (15.0, 10.0)])
    {'n': 3, 'median_abs': 0.1, 'p90_abs': 0.5, 'median_signed': 0.1}
    """
    rel = [(p - r) / r for p, r in pairs if r > 0]
    if not rel:
        return {"n": 0}
    absolute = sorted(abs(x) for x in rel)
    p90 = absolute[min(len(absolute) - 1, round(0.9 * (len(absolute) - 1)))]
    return {"n": len(rel), "median_abs": round(statistics.median(absolute), 4), "p90_abs": round(p90, 4),
            "median_signed": round(statistics.median(rel), 4)}


def _table_rows(table: Path, predicted: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for r in json.loads(table.read_text())["architectures"]:
        plan = predicted.get(r["arch"])
        if plan is None or not r.get("epoch_s"):
            continue
        real_trial = sum(r["epoch_s"]) + (r.get("fixed_s") or 0.0)
        rows.append({"arch": r["arch"], "epoch_s": plan.epoch_s, "real_epoch_s": statistics.median(r["epoch_s"]),
                     "trial_s": plan.trial_s, "real_trial_s": round(real_trial, 2)})
    return rows


def _run_rows(run_dir: Path, predicted: dict[str, Any]) -> list[dict[str, Any]]:
    from wrnsearch.record import Attr
    from wrnsearch.study import Outcome, load_study, outcome_of

    rows = []
    for t in load_study(run_dir).get_trials(deepcopy=False):
        plan = predicted.get(t.user_attrs.get(Attr.ARCH))
        if plan is None or outcome_of(t) != Outcome.DONE or t.datetime_start is None or t.datetime_complete is None:
            continue
        real = (t.datetime_complete - t.datetime_start).total_seconds()
        curve = t.user_attrs.get(Attr.CURVE) or []
        epochs = [e["epoch_s"] for e in curve if e.get("epoch_s")]
        rows.append({"arch": plan.arch, "number": t.number, "trial_s": plan.trial_s, "real_trial_s": round(real, 2),
                     "epoch_s": plan.epoch_s, "real_epoch_s": statistics.median(epochs) if epochs else None})
    return rows


def bench_forecast(space_path: str, *, table: str | None = None, run_dir: str | None = None,
                   device: str | None = None, overrides: tuple[str, ...] = (), probes: int = 5,
                   remeasure: bool = False) -> dict[str, Any]:
    """The plan of ``space_path`` on this machine against ``table``'s records and ``run_dir``'s trials."""
    import torch

    from wrnsearch.plan import make_plan
    from wrnsearch.space import load_space

    plan = make_plan(load_space(space_path, overrides), device=device, probes=probes, use_cache=not remeasure)
    predicted = {a.arch: a for a in plan.architectures}
    rows = (_table_rows(Path(table), predicted) if table else []) + (_run_rows(Path(run_dir), predicted)
                                                                     if run_dir else [])
    return {
        "benchmark": "forecast", "space": space_path, "table": table, "run": run_dir, "overrides": list(overrides),
        "plan": plan.summary_line(), "probes": plan.probes, "precision": plan.precision,
        "epoch": errors_summary([(r["epoch_s"], r["real_epoch_s"]) for r in rows if r.get("real_epoch_s")]),
        "trial": errors_summary([(r["trial_s"], r["real_trial_s"]) for r in rows]),
        "rows": rows, "machine": machine_description(), "torch": torch.__version__,
    }
