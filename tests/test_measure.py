"""The inference latency, ``latency_infer_ms``: timed in eval mode without autograd at the space's
``train.infer_batch``, recorded by every trial beside the training step's ``latency_ms``, and an
objective a space may choose, stored in the study like the others."""

from __future__ import annotations

import math

import optuna
import pytest
import torch
from torch import nn

from tests.spaces import exactly, space_data, space_text
from wrnsearch.data import load_splits
from wrnsearch.measure import measure_inference, measure_training_step
from wrnsearch.model import build_model
from wrnsearch.objectives import record_values
from wrnsearch.pareto import format_front, front_rows
from wrnsearch.record import Attr, TrialRecord
from wrnsearch.samplers import propose
from wrnsearch.space import parse_space
from wrnsearch.spec import parse_name
from wrnsearch.study import open_study, tell_record, trial_key
from wrnsearch.train import train_trial

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

# one architecture, timed for inference at a batch of 3, the third objective
INFER = space_data("infer", dataset={"train_size": 64, "test_size": 32, "val_size": 32},
                   space=exactly({"architecture": ["WRN-10-1"]}), objectives=["error", "params", "latency_infer_ms"],
                   budget=None, train=exactly({"epochs": 1, "batch_size": 32, "lr": 0.05, "infer_batch": 3}),
                   search=exactly({"sampler": "random"}), resources=None)


class _Probe(nn.Module):
    """A WRN that notes the mode, autograd and batch of every forward pass it makes."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.seen: set[tuple[bool, bool, int]] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.add((self.training, torch.is_grad_enabled(), x.shape[0]))
        return self.inner(x)


def test_inference_runs_in_eval_mode_without_grad_and_changes_nothing():
    model = _Probe(build_model(parse_name("WRN-10-1", num_classes=4)))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}  # BN running stats included
    timing = measure_inference(model, batch=3, resolution=16, steps=20, warmup=2)
    assert model.seen == {(False, False, 3)}  # eval mode, no autograd, the batch asked for
    assert timing.batch == 3 and timing.steps == 20 and timing.device.startswith("cpu (")
    assert 0 < timing.latency_ms <= timing.latency_p90_ms
    assert timing.images_per_s == pytest.approx(3 / (timing.latency_ms / 1e3))
    # a forward in train mode would have moved the batch-norm statistics; eval mode leaves them
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert model.training  # the mode it came in with
    with pytest.raises(ValueError, match="steps 0"):
        measure_inference(model, steps=0)


def test_inference_costs_less_per_image_than_a_training_step():
    # the same model and batch: inference skips backward and the update, about a third of a step;
    # asserted with a wide margin, as other processes may share the cores
    model = build_model(parse_name("WRN-10-1", num_classes=4))
    train = measure_training_step(model, batch=32, resolution=16, num_classes=4, steps=20, warmup=3)
    infer = measure_inference(model, batch=32, resolution=16, steps=20, warmup=3)
    assert infer.latency_ms / infer.batch < 0.8 * train.latency_ms / train.batch


def test_a_trial_records_both_latencies_and_the_study_stores_the_objective(tmp_path):
    space = parse_space(space_text("infer", base=INFER), source="infer.yaml")
    assert space.objectives == ["error", "params", "latency_infer_ms"] and space.train.infer_batch == 3
    assert parse_space(space_text("infer", base=INFER, train={"infer_batch": None}), source="d").train.infer_batch == 1
    # infer_batch only changes how a latency is timed: the trial key (and checkpoints) stay the same
    spec = parse_name("WRN-10-1", num_classes=4)
    other = parse_space(space_text("infer", base=INFER, train={"infer_batch": 8}), source="o")
    assert trial_key(space, spec) == trial_key(other, spec)

    threads = torch.get_num_threads()
    try:  # a trial pins its threads (its CPUs), and its device's name says how many
        record = train_trial(spec, space.train, load_splits(space.dataset), device="cpu", threads=1)
    finally:
        torch.set_num_threads(threads)
    assert record.status == "complete" and record.latency_ms > 0 and record.latency_infer_ms > 0
    assert record.latency_infer["batch"] == 3 and record.latency["batch"] == 32
    assert record.latency_infer["steps"] >= 20 and record.latency_infer["device"] == record.device == "cpu (1 threads)"
    assert TrialRecord.from_json(record.to_json()) == record

    study = open_study(space, f"sqlite:///{tmp_path / 'study.db'}")
    assert study.metric_names == ["error", "params", "latency_infer_ms"]
    trial = study.ask()
    proposal = propose(study, trial, space, lambda s: {Attr.KEY: trial_key(space, s)})
    tell_record(study, trial, record, list(space.objectives), proposal)
    (stored,) = study.get_trials()
    assert stored.values == [record.val_error, float(record.params), record.latency_infer_ms]
    assert stored.user_attrs[Attr.LATENCY_INFER_MS] == record.latency_infer_ms
    assert stored.user_attrs[Attr.LATENCY_MS] == record.latency_ms  # recorded, though not optimized
    (row,) = front_rows(study)
    assert row["latency_infer_ms"] == record.latency_infer_ms and row["latency_ms"] == record.latency_ms
    assert "infer ms" in format_front([row], "table")


def test_an_untimed_inference_latency_is_the_worst_value():
    record = TrialRecord(name="WRN-10-1", params=10, macs=20, val_error=5.0, latency_ms=2.0)
    assert record_values(record, ["latency_infer_ms", "latency_ms"]) == [math.inf, 2.0]
    record.latency_infer_ms = 0.5
    assert record_values(record, ["error", "latency_infer_ms"]) == [5.0, 0.5]
