"""The trials of a study as points: which take part in a front, their values, ranks and hypervolume.

Only trials with a full result (:func:`wrnsearch.study.has_full_result`: trained for the whole
epoch budget, within every budget, by themselves, not copies) and a finite value of every chosen
objective take part. A trial's value of an objective the study optimized is its told value; one
the study did not optimize is read from its user attrs (``error`` from ``val_error``), which every
trained trial carries, so a front can be taken over any subset of the objectives (:mod:`wrnsearch.objectives`).

Latencies timed alone (:mod:`wrnsearch.search`, the study's ``latency_alone`` attribute,
per architecture and device) replace a trial's co-located figures of the objectives timed alone (the latencies)
wherever a front is computed or shown; the trial keeps its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from wrnsearch.dominance import (
    REFERENCE_POINT,
    Bounds,
    as_loss,
    exclusive_hypervolume,
    hypervolume,
    non_dominated_ranks,
    normalization_bounds,
    normalize,
)
from wrnsearch.errors import RunError
from wrnsearch.objectives import NAMES, OBJECTIVES
from wrnsearch.record import Attr
from wrnsearch.study import has_full_result

# objective -> the user attr that holds its raw figure on every trained trial
OBJECTIVE_ATTRS = {o.name: o.attr for o in OBJECTIVES.values()}
ALONE_ATTR = "latency_alone"  # study attr: {arch: {<each timed-alone objective>, "device", "measured_at"}}
LATENCIES = tuple(o.name for o in OBJECTIVES.values() if o.timed_alone)  # the figures timed alone
Alone = dict[str, dict[str, Any]]


def alone_figures(study: optuna.Study) -> Alone:
    """The latencies timed alone so far, per architecture (empty when none)."""
    figures = study.user_attrs.get(ALONE_ATTR)
    return figures if isinstance(figures, dict) else {}


def _alone_of(trial: FrozenTrial, alone: Alone | None) -> dict[str, Any] | None:
    """The figures timed alone for this trial's architecture on its device, if any."""
    if not alone:
        return None
    figures = alone.get(str(trial.user_attrs.get(Attr.ARCH)))
    if isinstance(figures, dict) and figures.get("device") == trial.user_attrs.get(Attr.DEVICE):
        return figures
    return None


def timed_alone(trial: FrozenTrial, alone: Alone | None) -> bool:
    """Whether the trial's latencies have been timed alone (its architecture, its device)."""
    return _alone_of(trial, alone) is not None


def study_objectives(study: optuna.Study) -> tuple[str, ...]:
    """The objectives a study optimized, in the order of ``trial.values``.

    Read from ``study.metric_names``, or else from the study's ``objectives`` user attr.

    Raises:
        RunError: when the study names no objectives (it was not made by wrnsearch).
    """
    names = study.metric_names
    if names is None:
        names = study.user_attrs.get("objectives")
    if not names or len(names) != len(study.directions):
        raise RunError(
            f"study {study.study_name!r} does not name its {len(study.directions)} objective(s) "
            "(no metric names set with study.set_metric_names): was it written by wrnsearch?"
        )
    return tuple(str(n) for n in names)


def parse_objectives(objectives: str | Sequence[str] | None, study: optuna.Study) -> tuple[str, ...]:
    """The chosen subset of objectives (``"error,params"`` or a list); the study's by default.

    Raises:
        RunError: naming the objective, when one is unknown or listed twice.
    """
    if objectives is None:
        return study_objectives(study)
    names = [s.strip() for s in objectives.split(",")] if isinstance(objectives, str) else [str(s) for s in objectives]
    names = [n for n in names if n]
    if not names:
        raise RunError("no objective given: choose from " + ", ".join(NAMES))
    for name in names:
        if name not in OBJECTIVES:
            raise RunError(f"unknown objective {name!r}: choose from " + ", ".join(NAMES))
    if len(set(names)) != len(names):
        raise RunError(f"an objective is listed twice in {','.join(names)!r}")
    return tuple(names)


def objective_directions(study: optuna.Study, objectives: Sequence[str]) -> tuple[str, ...]:
    """Each objective's direction in the study; ``minimize`` for one the study did not optimize."""
    try:
        optimized = study_objectives(study)
    except RunError:
        optimized = ()
    out = []
    for name in objectives:
        if name in optimized:
            direction = study.directions[optimized.index(name)]
            out.append("maximize" if direction == StudyDirection.MAXIMIZE else "minimize")
        else:
            out.append(OBJECTIVES[name].direction if name in OBJECTIVES else "minimize")
    return tuple(out)


def trial_figure(trial: FrozenTrial, key: str, optimized: Sequence[str] = (), alone: Alone | None = None) -> Any:
    """One figure of a trial: its latency timed alone where ``alone`` has it, else the told value
    of an optimized objective, else its user attr.

    ``key`` is an objective (its value read from the user attr that holds it: ``error`` from
    ``val_error``, ``memory_mb`` from ``peak_memory_bytes`` in MiB) or any user attr
    (``test_error``, ``device`` ...); None when the trial lacks it.
    """
    objective = OBJECTIVES.get(key)
    if objective is None:
        return trial.user_attrs.get(key)
    if objective.timed_alone:
        figures = _alone_of(trial, alone)
        if figures is not None and isinstance(figures.get(key), (int, float)):
            return figures[key]
    if key in optimized and trial.values is not None and len(trial.values) == len(optimized):
        return trial.values[list(optimized).index(key)]
    raw = trial.user_attrs.get(objective.attr)
    return raw if objective.scale == 1 else objective.value(raw)


def _float_or_nan(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def objective_values(trial: FrozenTrial, objectives: Sequence[str], optimized: Sequence[str] = (),
                     alone: Alone | None = None) -> list[float]:
    """The trial's value of each objective (NaN where it has none)."""
    return [_float_or_nan(trial_figure(trial, name, optimized, alone)) for name in objectives]


def is_eligible(trial: FrozenTrial, objectives: Sequence[str], optimized: Sequence[str] = (),
                alone: Alone | None = None) -> bool:
    """Trained for the full budget within every budget, with a finite value of every objective."""
    return has_full_result(trial) and all(math.isfinite(v)
                                          for v in objective_values(trial, objectives, optimized, alone))


def eligible_trials(study: optuna.Study, objectives: str | Sequence[str] | None = None) -> list[FrozenTrial]:
    """The trials that take part in the front over ``objectives``, by trial number."""
    chosen = parse_objectives(objectives, study)
    optimized = optimized_objectives(study)
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    alone = alone_figures(study)
    return sorted((t for t in trials if is_eligible(t, chosen, optimized, alone)), key=lambda t: t.number)


def optimized_objectives(study: optuna.Study) -> tuple[str, ...]:
    try:
        return study_objectives(study)
    except RunError:
        return ()


class FrontInfo(NamedTuple):
    """Every eligible trial of a study with its objective values and non-domination rank.

    Rows are eligible trials in trial-number order; ``values[i]`` belongs to ``trials[i]``.
    Computation only: :mod:`wrnsearch.report` draws it, :func:`front_rows` tabulates it.
    """

    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    trials: tuple[FrozenTrial, ...]
    trial_numbers: tuple[int, ...]
    names: tuple[str, ...]  # canonical architecture names (the ``arch`` user attr)
    values: np.ndarray  # (n, m) objective values, as told or recorded
    ranks: np.ndarray  # (n,) non-domination rank, 0 on the front
    bounds: Bounds | None  # normalization of the hypervolume; None without eligible trials
    hypervolume: float | None  # of the front, normalized, reference REFERENCE_POINT; None without trials
    alone: Alone  # latencies timed alone, which ``values`` use (see the module docstring)

    @property
    def on_front(self) -> np.ndarray:
        """Boolean mask of the front's rows."""
        return self.ranks == 0

    @property
    def front_indices(self) -> list[int]:
        """Rows on the front, best first in the first objective, then the next, then by trial."""
        rows = np.flatnonzero(self.on_front)
        loss = as_loss(self.values[rows], self.directions) if len(rows) else np.zeros((0, 0))
        keys = [np.asarray(self.trial_numbers)[rows]] + [loss[:, j] for j in reversed(range(loss.shape[1]))]
        return [int(rows[i]) for i in np.lexsort(keys)] if len(rows) else []

    @property
    def front_trials(self) -> list[FrozenTrial]:
        """The front's trials, in :attr:`front_indices` order."""
        return [self.trials[i] for i in self.front_indices]


def front_info(
    study: optuna.Study, objectives: str | Sequence[str] | None = None, *, bounds: Bounds | None = None
) -> FrontInfo:
    """Eligible trials, their ranks and the front's normalized hypervolume over ``objectives``.

    Args:
        study: the search's study.
        objectives: a subset such as ``"error,params"`` or ``["error", "latency_ms"]``; the
            study's own objectives by default.
        bounds: normalization of the hypervolume; by default from the eligible trials (see the
            module docstring).

    Raises:
        RunError: when an objective is unknown or the study names none.
    """
    chosen = parse_objectives(objectives, study)
    optimized = optimized_objectives(study)
    directions = objective_directions(study, chosen)
    trials = tuple(eligible_trials(study, chosen))
    alone = alone_figures(study)
    values = np.array([objective_values(t, chosen, optimized, alone) for t in trials], dtype=float)
    values = values.reshape(len(trials), len(chosen))
    ranks = non_dominated_ranks(values, directions)
    hv = None
    if trials:
        bounds = bounds or normalization_bounds(values, directions)
        front = normalize(values[ranks == 0], bounds)
        hv = hypervolume(front, REFERENCE_POINT)
    return FrontInfo(
        objectives=chosen,
        directions=directions,
        trials=trials,
        trial_numbers=tuple(t.number for t in trials),
        names=tuple(str(t.user_attrs.get(Attr.ARCH, f"trial {t.number}")) for t in trials),
        values=values,
        ranks=ranks,
        bounds=bounds,
        hypervolume=hv,
        alone=alone,
    )


class HypervolumeHistory(NamedTuple):
    """Normalized hypervolume of the front of trials ``0..trial_numbers[i]``, for every trial."""

    trial_numbers: np.ndarray  # every trial of the study, eligible or not, ascending
    hypervolume: np.ndarray  # after each of them; 0 before the first eligible trial
    bounds: Bounds | None


def hypervolume_history(
    study: optuna.Study,
    objectives: str | Sequence[str] | None = None,
    *,
    bounds: Bounds | None = None,
    info: FrontInfo | None = None,
) -> HypervolumeHistory:
    """Hypervolume after each trial number, with one normalization for all, so it never drops.

    Trials count by number (the order the search started them), whatever their state; only the
    eligible ones add to the front, each adding its exclusive contribution when it joins.

    Args:
        study: the search's study.
        objectives: as for :func:`front_info`.
        bounds: as for :func:`front_info`.
        info: a :func:`front_info` already computed (``objectives`` and ``bounds`` are then
            ignored); its last value equals ``info.hypervolume`` even if the study moved on since.
    """
    if info is None:
        info = front_info(study, objectives, bounds=bounds)
    numbers = np.array(sorted(t.number for t in study.get_trials(deepcopy=False)), dtype=int)
    history = np.zeros(len(numbers), dtype=float)
    if info.bounds is None:
        return HypervolumeHistory(numbers, history, None)
    # eligible trials as losses in normalized space (normalize already makes smaller better)
    points = normalize(info.values, info.bounds)
    row_of = {number: i for i, number in enumerate(info.trial_numbers)}
    ref = np.full(points.shape[1], REFERENCE_POINT)
    front = np.zeros((0, points.shape[1]))
    current = 0.0
    for k, number in enumerate(numbers):
        i = row_of.get(int(number))
        if i is not None:
            p = points[i]
            inside = bool((p < ref).all())  # always, unless explicit bounds leave p beyond the reference
            if inside and not (front <= p).all(axis=1).any():  # not weakly dominated: the volume grows
                current += exclusive_hypervolume(p, front, ref)
                front = np.vstack([front[~(p <= front).all(axis=1)], p])
        history[k] = current
    return HypervolumeHistory(numbers, history, info.bounds)
