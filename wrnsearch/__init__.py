"""wrnsearch: search the Wide Residual Network design space for error/size/speed trade-offs.

Public names of the leaves are re-exported here. The package has one subpackage per stage of the
data flow (space, study, pareto, search, report, cluster, bench, cli; README.md, "Where things
live"). Names that need torch are imported lazily, so ``import wrnsearch`` stays cheap for the
arithmetic parts.
"""

from __future__ import annotations

from typing import Any

from wrnsearch.cost import Cost, model_cost
from wrnsearch.errors import DataError, RunError, SpaceError, SpecError, WRNSearchError
from wrnsearch.spec import WRNSpec, parse_name

__version__ = "0.1.0"

__all__ = [
    "Cost", "DataError", "RunError", "SpaceError", "SpecError", "WRNSearchError", "WRNSpec", "WideResNet",
    "__version__", "build_model", "model_cost", "parse_name",
]


def __getattr__(name: str) -> Any:
    if name in ("WideResNet", "build_model"):
        from wrnsearch import model

        return getattr(model, name)
    raise AttributeError(f"module 'wrnsearch' has no attribute {name!r}")
