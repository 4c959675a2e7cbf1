"""Pareto fronts and hypervolume of a study: which trials no other trial beats, and by how much.

Computation only: numpy, and Optuna to read the study. :mod:`wrnsearch.report` draws what this
module returns and the CLI prints it (as Optuna's ``_get_pareto_front_info`` computes and
``plot_pareto_front`` draws).

**Eligible trials.** Only architectures trained for the full epoch budget within every budget
take part in a front: Optuna state COMPLETE, feasible (every ``trial.constraints`` value <= 0 and
no ``infeasible_reason`` user attr), user attr ``status == "complete"``, and a finite value for
every chosen objective. Pruned, truncated, failed, running and over-budget trials never do, nor
do copies of an earlier result (``reused_from``: the same architecture and recipe proposed
again), which would only list the original twice.

**Objectives.** The four objectives are ``error`` (validation error, %), ``params``,
``latency_ms`` and ``macs``, all minimized. A trial's value of an objective the study optimized
is ``trial.values[i]``, ``i`` being the objective's place in ``study.metric_names``; one the study
did not optimize is read from the trial's user attrs (``error`` from ``val_error``), which every
trained trial carries. So a front can be taken over any subset, e.g. ``error,params`` of a
three-objective study.

**Dominance.** Trial *a* dominates *b* when *a* is no worse in every objective and strictly
better in at least one (worse meaning larger for ``minimize``, smaller for ``maximize``). The
front is the set of eligible trials no eligible trial dominates; equal points do not dominate
each other, so duplicates are on the front together (as in Optuna's ``study.best_trials``).
Non-dominated sorting gives each trial its rank: 0 on the front, *r* when the longest chain of
trials dominating it has *r* members (what peeling fronts off one by one gives).

**Hypervolume.** Objectives are normalized before the volume is taken, so that an error in
percent and a count of millions weigh alike:

- each objective ``v`` maps to ``(v - best) / (worst - best)``, where best and worst are the best
  and worst value among the eligible trials (min and max for ``minimize``, the other way round for
  ``maximize``): the best trial sits at 0, the worst at 1. An objective on which every eligible
  trial is equal maps to 0.
- the reference point is :data:`REFERENCE_POINT` (1.1) in every normalized coordinate, so the
  extreme trials of the front add volume too. The largest possible value is 1.1 ** m.

The bounds are fixed once per computation, from all eligible trials of the study, and the
history (:func:`hypervolume_history`) uses the same bounds for every prefix of the trials, so
hypervolume against trials never decreases. Values are comparable within one computation; a
later one, after the search found new extremes, has other bounds: pass ``bounds`` to compare.

Exact algorithms: two objectives by a sweep in O(n log n); three by slicing along the last
objective, each slab's cross section a two-objective sweep (O(n^2 log n)); four and more by WFG
(the volume as a sum of each point's exclusive contribution). The history adds the exclusive
contribution of each trial that joins the front.

Example:
    >>> non_dominated_mask([[1, 3], [2, 2], [3, 1], [3, 3]]).tolist()
    [True, True, True, False]
    >>> hypervolume([[1, 3], [2, 2], [3, 1]], reference=[4, 4])
    6.0
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from wrnsearch.cost import format_count
from wrnsearch.errors import RunError
from wrnsearch.sampling import is_feasible

logger = logging.getLogger(__name__)

# objective -> the user attr that holds it on every trained trial
OBJECTIVE_ATTRS = {"error": "val_error", "params": "params", "latency_ms": "latency_ms", "macs": "macs"}
REFERENCE_POINT = 1.1  # in every normalized coordinate, best = 0 and worst = 1
STUDY_DB = "study.db"  # the study's SQLite file in a run directory
FRONT_COLUMNS = ("trial", "arch", "error", "test_error", "params", "macs", "latency_ms", "device", "epochs")
FORMATS = ("table", "csv", "json")

_DIRECTIONS = ("minimize", "maximize")
_CHUNK_ELEMENTS = 1 << 22  # comparisons per numpy call in the dominance test (memory ~ 4 MiB per bool array)


# --------------------------------------------------------------------------------------------
# Dominance and hypervolume on plain arrays


def _as_points(points: Any) -> np.ndarray:
    array = np.asarray(points, dtype=float)
    if array.ndim == 1:  # one objective: a flat list of values
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"points must be a 2-d array (n_points, n_objectives), got shape {array.shape}")
    if np.isnan(array).any():
        raise ValueError("points contain NaN, which no order can rank")
    return array


def _check_directions(directions: Sequence[str] | None, m: int) -> list[str]:
    if directions is None:
        return ["minimize"] * m
    directions = [str(d) for d in directions]
    if len(directions) != m:
        raise ValueError(f"{len(directions)} directions for {m} objectives")
    for d in directions:
        if d not in _DIRECTIONS:
            raise ValueError(f"direction {d!r} is not 'minimize' or 'maximize'")
    return directions


def _as_loss(points: Any, directions: Sequence[str] | None) -> np.ndarray:
    """The points as losses: maximized objectives negated, so smaller is better everywhere."""
    array = _as_points(points)
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in _check_directions(directions, array.shape[1])])
    return array * signs


def non_dominated_mask(points: Any, directions: Sequence[str] | None = None) -> np.ndarray:
    """Which points no other point dominates (the Pareto front), as a boolean array.

    Args:
        points: ``(n, m)`` objective values, one row per point (a flat list for ``m = 1``).
        directions: ``"minimize"`` or ``"maximize"`` per objective; all minimize by default.

    Returns:
        A boolean array of length ``n``; equal points are on the front together.
    """
    loss = _as_loss(points, directions)
    n, m = loss.shape
    dominated = np.zeros(n, dtype=bool)
    chunk = max(1, _CHUNK_ELEMENTS // max(1, n * m))
    for start in range(0, n, chunk):
        block = loss[start : start + chunk, None, :]  # (b, 1, m) against every point (1, n, m)
        no_worse = (loss[None, :, :] <= block).all(axis=2)
        better = (loss[None, :, :] < block).any(axis=2)
        dominated[start : start + chunk] = (no_worse & better).any(axis=1)
    return ~dominated


def non_dominated_ranks(points: Any, directions: Sequence[str] | None = None) -> np.ndarray:
    """Non-dominated sorting: 0 for the front, 1 for the front of the rest, and so on.

    A point's rank is the length of the longest chain of points dominating it, which is what
    peeling off one front after another gives. Points are visited in lexicographic order, where
    every dominator comes before the points it dominates: O(n^2 m) time, O(n m) memory.

    Args:
        points: ``(n, m)`` objective values.
        directions: ``"minimize"`` or ``"maximize"`` per objective; all minimize by default.

    Returns:
        An integer array of length ``n``.
    """
    loss = _as_loss(points, directions)
    n = loss.shape[0]
    ranks = np.zeros(n, dtype=int)
    if n == 0:
        return ranks
    order = np.lexsort(loss.T[::-1])  # by the first objective, then the second, ...
    sorted_loss = loss[order]
    sorted_ranks = np.zeros(n, dtype=int)
    for i in range(1, n):
        before = sorted_loss[:i]
        point = sorted_loss[i]
        dominators = (before <= point).all(axis=1) & (before < point).any(axis=1)
        if dominators.any():
            sorted_ranks[i] = sorted_ranks[:i][dominators].max() + 1
    ranks[order] = sorted_ranks
    return ranks


def hypervolume(points: Any, reference: Any) -> float:
    """Exact volume of the region the points dominate, bounded by the reference point.

    All objectives are minimized (negate maximized ones first, reference included). Points that
    are not strictly better than the reference in every objective add nothing and are dropped.

    Args:
        points: ``(n, m)`` objective values, ``m >= 1``.
        reference: ``m`` values, or one value for every objective.

    Returns:
        The volume of ``{x : x <= reference and some point p <= x}``; 0.0 for no point.
    """
    pts = _as_points(points)
    m = pts.shape[1]
    ref = np.broadcast_to(np.asarray(reference, dtype=float), (m,)).copy()
    if not np.isfinite(ref).all():
        raise ValueError(f"the reference point {ref.tolist()} must be finite")
    pts = pts[(pts < ref).all(axis=1)]
    if len(pts) == 0:
        return 0.0
    pts = np.unique(pts, axis=0)
    pts = pts[non_dominated_mask(pts)]
    return float(_hypervolume(pts, ref))


def _hypervolume(pts: np.ndarray, ref: np.ndarray) -> float:
    """Points strictly inside the reference box; dominated points may be present."""
    m = pts.shape[1]
    if m == 1:
        return float(ref[0] - pts[:, 0].min())
    if m == 2:
        return _hypervolume_2d(pts, ref)
    if m == 3:
        return _hypervolume_3d(pts, ref)
    # four and more: WFG (While, Bradstreet & Barone 2012), the volume as a sum of exclusive
    # contributions, each the point's box less the volume of the others limited to that box
    pts = pts[non_dominated_mask(pts)]
    pts = pts[np.argsort(pts[:, 0], kind="stable")]
    return float(sum(_exclusive_hypervolume(pts[i], pts[i + 1 :], ref) for i in range(len(pts))))


def _exclusive_hypervolume(point: np.ndarray, others: np.ndarray, ref: np.ndarray) -> float:
    """The volume ``point`` dominates and none of ``others`` does (point strictly inside ref)."""
    box = float(np.prod(ref - point))
    limited = np.maximum(others, point)  # what each other point dominates inside point's box
    limited = limited[(limited < ref).all(axis=1)]
    if len(limited) == 0:
        return box
    limited = np.unique(limited, axis=0)
    return box - _hypervolume(limited[non_dominated_mask(limited)], ref)


def _hypervolume_3d(pts: np.ndarray, ref: np.ndarray) -> float:
    # slice along the last objective: between z_i and the next z, the dominated region's cross
    # section is what the points with z <= z_i dominate in the first two objectives
    pts = pts[np.argsort(pts[:, -1], kind="stable")]
    z = pts[:, -1]
    z_next = np.append(z[1:], ref[-1])
    total = 0.0
    for i in range(len(pts)):
        thickness = z_next[i] - z[i]
        if thickness > 0:
            total += thickness * _hypervolume_2d(pts[: i + 1, :-1], ref[:-1])
    return total


def _hypervolume_2d(pts: np.ndarray, ref: np.ndarray) -> float:
    # sweep x upwards: over [x_i, x_{i+1}) the region reaches from the lowest y seen so far to ref
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    x = pts[order, 0]
    lowest_y = np.minimum.accumulate(pts[order, 1])
    widths = np.append(x[1:], ref[0]) - x
    return float(np.sum(widths * (ref[1] - lowest_y)))


class Bounds(NamedTuple):
    """Per objective, the values that normalize to 0 (``best``) and to 1 (``worst``)."""

    best: tuple[float, ...]
    worst: tuple[float, ...]


def normalization_bounds(values: Any, directions: Sequence[str] | None = None) -> Bounds:
    """The best and worst value of each objective over ``values`` (``(n, m)``, ``n >= 1``)."""
    array = _as_points(values)
    if len(array) == 0:
        raise ValueError("normalization bounds need at least one point")
    if not np.isfinite(array).all():
        raise ValueError("normalization bounds need finite values")
    directions = _check_directions(directions, array.shape[1])
    low, high = array.min(axis=0), array.max(axis=0)
    best = tuple(float(lo if d == "minimize" else hi) for lo, hi, d in zip(low, high, directions))
    worst = tuple(float(hi if d == "minimize" else lo) for lo, hi, d in zip(low, high, directions))
    return Bounds(best, worst)


def normalize(values: Any, bounds: Bounds) -> np.ndarray:
    """Map values to ``(v - best) / (worst - best)``: 0 at best, 1 at worst, smaller is better.

    An objective whose best equals its worst maps to ``v - best`` (0 for the values it came from).
    """
    array = _as_points(values)
    best = np.asarray(bounds.best, dtype=float)
    span = np.asarray(bounds.worst, dtype=float) - best
    if array.shape[1] != len(best):
        raise ValueError(f"{array.shape[1]} objectives but bounds for {len(best)}")
    # the sign of span turns maximized objectives into losses; a zero span leaves v - best
    scale = np.where(span == 0, 1.0, span)
    return (array - best) / scale


# --------------------------------------------------------------------------------------------
# Trials of a study


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
        raise RunError("no objective given: choose from " + ", ".join(OBJECTIVE_ATTRS))
    for name in names:
        if name not in OBJECTIVE_ATTRS:
            raise RunError(f"unknown objective {name!r}: choose from " + ", ".join(OBJECTIVE_ATTRS))
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
            out.append("minimize")  # error, size and time are all costs
    return tuple(out)


def trial_figure(trial: FrozenTrial, key: str, optimized: Sequence[str] = ()) -> Any:
    """One figure of a trial: the told value of an optimized objective, else its user attr.

    ``key`` is an objective (``error`` reads ``val_error``) or any user attr (``test_error``,
    ``device`` ...); None when the trial lacks it.
    """
    if key in optimized and trial.values is not None and len(trial.values) == len(optimized):
        return trial.values[list(optimized).index(key)]
    return trial.user_attrs.get(OBJECTIVE_ATTRS.get(key, key))


def _float_or_nan(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def objective_values(trial: FrozenTrial, objectives: Sequence[str], optimized: Sequence[str] = ()) -> list[float]:
    """The trial's value of each objective (NaN where it has none)."""
    return [_float_or_nan(trial_figure(trial, name, optimized)) for name in objectives]


def is_eligible(trial: FrozenTrial, objectives: Sequence[str], optimized: Sequence[str] = ()) -> bool:
    """Trained for the full budget within every budget, with a finite value of every objective."""
    return (
        trial.state == TrialState.COMPLETE
        and is_feasible(trial)
        and trial.user_attrs.get("status") == "complete"
        and "reused_from" not in trial.user_attrs
        and all(math.isfinite(v) for v in objective_values(trial, objectives, optimized))
    )


def eligible_trials(study: optuna.Study, objectives: str | Sequence[str] | None = None) -> list[FrozenTrial]:
    """The trials that take part in the front over ``objectives``, by trial number."""
    chosen = parse_objectives(objectives, study)
    optimized = _optimized_or_empty(study)
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sorted((t for t in trials if is_eligible(t, chosen, optimized)), key=lambda t: t.number)


def _optimized_or_empty(study: optuna.Study) -> tuple[str, ...]:
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

    @property
    def on_front(self) -> np.ndarray:
        """Boolean mask of the front's rows."""
        return self.ranks == 0

    @property
    def front_indices(self) -> list[int]:
        """Rows on the front, best first in the first objective, then the next, then by trial."""
        rows = np.flatnonzero(self.on_front)
        loss = _as_loss(self.values[rows], self.directions) if len(rows) else np.zeros((0, 0))
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
    optimized = _optimized_or_empty(study)
    directions = objective_directions(study, chosen)
    trials = tuple(eligible_trials(study, chosen))
    values = np.array([objective_values(t, chosen, optimized) for t in trials], dtype=float).reshape(len(trials), len(chosen))
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
        names=tuple(str(t.user_attrs.get("arch", f"trial {t.number}")) for t in trials),
        values=values,
        ranks=ranks,
        bounds=bounds,
        hypervolume=hv,
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
                current += _exclusive_hypervolume(p, front, ref)
                front = np.vstack([front[~(p <= front).all(axis=1)], p])
        history[k] = current
    return HypervolumeHistory(numbers, history, info.bounds)


# --------------------------------------------------------------------------------------------
# The front as rows, CSV, JSON and a text table


def _plain_number(value: Any) -> Any:
    """Integral floats as ints (params told as floats), other numbers as they are."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def trial_row(trial: FrozenTrial, optimized: Sequence[str] = ()) -> dict[str, Any]:
    """One trial as a row of :data:`FRONT_COLUMNS` (None where the trial lacks a figure)."""
    row: dict[str, Any] = {"trial": trial.number, "arch": trial.user_attrs.get("arch")}
    for key in FRONT_COLUMNS[2:]:
        value = trial_figure(trial, key, optimized)
        row[key] = _plain_number(value) if key in ("params", "macs", "epochs") else value
    return row


def front_rows(study: optuna.Study, objectives: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The front's trials as rows of :data:`FRONT_COLUMNS`, best first in the first objective.

    ``error`` is the validation error (%), ``test_error`` the test error recorded beside it for
    reporting; ``latency_ms`` was measured on ``device``.

    Example:
        >>> rows = front_rows(load_study("runs/cifar10"), "error,params")  # doctest: +SKIP
        >>> print(format_front(rows, "csv"))  # doctest: +SKIP
    """
    info = front_info(study, objectives)
    optimized = _optimized_or_empty(study)
    return [trial_row(t, optimized) for t in info.front_trials]


_TABLE_HEADERS = {
    "trial": "trial", "arch": "arch", "error": "error %", "test_error": "test error %", "params": "params",
    "macs": "MACs", "latency_ms": "latency ms", "device": "device", "epochs": "epochs",
}


def _table_cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in ("params", "macs") and isinstance(value, (int, float)):
        return format_count(value)
    if key in ("error", "test_error") and isinstance(value, (int, float)):
        return f"{value:.2f}"
    if key == "latency_ms" and isinstance(value, (int, float)):
        return f"{value:.3g}" if value < 100 else f"{value:.0f}"
    return str(value)


def format_front(rows: Sequence[dict[str, Any]], fmt: str = "table") -> str:
    """The rows of :func:`front_rows` as a text table, CSV or JSON, ending with a newline.

    ``table`` rounds for reading (``36.5M``, ``4.17``); ``csv`` and ``json`` keep every digit. CSV
    has the header of :data:`FRONT_COLUMNS` even without rows; missing figures are empty (CSV),
    ``null`` (JSON) or ``-`` (table).

    Raises:
        ValueError: for a format other than :data:`FORMATS`.
    """
    if fmt == "json":
        return json.dumps([{k: row.get(k) for k in FRONT_COLUMNS} for row in rows], indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FRONT_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in FRONT_COLUMNS})
        return buffer.getvalue()
    if fmt == "table":
        if not rows:
            return "no trial on the front yet (none complete, feasible and trained for the full budget)\n"
        cells = [[_TABLE_HEADERS[k] for k in FRONT_COLUMNS]]
        cells += [[_table_cell(k, row.get(k)) for k in FRONT_COLUMNS] for row in rows]
        widths = [max(len(line[j]) for line in cells) for j in range(len(FRONT_COLUMNS))]
        left = {"arch", "device"}
        lines = []
        for line in cells:
            parts = [c.ljust(w) if k in left else c.rjust(w) for c, w, k in zip(line, widths, FRONT_COLUMNS)]
            lines.append("  ".join(parts).rstrip())
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines) + "\n"
    raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")


# --------------------------------------------------------------------------------------------
# Opening a run's study


def _readonly_sqlite_url(url: str) -> str:
    """``sqlite:///path`` as a read-only SQLite URI, so a reader can never write the study.

    Raises:
        RunError: when the file does not exist (SQLite would create an empty one).
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return url  # another database, an in-memory one, or options the caller chose
    path = url[len(prefix):]
    if path in ("", ":memory:") or path.startswith("file:"):
        return url
    db = Path(path)
    if not db.is_file():
        raise RunError(f"no study database at {db}: run a search first ('wrnsearch run <space.yaml>')")
    from urllib.parse import quote

    return f"{prefix}file:{quote(str(db.resolve()))}?mode=ro&uri=true"


def load_study(
    run_dir: str | Path | None = None, storage: str | None = None, study_name: str | None = None
) -> optuna.Study:
    """Open a search's study for reading, without being able to disturb a running search.

    Give a run directory (its ``study.db``) or an Optuna storage URL. SQLite files are opened
    read-only. The study name may be left out when the storage holds only one study.

    Args:
        run_dir: a run directory such as ``runs/cifar10``.
        storage: an Optuna storage URL (``sqlite:///runs/x/study.db``, ``postgresql://...``).
        study_name: which study of the storage; required when it holds several.

    Raises:
        RunError: naming what is missing: the directory, its study.db, or the study.
    """
    if (run_dir is None) == (storage is None):
        raise RunError("give a run directory or a storage URL (one of them)")
    if run_dir is not None:
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise RunError(f"run directory {run_dir} does not exist")
        db = run_dir / STUDY_DB
        if not db.is_file():
            raise RunError(
                f"{run_dir} holds no {STUDY_DB}: not a run directory, or its search stored the study "
                "elsewhere (then pass the storage URL)"
            )
        source = str(db)
        url = _readonly_sqlite_url(f"sqlite:///{db}")
    else:
        source = str(storage)
        url = _readonly_sqlite_url(str(storage))

    import sqlalchemy.exc

    try:
        opened = optuna.storages.RDBStorage(url, skip_table_creation=True)
        names = optuna.study.get_all_study_names(opened)
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.OptunaError, RuntimeError, ValueError, ImportError) as e:
        raise RunError(f"cannot read the study storage {source}: {' '.join(str(e).split())[:300]}") from e
    if study_name is None:
        if not names:
            raise RunError(f"{source} holds no study yet")
        if len(names) > 1:
            raise RunError(f"{source} holds {len(names)} studies ({', '.join(sorted(names))}): name one")
        study_name = names[0]
    elif study_name not in names:
        known = ", ".join(sorted(names)) or "none"
        raise RunError(f"{source} holds no study {study_name!r} (studies: {known})")
    logger.debug("opening study %r from %s", study_name, url)
    return optuna.load_study(study_name=study_name, storage=opened)
