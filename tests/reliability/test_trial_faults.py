"""Trials that diverge, run out of memory or out of time: recorded with their reason, the search goes on."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from tests.studies import trials_of
from wrnsearch.report import write_report
from wrnsearch.search import RunOptions, run_search
from wrnsearch.study import counts_as_trained, load_study

FAULTS = {
    # kind: (space overrides, expected Optuna state, expected status, fragment of the reason)
    "diverged": (dict(train={"lr": 1.0e6}), TrialState.FAIL, "diverged", "loss became"),
    # 3 MiB on top of what the worker holds: enough to start, never enough to train
    "out_of_memory": (dict(resources={"memory_per_trial": "3MiB"}), TrialState.FAIL, "out_of_memory", "memory"),
    "time budget": (dict(train={"epochs": 200}, budget={"trial_time": "2s"}, dataset={"train_size": 1024}),
                    TrialState.PRUNED, "truncated", "trial time limit"),
}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_faulty_trials_are_recorded_and_the_search_goes_on(tmp_path, make_space, ledger, kind, local_ray):
    overrides, state, status, fragment = FAULTS[kind]
    sections = {**overrides, "budget": {"max_trials": 3, **overrides.get("budget", {})}}
    text_space = make_space("faults", search={"sampler": "random", "max_concurrent": 1}, **sections)
    result = run_search(text_space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2))
    trials = [t for t in trials_of(result.run_dir, "faults") if counts_as_trained(t)]
    faulty = [t for t in trials if t.state == state and t.user_attrs.get("status") == status]
    reason_key = "prune_reason" if state == TrialState.PRUNED else "fail_reason"
    report = write_report(load_study(result.run_dir), tmp_path / "report.html")
    html = report.read_text()
    ok = len(trials) == 3 and len(faulty) == 3 and all(fragment in t.user_attrs[reason_key] for t in faulty)
    ledger.fault(f"trial {kind}",
                 f"3 trials: recorded as {state.name.lower()} ({status}) with the reason; report rendered",
                 survived=ok and "<html" in html.lower(), finished_before=0, lost=0)
    assert len(trials) == 3, "the search stopped early"
    assert len(faulty) == 3, [(t.number, t.state, t.user_attrs.get("status"),
                               t.user_attrs.get(reason_key)) for t in trials]
    for t in faulty:
        assert fragment in t.user_attrs[reason_key], t.user_attrs[reason_key]
    assert "<html" in html.lower() and "faults" in html
