"""search.enqueue: known architectures evaluated first (real Ray, real SQLite), never twice, and
refused with one line each when they are not in the space or over a budget."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.studies import load
from wrnsearch.errors import SpaceError
from wrnsearch.search import RunOptions, run_search
from wrnsearch.space import load_space
from wrnsearch.study import counts_as_trained

FIRST = '["WRN-16-1", "WRN-10-2-B(3,1)"]'


@pytest.mark.slow
def test_enqueued_architectures_are_trained_first_and_once(tmp_path, make_space, local_ray):
    space = make_space("q", budget={"max_trials": 3}, train={"epochs": 1}, search={"sampler": "random"})
    options = RunOptions(runs_dir=tmp_path / "runs", num_cpus=2, overrides=(f"search.enqueue={FIRST}",))
    runs = []  # each run's first event
    result = run_search(space, options,
                        on_event=lambda event, _: runs.append(event.to_dict()) if event.kind == "run" else None)
    study = load(result.run_dir, "q")
    assert [t.user_attrs["arch"] for t in study.trials[:2]] == ["WRN-16-1", "WRN-10-2-B(3,1)"]
    held = len(study.trials)
    # resumed with a larger budget: the enqueued ones are not queued again
    run_search(space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2,
                                 overrides=(f"search.enqueue={FIRST}", "budget.max_trials=5")),
               on_event=lambda event, _: runs.append(event.to_dict()) if event.kind == "run" else None)
    # the first run is no resume though its enqueued trials are in the study when it starts
    assert [(r["resumed"], r["found"]) for r in runs] == [(False, 0), (True, held)]
    trained = [t for t in load(result.run_dir, "q").trials if counts_as_trained(t)]
    assert len(trained) == 5
    counts = Counter(t.user_attrs["arch"] for t in trained)
    assert counts["WRN-16-1"] == 1 and counts["WRN-10-2-B(3,1)"] == 1 and counts.most_common(1)[0][1] == 1


@pytest.mark.parametrize("names, message", [
    ('["WRN-28-10"]', "search.enqueue.0: WRN-28-10 cannot be evaluated first: its depth 28 is not one of space.depth"),
    ('["WRN-10-1", "WRN-16-4"]', "search.enqueue.1: WRN-16-4 cannot be evaluated first: its widen factor 4"),
    ('["WRN-10-2-B(1,3)"]', "its block B(1,3) is not one of the space's blocks"),
    ('["WRN-10-1-d0.3"]', "its dropout 0.3 is not in space.dropout"),
    ('["WRN-10-4"]', "its widen factor 4 is not in space.widen_factor"),
])
def test_an_enqueued_architecture_outside_the_space_is_one_line(names, message):
    with pytest.raises(SpaceError) as e:
        load_space("spaces/quickstart.yaml", [f"search.enqueue={names}"])
    lines = str(e.value).splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_an_enqueued_architecture_over_budget_is_skipped_not_refused():
    import optuna

    from wrnsearch.study import enqueue_first

    space = load_space("spaces/quickstart.yaml", ['search.enqueue=["WRN-16-3", "WRN-10-2"]'])  # 1.55M > 1.5M
    study = optuna.create_study(directions=space.directions)
    assert enqueue_first(study, space) == ["WRN-10-2"]
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.WAITING]
    assert enqueue_first(study, space) == []  # a resume before the queued trial ran: nothing queued now
    assert len(study.trials) == 1  # queued once: Optuna skips a waiting trial with the same parameters
