"""Beyond one machine: submit a search to a Ray cluster as a Ray job, and watch it.

A search runs on a cluster as a *Ray job*: the driver (``wrnsearch run SPACE --address auto``)
runs on the head node and Ray Tune spreads the trials over the nodes. :func:`submit_search`
validates the space file here, ships the project checkout as the job's working directory, and
returns the job id; :func:`job_status`, :func:`job_logs`, :func:`wait_for_job` and
:func:`stop_job` follow it. Every failure to talk to the cluster becomes one
:class:`~wrnsearch.errors.RunError` line that says what to do.

Shipping the code. The job's runtime environment holds the checkout (``working_dir``, without
``.venv``, ``runs/``, ``.git`` and data) and, unless told otherwise, the project's dependencies
read from ``pyproject.toml`` as a pip list. The project itself is *not* pip-installed: the
working directory is the job's current directory and is on ``PYTHONPATH``, so the entrypoint
is ``python -m wrnsearch run ...``. That choice works offline: Ray builds the pip environment
on top of the node's own packages (``--system-site-packages``, or a clone of the node's
virtualenv), so requirements the node image already satisfies need no index, whereas
installing the checkout would need setuptools from an index for the build. Ray is left out of
the list: the cluster's Ray must stay the one it runs. On nodes that already have wrnsearch
installed, ``pip=False`` drops the pip list and ``runtime_env=False`` drops the runtime
environment altogether (the entrypoint is then ``wrnsearch run ...`` with the path as given).

Node-local storage. On a cluster of more than one node the study and Ray Tune's experiment
folder must be reachable by name from every node (trials and checkpoints run elsewhere than the
driver; a resumed driver may land on another node). :func:`check_storage_for_cluster` decides
it with three simple rules: a URL of a database server (``postgresql://``, ``mysql://``...) or
an object store (``s3://``, ``gs://``...) is shared; a path is shared when it lies on a network
filesystem (its mount in ``/proc/self/mounts`` has type NFS, Lustre, GPFS, BeeGFS, CephFS,
SMB, GlusterFS, WekaFS or a FUSE mount of an object store) or under a directory the user
declares shared with ``WRNSEARCH_SHARED_FS=/dir1:/dir2`` (``WRNSEARCH_SHARED_FS=1`` declares
every path shared); every other path (``/tmp``, the home directory on a local disk, Ray's own
session directory) is node-local. On one node everything is fine.

Ray 2.60 token authentication: every node and client must share one token. A client sends it
to a cluster it is given the address of only with ``RAY_AUTH_MODE=token`` set (and the token in
``RAY_AUTH_TOKEN``, the file named by ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``): Ray
deliberately never sends a token to an explicit address otherwise, and neither does this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wrnsearch.errors import RunError

if TYPE_CHECKING:
    from wrnsearch.space import Space

logger = logging.getLogger(__name__)

DEFAULT_DASHBOARD_ADDRESS = "http://127.0.0.1:8265"  # the head's job port, through an SSH tunnel
SHARED_FS_ENV = "WRNSEARCH_SHARED_FS"
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})

# Left out of the shipped working directory (gitignore syntax; a leading / anchors a pattern at
# the checkout's root, so a package named data/ deeper down still travels). Ray also skips what
# the checkout's .gitignore lists; these hold even without one.
WORKING_DIR_EXCLUDES = (
    "/.venv/", "/venv/", "/.git/", "/runs/", "/.data/", "/data/", "/shared/", "/build/", "/dist/",
    "*.egg-info/", "__pycache__/", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/",
    ".ipynb_checkpoints/", "*.db", "*.sqlite", "*.pt", "*.pth", "*.ckpt", "*.safetensors", "*.npz",
    "*.tar", "*.tar.gz", "*.tgz", "*.zip", "*.whl",
)

# Filesystem types (as /proc/self/mounts names them) that every node of a cluster can mount.
NETWORK_FS_TYPES = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "fuse.ceph-fuse",
    "glusterfs", "fuse.glusterfs", "wekafs", "panfs", "pvfs2", "orangefs", "fuse.sshfs",
    "fuse.gcsfuse", "fuse.s3fs", "fuse.goofys", "fuse.juicefs", "fuse.mountpoint-s3",
    "fuse.rclone", "fuse.alluxio-fuse",
})

_TRUE = ("1", "true", "yes", "all")
_FALSE = ("", "0", "false", "no")


# --------------------------------------------------------------------------------------------
# What a submission is: a pure function of the arguments, tested without a cluster


@dataclass(frozen=True)
class Submission:
    """Everything :func:`submit` sends to the cluster: the shell entrypoint and its environment."""

    entrypoint: str
    runtime_env: dict[str, Any] | None
    metadata: dict[str, str] = field(default_factory=dict)
    entrypoint_resources: dict[str, float] | None = None


def project_requirements(working_dir: str | Path = ".") -> list[str]:
    """The project's runtime dependencies from ``pyproject.toml``, Ray left out.

    Falls back to the installed distribution's metadata when the checkout has no
    ``pyproject.toml``. Ray is dropped because the job must run on the cluster's own Ray.
    """
    pyproject = Path(working_dir) / "pyproject.toml"
    deps: list[str]
    if pyproject.is_file():
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ModuleNotFoundError:
                tomllib = None  # type: ignore[assignment]
        if tomllib is not None:
            with open(pyproject, "rb") as f:
                deps = list(tomllib.load(f).get("project", {}).get("dependencies", []))
            return [d for d in deps if not _is_ray(d)]
    from importlib import metadata

    try:
        requires = metadata.requires("wrnsearch") or []
    except metadata.PackageNotFoundError:
        raise RunError(f"cannot read the project's dependencies: no pyproject.toml in {working_dir} "
                       "and wrnsearch is not installed; pass pip=False if the nodes have them") from None
    deps = [r for r in requires if "extra ==" not in r]
    return [d for d in deps if not _is_ray(d)]


def _is_ray(requirement: str) -> bool:
    name = requirement.strip()
    for stop in "[<>=!~;@ ":
        name = name.split(stop, 1)[0]
    return name.lower().replace("_", "-") == "ray"


def build_submission(
    space_path: str | Path,
    *,
    overrides: Sequence[str] = (),
    name: str | None = None,
    storage: str | None = None,
    runs_dir: str | None = None,
    data_root: str | None = None,
    working_dir: str | Path | None = ".",
    pip: bool = True,
    extra_pip: Sequence[str] | None = None,
    runtime_env: bool = True,
    env_vars: Mapping[str, str] | None = None,
    entrypoint_resources: Mapping[str, float] | None = None,
    space: Space | None = None,
) -> Submission:
    """The entrypoint and runtime environment of a search job; touches no cluster.

    ``runs_dir``, ``data_root`` and a SQLite ``storage`` must be absolute paths as the cluster's
    nodes see them: the job's current directory is a temporary copy of the working directory
    that Ray deletes when the job ends, so a relative run directory would lose the study.

    With ``runtime_env=False`` nothing is shipped (``pip`` is moot): the nodes must have
    wrnsearch installed and ``space_path`` must name the file as the head node sees it, relative
    to the directory the head's ``ray start`` ran in or absolute. ``space``, the loaded space,
    lends its name to the job's metadata and its ``storage`` to the path check; ``storage``
    itself is passed on only when given (it overrides the space file's).
    """
    problems = []
    if runs_dir is None:
        problems.append("runs_dir is not given")
    for option, value in (("runs_dir", runs_dir), ("data_root", data_root)):
        if value is not None and not str(value).startswith("/"):
            problems.append(f"{option} {str(value)!r} is not an absolute path")
    effective_storage = storage if storage is not None else (space.storage if space is not None else None)
    if effective_storage is not None and effective_storage.startswith("sqlite:") \
            and not _sqlite_path(effective_storage).startswith("/"):
        problems.append(f"storage {effective_storage!r} is not an absolute SQLite path")
    if problems:
        raise RunError(
            f"{'; '.join(problems)}: a cluster job runs in a temporary copy of the working directory "
            "that Ray deletes when the job ends, so give absolute paths on storage the nodes share "
            "(e.g. runs_dir /shared/wrnsearch/runs)"
        )

    space_path = Path(space_path)
    env: dict[str, Any] | None = None
    if runtime_env:
        if working_dir is None:
            raise RunError("runtime_env needs a working_dir to ship (the project checkout)")
        root = Path(working_dir).resolve()
        if not root.is_dir():
            raise RunError(f"working directory {str(working_dir)!r} does not exist")
        try:
            space_arg = space_path.resolve().relative_to(root).as_posix()
        except ValueError:
            raise RunError(
                f"space file {str(space_path)!r} lies outside the working directory {str(root)!r} that is "
                "shipped to the cluster: move it under the working directory"
            ) from None
        env = {"working_dir": str(root), "excludes": list(WORKING_DIR_EXCLUDES)}
        if runs_dir is not None:
            # A run directory inside the checkout must not be uploaded with it.
            with contextlib.suppress(ValueError):
                inside = Path(runs_dir).resolve().relative_to(root).as_posix()
                if inside != ".":
                    env["excludes"].append(f"/{inside}/")
        packages = (project_requirements(root) if pip else []) + list(extra_pip or [])
        if packages:
            env["pip"] = {"packages": packages, "pip_check": False}
        variables = dict(env_vars or {})
        if SHARED_FS_ENV in os.environ and SHARED_FS_ENV not in variables:
            variables[SHARED_FS_ENV] = os.environ[SHARED_FS_ENV]
        if variables:
            env["env_vars"] = {str(k): str(v) for k, v in variables.items()}
        command = ["python", "-m", "wrnsearch", "run", space_arg]
    else:
        if extra_pip or env_vars:
            raise RunError("extra pip packages and environment variables travel in the job's runtime "
                           "environment: drop them, or keep the runtime environment")
        command = ["wrnsearch", "run", str(space_path)]

    command += ["--address", "auto"]
    for option, value in (("--name", name), ("--runs-dir", runs_dir), ("--storage", storage),
                          ("--data-root", data_root)):
        if value is not None:
            command += [option, str(value)]
    for override in overrides:
        command += ["--set", override]

    from wrnsearch import __version__

    metadata = {"wrnsearch_version": __version__, "submitted_from": socket.gethostname()}
    search_name = name or (space.name if space is not None else None)
    if search_name:
        metadata["wrnsearch_search"] = search_name
    return Submission(
        entrypoint=shlex.join(command),
        runtime_env=env,
        metadata=metadata,
        entrypoint_resources=dict(entrypoint_resources) if entrypoint_resources else None,
    )


# --------------------------------------------------------------------------------------------
# Talking to the job server


@dataclass(frozen=True)
class JobInfo:
    """A job as the cluster reports it. ``status``: PENDING, RUNNING, STOPPED, SUCCEEDED, FAILED."""

    job_id: str
    status: str
    message: str
    entrypoint: str
    start_time_s: float | None  # Unix time
    end_time_s: float | None
    driver_exit_code: int | None
    metadata: dict[str, str]

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id, "status": self.status, "message": self.message,
            "entrypoint": self.entrypoint, "start_time_s": self.start_time_s,
            "end_time_s": self.end_time_s, "driver_exit_code": self.driver_exit_code,
            "metadata": dict(self.metadata),
        }


def submit_search(
    space_path: str | Path,
    address: str | None,
    *,
    overrides: Sequence[str] = (),
    name: str | None = None,
    storage: str | None = None,
    runs_dir: str | None = None,
    data_root: str | None = None,
    working_dir: str | Path | None = ".",
    extra_pip: Sequence[str] | None = None,
    entrypoint_resources: Mapping[str, float] | None = None,
    pip: bool = True,
    runtime_env: bool = True,
    env_vars: Mapping[str, str] | None = None,
) -> str:
    """Validate the space file here, submit ``wrnsearch run`` as a Ray job, return the job id.

    ``address`` is the head's job server, e.g. ``http://127.0.0.1:8265`` through an SSH tunnel
    (a bare ``host:port`` is taken as that URL; ``None`` lets Ray read ``RAY_API_SERVER_ADDRESS``
    or ``RAY_ADDRESS``). The other arguments are those of :func:`build_submission`.

    Example:
        >>> job_id = submit_search("spaces/cifar10.yaml", "http://127.0.0.1:8265",
        ...                        runs_dir="/shared/runs", overrides=["train.epochs=100"])  # doctest: +SKIP
    """
    from wrnsearch.space import load_space

    space = load_space(space_path, overrides)  # a broken file fails here, before any upload
    submission = build_submission(
        space_path, overrides=overrides, name=name, storage=storage, runs_dir=runs_dir, data_root=data_root,
        working_dir=working_dir, pip=pip, extra_pip=extra_pip, runtime_env=runtime_env, env_vars=env_vars,
        entrypoint_resources=entrypoint_resources, space=space,
    )
    return submit(submission, address)


def submit(submission: Submission, address: str | None) -> str:
    """Send a prepared :class:`Submission` to the cluster's job server; return the job id."""
    with cluster_errors(address):
        client = _client(address)
        kwargs: dict[str, Any] = {"entrypoint": submission.entrypoint, "metadata": submission.metadata}
        if submission.runtime_env is not None:
            kwargs["runtime_env"] = submission.runtime_env
        if submission.entrypoint_resources:
            kwargs["entrypoint_resources"] = submission.entrypoint_resources
        job_id = client.submit_job(**kwargs)
    logger.info("submitted %s as job %s to %s", submission.entrypoint, job_id, address)
    return job_id


def job_status(job_id: str, address: str | None) -> JobInfo:
    """The job's current status, message, entrypoint and times."""
    with cluster_errors(address, job_id):
        return _job_info(_client(address).get_job_info(job_id))


def list_jobs(address: str | None) -> list[JobInfo]:
    """Every job the cluster knows, oldest first."""
    with cluster_errors(address):
        jobs = [_job_info(d) for d in _client(address).list_jobs() if getattr(d, "submission_id", None)]
    return sorted(jobs, key=lambda j: j.start_time_s or 0.0)


def job_logs(job_id: str, address: str | None, follow: bool = False) -> Iterator[str]:
    """The job's driver output as text chunks: all of it so far, or, following, until it ends.

    Ray's follower (``tail_job_logs``) is asynchronous; this drives it on a private event loop
    so that callers get a plain iterator.
    """
    with cluster_errors(address, job_id):
        client = _client(address)
        if not follow:
            text = client.get_job_logs(job_id)
        else:
            client.get_job_info(job_id)  # an unknown id fails here with a clear message
    if not follow:
        if text:
            yield text
        return
    loop = asyncio.new_event_loop()
    tail = client.tail_job_logs(job_id)
    try:
        while True:
            with cluster_errors(address, job_id):
                try:
                    chunk = loop.run_until_complete(tail.__anext__())
                except StopAsyncIteration:
                    return
            yield chunk
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(tail.aclose())
        loop.close()


def stop_job(job_id: str, address: str | None) -> bool:
    """Ask the cluster to stop the job; True if it was still running. The study keeps its trials."""
    with cluster_errors(address, job_id):
        return bool(_client(address).stop_job(job_id))


def wait_for_job(job_id: str, address: str | None, timeout_s: float, poll_s: float = 1.0) -> JobInfo:
    """Poll until the job is SUCCEEDED, FAILED or STOPPED; RunError after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        info = job_status(job_id, address)
        if info.terminal:
            return info
        if time.monotonic() >= deadline:
            raise RunError(
                f"job {job_id} is still {info.status} after {timeout_s:g} s; follow it with "
                f"`wrnsearch jobs logs {job_id} --follow --address {address}`"
            )
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))


def _job_info(details: Any) -> JobInfo:
    def seconds(ms: Any) -> float | None:
        return ms / 1000.0 if ms else None

    status = details.status
    return JobInfo(
        job_id=details.submission_id or details.job_id or "",
        status=str(getattr(status, "value", status)),
        message=details.message or "",
        entrypoint=details.entrypoint or "",
        start_time_s=seconds(details.start_time),
        end_time_s=seconds(details.end_time),
        driver_exit_code=getattr(details, "driver_exit_code", None),
        metadata=dict(details.metadata or {}),
    )


def _client(address: str | None) -> Any:
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError as e:  # pragma: no cover - ray is a dependency
        raise RunError(f"Ray is not installed ({e}): pip install 'ray[default]'") from None
    return JobSubmissionClient(normalize_address(address))


def normalize_address(address: str | None) -> str | None:
    """``host:port`` -> ``http://host:port``; URLs, ``auto`` and None pass through.

    Ray would take a bare ``host:port`` for a GCS address and wait 40 s to find it is not one;
    the job server is an HTTP endpoint (the dashboard port, 8265 by default).
    """
    if address is None:
        return None
    address = address.strip().rstrip("/")
    if not address:
        raise RunError("the cluster address is empty: give the head's job server, e.g. http://127.0.0.1:8265")
    if "://" in address or address == "auto":
        return address
    return "http://" + address


@contextlib.contextmanager
def cluster_errors(address: str | None, job_id: str | None = None) -> Iterator[None]:
    """Turn the ways talking to a Ray cluster fails into one-line :class:`RunError` messages.

    Also meant for the driver's ``ray.init(address=...)``: it maps Ray's ``InvalidAuthToken`` /
    ``AuthenticationError`` and unreachable-GCS errors too.
    """
    try:
        yield
    except RunError:
        raise
    except Exception as e:  # noqa: BLE001 - translated below or re-raised unchanged
        error = explain_cluster_error(e, address, job_id)
        if error is None:
            raise
        raise error from e


def explain_cluster_error(exc: BaseException, address: str | None, job_id: str | None = None) -> RunError | None:
    """The one-line :class:`RunError` for an exception from Ray's cluster clients, or None."""
    where = f"the Ray cluster at {address}" if address else "the Ray cluster"
    text = str(exc)
    first = " ".join(text.strip().splitlines()[0].split()) if text.strip() else type(exc).__name__
    kind = type(exc).__name__
    if "require the ray[default] installation" in text:
        import ray

        return RunError(
            f"talking to a Ray cluster's job server requires the ray[default] installation: "
            f"pip install 'ray[default]=={ray.__version__}'"
        )
    if kind == "AuthenticationError" or "InvalidAuthToken" in text or "Unauthenticated" in text:
        if "no authentication token" in text or "Missing authentication token" in text or "couldn't find" in text:
            return RunError(
                f"{where} requires a Ray auth token (token authentication is on): set RAY_AUTH_MODE=token "
                "and RAY_AUTH_TOKEN (or ~/.ray/auth_token) to the cluster's token, which "
                "`ray get-auth-token` prints on the head"
            )
        return RunError(
            f"{where} rejected the Ray auth token (InvalidAuthToken): RAY_AUTH_TOKEN or ~/.ray/auth_token "
            "must hold the token every node of the cluster has (`ray get-auth-token` on the head), "
            "or every node and client must run with RAY_AUTH_MODE=disabled"
        )
    if "Failed to connect to Ray cluster" in text:
        # ray.init(address=...): a token mismatch looks the same, InvalidAuthToken shows only in the log.
        return RunError(
            f"cannot connect to {where}: check the address and that the head is up; with token "
            "authentication every node and client needs RAY_AUTH_MODE=token and the same "
            "RAY_AUTH_TOKEN (a mismatch is logged as InvalidAuthToken)"
        )
    if isinstance(exc, ConnectionError) or kind in ("ConnectionError", "ConnectTimeout", "ReadTimeout",
                                                    "Timeout", "InvalidURL", "MissingSchema",
                                                    "InvalidSchema", "ClientConnectorError"):
        return RunError(
            f"cannot reach the Ray job server at {address or '(RAY_ADDRESS)'}: start the cluster, or open "
            "a tunnel to the head's dashboard port (ssh -N -L 8265:127.0.0.1:8265 HEAD) and use "
            "--address http://127.0.0.1:8265"
        )
    if kind == "RpcError" or ("GCS" in text and "Timed out" in text):
        return RunError(f"cannot reach {where} ({first}): check the address and that the head is up")
    if isinstance(exc, RuntimeError) and "status code 404" in text and job_id is not None:
        return RunError(f"there is no job {job_id!r} on {where} (list them with `ray job list --address {address}`)")
    if isinstance(exc, RuntimeError) and ("Request failed" in text or "Version check" in text
                                          or "Ray version" in text or "WebSocket" in text):
        return RunError(f"{where} refused the request: {first}")
    if isinstance(exc, (ValueError, TypeError)) and "runtime_env" in text:
        return RunError(f"the job's runtime environment is invalid: {first}")
    return None


# --------------------------------------------------------------------------------------------
# Storage every node can reach


def check_storage_for_cluster(
    storage_url: str,
    tune_storage_path: str,
    nodes: int,
    *,
    shared: bool | Sequence[str] | None = None,
) -> None:
    """Refuse a multi-node run whose study or Ray Tune storage is on node-local disk.

    Args:
        storage_url: the resolved Optuna storage URL (``sqlite:////abs/runs/x/study.db`` by default).
        tune_storage_path: the resolved Ray Tune ``storage_path`` (a path, ``file://`` or ``s3://``...).
        nodes: how many nodes the cluster has, or may grow to (count an autoscaling cluster as
            more than one).
        shared: directories declared shared, ``True`` for every path; None reads
            ``WRNSEARCH_SHARED_FS`` (``1`` or ``/dir1:/dir2``).

    Raises:
        RunError: one line naming each node-local location and what to use instead.
    """
    if nodes <= 1:
        return
    declared = _declared_shared() if shared is None else shared
    problems = []
    if storage_url.startswith("sqlite:"):
        db_path = _sqlite_path(storage_url)
        reason = _local_reason(db_path, declared) if db_path else "an in-memory database"
        if reason:
            problems.append(f"the study storage {storage_url} is {reason}")
    elif "://" not in storage_url:
        problems.append(f"the study storage {storage_url!r} is not a storage URL")
    scheme, separator, rest = tune_storage_path.partition("://")
    if not separator:
        reason = _local_reason(tune_storage_path, declared)
    elif scheme in ("file", "local"):
        reason = _local_reason(rest if rest.startswith("/") else "/" + rest, declared)
    else:
        reason = None  # s3://, gs://, abfs://, hdfs://... reach every node
    if reason:
        problems.append(f"the Ray Tune storage {tune_storage_path} is {reason}")
    if problems:
        raise RunError(
            f"{' and '.join(problems)}, but the cluster has {nodes} nodes, which cannot all reach it: "
            f"put the run directory on a shared filesystem (--runs-dir /shared/runs; declare it with "
            f"{SHARED_FS_ENV}=/shared if it is not NFS, Lustre, GPFS, BeeGFS or CephFS), or use a "
            "database server for the study (--storage postgresql://...)"
        )


def is_shared_path(path: str | Path, shared: bool | Sequence[str] | None = None) -> bool:
    """True when every node can reach ``path`` by the rules of :func:`check_storage_for_cluster`."""
    return _local_reason(str(path), _declared_shared() if shared is None else shared) is None


def _declared_shared() -> bool | list[str]:
    value = os.environ.get(SHARED_FS_ENV, "").strip()
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return []
    return [v for v in value.split(os.pathsep) if v.strip()]


def _sqlite_path(url: str) -> str:
    """The file of an SQLAlchemy SQLite URL ('' for in-memory); ``sqlite:////abs`` is absolute."""
    rest = url.split(":", 1)[1]
    rest = rest.split("?", 1)[0]
    if rest.startswith("///"):
        return rest[3:]
    return ""  # sqlite:// or sqlite:///:memory:-like forms name no file


def _local_reason(path: str, declared: bool | Sequence[str]) -> str | None:
    """Why ``path`` is node-local, or None when it is shared."""
    if declared is True:
        return None
    if path in ("", ":memory:"):
        return "an in-memory database"
    resolved = os.path.realpath(os.path.abspath(os.path.expanduser(path)))
    for root in declared or ():
        root_resolved = os.path.realpath(os.path.abspath(os.path.expanduser(root)))
        if _under(resolved, root_resolved):
            return None
    mount, fstype = _mount_of(resolved)
    if fstype in NETWORK_FS_TYPES:
        return None
    where = f"on node-local disk ({resolved}"
    if fstype:
        where += f", a {fstype} filesystem mounted at {mount}"
    return where + ")"


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


_MOUNTS_FILE = "/proc/self/mounts"


def _mount_of(path: str) -> tuple[str, str]:
    """The mount point holding ``path`` and its filesystem type, from /proc/self/mounts."""
    best = ("", "")
    try:
        with open(_MOUNTS_FILE) as f:
            lines = f.read().splitlines()
    except OSError:
        return best
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
        if _under(path, mount) and len(mount) >= len(best[0]):
            best = (mount, parts[2])
    return best


# --------------------------------------------------------------------------------------------
# Where a trial runs


@dataclass(frozen=True)
class NodeInfo:
    """The node a trial runs on: host name, IP address and Ray node id (None outside Ray)."""

    hostname: str
    ip: str
    node_id: str | None

    @property
    def label(self) -> str:
        return f"{self.hostname} ({self.ip})"

    def to_dict(self) -> dict[str, str | None]:
        """The trial user attributes: ``node`` (host name), ``node_ip``, ``node_id``."""
        return {"node": self.hostname, "node_ip": self.ip, "node_id": self.node_id}


def current_node() -> NodeInfo:
    """Describe the node this process runs on; inside a Ray worker, with its Ray node id."""
    import ray
    import ray.util

    node_id = None
    if ray.is_initialized():
        with contextlib.suppress(Exception):
            node_id = ray.get_runtime_context().get_node_id()
    try:
        ip = ray.util.get_node_ip_address()
    except Exception:  # noqa: BLE001 - no route: fall back to the loopback address
        ip = "127.0.0.1"
    return NodeInfo(hostname=socket.gethostname(), ip=ip, node_id=node_id)


def cluster_node_count() -> int:
    """Alive nodes of the cluster this process is connected to (``ray.init`` must have run)."""
    import ray

    return sum(1 for n in ray.nodes() if n.get("Alive"))


__all__ = [
    "DEFAULT_DASHBOARD_ADDRESS", "JobInfo", "NodeInfo", "SHARED_FS_ENV", "Submission",
    "build_submission", "check_storage_for_cluster", "cluster_errors", "cluster_node_count", "current_node",
    "explain_cluster_error", "is_shared_path", "job_logs", "job_status", "list_jobs", "normalize_address",
    "project_requirements", "stop_job", "submit", "submit_search", "wait_for_job",
]
