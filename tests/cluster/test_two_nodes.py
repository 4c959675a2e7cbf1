"""A real two-node Ray cluster on loopback, started once for the module: `wrnsearch submit` runs a
search whose trials use both nodes; a job whose data are missing or broken fails, and the
commands that follow it (`submit --follow`, `jobs logs --follow`) exit non-zero as it did."""

from __future__ import annotations

import sys
import time
from collections import Counter

import pytest

from tests.raynodes import CLUSTER_SPACE, RAY, LocalHead, WorkerNode, alive_nodes, run_wrnsearch
from tests.spaces import exactly, space_text
from wrnsearch.cluster import job_logs, wait_for_job
from wrnsearch.study import Outcome, count_outcomes, counts_as_trained, load_study

pytestmark = pytest.mark.slow

SPACE = space_text("cluster", base=CLUSTER_SPACE)


@pytest.fixture(scope="module")
def two_node_cluster():
    if not RAY.exists():
        pytest.skip(f"no ray executable beside {sys.executable}")
    head = LocalHead(auth_token=None, num_cpus=1, resources='{"head": 1}')
    worker = None
    try:
        head.wait_ready()
        worker = WorkerNode(head, '{"node2": 1}')
        deadline = time.monotonic() + 120
        while alive_nodes(head) < 2:
            if time.monotonic() > deadline or worker.process.poll() is not None:
                raise RuntimeError("the second node did not join")
            time.sleep(1)
        yield head
    finally:  # torn down even when the test fails
        if worker is not None:
            worker.stop()
        head.stop()


@pytest.fixture
def shared(tmp_path, monkeypatch):
    """A client of the cluster, and a directory both "nodes" see (this machine's disk), declared
    shared as an NFS mount would be."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv("WRNSEARCH_SHARED_FS", str(shared))
    return shared


def test_submit_runs_trials_on_both_nodes(two_node_cluster, shared):
    head = two_node_cluster
    proc = run_wrnsearch("submit", "SPACE", "--address", head.address, "--runs-dir", str(shared / "runs"), "--no-pip",
                      space_text=SPACE)
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


BROKEN = space_text("broken", base=CLUSTER_SPACE, search={"max_concurrent": 1},
                    dataset=exactly({"name": "cifar10", "download": False, "val_size": 64}))


def test_a_job_without_its_data_fails_before_any_trial_and_submit_follow_says_so(two_node_cluster, shared):
    """The data root the nodes do not have: every node is checked before the first trial, the
    driver exits 2 with one line, and `submit --follow` exits 2 with that line."""
    head = two_node_cluster
    missing = shared / "no-such-data"
    proc = run_wrnsearch("submit", "SPACE", "--address", head.address, "--runs-dir", str(shared / "runs"), "--no-pip",
                      "--data-root", str(missing), "--follow", space_text=BROKEN)
    assert proc.returncode == 2, proc.stdout[-4000:] + proc.stderr
    job_id = proc.stdout.split()[1]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("wrnsearch: error:")]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith(f"wrnsearch: error: job {job_id} FAILED, driver exit code 2: the data set cifar10 "
                                "is not there for the trials on node ")
    assert f"cifar10 not found under {missing}" in errors[0]
    # no trial ran: the study holds none
    assert load_study(shared / "runs" / "broken").get_trials(deepcopy=False) == []


def test_a_broken_data_set_stops_the_search_after_three_setup_failures(two_node_cluster, shared):
    """Data the node check finds (their names are right) but no trial can read: three trials fail
    alike before their first epoch, the search stops (driver exit 2) without using its budget,
    and `jobs logs --follow` exits 2 with the one line."""
    head = two_node_cluster
    data = shared / "data"
    for split in ("train", "test"):
        (data / "cifar10" / split / "cat").mkdir(parents=True)
        (data / "cifar10" / split / "cat" / "0.png").write_bytes(b"not a png")
    proc = run_wrnsearch("submit", "SPACE", "--address", head.address, "--runs-dir", str(shared / "runs"), "--no-pip",
                      "--data-root", str(data), space_text=BROKEN)
    assert proc.returncode == 0, proc.stderr
    job_id = proc.stdout.split()[1]
    follow = run_wrnsearch("jobs", "logs", job_id, "--address", head.address, "--follow", timeout=400)
    assert follow.returncode == 2, follow.stdout[-4000:] + follow.stderr
    errors = [line for line in follow.stderr.splitlines() if line.startswith("wrnsearch: error:")]
    assert len(errors) == 1, follow.stderr
    assert errors[0].startswith(f"wrnsearch: error: job {job_id} FAILED, driver exit code 2: 3 trials in a row "
                                "failed before their first epoch with the same setup error")
    assert "cannot decode image" in errors[0] and "wrnsearch resume" in errors[0]
    info = wait_for_job(job_id, head.address, timeout_s=30)
    assert (info.status, info.driver_exit_code, info.exit_code) == ("FAILED", 2, 2)

    trials = load_study(shared / "runs" / "broken").get_trials(deepcopy=False)
    assert len(trials) == 3
    assert count_outcomes(trials)[Outcome.SETUP_FAILED.value] == 3
    assert not any(counts_as_trained(t) for t in trials)  # budget.max_trials (4) untouched
