"""The plotly figures a study is drawn with in more than one place, written once.

- :func:`curves_figure`: every trained trial's validation error by epoch (its learning curve,
  :func:`learning_curve`, on whole-epoch ticks, :func:`epoch_axis`), the report's Training section
  and optuna-dashboard's ``wrnsearch-learning-curves`` alike;
- :func:`front_figure`: the error against each other objective of a study's front, axes titled and
  scaled as :mod:`wrnsearch.objectives` says (optuna-dashboard's ``wrnsearch-front``).

plotly is imported here and in :mod:`wrnsearch.report` only, and here only when a figure is drawn.
"""

from __future__ import annotations

from wrnsearch.figures._curves import FRONT_COLOR, OTHER_COLOR, curves_figure, curves_trials, epoch_axis, learning_curve
from wrnsearch.figures._front import PALETTE, front_colours, front_figure

__all__ = ["FRONT_COLOR", "OTHER_COLOR", "PALETTE", "curves_figure", "curves_trials", "epoch_axis", "front_colours",
           "front_figure", "learning_curve"]
