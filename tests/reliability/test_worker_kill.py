"""Kill a trial's worker process mid-training: it resumes from its checkpoint, or fails beyond max_failures."""

from __future__ import annotations

import os

from optuna.trial import TrialState

from tests.procs import kill_pids, process_table
from tests.spaces import write_space
from tests.studies import trials_of
from wrnsearch.search import RunOptions, run_search
from wrnsearch.study import counts_as_trained


def _trainable_workers(driver_pid: int) -> list[int]:
    """Ray worker processes running a trial (ray::ImplicitFunc...) descended from the driver."""
    table = {pid: (ppid, cmd) for pid, (ppid, _, cmd) in process_table().items()}

    def descends(pid: int) -> bool:
        for _ in range(50):
            if pid == driver_pid:
                return True
            if pid not in table:
                return False
            pid = table[pid][0]
        return False

    return [pid for pid, (_, cmd) in table.items() if cmd.startswith("ray::ImplicitFunc") and descends(pid)]


def _run_and_kill_worker(tmp_path, name: str, max_failures: int, local_ray):
    """Run a search in this process on the session's Ray; when trial 0 reports epoch 1, SIGKILL its
    worker once. Return (the trial that lost its worker, the pids killed, the run directory)."""
    space = write_space(tmp_path, name, dataset={"train_size": 768}, budget={"max_trials": 3}, train={"epochs": 4},
                        search={"sampler": "random", "max_concurrent": 1, "max_failures": max_failures})
    killed: list[int] = []
    victim: list[int] = []

    def on_event(event, progress):
        if not killed and event.kind == "epoch" and event.epoch == 1:
            workers = _trainable_workers(os.getpid())  # the session's Ray runs under this process
            assert workers, "no trial worker process found"
            kill_pids(workers)
            killed.extend(workers)
            victim.append(event.number)

    result = run_search(space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2), on_event=on_event)
    assert victim, "no trial reached epoch 1"
    return victim[0], killed, result.run_dir


def test_killed_worker_resumes_from_its_checkpoint(tmp_path, ledger, local_ray):
    victim, killed, run_dir = _run_and_kill_worker(tmp_path, "wk", max_failures=1, local_ray=local_ray)
    trials = trials_of(run_dir, "wk")
    first = trials[victim]
    ok = first.user_attrs.get("status") == "complete" and first.user_attrs.get("resumed_from_epoch", 0) >= 1
    ledger.fault("trial worker killed mid-training (within max_failures)", "SIGKILL after epoch 1 of 4",
                 survived=ok, finished_before=0, lost=0)
    assert killed
    assert first.state == TrialState.COMPLETE and first.user_attrs["status"] == "complete"
    assert first.user_attrs["resumed_from_epoch"] >= 1  # the epoch reached before the kill was kept
    assert first.user_attrs["epochs"] == 4 and [c["epoch"] for c in first.user_attrs["curve"]] == [1, 2, 3, 4]
    assert sum(counts_as_trained(t) for t in trials) == 3


def test_worker_killed_beyond_max_failures_fails_and_the_search_goes_on(tmp_path, ledger, local_ray):
    victim, killed, run_dir = _run_and_kill_worker(tmp_path, "wf", max_failures=0, local_ray=local_ray)
    trials = trials_of(run_dir, "wf")
    assert trials[victim].state == TrialState.FAIL
    failed = [t for t in trials if t.state == TrialState.FAIL]
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get("status") == "complete"]
    ok = len(failed) == 1 and len(done) == 2
    ledger.fault("trial worker killed beyond max_failures", "SIGKILL after epoch 1, max_failures 0: recorded as failed",
                 survived=ok, finished_before=0, lost=0)
    assert killed
    assert len(failed) == 1 and "worker died" in failed[0].user_attrs["fail_reason"]
    assert len(done) == 2  # the search went on to the requested count
