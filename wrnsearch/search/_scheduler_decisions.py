"""The schedulers' decisions at early-stopping rungs, as pure functions: no Ray, no Optuna, no torch.

ASHA's (one metric, as Ray Tune's ``ASHAScheduler`` decides it) and MO-ASHA's (every objective,
by non-dominated sorting, ties broken by crowding distance). A real search's Ray Tune scheduler
(:mod:`wrnsearch.search._moasha_scheduler`) and a replay on a simulated clock (:mod:`wrnsearch.bench`)
call the same :class:`Rungs`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from wrnsearch.dominance import non_dominated_ranks


def grace_epochs(grace_period: float, epochs: int) -> int:
    """A grace period in epochs: a whole count as given, or a fraction (< 1) of the epoch budget.

    >>> grace_epochs(20, 200), grace_epochs(0.1, 200), grace_epochs(0.1, 6)
    (20, 20, 1)
    """
    if grace_period < 1:
        return max(1, int(round(grace_period * epochs)))
    return int(grace_period)


def rung_milestones(grace: int, reduction_factor: float, max_t: int) -> list[int]:
    """The epochs at which a trial meets a rung: grace, grace*rf, grace*rf^2, ... below ``max_t``.

    A trial that reaches ``max_t`` has finished; there is nothing left to decide there.

    >>> rung_milestones(1, 3, 20), rung_milestones(20, 3, 200), rung_milestones(4, 2, 4)
    ([1, 3, 9], [20, 60, 180], [])
    """
    out, t = [], float(grace)
    while t < max_t:
        out.append(int(math.ceil(t - 1e-9)))
        t *= reduction_factor
    return sorted(set(out))


def asha_continues(recorded: Sequence[float], value: float, reduction_factor: float) -> bool:
    """ASHA's rung decision for a minimized metric, as Ray Tune's ``ASHAScheduler`` takes it.

    The newcomer goes on unless it is worse than the ``1/rf`` quantile (linear interpolation) of
    what earlier trials recorded at this rung; the first trial at a rung always goes on.

    >>> asha_continues([], 50.0, 3), asha_continues([10.0, 20.0], 30.0, 3), asha_continues([10.0, 20.0], 5.0, 3)
    (True, False, True)
    """
    values = sorted(v for v in recorded if not math.isnan(v))
    if not values:
        return True
    q = (len(values) - 1) * (1.0 / reduction_factor)
    lo = int(math.floor(q))
    hi = min(lo + 1, len(values) - 1)
    cutoff = values[lo] + (values[hi] - values[lo]) * (q - lo)
    return not value > cutoff


def crowding_distances(points: Sequence[Sequence[float]], ranks: Sequence[int]) -> list[float]:
    """NSGA-II's crowding distance of each point within its own rank (boundary points: infinite)."""
    out = [0.0] * len(points)
    m = len(points[0]) if points else 0
    for rank in set(ranks):
        members = [i for i, r in enumerate(ranks) if r == rank]
        if len(members) <= 2:
            for i in members:
                out[i] = math.inf
            continue
        for k in range(m):
            ordered = sorted(members, key=lambda i: points[i][k])
            lo, hi = points[ordered[0]][k], points[ordered[-1]][k]
            out[ordered[0]] = out[ordered[-1]] = math.inf
            if hi == lo:
                continue
            for a, i, b in zip(ordered, ordered[1:], ordered[2:]):
                out[i] += (points[b][k] - points[a][k]) / (hi - lo)
    return out


def promotion_keys(points: Sequence[Sequence[float]]) -> list[tuple[int, float]]:
    """Each point's promotion key, smaller first: (non-domination rank, minus crowding distance)."""
    ranks = [int(r) for r in non_dominated_ranks(points)] if len(points) else []
    crowding = crowding_distances(points, ranks)
    return [(r, -c) for r, c in zip(ranks, crowding)]


def promotion_order(points: Sequence[Sequence[float]], keys: Sequence[tuple[int, float]] | None = None) -> list[int]:
    """Indices of ``points`` best first: by non-domination rank, then by crowding distance (larger
    first), then by index (earlier first). ``keys``: their :func:`promotion_keys`, if known."""
    keys = promotion_keys(points) if keys is None else keys
    return sorted(range(len(points)), key=lambda i: (keys[i], i))


def moasha_continues(recorded: Sequence[Sequence[float]], newcomer: Sequence[float], reduction_factor: float) -> bool:
    """MO-ASHA's rung decision: does the newcomer rank among the top ``1/rf`` of the rung?

    The rung holds ``recorded`` (earlier trials' objective vectors at this rung) and the
    newcomer; all are ranked by :func:`promotion_order` and the first ``max(1, floor(n / rf))``
    go on, and so does a newcomer whose key ties the last of them (as ASHA lets a value equal to
    its cutoff go on). A newcomer that dominates every recorded point, or is strictly best in any
    one objective, has the best key there is (rank 0, infinite crowding) and always goes on.

    >>> moasha_continues([[50, 1.0], [40, 2.0]], [30, 0.5], 3), moasha_continues([[10, 1.0]], [20, 2.0], 3)
    (True, False)
    """
    points = [*recorded, newcomer]
    keep = max(1, int(math.floor(len(points) / reduction_factor + 1e-9)))
    keys = promotion_keys(points)
    order = promotion_order(points, keys)
    me = len(points) - 1
    return order.index(me) < keep or keys[me] <= keys[order[keep - 1]]


class Rungs:
    """The rungs of asynchronous successive halving and what each trial recorded there.

    One object serves a Ray Tune scheduler (:class:`wrnsearch.search._moasha_scheduler.MOASHAScheduler`) and a
    replay alike. ``multi``: rank by every objective (MO-ASHA); otherwise by the first one (ASHA,
    as Ray Tune's ``ASHAScheduler`` decides). A report at an epoch meets the highest rung it has
    reached and not yet met, as in Ray Tune.

    >>> rungs = Rungs([1, 3], reduction_factor=3, multi=True)
    >>> rungs.decide("a", 1, [60.0, 1e5]), rungs.decide("b", 1, [70.0, 2e5]), rungs.decide("c", 1, [50.0, 5e4])
    (True, False, True)
    """

    def __init__(self, milestones: Sequence[int], reduction_factor: float, multi: bool) -> None:
        self.milestones = sorted(milestones)
        self.reduction_factor = reduction_factor
        self.multi = multi
        self.recorded: dict[int, dict[str, list[float]]] = {m: {} for m in self.milestones}

    def decide(self, trial_id: str, epoch: float, vector: Sequence[float]) -> bool:
        """Record the trial's objectives at the rung it reached; True: it goes on, False: stop it."""
        for milestone in reversed(self.milestones):
            rung = self.recorded[milestone]
            if epoch < milestone or trial_id in rung:
                continue
            vec = [float(v) for v in vector]
            if self.multi:
                go = moasha_continues(list(rung.values()), vec, self.reduction_factor)
            else:
                go = asha_continues([v[0] for v in rung.values()], vec[0], self.reduction_factor)
            rung[trial_id] = vec
            return go
        return True

    def rung_of(self, epoch: float) -> int | None:
        """The highest milestone at or below ``epoch`` (None before the first)."""
        reached = [m for m in self.milestones if m <= epoch]
        return reached[-1] if reached else None
