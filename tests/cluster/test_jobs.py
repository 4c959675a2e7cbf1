"""Ray jobs: addresses, what a followed job exits with, a job server not ready yet, and real jobs.

The real tests start their own single-node Ray heads (tests/raynodes.py) as separate processes (in a session of
their own, with a short temp dir and free ports) and stop exactly those: SIGTERM to the
`ray start --block` process, which stops what it started; then SIGKILL to anything left of its
process group, its descendants, or a process naming its temp dir. Never `ray stop`, which
would stop every Ray on the machine.
"""

from __future__ import annotations

import ast
import os
import secrets
import shlex
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.procs import free_port
from tests.raynodes import RAY, LocalHead, processes_of
from wrnsearch.cluster import (
    JobInfo,
    Submission,
    SubmitOptions,
    build_submission,
    job_logs,
    job_status,
    list_jobs,
    normalize_address,
    stop_job,
    submit,
    submit_search,
    wait_for_job,
)
from wrnsearch.errors import RunError
from wrnsearch.space import load_space

QUICKSTART = REPO / "spaces" / "quickstart.yaml"


def test_addresses():
    assert normalize_address("head:8265") == "http://head:8265"
    assert normalize_address("http://head:8265/") == "http://head:8265"
    assert normalize_address("auto") == "auto"
    assert normalize_address(None) is None
    with pytest.raises(RunError):
        normalize_address("  ")


def test_an_unreachable_job_server_is_one_clear_line():
    address = f"127.0.0.1:{free_port()}"  # nothing listens: refused at once
    started = time.monotonic()
    with pytest.raises(RunError, match=r"cannot reach the Ray job server at 127\.0\.0\.1:\d+: .*ssh -N -L 8265") as e:
        job_status("raysubmit_x", address)
    assert "\n" not in str(e.value)
    assert time.monotonic() - started < 10


# --------------------------------------------------------------------------------------------
# What a followed job exits with; a job server that is not ready yet


def _info(status: str, driver_exit_code: int | None = None, message: str = "") -> JobInfo:
    return JobInfo(job_id="raysubmit_1", status=status, message=message, entrypoint="python -m wrnsearch run x",
                   start_time_s=1.0, end_time_s=2.0, driver_exit_code=driver_exit_code, metadata={})


def test_a_followed_job_exits_as_it_ended():
    assert _info("SUCCEEDED", 0).exit_code == 0
    assert _info("FAILED", 2).exit_code == 2  # the driver's one-line error (a broken setup, a bad space)
    assert _info("FAILED", 1).exit_code == 1
    assert _info("FAILED", None).exit_code == 1  # the driver never ran (a runtime environment that failed)
    assert _info("FAILED", -9).exit_code == 1  # killed by a signal
    assert _info("STOPPED", None).exit_code == 1
    ray_message = ("Job entrypoint command failed with exit code 2, last available logs (truncated to 20,000 chars):\n"
                   "some log\nwrnsearch: error: 3 trials in a row failed before their first epoch: no data\n")
    line = _info("FAILED", 2, ray_message).error_line
    assert line == ("job raysubmit_1 FAILED, driver exit code 2: 3 trials in a row failed before their first epoch: "
                    "no data")
    assert _info("STOPPED", None, "Job was intentionally stopped.").error_line == (
        "job raysubmit_1 STOPPED: Job was intentionally stopped.")


class _NotReadyJobServer:
    """A job server as Ray's head is right after `ray start`: /api/version answers, and the first
    ``refusals`` submissions get Ray's HTTP 500 "No available agent to submit job, please try again later." """

    def __init__(self, refusals: int) -> None:
        import http.server
        import json
        import threading

        import ray

        self.refusals, self.submissions = refusals, 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: str, kind: str = "application/json") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.startswith("/api/version"):
                    self._send(200, json.dumps({"version": "4", "ray_version": ray.__version__,
                                                "ray_commit": "test", "session_name": "test"}))
                else:
                    self._send(404, "not found", "text/plain")

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.submissions += 1
                if server.submissions <= server.refusals:
                    self._send(500, "No available agent to submit job, please try again later.", "text/plain")
                else:
                    self._send(200, json.dumps({"job_id": "raysubmit_ok", "submission_id": "raysubmit_ok"}))

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def not_ready_server(request, client_env):
    server = _NotReadyJobServer(request.param)
    yield server
    server.close()


@pytest.mark.parametrize("not_ready_server", [3], indirect=True)
def test_submit_waits_for_a_job_agent_after_ray_start(not_ready_server):
    job = Submission(entrypoint="python -c pass", runtime_env=None)
    assert submit(job, not_ready_server.address, agent_wait_s=30) == "raysubmit_ok"
    assert not_ready_server.submissions == 4  # three refusals, then accepted


@pytest.mark.parametrize("not_ready_server", [1000], indirect=True)
def test_submit_gives_up_on_a_job_agent_in_one_line(not_ready_server):
    job = Submission(entrypoint="python -c pass", runtime_env=None)
    with pytest.raises(RunError) as raised:
        submit(job, not_ready_server.address, agent_wait_s=1.2)
    line = str(raised.value)
    assert line.startswith(f"the Ray cluster at {not_ready_server.address} still has no job agent ready after 1.2 s")
    assert "No available agent to submit job" in line and "ray status" in line and "\n" not in line
    assert 2 <= not_ready_server.submissions < 10  # retried, with growing pauses



# --------------------------------------------------------------------------------------------
# Real Ray heads, started and stopped by the tests



@pytest.fixture(scope="module")
def ray_head():
    """A Ray head without authentication (RAY_AUTH_MODE=disabled on it and in the client)."""
    if not RAY.exists():
        pytest.skip(f"no ray executable beside {sys.executable}")
    head = LocalHead(auth_token=None)
    try:
        head.wait_ready()
        yield head
    finally:
        head.stop()


@pytest.fixture
def client_env(monkeypatch, tmp_path):
    """This process as a client of the unauthenticated head."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    for name in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.slow
def test_a_job_ships_the_checkout_runs_and_logs(ray_head, client_env, tmp_path):
    address = ray_head.address
    sub = build_submission(QUICKSTART, SubmitOptions(runs_dir=str(tmp_path / "runs"), working_dir=REPO, pip=False),
                           space=load_space(QUICKSTART))
    # the listing on a line of its own behind a marker: Ray writes lines of its own into the job's
    # log ("Running entrypoint for job ..."), in an order that varies from run to run
    listing = ("import os; print('hello from', os.path.basename(os.getcwd()) or '/'); "
               "print('listing:', sorted(os.listdir('.')))")
    job_id = submit(replace(sub, entrypoint=shlex.join(["python", "-c", listing])), address)

    info = wait_for_job(job_id, address, timeout_s=60, poll_s=0.5)
    logs = "".join(job_logs(job_id, address))
    assert info.status == "SUCCEEDED", logs
    assert info.driver_exit_code in (0, None)
    assert info.metadata["wrnsearch_search"] == "quickstart"
    assert "hello from" in logs
    listed = [line for line in logs.splitlines() if line.startswith("listing: ")]
    assert len(listed) == 1, logs
    shipped = ast.literal_eval(listed[0].removeprefix("listing: "))  # the listing of the job's directory
    assert {"spaces", "wrnsearch", "pyproject.toml"} <= set(shipped)
    assert not {".venv", ".git", "runs"} & set(shipped)
    assert job_id in {j.job_id for j in list_jobs(address)}
    assert job_status(job_id, address).terminal


@pytest.mark.slow
def test_follow_stop_and_time_out(ray_head, client_env):
    address = ray_head.address
    ticking = "import time\nfor i in range(3): print('tick', i, flush=True)\ntime.sleep(120)"
    job_id = submit(Submission(entrypoint=shlex.join(["python", "-c", ticking]), runtime_env=None), address)

    seen = ""
    for chunk in job_logs(job_id, address, follow=True):
        seen += chunk
        if "tick 2" in seen:
            break  # closing the iterator closes Ray's log follower
    assert "tick 0" in seen and "tick 1" in seen

    with pytest.raises(RunError, match=rf"job {job_id} is still RUNNING after 0.5 s"):
        wait_for_job(job_id, address, timeout_s=0.5, poll_s=0.1)
    assert stop_job(job_id, address) is True
    assert wait_for_job(job_id, address, timeout_s=30, poll_s=0.5).status == "STOPPED"
    assert stop_job(job_id, address) is False  # already stopped


@pytest.mark.slow
def test_submit_search_submits_wrnsearch_run(ray_head, client_env, tmp_path):
    """The real entrypoint reaches the cluster as built; the search itself is stopped at once."""
    address = ray_head.address
    runs = tmp_path / "runs"
    job_id = submit_search(QUICKSTART, address, SubmitOptions(overrides=("train.epochs=1",), runs_dir=str(runs),
                                                               working_dir=REPO, pip=False))
    try:
        info = job_status(job_id, address)
        assert info.entrypoint == ("python -m wrnsearch run spaces/quickstart.yaml --address auto "
                                   f"--runs-dir {runs} --set train.epochs=1")
        assert info.metadata["wrnsearch_search"] == "quickstart"
    finally:
        stop_job(job_id, address)
        wait_for_job(job_id, address, timeout_s=60, poll_s=0.5)


@pytest.mark.slow
def test_an_unknown_job_is_one_clear_line(ray_head, client_env):
    with pytest.raises(RunError, match="there is no job 'raysubmit_nope'"):
        job_status("raysubmit_nope", ray_head.address)
    with pytest.raises(RunError, match="there is no job 'raysubmit_nope'"):
        list(job_logs("raysubmit_nope", ray_head.address, follow=True))


_CLIENT = """
import sys
from wrnsearch.cluster import list_jobs
from wrnsearch.errors import RunError
try:
    list_jobs(sys.argv[1])
    print("OK")
except RunError as e:
    print("RunError:", e)
"""


@pytest.mark.slow
def test_token_authentication(tmp_path):
    """Ray 2.60 token auth: the right token passes, a wrong or missing one is one clear line.

    Each client runs in a process of its own: Ray reads RAY_AUTH_MODE and the token once.
    """
    if not RAY.exists():
        pytest.skip(f"no ray executable beside {sys.executable}")
    token = secrets.token_hex(16)
    head = LocalHead(auth_token=token)
    try:
        head.wait_ready()
        base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        base.update(HOME=str(tmp_path), RAY_USAGE_STATS_ENABLED="0")  # no ~/.ray/auth_token

        def client(**env: str) -> str:
            result = subprocess.run([sys.executable, "-c", _CLIENT, head.address], env={**base, **env},
                                    capture_output=True, text=True, timeout=120, cwd=REPO)
            lines = [line for line in result.stdout.splitlines() if line.startswith(("OK", "RunError"))]
            assert lines, result.stdout + result.stderr
            return lines[-1]

        assert client(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token) == "OK"
        wrong = client(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="not-" + token)
        assert wrong.startswith("RunError: the Ray cluster at http://127.0.0.1:") and "InvalidAuthToken" in wrong
        missing = client(RAY_AUTH_MODE="disabled")
        assert "requires a Ray auth token" in missing and "RAY_AUTH_MODE=token" in missing
    finally:
        running = processes_of(head.process.pid, head.temp_dir)
        head.stop()
    # The head ran gcs, raylet, dashboard ...; stopping it left none of them, and no temp dir.
    assert len(running) >= 3
    assert not processes_of(head.process.pid, head.temp_dir)
    assert not Path(head.temp_dir).exists()
