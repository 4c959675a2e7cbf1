"""Processes for tests: the process table read from /proc (to find and stop what Ray starts), a
free local port, and the ``wrnsearch`` console script."""

from __future__ import annotations

import os
import shutil
import socket
import sys
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
