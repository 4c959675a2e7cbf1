"""Proposals that fit the time left, chosen before a trial is stored.

Optuna stores a trial the moment it is asked for, and a stored trial must end COMPLETE, PRUNED or
FAIL. Near the end of ``budget.time`` a proposal predicted not to finish in the time left must
not start (the budget would cut it, off the front, its compute wasted), and it must not be stored
either: told FAIL it is a red "Fail" in optuna-dashboard and every Optuna tool (as earlier
versions stored it, ``status: deferred``; such studies still read, :mod:`wrnsearch.study`).

So while a time check applies (a time budget and a finished trial of this run to predict from),
the proposal is asked of a scratch copy of the study in memory: the same trials, the same
sampler. The one that fits is then enqueued in the real study with its parameters and asked
for there, which stores it once, as any enqueued trial (Optuna's ``enqueue_trial``: the sampler
is not asked again). A candidate sampler (``ehvi``) ranks only the candidates that fit; Optuna's
samplers get :data:`MAX_UNFIT` tries. When none fits, nothing is stored and the search stops
proposing, saying why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import optuna

from wrnsearch.compat import study_storage
from wrnsearch.cost import Cost
from wrnsearch.samplers import Proposal, proposals_limited_to
from wrnsearch.search._stop_decisions import MAX_UNFIT

log = logging.getLogger(__name__)


def scratch_copy(study: optuna.Study) -> optuna.Study:
    """An in-memory study with ``study``'s directions, attributes, trials and sampler: asking it
    for a trial runs the sampler on the same history and stores nothing in ``study``."""
    scratch = optuna.create_study(directions=study.directions, sampler=study.sampler, study_name=study.study_name)
    source, target = study_storage(study), study_storage(scratch)
    for key, value in source.get_study_system_attrs(study._study_id).items():  # noqa: SLF001
        target.set_study_system_attr(scratch._study_id, key, value)  # noqa: SLF001
    for key, value in study.user_attrs.items():
        scratch.set_user_attr(key, value)
    scratch.add_trials(study.get_trials(deepcopy=False))
    return scratch


def fitting_params(study: optuna.Study, propose: Callable[[optuna.Study, optuna.Trial], Proposal],
                   too_long: Callable[[Proposal], str | None], accept: Callable[[Cost], bool]
                   ) -> tuple[dict[str, Any], None] | tuple[None, str]:
    """The parameters of the first proposal that ``too_long`` lets start, asked of a scratch copy
    of ``study`` (nothing stored), with why the last one could not; (None, why) after
    :data:`MAX_UNFIT` proposals that would not finish (after one from a sampler that ranks only
    what ``accept`` takes: it proposed outside them, so none is open)."""
    scratch = scratch_copy(study)
    why = ""
    with proposals_limited_to(study.sampler, accept) as ranks_fitting:
        for _ in range(1 if ranks_fitting else MAX_UNFIT):
            trial = scratch.ask()
            proposal = propose(scratch, trial)
            why = too_long(proposal)
            if why is None:
                return dict(trial.params), None
            log.info("%s not started: %s", proposal.spec.name, why)
            scratch.tell(trial, state=optuna.trial.TrialState.FAIL)  # not proposed again in this copy
    return None, why
