"""Pareto fronts and hypervolume of a study: which trials no other trial beats, and by how much.

Computation only: numpy, and Optuna to read the study. :mod:`wrnsearch.report` draws what this
package returns and the CLI prints it (as Optuna's ``_get_pareto_front_info`` computes and
``plot_pareto_front`` draws). The arithmetic on arrays (dominance, non-dominated sorting, exact
hypervolume, normalization) is :mod:`wrnsearch.dominance`'s, re-exported here;
:mod:`~wrnsearch.pareto._front` (a study's trials as points,
their ranks and hypervolume history), :mod:`~wrnsearch.pareto._table` (rows, CSV, JSON, text).

**Eligible trials.** Only architectures trained for the full epoch budget within every budget
take part in a front: Optuna state COMPLETE, feasible (every ``trial.constraints`` value <= 0
and no ``infeasible_reason`` user attr), user attr ``status`` complete (all three:
:func:`wrnsearch.study.has_full_result`), and a finite value for every chosen objective. Pruned,
truncated, failed, running and over-budget trials never do, nor do copies of an earlier result
(``reused_from``: the same architecture and recipe proposed again), which would only list the
original twice.

**Objectives.** The objectives are those :mod:`wrnsearch.objectives` defines, all minimized. A
trial's value of an objective the study optimized is ``trial.values[i]``, ``i`` being the
objective's place in ``study.metric_names``; one the study did not optimize is read from the
trial's user attrs (``error`` from ``val_error``), which every trained trial carries. So a front
can be taken over any subset, e.g. ``error,params`` of a three-objective study.

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

from wrnsearch.dominance import (
    REFERENCE_POINT,
    Bounds,
    hypervolume,
    non_dominated_mask,
    non_dominated_ranks,
    normalization_bounds,
    normalize,
)
from wrnsearch.pareto._final_ranking import Ranking, final_ranking, open_final, retrain_name
from wrnsearch.pareto._front import (
    ALONE_ATTR,
    OBJECTIVE_ATTRS,
    FrontInfo,
    HypervolumeHistory,
    alone_figures,
    eligible_trials,
    front_info,
    hypervolume_history,
    is_eligible,
    objective_directions,
    objective_values,
    parse_objectives,
    study_objectives,
    timed_alone,
    trial_figure,
)
from wrnsearch.pareto._table import FORMATS, FRONT_COLUMNS, format_front, front_rows, trial_row

__all__ = [
    "ALONE_ATTR", "Bounds", "FORMATS", "FRONT_COLUMNS", "FrontInfo", "HypervolumeHistory", "OBJECTIVE_ATTRS",
    "REFERENCE_POINT", "Ranking", "alone_figures", "eligible_trials", "final_ranking", "format_front", "front_info",
    "front_rows", "hypervolume", "hypervolume_history", "is_eligible", "non_dominated_mask", "non_dominated_ranks",
    "normalization_bounds", "normalize", "objective_directions", "objective_values", "open_final", "parse_objectives",
    "retrain_name", "study_objectives", "timed_alone", "trial_figure", "trial_row",
]
