"""Mirrors of a search for the tools people keep their runs in: TensorBoard and MLflow.

The study stays the record (:mod:`wrnsearch.study`); the search's driver copies each trial's
curve and outcome here as its reports arrive (:class:`Tracker`, made by :func:`open_tracker`), and
when the run ends publishes the search to MLflow's parent run: its space, front and hypervolume,
and the latencies timed alone on the trials' runs (:func:`publish_search`).
"""

from __future__ import annotations

from wrnsearch.tracking._mlflow import (
    FAILED,
    FINISHED,
    FRONT_ARTIFACT,
    KILLED,
    PARENT_ATTR,
    SPACE_ARTIFACT,
    SearchSummary,
    mlflow_status,
)
from wrnsearch.tracking._search_summary import ALONE_METRICS, publish_search, search_summary
from wrnsearch.tracking._tracker import EPOCH_SCALARS, TENSORBOARD_DIR, Tracker, check_tracking, open_tracker

__all__ = [
    "ALONE_METRICS", "EPOCH_SCALARS", "FAILED", "FINISHED", "FRONT_ARTIFACT", "KILLED", "PARENT_ATTR", "SPACE_ARTIFACT",
    "SearchSummary", "TENSORBOARD_DIR", "Tracker", "check_tracking", "mlflow_status", "open_tracker", "publish_search",
    "search_summary",
]
