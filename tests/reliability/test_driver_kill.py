"""SIGKILL the driver at several points of a running search, then resume: nothing lost or repeated."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter

import pytest
from optuna.trial import TrialState

from tests.procs import kill_group, wait_for, wrnsearch_exe
from tests.studies import trials_of
from wrnsearch.record import Attr
from wrnsearch.study import counts_as_trained

INFEASIBLE_ATTR = Attr.INFEASIBLE_REASON

# (seed, when to kill): right after the first trial started, after 1 finished, after 3 finished
POINTS = [(0, "first trial running", 0), (1, "one trial finished", 1), (2, "three trials finished", 3)]


def _trained(run_dir, name):
    return [t for t in trials_of(run_dir, name) if counts_as_trained(t)]


@pytest.mark.parametrize("seed, label, finished", POINTS, ids=[p[1].replace(" ", "-") for p in POINTS])
def test_driver_sigkill_then_resume(tmp_path, make_space, ledger, seed, label, finished):
    name = f"kill{seed}"
    space = make_space(name, dataset={"train_size": 512}, budget={"max_trials": 5}, train={"epochs": 3},
                       search={"seed": seed})
    runs = tmp_path / "runs"
    run_dir = runs / name
    cmd = [wrnsearch_exe(), "run", str(space), "--runs-dir", str(runs), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        if finished == 0:
            # a proposal on its way to training (an over-budget one is running only while it is told)
            wait_for(lambda: any(t.state == TrialState.RUNNING and "key" in t.user_attrs and INFEASIBLE_ATTR not in
                                 t.user_attrs for t in trials_of(run_dir, name)), 180, "a running trial", proc)
        else:
            wait_for(lambda: len(_trained(run_dir, name)) >= finished, 300, f"{finished} finished trial(s)", proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        kill_group(proc)
    before = {t.number: (t.user_attrs.get("key"), list(t.values or [])) for t in _trained(run_dir, name)}

    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=600, start_new_session=True)
    trials = trials_of(run_dir, name)
    trained = [t for t in trials if counts_as_trained(t)]
    after = {t.number: (t.user_attrs.get("key"), list(t.values or [])) for t in trained}
    lost = sum(1 for n, v in before.items() if after.get(n) != v)
    ok = (
        resumed.returncode == 0
        and len(trained) == 5
        and lost == 0
        and Counter(t.user_attrs["key"] for t in trained).most_common(1)[0][1] == 1
        and not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    )
    ledger.fault("driver killed (SIGKILL), then resumed", f"seed {seed}, killed with {label}", survived=ok,
                 finished_before=len(before), lost=lost)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(trained) == 5, [(t.number, t.state, t.user_attrs.get("status")) for t in trials]
    assert lost == 0
    assert Counter(t.user_attrs["key"] for t in trained).most_common(1)[0][1] == 1, "an architecture was trained twice"
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    # a trial the killed driver left running is retried once, with the same parameters, unless it
    # was never going to train: killed half-way through its proposal (no key yet), over budget, or
    # a copy of a finished result (killed mid-bookkeeping)
    for t in trials:
        if (t.user_attrs.get("status") == "interrupted" and "key" in t.user_attrs
                and INFEASIBLE_ATTR not in t.user_attrs and "reused_from" not in t.user_attrs):
            retry = [r for r in trials if r.user_attrs.get("retry_of") == t.number]
            assert len(retry) == 1 and retry[0].params == t.params, (t.number, t.user_attrs, len(retry))
