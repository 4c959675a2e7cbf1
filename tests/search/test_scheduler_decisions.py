"""Rung decisions of early stopping (ASHA, MO-ASHA) as pure functions, on hand-made rungs."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from wrnsearch.dominance import non_dominated_ranks
from wrnsearch.search import Rungs, grace_epochs, rung_milestones
from wrnsearch.search._scheduler_decisions import (
    asha_continues,
    crowding_distances,
    moasha_continues,
    promotion_order,
)


def test_ranks_are_per_point_not_an_ordering_of_indices():
    # Syne Tune's MO-ASHA read the sort's ordering of indices as if it were each trial's rank; here
    # the two differ everywhere: point 0 is the worst (rank 2), point 1 the best (rank 0)
    points = [[5, 5], [1, 1], [3, 3]]
    assert non_dominated_ranks(points).tolist() == [2, 0, 1]
    assert promotion_order(points) == [1, 2, 0]


def test_ranks_of_two_fronts_and_three_objectives():
    points = [[1, 9, 5], [9, 1, 5], [5, 5, 1], [6, 9, 6], [9, 6, 6], [10, 10, 10]]
    assert non_dominated_ranks(points).tolist() == [0, 0, 0, 1, 1, 2]
    assert non_dominated_ranks([[1, 2, 3], [1, 2, 3]]).tolist() == [0, 0]  # equal points do not dominate each other


def test_crowding_distance_rewards_the_ends_and_the_sparse():
    points = [[0, 10], [1, 9], [5, 5], [9, 1], [10, 0]]  # one front
    d = crowding_distances(points, non_dominated_ranks(points).tolist())
    assert d[0] == d[4] == float("inf")
    assert d[2] > d[1] and d[2] > d[3]
    assert d[1] == pytest.approx((5 - 0) / 10 + (10 - 5) / 10)


@pytest.mark.parametrize("rf", [2, 3, 4])
def test_a_dominating_newcomer_always_continues(rf):
    rng = random.Random(rf)
    for _ in range(300):
        n = rng.randint(0, 30)
        recorded = [[rng.uniform(10, 90), rng.uniform(1e4, 1e6), rng.uniform(1, 50)] for _ in range(n)]
        best = [min(p[k] for p in recorded) if recorded else 50.0 for k in range(3)]
        newcomer = [best[0] - 1, best[1] - 1, best[2] - 1]
        assert moasha_continues(recorded, newcomer, rf)
        # no better than the best error, but strictly the smallest: still on the front's end
        small = [max(p[0] for p in recorded) + 1 if recorded else 50.0, best[1] - 1, 60.0]
        assert moasha_continues(recorded, small, rf), "the smallest network at a rung was stopped"


def test_a_newcomer_dominated_by_all_stops_once_the_rung_is_full_enough():
    recorded = [[10, 1], [20, 0.5], [15, 0.7]]
    assert not moasha_continues(recorded, [30, 2], 2)
    assert moasha_continues([], [30, 2], 2)  # the first at a rung goes on, as in ASHA


def test_ties_go_on_as_in_asha():
    # an exact copy of the only recorded point ties its key: it goes on (ASHA: equal to the cutoff)
    assert moasha_continues([[20, 2]], [20, 2], 2)
    assert asha_continues([20.0], 20.0, 2)
    # two mutually non-dominated points with rf 2 keep one, but both have infinite crowding: a tie
    assert moasha_continues([[10, 2]], [20, 1], 2)
    # on one front of five, the crowded middle point is stopped, the ends go on
    front = [[0, 10], [1, 9], [9, 1], [10, 0]]
    assert not moasha_continues(front, [1.5, 8.5], 3)
    assert moasha_continues(front, [11, -1], 3)


def test_asha_as_ray_tune_decides(tmp_path):
    # Ray Tune's own ASHAScheduler (no Ray instance needed) against ours, on random streams of
    # results at random epochs: the same decision every time
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    rng = random.Random(0)
    for case in range(40):
        rf, max_t, grace = rng.choice([2, 3, 4]), rng.choice([6, 9, 20]), rng.choice([1, 2])
        ray_asha = ASHAScheduler(time_attr="epoch", metric="val_error", mode="min", max_t=max_t, grace_period=grace,
                                 reduction_factor=rf)
        ours = Rungs(rung_milestones(grace, rf, max_t), rf, multi=False)
        trials = [SimpleNamespace(trial_id=f"{case}-{i}", config={}) for i in range(12)]
        for t in trials:
            ray_asha.on_trial_add(None, t)
        alive = {t.trial_id for t in trials}
        for epoch in range(1, max_t):
            for t in trials:
                if t.trial_id not in alive:
                    continue
                value = round(rng.uniform(0, 100), 1)
                theirs = ray_asha.on_trial_result(None, t, {"epoch": epoch, "val_error": value})
                mine = ours.decide(t.trial_id, epoch, [value])
                assert (theirs == TrialScheduler.CONTINUE) == mine, (case, epoch, t.trial_id, value)
                if not mine:
                    alive.discard(t.trial_id)


def test_grace_as_a_fraction_carries_from_a_short_table_to_a_long_search():
    assert grace_epochs(1 / 6, 6) == 1 and grace_epochs(1 / 6, 200) == 33
    assert grace_epochs(20, 200) == 20
    assert rung_milestones(1, 3, 6) == [1, 3]
    assert rung_milestones(33, 3, 200) == [33, 99]
    assert rung_milestones(6, 3, 6) == []


def test_rungs_record_each_trial_once_per_rung():
    rungs = Rungs([1, 3], 2, multi=True)
    assert rungs.decide("a", 1, [50, 10])
    assert rungs.decide("a", 2, [10, 10])  # between rungs: nothing to decide
    assert list(rungs.recorded[1]) == ["a"] and rungs.recorded[3] == {}
    assert not rungs.decide("b", 1, [60, 20])  # dominated by a at rung 1
    assert rungs.rung_of(2) == 1 and rungs.rung_of(0) is None
