"""What MLflow's parent run holds about a search when a run ends: its space, its front, its hypervolume.

The trials' runs carry the curves as the search goes (:mod:`wrnsearch.tracking._tracker`); the
search itself is known only once it ends, and the front only after its latencies were timed
alone (:mod:`wrnsearch.search`). So the driver publishes, after both, from the study (the whole
study: a resumed search publishes the front of every session):

- params: the settings a run cannot change when resumed (``dataset``, ``objectives``, ``train``;
  ``train.epochs``, ``dataset.name`` ...), which is what MLflow's unchangeable params suit;
- metrics, at step = trials trained so far: ``hypervolume`` (normalized, as the report and the
  dashboard compute it: :func:`wrnsearch.pareto.front_info`) and ``front_size``;
- artifacts: ``space.yaml`` (the resolved space) and ``pareto.csv`` (the front, as the run
  directory's ``pareto.csv``);
- on each trial's run whose architecture was timed alone on its device: each objective timed
  alone under ``<name>_alone_<unit>`` (``latency_alone_ms``: :data:`ALONE_METRICS`), at the time
  they were timed.

``wrnsearch measure RUN_DIR`` publishes again after timing. Like every MLflow call, a failure is
warned about and never fails the run: the study keeps every result.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from pathlib import Path

import optuna
import yaml

from wrnsearch.errors import WRNSearchError
from wrnsearch.objectives import NAMES, retimed
from wrnsearch.pareto import alone_figures, format_front, front_info, front_rows, timed_alone
from wrnsearch.record import Attr
from wrnsearch.space import Space
from wrnsearch.study import counts_as_trained
from wrnsearch.tracking._mlflow import Figure, MlflowMirror, SearchSummary

log = logging.getLogger(__name__)

# a latency timed alone (the study's ``latency_alone`` figures) -> its metric on the trial's run
ALONE_METRICS = {o.name: o.name.removesuffix(f"_{o.unit}") + f"_alone_{o.unit}" for o in retimed(NAMES)}
PARAM_SECTIONS = ("dataset", "objectives", "train")  # those a resumed run keeps (wrnsearch.study.resolve_run)


def space_params(space: Space) -> dict[str, str]:
    """The settings of :data:`PARAM_SECTIONS` as MLflow params, ``train.lr: "0.05"`` (unset ones left out).

    Example:
        >>> from wrnsearch.space import load_space
        >>> space_params(load_space("spaces/quickstart.yaml"))["train.epochs"]
        '3'
    """
    resolved = space.to_yaml_dict()
    params = {}
    for section in PARAM_SECTIONS:
        value = resolved[section]
        items = value.items() if isinstance(value, dict) else [("", value)]
        for key, v in items:
            if v is not None:
                name = f"{section}.{key}" if key else section
                params[name] = ",".join(map(str, v)) if isinstance(v, list) else str(v)
    return params


def _alone_metrics(study: optuna.Study) -> dict[int, list[Figure]]:
    """Every trial whose architecture was timed alone on its device, and those figures as metrics."""
    alone = alone_figures(study)
    out: dict[int, list[Figure]] = {}
    if not alone:
        return out
    for t in study.get_trials(deepcopy=False):
        if not timed_alone(t, alone):
            continue
        figures = alone[t.user_attrs[Attr.ARCH]]
        at_ms = int(float(figures.get("measured_at") or 0) * 1000)
        step = int(t.user_attrs.get(Attr.EPOCHS) or 0)
        out[t.number] = [(metric, float(figures[key]), at_ms, step) for key, metric in ALONE_METRICS.items()
                         if isinstance(figures.get(key), (int, float)) and math.isfinite(figures[key])]
    return out


def search_summary(space: Space, study: optuna.Study) -> SearchSummary:
    """The summary of the search ``study`` holds (all its trials), as :func:`publish_search` sends it."""
    info = front_info(study)
    metrics = {"front_size": float(len(info.front_trials))}
    if info.hypervolume is not None:
        metrics["hypervolume"] = info.hypervolume
    return SearchSummary(
        params=space_params(space),
        metrics=metrics,
        trained=sum(1 for t in study.get_trials(deepcopy=False) if counts_as_trained(t)),
        space_yaml=yaml.safe_dump(space.to_yaml_dict(), sort_keys=False),  # as the run directory's space.yaml
        front_csv=format_front(front_rows(study), "csv"),
        alone=_alone_metrics(study),
    )


def publish_search(space: Space, study: optuna.Study, run_dir: Path) -> None:
    """Publish the search's summary to its MLflow parent run (see the module docstring), when the
    space asks for MLflow; waits for MLflow at most :data:`~wrnsearch.tracking._mlflow.MLFLOW_WAIT_S`
    twice. Nothing here fails the run: a failure is warned about."""
    if space.tracking.mlflow is None:
        return
    if importlib.util.find_spec("mlflow") is None:
        log.warning("the search's summary is not in MLflow: MLflow is not installed (pip install 'wrnsearch[mlflow]')")
        return
    try:
        summary = search_summary(space, study)
    except WRNSearchError as e:
        log.warning("the search's summary is not in MLflow: %s", e)
        return
    mirror = MlflowMirror.start(space, study, Path(run_dir), reopen=False)
    if mirror is not None:
        mirror.publish(summary)
        mirror.close(None, [])
