"""A real two-node Ray cluster on loopback: `wrnsearch submit` runs a search whose trials use both nodes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from test_cluster import RAY, LocalHead, stop_ray_node
from wrnsearch.cluster import job_logs, wait_for_job
from wrnsearch.study import counts_as_trained, load_study

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent

SPACE = """\
name: cluster
dataset: {name: synthetic, num_classes: 4, resolution: 16, train_size: 384, test_size: 64, val_size: 64}
space:
  depth: [10, 16]
  widen_factor: [1, 2]
  block: ["B(3,3)", "B(3,1)"]
budget: {max_trials: 4}
train: {epochs: 2, batch_size: 64, lr: 0.05}
search: {sampler: random, seed: 0, max_concurrent: 2}
resources: {cpus_per_trial: 1, gpus_per_trial: 0}
"""


class WorkerNode:
    """A second Ray node joining ``head`` from its own process session, with its own resources."""

    def __init__(self, head: LocalHead, resources: str) -> None:
        # its own temp dir, as a separate machine has: a node deletes runtime-env files it no
        # longer uses from its temp dir, which would pull the job's directory from under the head
        self.temp_dir = tempfile.mkdtemp(prefix="rw", dir="/tmp")
        self.log = open(Path(self.temp_dir) / "ray-worker.log", "w")
        self.process = subprocess.Popen(
            [str(RAY), "start", "--block", "--address", f"127.0.0.1:{head.gcs_port}", "--num-cpus", "1",
             "--resources", resources, "--node-ip-address", "127.0.0.1", "--temp-dir", self.temp_dir,
             "--disable-usage-stats"],
            env=head.env, cwd=self.temp_dir, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def stop(self) -> None:
        stop_ray_node(self.process, self.temp_dir, self.log)


def _alive_nodes(head: LocalHead) -> int:
    code = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
            "print(sum(n['Alive'] for n in ray.nodes()))")
    env = {**head.env}
    proc = subprocess.run([sys.executable, "-c", code, f"127.0.0.1:{head.gcs_port}"], capture_output=True, text=True,
                          env=env, timeout=120)
    try:
        return int(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 0


@pytest.fixture
def two_node_cluster():
    if not RAY.exists():
        pytest.skip(f"no ray executable beside {sys.executable}")
    head = LocalHead(auth_token=None, num_cpus=1, resources='{"head": 1}')
    worker = None
    try:
        head.wait_ready()
        worker = WorkerNode(head, '{"node2": 1}')
        deadline = time.monotonic() + 120
        while _alive_nodes(head) < 2:
            if time.monotonic() > deadline or worker.process.poll() is not None:
                raise RuntimeError("the second node did not join")
            time.sleep(1)
        yield head
    finally:  # torn down even when the test fails
        if worker is not None:
            worker.stop()
        head.stop()


def test_submit_runs_trials_on_both_nodes(two_node_cluster, tmp_path, monkeypatch):
    head = two_node_cluster
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    shared = tmp_path / "shared"
    shared.mkdir()
    # both "nodes" share this machine's disk: declare the run directory shared, as on an NFS mount
    monkeypatch.setenv("WRNSEARCH_SHARED_FS", str(shared))
    space = REPO / "tests" / ".cluster-space.yaml"  # must live inside the shipped checkout
    space.write_text(SPACE)
    try:
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "wrnsearch"), "submit", str(space.relative_to(REPO)),
             "--address", head.address, "--runs-dir", str(shared / "runs"), "--no-pip"],
            cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ},
        )
    finally:
        space.unlink()
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.split()[1]
    assert proc.stdout.startswith(f"submitted {job_id}") and "wrnsearch jobs logs" in proc.stdout
    info = wait_for_job(job_id, head.address, timeout_s=400, poll_s=1)
    logs = "".join(job_logs(job_id, head.address))
    assert info.status == "SUCCEEDED", logs[-6000:]

    # a run directory on a shared filesystem keeps its study in the journal file (SQLite is refused there)
    assert (shared / "runs" / "cluster" / "study.journal").is_file()
    study = load_study(shared / "runs" / "cluster")
    trained = [t for t in study.get_trials(deepcopy=False) if counts_as_trained(t)]
    assert len(trained) == 4
    assert all(t.user_attrs["status"] == "complete" for t in trained)
    nodes = Counter(t.user_attrs["node_id"] for t in trained)
    assert len(nodes) == 2, nodes  # trials ran on the head and on the second node
    assert (shared / "runs" / "cluster" / "report.html").exists()
