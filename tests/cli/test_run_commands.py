"""The run commands' own checks (cli/_run_commands.py), before any search."""

from __future__ import annotations

import subprocess

from tests.procs import wrnsearch_exe


def test_dashboard_command_needs_a_run(tmp_path):
    proc = subprocess.run([wrnsearch_exe(), "dashboard", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "holds no study.db" in proc.stderr and proc.stderr.count("\n") == 1
