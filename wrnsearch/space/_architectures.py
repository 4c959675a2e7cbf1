"""The architectures a space holds: its blocks, the depths each block allows, every spec in order.

Arithmetic on a valid :class:`~wrnsearch.space._schema.Space`, no torch or Optuna: the Optuna
side of a space (parameter names and distributions) is :mod:`wrnsearch.samplers`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

from wrnsearch.errors import SpaceError
from wrnsearch.space._schema import Space, SpaceDims
from wrnsearch.spec import WRNSpec, depth_fits, format_block, parse_block, parse_name


def space_blocks(dims: SpaceDims) -> tuple[tuple[int, ...], ...]:
    """The block choices, expanding convs_per_block x kernel_sizes where given that way."""
    if dims.block is not None:
        return dims.block
    if dims.convs_per_block is not None and dims.kernel_sizes is not None:
        return tuple(
            kernels
            for l in dims.convs_per_block.finite_values()
            for kernels in itertools.product(sorted(dims.kernel_sizes), repeat=l)
        )
    return ((3, 3),)


def depth_values(dims: SpaceDims) -> list[int]:
    """Every depth the ``depth`` dimension lists, realizable or not (empty without one)."""
    d = dims.depth
    if d is None:
        return []
    if d.kind == "range":
        return list(range(int(d.low), int(d.high) + 1, int(d.step or 1)))
    return [int(v) for v in d.values]


def depths_for(dims: SpaceDims, l: int) -> list[int] | None:
    """Depths the space allows for blocks of ``l`` convs (None when given as blocks_per_group)."""
    if dims.depth is None:
        return None
    return [v for v in depth_values(dims) if depth_fits(v, l)]


def with_dataset(space: Space, spec: WRNSpec) -> WRNSpec:
    """``spec`` with the space's data set's classes and input channels."""
    ds = space.dataset
    if spec.num_classes == ds.num_classes and spec.in_channels == ds.channels:
        return spec
    return WRNSpec(
        blocks_per_group=spec.blocks_per_group, widen_factor=spec.widen_factor, kernels=spec.kernels,
        dropout=spec.dropout, num_classes=ds.num_classes, in_channels=ds.channels,
    )


def params_of(space: Space, spec: WRNSpec) -> dict[str, Any]:
    """The Optuna parameters that make ``spec`` in ``space`` (the inverse of :func:`spec_from_params`)."""
    dims = space.space
    if dims.architecture is not None:
        return {"architecture": spec.name}
    out: dict[str, Any] = {"block": format_block(spec.kernels)} if len(space_blocks(dims)) > 1 else {}
    if dims.depth is not None:
        out[depth_param(space, len(spec.kernels))] = spec.depth
    else:
        out["blocks_per_group"] = spec.blocks_per_group
    out["widen_factor"] = spec.widen_factor
    out["dropout"] = spec.dropout
    return out


def _number(k: float) -> int | float:
    return int(k) if float(k).is_integer() else float(k)


def spec_from_params(space: Space, params: dict[str, Any]) -> WRNSpec:
    """The spec for a set of Optuna parameter values (see :mod:`wrnsearch.samplers`)."""
    dims = space.space
    ds = space.dataset
    if dims.architecture is not None:
        name = params["architecture"] if len(dims.architecture) > 1 else dims.architecture[0]
        return parse_name(name, num_classes=ds.num_classes, in_channels=ds.channels)
    blocks = space_blocks(dims)
    kernels = parse_block(params["block"]) if len(blocks) > 1 else blocks[0]
    k = params["widen_factor"] if "widen_factor" in params else dims.widen_factor.values[0]
    dropout = params["dropout"] if "dropout" in params else dims.dropout.values[0]
    common = dict(widen_factor=_number(k), kernels=kernels, dropout=float(dropout), num_classes=ds.num_classes,
                  in_channels=ds.channels)
    if dims.depth is not None:
        name = depth_param(space, len(kernels))
        depth = params[name] if name in params else depths_for(dims, len(kernels))[0]
        return WRNSpec(depth=int(depth), **common)
    n = params["blocks_per_group"] if "blocks_per_group" in params else dims.blocks_per_group.values[0]
    return WRNSpec(blocks_per_group=int(n), **common)


def depth_param(space: Space, l: int) -> str:
    """Optuna parameter name of the depth for blocks of ``l`` convs: ``depth`` when l is unique."""
    ls = {len(b) for b in space_blocks(space.space)}
    return "depth" if len(ls) == 1 else f"depth_l{l}"


def iter_specs(space: Space) -> Iterator[WRNSpec]:
    """Every distinct architecture of a finite space, in a stable order.

    Raises:
        SpaceError: when a dimension is a continuous range.
    """
    dims = space.space
    if dims.architecture is not None:
        seen = set()
        for name in dims.architecture:
            spec = with_dataset(space, parse_name(name))
            if spec not in seen:
                seen.add(spec)
                yield spec
        return
    for key in ("widen_factor", "dropout"):
        if not getattr(dims, key).finite:
            raise SpaceError(f"{space.source}: space.{key} is a continuous range: the space cannot be enumerated "
                             "(give a step)")
    ks = dims.widen_factor.finite_values()
    dropouts = dims.dropout.finite_values()
    for kernels in space_blocks(dims):
        if dims.depth is not None:
            sizes = [dict(depth=d) for d in depths_for(dims, len(kernels))]
        else:
            sizes = [dict(blocks_per_group=n) for n in dims.blocks_per_group.finite_values()]
        for size, k, p in itertools.product(sizes, ks, dropouts):
            yield WRNSpec(**size, widen_factor=_number(k), kernels=kernels, dropout=float(p),
                          num_classes=space.dataset.num_classes, in_channels=space.dataset.channels)


def space_size(space: Space) -> float:
    """Number of distinct architectures (``math.inf`` for a continuous space), without enumerating."""
    dims = space.space
    if dims.architecture is not None:
        return len({with_dataset(space, parse_name(n)) for n in dims.architecture})
    per_block = dims.widen_factor.size() * dims.dropout.size()
    total = 0.0
    for kernels in space_blocks(dims):
        sizes = len(depths_for(dims, len(kernels))) if dims.depth is not None else dims.blocks_per_group.size()
        total += sizes * per_block
    return total


def smallest_specs(space: Space) -> list[WRNSpec]:
    """For each block, the smallest architecture of the space (costs grow with N, k and dropout)."""
    dims = space.space
    if dims.architecture is not None:
        return list(iter_specs(space))
    k = _number(dims.widen_factor.minimum)
    specs = []
    for kernels in space_blocks(dims):
        if dims.depth is not None:
            size = dict(depth=min(depths_for(dims, len(kernels))))
        else:
            size = dict(blocks_per_group=int(dims.blocks_per_group.minimum))
        specs.append(WRNSpec(**size, widen_factor=k, kernels=kernels, dropout=float(dims.dropout.minimum),
                             num_classes=space.dataset.num_classes, in_channels=space.dataset.channels))
    return specs


def _dim_holds(dim: Any, value: float) -> bool:
    """Whether a dimension can take ``value`` (a fixed value, a choice, or a point of its range)."""
    if dim.kind != "range":
        return any(math.isclose(float(value), float(v), abs_tol=1e-9) for v in dim.values)
    if not dim.low - 1e-9 <= value <= dim.high + 1e-9:
        return False
    step = dim.step if dim.step is not None else (1 if dim.integer else None)
    return step is None or abs((value - dim.low) / step - round((value - dim.low) / step)) < 1e-6


def outside_space(space: Space, spec: WRNSpec) -> str | None:
    """Why ``spec`` is not an architecture of ``space`` (None when it is one)."""
    dims = space.space
    spec = with_dataset(space, spec)
    if dims.architecture is not None:
        names = {with_dataset(space, parse_name(n)).name for n in dims.architecture}
        return None if spec.name in names else f"{spec.name} is not in space.architecture"
    if spec.kernels not in space_blocks(dims):
        return f"its block {format_block(spec.kernels)} is not one of the space's blocks"
    if dims.depth is not None:
        if spec.depth not in (depths_for(dims, len(spec.kernels)) or []):
            return f"its depth {spec.depth} is not one of space.depth"
    elif not _dim_holds(dims.blocks_per_group, spec.blocks_per_group):
        return f"its {spec.blocks_per_group} blocks per group are not in space.blocks_per_group"
    if not _dim_holds(dims.widen_factor, spec.widen_factor):
        return f"its widen factor {_number(spec.widen_factor)} is not in space.widen_factor"
    if not _dim_holds(dims.dropout, spec.dropout):
        return f"its dropout {spec.dropout} is not in space.dropout"
    return None
