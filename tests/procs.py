"""The process table, read from /proc: for tests that find (and stop) the processes Ray starts."""

from __future__ import annotations

import os


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
