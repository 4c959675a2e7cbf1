"""The arithmetic of Pareto fronts on plain arrays, written once for every package that needs it.

- Dominance: point *a* dominates *b* when *a* is no worse in every objective and strictly better
  in at least one (worse meaning larger for ``minimize``, smaller for ``maximize``). Equal points
  do not dominate each other, so duplicates are on a front together (as in Optuna's
  ``study.best_trials``). :func:`non_dominated_mask` is the front; :func:`non_dominated_ranks`
  the non-dominated sorting that MO-ASHA's rungs and the report's ranks use.
- Hypervolume, exact: all objectives minimized here (negate maximized ones first). Two
  objectives by a sweep in O(n log n); three by slicing along the last objective, each slab's
  cross section a two-objective sweep (O(n^2 log n)); four and more by WFG (While, Bradstreet &
  Barone 2012), the volume as a sum of each point's exclusive contribution
  (:func:`exclusive_hypervolume`, which ehvi's expected improvement also integrates).
- Min-max normalisation (:func:`normalization_bounds`, :func:`normalize`: best 0, worst 1) and
  the reference point :data:`REFERENCE_POINT` in every normalized coordinate.

NumPy only: the same arithmetic serves a sampler, a study's front, a rung decision, a replay and
the live view. :mod:`wrnsearch.pareto` builds a study's fronts on it.

Example:
    >>> non_dominated_mask([[1, 3], [2, 2], [3, 1], [3, 3]]).tolist()
    [True, True, True, False]
    >>> non_dominated_ranks([[1, 3], [2, 2], [3, 3], [4, 4]]).tolist()
    [0, 0, 1, 2]
    >>> hypervolume([[1, 3], [2, 2], [3, 1]], reference=[4, 4])
    6.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

DIRECTIONS = ("minimize", "maximize")
_CHUNK_ELEMENTS = 1 << 22  # comparisons per numpy call in the dominance test (memory ~ 4 MiB per bool array)


def as_points(points: Any) -> np.ndarray:
    array = np.asarray(points, dtype=float)
    if array.ndim == 1:  # one objective: a flat list of values
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"points must be a 2-d array (n_points, n_objectives), got shape {array.shape}")
    if np.isnan(array).any():
        raise ValueError("points contain NaN, which no order can rank")
    return array


def check_directions(directions: Sequence[str] | None, m: int) -> list[str]:
    if directions is None:
        return ["minimize"] * m
    directions = [str(d) for d in directions]
    if len(directions) != m:
        raise ValueError(f"{len(directions)} directions for {m} objectives")
    for d in directions:
        if d not in DIRECTIONS:
            raise ValueError(f"direction {d!r} is not 'minimize' or 'maximize'")
    return directions


def as_loss(points: Any, directions: Sequence[str] | None) -> np.ndarray:
    """The points as losses: maximized objectives negated, so smaller is better everywhere."""
    array = as_points(points)
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in check_directions(directions, array.shape[1])])
    return array * signs


def non_dominated_mask(points: Any, directions: Sequence[str] | None = None) -> np.ndarray:
    """Which points no other point dominates (the Pareto front), as a boolean array.

    Args:
        points: ``(n, m)`` objective values, one row per point (a flat list for ``m = 1``).
        directions: ``"minimize"`` or ``"maximize"`` per objective; all minimize by default.

    Returns:
        A boolean array of length ``n``; equal points are on the front together.
    """
    loss = as_loss(points, directions)
    n, m = loss.shape
    dominated = np.zeros(n, dtype=bool)
    chunk = max(1, _CHUNK_ELEMENTS // max(1, n * m))
    for start in range(0, n, chunk):
        block = loss[start : start + chunk, None, :]  # (b, 1, m) against every point (1, n, m)
        no_worse = (loss[None, :, :] <= block).all(axis=2)
        better = (loss[None, :, :] < block).any(axis=2)
        dominated[start : start + chunk] = (no_worse & better).any(axis=1)
    return ~dominated


def non_dominated_ranks(points: Any, directions: Sequence[str] | None = None) -> np.ndarray:
    """Non-dominated sorting: 0 for the front, 1 for the front of the rest, and so on.

    A point's rank is the length of the longest chain of points dominating it, which is what
    peeling off one front after another gives. Points are visited in lexicographic order, where
    every dominator comes before the points it dominates: O(n^2 m) time, O(n m) memory.

    Args:
        points: ``(n, m)`` objective values.
        directions: ``"minimize"`` or ``"maximize"`` per objective; all minimize by default.

    Returns:
        An integer array of length ``n``.
    """
    loss = as_loss(points, directions)
    n = loss.shape[0]
    ranks = np.zeros(n, dtype=int)
    if n == 0:
        return ranks
    order = np.lexsort(loss.T[::-1])  # by the first objective, then the second, ...
    sorted_loss = loss[order]
    sorted_ranks = np.zeros(n, dtype=int)
    for i in range(1, n):
        before = sorted_loss[:i]
        point = sorted_loss[i]
        dominators = (before <= point).all(axis=1) & (before < point).any(axis=1)
        if dominators.any():
            sorted_ranks[i] = sorted_ranks[:i][dominators].max() + 1
    ranks[order] = sorted_ranks
    return ranks


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
    if len(point) == 2:  # ehvi's case with three objectives, thousands of times a proposal
        return _exclusive_area(point, others, ref)
    box = float(np.prod(ref - point))
    limited = np.maximum(others, point)  # what each other point dominates inside point's box
    limited = limited[(limited < ref).all(axis=1)]
    if len(limited) == 0:
        return box
    limited = np.unique(limited, axis=0)
    return box - _hypervolume(limited[non_dominated_mask(limited)], ref)


def _exclusive_area(point: np.ndarray, others: np.ndarray, ref: np.ndarray) -> float:
    """:func:`exclusive_hypervolume` in two dimensions, on Python floats: the point's box less the
    staircase the others (clipped into the box) cover. A handful of points each time, where
    numpy's per-call overhead was most of the cost."""
    px, py = float(point[0]), float(point[1])
    rx, ry = float(ref[0]), float(ref[1])
    clipped = sorted((max(x, px), max(y, py)) for x, y in np.asarray(others, dtype=float).tolist()
                     if x < rx and y < ry)
    stairs, lowest = [], ry
    for x, y in clipped:  # left to right, the points below every one before them
        if y < lowest:
            stairs.append((x, y))
            lowest = y
    covered = 0.0
    for i, (x, y) in enumerate(stairs):
        covered += ((stairs[i + 1][0] if i + 1 < len(stairs) else rx) - x) * (ry - y)
    return (rx - px) * (ry - py) - covered


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

