"""Fronts and hypervolume, against brute force and against Optuna's own ``best_trials``, on
studies as a search writes them (tests/studies.py)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sqlite3

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from tests.conftest import REPO
from tests.studies import CPU, GPU, make_study
from wrnsearch.errors import RunError
from wrnsearch.pareto import (
    FRONT_COLUMNS,
    OBJECTIVE_ATTRS,
    REFERENCE_POINT,
    Bounds,
    eligible_trials,
    format_front,
    front_info,
    front_rows,
    hypervolume,
    hypervolume_history,
    non_dominated_mask,
    non_dominated_ranks,
    normalization_bounds,
    normalize,
)
from wrnsearch.record import Attr
from wrnsearch.samplers import CONSTRAINT_KEYS
from wrnsearch.space import OBJECTIVES
from wrnsearch.study import load_study

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

# --------------------------------------------------------------------------------------------
# Brute force


def _dominates(a, b, directions) -> bool:
    no_worse = all((x <= y) if d == "minimize" else (x >= y) for x, y, d in zip(a, b, directions))
    better = any((x < y) if d == "minimize" else (x > y) for x, y, d in zip(a, b, directions))
    return no_worse and better


def _brute_front(points, directions) -> list[bool]:
    return [not any(_dominates(q, p, directions) for q in points) for p in points]


def _brute_ranks(points, directions) -> list[int]:
    ranks = [-1] * len(points)
    remaining = set(range(len(points)))
    rank = 0
    while remaining:
        front = {i for i in remaining if not any(_dominates(points[j], points[i], directions) for j in remaining)}
        for i in front:
            ranks[i] = rank
        remaining -= front
        rank += 1
    return ranks


def _grid_hypervolume(points, reference) -> int:
    """Unit cells of the integer grid [0, reference) dominated by some point: exact for integers."""
    m = len(reference)
    axes = np.meshgrid(*[np.arange(r) for r in reference], indexing="ij")
    cells = np.stack([a.ravel() for a in axes], axis=1)  # lower corner of each unit cell
    covered = np.zeros(len(cells), dtype=bool)
    for p in points:
        covered |= (cells >= np.asarray(p)).all(axis=1)
    assert cells.shape[1] == m
    return int(covered.sum())


# --------------------------------------------------------------------------------------------
# Dominance


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_front_and_ranks_match_brute_force_with_mixed_directions_and_ties(m):
    rng = np.random.default_rng(m)
    for case in range(40):
        n = int(rng.integers(0, 40))
        points = rng.integers(0, 5, size=(n, m)).astype(float)  # few values: many ties and duplicates
        directions = [str(d) for d in rng.choice(["minimize", "maximize"], size=m)]
        as_lists = points.tolist()
        assert non_dominated_mask(points, directions).tolist() == _brute_front(as_lists, directions), case
        assert non_dominated_ranks(points, directions).tolist() == _brute_ranks(as_lists, directions), case


def test_duplicates_share_the_front_and_infinite_values_rank_last():
    points = [[1, 5], [1, 5], [2, 2], [math.inf, 0], [3, math.inf], [2, 2]]
    assert non_dominated_mask(points).tolist() == [True, True, True, True, False, True]
    assert non_dominated_ranks(points).tolist() == [0, 0, 0, 0, 1, 0]
    assert non_dominated_mask(points, ["maximize", "minimize"]).tolist() == [False, False, False, True, False, False]


def test_large_front_in_chunks_matches_ranks():
    rng = np.random.default_rng(7)
    points = rng.random((1500, 3))
    assert np.array_equal(non_dominated_mask(points), non_dominated_ranks(points) == 0)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        non_dominated_mask([[1, math.nan]])
    with pytest.raises(ValueError, match="direction"):
        non_dominated_mask([[1, 2]], ["minimize", "up"])
    with pytest.raises(ValueError, match="2 directions for 3"):
        non_dominated_ranks([[1, 2, 3]], ["minimize", "minimize"])


# --------------------------------------------------------------------------------------------
# Hypervolume


def test_hypervolume_known_values():
    assert hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4]) == 6.0
    assert hypervolume([[0, 0, 0]], 1) == 1.0
    assert hypervolume([[0.5, 0.5]], [1.1, 1.1]) == pytest.approx(0.36)
    # two boxes 2x1x2 and 1x2x2 overlapping in a 1x1x2 column; the third point is dominated
    assert hypervolume([[0, 1, 0], [1, 0, 0], [1, 1, 1]], [2, 2, 2]) == 6.0
    # three 2x1x1 slabs, each pair and all three meeting in the cube [1,2]^3: 6 - 3 + 1
    assert hypervolume([[0, 1, 1], [1, 0, 1], [1, 1, 0]], [2, 2, 2]) == 4.0
    assert hypervolume([[1, 1, 1], [0, 0, 0]], [2, 2, 2]) == 8.0  # a dominated point adds nothing
    assert hypervolume([[3]], [5]) == 2.0
    assert hypervolume(np.zeros((0, 2)), [1, 1]) == 0.0
    assert hypervolume([[1, 5], [5, 1], [2, 2]], [4, 4]) == 4.0  # points on or beyond the reference add nothing


@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_equals_grid_count_on_integer_points(m):
    rng = np.random.default_rng(10 + m)
    for case in range(60):
        reference = rng.integers(1, 9, size=m)
        n = int(rng.integers(0, 12))
        points = rng.integers(0, 10, size=(n, m))  # some beyond the reference, many ties
        assert hypervolume(points, reference) == _grid_hypervolume(points, reference), case


def test_hypervolume_four_objectives_equals_grid_count():
    rng = np.random.default_rng(4)
    for case in range(10):
        points = rng.integers(0, 5, size=(int(rng.integers(1, 8)), 4))
        assert hypervolume(points, [5, 5, 5, 5]) == _grid_hypervolume(points, [5, 5, 5, 5]), case


def test_hypervolume_agrees_with_optuna_on_real_points():
    wfg = pytest.importorskip("optuna._hypervolume")  # private, but an independent exact algorithm
    rng = np.random.default_rng(3)
    for m in (2, 3):
        for _ in range(10):
            points = rng.random((int(rng.integers(1, 60)), m))
            ours = hypervolume(points, REFERENCE_POINT)
            theirs = wfg.compute_hypervolume(points[non_dominated_mask(points)], np.full(m, REFERENCE_POINT))
            assert ours == pytest.approx(theirs, rel=1e-12)


def test_normalization_puts_best_at_zero_and_worst_at_one_in_either_direction():
    values = np.array([[10.0, 1e6, 5.0], [5.0, 4e6, 5.0], [7.5, 2e6, 5.0]])
    bounds = normalization_bounds(values, ["minimize", "maximize", "minimize"])
    assert bounds == Bounds(best=(5.0, 4e6, 5.0), worst=(10.0, 1e6, 5.0))
    assert normalize(values, bounds).tolist() == [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.5, 2 / 3, 0.0]]


# --------------------------------------------------------------------------------------------
# Studies


def test_objective_names_match_the_space_language():
    assert set(OBJECTIVE_ATTRS) == set(OBJECTIVES)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> optuna.Study:
    """One study for the tests that only read: 40 trained trials on two devices, every other state."""
    return make_study(tmp_path_factory.mktemp("pareto") / "study.db", n_complete=40, devices=(CPU, GPU), seed=2)


def test_front_equals_optunas_best_trials(study):
    info = front_info(study)
    ours = {n for n, on in zip(info.trial_numbers, info.on_front) if on}
    reused = [t for t in study.trials if "reused_from" in t.user_attrs]
    assert len(reused) == 1
    first = study.trials[reused[0].user_attrs["reused_from"]]
    assert list(first.values) == list(reused[0].values)
    # Optuna lists the copy beside its original; the front lists the architecture once
    assert ours == {t.number for t in study.best_trials} - {reused[0].number}
    assert reused[0].number not in info.trial_numbers and first.number in info.trial_numbers
    assert len(ours) >= 3


def test_only_complete_feasible_full_budget_trials_are_eligible(tmp_path):
    study = make_study(tmp_path / "study.db", n_complete=12, n_infeasible=3, n_pruned=3, n_failed=2, n_running=2)
    # edge cases a search should never write, each of which must stay out of the front
    good = eligible_trials(study)[0]
    edge = dict(good.user_attrs)
    base = dict(values=list(good.values), params=good.params, distributions=good.distributions,
                constraints=good.constraints)
    study.add_trial(create_trial(**base, user_attrs=edge | {"status": "truncated"}))
    study.add_trial(create_trial(**base, user_attrs=edge | {Attr.INFEASIBLE_REASON: "params over budget"}))
    study.add_trial(create_trial(**(base | {"constraints": {"max_params": 0.5}}), user_attrs=edge))
    study.add_trial(create_trial(**(base | {"values": [1.0, 1.0, math.inf]}), user_attrs=edge))
    study.add_trial(create_trial(**base, user_attrs=edge | {"reused_from": good.number}))
    eligible = eligible_trials(study)
    assert len(eligible) == 11  # 12 trained, one of which is a reused copy
    for t in eligible:
        assert t.state == TrialState.COMPLETE and t.user_attrs["status"] == "complete"
        assert all(v <= 0 for v in t.constraints.values()) and all(math.isfinite(v) for v in t.values)
    assert set(CONSTRAINT_KEYS) == set(eligible[0].constraints)
    # the pruned trials' val_error of 1.0 beats every trained one, yet they stay out
    assert min(t.user_attrs["val_error"] for t in eligible) > 1.0


@pytest.mark.parametrize("objectives", ["error,params", "params,latency_ms", "error,macs",
                                        "error,params,latency_ms,macs", "latency_ms", "error,params,latency_infer_ms",
                                        "latency_ms,latency_infer_ms"])
def test_front_over_a_subset_of_objectives_matches_brute_force(study, objectives):
    chosen = objectives.split(",")
    trials = eligible_trials(study, chosen)
    points = [[float(t.user_attrs[OBJECTIVE_ATTRS[o]]) for o in chosen] for t in trials]
    expected = {t.number for t, on in zip(trials, _brute_front(points, ["minimize"] * len(chosen))) if on}
    rows = front_rows(study, objectives)
    assert {r["trial"] for r in rows} == expected
    # rows come best first in the first objective
    firsts = [r[chosen[0]] for r in rows]
    assert firsts == sorted(firsts)


def test_unknown_objective_is_a_run_error(study):
    with pytest.raises(RunError, match="unknown objective 'accuracy'"):
        front_info(study, "error,accuracy")
    with pytest.raises(RunError, match="twice"):
        front_info(study, ["params", "params"])


def test_hypervolume_history_never_drops_and_ends_at_the_fronts_volume(study):
    info = front_info(study)
    history = hypervolume_history(study)
    assert history.trial_numbers.tolist() == sorted(t.number for t in study.trials)
    assert np.all(np.diff(history.hypervolume) >= 0)
    assert history.hypervolume[-1] == pytest.approx(info.hypervolume)
    assert np.array_equal(hypervolume_history(study, info=info).hypervolume, history.hypervolume)
    assert 0 < info.hypervolume <= REFERENCE_POINT ** 3
    # each step equals the volume of the trials up to it, computed from scratch with the same bounds
    points = normalize(info.values, info.bounds)
    for number, hv in zip(history.trial_numbers, history.hypervolume):
        prefix = points[np.asarray(info.trial_numbers) <= number]
        assert hv == pytest.approx(hypervolume(prefix, REFERENCE_POINT), abs=1e-12)


def test_two_objective_hypervolume_of_a_study_by_hand(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", study_name="hand",
                                directions=["minimize"] * 2)
    study.set_metric_names(["error", "params"])
    for error, params in [(10.0, 1e6), (5.0, 3e6), (8.0, 2e6), (9.0, 2.5e6)]:
        study.add_trial(create_trial(values=[error, params], user_attrs={"status": "complete", "arch": "WRN-10-1"}))
    info = front_info(study)
    assert info.bounds == Bounds(best=(5.0, 1e6), worst=(10.0, 3e6))
    # normalized front: (1, 0), (0, 1), (0.6, 0.5); reference 1.1: sweep by hand
    expected = (0.6 - 0.0) * (1.1 - 1.0) + (1.0 - 0.6) * (1.1 - 0.5) + (1.1 - 1.0) * (1.1 - 0.0)
    assert info.hypervolume == pytest.approx(expected)
    assert [info.trial_numbers[i] for i in info.front_indices] == [1, 2, 0]


def test_study_without_eligible_trials(tmp_path):
    study = make_study(tmp_path / "study.db", n_complete=0, n_running=3)
    info = front_info(study)
    assert info.trials == () and info.hypervolume is None and info.values.shape == (0, 3)
    assert hypervolume_history(study).hypervolume.tolist() == [0.0] * len(study.trials)
    empty = optuna.create_study(storage=f"sqlite:///{tmp_path / 'e.db'}", study_name="e", directions=["minimize"] * 2)
    empty.set_metric_names(["error", "params"])
    empty.ask()
    info = front_info(empty)
    assert info.trials == () and info.hypervolume is None and info.bounds is None
    assert hypervolume_history(empty).hypervolume.tolist() == [0.0]
    assert front_rows(empty) == []
    assert format_front([], "csv") == ",".join(FRONT_COLUMNS) + "\n"
    assert json.loads(format_front([], "json")) == []
    assert "no trial on the front" in format_front([], "table")


def test_front_rows_and_formats(study):
    rows = front_rows(study)
    assert rows and all(tuple(r) == FRONT_COLUMNS for r in rows)
    by_number = {t.number: t for t in study.trials}
    for row in rows:
        trial = by_number[row["trial"]]
        assert row["arch"] == trial.user_attrs["arch"]
        assert row["error"] == trial.values[0] == trial.user_attrs["val_error"]
        assert row["params"] == trial.user_attrs["params"] and isinstance(row["params"], int)
        assert row["test_error"] == trial.user_attrs["test_error"] and row["device"] == trial.user_attrs["device"]
        assert row["epochs"] == 3 and row["macs"] == trial.user_attrs["macs"]
        assert row["latency_infer_ms"] == trial.user_attrs["latency_infer_ms"]  # shown, though not optimized
    parsed = list(csv.DictReader(io.StringIO(format_front(rows, "csv"))))
    assert [int(r["trial"]) for r in parsed] == [r["trial"] for r in rows]
    assert [float(r["latency_ms"]) for r in parsed] == [r["latency_ms"] for r in rows]  # every digit kept
    assert json.loads(format_front(rows, "json")) == rows
    table = format_front(rows, "table").splitlines()
    assert table[0].split()[:3] == ["trial", "arch", "error"] and set(table[1]) <= {"-", " "}
    assert "latency ms  infer ms" in table[0]
    assert len(table) == len(rows) + 2
    assert all(r["arch"] in line for r, line in zip(rows, table[2:]))
    with pytest.raises(ValueError, match="xml"):
        format_front(rows, "xml")


# --------------------------------------------------------------------------------------------
# Opening a run


def test_load_study_from_a_run_directory_is_read_only(tmp_path):
    run = tmp_path / "runs" / "my run"  # a space in the path
    run.mkdir(parents=True)
    make_study(run / "study.db", n_complete=5, name="cifar-demo")
    before = (run / "study.db").read_bytes()
    study = load_study(run)
    assert study.study_name == "cifar-demo" and len(study.trials) == 5 + 3 + 3 + 2 + 2
    assert {r["trial"] for r in front_rows(study)}  # readable end to end
    with pytest.raises(Exception):  # noqa: B017 - any storage error: the connection is read-only
        study.set_user_attr("touched", True)
    assert (run / "study.db").read_bytes() == before
    assert sorted(os.listdir(run)) == ["study.db"]  # no journal or new file left behind


def test_load_study_by_storage_url_and_name(tmp_path):
    db = tmp_path / "two.db"
    make_study(db, n_complete=2, name="a")
    make_study(db, n_complete=3, name="b")
    with pytest.raises(RunError, match=r"2 studies \(a, b\): name one"):
        load_study(storage=f"sqlite:///{db}")
    assert len(load_study(storage=f"sqlite:///{db}", study_name="b").trials) == 3 + 3 + 3 + 2 + 2
    with pytest.raises(RunError, match="no study 'c'"):
        load_study(storage=f"sqlite:///{db}", study_name="c")


def test_load_study_errors_say_what_is_missing(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        load_study(tmp_path / "nowhere")
    with pytest.raises(RunError, match="holds no study.db"):
        load_study(tmp_path)
    with pytest.raises(RunError, match="no study database"):
        load_study(storage=f"sqlite:///{tmp_path / 'missing.db'}")
    assert not (tmp_path / "missing.db").exists()  # not created by the attempt
    with pytest.raises(RunError, match="one of them"):
        load_study()
    (tmp_path / "study.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(RunError, match="cannot read the study storage"):
        load_study(tmp_path)
    sqlite3.connect(tmp_path / "empty.db").execute("create table t (x int)").connection.commit()
    with pytest.raises(RunError):
        load_study(storage=f"sqlite:///{tmp_path / 'empty.db'}")


def test_no_plotting_or_torch_in_pareto():
    package = REPO / "wrnsearch" / "pareto"
    sources = sorted(package.glob("*.py"))
    assert len(sources) >= 4
    for path in sources:
        imports = [line.split()[1] for line in path.read_text().splitlines() if line.startswith(("import ", "from "))]
        assert not [m for m in imports if m.split(".")[0] in ("plotly", "torch", "ray", "matplotlib")], path.name


def test_every_brute_force_helper_can_fail():
    """The brute-force references disagree with a wrong answer (guards the oracles themselves)."""
    assert _brute_front([[1, 2], [2, 1], [2, 2]], ["minimize"] * 2) == [True, True, False]
    assert _brute_ranks([[1, 1], [2, 2], [3, 3]], ["minimize"] * 2) == [0, 1, 2]
    assert _grid_hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4]) == 6
