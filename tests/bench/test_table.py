"""The shipped benchmark tables (every benchmarks/*.json beside its space file): what each must
hold, that its numbers are the models', and that the two regimes do not overlap."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO
from wrnsearch.bench import load_table
from wrnsearch.cost import model_cost
from wrnsearch.model import build_model
from wrnsearch.space import budget_violations, iter_specs, load_space, space_cost
from wrnsearch.spec import parse_name

TABLES = sorted((REPO / "benchmarks").glob("*.json"))
TABLE = REPO / "benchmarks" / "wrn-cifar10-cpu.json"


@pytest.fixture(scope="module", params=TABLES, ids=lambda p: p.stem)
def table(request) -> dict:
    data = json.loads(request.param.read_text())
    data["path"] = request.param
    return data


def test_every_shipped_table_has_its_space_file():
    assert len(TABLES) >= 2
    for path in TABLES:
        assert path.with_suffix(".yaml").is_file(), path


def test_the_tables_share_no_architecture():
    names = [{a["arch"] for a in json.loads(p.read_text())["architectures"]} for p in TABLES]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not a & b, sorted(a & b)[:5]


def test_the_table_covers_its_space_fully(table):
    space = load_space(table["path"].with_suffix(".yaml"))
    feasible = {s.name for s in iter_specs(space) if not budget_violations(space, space_cost(space, s))}
    rows = {a["arch"]: a for a in table["architectures"]}
    assert set(rows) == feasible and len(rows) >= 60
    spans = {key: {a[key] for a in rows.values()} for key in ("depth", "widen_factor", "convs_per_block", "block")}
    assert len(spans["depth"]) >= 4 and len(spans["widen_factor"]) >= 3
    assert spans["convs_per_block"] == {1, 2, 3} and len(spans["block"]) == 6
    for a in rows.values():
        assert len(a["val_error"]) == len(a["epoch_s"]) == table["meta"]["recipe"]["epochs"] >= 6
        assert a["fixed_s"] > 0 and a["latency_ms"] > 0 and a["device"].startswith("cpu")
        assert 0 <= a["test_error"] <= 100 and all(0 <= e <= 100 for e in a["val_error"])


def test_params_and_macs_are_the_built_models(table):
    for a in table["architectures"]:
        spec = parse_name(a["arch"])
        assert a["params"] == sum(p.numel() for p in build_model(spec).parameters()), a["arch"]
        assert a["macs"] == model_cost(spec).macs, a["arch"]


def test_provenance_split_and_noise_are_recorded(table):
    meta = table["meta"]
    assert meta["command"].startswith(f"wrnsearch bench record benchmarks/{table['path'].stem}.yaml")
    assert meta["precision"] == "fp32" and meta["device"] == "cpu" and meta["machine"]["cpu"]
    assert meta["dataset"]["name"] == "cifar10" and meta["dataset"]["train_subset"] >= 1500
    assert meta["split"]["val"] >= 1000 and meta["split"]["val_indices_sha256"]
    assert meta["recorded"]["first_trial"] < meta["recorded"]["last_trial"]
    repeated = [a for a in table["architectures"] if a.get("repeats")]
    assert len(repeated) >= 20 and meta["repeat_agreement"]["n"] == len(repeated)
    assert -1 <= meta["repeat_agreement"]["spearman_rho"] <= 1
    assert load_table(table["path"]).full_compute_s() > 0


def test_a_small_replay_on_the_shipped_table():
    # what CI can afford of the comparison: two methods, two seeds, a few trials, two processes
    from wrnsearch.bench import bench_search

    # TPE past its start-up with pruned trials in the study (each with its learning curve)
    result = bench_search(TABLE, ["random+fifo", "tpe+moasha"], seeds=2, trials=8, processes=2,
                          overrides=["search.n_startup_trials=3"])
    assert sum(run["stopped"] for run in result["methods"]["tpe+moasha"]["seeds"]) > 0
    assert result["architectures"] == 60 and 0 < result["hv_true"] < 1.1 ** 3
    assert set(result["true_front_small"]) <= set(result["true_front"])
    for method in result["methods"].values():
        assert [run["seed"] for run in method["seeds"]] == [0, 1]
        for run in method["seeds"]:
            hvs = [run["hv_at_trials"][str(k)] for k in range(1, 9)]
            assert hvs == sorted(hvs) and hvs[-1] <= result["hv_true"] + 1e-9
            assert run["launched"] == 8 and set(run["front"]) <= {t["arch"] for t in run["trials"]}
    # the same seed replays the same search, in a process pool or not
    alone = bench_search(TABLE, ["random+fifo"], seeds=1, trials=8, processes=1,
                         overrides=["search.n_startup_trials=3"])
    assert alone["methods"]["random+fifo"]["seeds"][0]["trials"] == \
        result["methods"]["random+fifo"]["seeds"][0]["trials"]
