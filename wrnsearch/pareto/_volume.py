"""Exact hypervolume, and the normalization that makes objectives of different units comparable.

All objectives are minimized here (negate maximized ones first). Two objectives by a sweep in
O(n log n); three by slicing along the last objective, each slab's cross section a
two-objective sweep (O(n^2 log n)); four and more by WFG (While, Bradstreet & Barone 2012), the
volume as a sum of each point's exclusive contribution.

Example:
    >>> hypervolume([[1, 3], [2, 2], [3, 1]], reference=[4, 4])
    6.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from wrnsearch.pareto._dominance import as_points, check_directions, non_dominated_mask

REFERENCE_POINT = 1.1  # in every normalized coordinate, best = 0 and worst = 1


def hypervolume(points: Any, reference: Any) -> float:
    """Exact volume of the region the points dominate, bounded by the reference point.

    All objectives are minimized (negate maximized ones first, reference included). Points that
    are not strictly better than the reference in every objective add nothing and are dropped.

    Args:
        points: ``(n, m)`` objective values, ``m >= 1``.
        reference: ``m`` values, or one value for every objective.

    Returns:
        The volume of ``{x : x <= reference and some point p <= x}``; 0.0 for no point.
    """
    pts = as_points(points)
    m = pts.shape[1]
    ref = np.broadcast_to(np.asarray(reference, dtype=float), (m,)).copy()
    if not np.isfinite(ref).all():
        raise ValueError(f"the reference point {ref.tolist()} must be finite")
    pts = pts[(pts < ref).all(axis=1)]
    if len(pts) == 0:
        return 0.0
    pts = np.unique(pts, axis=0)
    pts = pts[non_dominated_mask(pts)]
    return float(_hypervolume(pts, ref))


def _hypervolume(pts: np.ndarray, ref: np.ndarray) -> float:
    """Points strictly inside the reference box; dominated points may be present."""
    m = pts.shape[1]
    if m == 1:
        return float(ref[0] - pts[:, 0].min())
    if m == 2:
        return _hypervolume_2d(pts, ref)
    if m == 3:
        return _hypervolume_3d(pts, ref)
    # four and more: WFG (While, Bradstreet & Barone 2012), the volume as a sum of exclusive
    # contributions, each the point's box less the volume of the others limited to that box
    pts = pts[non_dominated_mask(pts)]
    pts = pts[np.argsort(pts[:, 0], kind="stable")]
    return float(sum(exclusive_hypervolume(pts[i], pts[i + 1 :], ref) for i in range(len(pts))))


def exclusive_hypervolume(point: np.ndarray, others: np.ndarray, ref: np.ndarray) -> float:
    """The volume ``point`` dominates and none of ``others`` does (point strictly inside ref)."""
    box = float(np.prod(ref - point))
    limited = np.maximum(others, point)  # what each other point dominates inside point's box
    limited = limited[(limited < ref).all(axis=1)]
    if len(limited) == 0:
        return box
    limited = np.unique(limited, axis=0)
    return box - _hypervolume(limited[non_dominated_mask(limited)], ref)


def _hypervolume_3d(pts: np.ndarray, ref: np.ndarray) -> float:
    # slice along the last objective: between z_i and the next z, the dominated region's cross
    # section is what the points with z <= z_i dominate in the first two objectives
    pts = pts[np.argsort(pts[:, -1], kind="stable")]
    z = pts[:, -1]
    z_next = np.append(z[1:], ref[-1])
    total = 0.0
    for i in range(len(pts)):
        thickness = z_next[i] - z[i]
        if thickness > 0:
            total += thickness * _hypervolume_2d(pts[: i + 1, :-1], ref[:-1])
    return total


def _hypervolume_2d(pts: np.ndarray, ref: np.ndarray) -> float:
    # sweep x upwards: over [x_i, x_{i+1}) the region reaches from the lowest y seen so far to ref
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    x = pts[order, 0]
    lowest_y = np.minimum.accumulate(pts[order, 1])
    widths = np.append(x[1:], ref[0]) - x
    return float(np.sum(widths * (ref[1] - lowest_y)))


class Bounds(NamedTuple):
    """Per objective, the values that normalize to 0 (``best``) and to 1 (``worst``)."""

    best: tuple[float, ...]
    worst: tuple[float, ...]


def normalization_bounds(values: Any, directions: Sequence[str] | None = None) -> Bounds:
    """The best and worst value of each objective over ``values`` (``(n, m)``, ``n >= 1``)."""
    array = as_points(values)
    if len(array) == 0:
        raise ValueError("normalization bounds need at least one point")
    if not np.isfinite(array).all():
        raise ValueError("normalization bounds need finite values")
    directions = check_directions(directions, array.shape[1])
    low, high = array.min(axis=0), array.max(axis=0)
    best = tuple(float(lo if d == "minimize" else hi) for lo, hi, d in zip(low, high, directions))
    worst = tuple(float(hi if d == "minimize" else lo) for lo, hi, d in zip(low, high, directions))
    return Bounds(best, worst)


def normalize(values: Any, bounds: Bounds) -> np.ndarray:
    """Map values to ``(v - best) / (worst - best)``: 0 at best, 1 at worst, smaller is better.

    An objective whose best equals its worst maps to ``v - best`` (0 for the values it came from).
    """
    array = as_points(values)
    best = np.asarray(bounds.best, dtype=float)
    span = np.asarray(bounds.worst, dtype=float) - best
    if array.shape[1] != len(best):
        raise ValueError(f"{array.shape[1]} objectives but bounds for {len(best)}")
    # the sign of span turns maximized objectives into losses; a zero span leaves v - best
    scale = np.where(span == 0, 1.0, span)
    return (array - best) / scale

