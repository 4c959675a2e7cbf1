"""Proposals near the end of budget.time (search/_proposals.py): one predicted not to finish in the
time left is neither started nor stored, and the stop says why."""

from __future__ import annotations

import re

import optuna

from wrnsearch.space import iter_specs, load_space, space_cost


def test_a_proposal_too_long_for_the_time_left_is_neither_started_nor_stored(tmp_path, make_space):
    """Near the end of budget.time, a proposal predicted (from this run's finished trials, by its
    MACs) not to finish is not started and leaves no trial in the study: no FAIL that every Optuna
    tool would show as a failure. ehvi ranks only the architectures that fit, so it proposes each
    of them and then stops; random search gets three tries. The stop says why."""
    import time as clock

    from ray.tune.search import Searcher

    from wrnsearch.search import RunProgress, StudySearcher
    from wrnsearch.study import Outcome, open_study, outcome_of

    for sampler in ("ehvi", "random"):
        space = load_space(make_space(sampler, budget={"max_trials": 30}, search={"sampler": sampler}),
                           ["budget.time=100s"])
        study = open_study(space, f"sqlite:///{tmp_path / sampler}.db")
        progress = RunProgress(time_budget_s=100, max_trials=30)
        progress.started = clock.monotonic() - 84  # 16 s left
        searcher = StudySearcher(space, study, progress, None, allowed=30)
        # finished here: 7 s at 2M MACs, 28 s at 8M: 3.5 s per million MACs, so up to 4.6M fit in 16 s
        searcher.proposals.finished_costs = [(2e6, 7.0), (8e6, 28.0)]
        launched = []
        while (config := searcher.suggest(f"t{len(launched)}")) not in (None, Searcher.FINISHED):
            searcher.started(f"t{len(launched)}")  # Tune starts each on a node (the next waits for that)
            launched.append(config)
            assert len(launched) < 30
        trials = study.get_trials(deepcopy=False)
        assert not [t for t in trials if t.state == optuna.trial.TrialState.FAIL], sampler
        assert re.match(r"budget\.time: 1[0-6] s left, less than a trial takes here", searcher.stop_reason or "")
        started = [t for t in trials if outcome_of(t) == Outcome.RUNNING]  # and followers of the same
        assert len(started) >= len(launched) >= 1 and all(t.user_attrs["macs"] <= 4.6e6 for t in started)
        numbers = {c["number"] for c in launched}
        assert all(t.user_attrs["predicted_s"] <= 16 for t in started if t.number in numbers)
        if sampler == "ehvi":  # WRN-10-1 (3.1M MACs at 16 px), WRN-10-1-B(3,1) and WRN-16-1-B(3,1)
            fitting = {s.name for s in iter_specs(space) if space_cost(space, s).macs <= 4.6e6}
            assert {t.user_attrs["arch"] for t in started} == fitting and len(trials) == len(fitting) == 3
            # why: the quickest architecture left, WRN-10-2-B(3,1) (4.83M MACs), not the one ranked first
            assert "(about 17 s, predicted" in searcher.stop_reason
