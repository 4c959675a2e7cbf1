"""What a trial's worker is handed (wrnsearch.search.TrialContext): built once by the driver, plain
data across the Ray boundary, typed and validated again in the worker."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic
import pytest
import ray

from tests.spaces import exactly, space_text
from wrnsearch.search import TrialContext
from wrnsearch.space import parse_space

SPACE = space_text("ctx", dataset={"train_size": 64, "test_size": 32, "val_size": 16},
                   space=exactly({"depth": 10, "widen_factor": 1}), train=exactly({"epochs": 3, "batch_size": 16}),
                   budget=exactly({"trial_time": "90s"}), search=None,
                   resources={"cpus_per_trial": 2, "memory_per_trial": "3GiB"})


def _context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TrialContext:
    monkeypatch.chdir(tmp_path)
    return TrialContext.for_run(parse_space(SPACE), Path("runs/ctx"), data_root="data", progress=Path("runs/ctx/p"),
                                gpus=0.5)


def test_built_from_the_space_with_absolute_paths(tmp_path, monkeypatch):
    ctx = _context(tmp_path, monkeypatch)
    assert ctx.checkpoints == str(tmp_path / "runs" / "ctx" / "checkpoints")
    assert ctx.data_root == str(tmp_path / "data") and ctx.progress == str(tmp_path / "runs" / "ctx" / "p")
    assert (ctx.train.epochs, ctx.train.batch_size, ctx.dataset.num_classes) == (3, 16, 4)
    assert (ctx.trial_time_s, ctx.cpus, ctx.gpus, ctx.memory_per_trial) == (90.0, 2, 0.5, 3 * 2**30)


def test_crosses_as_json_and_comes_back_equal(tmp_path, monkeypatch):
    ctx = _context(tmp_path, monkeypatch)
    wire = json.loads(json.dumps(ctx.to_dict()))
    assert isinstance(wire["train"], dict) and isinstance(wire["dataset"], dict)
    assert TrialContext.from_dict(wire) == ctx
    with pytest.raises(AttributeError):  # frozen: a worker cannot change what every trial shares
        ctx.cpus = 4  # type: ignore[misc]


def test_the_worker_validates_what_it_is_handed(tmp_path, monkeypatch):
    wire = _context(tmp_path, monkeypatch).to_dict()
    wire["train"]["epochs"] = 0
    with pytest.raises(pydantic.ValidationError, match="epochs"):
        TrialContext.from_dict(wire)
    wire = _context(tmp_path, monkeypatch).to_dict()
    del wire["cpus"]
    with pytest.raises(TypeError, match="cpus"):
        TrialContext.from_dict(wire)


def test_through_a_real_ray_worker(tmp_path, monkeypatch, local_ray):
    """What a task in a Ray worker reads back from the dict equals what the driver built."""
    ctx = _context(tmp_path, monkeypatch)

    @ray.remote
    def read(wire: dict) -> tuple[int, str, float | None]:
        back = TrialContext.from_dict(wire)
        return back.train.epochs, back.checkpoints, back.trial_time_s

    assert ray.get(read.remote(ctx.to_dict())) == (3, ctx.checkpoints, 90.0)
