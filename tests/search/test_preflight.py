"""Before the first trial and while trials wait: a search no node can host is refused in one line, a
trial counts as running once its trainable starts on a node, and the trials Tune holds back are
counted as waiting for resources. GPUs rehearsed on the CPU: a Ray that declares GPUs it does not
have, and a trainable that reads what Ray assigned it without touching CUDA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import REPO
from tests.spaces import exactly, write_space
from wrnsearch.cli import main
from wrnsearch.plan import Node, TrialRequest, gpu_plan, hosting_problem, trials_at_once
from wrnsearch.study import Outcome, load_study, outcome_of

pytestmark = pytest.mark.slow


# A search in a process of its own, on a Ray that declares GPUs (this machine has none): every event
# as a JSON line on stdout, as --quiet prints them.
DRIVER = """\
import sys, ray
from pathlib import Path
from tests.trainables import gpu_seeing_trial
from wrnsearch.cli._live_view import json_lines
from wrnsearch.search import RunOptions, run_search

ray.init(address="local", num_cpus=2, num_gpus={gpus}, include_dashboard=False, log_to_driver=False)
run_search(sys.argv[1], RunOptions(runs_dir=Path(sys.argv[2]), measure_alone=False), on_event=json_lines,
           trainable=gpu_seeing_trial)
"""


def _space(tmp_path: Path, name: str, *, trials: int, concurrent: int, cpus: float, gpus: float) -> Path:
    """8 architectures, one epoch each, asking for ``cpus`` and ``gpus`` a trial."""
    return write_space(tmp_path, name, space={"widen_factor": [1, 2]}, train={"epochs": 1, "lr": None},
                       budget={"max_trials": trials, "max_params": None},
                       search=exactly({"sampler": "random", "seed": 0, "max_concurrent": concurrent}),
                       resources={"cpus_per_trial": cpus, "gpus_per_trial": gpus})


def _declared_gpu_search(tmp_path: Path, space: Path, declared_gpus: int) -> tuple[subprocess.CompletedProcess, list]:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(gpus=declared_gpus))
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, str(script), str(space), str(tmp_path / "runs")], capture_output=True,
                          text=True, env=env, timeout=240, cwd=tmp_path)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc, events


def test_a_space_no_node_can_host_is_refused_in_one_line_before_any_trial(tmp_path, local_ray, monkeypatch):
    """Fails on the code before: the trials waited, silently, while the view counted them as running.

    `wrnsearch run` in this process (click's runner), on the test process's Ray (2 CPUs, no GPU):
    the refusal is the command's own line and exit code; a process of its own would add only its
    imports and a Ray's start and stop (tests/reliability/test_readers_and_disk.py runs it as one)."""
    space = _space(tmp_path, "nogpu", trials=2, concurrent=2, cpus=1, gpus=1)
    monkeypatch.chdir(tmp_path)
    began = time.monotonic()
    result = CliRunner().invoke(main, ["run", str(space), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("wrnsearch: error:")]
    assert len(errors) == 1, result.stderr
    assert f"{space}: a trial asks for 1 GPU and 1 CPU (resources.gpus_per_trial)" in errors[0]
    assert "and no GPU, so no trial could ever start" in errors[0]
    assert "--set resources.gpus_per_trial=0" in errors[0] and "--address" in errors[0]
    assert time.monotonic() - began < 90
    assert "started" not in result.stdout
    assert not load_study(tmp_path / "runs" / "nogpu").get_trials()  # nothing stored, nothing to reconcile


def test_more_gpus_than_any_node_declares_is_refused(tmp_path):
    space = _space(tmp_path, "toomany", trials=2, concurrent=2, cpus=1, gpus=3)
    proc, events = _declared_gpu_search(tmp_path, space, declared_gpus=2)
    assert proc.returncode == 1 and "RunError" in proc.stderr, proc.stderr[-2000:]
    assert "a trial asks for 3 GPUs and 1 CPU (resources.gpus_per_trial) and the largest node has 2 CPUs" in proc.stderr
    assert "2 GPUs, so no trial could ever start" in proc.stderr
    assert not [e for e in events if e["event"] == "start"]


def test_fractional_gpus_are_packed_and_each_trial_sees_the_device_ray_assigned(tmp_path):
    """Two declared GPUs and 2 CPUs: the plan's gpus_per_trial (memory allows many trials per GPU,
    one CPU per GPU allows two of 0.5 CPU) packs four trials at once, two on each device index."""
    node = Node("rehearsal", cpus=2, gpus=2)
    shares = gpu_plan(600 * 2**20, 80 * 2**30, node, cpus_per_trial=0.5)
    assert shares["trials_per_gpu_by_memory"] > 2 and shares["trials_per_gpu"] == 2
    gpus = shares["gpus_per_trial"]
    assert gpus == 0.5 and trials_at_once([node], TrialRequest(0.5, gpus), 8) == 4
    space = _space(tmp_path, "packed", trials=4, concurrent=4, cpus=0.5, gpus=gpus)
    proc, events = _declared_gpu_search(tmp_path, space, declared_gpus=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = [t for t in load_study(tmp_path / "runs" / "packed").get_trials() if outcome_of(t) == Outcome.DONE]
    assert len(trials) == 4, [t.user_attrs.get("fail_reason") for t in load_study(tmp_path / "runs" / "packed")
                              .get_trials()]
    ids = [t.user_attrs["gpu_ids"] for t in trials]
    assert all(len(i) == 1 for i in ids) and sorted(i[0] for i in ids) == ["0", "0", "1", "1"]
    running = [e["progress"]["running"] for e in events]
    assert max(running) == 4, running
    assert all(e["progress"]["running"] + e["progress"]["waiting_resources"] <= 4 for e in events)


def test_a_trial_held_back_for_resources_is_waiting_not_running(tmp_path):
    """One declared GPU, two trials of one GPU each at most two at once: the second waits for the
    first's GPU. It is said to start only once its trainable starts, after the first ended; until
    then the counts show it waiting for resources, and the study holds it alone as the waiting one."""
    space = _space(tmp_path, "queue", trials=2, concurrent=2, cpus=1, gpus=1)
    proc, events = _declared_gpu_search(tmp_path, space, declared_gpus=1)
    assert proc.returncode == 0, proc.stderr[-3000:]
    starts = {e["number"]: e["time"] for e in events if e["event"] == "start"}
    dones = {e["number"]: e["time"] for e in events if e["event"] == "done"}
    assert sorted(starts) == sorted(dones) == [0, 1]
    first, second = sorted(starts, key=starts.get)
    assert starts[second] >= dones[first]  # it could not run before the GPU was free
    during = [e for e in events if e["time"] < starts[second] and e["event"] == "done"]
    assert during and all(e["progress"]["running"] == 0 and e["progress"]["waiting_resources"] == 1 for e in during)
    assert max(e["progress"]["running"] for e in events) == 1
    notes = [e["note"] for e in events if e["event"] == "note"]
    assert notes == ["search.max_concurrent is 2, but the cluster runs 1 trial of 1 GPU and 1 CPU at once: 1 at a time"]


def test_the_hosting_check_waits_where_an_autoscaler_may_add_a_node():
    request, here = TrialRequest(4, 1), [Node("head", 2)]
    assert hosting_problem("s.yaml", request, here) is not None
    assert hosting_problem("s.yaml", request, here, autoscaler=True) is None
    assert hosting_problem("s.yaml", TrialRequest(1), here) is None


def test_the_plain_view_says_what_a_trial_waits_for():
    from wrnsearch.cli._live_view import progress_line
    from wrnsearch.search import RunProgress

    p = RunProgress(max_trials=4, running=1, waiting_resources=1, waiting_for="1 GPU and 4 CPUs")
    assert "running 1  waiting (resources) 1" in progress_line(p) and "waiting for a node" not in progress_line(p)
    p.waiting_since = time.monotonic() - 75
    assert progress_line(p).endswith("; waiting for a node with 1 GPU and 4 CPUs (0:01:15)")

