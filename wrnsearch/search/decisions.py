"""Scheduling decisions of a search, as pure functions: no Ray, no Optuna, no torch.

A real search (:mod:`wrnsearch.search.driver`) and a replay on a simulated clock take the same
decisions from here: when to stop proposing, and why a run ended. Which trials go on at an
early-stopping rung is decided by Ray Tune's ASHA today (single-objective); a multi-objective
rung decision belongs here too.
"""

from __future__ import annotations

MAX_FREE_PROPOSALS = 500  # consecutive infeasible / already-trained proposals before giving up


def max_trials_reason(max_trials: int) -> str:
    return f"budget.max_trials reached ({max_trials})"


def exhausted_reason(space_total: float) -> str:
    return f"the space is exhausted: all {int(space_total)} architectures tried"


TIME_REASON = "budget.time reached"
TIME_STOPPED_REASON = "stopped before it finished: budget.time reached"
FREE_PROPOSALS_REASON = (f"the sampler proposed {MAX_FREE_PROPOSALS} infeasible or already-trained architectures "
                         "in a row")


def stop_proposing(*, launched: int, allowed: int, max_trials: int, elapsed_s: float, time_budget_s: float | None,
                   tried: int, space_total: float, waiting: bool) -> str | None:
    """Why no further trial should be proposed now, or None to go on.

    ``launched`` trials were started in this run out of ``allowed`` (what ``budget.max_trials``
    leaves after the trials trained before); ``tried`` distinct architectures were proposed out
    of ``space_total``; ``waiting``: retries of interrupted trials are queued.

    Example:
        >>> stop_proposing(launched=3, allowed=3, max_trials=8, elapsed_s=0, time_budget_s=None, tried=3,
        ...                space_total=float("inf"), waiting=False)
        'budget.max_trials reached (8)'
    """
    if launched >= allowed:
        return max_trials_reason(max_trials)
    if time_budget_s is not None and elapsed_s >= time_budget_s:
        return TIME_REASON
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
