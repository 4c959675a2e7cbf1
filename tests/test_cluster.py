"""Cluster submission: what a job carries, the node-local storage rule, and real Ray jobs.

The real tests start their own single-node Ray heads as separate processes (in a session of
their own, with a short temp dir and free ports) and stop exactly those: SIGTERM to the
`ray start --block` process, which stops what it started; then SIGKILL to anything left of its
process group, its descendants, or a process naming its temp dir. Never `ray stop`, which
would stop every Ray on the machine.
"""

from __future__ import annotations

import ast
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from tests.procs import free_port, process_table

from wrnsearch.cluster import (
    JobInfo,
    Submission,
    SubmitOptions,
    build_submission,
    job_logs,
    job_status,
    list_jobs,
    normalize_address,
    project_requirements,
    stop_job,
    submit,
    submit_search,
    wait_for_job,
)
from wrnsearch.errors import RunError, SpaceError
from wrnsearch.search import current_node, explain_cluster_error
from wrnsearch.space import load_space
from wrnsearch.study import _shared_fs as shared_fs
from wrnsearch.study import check_storage_for_cluster, is_shared_path

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "spaces" / "quickstart.yaml"
RAY = Path(sys.executable).with_name("ray")


# --------------------------------------------------------------------------------------------
# build_submission: no cluster needed


def _options(**kw) -> SubmitOptions:
    for key in ("overrides", "extra_pip"):
        if key in kw:
            kw[key] = tuple(kw[key])
    return SubmitOptions(**kw)


def _build(**kw):
    kw.setdefault("runs_dir", "/shared/runs")
    kw.setdefault("working_dir", REPO)
    return build_submission(kw.pop("space_path", QUICKSTART), _options(**kw), space=load_space(QUICKSTART))


def test_entrypoint_runs_the_search_from_the_shipped_checkout():
    sub = _build(overrides=["train.epochs=3", "dataset.root=/data/with space"], name="q1",
                 data_root="/shared/data", storage="postgresql://u@db/wrn")
    assert shlex.split(sub.entrypoint) == [
        "python", "-m", "wrnsearch", "run", "spaces/quickstart.yaml", "--address", "auto", "--name", "q1",
        "--runs-dir", "/shared/runs", "--storage", "postgresql://u@db/wrn", "--data-root", "/shared/data",
        "--set", "train.epochs=3", "--set", "dataset.root=/data/with space",
    ]
    assert sub.metadata["wrnsearch_search"] == "q1"


def test_entrypoint_parses_with_the_cli_run_command():
    from wrnsearch.cli import main

    if "run" not in main.commands:  # pragma: no cover - before `wrnsearch run` exists
        pytest.skip("wrnsearch run is not in the CLI yet")
    args = shlex.split(_build(overrides=["train.epochs=3"], data_root="/shared/data").entrypoint)[4:]
    ctx = main.commands["run"].make_context("wrnsearch run", args)
    assert ctx.params["address"] == "auto"
    assert ctx.params["runs_dir"] == "/shared/runs"
    assert ctx.params["overrides"] == ("train.epochs=3",)


def test_runtime_env_ships_the_checkout_and_its_requirements_without_ray():
    from ray.runtime_env import RuntimeEnv

    sub = _build()
    env = sub.runtime_env
    assert env["working_dir"] == str(REPO)
    for excluded in ("/.venv/", "/.git/", "/runs/", "*.tar.gz", "__pycache__/"):
        assert excluded in env["excludes"]
    packages = env["pip"]["packages"]
    assert "torch>=2.1" in packages and "optuna>=5.0" in packages
    assert not [p for p in packages if p.lower().startswith("ray")]
    assert packages == project_requirements(REPO)
    RuntimeEnv(**env)  # Ray's own validation of every field


def test_pip_can_be_skipped_or_extended_and_the_runtime_env_dropped():
    assert "pip" not in _build(pip=False).runtime_env
    assert _build(pip=False, extra_pip=["psycopg2-binary"]).runtime_env["pip"]["packages"] == ["psycopg2-binary"]
    bare = _build(runtime_env=False, space_path="spaces/quickstart.yaml")
    assert bare.runtime_env is None
    assert shlex.split(bare.entrypoint)[:3] == ["wrnsearch", "run", "spaces/quickstart.yaml"]
    with pytest.raises(RunError, match="runtime environment"):
        _build(runtime_env=False, extra_pip=["x"])


def test_a_run_directory_inside_the_checkout_is_not_uploaded(tmp_path):
    (tmp_path / "spaces").mkdir()
    space = tmp_path / "spaces" / "q.yaml"
    shutil.copy(QUICKSTART, space)
    sub = build_submission(space, _options(runs_dir=str(tmp_path / "results" / "cluster"), working_dir=tmp_path,
                                           pip=False))
    assert "/results/cluster/" in sub.runtime_env["excludes"]
    assert shlex.split(sub.entrypoint)[4] == "spaces/q.yaml"


def test_paths_must_be_absolute_because_the_job_directory_is_temporary():
    with pytest.raises(RunError, match="runs_dir is not given.*temporary copy"):
        _build(runs_dir=None)
    with pytest.raises(RunError, match="'runs' is not an absolute path"):
        _build(runs_dir="runs")
    with pytest.raises(RunError, match="data_root 'data' is not an absolute path"):
        _build(data_root="data")
    with pytest.raises(RunError, match="not an absolute SQLite path"):
        _build(storage="sqlite:///study.db")
    _build(storage="sqlite:////shared/study.db")


def test_a_password_never_goes_on_a_job_command_line():
    with pytest.raises(RunError) as e:
        _build(storage="postgresql://wrn:s3cret@db:5432/wrn")
    assert "s3cret" not in str(e.value) and "postgresql://wrn:***@db:5432/wrn holds a password" in str(e.value)
    assert "PGPASSWORD" in str(e.value)
    assert "s3cret" not in _build(storage="postgresql://wrn@db:5432/wrn").entrypoint


def test_a_space_file_outside_the_checkout_is_refused(tmp_path):
    outside = tmp_path / "q.yaml"
    shutil.copy(QUICKSTART, outside)
    with pytest.raises(RunError, match="outside the working directory"):
        build_submission(outside, _options(runs_dir="/shared/runs", working_dir=REPO))


def test_a_broken_space_file_fails_before_contacting_the_cluster(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(QUICKSTART.read_text().replace("train:", "trian:", 1))
    with pytest.raises(SpaceError):
        # Port 9 (discard) on a documentation address: never contacted if validation runs first.
        submit_search(bad, "http://192.0.2.1:9", _options(runs_dir="/shared/runs", working_dir=tmp_path))


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


# --------------------------------------------------------------------------------------------
# check_storage_for_cluster


@pytest.fixture
def no_declaration(monkeypatch):
    monkeypatch.delenv(shared_fs.SHARED_FS_ENV, raising=False)


def test_one_node_may_use_any_storage(no_declaration):
    check_storage_for_cluster("sqlite:////tmp/runs/q/study.db", "/tmp/runs/q/tune", nodes=1)


def test_node_local_sqlite_and_tune_folder_are_refused_on_several_nodes(no_declaration):
    with pytest.raises(RunError) as e:
        check_storage_for_cluster("sqlite:////tmp/runs/q/study.db", "/tmp/runs/q/tune", nodes=3)
    message = str(e.value)
    assert "\n" not in message
    assert "the study storage sqlite:////tmp/runs/q/study.db is on node-local disk" in message
    assert "the Ray Tune storage /tmp/runs/q/tune is on node-local disk" in message
    assert "3 nodes" in message and "WRNSEARCH_SHARED_FS" in message and "postgresql://" in message
    with pytest.raises(RunError, match="in-memory"):
        check_storage_for_cluster("sqlite://", "s3://bucket/tune", nodes=2)
    with pytest.raises(RunError, match="Ray Tune storage file:///tmp/t"):
        check_storage_for_cluster("postgresql://db/wrn", "file:///tmp/t", nodes=2)


def test_servers_and_object_stores_are_shared(no_declaration):
    check_storage_for_cluster("postgresql+psycopg2://u@db:5432/wrn", "s3://bucket/runs/q/tune", nodes=8)
    check_storage_for_cluster("mysql://db/wrn", "gs://bucket/tune", nodes=8)


def test_declared_directories_are_shared(monkeypatch):
    monkeypatch.setenv(shared_fs.SHARED_FS_ENV, "/scratch/team" + os.pathsep + "/tmp/shared")
    check_storage_for_cluster("sqlite:////tmp/shared/q/study.db", "/scratch/team/q/tune", nodes=4)
    with pytest.raises(RunError, match="/tmp/sharedness"):  # a prefix of a name is not its parent
        check_storage_for_cluster("sqlite:////tmp/sharedness/study.db", "/scratch/team/q/tune", nodes=4)
    monkeypatch.setenv(shared_fs.SHARED_FS_ENV, "1")
    check_storage_for_cluster("sqlite:////tmp/anything.db", "/tmp/anything", nodes=4)
    monkeypatch.setenv(shared_fs.SHARED_FS_ENV, "0")
    assert not is_shared_path("/tmp/anything")
    assert is_shared_path("/tmp/anything", shared=["/tmp"])
    assert is_shared_path("/tmp/anything", shared=True)


def test_network_filesystems_are_recognized(tmp_path, monkeypatch, no_declaration):
    mounts = tmp_path / "mounts"
    mounts.write_text(textwrap.dedent("""\
        /dev/root / ext4 rw,relatime 0 0
        tmpfs /tmp tmpfs rw 0 0
        fs-1.efs.us-west-2.amazonaws.com:/ /mnt/efs nfs4 rw,vers=4.1 0 0
        lustre@tcp:/fs /lustre lustre rw 0 0
        10.0.0.5:/export /mnt/with\\040space nfs rw 0 0
        """))
    monkeypatch.setattr(shared_fs, "_MOUNTS_FILE", str(mounts))
    check_storage_for_cluster("sqlite:////mnt/efs/runs/q/study.db", "/lustre/u/runs/q/tune", nodes=5)
    assert is_shared_path("/mnt/with space/runs")
    with pytest.raises(RunError, match=r"a tmpfs filesystem mounted at /tmp\)"):
        check_storage_for_cluster("sqlite:////tmp/q/study.db", "/mnt/efs/q/tune", nodes=5)
    with pytest.raises(RunError, match="an ext4 filesystem|a ext4 filesystem"):
        check_storage_for_cluster("sqlite:////home/u/runs/study.db", "/mnt/efs/q/tune", nodes=5)


def test_current_node_names_this_host():
    node = current_node()
    assert node.hostname == socket.gethostname()
    assert node.ip
    assert node.to_dict()["node"] == node.hostname
    assert node.hostname in node.label


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


def _processes_of(pgid: int, temp_dir: str) -> set[int]:
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
        self.dashboard_port = free_port()
        self.address = f"http://127.0.0.1:{self.dashboard_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "RAY_API_SERVER", "RAY_AUTH"))}
        env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token" if auth_token else "disabled")
        if auth_token:
            env["RAY_AUTH_TOKEN"] = auth_token
        # Jobs run `python` from the head's PATH: make it this interpreter, as an activated venv would.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        self.env = env
        self.gcs_port = free_port()
        self.log = open(Path(self.temp_dir) / "ray-start.log", "w")
        extra = ["--resources", resources] if resources else []
        self.process = subprocess.Popen(
            [str(RAY), "start", "--head", "--block", "--num-cpus", str(num_cpus), "--node-ip-address", "127.0.0.1",
             *extra, "--port", str(self.gcs_port), "--dashboard-host", "127.0.0.1",
             "--dashboard-port", str(self.dashboard_port), "--ray-client-server-port", str(free_port()),
             "--dashboard-agent-listen-port", str(free_port()), "--temp-dir", self.temp_dir,
             "--include-dashboard", "true", "--disable-usage-stats"],
            env=env, cwd=self.temp_dir, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, timeout_s: float = 120) -> None:
        request = urllib.request.Request(f"{self.address}/api/version")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
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
    before = _processes_of(pgid, temp_dir)  # taken first: orphans lose their parent link
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # `ray start --block` stops what it started
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not (before | _processes_of(pgid, temp_dir)) & set(process_table()):
            break
        time.sleep(0.25)
    for pid in (before | _processes_of(pgid, temp_dir)) & set(process_table()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    log.close()
    shutil.rmtree(temp_dir, ignore_errors=True)


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


def test_a_job_ships_the_checkout_runs_and_logs(ray_head, client_env, tmp_path):
    address = ray_head.address
    sub = build_submission(QUICKSTART, _options(runs_dir=str(tmp_path / "runs"), working_dir=REPO, pip=False),
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


def test_submit_search_submits_wrnsearch_run(ray_head, client_env, tmp_path):
    """The real entrypoint reaches the cluster as built; the search itself is stopped at once."""
    address = ray_head.address
    runs = tmp_path / "runs"
    job_id = submit_search(QUICKSTART, address, _options(overrides=["train.epochs=1"], runs_dir=str(runs),
                                                          working_dir=REPO, pip=False))
    try:
        info = job_status(job_id, address)
        assert info.entrypoint == ("python -m wrnsearch run spaces/quickstart.yaml --address auto "
                                   f"--runs-dir {runs} --set train.epochs=1")
        assert info.metadata["wrnsearch_search"] == "quickstart"
    finally:
        stop_job(job_id, address)
        wait_for_job(job_id, address, timeout_s=60, poll_s=0.5)


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
        running = _processes_of(head.process.pid, head.temp_dir)
        head.stop()
    # The head ran gcs, raylet, dashboard ...; stopping it left none of them, and no temp dir.
    assert len(running) >= 3
    assert not _processes_of(head.process.pid, head.temp_dir)
    assert not Path(head.temp_dir).exists()


def test_a_local_run_starts_its_own_ray_beside_a_ray_start_cluster(tmp_path):
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
        space = tmp_path / "beside.yaml"
        space.write_text("name: beside\ndataset: {name: synthetic, num_classes: 4, resolution: 16, train_size: 128, "
                         "test_size: 32, val_size: 32}\nspace: {architecture: [WRN-10-1]}\nbudget: {max_trials: 1}\n"
                         "train: {epochs: 1, batch_size: 32}\n")
        proc = subprocess.run([str(Path(sys.executable).with_name("wrnsearch")), "run", str(space), "--runs-dir",
                               str(tmp_path / "runs"), "--quiet"], env={**head.env, "RAY_TMPDIR": base},
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert '"event": "done"' in proc.stdout and "num_cpus" not in proc.stderr
    finally:
        head.stop()
        shutil.rmtree(base, ignore_errors=True)
