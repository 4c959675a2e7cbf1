"""The replay: the real searcher on a hand-made table, on a simulated clock with W workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wrnsearch.bench import Method, bench_search, load_table, replay
from wrnsearch.errors import RunError

ARCHS = {  # name: (params known from the model, epoch seconds, fixed seconds, errors per epoch, latency)
    "WRN-10-1": (77_850, 1.0, 2.0, [80, 70, 60, 50], 1.0),
    "WRN-10-2": (303_706, 2.0, 2.5, [85, 65, 55, 45], 2.0),
    "WRN-16-1": (175_066, 3.0, 3.0, [90, 72, 62, 52], 3.0),
    "WRN-16-2": (691_674, 4.0, 3.5, [88, 60, 50, 40], 4.0),
}


def write_table(path: Path, *, extra_arch: str | None = None, max_params: int | None = None) -> Path:
    archs = [{"arch": name, "params": p, "macs": 1, "latency_ms": lat, "device": "cpu", "epoch_s": [e] * 4,
              "fixed_s": f, "val_error": errs, "test_error": errs[-1]} for name, (p, e, f, errs, lat) in ARCHS.items()]
    names = list(ARCHS) + ([extra_arch] if extra_arch else [])
    meta = {"space": "hand", "dataset": {"name": "synthetic"}, "search_space": {"architecture": names},
            "budget": {"max_params": max_params, "max_trials": 50}, "recipe": {"epochs": 4}}
    path.write_text(json.dumps({"meta": meta, "architectures": archs}))
    return path


def cost(name: str, epochs: int = 4) -> float:
    _, e, f, _, _ = ARCHS[name]
    return f + e * epochs


def test_one_worker_runs_trials_back_to_back(tmp_path):
    table = load_table(write_table(tmp_path / "t.json"))
    run = replay(table, Method("random", "fifo"), seed=0, trials=4, workers=1)
    order = [t["arch"] for t in run["trials"]]
    assert sorted(order) == sorted(ARCHS) and run["launched"] == 4 and run["stopped"] == 0
    clock = 0.0
    for t in run["trials"]:
        clock += cost(t["arch"])
        assert t["end_s"] == pytest.approx(clock) and t["worker_s"] == pytest.approx(clock)
    assert run["makespan_s"] == pytest.approx(sum(cost(n) for n in ARCHS))
    # every architecture found: the hypervolume of the whole table, reached at the 4th trial
    result = bench_search(tmp_path / "t.json", ["random+fifo"], seeds=1, trials=4, workers=1)
    seed = result["methods"]["random+fifo"]["seeds"][0]
    assert seed["hv_at_trials"]["4"] == pytest.approx(result["hv_true"])
    hvs = [seed["hv_at_trials"][str(k)] for k in range(1, 5)]
    assert hvs == sorted(hvs) and hvs[0] > 0
    assert set(seed["front"]) == set(result["true_front"]) == {"WRN-10-1", "WRN-10-2", "WRN-16-2"}


@pytest.mark.parametrize("seed", range(3))
def test_two_workers_share_the_clock(tmp_path, seed):
    table = load_table(write_table(tmp_path / "t.json"))
    run = replay(table, Method("random", "fifo"), seed=seed, trials=4, workers=2)
    ends = {t["arch"]: t["end_s"] for t in run["trials"]}
    # the launch order is the order trials started: two at 0, then each when a worker frees
    launches = sorted(ends, key=lambda n: ends[n] - cost(n))
    free = [0.0, 0.0]
    for name in launches:
        start = min(free)
        free[free.index(start)] = start + cost(name)
        assert ends[name] == pytest.approx(start + cost(name))
    assert run["makespan_s"] == pytest.approx(max(free))
    assert run["worker_s"] == pytest.approx(sum(cost(n) for n in ARCHS))  # busy time, not 2 x the clock
    assert run["makespan_s"] < run["worker_s"]


def test_stopped_trials_are_charged_the_epochs_they_trained(tmp_path):
    table = load_table(write_table(tmp_path / "t.json"))
    stopped_any = False
    for seed in range(6):
        run = replay(table, Method("random", "moasha"), seed=seed, trials=4, workers=1,
                     overrides=["search.asha.grace_period=1", "search.asha.reduction_factor=2"])
        charged = sum(cost(t["arch"], t["epochs"]) for t in run["trials"])
        assert run["worker_s"] == pytest.approx(charged)
        for t in run["trials"]:
            assert (t["status"] == "pruned") == (t["epochs"] < 4)
            stopped_any |= t["status"] == "pruned"
        # the first trial at every rung goes on, and nothing stops the smallest, fastest network
        assert run["trials"][0]["status"] == "complete"
        assert next(t for t in run["trials"] if t["arch"] == "WRN-10-1")["status"] == "complete"
        assert set(run["front"]) <= {t["arch"] for t in run["trials"] if t["status"] == "complete"}
    assert stopped_any


def test_over_budget_proposals_are_not_launched(tmp_path):
    path = write_table(tmp_path / "t.json", extra_arch="WRN-40-4", max_params=1_000_000)
    table = load_table(path)
    proposed = 0
    for seed in range(4):
        run = replay(table, Method("random", "fifo"), seed=seed, trials=4, workers=2)
        assert run["launched"] == 4 and "WRN-40-4" not in {t["arch"] for t in run["trials"]}
        proposed += run["proposed"]
    assert proposed > 16  # the 8.9M-parameter WRN-40-4 was proposed, told infeasible, never trained


def test_bad_methods_and_tables_are_refused(tmp_path):
    with pytest.raises(RunError, match="unknown sampler 'foo'"):
        Method.parse("foo+fifo")
    with pytest.raises(RunError, match="unknown scheduler 'hyperband'"):
        Method.parse("tpe+hyperband")
    assert Method.parse("tpe") == Method("tpe", "fifo")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(RunError, match="bad.json: not a benchmark table"):
        load_table(tmp_path / "bad.json")
    with pytest.raises(RunError, match="no such table"):
        load_table(tmp_path / "none.json")


def test_cli_json_and_html(tmp_path):
    path = write_table(tmp_path / "t.json")
    html = tmp_path / "q.html"
    out = subprocess.run([sys.executable, "-m", "wrnsearch", "bench", "search", "--table", str(path), "--method",
                          "default", "--method", "random+fifo", "--seeds", "3", "--first-seed", "5", "--trials", "3",
                          "--format", "json", "--html", str(html), "--svg", str(tmp_path / "q.svg")],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["seeds"] == [5, 6, 7] and result["workers"] == 2
    assert 0 < result["hv_true"] <= 1.1 ** 3
    assert set(result["methods"]) == {f"default ({Method.parse('default').name})", "random+fifo"}
    for method in result["methods"].values():
        assert len(method["seeds"]) == 3
        for seed in method["seeds"]:
            assert set(seed["hv_at_trials"]) == {"1", "2", "3"}
            assert all(0 <= hv <= result["hv_true"] + 1e-9 for hv in seed["hv_at_trials"].values())
            ws = [w for w, _ in seed["hv_at_compute"]]
            assert ws == sorted(ws) and len(ws) == 3
            assert set(seed["front"]) <= set(ARCHS)
    # the statistics: per method a median within its bootstrap interval, and the first method paired with
    # the second on the same seeds
    assert result["architectures"] // 4 == 1  # N = 1 trial, 2N = 2
    for name, row in result["summary"].items():
        for mark, k in (("N", "1"), ("2N", "2")):
            values = sorted(seed["hv_at_trials"][k] for seed in result["methods"][name]["seeds"])
            median = row[f"hv@{mark}"]["median"]
            assert median["value"] == values[1]
            assert values[0] <= median["low"] <= values[1] <= median["high"] <= values[2]
            assert row[f"hv@{mark}"]["quartiles"][1] == values[1]
    (pair,) = result["paired"]
    assert pair["a"].startswith("default") and pair["b"] == "random+fifo"
    for key in ("a@N>=b@N", "a@C>=b@2C"):
        share = pair[key]
        assert share is None or 0 <= share["low"] <= share["value"] <= share["high"] <= 1
    assert "bootstrap" in result["interval"]
    page = html.read_text()
    assert "plotly" in page and "hypervolume vs worker-seconds" in page and "random+fifo" in page
    import xml.etree.ElementTree as ET

    svg = ET.parse(tmp_path / "q.svg").getroot()  # well-formed, two panels, a curve per method and panel
    lines = svg.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 2 * len(result["methods"])
    bad = subprocess.run([sys.executable, "-m", "wrnsearch", "bench", "search", "--table", str(path), "--method",
                          "foo"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown sampler 'foo'" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_a_compute_budget_stops_launching(tmp_path):
    from wrnsearch.bench import compute_budget

    table = load_table(write_table(tmp_path / "t.json"))
    assert table.full_compute_s() == 40.0  # 4 epochs of 1 + 2 + 3 + 4 s
    assert compute_budget("2C", table) == 20.0 and compute_budget("C", table) == 10.0
    assert compute_budget("15", table) == 15.0
    with pytest.raises(RunError, match="--compute 2X"):
        compute_budget("2X", table)
    for seed in range(4):
        run = replay(table, Method("random", "fifo"), seed=seed, trials=4, workers=1, compute_s=20.0)
        spent = [t["worker_s"] for t in run["trials"]]
        assert all(w < 20.0 for w in spent[:-1])  # each launch happened below the budget
        assert spent[-1] >= 20.0 or run["launched"] == 4


def write_two_seed_table(path: Path) -> Path:
    """ARCHS trained with a second seed. WRN-10-1 ends at 50 with both seeds; WRN-16-1 at 45 with
    the first and 65 with the second (mean 55): on the first seed's front (nothing smaller is
    better), off the mean's (WRN-10-1 is smaller, faster and better)."""
    write_table(path)
    data = json.loads(path.read_text())
    second = {"WRN-10-1": [80, 70, 60, 50], "WRN-10-2": [85, 65, 55, 45], "WRN-16-1": [90, 80, 70, 65],
              "WRN-16-2": [88, 60, 50, 40]}
    for a in data["architectures"]:
        if a["arch"] == "WRN-16-1":
            a["val_error"] = [90, 70, 50, 45]
        a["repeats"] = [{"seed": 1, "val_error": second[a["arch"]], "test_error": second[a["arch"]][-1]}]
    path.write_text(json.dumps(data))
    return path


def test_a_two_seed_table_is_judged_on_the_mean_and_searched_on_one_seed(tmp_path):
    path = write_two_seed_table(tmp_path / "t.json")
    table = load_table(path)
    assert table.truth == "mean" and table.seeds_per_architecture == 2
    assert table.final_error("WRN-16-1") == 55.0 and table.final_error("WRN-10-1") == 50.0
    assert load_table(path, "first").final_error("WRN-16-1") == 45.0
    mean = bench_search(path, ["random+fifo"], seeds=12, trials=4, workers=1)
    first = bench_search(path, ["random+fifo"], seeds=1, trials=4, workers=1, truth="first")
    assert mean["truth"] == "mean" and first["truth"] == "first"
    assert "WRN-16-1" not in mean["true_front"] and "WRN-16-1" in first["true_front"]
    seen: set[float] = set()
    for run in mean["methods"]["random+fifo"]["seeds"]:
        # what each trial showed the search is the curve drawn for it, one seed's, the same on every call
        for t in run["trials"]:
            assert t["val_error"] == table.observed(t["arch"], run["seed"])["val_error"][-1]
            assert table.observed(t["arch"], run["seed"]) == table.observed(t["arch"], run["seed"])
            if t["arch"] == "WRN-16-1":
                seen.add(t["val_error"])
        assert "WRN-16-1" not in run["front"]  # found by every run (4 trials), judged on its mean
    assert seen == {45, 65}  # over 12 seeds, both seeds' curves were drawn
    for run in first["methods"]["random+fifo"]["seeds"]:
        assert {t["val_error"] for t in run["trials"] if t["arch"] == "WRN-16-1"} == {45}


def test_a_single_seed_table_cannot_be_judged_on_a_mean(tmp_path):
    path = write_table(tmp_path / "t.json")
    assert load_table(path).truth == "first"
    with pytest.raises(RunError, match=r"--truth mean: .*t\.json has a single seed .*--repeats 4"):
        load_table(path, "mean")
    out = subprocess.run([sys.executable, "-m", "wrnsearch", "bench", "search", "--table", str(path), "--method",
                          "random+fifo", "--truth", "mean"], capture_output=True, text=True)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "--repeats 4" in out.stderr
    data = json.loads(write_two_seed_table(tmp_path / "u.json").read_text())
    data["architectures"][0]["repeats"][0]["val_error"] = [50]  # one epoch of four
    (tmp_path / "u.json").write_text(json.dumps(data))
    with pytest.raises(RunError, match=r"u\.json: not a benchmark table .*a repeat of 1 epochs, not 4"):
        load_table(tmp_path / "u.json")
