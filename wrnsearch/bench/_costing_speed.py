"""``wrnsearch bench cost``: analytic costing against building the modules, per spec."""

from __future__ import annotations

import time
from typing import Any

from wrnsearch.bench._machine import machine_description, random_specs
from wrnsearch.cost import model_cost


def bench_cost(n: int = 10_000, build_n: int = 100, seed: int = 0) -> dict[str, Any]:
    """Time analytic costing of ``n`` random specs against building ``build_n`` of them as modules.

    Building every one of 10,000 WRNs (up to 150 M parameters each) would take most of an hour, so
    the module side builds the first ``build_n`` of the same specs and the comparison is per spec.
    """
    import torch

    from wrnsearch.model import WideResNet

    specs = random_specs(n, seed)
    start = time.perf_counter()
    analytic = [model_cost(s, 32, 128) for s in specs]
    analytic_s = time.perf_counter() - start

    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.perf_counter()
    for spec, cost in zip(specs[:build_n], analytic):
        built = sum(p.numel() for p in WideResNet(spec).parameters())
        if built != cost.params:  # pragma: no cover - the tests guarantee equality
            raise AssertionError(f"{spec.name}: analytic {cost.params} != built {built}")
    build_s = time.perf_counter() - start
    per_analytic = analytic_s / n
    per_build = build_s / build_n
    return {
        "benchmark": "cost",
        "specs": n,
        "analytic_total_s": analytic_s,
        "analytic_per_spec_us": per_analytic * 1e6,
        "built_specs": build_n,
        "build_total_s": build_s,
        "build_per_spec_ms": per_build * 1e3,
        "speedup": per_build / per_analytic,
        "machine": machine_description(),
        "torch": torch.__version__,
    }
