"""The trial record and its outcome: what the trainer writes, how the study stores it, what it counts as.

Real SQLite studies; the driver's own writes (wrnsearch.study._writer) put every outcome there.
"""

from __future__ import annotations

import math

import optuna
import pytest

from tests.spaces import exactly, space_text
from wrnsearch.objectives import record_values
from wrnsearch.record import INTERRUPTED_REASON, Attr, Status, TrialRecord
from wrnsearch.samplers import make_sampler, propose
from wrnsearch.space import parse_space
from wrnsearch.study import (
    Outcome,
    Result,
    count_outcomes,
    counts_as_trained,
    has_full_result,
    is_reusable,
    lost_worker_record,
    outcome_of,
    reconcile_running,
    stopped_record,
    tell_copy,
    tell_infeasible,
    tell_leader_failed,
    tell_record,
    tell_stopped,
    trial_key,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

# WRN-10-1 and WRN-10-2 within 600K parameters, WRN-40-8 far over them
SPACE = space_text("rec", space=exactly({"architecture": ["WRN-10-1", "WRN-10-2", "WRN-40-8"]}),
                   search=exactly({"sampler": "random", "seed": 3}))


def _record(status: Status = Status.COMPLETE, **extra) -> TrialRecord:
    base = dict(name="WRN-10-1", status=status, params=78_000, macs=1_000_000, val_error=40.0, test_error=41.0,
                latency_ms=2.5, epochs=2, curve=[{"epoch": 1, "val_error": 50.0}, {"epoch": 2, "val_error": 40.0}],
                dataset={"val": 64}, device="cpu (2 threads)")
    return TrialRecord(**{**base, **extra})


def test_the_record_leaves_out_what_was_not_produced():
    failed = TrialRecord(name="WRN-10-1", status=Status.FAILED, reason="boom")
    assert failed.to_dict() == {"name": "WRN-10-1", "status": "failed", "reason": "boom"}
    no_split = TrialRecord(name="WRN-10-1", status=Status.COMPLETE, test_error=9.0)
    assert no_split.to_dict()["val_error"] is None  # evaluated, on a split without validation images
    assert "val_error" not in TrialRecord(name="x", status=Status.DIVERGED).to_dict()
    record = _record(resumed_from_epoch=1)
    assert TrialRecord.from_json(record.to_json()) == record
    assert TrialRecord.from_dict({**record.to_dict(), "from_a_later_version": 1}) == record
    assert Status("truncated").stopped_early and Status.PRUNED.evaluated and not Status.DIVERGED.evaluated


def test_the_record_as_user_attributes():
    attrs = _record(status=Status.TRUNCATED, reason="trial time limit of 2 s reached").user_attrs()
    assert attrs["status"] == "truncated" and attrs[Attr.PRUNE_REASON] == "trial time limit of 2 s reached"
    assert attrs[Attr.DATASET_SPLIT] == {"val": 64} and "dataset" not in attrs and "name" not in attrs
    assert attrs[Attr.VAL_ERROR] == 40.0 and attrs["curve"][-1]["epoch"] == 2
    failed = TrialRecord(name="x", status=Status.OUT_OF_MEMORY).user_attrs()
    assert failed == {"status": "out_of_memory", Attr.FAIL_REASON: "out_of_memory"}  # no None stored
    assert record_values(_record(), ["error", "params", "latency_ms", "macs"]) == [40.0, 78_000.0, 2.5, 1e6]
    assert record_values(_record(latency_ms=None), ["latency_ms"]) == [math.inf]


@pytest.fixture
def study_and_space(tmp_path):
    space = parse_space(SPACE, source="rec.yaml")
    study = _new_study(tmp_path, space)
    study.set_metric_names(list(space.objectives))
    return study, space


def _ask_and_propose(study, space):
    """The sampler's next proposal, as the searcher makes it (its key written with it)."""
    trial = study.ask()
    return trial, propose(study, trial, space, lambda spec: {Attr.KEY: trial_key(space, spec)})


def _propose(study, space, name: str):
    """A proposal of ``name`` as the searcher makes it (enqueued, so the sampler proposes exactly it)."""
    study.enqueue_trial({"architecture": name})
    return _ask_and_propose(study, space)


def _train_next(study, space) -> str:
    """The next proposal, told as trained; its architecture."""
    trial, p = _ask_and_propose(study, space)
    tell_record(study, trial, _record(name=p.spec.name), list(space.objectives), p)
    return p.spec.name


def _new_study(tmp_path, space) -> optuna.Study:
    """A SQLite study of ``space`` with its sampler, as the driver opens one."""
    return optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}", study_name=space.name,
                               directions=space.directions, sampler=make_sampler(space))


def test_every_outcome_as_the_driver_stores_it(study_and_space):
    study, space = study_and_space
    objectives = list(space.objectives)
    done_trial, p = _propose(study, space, "WRN-10-1")
    done = tell_record(study, done_trial, _record(), objectives, p)
    pruned_trial, p = _propose(study, space, "WRN-10-2")
    tell_record(study, pruned_trial, stopped_record("WRN-10-2", {"epoch": 1, "val_error": 60.0}), objectives, p)
    failed_trial, p = _propose(study, space, "WRN-10-2")
    tell_record(study, failed_trial, _record(status=Status.DIVERGED, reason="loss became nan"), objectives, p)
    lost_trial, p = _propose(study, space, "WRN-10-1")
    tell_record(study, lost_trial, lost_worker_record("WRN-10-1"), objectives, p)
    big_trial, p = _propose(study, space, "WRN-40-8")
    assert not p.feasible
    tell_infeasible(study, big_trial, space, p)
    copy_trial, _ = _propose(study, space, "WRN-10-1")
    tell_copy(study, copy_trial, done)
    follower, _ = _propose(study, space, "WRN-10-2")
    tell_leader_failed(study, follower, failed_trial.number)
    late, _ = _propose(study, space, "WRN-10-2")
    tell_stopped(study, late, "stopped before it finished: budget.time reached")
    setup_trial, p = _propose(study, space, "WRN-10-1")  # the data set missing on its node
    tell_record(study, setup_trial, _record(status=Status.SETUP_FAILED, reason="cifar10 not found under /x"),
                objectives, p)
    # a proposal too long for what was left of budget.time, as earlier versions stored it (now it
    # is never stored): old studies keep reading
    deferred_trial, _ = _propose(study, space, "WRN-10-2")
    deferred_trial.set_user_attr(Attr.STATUS, "deferred")
    deferred_trial.set_user_attr(Attr.FAIL_REASON, "budget.time: 9 s left, less than a trial takes here")
    study.tell(deferred_trial, state=optuna.trial.TrialState.FAIL)
    _propose(study, space, "WRN-10-1")  # left RUNNING by a driver that was killed
    assert reconcile_running(study, space) == [10]

    trials = study.get_trials(deepcopy=False)
    outcomes = [outcome_of(t) for t in trials]
    assert outcomes == [Outcome.DONE, Outcome.PRUNED, Outcome.FAILED, Outcome.FAILED, Outcome.INFEASIBLE,
                        Outcome.REUSED, Outcome.REUSED, Outcome.PRUNED, Outcome.SETUP_FAILED, Outcome.DEFERRED,
                        Outcome.INTERRUPTED, Outcome.WAITING]
    assert [counts_as_trained(t) for t in trials] == [True, True, True, True, False, False, False, True, False, False,
                                                      False, False]
    assert [has_full_result(t) for t in trials] == [True] + [False] * 11
    assert [is_reusable(t) for t in trials] == [True, True, False, False, False, False, False, True, False, False,
                                                False, False]
    counts = count_outcomes(trials)
    assert counts == {"done": 1, "infeasible": 1, "pruned": 2, "failed": 2, "interrupted": 1, "reused": 2,
                      "copied": 0, "running": 0, "waiting": 1, "setup_failed": 1, "deferred": 1}
    assert trials[8].state.name == "FAIL" and trials[8].user_attrs[Attr.FAIL_REASON] == "cifar10 not found under /x"

    first, copy = trials[0], trials[5]
    assert first.values == [40.0, 78_000.0, 2.5] and first.user_attrs["status"] == "complete"
    assert copy.values == first.values and copy.user_attrs[Attr.REUSED_FROM] == 0
    assert copy.user_attrs[Attr.ARCH] == "WRN-10-1"  # the copy carries the proposal's attributes too
    assert copy.user_attrs[Attr.KEY] == first.user_attrs[Attr.KEY]  # its own proposal's: the same architecture
    assert trials[1].user_attrs[Attr.PRUNE_REASON] == "stopped early after epoch 1"
    assert trials[1].user_attrs["epochs"] == 1
    assert trials[2].user_attrs[Attr.FAIL_REASON] == "loss became nan"
    assert "worker died" in trials[3].user_attrs[Attr.FAIL_REASON]
    assert trials[4].user_attrs["status"] == "infeasible" and trials[4].user_attrs[Attr.INFEASIBLE_REASON]
    assert trials[9].user_attrs[Attr.STATUS] == "deferred" and "9 s left" in trials[9].user_attrs[Attr.FAIL_REASON]
    assert trials[10].user_attrs[Attr.FAIL_REASON] == INTERRUPTED_REASON
    assert trials[11].user_attrs[Attr.RETRY_OF] == 10 and trials[11].system_attrs["fixed_params"] == trials[10].params
    # what the driver kept in memory is what a read back gives
    assert done == Result.of(first)


def test_only_whole_proposals_that_were_going_to_train_are_queued_again(study_and_space):
    study, space = study_and_space
    _propose(study, space, "WRN-40-8")  # over budget, killed while it was being told
    trial, _ = _propose(study, space, "WRN-10-1")
    from wrnsearch.compat import set_trial_attrs

    set_trial_attrs(study, trial, {Attr.REUSED_FROM: 0})  # killed half-way through copying a result
    half = study.ask()
    half.suggest_categorical("architecture", ["WRN-10-1", "WRN-10-2", "WRN-40-8"])  # killed mid-proposal
    whole, _ = _propose(study, space, "WRN-10-2")  # handed to Tune, then the driver was killed
    assert reconcile_running(study, space) == [0, 1, 2, 3]
    trials = study.get_trials(deepcopy=False)
    assert [outcome_of(t) for t in trials] == [Outcome.INTERRUPTED] * 4 + [Outcome.WAITING]
    assert trials[4].user_attrs[Attr.RETRY_OF] == whole.number
    assert trials[4].system_attrs["fixed_params"] == {"architecture": "WRN-10-2"}


def test_a_grid_point_killed_mid_proposal_is_queued_again_and_the_grid_trains_every_point(tmp_path):
    """A grid's trial holds its point from the ask on: dropped after a kill mid-proposal, the point
    would be visited and the grid would re-evaluate random (trained) points to fill the hole."""
    space = parse_space(space_text("grid", space=exactly({"architecture": ["WRN-10-1", "WRN-10-2", "WRN-10-3"]}),
                                   budget={"max_params": None}, search=exactly({"sampler": "grid", "seed": 0})),
                        source="grid.yaml")
    study = _new_study(tmp_path, space)
    names = [_train_next(study, space)]
    killed = study.ask()  # the driver was killed before the proposal's key was written
    assert "grid_id" in study.get_trials(deepcopy=False)[killed.number].system_attrs
    assert reconcile_running(study, space) == [killed.number]
    names += [_train_next(study, space) for _ in range(2)]  # the queued grid point, then the grid's last one
    trials = study.get_trials(deepcopy=False)
    assert trials[2].user_attrs[Attr.RETRY_OF] == killed.number
    assert trials[2].system_attrs["grid_id"] == trials[1].system_attrs["grid_id"]
    assert sorted(names) == ["WRN-10-1", "WRN-10-2", "WRN-10-3"]  # every point once, none re-evaluated
    assert [outcome_of(t) for t in trials] == [Outcome.DONE, Outcome.INTERRUPTED, Outcome.DONE, Outcome.DONE]


@pytest.mark.parametrize("suggested", ["some", "all"])
def test_a_brute_force_proposal_killed_mid_way_is_made_whole_and_queued_and_every_point_trains(tmp_path, suggested):
    """Brute force reads a failed trial's parameters as a point it visited. Killed after some of
    them, the proposal made Optuna's tree raise ValueError ("param_name mismatch") in the tell that
    failed it: the resumed driver crashed. After all of them, its architecture was never trained
    while brute force evaluated random points again."""
    from wrnsearch.samplers import suggest_spec

    dims = {"depth": [10, 16], "widen_factor": [1, 2], "block": ["B(3,3)"]}
    space = parse_space(space_text("bf", space=exactly(dims), budget={"max_params": None},
                                   search=exactly({"sampler": "bruteforce", "seed": 0})), source="bf.yaml")
    study = _new_study(tmp_path, space)
    names = [_train_next(study, space)]
    killed = study.ask()  # the driver was killed before the proposal's key was written
    if suggested == "all":
        suggest_spec(killed, space)
    else:
        killed.suggest_int("depth", 10, 16, step=6)  # the first parameter suggest_spec asks for here
    held = dict(study.get_trials(deepcopy=False)[killed.number].params)
    assert len(held) == (2 if suggested == "all" else 1)
    assert reconcile_running(study, space) == [killed.number]
    trials = study.get_trials(deepcopy=False)
    assert trials[killed.number].params.items() >= held.items() and len(trials[killed.number].params) == 2
    assert trials[2].state == optuna.trial.TrialState.WAITING and trials[2].params == trials[killed.number].params
    names += [_train_next(study, space) for _ in range(3)]  # the queued point, then the two not handed out
    trials = study.get_trials(deepcopy=False)
    assert trials[2].user_attrs[Attr.RETRY_OF] == killed.number
    assert sorted(names) == ["WRN-10-1", "WRN-10-2", "WRN-16-1", "WRN-16-2"]  # every point once, none again
    assert [outcome_of(t) for t in trials] == [Outcome.DONE, Outcome.INTERRUPTED] + [Outcome.DONE] * 3


def test_a_queued_architecture_killed_mid_proposal_is_queued_again_and_trains(tmp_path):
    """search.enqueue's architectures are asked from Optuna's queue with fixed parameters. Killed
    before its key was written, such a proposal was dropped, and the resume's enqueue_first did not
    queue it again either (Optuna's skip_if_exists matched the failed trial's fixed parameters):
    under a sampler that never proposed it, the architecture the user asked for was never trained."""
    from wrnsearch.study import enqueue_first

    text = space_text("q", space=exactly({"architecture": ["WRN-10-1", "WRN-10-2"]}),
                      search=exactly({"sampler": "random", "seed": 3, "enqueue": ["WRN-10-2"]}))
    space = parse_space(text, source="q.yaml")
    study = _new_study(tmp_path, space)
    assert enqueue_first(study, space) == ["WRN-10-2"]
    killed = study.ask()  # the queued architecture, the driver killed before the proposal's key was written
    assert reconcile_running(study, space) == [killed.number]
    assert enqueue_first(study, space) == []  # the resume: the retry is queued already, not a second copy
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING]
    assert trials[1].user_attrs[Attr.RETRY_OF] == killed.number
    trial, p = _ask_and_propose(study, space)
    assert trial.number == 1 and p.spec.name == "WRN-10-2"

