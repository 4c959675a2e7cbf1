"""SIGKILL the driver at several points of a running search, then resume: nothing lost or repeated."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter

from click.testing import CliRunner
from optuna.trial import TrialState

from tests.procs import kill_group, wait_for, wrnsearch_exe
from tests.studies import trials_of
from wrnsearch.cli import main
from wrnsearch.record import Attr
from wrnsearch.study import counts_as_trained

INFEASIBLE_ATTR = Attr.INFEASIBLE_REASON

# When to kill, one search killed at each point in turn (each kill but the first hits a resumed
# driver): right after its first trial started, after 1 trial finished, after 3 finished
KILLS = [("first trial running", 0), ("one trial finished", 1), ("three trials finished", 3)]


def _trained(run_dir, name):
    return [t for t in trials_of(run_dir, name) if counts_as_trained(t)]


def _snapshot(run_dir, name):
    return {t.number: (t.user_attrs.get("key"), list(t.values or [])) for t in _trained(run_dir, name)}


def test_driver_sigkill_at_three_points_then_resume(tmp_path, make_space, ledger, local_ray):
    """One search of 5 trials, its driver SIGKILLed three times (first trial running, one finished,
    three finished) and run again after each: the last run finishes it, nothing lost or repeated.
    One search rather than three: each resume but the last is itself killed, which is the same
    fault at the same point, on a study that already went through one. The last run, which is not
    killed, is the same command in this process on the worker's Ray: a process and a Ray of its own
    would add nothing the three killed ones did not test."""
    name = "kill"
    space = make_space(name, dataset={"train_size": 512}, budget={"max_trials": 5}, train={"epochs": 3},
                       search={"seed": 2, "max_concurrent": 2})  # two in flight at each kill
    runs = tmp_path / "runs"
    run_dir = runs / name
    cmd = [wrnsearch_exe(), "run", str(space), "--runs-dir", str(runs), "--quiet"]
    befores = []  # (label, the trained trials when that kill landed)
    for label, finished in KILLS:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            if finished == 0:
                # a proposal on its way to training (an over-budget one is running only while it is told)
                wait_for(lambda: any(t.state == TrialState.RUNNING and "key" in t.user_attrs and INFEASIBLE_ATTR
                                     not in t.user_attrs for t in trials_of(run_dir, name)), 180, "a running trial",
                         proc)
            else:
                wait_for(lambda f=finished: len(_trained(run_dir, name)) >= f, 300, f"{finished} finished trial(s)",
                         proc)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            kill_group(proc)
        before = _snapshot(run_dir, name)
        if befores:  # the killed resume kept what the kill before it had left
            assert all(before.get(n) == v for n, v in befores[-1][1].items()), (label, befores[-1][1], before)
        befores.append((label, before))

    resumed = CliRunner().invoke(main, cmd[1:])
    trials = trials_of(run_dir, name)
    trained = [t for t in trials if counts_as_trained(t)]
    after = _snapshot(run_dir, name)
    once = Counter(t.user_attrs["key"] for t in trained).most_common(1)[0][1] == 1
    settled = not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    lost = {label: sum(1 for n, v in before.items() if after.get(n) != v) for label, before in befores}
    for label, before in befores:
        ok = resumed.exit_code == 0 and len(trained) == 5 and lost[label] == 0 and once and settled
        ledger.fault("driver killed (SIGKILL), then resumed", f"killed with {label}", survived=ok,
                     finished_before=len(before), lost=lost[label])
    assert resumed.exit_code == 0, resumed.output[-2000:]
    assert len(trained) == 5, [(t.number, t.state, t.user_attrs.get("status")) for t in trials]
    assert len(befores[1][1]) >= 1 and len(befores[2][1]) >= 3
    assert not any(lost.values()), (lost, befores, after)
    assert once, "an architecture was trained twice"
    assert settled
    # a trial a killed driver left running is retried once, with the same parameters, unless it
    # was never going to train: killed half-way through its proposal (no key yet), over budget, or
    # a copy of a finished result (killed mid-bookkeeping)
    for t in trials:
        if (t.user_attrs.get("status") == "interrupted" and "key" in t.user_attrs
                and INFEASIBLE_ATTR not in t.user_attrs and "reused_from" not in t.user_attrs):
            retry = [r for r in trials if r.user_attrs.get("retry_of") == t.number]
            assert len(retry) == 1 and retry[0].params == t.params, (t.number, t.user_attrs, len(retry))
