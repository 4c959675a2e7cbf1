"""The points an exhaustive sampler counts as visited, and a proposal killed before it was keyed.

Optuna's grid holds a trial's point from the ask on, in its ``grid_id`` system attribute; brute
force reads the point from the parameters a trial holds, a failed trial's included. A proposal the
driver was killed in the middle of never trained, yet once it is marked failed its point counts as
visited: the study queues it again (:func:`wrnsearch.study.reconcile_running`), and for brute
force makes it whole first (:func:`complete_proposal`).

A queued trial (``search.enqueue``'s architectures, a retry) is asked with its parameters fixed,
in Optuna's ``fixed_params`` system attribute (:data:`QUEUED`): killed mid-proposal, it is still
that whole architecture, and Optuna's ``enqueue_trial(skip_if_exists=True)`` counts the failed
trial as queued already, so the study queues it again itself.
"""

from __future__ import annotations

import optuna
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial

from wrnsearch.compat import study_storage, trial_id
from wrnsearch.samplers._parameters import suggest_spec
from wrnsearch.space import Space

GRID_POINT = "grid_id"  # the system attribute in which Optuna's GridSampler keeps a trial's grid point
QUEUED = "fixed_params"  # the system attribute in which Optuna keeps a queued trial's parameters


def marks_visited(sampler: BaseSampler, trial: FrozenTrial) -> bool:
    """Whether ``sampler`` counts ``trial``, once failed, as a point of its space it has visited."""
    return GRID_POINT in trial.system_attrs or isinstance(sampler, optuna.samplers.BruteForceSampler)


def complete_proposal(study: optuna.Study, trial: FrozenTrial, space: Space) -> FrozenTrial:
    """``trial`` (still RUNNING) with the parameters it lacks suggested by the study's sampler, as
    the proposal would have; a grid trial as it is (its point is its ``grid_id``).

    Brute force reads part of a point as a whole subtree, and a failed one as a visited subtree
    that its tree cannot grow: Optuna raises ValueError ("param_name mismatch") as soon as it
    reads it, in the tell that fails the trial and in every ask after. Made whole, it is one
    point, which its queued copy trains.
    """
    if GRID_POINT in trial.system_attrs:
        return trial
    suggest_spec(optuna.Trial(study, trial_id(trial)), space)
    return study_storage(study).get_trial(trial_id(trial))
