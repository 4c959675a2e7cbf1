"""Search spaces: the YAML language, its validation, and the architectures a space holds.

- :mod:`~wrnsearch.space.dims`: a dimension (fixed value, choices, range) and its types;
- :mod:`~wrnsearch.space.schema`: the sections of a space file as frozen pydantic models;
- :mod:`~wrnsearch.space.loader`: reading a file with ``--set`` overrides and located errors;
- :mod:`~wrnsearch.space.architectures`: the specs a space holds, in a stable order;
- :mod:`~wrnsearch.space.budget`: costs against the budgets, and impossible spaces.

No torch, Ray or Optuna here: the Optuna side of a space is :mod:`wrnsearch.study.sampling`.
"""

from __future__ import annotations

from wrnsearch.space.architectures import (
    depth_param,
    depths_for,
    iter_specs,
    space_blocks,
    space_size,
    spec_from_params,
    with_dataset,
)
from wrnsearch.space.budget import budget_violations, constraint_values, count_specs, minimum_costs, space_cost
from wrnsearch.space.dims import Dim
from wrnsearch.space.loader import drop_retired_keys, load_space, parse_space, space_from_data, training_space
from wrnsearch.space.schema import (
    OBJECTIVES,
    SAMPLERS,
    SCHEDULERS,
    DatasetConfig,
    SearchConfig,
    Space,
    SpaceDims,
    TrainConfig,
    paper_recipe,
)

__all__ = [
    "OBJECTIVES", "SAMPLERS", "SCHEDULERS", "DatasetConfig", "Dim", "SearchConfig", "Space", "SpaceDims", "TrainConfig",
    "budget_violations", "constraint_values", "count_specs", "depth_param", "depths_for", "drop_retired_keys",
    "iter_specs", "load_space", "minimum_costs", "paper_recipe", "parse_space", "space_blocks", "space_cost",
    "space_from_data", "space_size", "spec_from_params", "training_space", "with_dataset",
]
