"""The head node killed under a submitted search (every process of it, the job's driver among
them, as a machine that vanished), then `wrnsearch resume RUN_DIR` against a new head: the study,
in the run directory's journal on the shared filesystem, goes on to exactly its budget, the trials
finished before unchanged, the interrupted ones queued again (from their checkpoints), none twice."""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter

import optuna
import pytest

from tests.procs import kill_pids, process_table, wrnsearch_exe
from tests.raynodes import CLUSTER_SPACE, LocalHead, processes_of, run_wrnsearch
from tests.spaces import space_text
from tests.studies import trials_of
from wrnsearch.study import counts_as_trained

pytestmark = pytest.mark.slow


def _trained(run_dir) -> list:
    return [t for t in trials_of(run_dir, "cluster") if counts_as_trained(t)]


def test_the_head_killed_under_a_job_and_resume_on_a_new_head(cluster_fs, ledger):
    shared = cluster_fs
    run_dir = shared / "runs" / "cluster"
    space = space_text("cluster", base=CLUSTER_SPACE, train={"epochs": 4})  # trials in flight when the first is done
    head = LocalHead(auth_token=None, num_cpus=2)
    second = None
    try:
        head.wait_ready()
        proc = run_wrnsearch("submit", "SPACE", "--address", head.address, "--runs-dir", str(shared / "runs"),
                          "--no-pip", space_text=space)
        assert proc.returncode == 0, proc.stderr
        deadline = time.monotonic() + 300
        while len(_trained(run_dir)) < 1:
            assert time.monotonic() < deadline, "no trial finished under the job"
            time.sleep(0.5)
        before = {t.number: (t.user_attrs["key"], t.values) for t in _trained(run_dir)}
        # the head, its job's driver and the trials' workers
        kill_pids(processes_of(head.process.pid, head.temp_dir) & set(process_table()))
        head.process.wait(timeout=30)
        second = LocalHead(auth_token=None, num_cpus=2)
        second.wait_ready()
        resumed = subprocess.run([wrnsearch_exe(), "resume", str(run_dir), "--address",
                                  f"127.0.0.1:{second.gcs_port}", "--quiet"], capture_output=True, text=True,
                                 timeout=600, env={**os.environ, **second.env})
    finally:
        head.stop()
        if second is not None:
            second.stop()
    trials = trials_of(run_dir, "cluster")
    trained = [t for t in trials if counts_as_trained(t)]
    kept = all({t.number: (t.user_attrs["key"], t.values) for t in trained}.get(n) == v for n, v in before.items())
    once = Counter(t.user_attrs["key"] for t in trained).most_common(1)[0][1] == 1
    left = [t for t in trials if t.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)]
    ok = resumed.returncode == 0 and len(trained) == 4 and kept and once and not left
    ledger.fault("head node killed under a submitted job, resumed on a new head",
                 f"{len(before)} trained before the kill; {len(trained)} of 4 after the resume, none twice",
                 survived=ok, finished_before=len(before), lost=sum(n not in {t.number for t in trained}
                                                                    for n in before))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len(trained) == 4 and once and kept and not left
    # the trials in flight were marked interrupted and queued again (from their checkpoints, when they had one)
    assert [t for t in trained if t.user_attrs.get("retry_of") is not None], \
        [(t.number, t.user_attrs.get("retry_of"), t.user_attrs.get("resumed_from_epoch")) for t in trained]
