"""A worker node lost mid-trial on a real two-node Ray cluster (loopback, separate temp dirs, as two
machines would have): its raylet and workers killed by PID while a trial trains there. The trial
is retried on the live node from its checkpoint, the search ends with exactly its trained trials,
none twice, none left running, and the run log names the lost node in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import optuna
import pytest

from tests.procs import kill_pids, process_table, wrnsearch_exe
from tests.raynodes import CLUSTER_SPACE, LocalHead, WorkerNode, processes_of
from tests.spaces import space_text
from tests.studies import trials_of
from wrnsearch.search._epoch_progress import PROGRESS_DIR, read_progress
from wrnsearch.study import counts_as_trained

pytestmark = pytest.mark.slow

# fp32 on any CPU: the kill must land mid-trial, seconds after both trials' first epochs (bf16,
# where auto takes it, trains these epochs three times as fast, and a trial ended before the kill)
SPACE = space_text("lost", base=CLUSTER_SPACE, dataset={"train_size": 1024}, budget={"max_trials": 3},
                   train={"epochs": 8, "amp": False, "channels_last": False}, search={"max_failures": 2})


def _node_ids(head: LocalHead) -> dict[str, str]:
    """Each live node's id, by the custom resource it was started with (head, node2)."""
    code = ("import json, ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
            "print(json.dumps({[k for k in n['Resources'] if k in ('head', 'node2')][0]: n['NodeID'] "
            "for n in ray.nodes() if n['Alive']}))")
    proc = subprocess.run([sys.executable, "-c", code, f"127.0.0.1:{head.gcs_port}"], capture_output=True, text=True,
                          env=head.env, timeout=120)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_worker_node_lost_mid_trial_is_retried_on_the_live_node(tmp_path, cluster_fs, ledger):
    shared = cluster_fs
    space = tmp_path / "lost.yaml"
    space.write_text(SPACE)
    head = LocalHead(auth_token=None, num_cpus=1, resources='{"head": 1}')
    worker = run = None
    try:
        head.wait_ready()
        worker = WorkerNode(head, '{"node2": 1}')
        deadline = time.monotonic() + 120
        while len(ids := _node_ids(head)) < 2:
            assert time.monotonic() < deadline and worker.process.poll() is None, "the second node did not join"
            time.sleep(1)
        run_dir = shared / "runs" / "lost"
        run = subprocess.Popen([wrnsearch_exe(), "run", str(space), "--runs-dir", str(shared / "runs"), "--address",
                                f"127.0.0.1:{head.gcs_port}", "--quiet"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True,
                               env={**os.environ, **{k: v for k, v in head.env.items() if k.startswith("RAY_")}})
        events: list[dict] = []
        reader = threading.Thread(target=lambda: events.extend(json.loads(line) for line in run.stdout
                                                               if line.startswith("{")), daemon=True)
        reader.start()
        # a trial trains on the second node: its worker runs there, and both trials in flight (one
        # per node, one CPU each) have reported an epoch, whose report names the node
        deadline = time.monotonic() + 300
        while True:
            table = process_table()
            on_worker = [pid for pid in processes_of(worker.process.pid, worker.temp_dir)
                         if pid in table and "ImplicitFunc" in table[pid][2]]
            kinds = {n: {e.get("event") for e in events if e.get("number") == n} for n in
                     {e.get("number") for e in events if e.get("event") == "start"}}
            in_flight = {n: k for n, k in kinds.items() if "done" not in k}
            # the events lag the trainers (a trial can be done with its "done" not yet printed, and
            # the node's idle reused worker then dies with no trial on it): no trial's own progress
            # file may show it within two epochs of its end
            progress = {n: read_progress(run_dir / PROGRESS_DIR, n) for n in in_flight}
            near_end = [p for p in progress.values() if p and p["epoch"] > p["epochs"] - 2]
            if on_worker and len(in_flight) == 2 and all("epoch" in k for k in in_flight.values()) and not near_end:
                break
            assert run.poll() is None and time.monotonic() < deadline, (run.poll(), events[-3:])
            time.sleep(0.5)
        # mid-trial: past its first checkpoint (written before the epoch is reported), killed at once
        finished_before = sum(e.get("event") == "done" for e in events)
        killed = processes_of(worker.process.pid, worker.temp_dir) & set(process_table())
        kill_pids(killed)  # the node's raylet and workers, as a machine that vanished
        assert run.wait(timeout=600) == 0, run.stderr.read()[-3000:]
        reader.join(timeout=10)
    finally:
        if run is not None and run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        if worker is not None:
            worker.stop()
        head.stop()
    run_dir = shared / "runs" / "lost"
    trials = trials_of(run_dir, "lost")
    trained = [t for t in trials if counts_as_trained(t)]
    lost = [line for line in (run_dir / "run.log").read_text().splitlines() if "was lost;" in line]
    ok = (len(trained) == 3 and len({t.user_attrs["key"] for t in trained}) == 3 and len(lost) == 1
          and not [t for t in trials if t.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)])
    ledger.fault("worker node lost mid-trial (two-node Ray cluster)",
                 f"{len(killed)} processes of the second node killed: the trial retried on the head from its "
                 f"checkpoint, {len(trained)} of 3 trained once each", survived=ok, finished_before=finished_before,
                 lost=max(0, finished_before - sum(counts_as_trained(t) for t in trials)))
    assert len(trained) == 3 and all(t.user_attrs["status"] == "complete" for t in trained), \
        [(t.number, t.state, t.user_attrs.get("status"), t.user_attrs.get("fail_reason")) for t in trials]
    assert Counter(t.user_attrs["key"] for t in trained).most_common(1)[0][1] == 1  # none twice
    assert not [t for t in trials if t.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)]
    assert len(lost) == 1 and ids["node2"][:12] in lost[0], lost
    assert "retried on a live node from its last checkpoint" in lost[0]
    # nothing finished on the lost node: all three ended on the head, the retried one from its checkpoint
    assert [t.user_attrs.get("node_id") for t in trained] == [ids["head"]] * 3
    resumed = [t for t in trained if t.user_attrs.get("resumed_from_epoch")]
    assert len(resumed) == 1 and 1 <= resumed[0].user_attrs["resumed_from_epoch"] < 6, \
        [t.user_attrs.get("resumed_from_epoch") for t in trained]
