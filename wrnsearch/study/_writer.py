"""The driver's side of the study: open it for writing, and record each trial from proposal to end.

Only the search's driver writes the study (SQLite takes one writer). Every write of a trial's
record goes through here, so the study's attributes are spelled by :mod:`wrnsearch.record`
alone and each outcome costs as few transactions as Optuna allows: the outcome's attributes in
one upsert, then Optuna's own ``tell`` (without the read-back of ``Study.tell``). What the
driver needs later of a finished trial (its values and attributes, to reuse them) is kept in
memory as a :class:`Result`, never read back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from wrnsearch import __version__
from wrnsearch.compat import set_trial_attrs, study_storage, tell, trial_id
from wrnsearch.errors import RunError, one_line
from wrnsearch.objectives import record_values
from wrnsearch.record import INTERRUPTED_REASON, WORKER_DIED_REASON, Attr, Status, TrialRecord
from wrnsearch.samplers import QUEUED, Proposal, complete_proposal, infeasible_values, make_sampler, marks_visited
from wrnsearch.space import Space
from wrnsearch.spec import WRNSpec
from wrnsearch.study._outcome import Outcome, outcome_from
from wrnsearch.study._storage import open_storage
from wrnsearch.study._urls import display_url

log = logging.getLogger(__name__)


def trial_key(space: Space, spec: WRNSpec) -> str:
    """Identity of "this architecture with this recipe on this data": equal keys are trained once."""
    dataset = space.dataset.model_dump(mode="json", exclude={"root", "download"})
    # infer_batch only changes how latency_infer_ms is timed, and is fixed within a study: left out, so
    # keys (and checkpoint directories) of studies written before it existed stay the same
    recipe = space.train.model_dump(mode="json", exclude={"eval_batch_size", "infer_batch"})
    blob = json.dumps({"spec": spec.to_dict(), "recipe": recipe, "dataset": dataset}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


# --------------------------------------------------------------------------------------------
# Opening


def open_study(space: Space, url: str, *, create: bool = True, attempts: int = 5) -> optuna.Study:
    """Create or load the study named after the space; check its objectives match.

    A reader that opens the database at the moment the driver creates it (optuna-dashboard
    creates Optuna's tables when they are missing) can make the creation fail once with a
    lock or "table already exists" error: such errors are retried.

    Raises:
        RunError: when the study cannot be opened, or holds other objectives.
    """
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            return _open_study_once(space, url, create)
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError) as e:
            if attempt == attempts - 1:
                cause = one_line(getattr(e, "orig", e), 200)
                raise RunError(f"cannot open the study in {display_url(url)}: {cause}") from None
            log.warning("opening the study failed (%s); retrying", type(e).__name__)
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _open_study_once(space: Space, url: str, create: bool) -> optuna.Study:
    storage = open_storage(url)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = make_sampler(space)  # built once: ehvi enumerates the space
    try:
        study = optuna.load_study(study_name=space.name, storage=storage, sampler=sampler)
    except KeyError:
        if not create:
            raise RunError(f"no study named {space.name!r} in {display_url(url)}") from None
        study = optuna.create_study(study_name=space.name, storage=storage, directions=space.directions,
                                    sampler=sampler)
        with warnings.catch_warnings():  # Optuna calls set_metric_names experimental, at every call
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(space.objectives))
        study.set_user_attr("space", space.to_yaml_dict())
        study.set_user_attr("objectives", list(space.objectives))
        study.set_user_attr("dataset", space.dataset.name)
        study.set_user_attr("wrnsearch_version", __version__)
        return study
    names = study.metric_names or []
    if list(names) != list(space.objectives):
        raise RunError(f"study {space.name!r} in {display_url(url)} has objectives {names}, the space asks for "
                       f"{space.objectives}: use another --name")
    return study


def enqueue_first(study: optuna.Study, space: Space) -> list[str]:
    """Queue ``search.enqueue``'s architectures to be evaluated before the sampler proposes: those
    the study does not hold yet (by architecture, or as a queued trial with the same parameters).
    Returns the names it queued now: not one Optuna's ``skip_if_exists`` found queued already."""
    from wrnsearch.samplers import search_distributions
    from wrnsearch.space import budget_violations, params_of, space_cost, with_dataset
    from wrnsearch.spec import parse_name

    dists = search_distributions(space)
    present = {t.user_attrs.get(Attr.ARCH) for t in study.get_trials(deepcopy=False)}
    queued = []
    for name in space.search.enqueue:
        spec = with_dataset(space, parse_name(name))
        if spec.name in present:
            continue
        over = budget_violations(space, space_cost(space, spec))
        if over:
            log.warning("search.enqueue: %s is over budget (%s): not queued", spec.name, "; ".join(over))
            continue
        params = {k: v for k, v in params_of(space, spec).items() if k in dists}
        waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))  # a few, not the study
        study.enqueue_trial(params, skip_if_exists=True)
        present.add(spec.name)
        if len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,))) > waiting:
            queued.append(spec.name)
    return queued


def reconcile_running(study: optuna.Study, space: Space) -> list[int]:
    """Trials a killed driver left RUNNING: mark them failed (interrupted) and queue them again.

    Called under the run lock, so no other driver can be running them. The queued copy carries
    the same parameters and resumes from the architecture's checkpoint. Not queued: a proposal
    the driver was killed in the middle of (some parameters suggested, no key written: it never
    reached Tune, and a copy of part of its parameters would be another architecture), an
    over-budget proposal, a copy of a finished result (none of them was going to train).

    Two exceptions. A queued proposal (``search.enqueue``'s, a retry) killed mid-way is still a
    whole architecture, its parameters fixed: queued again, as ``enqueue_first`` would not (the
    failed trial holds the same fixed parameters). And under an exhaustive sampler (grid, brute
    force), a proposal killed mid-way is a point the sampler counts as visited once it is failed
    (:func:`wrnsearch.samplers.marks_visited`). Dropped, it would leave a hole: the grid fills it
    by re-evaluating random points, each a copy of a trained result; brute force skips the point,
    and part of a point makes it raise ValueError in the tell that fails the trial (the resumed
    driver crashed here). So it is made whole (:func:`wrnsearch.samplers.complete_proposal`) and
    queued again, as Optuna's own ``RetryFailedTrialCallback`` queues a trial: with its system
    attributes (the grid's point).
    """
    numbers = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = t.user_attrs
        keyed = Attr.KEY in attrs  # handed to Tune; without a key, killed in the middle of its proposal
        revisit = not keyed and marks_visited(study.sampler, t)
        if revisit:
            t = complete_proposal(study, t, space)  # while it is RUNNING: a finished trial's parameters are fixed
        set_trial_attrs(study, t, {Attr.FAIL_REASON: INTERRUPTED_REASON, Attr.STATUS: Status.INTERRUPTED.value})
        tell(study, t.number, state=TrialState.FAIL, skip_if_finished=True)
        retry = {Attr.RETRY_OF: t.number}
        if keyed and Attr.INFEASIBLE_REASON not in attrs and Attr.REUSED_FROM not in attrs:
            study.enqueue_trial(t.params, user_attrs=retry, skip_if_exists=False)
        elif revisit:
            study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING, params=t.params, user_attrs=retry,
                                                      distributions=t.distributions, system_attrs=dict(t.system_attrs)))
        elif not keyed and QUEUED in t.system_attrs:
            study.enqueue_trial(t.system_attrs[QUEUED], user_attrs=retry, skip_if_exists=False)
        numbers.append(t.number)
    return numbers


# --------------------------------------------------------------------------------------------
# Finished trials, as the driver keeps them


@dataclass(frozen=True)
class Result:
    """A finished trial as the driver needs it later: to copy its outcome to a later proposal."""

    number: int
    state: TrialState
    values: tuple[float, ...] | None
    user_attrs: dict[str, Any]

    @classmethod
    def of(cls, trial: FrozenTrial) -> Result:
        return cls(trial.number, trial.state, tuple(trial.values) if trial.values else None, dict(trial.user_attrs))

    @property
    def outcome(self) -> Outcome:
        """What it counts as, by the same mapping as a stored trial (a told trial was feasible)."""
        return outcome_from(self.state, self.user_attrs)


# --------------------------------------------------------------------------------------------
# Telling outcomes


def tell_infeasible(study: optuna.Study, trial: optuna.Trial, space: Space, proposal: Proposal) -> None:
    """An over-budget spec is finished at once as infeasible; it is never trained.

    The proposal's attributes already say so (``infeasible_reason``, ``status``).
    """
    tell(study, trial, infeasible_values(space, proposal.cost))


def tell_copy(study: optuna.Study, trial: optuna.Trial, source: Result) -> Result:
    """The architecture was trained before with the same recipe: copy that outcome (``reused_from``)."""
    attrs = {k: v for k, v in source.user_attrs.items() if k not in (Attr.KEY, Attr.RETRY_OF)}
    attrs[Attr.REUSED_FROM] = source.number
    set_trial_attrs(study, trial, attrs)
    if source.state == TrialState.COMPLETE:
        tell(study, trial, list(source.values or ()))
    else:
        tell(study, trial, state=source.state)
    return Result(trial.number, source.state, source.values, attrs)


def tell_leader_failed(study: optuna.Study, trial: optuna.Trial, leader: int) -> None:
    """A proposal that waited for the same architecture in flight, which failed: no result either."""
    set_trial_attrs(study, trial, {Attr.FAIL_REASON: f"same architecture as trial {leader}, which failed",
                                   Attr.REUSED_FROM: leader})
    tell(study, trial, state=TrialState.FAIL)


def tell_record(study: optuna.Study, trial: optuna.Trial, record: TrialRecord, objectives: list[str],
                proposal: Proposal) -> Result:
    """A trained trial's record into the study: its attributes, then its state and values.

    A complete record is told with its objective values; one stopped early (pruned, truncated)
    as PRUNED; any other (diverged, out of memory, failed) as FAIL. None enters a front but the
    complete one (:func:`wrnsearch.study._outcome.has_full_result`). The :class:`Result` holds every
    attribute the trial now has (``proposal``'s and the record's), as a read back would.
    """
    attrs = record.user_attrs()
    set_trial_attrs(study, trial, attrs)
    values = None
    if record.status == Status.COMPLETE:
        values = record_values(record, objectives)
        tell(study, trial, values)
        state = TrialState.COMPLETE
    else:
        state = TrialState.PRUNED if record.status.stopped_early else TrialState.FAIL
        tell(study, trial, state=state)
    return Result(trial.number, state, tuple(values) if values else None, {**proposal.attrs, **attrs})


def report_epochs(study: optuna.Study, trial: optuna.Trial, curve: dict[int, float | None]) -> list[int]:
    """Validation errors by epoch as the trial's intermediate values (Optuna's learning curve, which
    optuna-dashboard draws), through the storage: ``Trial.report`` refuses multi-objective studies.
    The epochs written; a missing or non-finite error is skipped."""
    storage = study_storage(study)
    written = []
    for epoch, error in sorted(curve.items()):
        if isinstance(error, (int, float)) and math.isfinite(error):
            storage.set_trial_intermediate_value(trial_id(trial), int(epoch), float(error))
            written.append(int(epoch))
    return written


def tell_stopped(study: optuna.Study, trial: optuna.Trial, reason: str) -> None:
    """A trial Tune never completed (the search's time budget): pruned with the reason."""
    set_trial_attrs(study, trial, {Attr.STATUS: Status.PRUNED.value, Attr.PRUNE_REASON: reason})
    tell(study, trial, state=TrialState.PRUNED)


def lost_worker_record(name: str) -> TrialRecord:
    """The record of a trial whose worker died more often than ``search.max_failures`` allows."""
    return TrialRecord(name=name, status=Status.FAILED, reason=WORKER_DIED_REASON)


def stopped_record(name: str, result: dict[str, Any] | None) -> TrialRecord:
    """The record of a trial the scheduler stopped between epochs (its last report)."""
    epoch = (result or {}).get("epoch", 0)
    return TrialRecord(name=name, status=Status.PRUNED, reason=f"stopped early after epoch {epoch}", epochs=epoch,
                       val_error=(result or {}).get("val_error"))

