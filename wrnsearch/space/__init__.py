"""Search spaces: the YAML language, its validation, and the architectures a space holds.

- :mod:`~wrnsearch.space._dims`: a dimension (fixed value, choices, range) and its types;
- :mod:`~wrnsearch.space._schema`: the sections of a space file as frozen pydantic models;
- :mod:`~wrnsearch.space._loader`: reading a file with ``--set`` overrides and located errors;
- :mod:`~wrnsearch.space._architectures`: the specs a space holds, in a stable order;
- :mod:`~wrnsearch.space._budget`: costs against the budgets, and impossible spaces.

What a sampler needs of a space (its name, defaults, a finite space) is its entry in
:mod:`wrnsearch.sampler_registry`, a leaf below this package.

No torch, Ray or Optuna here: the Optuna side of a space is :mod:`wrnsearch.samplers`.
"""

from __future__ import annotations

from wrnsearch.space._architectures import (
    depth_param,
    depths_for,
    iter_specs,
    outside_space,
    params_of,
    space_blocks,
    space_size,
    spec_from_params,
    with_dataset,
)
from wrnsearch.space._budget import (
    budget_violations,
    constraint_values,
    count_specs,
    minimum_costs,
    sampler_problems,
    space_cost,
)
from wrnsearch.space._dims import Dim
from wrnsearch.space._loader import (
    as_space,
    drop_retired_keys,
    load_space,
    parse_space,
    space_from_data,
    training_space,
)
from wrnsearch.space._run_sections import SCHEDULERS, SearchConfig
from wrnsearch.space._schema import (
    OBJECTIVES,
    DatasetConfig,
    Space,
    SpaceDims,
    TrainConfig,
    drop_unused_keys,
    paper_recipe,
)

__all__ = [
    "DatasetConfig", "Dim", "OBJECTIVES", "SCHEDULERS", "SearchConfig", "Space", "SpaceDims", "TrainConfig",
    "budget_violations", "constraint_values", "count_specs", "depth_param", "depths_for", "drop_retired_keys",
    "as_space", "drop_unused_keys", "iter_specs", "load_space", "minimum_costs", "outside_space", "sampler_problems",
    "paper_recipe", "params_of", "parse_space", "space_blocks", "space_cost", "space_from_data", "space_size",
    "spec_from_params", "training_space", "with_dataset",
]
