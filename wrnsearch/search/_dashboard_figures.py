"""The study's own figures for optuna-dashboard: learning curves and the front, kept current.

optuna-dashboard draws its built-in learning-curve chart only for single-objective studies, and
its Pareto-front chart from the told objective values alone. The driver therefore stores two
plotly figures of its own in the study (``optuna_dashboard.save_plotly_graph_object``: study
system attributes), which the dashboard shows on the study's page:

- ``wrnsearch-learning-curves``: every trained trial's validation error by epoch (its
  intermediate values), complete trials solid, stopped ones dotted, the front's members in colour
  and named, the rest grey;
- ``wrnsearch-front`` (multi-objective studies): the error against each other objective, every
  eligible trial grey and the front's members in colour, with the latencies timed alone where
  the study has them, as ``wrnsearch pareto`` and the report show them.

:class:`DashboardFigures` redraws them when a trial reports or ends, at most every
``min_interval_s`` seconds (a redraw reads the whole study), and once more at the end of the run.
A redraw that fails (a busy or full disk) is logged once and never stops the search: the figures
are a view of the study, which holds every result.
"""

from __future__ import annotations

import logging
import time

import optuna
from optuna.trial import TrialState

from wrnsearch.errors import one_line
from wrnsearch.figures import curves_figure, front_colours, front_figure
from wrnsearch.pareto import FrontInfo, front_info, study_objectives

log = logging.getLogger(__name__)

CURVES_ID = "wrnsearch-learning-curves"
FRONT_ID = "wrnsearch-front"


def _front(study: optuna.Study) -> FrontInfo | None:
    try:
        return front_info(study)
    except Exception as e:  # noqa: BLE001 - a study without objectives gets curves only
        log.debug("no front for the dashboard: %s", e)
        return None


def save_figures(study: optuna.Study) -> list[str]:
    """Draw the study's figures and store them in it for optuna-dashboard; the ids stored."""
    import optuna_dashboard

    try:
        study_objectives(study)
    except Exception:  # noqa: BLE001 - not a wrnsearch study: nothing of ours to draw
        return []
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING,
                                                      TrialState.FAIL))
    info = _front(study)
    colours = front_colours(info)
    saved = [optuna_dashboard.save_plotly_graph_object(study, curves_figure(trials, colours, None, empty=True),
                                                       graph_object_id=CURVES_ID)]
    front = front_figure(info, colours) if info is not None else None
    if front is not None:
        saved.append(optuna_dashboard.save_plotly_graph_object(study, front, graph_object_id=FRONT_ID))
    return saved


class DashboardFigures:
    """Redraws the study's figures as a search goes: see the module docstring."""

    def __init__(self, study: optuna.Study, min_interval_s: float = 15.0) -> None:
        self.study, self.min_interval_s = study, min_interval_s
        # the first redraw after an interval too: a short run (a benchmark's) draws once, at its end
        self.last = time.monotonic()  # of the last redraw
        self.stale = True
        self.failed = False
        self.redraws = 0

    def changed(self) -> None:
        """The study changed (an epoch reported, a trial ended): redraw unless one was just made."""
        self.stale = True
        if time.monotonic() - self.last >= self.min_interval_s:
            self.flush()

    def flush(self) -> None:
        """Redraw now if anything changed since the last redraw."""
        if not self.stale:
            return
        self.last, self.stale = time.monotonic(), False
        try:
            save_figures(self.study)
            self.redraws += 1
        except Exception as e:  # noqa: BLE001 - a view of the study must never stop the search
            if not self.failed:
                log.warning("the dashboard figures could not be stored (the search goes on): %s",
                            one_line(e, 200))
            self.failed = True
