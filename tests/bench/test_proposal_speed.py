"""wrnsearch bench proposals: seconds per proposal of each sampler against the finished trials."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def test_proposal_seconds_per_sampler_and_count_of_finished_trials():
    out = subprocess.run([sys.executable, "-m", "wrnsearch", "bench", "proposals", str(REPO / "spaces/quickstart.yaml"),
                          "--sampler", "ehvi", "--sampler", "tpe", "--finished", "3,6", "--proposals", "2",
                          "--format", "json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout)
    pairs = [(row["sampler"], row["finished"]) for row in r["rows"]]
    assert pairs == [("ehvi", 3), ("tpe", 3), ("ehvi", 6), ("tpe", 6)]
    assert all(len(row["times_s"]) == 2 and row["median_s"] > 0 for row in r["rows"])
    assert r["candidates"] >= 8 and r["machine"]


def test_more_finished_trials_than_the_space_holds_is_one_line_and_exit_2():
    out = subprocess.run([sys.executable, "-m", "wrnsearch", "bench", "proposals", str(REPO / "spaces/quickstart.yaml"),
                          "--finished", "100000"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert "too few for 100000 finished trials" in out.stderr and len(out.stderr.strip().splitlines()) == 1
