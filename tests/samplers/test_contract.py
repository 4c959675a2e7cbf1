"""The contract every registered sampler keeps, each run through the same tests (as Optuna's
tests/samplers_tests/test_samplers.py runs its samplers): built from a space by its entry's builder,
it proposes only architectures of the space, repeats itself for a seed, goes on through infeasible
and pruned trials and conditional parameters, and keeps quiet; a sampler that needs a finite space
refuses a continuous range, and an unknown name is refused, never replaced."""

from __future__ import annotations

import inspect
import re
import textwrap
import warnings

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import REPO
from wrnsearch.errors import SpaceError
from wrnsearch.sampler_registry import DEFAULT, FALLBACK, NAMES, SAMPLERS
from wrnsearch.samplers import builder_of, has_conditional_params, infeasible_values, make_sampler, propose
from wrnsearch.space import SearchConfig, Space, budget_violations, iter_specs, params_of, parse_space, space_cost
from wrnsearch.study import is_feasible, report_epochs

DOCS = REPO / "docs" / "spaces.md"

# 30 architectures, 12 of them within the budget; blocks of 3 convs realize only depth 22, so the
# depth of 2-conv blocks (depth_l2) is a parameter only when the block is one: a conditional one
SPACE = """\
name: contract
dataset: {name: synthetic}
space:
  depth: [10, 16, 22, 28]
  widen_factor: [1, 2, 4]
  block: ["B(3,3)", "B(3,1,3)"]
  dropout: [0.0, 0.3]
budget: {max_params: 1M}
search: {sampler: NAME, seed: 0, n_startup_trials: 3, population_size: 4}
"""
# dropout a continuous range: no finite list of architectures
CONTINUOUS = ("name: c\nspace: {depth: 16, widen_factor: [1, 2], dropout: {low: 0.0, high: 0.5}}\n"
              "search: {sampler: NAME}\n")

every_sampler = pytest.mark.parametrize("name", NAMES)


def _space(name: str, seed: int = 0, text: str = SPACE) -> Space:
    return parse_space(text.replace("NAME", name).replace("seed: 0", f"seed: {seed}"), source="contract.yaml")


def _error(spec) -> float:
    return 40.0 / (spec.widen_factor * spec.depth) ** 0.5 + 2 * spec.dropout  # wider and deeper: better


def _search(space: Space, n: int, *, storage: str | None = None, prune_every: int = 0,
            over_budget_first: int = 0) -> list:
    """``n`` ask/propose/tell rounds; infeasible proposals told ``inf`` as a search tells them, and
    every ``prune_every``-th feasible one pruned after two epochs' errors. The largest
    ``over_budget_first`` architectures are queued first (as ``search.enqueue`` or a warm start
    would), so that a sampler that proposes only feasible ones meets infeasible trials too."""
    study = optuna.create_study(storage=storage, study_name="contract", directions=space.directions,
                                sampler=make_sampler(space))
    largest = sorted(iter_specs(space), key=lambda s: space_cost(space, s).params) if over_budget_first else []
    for spec in largest[::-1][:over_budget_first]:
        study.enqueue_trial(params_of(space, spec))
    proposals = []
    for i in range(n):
        trial = study.ask()
        proposal = propose(study, trial, space)
        proposals.append(proposal)
        if not proposal.feasible:
            study.tell(trial, infeasible_values(space, proposal.cost))
        elif prune_every and i % prune_every == 0:
            report_epochs(study, trial, {1: _error(proposal.spec) + 10, 2: _error(proposal.spec) + 5})
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, [_error(proposal.spec), float(proposal.cost.params), proposal.cost.macs / 1e6])
    return proposals


@every_sampler
def test_the_builder_takes_the_seed_and_the_settings_its_entry_lists(name):
    entry = SAMPLERS[name]
    parameters = inspect.signature(builder_of(entry)).parameters
    assert list(parameters)[0] == "space"
    keywords = {p.name for p in parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert keywords == {"seed", *entry.settings}
    assert set(entry.settings) <= set(SearchConfig.model_fields)  # each a key of the search section


@every_sampler
def test_a_minimal_space_builds_it_and_its_start_up_count_is_filled(name):
    space = parse_space(f"name: m\nspace: {{depth: 10, widen_factor: [1, 2]}}\nsearch: {{sampler: {name}}}\n",
                        source="m.yaml")
    assert space.search.n_startup_trials == SAMPLERS[name].n_startup_trials
    assert space.to_yaml_dict()["search"]["n_startup_trials"] == SAMPLERS[name].n_startup_trials
    assert isinstance(make_sampler(space), optuna.samplers.BaseSampler)
    assert {p.spec.name for p in _search(space, 4)} <= {"WRN-10-1", "WRN-10-2"}


@every_sampler
def test_it_proposes_only_architectures_of_the_space_and_goes_on_through_infeasible_ones(tmp_path, name):
    space = _space(name)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning escapes building or proposing: the filters are scoped
        proposals = _search(space, 14, storage=storage, over_budget_first=2)
    inside = set(iter_specs(space))
    assert all(p.spec in inside for p in proposals)
    assert all(p.feasible == (not budget_violations(space, space_cost(space, p.spec))) for p in proposals)
    trials = optuna.load_study(study_name="contract", storage=storage).get_trials(deepcopy=False)
    assert len(trials) == 14 and all(t.state == TrialState.COMPLETE for t in trials)
    told_inf = [t for t in trials if not is_feasible(t)]
    assert len(told_inf) >= 2 and not proposals[0].feasible and not proposals[1].feasible
    assert all(t.values[0] == float("inf") for t in told_inf)
    assert any(is_feasible(t) for t in trials)


@every_sampler
def test_a_seed_repeats_its_first_proposals_and_another_seed_does_not(name):
    first = [p.spec.name for p in _search(_space(name, seed=0), 8)]
    assert [p.spec.name for p in _search(_space(name, seed=0), 8)] == first
    assert [p.spec.name for p in _search(_space(name, seed=1), 8)] != first


@every_sampler
def test_it_survives_pruned_trials(tmp_path, name):
    space = _space(name)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    proposals = _search(space, 12, storage=storage, prune_every=2)
    inside = set(iter_specs(space))
    assert len(proposals) == 12 and all(p.spec in inside for p in proposals)
    pruned = optuna.load_study(study_name="contract", storage=storage).get_trials(states=(TrialState.PRUNED,))
    assert len(pruned) >= 2 and all(t.intermediate_values for t in pruned)


@every_sampler
def test_it_proposes_on_both_branches_of_a_conditional_parameter(name):
    space = _space(name)
    assert has_conditional_params(space)
    convs = {len(p.spec.kernels) for p in _search(space, 12)}
    assert convs == {2, 3}  # B(3,3), whose depth is a parameter, and B(3,1,3), whose depth is fixed


@pytest.mark.parametrize("name", [n for n in NAMES if SAMPLERS[n].exhaustive])
@pytest.mark.parametrize("conditional", [False, True])
def test_an_exhaustive_sampler_visits_every_architecture_once(name, conditional):
    text = SPACE if conditional else SPACE.replace('["B(3,3)", "B(3,1,3)"]', '["B(3,3)", "B(3,1)"]')
    space = _space(name, text=text)
    every = sorted(s.name for s in iter_specs(space))
    assert has_conditional_params(space) == conditional
    assert sorted(p.spec.name for p in _search(space, len(every))) == every


@pytest.mark.parametrize("name", NAMES)
def test_a_continuous_range_is_refused_at_load_by_a_sampler_that_needs_a_finite_space(name):
    text = CONTINUOUS.replace("NAME", name)
    if not SAMPLERS[name].finite_space:
        assert {len(p.spec.kernels) for p in _search(parse_space(text, source="c.yaml"), 3)} == {2}
        return
    message = (f"c.yaml:3:10: search.sampler: {name} needs a finite space, but space.dropout is a continuous "
               "range: give it a step or a list")
    with pytest.raises(SpaceError, match=re.escape(message)):
        parse_space(text, source="c.yaml")
    other = parse_space(text.replace(name, FALLBACK), source="c.yaml")
    bypassed = other.model_copy(update={"search": other.search.model_copy(update={"sampler": name})})
    with pytest.raises(SpaceError, match=re.escape(f"c.yaml: search.sampler: {name} needs a finite space")):
        make_sampler(bypassed)  # and by the factory, for a space that skipped the loader's checks


def test_an_unknown_name_is_refused_at_load_and_by_the_factory_never_replaced():
    with pytest.raises(SpaceError) as refused:
        parse_space(SPACE.replace("NAME", "genetic"), source="contract.yaml")
    assert str(refused.value).startswith("contract.yaml:9:10: search.sampler: 'genetic' is not allowed")
    assert all(f"'{n}'" in str(refused.value) for n in NAMES)
    space = _space("random")
    unknown = space.model_copy(update={"search": space.search.model_copy(update={"sampler": "genetic"})})
    with pytest.raises(SpaceError) as built:
        make_sampler(unknown)
    names = ", ".join(NAMES)
    assert str(built.value) == f"contract.yaml: search.sampler: unknown sampler 'genetic': choose from {names}"


def test_a_space_naming_no_sampler_gets_the_default_where_it_takes_the_space_else_the_fallback():
    finite = parse_space("name: f\nspace: {depth: 16, widen_factor: [1, 2]}\n", source="f.yaml")
    continuous = parse_space("name: f\nspace: {depth: 16, widen_factor: {low: 1, high: 8}, "
                             "dropout: {low: 0, high: 0.5}}\n", source="f.yaml")
    assert (finite.search.sampler, finite.search.n_startup_trials) == (DEFAULT, SAMPLERS[DEFAULT].n_startup_trials)
    assert (continuous.search.sampler, continuous.search.n_startup_trials) == (
        FALLBACK, SAMPLERS[FALLBACK].n_startup_trials)
    limit = SAMPLERS[DEFAULT].max_architectures
    assert SAMPLERS[DEFAULT].takes(limit) and not SAMPLERS[DEFAULT].takes(limit + 1)


def test_the_space_reference_names_every_registered_sampler():
    line = next(ln for ln in DOCS.read_text().splitlines() if ln.strip().startswith("sampler:"))
    listed = textwrap.dedent(line.split("#", 1)[1]).split("|")
    assert sorted(s.strip() for s in listed) == sorted(NAMES)


def test_grid_on_continuous_space_is_refused():
    from wrnsearch.errors import SpaceError

    text = "name: c\nspace: {depth: 16, widen_factor: 2, dropout: {low: 0.0, high: 0.5}}\nsearch: {sampler: grid}\n"
    message = "c.yaml:3:10: search.sampler: grid needs a finite space, but space.dropout is a continuous range"
    with pytest.raises(SpaceError, match=message):
        parse_space(text, source="c.yaml")  # caught when the file loads
    tpe = parse_space(text.replace("grid", "tpe"), source="c.yaml")
    space = tpe.model_copy(update={"search": tpe.search.model_copy(update={"sampler": "grid"})})
    with pytest.raises(SpaceError, match="needs a finite space, but space.dropout is a continuous range"):
        make_sampler(space)  # and by the sampler factory itself
