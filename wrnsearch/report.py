"""The report of a search: one self-contained HTML file, readable offline, drawn from the study.

:func:`write_report` reads the study (the single source of truth) and writes a page with:

- a header: study name, dataset, objectives, trial counts per state, the space (collapsed);
- a 3D scatter of validation error, parameters and latency with their front highlighted;
- the 2D projections error vs params and error vs latency, each with its own front as a step
  line, and on CIFAR-10/100 the paper's published results as labelled reference markers;
- the hypervolume of the study's front against the number of trials;
- parallel coordinates of depth, k, l, block and dropout, coloured by error;
- a sortable table of the front (validation and test error).

A single-objective study gets its best trials and the optimization curve instead of fronts; a
study without an eligible trial gets a page that says so. Latencies measured on several device
types get a warning and one marker symbol per device: they are not comparable.

This is the only module that imports plotly. The arithmetic lives in :mod:`wrnsearch.pareto`.
plotly.js is embedded in the page (about 4.8 MB), so it works without network access.

Example:
    >>> from wrnsearch.pareto import load_study
    >>> write_report(load_study("runs/cifar10"), "runs/cifar10/report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import html
import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import optuna
import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline
import yaml

from wrnsearch import __version__
from wrnsearch.cost import format_count
from wrnsearch.errors import SpecError
from wrnsearch.pareto import (
    REFERENCE_POINT,
    FrontInfo,
    front_info,
    hypervolume_history,
    non_dominated_mask,
    study_objectives,
    trial_figure,
)
from wrnsearch.sampling import trial_state_name
from wrnsearch.spec import parse_name

logger = logging.getLogger(__name__)


class PaperResult(NamedTuple):
    """One published result of Zagoruyko & Komodakis (2016): test error (%) after 200 epochs."""

    name: str
    params_m: float  # millions, as published (CIFAR-10 classifier)
    cifar10: float | None
    cifar100: float | None
    table: str


# Tables 4 and 6 of the paper, test error in percent. The tests check every name against the
# analytic parameter count. WRN-40-8 has no published CIFAR-100 result.
PAPER_RESULTS: tuple[PaperResult, ...] = (
    PaperResult("WRN-40-1", 0.6, 6.85, 30.89, "Table 4"),
    PaperResult("WRN-40-2", 2.2, 5.33, 26.04, "Table 4"),
    PaperResult("WRN-40-4", 8.9, 4.97, 22.89, "Table 4"),
    PaperResult("WRN-40-8", 35.7, 4.66, None, "Table 4"),
    PaperResult("WRN-28-10", 36.5, 4.17, 20.50, "Table 4"),
    PaperResult("WRN-28-12", 52.5, 4.33, 20.43, "Table 4"),
    PaperResult("WRN-22-8", 17.2, 4.38, 21.22, "Table 4"),
    PaperResult("WRN-22-10", 26.8, 4.44, 20.75, "Table 4"),
    PaperResult("WRN-16-8", 11.0, 4.81, 22.07, "Table 4"),
    PaperResult("WRN-16-10", 17.1, 4.56, 21.59, "Table 4"),
    PaperResult("WRN-16-4", 2.7, 5.02, 24.03, "Table 6"),
    PaperResult("WRN-16-4-d0.3", 2.7, 5.24, 23.91, "Table 6"),
    PaperResult("WRN-28-10-d0.3", 36.5, 3.89, 18.85, "Table 6"),
)
PAPER_LABEL = "paper (test error)"

_FRONT_COLOR = "#d62728"
_OTHER_COLOR = "#5b84b1"
_PAPER_COLOR = "#222222"
_SYMBOLS_2D = ("circle", "diamond", "square", "triangle-up", "cross", "x", "hexagon", "triangle-down")
_SYMBOLS_3D = ("circle", "diamond", "square", "cross", "x", "circle-open", "diamond-open", "square-open")
_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_STATES = ("done", "pruned", "failed", "infeasible", "running", "waiting")
_BEST_TRIALS = 10  # rows of the best-trials table of a single-objective study
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def paper_results(dataset: str | None) -> list[tuple[PaperResult, float]]:
    """The paper's results for ``cifar10`` or ``cifar100`` as (result, test error); else none."""
    if dataset not in ("cifar10", "cifar100"):
        return []
    return [(r, getattr(r, dataset)) for r in PAPER_RESULTS if getattr(r, dataset) is not None]


# --------------------------------------------------------------------------------------------
# What the page shows of each eligible trial


class _Point(NamedTuple):
    number: int
    arch: str
    error: float  # validation error, %
    test_error: float
    params: float
    macs: float
    latency_ms: float
    device: str
    epochs: Any
    spec: dict[str, Any] | None


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def _points(info: FrontInfo, optimized: Sequence[str]) -> list[_Point]:
    out = []
    for trial, name in zip(info.trials, info.names):
        spec = trial.user_attrs.get("spec")
        out.append(_Point(
            number=trial.number,
            arch=name,
            error=_number(trial_figure(trial, "error", optimized)),
            test_error=_number(trial.user_attrs.get("test_error")),
            params=_number(trial_figure(trial, "params", optimized)),
            macs=_number(trial_figure(trial, "macs", optimized)),
            latency_ms=_number(trial_figure(trial, "latency_ms", optimized)),
            device=str(trial.user_attrs.get("device") or "unknown device"),
            epochs=trial.user_attrs.get("epochs"),
            spec=spec if isinstance(spec, dict) else None,
        ))
    return out


def _fmt(value: float, digits: str = ".2f", suffix: str = "") -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:{digits}}{suffix}"


def _hover(p: _Point) -> str:
    return "<br>".join([
        f"<b>{html.escape(p.arch)}</b> (trial {p.number})",
        f"val error {_fmt(p.error, '.2f', ' %')}, test error {_fmt(p.test_error, '.2f', ' %')}",
        f"params {format_count(p.params) if math.isfinite(p.params) else '-'}, "
        f"MACs {format_count(p.macs) if math.isfinite(p.macs) else '-'}",
        f"latency {_fmt(p.latency_ms, '.3g', ' ms')} on {html.escape(p.device)}",
        f"epochs {p.epochs if p.epochs is not None else '-'}",
    ])


def _finite(points: Sequence[_Point], *keys: str) -> list[_Point]:
    return [p for p in points if all(math.isfinite(getattr(p, k)) for k in keys)]


def _devices(points: Sequence[_Point]) -> list[str]:
    """Devices, most trials first (the most common gets the plain circle)."""
    counts = Counter(p.device for p in points)
    return sorted(counts, key=lambda d: (-counts[d], d))


# --------------------------------------------------------------------------------------------
# Figures


def _base_layout(title: str, height: int, **kwargs: Any) -> dict[str, Any]:
    return dict(
        title=dict(text=title, x=0.01, xanchor="left"),
        height=height,
        margin=dict(l=60, r=20, t=50, b=50),
        legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0),
        template="plotly_white",
        **kwargs,
    )


def _scatter_3d(points: Sequence[_Point], devices: Sequence[str]) -> go.Figure | None:
    pts = _finite(points, "error", "params", "latency_ms")
    if not pts:
        return None
    values = np.array([[p.error, p.params, p.latency_ms] for p in pts])
    front = non_dominated_mask(values)
    several = len(devices) > 1
    fig = go.Figure()
    for d, device in enumerate(devices):
        for on_front in (False, True):
            group = [p for p, f in zip(pts, front) if f == on_front and p.device == device]
            if not group:
                continue
            name = "front (error, params, latency)" if on_front else "dominated"
            fig.add_trace(go.Scatter3d(
                x=[p.params for p in group], y=[p.latency_ms for p in group], z=[p.error for p in group],
                mode="markers",
                name=f"{name} · {device}" if several else name,
                marker=dict(
                    size=6 if on_front else 4, color=_FRONT_COLOR if on_front else _OTHER_COLOR,
                    opacity=1.0 if on_front else 0.55, symbol=_SYMBOLS_3D[d % len(_SYMBOLS_3D)],
                ),
                text=[_hover(p) for p in group], hovertemplate="%{text}<extra></extra>",
            ))
    fig.update_layout(**_base_layout(
        "Validation error, parameters and training-step latency", 620,
        scene=dict(
            xaxis=dict(title=dict(text="params"), type="log", dtick=1),
            yaxis=dict(title=dict(text="latency (ms)"), type="log", dtick=1),
            zaxis=dict(title=dict(text="val error (%)")),
            aspectmode="cube",
            camera=dict(eye=dict(x=1.7, y=1.5, z=0.9)),
        ),
    ))
    fig.update_layout(margin=dict(l=0, r=0, t=40, b=0), legend=dict(y=1.0, yanchor="top", x=0, orientation="v"))
    return fig


def _step_front(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    """The 2D front (both minimized) sorted by x, for a line with shape ``hv``."""
    if not xs:
        return [], []
    values = np.column_stack([xs, ys])
    mask = non_dominated_mask(values)
    front = values[mask]
    front = front[np.lexsort((front[:, 1], front[:, 0]))]
    return front[:, 0].tolist(), front[:, 1].tolist()


def _label_positions(xs: Sequence[float]) -> list[str]:
    """Text positions that alternate above and below along x, so neighbouring labels overlap less."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    positions = [""] * len(xs)
    for rank, i in enumerate(order):
        positions[i] = ("bottom center", "top center")[rank % 2]
    return positions


def _scatter_2d(
    points: Sequence[_Point],
    devices: Sequence[str],
    x_key: str,
    x_title: str,
    title: str,
    *,
    fronts: bool,
    per_device_front: bool,
    paper: Sequence[tuple[PaperResult, float]] = (),
) -> go.Figure | None:
    pts = _finite(points, "error", x_key)
    if not pts and not paper:
        return None
    several = len(devices) > 1
    fig = go.Figure()
    for d, device in enumerate(devices):
        group = [p for p in pts if p.device == device]
        if not group:
            continue
        fig.add_trace(go.Scatter(
            x=[getattr(p, x_key) for p in group], y=[p.error for p in group], mode="markers",
            name=f"trials · {device}" if several else "trials",
            marker=dict(
                size=8, symbol=_SYMBOLS_2D[d % len(_SYMBOLS_2D)], color=_OTHER_COLOR, opacity=0.75,
                line=dict(width=0.5, color="white"),
            ),
            text=[_hover(p) for p in group], hovertemplate="%{text}<extra></extra>",
        ))
    if fronts and pts:
        # latency fronts are per device (latencies of two devices do not compare); others pool all
        groups = [(d, [p for p in pts if p.device == device]) for d, device in enumerate(devices)]
        for d, group in groups if per_device_front else [(0, list(pts))]:
            xs, ys = _step_front([getattr(p, x_key) for p in group], [p.error for p in group])
            if not xs:
                continue
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines+markers",
                line=dict(shape="hv", color=_FRONT_COLOR, width=2, dash=_DASHES[d % len(_DASHES)]),
                marker=dict(size=9, color=_FRONT_COLOR, symbol=_SYMBOLS_2D[d % len(_SYMBOLS_2D)] if per_device_front else "circle"),
                name=f"front · {devices[d]}" if per_device_front and several else "front",
                hoverinfo="skip",  # the trial's own marker underneath answers the hover
            ))
    if paper:
        fig.add_trace(go.Scatter(
            x=[r.params_m * 1e6 for r, _ in paper], y=[e for _, e in paper], mode="markers+text",
            name=PAPER_LABEL,
            marker=dict(size=12, symbol="star", color=_PAPER_COLOR, line=dict(width=1, color="white")),
            text=[r.name for r, _ in paper], textposition=_label_positions([r.params_m for r, _ in paper]),
            textfont=dict(size=9, color=_PAPER_COLOR),
            customdata=[[r.table, f"{r.params_m:g}M"] for r, _ in paper],
            hovertemplate=(
                "<b>%{text}</b> — paper, %{customdata[0]}<br>test error %{y:.2f} % after 200 epochs"
                " on the full training set<br>params %{customdata[1]} (as published)<extra></extra>"
            ),
        ))
    fig.update_layout(**_base_layout(
        title, 470,
        xaxis=dict(title=dict(text=x_title), type="log"),
        yaxis=dict(title=dict(text="error (%)")),
    ))
    return fig


def _hypervolume_figure(numbers: np.ndarray, hv: np.ndarray, objectives: Sequence[str]) -> go.Figure:
    fig = go.Figure(go.Scatter(
        x=(numbers + 1).tolist(), y=hv.tolist(), mode="lines", line=dict(shape="hv", color=_FRONT_COLOR, width=2),
        name="hypervolume", hovertemplate="after trial %{x}: %{y:.4f}<extra></extra>",
    ))
    top = REFERENCE_POINT ** len(objectives)
    fig.update_layout(**_base_layout(
        f"Hypervolume of the front ({', '.join(objectives)}), normalized", 380,
        xaxis=dict(title=dict(text="trials (by trial number)")),
        yaxis=dict(title=dict(text=f"hypervolume (max {top:.3g})"), rangemode="tozero"),
        showlegend=False,
    ))
    return fig


def _optimization_figure(info: FrontInfo) -> go.Figure:
    objective = info.objectives[0]
    values = info.values[:, 0]
    better = np.minimum if info.directions[0] == "minimize" else np.maximum
    best = better.accumulate(values)
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=list(info.trial_numbers), y=values.tolist(), mode="markers", name=objective,
        marker=dict(color=_OTHER_COLOR, size=7), text=list(info.names),
        hovertemplate="<b>%{text}</b><br>trial %{x}: %{y:.4g}<extra></extra>",
    ))
    fig.add_trace(go.Scatter(
        x=list(info.trial_numbers), y=best.tolist(), mode="lines", name=f"best {objective} so far",
        line=dict(shape="hv", color=_FRONT_COLOR, width=2), hoverinfo="skip",
    ))
    fig.update_layout(**_base_layout(
        f"Optimization history ({objective}, {info.directions[0]})", 400,
        xaxis=dict(title=dict(text="trial number")), yaxis=dict(title=dict(text=objective)),
    ))
    return fig


def _spec_of(p: _Point) -> dict[str, Any] | None:
    if p.spec is not None:
        return p.spec
    try:
        return parse_name(p.arch).to_dict()
    except SpecError:
        return None


def _parallel_figure(points: Sequence[_Point]) -> go.Figure | None:
    rows = [(p, s) for p in points if (s := _spec_of(p)) is not None and math.isfinite(p.error)]
    if not rows:
        return None
    blocks = ["B(" + ",".join(str(k) for k in s["kernels"]) + ")" for _, s in rows]
    block_names = sorted(set(blocks), key=lambda b: (len(b), b))

    def dim(label: str, values: list[float], **extra: Any) -> dict[str, Any]:
        low, high = min(values), max(values)
        if low == high:  # a fixed dimension: give the axis some room
            low, high = low - 1, high + 1
        return dict(label=label, values=values, range=[low, high], **extra)

    dims = [
        dim("depth", [float(s["depth"]) for _, s in rows]),
        dim("k (widen factor)", [float(s["widen_factor"]) for _, s in rows]),
        dim("l (convs/block)", [float(len(s["kernels"])) for _, s in rows]),
        dim("block", [float(block_names.index(b)) for b in blocks],
            tickvals=list(range(len(block_names))), ticktext=block_names),
        dim("dropout", [float(s.get("dropout", 0.0)) for _, s in rows]),
        dim("val error (%)", [p.error for p, _ in rows]),
    ]
    errors = [p.error for p, _ in rows]
    fig = go.Figure(go.Parcoords(
        dimensions=dims,
        line=dict(color=errors, colorscale="Viridis", reversescale=True, showscale=True,
                  colorbar=dict(title=dict(text="val error (%)"))),
    ))
    fig.update_layout(**_base_layout("Architectures of the eligible trials, coloured by validation error", 420))
    fig.update_layout(margin=dict(l=70, r=40, t=90, b=30))
    return fig


# --------------------------------------------------------------------------------------------
# HTML


_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
main { max-width: 1280px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #555; margin: 2px 0; }
.counts { display: flex; flex-wrap: wrap; gap: 8px; padding: 0; list-style: none; margin: 10px 0; }
.counts li { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 4px 10px; }
.counts b { font-size: 16px; margin-right: 4px; }
.note { border-left: 4px solid #888; background: #fff; padding: 8px 12px; margin: 10px 0; }
.warning { border-left-color: #e69f00; background: #fff8e6; }
.empty { border-left-color: #5b84b1; font-size: 15px; }
details { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 6px 10px; margin: 10px 0; }
details pre { max-height: 420px; overflow: auto; font-size: 12px; }
.plot { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px; margin: 10px 0; padding: 4px; min-width: 0; }
/* fixed columns: a plot is drawn while the page is parsed, before its neighbour exists */
.grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 10px; }
@media (max-width: 1100px) { .grid { grid-template-columns: minmax(0, 1fr); } }
.caption { color: #555; font-size: 13px; margin: 2px 4px 10px; }
table.sortable { border-collapse: collapse; background: #fff; font-size: 13px; width: 100%; }
table.sortable th, table.sortable td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; white-space: nowrap; }
table.sortable th { background: #f0f0f0; cursor: pointer; user-select: none; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; }
table.sortable td.text, table.sortable th.text { text-align: left; }
"""

# Click a header to sort by it; again to reverse. Numbers sort by value (data-sort), missing last.
# Once everything is laid out, a resize event lets every (responsive) plot fit its final box.
_SORT_JS = """
window.addEventListener("load", function () { window.dispatchEvent(new Event("resize")); });
document.querySelectorAll("table.sortable").forEach(function (table) {
  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (th, col) {
    th.tabIndex = 0;
    th.title = "sort by " + th.textContent;
    function sort() {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      function key(row) {
        var cell = row.cells[col];
        return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
      }
      var numeric = rows.every(function (r) { var v = key(r); return v === "" || !isNaN(Number(v)); });
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        var d = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        return ascending ? d : -d;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    }
    th.addEventListener("click", sort);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
  });
});
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: Any, text: str, *, numeric: bool = True) -> str:
    if numeric:
        sort = "" if value is None or (isinstance(value, float) and not math.isfinite(value)) else repr(float(value))
        return f'<td data-sort="{sort}">{_esc(text)}</td>'
    return f'<td class="text">{_esc(text)}</td>'


def _table(points: Sequence[_Point], table_id: str, caption: str) -> str:
    headers = ["trial", "arch", "val error %", "test error %", "params", "MACs", "latency ms", "device", "epochs"]
    lines = [f'<table class="sortable" id="{table_id}"><caption class="caption">{_esc(caption)}</caption>', "<thead><tr>"]
    text_columns = ("arch", "device")
    lines += [f'<th scope="col" class="{"text" if h in text_columns else "number"}">{_esc(h)}</th>' for h in headers]
    lines.append("</tr></thead><tbody>")
    for p in points:
        epochs = p.epochs if isinstance(p.epochs, (int, float)) and not isinstance(p.epochs, bool) else None
        lines.append("<tr>" + "".join([
            _cell(p.number, str(p.number)),
            _cell(None, p.arch, numeric=False),
            _cell(p.error, _fmt(p.error)),
            _cell(p.test_error, _fmt(p.test_error)),
            _cell(p.params, format_count(p.params) if math.isfinite(p.params) else "-"),
            _cell(p.macs, format_count(p.macs) if math.isfinite(p.macs) else "-"),
            _cell(p.latency_ms, _fmt(p.latency_ms, ".3g")),
            _cell(None, p.device, numeric=False),
            _cell(epochs, "-" if epochs is None else str(epochs)),
        ]) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _figure_html(fig: go.Figure, div_id: str, caption: str = "") -> str:
    height = fig.layout.height or 450
    body = pio.to_html(
        fig, include_plotlyjs=False, full_html=False, div_id=div_id, config=_PLOT_CONFIG,
        default_width="100%", default_height=f"{height}px",
    )
    caption_html = f'<figcaption class="caption">{caption}</figcaption>' if caption else ""
    return f'<figure class="plot">{body}{caption_html}</figure>'


def _counts(study: optuna.Study) -> Counter[str]:
    counts: Counter[str] = Counter({state: 0 for state in _STATES})
    for trial in study.get_trials(deepcopy=False):
        counts[trial_state_name(trial)] += 1
    return counts


def _space_text(space: Any) -> str:
    if space is None:
        return "(the study does not record its space)"
    try:
        return yaml.safe_dump(space, sort_keys=False, allow_unicode=True, width=100)
    except yaml.YAMLError:
        return json.dumps(space, indent=2, default=str)


def _header(study: optuna.Study, info: FrontInfo, counts: Counter[str], dataset: str | None) -> str:
    objectives = ", ".join(f"{o} ({d})" for o, d in zip(info.objectives, info.directions))
    written = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    shown = [s for s in _STATES if s != "waiting" or counts[s]]
    count_items = "".join(f'<li class="count-{s}"><b>{counts[s]}</b>{s}</li>' for s in shown)
    count_items += f'<li class="count-eligible"><b>{len(info.trials)}</b>eligible</li>'
    version = study.user_attrs.get("wrnsearch_version")
    made_by = f" (study by wrnsearch {_esc(version)})" if version else ""
    if len(info.objectives) > 1:
        count_items += f'<li class="count-front"><b>{int(info.on_front.sum())}</b>on the front</li>'
    return "\n".join([
        f"<h1>wrnsearch report: {_esc(study.study_name)}</h1>",
        f'<p class="meta">dataset <b>{_esc(dataset or "unknown")}</b> · objectives <b>{_esc(objectives)}</b>'
        f" · {sum(counts.values())} trials</p>",
        f'<p class="meta">written {written} by wrnsearch {_esc(__version__)}{made_by}</p>',
        f'<ul class="counts" id="counts">{count_items}</ul>',
        '<details id="space"><summary>Search space</summary>'
        f"<pre>{_esc(_space_text(study.user_attrs.get('space')))}</pre></details>",
    ])


def _notes(counts: Counter[str], devices: Sequence[str]) -> list[str]:
    notes = []
    if counts["running"]:
        notes.append(
            f'<p class="note" id="running-note">The search is still running: {counts["running"]} trial(s) in flight '
            "(or left by a stopped driver, to be reconciled on resume). This page is a snapshot.</p>"
        )
    if len(devices) > 1:
        listed = ", ".join(f"<b>{_esc(d)}</b>" for d in devices)
        notes.append(
            f'<p class="note warning" id="device-warning">&#9888; Latency was measured on {len(devices)} device types '
            f"({listed}): latencies are <b>not comparable across devices</b>. Each device has its own marker "
            "symbol; the error-vs-latency plot draws one front per device, while the 3D front, the table and the "
            "hypervolume pool all trials.</p>"
        )
    return notes


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
    points = _points(info, objectives)
    devices = _devices(points)
    multi = len(objectives) > 1
    paper = paper_results(dataset)

    body: list[str] = [_header(study, info, counts, dataset), *_notes(counts, devices)]
    plots = 0

    def add(fig: go.Figure | None, div_id: str, caption: str = "") -> None:
        nonlocal plots
        if fig is None:
            return
        body.append(_figure_html(fig, div_id, caption))
        plots += 1

    if not points:
        body.append(
            '<p class="note empty" id="no-trials">No eligible trial yet, so there is no front to show. '
            f"{_eligible_text()} Write the report again when trials have finished.</p>"
        )
    else:
        paper_caption = (
            "Stars: the paper's published results (Zagoruyko &amp; Komodakis 2016, Tables 4 and 6), labelled "
            f"<b>{PAPER_LABEL}</b>. The paper's numbers are <b>test errors after 200 epochs on the full training "
            "data</b>; this search's points are validation errors on images held out of training, after this "
            "search's epoch budget, so compare with care."
        ) if paper else ""
        if multi:
            body.append("<h2>Fronts</h2>")
            add(_scatter_3d(points, devices), "plot-3d",
                "Red: trials no other trial beats in validation error, parameters and latency together. "
                "Axes of parameters and latency are logarithmic. Drag to rotate; hover for the architecture.")
            body.append('<div class="grid">')
            add(_scatter_2d(points, devices, "params", "params", "Error vs parameters",
                            fronts=True, per_device_front=False, paper=paper), "plot-error-params", paper_caption)
            add(_scatter_2d(points, devices, "latency_ms", "latency (ms, training step at batch 32)",
                            "Error vs latency", fronts=True, per_device_front=len(devices) > 1), "plot-error-latency")
            body.append("</div>")
            history = hypervolume_history(study, info=info)  # the same snapshot of the trials
            add(_hypervolume_figure(history.trial_numbers, history.hypervolume, objectives), "plot-hypervolume",
                f"Each objective is min-max normalized over the eligible trials of this report (best 0, worst 1); "
                f"the reference point is {REFERENCE_POINT} in every coordinate. The normalization is the same "
                "for every trial count, so the curve never falls; values are not comparable between reports "
                "written at different times.")
        else:
            body.append("<h2>Optimization</h2>")
            add(_optimization_figure(info), "plot-history",
                f"Single-objective study: the value of every eligible trial and the best so far. {_eligible_text()}")
            body.append('<div class="grid">')
            add(_scatter_2d(points, devices, "params", "params", "Error vs parameters",
                            fronts=False, per_device_front=False, paper=paper), "plot-error-params", paper_caption)
            add(_scatter_2d(points, devices, "latency_ms", "latency (ms, training step at batch 32)",
                            "Error vs latency", fronts=False, per_device_front=False), "plot-error-latency")
            body.append("</div>")
        body.append("<h2>Architectures</h2>")
        add(_parallel_figure(points), "plot-parallel",
            "Drag along an axis to filter; l is the number of convolutions per block.")
        if multi:
            body.append(f"<h2>The front ({_esc(', '.join(objectives))})</h2>")
            front = [points[i] for i in info.front_indices]
            body.append(_table(front, "front-table", f"{len(front)} trial(s) on the front; click a header to sort."))
        else:
            order = np.argsort(info.values[:, 0] * (1 if info.directions[0] == "minimize" else -1), kind="stable")
            best = [points[i] for i in order[:_BEST_TRIALS]]
            body.append(f"<h2>Best trials ({_esc(objectives[0])})</h2>")
            body.append(_table(best, "front-table", f"The {len(best)} best eligible trial(s); click a header to sort."))
        body.append(f'<p class="caption">{_eligible_text()}</p>')

    title = f"wrnsearch report: {study.study_name}"
    logger.debug("report of %r: %d plots, %d eligible trials", study.study_name, plots, len(points))
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style>",
        '<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: "local"};</script>',
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>',
        f'</head><body><main data-plots="{plots}">',
        *body,
        "</main>",
        f"<script>{_SORT_JS}</script>",
        "</body></html>",
        "",
    ])


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
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    logger.info("wrote the report of %r to %s", study.study_name, path)
    return path
