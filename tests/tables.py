"""Benchmark tables the tests write: a recorded table's format, with made-up but plausible values.

Errors fall with size and with epochs (bigger nets learn more in 6 epochs, with noise), epoch
times grow with MACs: enough structure for a sampler to exploit and for a scheduler to decide on,
and every value known to the test.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from wrnsearch.space import budget_violations, iter_specs, load_space, space_cost

BENCH_SPACE = Path(__file__).resolve().parents[1] / "benchmarks" / "wrn-cifar10-cpu.yaml"


def fake_table(path: Path, *, space_file: Path = BENCH_SPACE, seed: int = 0, fixed_s: float = 3.0,
               epochs: int | None = None) -> dict[str, Any]:
    space = load_space(space_file)
    epochs = epochs or space.train.epochs
    rng = random.Random(seed)
    archs = []
    for spec in iter_specs(space):
        cost = space_cost(space, spec)
        if budget_violations(space, cost):
            continue
        final = 70 - 6 * math.log(cost.params / 3e4) + rng.gauss(0, 2.5)
        curve = [round(final + (90 - final) * (0.55 ** (e + 1)), 2) for e in range(epochs)]
        epoch_s = round(1.0 + cost.macs / 5e6, 3)
        archs.append({"arch": spec.name, "params": cost.params, "macs": cost.macs,
                      "latency_ms": round(2 + cost.macs / 4e6 * (1.3 if 1 in spec.kernels else 1.0), 3),
                      "device": "cpu (1 threads)", "epoch_s": [epoch_s] * epochs, "fixed_s": fixed_s,
                      "val_error": curve, "test_error": curve[-1]})
    data = space.to_yaml_dict()
    meta = {"space": space.name, "dataset": data["dataset"], "search_space": data["space"],
            "budget": data["budget"], "recipe": {**data["train"], "epochs": epochs}}
    table = {"meta": meta, "architectures": archs}
    path.write_text(json.dumps(table))
    return table
