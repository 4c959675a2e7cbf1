"""Ray, as the search meets it: starting or joining it, where a trial runs, and Ray's errors in one line.

Every failure to talk to a Ray cluster (the driver's ``ray.init(address=...)`` here, and the job
server :mod:`wrnsearch.cluster` talks to) becomes one :class:`~wrnsearch.errors.RunError` line
that says what to do.

Ray 2.60 token authentication: every node and client must share one token. A client sends it
to a cluster it is given the address of only with ``RAY_AUTH_MODE=token`` set (and the token in
``RAY_AUTH_TOKEN``, the file named by ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``): Ray
deliberately never sends a token to an explicit address otherwise, and neither does wrnsearch.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wrnsearch.errors import RunError, one_line

RUN_LOG = "run.log"  # in a run directory: the driver's log, Ray's and Ray Tune's messages included
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


_held: list[logging.Handler] = []  # the run log while run_log holds Ray's logger


@contextlib.contextmanager
def run_log(path: Path) -> Iterator[None]:
    """Ray's and Ray Tune's messages (the token-authentication notice, Tune's warnings) and the
    driver's own INFO lines into the run's log file, out of the terminal's live view. The driver's
    warnings still reach the terminal too; every setting is restored afterwards.

    ``ray.init`` clears the ``ray`` logger's handlers; a record of a logger without a handler
    goes to ``logging.lastResort`` (stderr), which is therefore the run log meanwhile.
    """
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    handler.setLevel(logging.INFO)
    ray_log, own_log = logging.getLogger("ray"), logging.getLogger("wrnsearch")
    saved = (ray_log.handlers[:], ray_log.propagate, ray_log.level, own_log.level, logging.lastResort)
    ray_log.handlers, ray_log.propagate = [handler], False
    if ray_log.level == logging.NOTSET or ray_log.level > logging.INFO:
        ray_log.setLevel(logging.INFO)
    own_log.addHandler(handler)
    if own_log.getEffectiveLevel() > logging.INFO:
        own_log.setLevel(logging.INFO)
    logging.lastResort = handler
    # the INFO lines now let through for the run log must not reach the terminal's handlers
    root = logging.getLogger()
    quieted = [h for h in root.handlers if h.level == logging.NOTSET and root.level > logging.INFO]
    for h in quieted:
        h.setLevel(root.level)
    _held.append(handler)
    try:
        yield
    finally:
        _held.remove(handler)
        for h in quieted:
            h.setLevel(logging.NOTSET)
        logging.lastResort = saved[4]
        ray_log.handlers, ray_log.propagate = saved[0], saved[1]
        ray_log.setLevel(saved[2])
        own_log.removeHandler(handler)
        own_log.setLevel(saved[3])
        handler.close()


def _ray_owns_its_logs() -> bool:
    """Whether Ray may install its own terminal handler (not while :func:`run_log` holds its logger)."""
    return not _held


def init_ray(address: str | None, num_cpus: int | None = None) -> bool:
    """Start a local Ray or join ``address`` (or ``$RAY_ADDRESS``); True when we started it (and must stop it)."""
    # torch before ray: a driver that loads libtorch after joining a cluster can fail with
    # "Intel oneMKL FATAL ERROR: Cannot load libtorch_cpu.so" (seen with Ray 2.60, torch 2.14)
    import ray
    import torch  # noqa: F401

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")  # RAY_ADDRESS joins a cluster, as in Ray
    if address:
        with cluster_errors(address):
            ray.init(address=address, log_to_driver=False, configure_logging=_ray_owns_its_logs(),
                     logging_level=logging.WARNING)
        return True
    try:
        # "local": a Ray of our own even when `ray start` left a cluster on this machine (address
        # None would join that cluster, and then refuse num_cpus)
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                 log_to_driver=False, configure_logging=_ray_owns_its_logs(), logging_level=logging.WARNING)
    except Exception as e:  # noqa: BLE001 - start-up errors come in many types
        raise RunError(f"cannot start a local Ray: {one_line(e)}") from None
    return True


def gpus_per_trial(setting: float | str) -> float:
    """``resources.gpus_per_trial``: ``auto`` is one GPU where the cluster has any, else none."""
    import ray

    gpus = setting
    if gpus == "auto":
        return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    return float(gpus)


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


def assigned_gpus() -> list[str] | None:
    """The GPU ids Ray assigned the calling trial or task (it sets CUDA_VISIBLE_DEVICES to them); None: none."""
    import ray

    if not ray.is_initialized():
        return None
    try:
        ids = ray.get_runtime_context().get_accelerator_ids().get("GPU", [])
    except Exception:  # noqa: BLE001 - outside a worker, or an older Ray
        return None
    return [str(i) for i in ids] or None


def cluster_node_count() -> int:
    """Alive nodes of the cluster this process is connected to (``ray.init`` must have run)."""
    import ray

    return sum(1 for n in ray.nodes() if n.get("Alive"))
