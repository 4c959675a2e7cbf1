"""Studies as a search writes them, made without a search: ``make_study`` builds a real SQLite
study the way docs/study.md describes one (user attrs, named constraints, every trial state), for
the tests of the front, the report and its figures; ``load`` and ``trials_of`` read a run
directory's study as any reader beside a running driver must.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from wrnsearch.cost import model_cost
from wrnsearch.pareto import OBJECTIVE_ATTRS
from wrnsearch.record import Attr
from wrnsearch.spec import WRNSpec

# --------------------------------------------------------------------------------------------
# A study as a search writes it


CPU = "cpu (2 threads)"
GPU = "NVIDIA H100 80GB HBM3"
_DEPTHS = (10, 16, 22, 28, 40)
_WIDTHS = (1, 2, 4, 8)
_BLOCKS = ((3, 3), (3, 1, 3), (1, 3))


def _spec(rng: random.Random, num_classes: int) -> WRNSpec:
    kernels = rng.choice(_BLOCKS)
    l = len(kernels)
    depth = 3 * l * rng.randint(1, 4) + 4
    return WRNSpec(depth=depth, widen_factor=rng.choice(_WIDTHS), kernels=kernels,
                   dropout=rng.choice([0.0, 0.3]), num_classes=num_classes)


def trained_attrs(spec: WRNSpec, rng: random.Random, device: str) -> dict:
    cost = model_cost(spec)
    # a deterministic stand-in for training: wider and deeper is more accurate, bigger and slower
    error = round(60.0 / math.sqrt(spec.widen_factor * spec.depth) + rng.uniform(0, 1.5), 2)
    latency = round(cost.macs / 2e7 * (1.0 if device == CPU else 0.02) + rng.uniform(0, 0.5), 3)
    # inference at batch 1: a per-layer overhead (depth) beside the work; no rng, so the draws stay put
    latency_infer = round(0.05 * spec.depth + cost.macs / 6e8 * (1.0 if device == CPU else 0.05), 3)
    return {
        "arch": spec.name, "spec": spec.to_dict(), "params": cost.params, "macs": cost.macs,
        "activation_bytes": cost.activation_bytes, "status": "complete", "val_error": error,
        "test_error": round(error + rng.uniform(-0.3, 0.3), 2), "latency_ms": latency,
        "latency_infer_ms": latency_infer,
        "images_per_s": round(32_000 / latency, 1), "device": device,
        # the process's peak while training: the runtime, the weights and the activations (no rng)
        "peak_memory_bytes": 300 * 2**20 + 4 * cost.params + 3 * cost.activation_bytes,
        "node": "node-a", "epochs": 3, "epochs_budget": 3, "wall_time_s": 12.5,
        "curve": [{"epoch": e, "train_loss": 2.0 / e, "val_error": error + 3 - e, "elapsed_s": 4.0 * e,
                   "images_per_s": 1000.0} for e in (1, 2, 3)],
    }


def constraints(params: int, max_params: float) -> dict[str, float]:
    return {"max_params": params / max_params - 1, "max_macs": -1.0, "max_activation_memory": -1.0}


def _value(attrs: dict, objective: str) -> float:
    return float(attrs[OBJECTIVE_ATTRS[objective]])


def make_study(
    path: Path,
    *,
    objectives: tuple[str, ...] = ("error", "params", "latency_ms"),
    n_complete: int = 30,
    devices: tuple[str, ...] = (CPU,),
    dataset: str = "cifar10",
    seed: int = 0,
    n_infeasible: int = 3,
    n_pruned: int = 3,
    n_failed: int = 2,
    n_running: int = 2,
    name: str = "demo",
    max_params: float = 20e6,
    train: dict | None = None,
) -> optuna.Study:
    """A SQLite study at ``path`` holding every kind of trial of docs/study.md, in shuffled order.

    Complete trials are feasible and trained; the last complete trial repeats an earlier
    architecture's figures (``reused_from``), so the front can hold duplicates.
    """
    rng = random.Random(seed)
    num_classes = 100 if dataset == "cifar100" else 10
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name=name, directions=["minimize"] * len(objectives))
    study.set_metric_names(list(objectives))
    space = {"name": name, "dataset": {"name": dataset},
             "space": {"depth": list(_DEPTHS), "widen_factor": list(_WIDTHS)},
             "objectives": list(objectives), "budget": {"max_params": max_params}}
    if train:
        space["train"] = train
    for key, value in (("space", space), ("objectives", list(objectives)), ("dataset", dataset),
                       ("wrnsearch_version", "0.1.0")):
        study.set_user_attr(key, value)
    dist = {"architecture": CategoricalDistribution(["x"])}
    kinds = ["complete"] * max(n_complete - 1,
                               0) + ["infeasible"] * n_infeasible + ["pruned"] * n_pruned + ["failed"] * n_failed
    rng.shuffle(kinds)
    if n_complete > 0:
        kinds.append("reused" if n_complete > 1 else "complete")
    first_complete: tuple[int, dict] | None = None
    for number, kind in enumerate(kinds):
        spec = _spec(rng, num_classes)
        while kind == "complete" and model_cost(spec).params > max_params:
            spec = _spec(rng, num_classes)
        device = rng.choice(devices)
        if kind in ("complete", "reused"):
            if kind == "reused" and first_complete is not None:
                attrs = first_complete[1] | {"reused_from": first_complete[0]}
            else:
                attrs = trained_attrs(spec, rng, device)
                first_complete = first_complete or (number, attrs)
            trial = create_trial(
                values=[_value(attrs, o) for o in objectives], params={"architecture": "x"}, distributions=dist,
                user_attrs=attrs, constraints=constraints(attrs["params"], max_params),
            )
        elif kind == "infeasible":
            spec = WRNSpec(depth=40, widen_factor=8, num_classes=num_classes)  # 35.7M, over budget
            cost = model_cost(spec)
            attrs = {"arch": spec.name, "spec": spec.to_dict(), "params": cost.params, "macs": cost.macs,
                     "activation_bytes": cost.activation_bytes, "status": "infeasible",
                     Attr.INFEASIBLE_REASON: f"params {cost.params} > max_params {max_params:.0f}"}
            values = [float(cost.params) if o == "params" else float(cost.macs) if o == "macs" else math.inf
                      for o in objectives]
            trial = create_trial(values=values, params={"architecture": "x"}, distributions=dist, user_attrs=attrs,
                                 constraints=constraints(cost.params, max_params))
        elif kind == "pruned":
            attrs = trained_attrs(spec, rng, device) | {"status": "pruned", "epochs": 1}
            attrs["val_error"] = 1.0  # better than anything, but never trained to the end
            trial = create_trial(state=TrialState.PRUNED, params={"architecture": "x"}, distributions=dist,
                                 user_attrs=attrs, intermediate_values={0: 50.0},
                                 constraints=constraints(attrs["params"], max_params))
        else:
            attrs = {"arch": spec.name, "spec": spec.to_dict(), "params": model_cost(spec).params,
                     "status": "diverged", "fail_reason": "loss became nan in epoch 1, step 3"}
            trial = create_trial(state=TrialState.FAIL, params={"architecture": "x"}, distributions=dist,
                                 user_attrs=attrs, constraints=constraints(attrs["params"], max_params))
        study.add_trial(trial)
    for _ in range(n_running):  # in flight: asked, costed, not told
        running = study.ask()
        spec = _spec(rng, num_classes)
        running.set_user_attr("arch", spec.name)
        running.set_user_attr("params", model_cost(spec).params)
    return study




# --------------------------------------------------------------------------------------------
# Reading a run's study


def load(run_dir: Path, name: str) -> optuna.Study:
    """Read-only, as any reader of the run directory: its SQLite file, its journal, or the server
    its saved space names (optuna.load_study would create missing tables, racing the driver)."""
    from wrnsearch.study import load_study

    return load_study(run_dir, study_name=name)


def trials_of(run_dir: Path, name: str) -> list:
    """The study's trials, or none while the driver has not created it (or is mid-write)."""
    try:
        return load(run_dir, name).get_trials(deepcopy=False)
    except Exception:  # noqa: BLE001 - not created yet, or mid-write
        return []
