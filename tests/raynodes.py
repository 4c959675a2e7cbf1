"""Ray nodes for tests, each a `ray start --block` process in a session of its own, on loopback,
with a short temp dir and free ports: a head (LocalHead), a second node joining it (WorkerNode),
and stop_ray_node, which stops exactly what one of them started: SIGTERM to the `ray start`
process, which stops what it started; then SIGKILL to anything left of its process group, its
descendants, or a process naming its temp dir. Never `ray stop`, which would stop every Ray on the
machine. And `run_wrnsearch`, the command with a space written inside the checkout, where
a submitted space must live."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import REPO
from tests.procs import free_port, kill_pids, process_table
from tests.spaces import space_data

RAY = Path(sys.executable).with_name("ray")

# The searches submitted to these nodes: two at a time, one CPU each (a node has one), no GPU
CLUSTER_SPACE = space_data("cluster", dataset={"train_size": 384}, space={"widen_factor": [1, 2]},
                           budget={"max_trials": 4, "max_params": None},
                           search={"sampler": "random", "seed": 0, "n_startup_trials": None, "max_concurrent": 2},
                           resources={"gpus_per_trial": 0})



def processes_of(pgid: int, temp_dir: str) -> set[int]:
    """Our head's processes: its process group, their descendants, and whatever names its temp dir."""
    table = process_table()
    names_dir = re.compile(re.escape(temp_dir) + r"(/|\s|$)")
    ours = {pid for pid, (_, group, cmd) in table.items() if group == pgid or names_dir.search(cmd)}
    grew = True
    while grew:
        children = {pid for pid, (ppid, _, _) in table.items() if ppid in ours} - ours
        ours |= children
        grew = bool(children)
    ours.discard(os.getpid())
    return ours


class LocalHead:
    """A one-node Ray head in its own session, on loopback, with its own temp dir and ports."""

    def __init__(self, auth_token: str | None, num_cpus: int = 1, resources: str | None = None,
                 temp_dir: str | None = None) -> None:
        self.token = auth_token
        self.temp_dir = temp_dir or tempfile.mkdtemp(prefix="rt", dir="/tmp")  # unix socket paths must stay short
        os.makedirs(self.temp_dir, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "RAY_API_SERVER", "RAY_AUTH"))}
        env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token" if auth_token else "disabled")
        if auth_token:
            env["RAY_AUTH_TOKEN"] = auth_token
        # Jobs run `python` from the head's PATH: make it this interpreter, as an activated venv would.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        self.env = env
        self.log = open(Path(self.temp_dir) / "ray-start.log", "w")
        self._options = ["--num-cpus", str(num_cpus), *(["--resources", resources] if resources else [])]
        self._start()

    def _start(self) -> None:
        """``ray start`` on ports free a moment ago (another process may take one first: wait_ready
        then starts it again on others)."""
        self.dashboard_port = free_port()
        self.address = f"http://127.0.0.1:{self.dashboard_port}"
        self.gcs_port = free_port()
        self.log.flush()
        self._log_from = self.log.tell()  # what this start writes, after an earlier start's
        self.process = subprocess.Popen(
            [str(RAY), "start", "--head", "--block", *self._options, "--node-ip-address", "127.0.0.1",
             "--port", str(self.gcs_port), "--dashboard-host", "127.0.0.1",
             "--dashboard-port", str(self.dashboard_port), "--ray-client-server-port", str(free_port()),
             "--dashboard-agent-listen-port", str(free_port()), "--temp-dir", self.temp_dir,
             "--include-dashboard", "true", "--disable-usage-stats"],
            env=self.env, cwd=self.temp_dir, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, timeout_s: float = 120) -> None:
        request = urllib.request.Request(f"{self.address}/api/version")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        deadline = time.monotonic() + timeout_s
        restarts = 2
        while True:
            if self.process.poll() is not None:
                self.log.flush()
                said = (Path(self.temp_dir) / "ray-start.log").read_text()[self._log_from:]
                if restarts and ("address already in use" in said or "already occupied" in said):
                    restarts -= 1  # a port taken between free_port() and ray start: again on other ports
                    kill_pids(processes_of(self.process.pid, self.temp_dir) & set(process_table()))
                    self._start()
                    request = urllib.request.Request(f"{self.address}/api/version", headers=request.headers)
                    continue
                raise RuntimeError(f"ray start exited {self.process.returncode}: {self._log_tail()}")
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray head did not answer within {timeout_s} s: {self._log_tail()}")
            time.sleep(0.5)

    def _log_tail(self) -> str:
        self.log.flush()
        return (Path(self.temp_dir) / "ray-start.log").read_text()[-2000:]

    def stop(self) -> None:
        stop_ray_node(self.process, self.temp_dir, self.log)


def stop_ray_node(process: subprocess.Popen, temp_dir: str, log) -> None:
    """Stop a `ray start --block` node and every process it left, then remove its temp dir."""
    pgid = process.pid
    before = processes_of(pgid, temp_dir)  # taken first: orphans lose their parent link
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # `ray start --block` stops what it started
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not (before | processes_of(pgid, temp_dir)) & set(process_table()):
            break
        time.sleep(0.25)
    kill_pids((before | processes_of(pgid, temp_dir)) & set(process_table()))
    log.close()
    shutil.rmtree(temp_dir, ignore_errors=True)


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


def alive_nodes(head: LocalHead) -> int:
    code = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
            "print(sum(n['Alive'] for n in ray.nodes()))")
    env = {**head.env}
    proc = subprocess.run([sys.executable, "-c", code, f"127.0.0.1:{head.gcs_port}"], capture_output=True, text=True,
                          env=env, timeout=120)
    try:
        return int(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 0


def run_wrnsearch(*args: str, space_text: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the wrnsearch command here; ``space_text`` becomes the SPACE argument, written inside the
    shipped checkout (where a submitted space must live) for the duration of the command."""
    space = REPO / "tests" / f".cluster-space-{os.getpid()}.yaml"
    argv = [str(Path(sys.executable).parent / "wrnsearch"), *args]
    if space_text is not None:
        space.write_text(space_text)
        argv = [a if a != "SPACE" else str(space.relative_to(REPO)) for a in argv]
    try:
        return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ})
    finally:
        space.unlink(missing_ok=True)
