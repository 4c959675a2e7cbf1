"""The sampler contract, for every sampler the registry lists (wrnsearch.sampler_registry): its
entry resolves to a builder, its settings are keys of ``search``, a seed fixes its proposals, its
proposals are architectures of the space, and a name no entry has is refused where it is written."""

from __future__ import annotations

import pytest

from wrnsearch.errors import SpaceError
from wrnsearch.sampler_registry import NAMES, SAMPLERS, default_for
from wrnsearch.samplers import builder_of, sample_specs
from wrnsearch.space import SearchConfig, iter_specs, parse_space

SPACE = """\
name: contract
dataset: {{name: cifar10}}
space:
  depth: [10, 16]
  widen_factor: [1, 2, 4]
  block: ["B(3,3)", "B(3,1)"]
budget: {{max_params: 1M}}
search: {{sampler: {sampler}, seed: {seed}, n_startup_trials: 2, population_size: 4}}
"""


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_builds_reads_known_settings_and_is_seeded(name):
    entry = SAMPLERS[name]
    assert callable(builder_of(entry)) and entry.summary
    assert set(entry.settings) <= set(SearchConfig.model_fields), entry.settings
    space = parse_space(SPACE.format(sampler=name, seed=7))
    names = {s.name for s in iter_specs(space)}
    first = [r["name"] for r in sample_specs(space, 6)]
    assert set(first) <= names  # only architectures of the space
    assert [r["name"] for r in sample_specs(space, 6)] == first  # the same seed, the same proposals
    over = [r for r in sample_specs(space, 6) if r["params"] > 1_000_000]
    assert all(r["infeasible_reason"].startswith("params") for r in over)  # told as infeasible


def test_an_unknown_sampler_is_refused_at_its_key():
    with pytest.raises(SpaceError, match=r"search\.sampler.*'annealing'.*ehvi"):
        parse_space(SPACE.format(sampler="annealing", seed=1))


def test_the_default_sampler_is_ehvi_where_it_takes_the_space():
    assert default_for(12) == "ehvi" and default_for(float("inf")) == "tpe"
    assert parse_space(SPACE.replace("sampler: {sampler}, ", "").format(seed=1)).search.sampler == "ehvi"
