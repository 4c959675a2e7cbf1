"""Scheduling decisions of a search, as pure functions: no Ray, no Optuna, no torch.

A real search (:mod:`wrnsearch.search.driver`) and a replay on a simulated clock
(:mod:`wrnsearch.bench.replay`) take the same decisions from here: when to stop proposing, why a
run ended, and which trials go on at an early-stopping rung: ASHA's (one metric, as Ray Tune's
``ASHAScheduler`` decides it) and MO-ASHA's (every objective, by non-dominated sorting).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MAX_FREE_PROPOSALS = 500  # consecutive infeasible / already-trained proposals before giving up
MAX_DEFERRED = 3  # proposals in a row too long for the time left before the search stops proposing
SETUP_STREAK = 3  # trials in a row failing in their setup with the same error stop the search


def max_trials_reason(max_trials: int) -> str:
    return f"budget.max_trials reached ({max_trials})"


def exhausted_reason(space_total: float) -> str:
    return f"the space is exhausted: all {int(space_total)} architectures tried"


TIME_REASON = "budget.time reached"
TIME_STOPPED_REASON = "stopped before it finished: budget.time reached"
FREE_PROPOSALS_REASON = (f"the sampler proposed {MAX_FREE_PROPOSALS} infeasible or already-trained architectures "
                         "in a row")


def time_left_reason(left_s: float, trial_s: float) -> str:
    return (f"budget.time: {max(0.0, left_s):.0f} s left, less than a trial takes here "
            f"(about {trial_s:.0f} s, predicted from this run's)")


def predict_trial_s(finished: Sequence[tuple[float, float]], macs: float) -> float | None:
    """Seconds a trial of ``macs`` multiply-accumulates per image will take, from this run's
    finished trials as (MACs, seconds) pairs: a least-squares line through them (start-up and
    evaluation costs in its intercept, training in its slope, neither negative); through the
    origin from a single trial; None before any.

        >>> predict_trial_s([(6.2e6, 17.0), (26.7e6, 28.0), (95.6e6, 87.0)], 39e6)
        40.9
        >>> predict_trial_s([(10e6, 20.0)], 40e6), predict_trial_s([], 1e6)
        (80.0, None)
    """
    if not finished:
        return None
    xs = [float(m) for m, _ in finished]
    ys = [float(s) for _, s in finished]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread <= 0:  # one trial, or all of one size: seconds in proportion to MACs
        return round(mean_y * macs / mean_x, 1) if mean_x > 0 else round(mean_y, 1)
    slope = max(0.0, sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread)
    intercept = max(0.0, mean_y - slope * mean_x)
    return round(intercept + slope * macs, 1)


def stop_proposing(*, launched: int, allowed: int, max_trials: int, elapsed_s: float, time_budget_s: float | None,
                   tried: int, space_total: float, waiting: bool, trial_s: float | None = None) -> str | None:
    """Why no further trial should be proposed now, or None to go on.

    ``launched`` trials were started in this run out of ``allowed`` (what ``budget.max_trials``
    leaves after the trials trained before); ``tried`` distinct architectures were proposed out
    of ``space_total``; ``waiting``: retries of interrupted trials are queued. ``trial_s``: how
    long the cheapest trial would take (:func:`predict_trial_s`; None before the first finished):
    when not even that could finish within ``budget.time``, nothing is proposed any more, since
    the budget would stop it unfinished, off the front, its compute wasted.

        >>> stop_proposing(launched=3, allowed=8, max_trials=8, elapsed_s=100, time_budget_s=150, tried=3,
        ...                space_total=12, waiting=False, trial_s=60)
        "budget.time: 50 s left, less than a trial takes here (about 60 s, predicted from this run's)"

    Example:
        >>> stop_proposing(launched=3, allowed=3, max_trials=8, elapsed_s=0, time_budget_s=None, tried=3,
        ...                space_total=float("inf"), waiting=False)
        'budget.max_trials reached (8)'
    """
    if launched >= allowed:
        return max_trials_reason(max_trials)
    if time_budget_s is not None and elapsed_s >= time_budget_s:
        return TIME_REASON
    if time_budget_s is not None and trial_s is not None and elapsed_s + trial_s > time_budget_s:
        return time_left_reason(time_budget_s - elapsed_s, trial_s)
    if tried >= space_total and not waiting:
        return exhausted_reason(space_total)
    return None


def end_reason(*, trained: int, max_trials: int, time_up: bool, searcher_reason: str | None) -> str:
    """Why a run that Ray Tune finished ended, for the user."""
    if searcher_reason:
        return searcher_reason
    if trained >= max_trials:
        return max_trials_reason(max_trials)
    if time_up:
        return TIME_REASON
    return "all trials done"


class SetupStreak:
    """Trials in a row, in the order they finished, that failed in their setup with the same reason.

    A broken setup (the data missing on a node, a module not installed) fails every trial the
    same way before its first epoch; after ``limit`` of them the search stops instead of burning
    its budget. Any other outcome, or another reason, starts the count again.

    >>> streak = SetupStreak(limit=3)
    >>> [streak.add(r) for r in ("no data", "no data", None, "no data", "no data", "no data")]
    [False, False, False, False, False, True]
    """

    def __init__(self, limit: int = SETUP_STREAK) -> None:
        self.limit = limit
        self.reason: str | None = None
        self.count = 0

    def add(self, setup_reason: str | None) -> bool:
        """One more finished trial: its setup failure's reason, or None for any other outcome.
        True when ``limit`` trials in a row have now failed with the same reason."""
        if setup_reason is None:
            self.reason, self.count = None, 0
            return False
        if setup_reason == self.reason:
            self.count += 1
        else:
            self.reason, self.count = setup_reason, 1
        return self.count >= self.limit


def setup_stop_reason(count: int, reason: str, where: str | None = None) -> str:
    """Why a search stopped on a broken setup, in one line (the driver adds how to resume)."""
    on = f" (the last on {where})" if where else ""
    return (f"{count} trials in a row failed before their first epoch with the same setup error{on}, so the "
            f"search stopped; they do not count toward budget.max_trials: {reason}")


# --- early stopping at rungs -------------------------------------------------------------------


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


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is no worse than ``b`` in every objective and better in one (all minimized)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def nondominated_ranks(points: Sequence[Sequence[float]]) -> list[int]:
    """Each point's non-domination rank (0: on the front; 1: on the front once rank 0 is removed; ...).

    The rank of point ``i`` is at ``[i]``: a rank per point, not an ordering of indices.

    >>> nondominated_ranks([[3, 3], [1, 1], [2, 4], [4, 2]])
    [1, 0, 1, 1]
    """
    n = len(points)
    dominated_by = [0] * n
    dominating: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(points[i], points[j]):
                dominating[i].append(j)
                dominated_by[j] += 1
            elif dominates(points[j], points[i]):
                dominating[j].append(i)
                dominated_by[i] += 1
    ranks = [-1] * n
    current = [i for i in range(n) if dominated_by[i] == 0]
    rank = 0
    while current:
        nxt = []
        for i in current:
            ranks[i] = rank
            for j in dominating[i]:
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    nxt.append(j)
        current, rank = nxt, rank + 1
    return ranks


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
    ranks = nondominated_ranks(points)
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

    One object serves a Ray Tune scheduler (:class:`wrnsearch.search.moasha.MOASHAScheduler`) and a
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
