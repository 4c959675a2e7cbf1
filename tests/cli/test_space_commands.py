"""wrnsearch space: validate (a located one-line error, exit 2), show, count and sample."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest


def _run(*args):
    exe = shutil.which("wrnsearch") or pytest.skip("wrnsearch console script not installed")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300)


def test_space_validate_exit_codes(tmp_path):
    assert _run("space", "validate", "spaces/quickstart.yaml").returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nspace:\n  depth: [16, 23]\n  widen_factor: 1\n  blcok: B(3,3)\n")
    proc = _run("space", "validate", str(bad))
    assert proc.returncode == 2
    assert proc.stderr == f"wrnsearch: error: {bad}:5:3: space.blcok: unknown key 'blcok' (did you mean 'block'?)\n"
    # schema errors come first; once the keys are right, the impossible depth is reported
    bad.write_text(bad.read_text().replace("blcok", "block"))
    proc = _run("space", "validate", str(bad))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(
        f"wrnsearch: error: {bad}:3:15: space.depth.1: depth 23 is realized by no allowed block")


def test_space_show_count_sample():
    shown = _run("space", "show", "spaces/quickstart.yaml", "--set", "train.epochs=7")
    assert shown.returncode == 0
    import yaml

    data = yaml.safe_load(shown.stdout)
    assert data["train"]["epochs"] == 7 and data["train"]["momentum"] == 0.9 and data["train"]["nesterov"] is True
    count = _run("space", "count", "spaces/cifar10.yaml")
    assert count.returncode == 0 and count.stdout.strip() == "architectures: 432; within budget: 412"
    count_small = _run("space", "count", "spaces/cifar10.yaml", "--set", "budget.max_params=5M")
    fitting = int(count_small.stdout.strip().rsplit(" ", 1)[1])
    assert 0 < fitting < 412
    sample = _run("space", "sample", "spaces/cifar10.yaml", "--n", "10", "--seed", "0", "--format", "json")
    assert sample.returncode == 0, sample.stderr
    rows = json.loads(sample.stdout)
    assert len(rows) == 10
    from wrnsearch.spec import parse_name

    for row in rows:
        assert parse_name(row["name"]).depth in (16, 22, 28, 40)
        assert (row["params"] > 40_000_000) == (row["infeasible_reason"] is not None)
    again = json.loads(_run("space", "sample", "spaces/cifar10.yaml", "--n", "10", "--seed", "0", "--format",
                            "json").stdout)
    assert again == rows  # seeded
