"""Statistics a reviewer accepts for a comparison of search methods over replay seeds.

Each replay seed is one paired draw: every method replayed with seed s sees the same noisy
training curves (:meth:`~wrnsearch.bench.Table.observed`), so two methods are compared seed by
seed. A method's hypervolume over seeds gets its median with a percentile bootstrap interval
(seeds resampled with replacement), and a pair of methods the share of seeds on which the first
reaches at least the second's hypervolume, with the same bootstrap over seeds. The resampling is
seeded, so a result prints the same every time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

RESAMPLES = 4000
LEVEL = 0.95
TIE = 1e-9  # hypervolumes are rounded to 6 decimals: equal ones are a tie, which the first method wins


class Estimate(NamedTuple):
    """A statistic over seeds and its bootstrap interval."""

    value: float
    low: float
    high: float


def _resampled(n: int, resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def bootstrap(values: Sequence[float], statistic: Callable[..., np.ndarray] = np.median, *,
              resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0) -> Estimate:
    """``statistic`` of ``values`` and its percentile bootstrap interval.

    >>> bootstrap([1.0, 2.0, 3.0, 4.0, 5.0]).value
    3.0
    >>> e = bootstrap([0.5] * 20); (e.low, e.high)
    (0.5, 0.5)
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("no values to bootstrap")
    boot = statistic(x[_resampled(x.size, resamples, seed)], axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(boot, [tail, 100 - tail])
    return Estimate(float(statistic(x)), float(low), float(high))


def paired_share(first: Sequence[float], second: Sequence[float], *, resamples: int = RESAMPLES,
                 level: float = LEVEL, seed: int = 0) -> Estimate:
    """The share of seeds on which ``first`` is at least ``second`` (paired by position), with its
    bootstrap interval over seeds.

    >>> paired_share([0.9, 0.8, 0.7, 0.6], [0.5, 0.9, 0.7, 0.1]).value
    0.75
    """
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in count: {a.size} and {b.size}")
    wins = (a >= b - TIE).astype(float)
    return bootstrap(wins, np.mean, resamples=resamples, level=level, seed=seed)


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """Lower quartile, median, upper quartile (linear interpolation)."""
    q = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return float(q[0]), float(q[1]), float(q[2])
