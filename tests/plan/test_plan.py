"""`wrnsearch plan`: every feasible architecture forecast from a few timed as their trials run,
the search's wall time against its budgets, the cache that makes a second plan free, and what a
machine without the space's device is told."""

from __future__ import annotations

import doctest
import json
import math
import statistics

import pytest
from click.testing import CliRunner

from tests.spaces import exactly, space_data
from wrnsearch.cli import main
from wrnsearch.cost import model_cost
from wrnsearch.plan import Probe, Sizes, StepModel, feasible_specs, forecast, probe_specs
from wrnsearch.space import load_space
from wrnsearch.spec import parse_name

# 12 architectures, 9 of them within 400K parameters, forecast against 20 s for the search, 30 s a trial
TINY = space_data("tiny", dataset={"train_size": 300, "val_size": 100},
                  budget={"max_params": "400K", "max_trials": 6, "time": "20s", "trial_time": "30s"},
                  train={"batch_size": 32, "lr": None, "amp": False, "channels_last": False},
                  search=exactly({"sampler": "random", "max_concurrent": 2}), resources={"gpus_per_trial": 0})


@pytest.mark.parametrize("module", ["wrnsearch.plan._resources", "wrnsearch.plan._forecast", "wrnsearch.plan._plan",
                                    "wrnsearch.search._preflight", "wrnsearch.units", "wrnsearch.data._splits",
                                    "wrnsearch.bench._forecast_accuracy"])
def test_the_examples_in_the_docstrings_hold(module):
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_the_fit_recovers_a_step_time_that_follows_the_costs():
    """Step seconds that are exactly a + b * MACs + c * activation bytes are predicted exactly for
    any architecture from five probes; epochs and trials add up as the trainer spends them."""
    specs = [parse_name(n, num_classes=10) for n in ("WRN-10-1", "WRN-16-1", "WRN-10-2", "WRN-16-2", "WRN-22-3",
                                                    "WRN-28-2-B(3,1)", "WRN-40-1-B(1,3,1)")]

    def truth(cost):
        return 0.004 + 3e-9 * cost.macs + 2e-10 * cost.activation_bytes

    costs = {s.name: model_cost(s, 32, 1) for s in specs}
    probes = [Probe(n, costs[n], truth(costs[n]), truth(costs[n]) / 300, 0.01) for n in list(costs)[:5]]
    model = StepModel.fit(probes)
    for name in ("WRN-28-2-B(3,1)", "WRN-40-1-B(1,3,1)"):  # not probed
        assert model.train_s(costs[name]) == pytest.approx(truth(costs[name]), rel=1e-6)
    sizes = Sizes(train=1000, val=200, test=500, batch=100, epochs=3, latency_batch=32, infer_batch=1,
                  latency_steps=20)
    f = forecast(model, costs["WRN-22-3"], sizes)
    step = truth(costs["WRN-22-3"])
    assert f.epoch_s == pytest.approx(10 * step + 200 * step / 300, rel=1e-6)
    assert f.trial_s == pytest.approx(3 * f.epoch_s + f.fixed_s) and f.fixed_s > 500 * step / 300 + 3 * 0.01


def test_probes_span_the_space_from_its_smallest_to_its_largest():
    specs = [parse_name(f"WRN-{d}-{k}") for d in (10, 16, 22) for k in (1, 2, 3, 4)]
    picked = probe_specs(specs, 5)
    assert len(picked) == 5 and picked[0] == specs[0] and picked[-1] == specs[-1]
    assert probe_specs(specs[:3], 5) == specs[:3]


def test_plan_forecasts_every_feasible_architecture_and_the_search(tmp_path, make_space, monkeypatch):
    monkeypatch.setenv("WRNSEARCH_CACHE", str(tmp_path / "cache"))
    path = make_space("tiny", base=TINY)
    result = CliRunner().invoke(main, ["plan", str(path), "--format", "json", "--probes", "3"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    space = load_space(path)
    feasible = [s.name for s in feasible_specs(space)]
    archs = {a["arch"]: a for a in plan["architectures"]}
    assert sorted(archs) == sorted(feasible) and len(feasible) == 8  # within 400K of the 12 (4 classes)
    assert plan["device"].startswith("cpu (") and plan["precision"] == "fp32" and plan["trials_at_once"] == 2
    assert [p["cached"] for p in plan["probes"]] == [False] * 3
    by_macs = sorted(plan["architectures"], key=lambda a: a["macs"])
    assert by_macs[-1]["epoch_s"] > by_macs[0]["epoch_s"] > 0  # the fit rises with the costs
    for a in plan["architectures"]:
        cost = model_cost(parse_name(a["arch"], num_classes=4), 16, 32)
        assert (a["params"], a["macs"]) == (cost.params, model_cost(parse_name(a["arch"], num_classes=4), 16).macs)
        assert a["trial_s"] > 2 * a["epoch_s"] and a["memory_bytes"] > cost.activation_bytes + 12 * cost.params
    s = plan["search"]
    mean = statistics.fmean(a["trial_s"] for a in plan["architectures"])
    assert s["trials"] == 6 and s["wall_s"] == pytest.approx(6 * mean / 2, abs=0.06)
    assert s["trial_s_median"] == statistics.median(a["trial_s"] for a in plan["architectures"])
    assert s["cut_by_time_after"] == (math.floor(20 * 2 / mean) if s["wall_s"] > 20 else None)
    assert s["over_trial_time"] == sum(a["trial_s"] > 30 for a in plan["architectures"])

    again = CliRunner().invoke(main, ["plan", str(path), "--format", "json", "--probes", "3"])
    second = json.loads(again.output)
    assert [p["cached"] for p in second["probes"]] == [True] * 3  # timed once per machine, then cached
    assert second["architectures"] == plan["architectures"]
    table = CliRunner().invoke(main, ["plan", str(path), "--probes", "3"])
    assert table.exit_code == 0 and "plan: on cpu (" in table.output and "6 trials in about" in table.output


@pytest.mark.slow
def test_a_machine_without_the_spaces_gpu_is_told_and_plans_for_its_cpu(tmp_path, make_space, monkeypatch):
    monkeypatch.setenv("WRNSEARCH_CACHE", str(tmp_path / "cache"))
    path = make_space("gpu", base=TINY, resources={"cpus_per_trial": 64, "gpus_per_trial": 1})
    refused = CliRunner().invoke(main, ["plan", str(path)])
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert refused.exit_code == 2
    assert f"{path}: resources.gpus_per_trial is 1, and this machine has no GPU: plan for its CPU with --device cpu" \
        in refused.output
    result = CliRunner().invoke(main, ["plan", str(path), "--device", "cpu", "--probes", "2", "--format", "json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["trial_asks"] == {"cpus": 64, "gpus": 0.0, "memory_bytes": None} and plan["trials_at_once"] == 0
    assert any("whose trials need --set resources.gpus_per_trial=0" in n for n in plan["notes"])
    assert any("a trial asks for 64 CPUs (resources.cpus_per_trial)" in n for n in plan["notes"])
    assert plan["architectures"] and plan["threads_per_trial"] <= plan["node"]["cpus"]
