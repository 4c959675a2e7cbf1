"""A space as an Optuna search: define-by-run suggestion, samplers, budget constraints.

Parameter names and distributions are stable for a space, so every Optuna sampler can learn
from the stored trials:

- ``architecture`` (categorical of names) when the space lists whole WRNs;
- otherwise ``block`` (categorical of ``B(...)``), the size as ``blocks_per_group`` or ``depth``
  (``depth_l2``, ``depth_l3``, ... when blocks of different lengths allow different depths),
  ``widen_factor`` and ``dropout``. A fixed dimension is not a parameter.

Over-budget specs are told to the study as infeasible (constraint values > 0) with their reason,
never trained, so that constraint-aware samplers (TPE, NSGA-II/III, GP) learn to avoid them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from wrnsearch.compat import set_trial_attrs
from wrnsearch.cost import Cost
from wrnsearch.objectives import infeasible_values as objective_infeasible_values
from wrnsearch.objectives import known
from wrnsearch.record import Attr, Status
from wrnsearch.space import (
    Dim,
    Space,
    budget_violations,
    constraint_values,
    depth_param,
    depths_for,
    space_blocks,
    space_cost,
    spec_from_params,
)
from wrnsearch.spec import WRNSpec, format_block, parse_block

CONSTRAINT_KEYS = ("max_params", "max_macs", "max_activation_memory")  # Optuna 5 named constraints


def _dim_distribution(dim: Dim) -> BaseDistribution | None:
    if dim.kind == "fixed":
        return None
    if dim.kind == "choice":
        return CategoricalDistribution(list(dim.values))
    if dim.integer:
        return IntDistribution(int(dim.low), int(dim.high), step=int(dim.step or 1), log=dim.log)
    return FloatDistribution(dim.low, dim.high, step=dim.step, log=dim.log)


def _values_distribution(values: list[int]) -> BaseDistribution | None:
    """An int range when the values are evenly spaced (samplers see order), else categorical."""
    if len(values) == 1:
        return None
    steps = {b - a for a, b in zip(values, values[1:])}
    if len(steps) == 1:
        return IntDistribution(values[0], values[-1], step=steps.pop())
    return CategoricalDistribution(values)


def search_distributions(space: Space) -> dict[str, BaseDistribution]:
    """Every Optuna parameter of the space and its distribution (conditional ones included)."""
    dims = space.space
    out: dict[str, BaseDistribution] = {}
    if dims.architecture is not None:
        names = list(dict.fromkeys(dims.architecture))
        if len(names) > 1:
            out["architecture"] = CategoricalDistribution(names)
        return out
    blocks = space_blocks(dims)
    if len(blocks) > 1:
        out["block"] = CategoricalDistribution([format_block(b) for b in blocks])
    if dims.depth is not None:
        for l in sorted({len(b) for b in blocks}):
            dist = _values_distribution(depths_for(dims, l))
            if dist is not None:
                out[depth_param(space, l)] = dist
    else:
        dist = _dim_distribution(dims.blocks_per_group)
        if dist is not None:
            out["blocks_per_group"] = dist
    for key in ("widen_factor", "dropout"):
        dist = _dim_distribution(getattr(dims, key))
        if dist is not None:
            out[key] = dist
    return out


def has_conditional_params(space: Space) -> bool:
    """True when some parameter is suggested only for some blocks (``depth_l<l>``)."""
    return any(name.startswith("depth_l") for name in search_distributions(space))


def _suggest(trial: optuna.trial.BaseTrial, name: str, dist: BaseDistribution) -> Any:
    """Optuna's public ``suggest_*`` for a distribution of :func:`search_distributions`."""
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, list(dist.choices))
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)


def suggest_spec(trial: optuna.trial.BaseTrial, space: Space,
                 dists: dict[str, BaseDistribution] | None = None) -> WRNSpec:
    """Define-by-run: suggest the parameters of one architecture and return its (valid) spec.

    ``dists`` are the space's :func:`search_distributions`, computed once by a caller that asks
    many times.
    """
    dists = search_distributions(space) if dists is None else dists
    params: dict[str, Any] = {}
    for name in ("architecture", "block"):
        if name in dists:
            params[name] = _suggest(trial, name, dists[name])
    if space.space.architecture is None:
        l = len(space_blocks(space.space)[0]) if "block" not in params else len(parse_block(params["block"]))
        size_name = depth_param(space, l) if space.space.depth is not None else "blocks_per_group"
        for name in (size_name, "widen_factor", "dropout"):
            if name in dists:
                params[name] = _suggest(trial, name, dists[name])
    return spec_from_params(space, params)


@dataclass(frozen=True)
class Proposal:
    """One suggested architecture with its analytic cost and, if any, why it is over budget."""

    spec: WRNSpec
    cost: Cost
    violations: list[str]
    constraints: list[float]
    attrs: dict[str, Any] = field(default_factory=dict)  # the user attributes written with it

    @property
    def feasible(self) -> bool:
        return not self.violations


def propose(study: optuna.Study, trial: optuna.Trial, space: Space,
            extra_attrs: Callable[[WRNSpec], dict[str, Any]] | None = None,
            dists: dict[str, BaseDistribution] | None = None) -> Proposal:
    """Suggest a spec, cost it, check the budgets, and record cost and constraints on the trial.

    ``extra_attrs(spec)`` gives more user attributes to write in the same transaction.
    """
    spec = suggest_spec(trial, space, dists)
    cost = space_cost(space, spec)
    violations = budget_violations(space, cost)
    constraints = constraint_values(space, cost)
    attrs: dict[str, Any] = {Attr.ARCH: spec.name, Attr.PARAMS: cost.params, Attr.MACS: cost.macs,
                             Attr.ACTIVATION_BYTES: cost.activation_bytes, **(extra_attrs(spec) if extra_attrs else {})}
    if violations:  # told at once, never trained
        attrs[Attr.INFEASIBLE_REASON] = "; ".join(violations)
        attrs[Attr.STATUS] = Status.INFEASIBLE.value
    set_trial_attrs(study, trial, attrs, dict(zip(CONSTRAINT_KEYS, constraints)))
    return Proposal(spec, cost, violations, constraints, attrs)


def infeasible_values(space: Space, cost: Cost) -> list[float]:
    """Objective values told for an untrained, over-budget spec.

    Constraint-aware samplers rank infeasible trials below every feasible one whatever their
    values; the others see the worst possible error and latency. The exact size is told as is.
    """
    exact = {o.name: o.value(getattr(cost, o.attr)) for o in known(space.objectives)}
    return objective_infeasible_values(space.objectives, exact)
