"""The report of a search: one self-contained HTML file, readable offline, drawn from the study.

:func:`write_report` reads the study (the single source of truth) and writes a page with:

- a header: study name, dataset, objectives, trial counts per outcome, the space (collapsed);
- a 3D scatter of validation error, parameters and latency with their front highlighted;
- the 2D projections error vs params, error vs training-step latency and (when the trials timed
  it) error vs inference latency, each with its own front as a step line, and on CIFAR-10/100 the
  paper's published results as labelled reference markers;
- the hypervolume of the study's front against the number of trials;
- the learning curves of the trained trials, the front's in red;
- parallel coordinates of depth, k, l, block and dropout, coloured by error (an axis every trial
  shares the value of is named in the caption instead);
- a sortable table of the front (validation and test error).

A single-objective study gets its best trials and the optimization curve instead of fronts; a
study without an eligible trial gets a page that says so. plotly.js is embedded in the page,
gzip-compressed (2.0 MB of a page of 2.1 MB for 30 trials; 4.8 MB unpacked, see
:mod:`wrnsearch.report._plotlyjs`), so it works without network access; the page's footer says how
big it is.

Example:
    >>> from wrnsearch.study import load_study
    >>> write_report(load_study("runs/cifar10"), "runs/cifar10/report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import plotly.graph_objects as go
import plotly.io as pio
import yaml

from wrnsearch import __version__
from wrnsearch.figures import FRONT_COLOR, curves_figure
from wrnsearch.files import atomic_path
from wrnsearch.objectives import ERROR, LATENCY, OBJECTIVES, PARAMS, Kind
from wrnsearch.objectives import get as get_objective
from wrnsearch.pareto import (
    REFERENCE_POINT,
    FrontInfo,
    final_ranking,
    front_info,
    hypervolume_history,
    open_final,
    study_objectives,
    timed_alone,
)
from wrnsearch.report._figures import (
    Point,
    base_layout,
    devices_of,
    fmt,
    hypervolume_figure,
    optimization_figure,
    points_of,
    scatter_2d,
    scatter_3d,
)
from wrnsearch.report._html import PAGE_CSS, SORT_JS, escape, size_text, trials_table
from wrnsearch.report._paper_results import PAPER_LABEL, PaperResult, paper_results
from wrnsearch.report._parallel import architecture_axes, constant_note, parallel_figure
from wrnsearch.report._plotlyjs import defer_scripts, loader_html, packed_plotlyjs, plotlyjs_size, status_html
from wrnsearch.space import TrainConfig, drop_unused_keys
from wrnsearch.study import Outcome, count_outcomes

logger = logging.getLogger(__name__)

# outcomes the header counts, in its order; those after the first five only when some trial has them
_COUNTED = (Outcome.DONE, Outcome.PRUNED, Outcome.FAILED, Outcome.INFEASIBLE, Outcome.RUNNING, Outcome.REUSED,
            Outcome.COPIED, Outcome.INTERRUPTED, Outcome.WAITING, Outcome.SETUP_FAILED, Outcome.DEFERRED)
_ALWAYS_COUNTED = _COUNTED[:5]
_BEST_TRIALS = 10  # rows of the best-trials table of a single-objective study
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def _figure_html(fig: go.Figure, div_id: str, caption: str = "") -> str:
    height = fig.layout.height or 450
    body = pio.to_html(
        fig, include_plotlyjs=False, full_html=False, div_id=div_id, config=_PLOT_CONFIG,
        default_width="100%", default_height=f"{height}px",
    )
    caption_html = f'<figcaption class="caption">{caption}</figcaption>' if caption else ""
    return f'<figure class="plot">{defer_scripts(body)}{caption_html}</figure>'


def _counts(study: optuna.Study) -> dict[str, int]:
    return count_outcomes(study.get_trials(deepcopy=False))


def _space_text(space: Any) -> str:
    if space is None:
        return "(the study does not record its space)"
    if isinstance(space, dict):  # a study of an earlier version: the synthetic sizes beside CIFAR-10
        space = drop_unused_keys(copy.deepcopy(space))
    try:
        return yaml.safe_dump(space, sort_keys=False, allow_unicode=True, width=100)
    except yaml.YAMLError:
        return json.dumps(space, indent=2, default=str)


def _header(study: optuna.Study, info: FrontInfo, counts: dict[str, int], dataset: str | None) -> str:
    objectives = ", ".join(f"{o} ({d})" for o, d in zip(info.objectives, info.directions))
    written = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    shown = [o.value for o in _COUNTED if o in _ALWAYS_COUNTED or counts[o.value]]
    count_items = "".join(f'<li class="count-{s}"><b>{counts[s]}</b>{s}</li>' for s in shown)
    count_items += f'<li class="count-eligible"><b>{len(info.trials)}</b>eligible</li>'
    version = study.user_attrs.get("wrnsearch_version")
    made_by = f" (study by wrnsearch {escape(version)})" if version else ""
    if len(info.objectives) > 1:
        count_items += f'<li class="count-front"><b>{int(info.on_front.sum())}</b>on the front</li>'
    return "\n".join([
        f"<h1>wrnsearch report: {escape(study.study_name)}</h1>",
        f'<p class="meta">dataset <b>{escape(dataset or "unknown")}</b> · objectives <b>{escape(objectives)}</b>'
        f" · {sum(counts.values())} trials</p>",
        f'<p class="meta">written {written} by wrnsearch {escape(__version__)}{made_by}</p>',
        f'<ul class="counts" id="counts">{count_items}</ul>',
        '<details id="space"><summary>Search space</summary>'
        f"<pre>{escape(_space_text(study.user_attrs.get('space')))}</pre></details>",
    ])


def _notes(counts: dict[str, int], devices: Sequence[str]) -> list[str]:
    notes = []
    running = counts[Outcome.RUNNING.value]
    if running:
        notes.append(
            f'<p class="note" id="running-note">The search is still running: {running} trial(s) in flight '
            "(or left by a stopped driver, to be reconciled on resume). This page is a snapshot.</p>"
        )
    if len(devices) > 1:
        listed = ", ".join(f"<b>{escape(d)}</b>" for d in devices)
        notes.append(
            f'<p class="note warning" id="device-warning">&#9888; Latency was measured on {len(devices)} device types '
            f"({listed}): latencies are <b>not comparable across devices</b>. Each device has its own marker "
            "symbol; the error-vs-latency plots draw one front per device, while the 3D front, the table and the "
            "hypervolume pool all trials.</p>"
        )
    return notes


def _alone_note(info: FrontInfo) -> list[str]:
    """Which front members' latencies were timed alone (wrnsearch measure), if any were."""
    front = info.front_trials
    alone = [t for t in front if timed_alone(t, info.alone)]
    if not alone:
        return []
    return [f'<p class="note" id="alone-note">Latencies of {len(alone)} of the {len(front)} front members were '
            "timed alone, with the device to themselves, after the search (<code>wrnsearch measure</code>); the "
            "plots, the front and the tables use those figures. The co-located figures the trials timed while "
            "others shared the device stay in the study (optuna-dashboard's front shows those).</p>"]


def _axis_titles(study: optuna.Study) -> dict[str, str]:
    """Each objective's axis title, a timed one with the batch the study's space timed it at (the
    default batch where the saved space leaves it out)."""
    space = study.user_attrs.get("space")
    train = (space.get("train") or {}) if isinstance(space, dict) else {}
    defaults = {name: field.default for name, field in TrainConfig.model_fields.items()}
    return {o.name: o.axis_title({**defaults, **train}) for o in OBJECTIVES.values()}


def _eligible_text() -> str:
    return (
        "A trial is eligible once it is complete, within every budget (feasible) and trained for the "
        "full epoch budget; pruned, truncated, failed, over-budget and running trials are not."
    )


def render_report(study: optuna.Study) -> str:
    """The report of ``study`` as one HTML document (plotly.js inline). See :func:`write_report`."""
    objectives = study_objectives(study)
    info = front_info(study)
    dataset = study.user_attrs.get("dataset")
    if dataset is None and isinstance(study.user_attrs.get("space"), dict):
        dataset = (study.user_attrs["space"].get("dataset") or {}).get("name")
    counts = _counts(study)
    points = points_of(info, objectives)
    devices = devices_of(points)
    page = _Page([_header(study, info, counts, dataset), *_notes(counts, devices), *_alone_note(info)])
    if not points:
        page.body.append(
            '<p class="note empty" id="no-trials">No eligible trial yet, so there is no front to show. '
            f"{_eligible_text()} Write the report again when trials have finished.</p>"
        )
    else:
        paper = paper_results(dataset)
        titles = _axis_titles(study)
        if len(objectives) > 1:
            _fronts(page, study, info, points, devices, paper, titles)
        else:
            _optimization(page, info, points, devices, paper, titles)
        _curves(page, study, info, several=len(objectives) > 1)
        _architectures(page, points)
        page.body.append(_best_table(info, points, objectives))
        page.body.append(f'<p class="caption">{_eligible_text()}</p>')
        page.body.extend(_final_section(study))
    logger.debug("report of %r: %d plots, %d eligible trials", study.study_name, page.plots, len(points))
    return page.html(f"wrnsearch report: {study.study_name}")


def _curves(page: _Page, study: optuna.Study, info: FrontInfo, *, several: bool) -> None:
    front = {t.number: FRONT_COLOR for t in info.front_trials}
    fig = curves_figure(study.get_trials(deepcopy=False), front, "front" if several else "best trial")
    if fig is not None:
        fig.update_layout(**base_layout(fig.layout.title.text, 420, xaxis=fig.layout.xaxis,
                                        yaxis=fig.layout.yaxis, hovermode="closest"))
        page.body.append("<h2>Training</h2>")
        page.add(fig, "plot-learning-curves",
                 "Validation error after each epoch of every trained trial; dotted: stopped early (pruned or "
                 f"failed). Red: the {'front' if several else 'best trial'}. Hover for the architecture.")


def _architectures(page: _Page, points: list[Point]) -> None:
    page.body.append("<h2>Architectures</h2>")
    axes = architecture_axes(points)
    if axes is not None:
        page.add(parallel_figure(axes), "plot-parallel",
                 "Drag along an axis to filter; l is the number of convolutions per block." + constant_note(axes))


def _final_section(study: optuna.Study) -> list[str]:
    """The search's ranking against the final training's (wrnsearch retrain), when there is one."""
    final = open_final(study)
    if final is None:
        return []
    ranking = final_ranking(study, final)
    def pct(value: float | None) -> str:
        return fmt(math.nan if value is None else value)

    rows = "".join(
        f"<tr><td class=\"text\">{escape(r['arch'])}</td><td>{escape(str(r['search_trial']))}</td>"
        f"<td>{pct(r['search_val_error'])}</td><td>{r['final_trial']}</td><td>{pct(r['final_test_error'])}</td>"
        f"<td>{escape(str(r['final_epochs']))}</td></tr>" for r in ranking.rows)
    tau = "-" if ranking.tau is None else f"{ranking.tau:.2f}"
    return ["<h2>Final training</h2>",
            f'<p class="caption" id="final-tau">The architectures retrained at full budget (study '
            f"{escape(final.study_name)}, <code>wrnsearch retrain</code>): the search's validation error beside "
            f"the final test error. Kendall's tau between the two rankings: <b>{tau}</b> (n = {ranking.n}).</p>",
            '<table id="final-table"><thead><tr><th class="text">arch</th><th>search trial</th><th>search val '
            "error %</th><th>final trial</th><th>final test error %</th><th>epochs</th></tr></thead><tbody>"
            f"{rows}</tbody></table>"]


class _Page:
    """The body of the page as it is assembled, and how many plots it holds."""

    def __init__(self, body: list[str]) -> None:
        self.body, self.plots = body, 0

    def add(self, fig: go.Figure | None, div_id: str, caption: str = "") -> None:
        if fig is not None:
            self.body.append(_figure_html(fig, div_id, caption))
            self.plots += 1

    def html(self, title: str) -> str:
        """The whole page; its footer says its size, which the footer's own digits do not change."""
        size = "?"
        for _ in range(3):  # the size with the footer that states it
            text = self._document(title, size)
            stated, size = size, size_text(len(text.encode("utf-8")))
            if size == stated:
                break
        return text

    def _document(self, title: str, size: str) -> str:
        footer = f"This page: <b>{size}</b>."
        if self.plots:  # a page without plots needs no plotly.js
            footer = (f"This page: <b>{size}</b>, of which {size_text(len(packed_plotlyjs()))} is plotly.js, "
                      f"gzip-compressed ({size_text(plotlyjs_size())} once the browser unpacks it), carried along "
                      "so that the page works offline.")
        return "\n".join([
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{PAGE_CSS}</style>",
            '<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: "local"};</script>',
            f'</head><body><main data-plots="{self.plots}">',
            status_html(),
            *self.body,
            f'<footer class="meta" id="page-size">{footer}</footer>',
            "</main>",
            loader_html() if self.plots else "",
            f"<script>{SORT_JS}</script>",
            "</body></html>",
            "",
        ])


def _paper_caption(paper: Sequence[tuple[PaperResult, float]]) -> str:
    if not paper:
        return ""
    return (
        "Stars: the paper's published results (Zagoruyko &amp; Komodakis 2016, Tables 4 and 6), labelled "
        f"<b>{PAPER_LABEL}</b>. The paper's numbers are <b>test errors after 200 epochs on the full training "
        "data</b>; this search's points are validation errors on images held out of training, after this "
        "search's epoch budget, so compare with care."
    )


def _error_plots(page: _Page, points: list[Point], devices: list[str], paper: Sequence[tuple[PaperResult, float]],
                 titles: dict[str, str], *, fronts: bool) -> None:
    """Error against every other objective, in :mod:`wrnsearch.objectives`' order; one no trial has
    a figure of draws nothing. Paper results go on the parameters' plot."""
    page.body.append('<div class="grid">')
    per_device = fronts and len(devices) > 1
    for o in OBJECTIVES.values():
        if o is ERROR:
            continue
        on_paper = paper if o is PARAMS else ()
        page.add(scatter_2d(points, devices, o.name, titles[o.name], f"Error vs {o.title}", fronts=fronts,
                            per_device_front=per_device and o.device_bound, paper=on_paper),
                 f"plot-error-{o.slug}", _paper_caption(on_paper))
    page.body.append("</div>")


def _fronts(page: _Page, study: optuna.Study, info: FrontInfo, points: list[Point], devices: list[str],
            paper: Sequence[tuple[PaperResult, float]], titles: dict[str, str]) -> None:
    page.body.append("<h2>Fronts</h2>")
    # the device figure the study optimized first (a latency unless it optimized none)
    third = next((o for o in map(get_objective, info.objectives) if o.kind == Kind.PREDICTED), LATENCY)
    page.add(scatter_3d(points, devices, third.name, third.title), "plot-3d",
             f"Red: trials no other trial beats in validation error, parameters and {third.title} together. "
             f"Axes of parameters and {third.title} are logarithmic. Drag to rotate; hover for the architecture.")
    _error_plots(page, points, devices, paper, titles, fronts=True)
    history = hypervolume_history(study, info=info)  # the same snapshot of the trials
    page.add(hypervolume_figure(history.trial_numbers, history.hypervolume, info.objectives), "plot-hypervolume",
             f"Each objective is min-max normalized over the eligible trials of this report (best 0, worst 1); "
             f"the reference point is {REFERENCE_POINT} in every coordinate. The normalization is the same "
             "for every trial count, so the curve never falls; values are not comparable between reports "
             "written at different times.")


def _optimization(page: _Page, info: FrontInfo, points: list[Point], devices: list[str],
                  paper: Sequence[tuple[PaperResult, float]], titles: dict[str, str]) -> None:
    page.body.append("<h2>Optimization</h2>")
    page.add(optimization_figure(info), "plot-history",
             f"Single-objective study: the value of every eligible trial and the best so far. {_eligible_text()}")
    _error_plots(page, points, devices, paper, titles, fronts=False)


def _best_table(info: FrontInfo, points: list[Point], objectives: Sequence[str]) -> str:
    """The front's table (several objectives), or the best trials' (one)."""
    if len(objectives) > 1:
        front = [points[i] for i in info.front_indices]
        return (f"<h2>The front ({escape(', '.join(objectives))})</h2>\n"
                + trials_table(front, "front-table", f"{len(front)} trial(s) on the front; click a header to sort."))
    order = np.argsort(info.values[:, 0] * (1 if info.directions[0] == "minimize" else -1), kind="stable")
    best = [points[i] for i in order[:_BEST_TRIALS]]
    return (f"<h2>Best trials ({escape(objectives[0])})</h2>\n"
            + trials_table(best, "front-table", f"The {len(best)} best eligible trial(s); click a header to sort."))


def write_report(study: optuna.Study, output_path: str | Path) -> Path:
    """Write the study's report to ``output_path`` (one HTML file that works offline) and return it.

    Safe on a study at any stage: still running, with failed, pruned and infeasible trials, with a
    single objective, or without any eligible trial yet. The file is written next to its target
    first and then renamed, so a browser never sees half a report.

    Raises:
        RunError: when the study does not name its objectives (not written by wrnsearch).
    """
    path = Path(output_path)
    text = render_report(study)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    logger.info("wrote the report of %r to %s (%s)", study.study_name, path, size_text(path.stat().st_size))
    return path
