"""The driver's side of Ray: this node named, the Ray clients' errors translated into one line, and a
local run that starts a Ray of its own beside a `ray start` cluster it must not join."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.raynodes import RAY, LocalHead
from tests.spaces import exactly
from wrnsearch.search import current_node, explain_cluster_error


def test_errors_of_the_ray_clients_are_translated():
    missing = RuntimeError("The Ray jobs CLI & SDK require the ray[default] installation: `pip install 'ray[default]'`")
    assert "requires the ray[default] installation" in str(explain_cluster_error(missing, "http://h:8265"))
    from ray.exceptions import AuthenticationError

    forbidden = AuthenticationError("Authentication failed: Forbidden: Invalid authentication token")
    rejected = explain_cluster_error(forbidden, "x")
    assert "InvalidAuthToken" in str(rejected) and "RAY_AUTH_TOKEN" in str(rejected)
    init_failed = explain_cluster_error(ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379"), "auto")
    assert "RAY_AUTH_MODE=token" in str(init_failed)
    assert explain_cluster_error(KeyError("unrelated"), "x") is None



def test_current_node_names_this_host():
    node = current_node()
    assert node.hostname == socket.gethostname()
    assert node.ip
    assert node.to_dict()["node"] == node.hostname
    assert node.hostname in node.label



@pytest.mark.slow
def test_a_local_run_starts_its_own_ray_beside_a_ray_start_cluster(tmp_path, make_space):
    """`ray start` leaves its address in <tmp>/ray/ray_current_cluster, which a bare ray.init()
    joins (and then refuses num_cpus): a run without --address must start a Ray of its own."""
    if not RAY.exists():
        pytest.skip(f"no ray executable beside {sys.executable}")
    base = tempfile.mkdtemp(prefix="rs", dir="/tmp")  # stands in for /tmp, the default
    head = LocalHead(auth_token=None, temp_dir=os.path.join(base, "ray"))
    try:
        head.wait_ready()
        deadline = time.monotonic() + 60  # written once the head is up
        while not (Path(base) / "ray" / "ray_current_cluster").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (Path(base) / "ray" / "ray_current_cluster").exists()
        space = make_space("beside", dataset={"train_size": 128, "test_size": 32, "val_size": 32},
                           space=exactly({"architecture": ["WRN-10-1"]}), budget=exactly({"max_trials": 1}),
                           train=exactly({"epochs": 1, "batch_size": 32}), search=None, resources=None)
        proc = subprocess.run([str(Path(sys.executable).with_name("wrnsearch")), "run", str(space), "--runs-dir",
                               str(tmp_path / "runs"), "--quiet"], env={**head.env, "RAY_TMPDIR": base},
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert '"event": "done"' in proc.stdout and "num_cpus" not in proc.stderr
    finally:
        head.stop()
        shutil.rmtree(base, ignore_errors=True)
