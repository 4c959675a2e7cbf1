"""Mirrors of a search for the tools people keep their runs in: TensorBoard and MLflow.

The study stays the record (:mod:`wrnsearch.study`); the search's driver copies each trial's
curve and outcome here as its reports arrive (:class:`Tracker`, made by :func:`open_tracker`).
"""

from __future__ import annotations

from wrnsearch.tracking._mlflow import FAILED, FINISHED, KILLED, PARENT_ATTR, mlflow_status
from wrnsearch.tracking._tracker import EPOCH_SCALARS, TENSORBOARD_DIR, Tracker, check_tracking, open_tracker

__all__ = [
    "EPOCH_SCALARS", "FAILED", "FINISHED", "KILLED", "PARENT_ATTR", "TENSORBOARD_DIR", "Tracker", "check_tracking",
    "mlflow_status", "open_tracker",
]
