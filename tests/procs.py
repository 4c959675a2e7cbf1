"""Processes for tests: the process table read from /proc (to find and stop what Ray starts), a
free local port, the ``wrnsearch`` console script, waiting on a process's work and killing its
process group."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrnsearch_exe() -> str:
    """The installed ``wrnsearch`` console script (beside this Python's), or skip the test."""
    exe = shutil.which("wrnsearch") or str(Path(sys.executable).parent / "wrnsearch")
    if not Path(exe).exists():
        pytest.skip("the wrnsearch console script is not installed")
    return exe


def process_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, pgid, command line) of every process that can be read."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # the command name in parentheses may hold spaces
        table[int(entry)] = (int(fields[1]), int(fields[2]), cmdline)
    return table


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` s, or as soon as
    ``proc`` (the process doing the work) has ended."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended (exit {proc.returncode}) before {what}")
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def kill_pids(pids) -> None:
    """SIGKILL each of ``pids`` (listed from the process table a moment ago), passing over any
    that has ended since: a short-lived helper of Ray's may go between the listing and its kill."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a process started with ``start_new_session=True`` and all of its session's group
    (the local Ray it started), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
