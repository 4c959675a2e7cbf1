"""Dominance on plain arrays: which points no other point beats, and non-dominated sorting.

Point *a* dominates *b* when *a* is no worse in every objective and strictly better in at least
one (worse meaning larger for ``minimize``, smaller for ``maximize``). Equal points do not
dominate each other, so duplicates are on a front together (as in Optuna's
``study.best_trials``). NumPy only: the same arithmetic serves a study, a replay and the live view.

Example:
    >>> non_dominated_mask([[1, 3], [2, 2], [3, 1], [3, 3]]).tolist()
    [True, True, True, False]
    >>> non_dominated_ranks([[1, 3], [2, 2], [3, 3], [4, 4]]).tolist()
    [0, 0, 1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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

