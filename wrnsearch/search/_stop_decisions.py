"""When a search stops proposing and why it ended, as pure functions: no Ray, no Optuna, no torch.

A real search (:mod:`wrnsearch.search._driver`) and a replay on a simulated clock
(:mod:`wrnsearch.bench`) take the same decisions from here: the trial and time budgets, a time
budget's prediction of a proposal's seconds, proposals the sampler keeps wasting, and setup
failures in a row. Which trials go on at an early-stopping rung is
:mod:`wrnsearch.search._scheduler_decisions`.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_FREE_PROPOSALS = 500  # consecutive infeasible / already-trained proposals before giving up
MAX_UNFIT = 3  # proposals in a row too long for the time left before the search stops proposing
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
