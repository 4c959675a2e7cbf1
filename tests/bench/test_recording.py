"""wrnsearch bench record: a table made by a real (grid, no early stopping) search, resumable, on one CPU."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.spaces import exactly, space_data
from wrnsearch.bench import MACHINE_FILE, cpu_model, record_table, spearman
from wrnsearch.cost import model_cost
from wrnsearch.model import build_model
from wrnsearch.spec import parse_name
from wrnsearch.study import load_study

# every architecture of a tiny space trained fully (grid, no early stopping) in fp32, one at a time per CPU
TINYREC = space_data("tinyrec", dataset={"num_classes": 10, "resolution": 32, "train_size": 128},
                     space={"depth": [7, 10], "widen_factor": [1], "block": ["B(3)", "B(3,3)"]},
                     objectives=["error", "params", "latency_ms"], budget={"max_trials": 10, "max_params": None},
                     train={"amp": False, "channels_last": False, "latency_steps": 20},
                     search=exactly({"sampler": "grid", "scheduler": "fifo", "max_concurrent": 2}))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wrnsearch", "bench", "record", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_record_a_table_resume_it_and_refuse_another_cpu(tmp_path, make_space, local_ray):
    space = make_space("tinyrec", base=TINYREC)
    out, run_dir = tmp_path / "table.json", tmp_path / "rec"
    table = record_table(space, out, run_dir=run_dir, repeats=2, command="wrnsearch bench record ...")
    assert json.loads(out.read_text()) == table
    rows = {a["arch"]: a for a in table["architectures"]}
    assert set(rows) == {"WRN-7-1-B(3)", "WRN-10-1-B(3)", "WRN-10-1"}  # every architecture of the space
    for name, a in rows.items():
        spec = parse_name(name)
        assert a["params"] == sum(p.numel() for p in build_model(spec).parameters()) == model_cost(spec).params
        assert a["macs"] == model_cost(spec).macs
        assert len(a["val_error"]) == len(a["epoch_s"]) == 2 and all(s > 0 for s in a["epoch_s"])
        assert a["fixed_s"] >= 0 and a["latency_ms"] > 0 and a["device"].startswith("cpu")
        assert a["test_error"] is not None
    repeated = [n for n, a in rows.items() if "repeats" in a]
    # spread over the parameter counts: the smallest and the largest (ties by name)
    assert sorted(repeated) == ["WRN-10-1-B(3)", "WRN-7-1-B(3)"]
    assert all(rows[n]["repeats"][0]["seed"] == 1 and len(rows[n]["repeats"][0]["val_error"]) == 2 for n in repeated)
    meta = table["meta"]
    assert meta["machine"]["cpu"] == cpu_model() and meta["precision"] == "fp32"
    assert meta["split"]["val_indices_sha256"] and meta["seeds"] == {"train": 0, "repeat": 1, "split": 0}
    assert meta["repeat_agreement"]["n"] == 2 and meta["command"] == "wrnsearch bench record ..."
    assert meta["recorded"]["first_trial"] <= meta["recorded"]["last_trial"]

    # resumed: nothing trained again, the same rows
    before = len(load_study(run_dir).trials)
    again = record_table(space, out, run_dir=run_dir, repeats=2)
    assert len(load_study(run_dir).trials) == before
    assert again["architectures"] == table["architectures"]

    # the same recording on another CPU model refuses, in one line, before it trains anything
    machine = json.loads((run_dir / MACHINE_FILE).read_text())
    (run_dir / MACHINE_FILE).write_text(json.dumps({**machine, "cpu": "Some Other CPU"}))
    proc = _cli(str(space), "-o", str(out), "--run-dir", str(run_dir), "--quiet")
    assert proc.returncode == 2 and "was recorded on 'Some Other CPU'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("change, message", [
    ({"search": {"sampler": "tpe"}}, "search.sampler is tpe"),
    ({"search": {"scheduler": "asha"}}, "search.scheduler is asha"),
    ({"train": {"amp": "auto"}}, "train.amp is auto"),
], ids=["sampler: grid", "scheduler: fifo", "amp: false"])
def test_a_space_that_would_not_train_everything_fully_in_fp32_is_refused(tmp_path, make_space, change, message):
    space = make_space("s", base=TINYREC, **change)
    proc = _cli(str(space), "-o", str(tmp_path / "t.json"), "--run-dir", str(tmp_path / "r"))
    assert proc.returncode == 2 and message in proc.stderr and not (tmp_path / "r").exists()


def test_spearman():
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(0.8660254)  # average ranks for ties


def test_a_trial_resumed_from_a_checkpoint_gets_the_median_fixed_cost_not_zero():
    """A recording killed mid-trial resumes the trial from its checkpoint: the study holds both
    attempts' epochs but the last attempt's wall time, so wall time less epochs went negative and
    was clipped to 0 s, a trial that looked free to start (WRN-16-1.5-B(3)-d0.3 in
    benchmarks/wrn-cifar10-cpu-8ep.json, before this)."""
    from wrnsearch.bench._recording import _fixed_s_of_resumed

    rows = {"a": {"fixed_s": 10.0}, "b": {"fixed_s": None}, "c": {"fixed_s": 14.0}, "d": {"fixed_s": 12.0}}
    out = _fixed_s_of_resumed(rows)
    assert out["b"] == {"fixed_s": 12.0, "fixed_s_estimated": True}
    assert all("fixed_s_estimated" not in out[k] for k in "acd") and out["a"]["fixed_s"] == 10.0
