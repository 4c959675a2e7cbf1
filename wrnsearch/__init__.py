"""wrnsearch: search the Wide Residual Network design space for error/size/speed trade-offs.

Public names are re-exported here; the modules behind them are one per concern (spec, cost,
model, measure, space, data, train, search, pareto, report, cli). Names that need torch are
imported lazily, so ``import wrnsearch`` stays cheap for the arithmetic parts.
"""

from __future__ import annotations

from typing import Any

from wrnsearch.cost import Cost, model_cost
from wrnsearch.errors import DataError, RunError, SpaceError, SpecError, WRNSearchError
from wrnsearch.spec import WRNSpec, parse_name

__version__ = "0.1.0"

__all__ = [
    "Cost",
    "DataError",
    "RunError",
    "SpaceError",
    "SpecError",
    "WRNSearchError",
    "WRNSpec",
    "WideResNet",
    "__version__",
    "build_model",
    "model_cost",
    "parse_name",
]


def __getattr__(name: str) -> Any:
    if name in ("WideResNet", "build_model"):
        from wrnsearch import model

        return getattr(model, name)
    raise AttributeError(f"module 'wrnsearch' has no attribute {name!r}")
