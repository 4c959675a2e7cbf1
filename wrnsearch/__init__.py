"""wrnsearch: search the Wide Residual Network design space for error/size/speed trade-offs.

Public names of the leaves are re-exported here, and the Python API of a search:
:func:`run` (a search, as ``wrnsearch run`` runs it), :func:`open_run` (an existing run),
:class:`SearchRun` (what both return: the study, the front as rows, the report), and ``plan(space)``
(the :mod:`wrnsearch.plan` package, called: the forecast before any trial).

The package has one subpackage per stage of the data flow (space, study, pareto, search, report,
cluster, bench, cli; docs/architecture.md). Names that need torch, Optuna or Ray are imported
lazily, so ``import wrnsearch`` stays cheap for the arithmetic parts.

Example:
    >>> import wrnsearch
    >>> wrnsearch.parse_name("WRN-28-10").widen_factor
    10
"""

from __future__ import annotations

import importlib
from typing import Any

from wrnsearch.cost import Cost, model_cost
from wrnsearch.errors import DataError, RunError, SpaceError, SpecError, WRNSearchError
from wrnsearch.spec import WRNSpec, parse_name

__version__ = "0.1.0"

__all__ = [
    "Cost", "DataError", "RunError", "SearchRun", "SpaceError", "SpecError", "WRNSearchError", "WRNSpec",
    "WideResNet", "__version__", "build_model", "model_cost", "open_run", "parse_name", "plan", "run",
]

_LAZY = {"WideResNet": "model", "build_model": "model", "run": "api", "open_run": "api", "SearchRun": "api"}


def __getattr__(name: str) -> Any:
    # by module name, not an import statement: the API sits on the top layers (docs/architecture.md)
    if name == "plan":
        return importlib.import_module("wrnsearch.plan")
    if name in _LAZY:
        value = getattr(importlib.import_module(f"wrnsearch.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'wrnsearch' has no attribute {name!r}")
