"""Search quality from replays: medians with bootstrap intervals, quartiles and paired comparisons
over seeds, as a table and as plotly curves.

N is a quarter of the table's architectures and C a quarter of the worker-seconds that training
every architecture fully costs; each method is read at N and 2N launched trials and at C and 2C
worker-seconds (:func:`summarize`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from wrnsearch.bench._replay import hv_at, small_front_found
from wrnsearch.bench._statistics import LEVEL, RESAMPLES, bootstrap, paired_share, quartiles

MARKS = ("N", "2N", "C", "2C")
# the paired comparisons of the first method (A) with each other (B): A at the first mark against B
# at the second; A at N against B at 2N asks whether A needs half of B's trials
PAIRS = (("N", "N"), ("N", "2N"), ("C", "2C"))


def checkpoints(result: dict[str, Any]) -> dict[str, float]:
    """N, 2N (trials) and C, 2C (worker-seconds) of a result."""
    n = max(1, result["architectures"] // 4)
    c = result["full_compute_s"] / 4
    return {"N": n, "2N": 2 * n, "C": c, "2C": 2 * c}


def mark_values(result: dict[str, Any]) -> dict[str, dict[str, list[float] | None]]:
    """Per method and mark: each seed's hypervolume there, in the order of ``result["seeds"]``
    (None at N or 2N when a run launched fewer trials)."""
    marks = checkpoints(result)
    out: dict[str, dict[str, list[float] | None]] = {}
    for name, method in result["methods"].items():
        runs = sorted(method["seeds"], key=lambda r: result["seeds"].index(r["seed"]))
        row: dict[str, list[float] | None] = {}
        for key in ("N", "2N"):
            values = [r["hv_at_trials"].get(str(int(marks[key]))) for r in runs]
            row[key] = None if any(v is None for v in values) else [float(v) for v in values]
        for key in ("C", "2C"):
            row[key] = [hv_at(r["hv_at_compute"], marks[key]) for r in runs]
        out[name] = row
    return out


def summarize(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per method: at N, 2N, C and 2C the median hypervolume with its bootstrap interval and the
    quartiles; the small front members found (quartiles); launched, stopped and worker-seconds."""
    values = mark_values(result)
    out: dict[str, dict[str, Any]] = {}
    for name, method in result["methods"].items():
        runs = method["seeds"]
        row: dict[str, Any] = {}
        for key in MARKS:
            v = values[name][key]
            row[f"hv@{key}"] = None if v is None else {"median": bootstrap(v)._asdict(), "quartiles": quartiles(v)}
        row["small_front"] = quartiles([small_front_found(result, r) for r in runs])
        row["launched"] = float(np.median([r["launched"] for r in runs]))
        row["stopped"] = float(np.median([r["stopped"] for r in runs]))
        row["worker_s"] = float(np.median([r["worker_s"] for r in runs]))
        row["wall_s"] = float(sum(r["wall_s"] for r in runs))
        out[name] = row
    return out


def paired(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The first method (A) against each other (B) on the same seeds: for each of :data:`PAIRS`, the
    share of seeds on which A at its mark reaches at least B's hypervolume at its own."""
    values = mark_values(result)
    names = list(result["methods"])
    out = []
    for other in names[1:]:
        row: dict[str, Any] = {"a": names[0], "b": other}
        for mine, theirs in PAIRS:
            a, b = values[names[0]][mine], values[other][theirs]
            row[f"a@{mine}>=b@{theirs}"] = None if a is None or b is None else paired_share(a, b)._asdict()
        out.append(row)
    return out


def statistics(result: dict[str, Any]) -> dict[str, Any]:
    """What ``--format json`` adds to the raw runs: :func:`summarize` and :func:`paired`."""
    return {"summary": summarize(result), "paired": paired(result),
            "interval": f"{LEVEL:.0%} percentile bootstrap over seeds, {RESAMPLES} resamples"}


def _cell(stat: dict[str, Any] | None) -> str:
    if stat is None:
        return "-"
    m, q = stat["median"], stat["quartiles"]
    return f"{m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}] ({q[0]:.3f}-{q[2]:.3f})"


def _share(stat: dict[str, Any] | None) -> str:
    return "-" if stat is None else f"{stat['value']:.2f} [{stat['low']:.2f}, {stat['high']:.2f}]"


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def format_quality(result: dict[str, Any]) -> str:
    """The text table ``wrnsearch bench search --format table`` prints."""
    marks = checkpoints(result)
    seeds = result["seeds"]
    lines = [
        f"table {result['table']}: {result['architectures']} architectures, {result['epochs']} epochs; "
        f"{result['workers']} workers; seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}); {result['trials']} trials per run"
        + (f", {result['compute_budget_s']:,.0f} worker-s budget" if result.get("compute_budget_s") else ""),
        f"hypervolume of the whole table (hv_true): {result['hv_true']:.3f}; N = {marks['N']} trials, "
        f"C = {marks['C']:,.0f} worker-s (a quarter of training everything: {result['full_compute_s']:,.0f} s)",
        f"true front: {len(result['true_front'])} architectures, {len(result['true_front_small'])} of them below "
        "the median parameter count",
        _truth_line(result),
        f"each cell: median [{LEVEL:.0%} bootstrap interval of the median] (lower-upper quartile) over seeds",
    ]
    rows = [["method", f"HV@N={marks['N']}", f"HV@2N={marks['2N']}", f"HV@C={marks['C']:,.0f}s",
             f"HV@2C={marks['2C']:,.0f}s", "small front found", "stopped", "worker-s"]]
    for name, s in summarize(result).items():
        rows.append([name, *(_cell(s[f"hv@{k}"]) for k in MARKS),
                     f"{s['small_front'][1]:g} [{s['small_front'][0]:g}, {s['small_front'][2]:g}]",
                     f"{s['stopped']:g}", f"{s['worker_s']:,.0f}"])
    lines += _columns(rows)
    pairs = paired(result)
    if pairs:
        lines.append(f"paired on the same seeds, A = {pairs[0]['a']}: share of seeds where A reaches at least B's "
                     f"hypervolume [{LEVEL:.0%} bootstrap interval]")
        rows = [["B", *(f"A@{a} >= B@{b}" for a, b in PAIRS)]]
        rows += [[p["b"], *(_share(p[f"a@{a}>=b@{b}"]) for a, b in PAIRS)] for p in pairs]
        lines += _columns(rows)
    lines.append(f"replayed in {result['wall_s']:.1f} s")
    return "\n".join(lines)


def _truth_line(result: dict[str, Any]) -> str:
    if result.get("truth") == "mean":
        return (f"judged by each architecture's mean final validation error over its "
                f"{result['seeds_per_architecture']} training seeds; a search sees one seed's curve per "
                "architecture, drawn by its seed")
    return "judged by the first training seed's final validation error, which a search sees too"


PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]
DASHES = ["", "6 3"]  # a second round of the palette is dashed, so that no two methods look alike


class Band(NamedTuple):
    """A curve's x values and its lower quartile, median and upper quartile over seeds."""

    xs: list[float]
    lo: list[float]
    med: list[float]
    hi: list[float]


def _band(xs: Sequence[float], runs: Sequence[Sequence[float]]) -> Band:
    q = np.percentile(np.asarray(runs, dtype=float), [25, 50, 75], axis=0)
    return Band(list(xs), list(q[0]), list(q[1]), list(q[2]))


def curves(result: dict[str, Any], points: int = 200) -> list[tuple[str, Band, Band]]:
    """Per method: HV against launched trials, and against worker-seconds on a common grid."""
    top = max((r["worker_s"] for m in result["methods"].values() for r in m["seeds"]), default=1.0)
    grid = list(np.linspace(0, top, points))
    out = []
    for name, method in result["methods"].items():
        runs = method["seeds"]
        trials = list(range(1, min(len(r["hv_at_trials"]) for r in runs) + 1))
        out.append((name, _band(trials, [[r["hv_at_trials"][str(j)] for j in trials] for r in runs]),
                    _band(grid, [[hv_at(r["hv_at_compute"], x) for x in grid] for r in runs])))
    return out


def quality_figure(result: dict[str, Any]) -> Any:
    """Median and quartile curves per method: HV against launched trials and against worker-seconds."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("hypervolume vs launched trials",
                                                        "hypervolume vs worker-seconds"))
    for i, (name, by_trials, by_compute) in enumerate(curves(result)):
        style = (PALETTE[i % len(PALETTE)], "dash" if i >= len(PALETTE) else "solid")
        _add_band(fig, go, by_trials, name, style, col=1, legend=True)
        _add_band(fig, go, by_compute, name, style, col=2, legend=False)
    for col in (1, 2):
        fig.add_hline(y=result["hv_true"], line_dash="dot", line_color="gray", row=1, col=col)
    fig.update_yaxes(title_text="hypervolume (normalized, ref 1.1)")
    fig.update_xaxes(title_text="launched trials", row=1, col=1)
    fig.update_xaxes(title_text="worker-seconds", row=1, col=2)
    fig.update_layout(title=f"Search quality on {result['table']}: median and quartiles over "
                            f"{len(result['seeds'])} seeds, {result['workers']} workers", height=520)
    return fig


def _add_band(fig: Any, go: Any, band: Band, name: str, style: tuple[str, str], *, col: int, legend: bool) -> None:
    color, dash = style
    fig.add_trace(go.Scatter(x=band.xs + band.xs[::-1], y=band.hi + band.lo[::-1], fill="toself",
                             fillcolor=color, opacity=0.15, line={"width": 0}, hoverinfo="skip",
                             legendgroup=name, showlegend=False), row=1, col=col)
    fig.add_trace(go.Scatter(x=band.xs, y=band.med, mode="lines", name=name, line={"color": color, "dash": dash},
                             legendgroup=name, showlegend=legend), row=1, col=col)


def write_quality_html(result: dict[str, Any], path: str) -> None:
    """A self-contained HTML page (plotly inlined) with the curves and the text table."""
    import html

    from wrnsearch.files import atomic_write_text

    fig = quality_figure(result)
    body = fig.to_html(full_html=False, include_plotlyjs=True)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>wrnsearch search quality</title></head>"
            f"<body>{body}<pre>{html.escape(format_quality(result))}</pre></body></html>")
    atomic_write_text(path, page)


def quality_svg(result: dict[str, Any], *, width: int = 920, height: int = 400) -> str:
    """The same median and quartile curves as a small standalone SVG (for BENCHMARKS.md)."""
    import html

    methods = curves(result, points=120)
    top, bottom, left = 30, 80, 50
    panel_w = (width - left - 40) / 2
    plot_h = height - top - bottom
    hv_max = result["hv_true"] * 1.02
    lo_hv = max(0.0, min(min(min(t.lo), hv_max) for _, t, _ in methods) - 0.02)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="11"><rect width="100%" height="100%" fill="white"/>']

    def y_of(hv: float) -> float:
        return top + plot_h * (1 - (max(hv, lo_hv) - lo_hv) / (hv_max - lo_hv))

    panels = (("hypervolume vs launched trials", "launched trials", max(t.xs[-1] for _, t, _ in methods)),
              ("hypervolume vs worker-seconds", "worker-seconds (simulated)", methods[0][2].xs[-1]))
    for p, (title, label, x_max) in enumerate(panels):
        x0 = left + p * (panel_w + 20)
        out.append(f'<rect x="{x0}" y="{top}" width="{panel_w - 20}" height="{plot_h}" fill="none" stroke="#999"/>')
        out.append(f'<text x="{x0 + (panel_w - 20) / 2}" y="{top - 10}" text-anchor="middle">{title}</text>')
        for frac in (0, 0.5, 1):
            out.append(f'<text x="{x0 + frac * (panel_w - 20)}" y="{top + plot_h + 15}" text-anchor="middle">'
                       f'{frac * x_max:,.0f}</text>')
        out.append(f'<text x="{x0 + (panel_w - 20) / 2}" y="{top + plot_h + 30}" text-anchor="middle">{label}</text>')
        for hv in np.linspace(lo_hv, hv_max, 5):
            out.append(f'<text x="{x0 - 4}" y="{y_of(hv) + 4}" text-anchor="end">{hv:.2f}</text>')
        ty = y_of(result["hv_true"])
        out.append(f'<line x1="{x0}" x2="{x0 + panel_w - 20}" y1="{ty}" y2="{ty}" stroke="#aaa" stroke-dasharray="4"/>')
        for i, bands in enumerate(methods):
            band = bands[1 + p]
            sx = [x0 + (panel_w - 20) * x / (x_max or 1) for x in band.xs]
            area = " ".join(f"{a:.1f},{y_of(b):.1f}" for a, b in zip(sx + sx[::-1], band.hi + band.lo[::-1]))
            line = " ".join(f"{a:.1f},{y_of(b):.1f}" for a, b in zip(sx, band.med))
            color, dash = PALETTE[i % len(PALETTE)], DASHES[(i // len(PALETTE)) % len(DASHES)]
            out.append(f'<polygon points="{area}" fill="{color}" fill-opacity="0.12" stroke="none"/>')
            out.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="1.6" '
                       f'stroke-dasharray="{dash}"/>')
    for i, (name, _, _) in enumerate(methods):
        x = left + (i % 5) * 170
        y = height - 34 + 14 * (i // 5)
        color, dash = PALETTE[i % len(PALETTE)], DASHES[(i // len(PALETTE)) % len(DASHES)]
        out.append(f'<line x1="{x}" x2="{x + 18}" y1="{y - 4}" y2="{y - 4}" stroke="{color}" stroke-width="2" '
                   f'stroke-dasharray="{dash}"/><text x="{x + 22}" y="{y}">{html.escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)
