"""Talking to a cluster's job server: submit a search, follow it, stop it.

``address`` is the head's job server, e.g. ``http://127.0.0.1:8265`` through an SSH tunnel (a
bare ``host:port`` is taken as that URL; ``None`` lets Ray read ``RAY_API_SERVER_ADDRESS`` or
``RAY_ADDRESS``). Every failure to talk to the cluster becomes one
:class:`~wrnsearch.errors.RunError` line that says what to do
(:func:`wrnsearch.search.cluster_errors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wrnsearch.cluster._submission import Submission, SubmitOptions, build_submission
from wrnsearch.errors import RunError
from wrnsearch.search import cluster_errors
from wrnsearch.space import load_space

logger = logging.getLogger(__name__)

DEFAULT_DASHBOARD_ADDRESS = "http://127.0.0.1:8265"  # the head's job port, through an SSH tunnel
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
NO_AGENT = "No available agent to submit job"  # the job server's HTTP 500 right after `ray start`
AGENT_WAIT_S = 60.0  # how long that answer is retried


def submit_search(space_path: str | Path, address: str | None, options: SubmitOptions) -> str:
    """Validate the space file here, submit ``wrnsearch run`` as a Ray job, return the job id.

    Example:
        >>> options = SubmitOptions(runs_dir="/shared/runs", overrides=("train.epochs=100",))
        >>> job_id = submit_search("spaces/cifar10.yaml", "http://127.0.0.1:8265", options)  # doctest: +SKIP
    """
    space = load_space(space_path, options.overrides)  # a broken file fails here, before any upload
    return submit(build_submission(space_path, options, space=space), address)


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

    @property
    def exit_code(self) -> int:
        """What a command that followed the job exits with: 0 when it SUCCEEDED; when it FAILED,
        its driver's exit code (2: a one-line error such as a broken setup; 1 when unknown);
        1 when it was STOPPED (or is not over)."""
        if self.status == "SUCCEEDED":
            return 0
        if self.status == "FAILED" and self.driver_exit_code:
            return int(self.driver_exit_code) if 0 < int(self.driver_exit_code) < 256 else 1
        return 1

    @property
    def error_line(self) -> str:
        """Why the job did not succeed, in one line: the driver's own ``wrnsearch: error:`` line
        when its log ends with one, else the first line of Ray's message."""
        lines = [line.strip() for line in self.message.splitlines() if line.strip()]
        ours = [line.split("wrnsearch: error:", 1)[1].strip() for line in lines if "wrnsearch: error:" in line]
        why = ours[-1] if ours else (lines[0] if lines else "")
        code = f", driver exit code {self.driver_exit_code}" if self.driver_exit_code is not None else ""
        return f"job {self.job_id} {self.status}{code}" + (f": {why}" if why else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id, "status": self.status, "message": self.message,
            "entrypoint": self.entrypoint, "start_time_s": self.start_time_s,
            "end_time_s": self.end_time_s, "driver_exit_code": self.driver_exit_code,
            "metadata": dict(self.metadata),
        }


def submit(submission: Submission, address: str | None, agent_wait_s: float = AGENT_WAIT_S) -> str:
    """Send a prepared :class:`Submission` to the cluster's job server; return the job id.

    Right after ``ray start`` the job server answers "No available agent to submit job, please
    try again later" (HTTP 500) until a node's job agent has registered: that answer is retried
    for ``agent_wait_s`` seconds, then reported in one line.
    """
    with cluster_errors(address):
        client = _client(address)
        kwargs: dict[str, Any] = {"entrypoint": submission.entrypoint, "metadata": submission.metadata}
        if submission.runtime_env is not None:
            kwargs["runtime_env"] = submission.runtime_env
        if submission.entrypoint_resources:
            kwargs["entrypoint_resources"] = submission.entrypoint_resources
        deadline = time.monotonic() + agent_wait_s
        pause_s = 0.5
        while True:
            try:
                job_id = client.submit_job(**kwargs)
                break
            except RuntimeError as e:
                if NO_AGENT not in str(e):
                    raise
                if time.monotonic() >= deadline:
                    raise RunError(
                        f"the Ray cluster at {address} still has no job agent ready after {agent_wait_s:g} s "
                        f"(\"{NO_AGENT}\"): check that its nodes are up (`ray status` on the head), then "
                        "submit again"
                    ) from None
                logger.info("the job server has no agent ready yet; trying again in %.1f s", pause_s)
                time.sleep(min(pause_s, max(0.0, deadline - time.monotonic())))
                pause_s = min(pause_s * 2, 5.0)
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
