"""The objectives, defined once (wrnsearch.objectives): the registry's entries agree with the record,
the space language and the study, ehvi's improvement holds in any number of objectives, and a
search over four objectives (error, params, latency_ms, memory_mb) runs end to end, its front in
pareto, the report, optuna-dashboard's figures and MLflow."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import random

import numpy as np
import pytest

from wrnsearch import objectives
from wrnsearch.dominance import exclusive_hypervolume, hypervolume
from wrnsearch.objectives import NAMES, OBJECTIVES, Kind
from wrnsearch.record import Attr, TrialRecord
from wrnsearch.samplers._ehvi import expected_improvement
from wrnsearch.space import OBJECTIVES as SPACE_OBJECTIVES


def test_every_objective_is_a_record_field_stored_under_its_attr():
    fields = {f.name for f in dataclasses.fields(TrialRecord)}
    stored = {v for k, v in vars(Attr).items() if k.isupper()}
    for o in OBJECTIVES.values():
        assert o.attr in fields and o.attr in stored, o.name
        assert o.direction == "minimize" and o.slug and o.column and o.measured
        assert not o.timed_alone or (o.device_bound and o.batch_setting), o.name  # timed again: on a device
    assert SPACE_OBJECTIVES == NAMES  # the space language lists exactly the registry's names
    assert [o.name for o in objectives.known(NAMES)] == ["params", "macs"]
    assert [o.name for o in objectives.predicted(NAMES)] == ["latency_ms", "latency_infer_ms", "memory_mb"]
    assert [o.name for o in objectives.retimed(NAMES)] == ["latency_ms", "latency_infer_ms"]
    assert OBJECTIVES["error"].kind == Kind.MEASURED
    with pytest.raises(KeyError, match="unknown objective 'energy'.*memory_mb"):
        objectives.get("energy")


def test_values_come_from_the_record_in_each_objective_unit():
    record = TrialRecord(name="WRN-10-1", val_error=40.0, params=78_000, macs=10**6, latency_ms=2.5,
                         peak_memory_bytes=768 * 2**20)
    names = ["error", "params", "macs", "latency_ms", "latency_infer_ms", "memory_mb"]
    assert objectives.record_values(record, names) == [40.0, 78_000.0, 1e6, 2.5, math.inf, 768.0]
    attrs = TrialRecord(**{**record.to_dict(), "val_error": None, "test_error": 7.5}).user_attrs()
    assert objectives.attrs_values(attrs, ["error", "memory_mb"]) == [7.5, 768.0]  # a retrain: the test error
    assert objectives.infeasible_values(names, {"params": 9e6, "macs": 3e9}) == [
        math.inf, 9e6, 3e9, math.inf, math.inf, math.inf]
    assert OBJECTIVES["latency_ms"].axis_title({"latency_batch": 64}) == "training-step latency (ms, batch 64)"
    assert OBJECTIVES["memory_mb"].axis_title() == "peak training memory (MiB)"


@pytest.mark.parametrize("m", [1, 2, 3])
def test_ehvi_improvement_is_the_exclusive_volume_in_any_number_of_objectives(m):
    """With a certain error (sigma -> 0) the expected improvement is the candidate's exclusive
    hypervolume in 1 + m dimensions, as the volume of the front with and without it says."""
    rng = random.Random(m)
    for _ in range(20):
        front = [tuple(rng.random() for _ in range(m + 1)) for _ in range(rng.randint(0, 6))]
        error, point = rng.random(), tuple(rng.random() for _ in range(m))
        ref = (1.1,) * (m + 1)
        got = expected_improvement(front, point, error, 1e-9, ref)
        candidate = np.array([error, *point])
        others = np.array(front, dtype=float).reshape(len(front), m + 1)
        without = hypervolume(others, ref) if front else 0.0
        assert got == pytest.approx(hypervolume(np.vstack([others, candidate]), ref) - without, abs=1e-9)
        assert got == pytest.approx(exclusive_hypervolume(candidate, others, np.array(ref)), abs=1e-9)


def test_the_two_dimensional_exclusive_area_holds_with_ties_duplicates_and_points_outside():
    """The 2-D case (ehvi's with three objectives) has a path of its own: on a coarse grid, where
    points tie, repeat, sit on the reference or beside the candidate, it is the volume the
    candidate adds to the others, as the general hypervolume says."""
    rng = random.Random(11)
    ref = np.array([1.0, 1.0])
    for _ in range(500):
        others = np.array([[rng.randint(0, 4) / 4, rng.randint(0, 4) / 4] for _ in range(rng.randint(0, 8))],
                          dtype=float).reshape(-1, 2)
        candidate = np.array([rng.randint(0, 3) / 4, rng.randint(0, 3) / 4])
        inside = others[(others < ref).all(axis=1)]
        without = hypervolume(inside, ref) if len(inside) else 0.0
        added = hypervolume(np.vstack([inside, candidate]), ref) - without
        assert exclusive_hypervolume(candidate, others, ref) == pytest.approx(added, abs=1e-12), (candidate, others)


# every objective that takes no accelerator: the memory too (the trial's own peak, in MiB)
FOUR = dict(objectives=["error", "params", "latency_ms", "memory_mb"], budget={"max_trials": 5}, train={"epochs": 1},
            search={"sampler": "ehvi", "seed": 3, "n_startup_trials": 2})


def _brute_front(points: dict[int, list[float]]) -> set[int]:
    def dominates(a, b):
        return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))

    return {n for n, p in points.items() if not any(dominates(q, p) for k, q in points.items() if k != n)}


def test_the_brute_force_front_keeps_what_nothing_dominates():
    assert _brute_front({0: [1, 1, 1, 1], 1: [2, 2, 2, 2], 2: [0, 3, 3, 3], 3: [0, 3, 3, 3]}) == {0, 2, 3}


@pytest.mark.slow
def test_a_search_over_four_objectives_runs_end_to_end(tmp_path, make_space, local_ray, mlflow, mlflow_uri):
    from optuna_dashboard._custom_plot_data import get_plotly_graph_objects

    from wrnsearch.pareto import format_front, front_rows
    from wrnsearch.report import render_report
    from wrnsearch.search import FRONT_ID, RunOptions, run_search
    from wrnsearch.study import counts_as_trained, load_study

    uri = mlflow_uri
    client = mlflow.MlflowClient(tracking_uri=uri)
    # the experiment the search finds, its artifacts under tmp_path (MLflow's default for a SQLite
    # store is ./mlruns of the working directory: the repository under pytest)
    client.create_experiment("four", artifact_location=(tmp_path / "mlartifacts").as_uri())
    space = make_space("four", tracking={"mlflow": {"uri": uri}}, **FOUR)
    result = run_search(space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2, measure_alone=False))
    study = load_study(storage=f"sqlite:///{result.run_dir / 'study.db'}", study_name="four")
    assert study.metric_names == ["error", "params", "latency_ms", "memory_mb"]
    trained = [t for t in study.trials if counts_as_trained(t)]
    assert len(trained) == 5
    for t in trained:  # the fourth value is the trial's own peak memory, in MiB
        a = t.user_attrs
        assert t.values == [a["val_error"], float(a["params"]), a["latency_ms"], a["peak_memory_bytes"] / 2**20]
        assert 20 < t.values[3] < 16_000

    # pareto: the front over all four is the brute-force one, with memory among its columns
    points = {t.number: t.values for t in trained}
    rows = front_rows(study)
    assert {r["trial"] for r in rows} == _brute_front(points)
    assert all(r["memory_mb"] == pytest.approx(points[r["trial"]][3]) for r in rows)
    assert "memory_mb" in next(csv.reader(format_front(rows, "csv").splitlines()))
    assert "memory MiB" in format_front(rows, "table").splitlines()[0]

    # the report: error against peak memory, titled with its unit, and the column in its tables
    report = render_report(study)
    assert 'id="plot-error-memory"' in report and "peak training memory (MiB)" in report
    assert ">memory MiB</th>" in report

    # optuna-dashboard's front figure: the error against each of the three other objectives
    attrs = study._storage.get_study_system_attrs(study._study_id)
    front = json.loads(get_plotly_graph_objects(attrs)[FRONT_ID])
    titles = [front["layout"][k]["title"]["text"] for k in sorted(front["layout"]) if k.startswith("xaxis")]
    assert titles == ["parameters", "training-step latency (ms)", "peak training memory (MiB)"]

    # MLflow: each trial's run carries its peak memory; the parent's front artifact lists it
    (experiment,) = [e for e in client.search_experiments() if e.name != "Default"]
    runs = client.search_runs([experiment.experiment_id])
    children = {r.info.run_name: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert sorted(children) == sorted(f"{t.number}-{t.user_attrs['arch']}" for t in trained)
    for t in trained:
        run = children[f"{t.number}-{t.user_attrs['arch']}"]
        assert run.data.metrics["memory_mb"] == pytest.approx(t.values[3])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    path = client.download_artifacts(parent.info.run_id, "pareto.csv", str(tmp_path))
    with open(path) as f:
        assert {int(r["trial"]) for r in csv.DictReader(f) if r.get("memory_mb")} == _brute_front(points)
