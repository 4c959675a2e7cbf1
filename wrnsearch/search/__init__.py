"""The search: Optuna proposes, Ray Tune trains, the Optuna study keeps every result.

- :mod:`~wrnsearch.search.driver`: :func:`run_search`, the driver;
- :mod:`~wrnsearch.search.searcher`: the Tune searcher backed by the study (imports Ray);
- :mod:`~wrnsearch.search.trainable`: the worker's trainable;
- :mod:`~wrnsearch.search.decisions`: scheduling decisions as pure functions (no Ray);
- :mod:`~wrnsearch.search.connect`: starting or joining Ray, and Ray's errors in one line;
- :mod:`~wrnsearch.search.options`: what a run is asked for and what it reports.

Only this package knows Ray and Optuna together. Importing it imports nothing: a trial's worker
imports :mod:`~wrnsearch.search.trainable` through it and needs neither Optuna nor the driver.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EventCallback", "RunOptions", "RunProgress", "RunResult", "run_search"]


def __getattr__(name: str) -> Any:
    if name == "run_search":
        from wrnsearch.search.driver import run_search

        return run_search
    if name in ("EventCallback", "RunOptions", "RunProgress", "RunResult"):
        from wrnsearch.search import options

        return getattr(options, name)
    raise AttributeError(f"module 'wrnsearch.search' has no attribute {name!r}")
