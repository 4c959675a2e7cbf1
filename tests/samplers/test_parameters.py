"""Every sampler yields valid specs; over-budget ones are stored as infeasible, never as results."""

from __future__ import annotations

import optuna
import pytest

from tests.spaces import exactly, space_data
from wrnsearch.record import Attr
from wrnsearch.sampler_registry import NAMES as SAMPLERS
from wrnsearch.samplers import CONSTRAINT_KEYS, infeasible_values, make_sampler, propose, search_distributions
from wrnsearch.space import budget_violations, iter_specs, space_cost, space_from_data
from wrnsearch.spec import WRNSpec
from wrnsearch.study import is_feasible

# CIFAR-10's WRNs with a continuous width, some over the budget and some within it
SAMPLING = space_data("sampling", dataset=exactly({"name": "cifar10"}),
                      space=exactly({"depth": [10, 16, 22, 28], "widen_factor": {"low": 1, "high": 8},
                                     "block": ["B(3,3)", "B(3,1,3)", "B(1,3)"], "dropout": [0.0, 0.3]}),
                      budget=exactly({"max_params": "3M", "max_macs": "600M"}), train=None, resources=None)


def _space(sampler: str):
    return space_from_data(space_data("sampling", base=SAMPLING, search=exactly(
        {"sampler": sampler, "seed": 3, "n_startup_trials": 4, "population_size": 6})))


def _objective_values(spec: WRNSpec, cost) -> list[float]:
    # a deterministic stand-in for training: wider/deeper is more accurate, bigger, slower
    error = 40.0 / (spec.widen_factor * spec.depth) ** 0.5 + 2 * spec.dropout
    return [error, float(cost.params), cost.macs / 1e7]


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_sampler_yields_valid_specs_and_records_infeasible(tmp_path, sampler):
    space = _space(sampler)
    all_specs = set(iter_specs(space))
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=storage, study_name="s", directions=space.directions,
                                sampler=make_sampler(space))
    n = 24
    for _ in range(n):
        trial = study.ask()
        proposal = propose(study, trial, space)
        assert proposal.spec in all_specs  # a valid spec of this space
        if proposal.feasible:
            study.tell(trial, _objective_values(proposal.spec, proposal.cost))
        else:
            study.tell(trial, infeasible_values(space, proposal.cost))

    # read back from the database, as a resumed search or the dashboard would
    stored = optuna.load_study(study_name="s", storage=storage)
    trials = stored.get_trials(deepcopy=False)
    assert len(trials) == n
    feasible = [t for t in trials if is_feasible(t)]
    infeasible = [t for t in trials if not is_feasible(t)]
    for t in feasible:
        assert t.user_attrs["params"] <= 3_000_000 and t.user_attrs["macs"] <= 600_000_000
        assert set(t.constraints) == set(CONSTRAINT_KEYS) and all(v <= 0 for v in t.constraints.values())
    for t in infeasible:
        assert t.user_attrs[Attr.INFEASIBLE_REASON].startswith(("params", "macs"))
        assert any(v > 0 for v in t.constraints.values())
        assert t.values[0] == float("inf")  # never trained: no error to report
    assert feasible, "no feasible spec in 24 draws"
    # Optuna's own front never contains an infeasible trial
    assert all(is_feasible(t) for t in stored.best_trials)


def test_the_space_has_both_kinds():
    space = _space("random")
    costs = [space_cost(space, s) for s in iter_specs(space)]
    assert any(budget_violations(space, c) for c in costs) and any(not budget_violations(space, c) for c in costs)


def test_constraint_aware_sampler_learns_the_budget(tmp_path):
    """With the budget constraint, TPE proposes in-budget specs far more often than random does."""
    rates = {}
    for sampler in ("random", "tpe"):
        space = _space(sampler)
        study = optuna.create_study(directions=space.directions, sampler=make_sampler(space))
        flags = []
        for _ in range(60):
            trial = study.ask()
            p = propose(study, trial, space)
            flags.append(p.feasible)
            if p.feasible:
                study.tell(trial, _objective_values(p.spec, p.cost))
            else:
                study.tell(trial, infeasible_values(space, p.cost))
        rates[sampler] = sum(flags[30:]) / 30
    assert rates["tpe"] > rates["random"], rates


def test_stable_parameter_names():
    space = _space("tpe")
    dists = search_distributions(space)
    # blocks of 3 convs realize only depth 22 here: a single value is no parameter
    assert set(dists) == {"block", "depth_l2", "widen_factor", "dropout"}
    assert dists["depth_l2"].low == 10 and dists["depth_l2"].high == 28 and dists["depth_l2"].step == 6
    assert dists["block"].choices == ("B(3,3)", "B(3,1,3)", "B(1,3)")


def test_grid_visits_every_architecture_once(tmp_path):
    space = space_from_data(space_data("g", dataset=None, space={"widen_factor": [1, 2, 4]}, budget=None, train=None,
                                       search=exactly({"sampler": "grid"}), resources=None))
    study = optuna.create_study(directions=space.directions, sampler=make_sampler(space))
    seen = []
    for _ in range(12):
        trial = study.ask()
        p = propose(study, trial, space)
        seen.append(p.spec)
        study.tell(trial, _objective_values(p.spec, p.cost))
    assert sorted(s.name for s in seen) == sorted(s.name for s in iter_specs(space))
