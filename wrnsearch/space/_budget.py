"""What an architecture costs against the space's budgets, and whether a space is possible at all.

Analytic: costs come from :func:`wrnsearch.cost.model_cost` at the data set's resolution and the
training batch size, so an over-budget spec is known before anything is built or trained.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from wrnsearch.cost import Cost, model_cost
from wrnsearch.errors import SpecError
from wrnsearch.sampler_registry import get as get_sampler
from wrnsearch.space._architectures import (
    depth_values,
    depths_for,
    iter_specs,
    outside_space,
    smallest_specs,
    space_blocks,
    space_size,
    with_dataset,
)
from wrnsearch.space._schema import Space
from wrnsearch.spec import WRNSpec, depth_fits, depth_of, format_block, parse_name

# (dotted path as a list, message): a problem the loader locates in the file
Problem = tuple[Sequence[Any], str]

MAX_BLOCK_TYPES = 10_000
MAX_CONVS_PER_BLOCK_VALUES = 8


def space_cost(space: Space, spec: WRNSpec) -> Cost:
    """Costs at the dataset's resolution, activation memory at the training batch size."""
    return model_cost(spec, space.dataset.resolution, space.train.batch_size)


def _limits(space: Space) -> list[tuple[str, int | None, str]]:
    b = space.budget
    return [("max_params", b.max_params, "params"), ("max_macs", b.max_macs, "macs"),
            ("max_activation_memory", b.max_activation_memory, "activation_bytes")]


def budget_violations(space: Space, cost: Cost) -> list[str]:
    """Why a spec is over budget (empty when it fits), one reason per exceeded limit."""
    reasons = []
    for key, limit, field in _limits(space):
        value = getattr(cost, field)
        if limit is None or value <= limit:
            continue
        if field == "activation_bytes":
            reasons.append(f"activation memory {value:,} B at batch {space.train.batch_size} > "
                           f"budget.{key} {limit:,} B")
        else:
            reasons.append(f"{field} {value:,} > budget.{key} {limit:,}")
    return reasons


def constraint_values(space: Space, cost: Cost) -> list[float]:
    """Optuna constraint values (<= 0 feasible): relative excess over each budget, -1 where unset."""
    return [-1.0 if limit is None else getattr(cost, field) / limit - 1.0 for _, limit, field in _limits(space)]


def minimum_costs(space: Space) -> tuple[int, int, int]:
    """The smallest params, MACs and activation bytes of any architecture in the space."""
    costs = [space_cost(space, s) for s in smallest_specs(space)]
    return (min(c.params for c in costs), min(c.macs for c in costs), min(c.activation_bytes for c in costs))


def count_specs(space: Space, limit: int = 5_000_000) -> tuple[float, int | None]:
    """(distinct architectures, how many fit the budgets); the second is None if not enumerable."""
    total = space_size(space)
    if math.isinf(total) or total > limit:
        return total, None
    fitting = sum(1 for spec in iter_specs(space) if not budget_violations(space, space_cost(space, spec)))
    return total, fitting


def impossibilities(space: Space) -> list[Problem]:
    """Why a valid-looking space holds nothing to train: names that are no WRN, depths no block
    realizes, blocks with no depth, a grid over a continuous range (:func:`sampler_problems`),
    budgets below its smallest architecture. Empty when the space is possible."""
    if space.space.architecture is not None:
        problems = _architecture_problems(space)
    else:
        problems = _dimension_problems(space)
    problems += _sampler_problems(space)
    if not problems:
        problems += _enqueue_problems(space)
    if problems:
        return problems
    if any(limit is not None for _, limit, _ in _limits(space)):
        smallest = minimum_costs(space)
        for (key, limit, _), least in zip(_limits(space), smallest):
            if limit is not None and least > limit:
                problems.append((["budget", key], f"{limit:,} is below the smallest architecture in the space "
                                                  f"({least:,}): raise the budget or allow smaller architectures"))
    return problems


def _architecture_problems(space: Space) -> list[Problem]:
    problems: list[Problem] = []
    for i, name in enumerate(space.space.architecture or ()):
        try:
            with_dataset(space, parse_name(name))
        except SpecError as e:
            problems.append((["space", "architecture", i], str(e)))
    return problems


def _dimension_problems(space: Space) -> list[Problem]:
    dims = space.space
    problems: list[Problem] = []
    cpb = dims.convs_per_block
    if cpb is not None and cpb.kind == "range" and cpb.size() > MAX_CONVS_PER_BLOCK_VALUES:
        problems.append((["space", "convs_per_block"], f"at most {MAX_CONVS_PER_BLOCK_VALUES} values of "
                                                      "convs_per_block (blocks grow as kernel_sizes**l)"))
    blocks = space_blocks(dims)
    if len(blocks) > MAX_BLOCK_TYPES:
        problems.append((["space", "kernel_sizes"],
                         f"{len(blocks):,} block types is too many; narrow convs_per_block or kernel_sizes"))
        return problems
    if dims.depth is None:
        return problems
    ls = sorted({len(b) for b in blocks})
    ranged = dims.depth.kind == "range"
    rule = "with l convs per block depth = 3*N*l + 4 (" + "; ".join(
        f"l={l}: {', '.join(str(depth_of(n, l)) for n in range(1, 5))}, ..." for l in ls) + ")"
    depths = depth_values(dims)
    bad = [(i, d) for i, d in enumerate(depths) if not any(depth_fits(d, l) for l in ls)]
    if bad and (ranged or len(bad) == len(depths)):  # one mistake: the depths and the blocks do not meet
        shown = ", ".join(str(d) for _, d in bad[:6]) + (", ..." if len(bad) > 6 else "")
        what = (f"depth {shown} is realized by no" if len(bad) == 1
                else f"none of the depths ({shown}) is realized by an")
        return [(["space", "depth"], f"{what} allowed block: {rule}")]
    for i, depth in bad:  # some depths fit: each of the others is a mistake of its own
        problems.append((["space", "depth", i], f"depth {depth} is realized by no allowed block: {rule}"))
    if problems:  # a block then fits none of the depths left: a consequence, not a second mistake
        return problems
    key = "block" if dims.block is not None else "convs_per_block"
    for b in blocks:
        if not depths_for(dims, len(b)):
            problems.append((["space", key], f"block {format_block(b)} (l={len(b)}) fits none of the allowed depths"))
    return problems


def sampler_problems(space: Space) -> list[str]:
    """Why the space's sampler cannot search it: a continuous range, for a sampler whose registry
    entry needs a finite space. Empty when it can."""
    entry = get_sampler(space.search.sampler)
    if not entry.finite_space:
        return []
    continuous = [key for key in ("widen_factor", "dropout")
                  if getattr(space.space, key) is not None and not getattr(space.space, key).finite]
    return [f"{entry.name} needs a finite space, but space.{key} is a continuous range: give it a step or a "
            "list, or use another sampler" for key in continuous]


def _sampler_problems(space: Space) -> list[Problem]:
    return [(["search", "sampler"], problem) for problem in sampler_problems(space)]


def _enqueue_problems(space: Space) -> list[Problem]:
    """An enqueued architecture that is no WRN or lies outside the space (one over a budget is
    skipped when queued, so that a tighter ``--set budget...`` needs no edit of the list)."""
    problems: list[Problem] = []
    for i, name in enumerate(space.search.enqueue):
        try:
            spec = with_dataset(space, parse_name(name))
        except SpecError as e:
            problems.append((["search", "enqueue", i], str(e)))
            continue
        why = outside_space(space, spec)
        if why:
            problems.append((["search", "enqueue", i], f"{name} cannot be evaluated first: {why}"))
    return problems
