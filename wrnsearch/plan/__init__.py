"""What a search will cost on the hardware at hand, known before any trial.

- :mod:`~wrnsearch.plan._resources`: what a trial asks of a node, what nodes host, and the
  one-line refusal when none ever could (the search's preflight);
- :mod:`~wrnsearch.plan._probe`: a few architectures timed as their trials would run, cached;
- :mod:`~wrnsearch.plan._forecast`: step times fitted to exact costs, every architecture's
  epoch and trial seconds and peak memory (arithmetic only);
- :mod:`~wrnsearch.plan._plan`: :func:`make_plan`, the forecast of a whole search (``wrnsearch plan``).

The resources and the forecast import no torch; the probes and the plan do, lazily behind this front.

The package is callable: ``wrnsearch.plan(space)`` is :func:`~wrnsearch.plan._plan.plan_space`
(a space file, its sections as a mapping, or a Space; ``overrides``, ``device``, ``data_root``),
the forecast as a :class:`Plan`.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from typing import Any

from wrnsearch.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "_resources": ("Node", "TrialRequest", "concurrency_note", "hosting_problem", "hosts", "largest",
                   "trials_at_once"),
    "_forecast": ("Forecast", "Probe", "Sizes", "StepModel", "forecast", "search_seconds", "training_memory_bytes",
                  "trials_per_gpu"),
    "_probe": ("ProbeSetting", "time_probes"),
    "_plan": ("ArchitecturePlan", "PROBES", "Plan", "feasible_specs", "gpu_plan", "make_plan", "plan_device",
              "plan_space", "probe_specs", "this_machine"),
})


class _CallablePackage(types.ModuleType):
    """``wrnsearch.plan(...)``: the package's own name, called, forecasts a search (the root
    ``wrnsearch`` module cannot hold a function of that name beside this subpackage)."""

    def __call__(self, space: Any, *, overrides: Sequence[str] = (), device: str | None = None,
                 data_root: str | None = None, use_cache: bool = True) -> Any:
        """Forecast a search of ``space`` on this machine: :func:`~wrnsearch.plan._plan.plan_space`."""
        return self.plan_space(space, overrides=overrides, device=device, data_root=data_root, use_cache=use_cache)


sys.modules[__name__].__class__ = _CallablePackage
