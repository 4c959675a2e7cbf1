"""The report as a reader sees it: each figure drawn in headless Chromium, photographed, and
measured on screen (label boxes, tick labels, axis ranges), at the widths the page lays out.

The screenshots are kept in $WRNSEARCH_REPORT_SHOTS (default /tmp/report_shots), one PNG per
figure and report, named ``<report>-<width>-<figure>.png``, to be looked at. Like the browser
tests of test_page.py, these skip without /usr/bin/chromium or playwright.
"""

from __future__ import annotations

import math
import os
import random
import re
from io import BytesIO
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from tests.report.pages import figure_of, open_report
from tests.studies import CPU, constraints, trained_attrs
from wrnsearch.report import PAPER_LABEL, paper_results, write_report
from wrnsearch.spec import WRNSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

SHOTS = Path(os.environ.get("WRNSEARCH_REPORT_SHOTS", "/tmp/report_shots"))
# the page's two columns at their widest (1300) and narrowest (1101: the grid's breakpoint is 1100)
WIDTHS = (1300, 1101)
FIGURES = {"plot-3d", "plot-error-params", "plot-error-macs", "plot-error-latency", "plot-error-infer-latency",
           "plot-error-memory", "plot-hypervolume", "plot-learning-curves", "plot-parallel"}


def quickstart_study(path: Path) -> optuna.Study:
    """A study like the one spaces/quickstart.yaml leaves: small WRNs of 35K to 680K parameters
    (depth 10 or 16, k 1 to 3, B(3,3) or B(3,1), dropout 0) trained for 3 epochs on CIFAR-10 to 50-70 %
    validation error, each epoch's error stored as an intermediate value, and one trial pruned
    after its first epoch. Far from the paper's stars (4-7 % error, 0.6M-52.5M parameters)."""
    rng = random.Random(7)
    objectives = ["error", "params", "latency_ms"]
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name="quickstart", directions=["minimize"] * 3)
    study.set_metric_names(objectives)
    space = {"name": "quickstart", "dataset": {"name": "cifar10"}, "objectives": objectives,
             "space": {"depth": [10, 16], "widen_factor": [1, 2, 3], "block": ["B(3,3)", "B(3,1)"]},
             "budget": {"max_params": 680e3}, "train": {"epochs": 3}}
    for key, value in (("space", space), ("objectives", objectives), ("dataset", "cifar10"),
                       ("wrnsearch_version", "0.1.0")):
        study.set_user_attr(key, value)
    dist = {"architecture": CategoricalDistribution(["x"])}
    specs = [WRNSpec(depth=d, widen_factor=k, kernels=b) for d, k, b in
             [(10, 3, (3, 3)), (10, 1, (3, 1)), (10, 2, (3, 3)), (16, 1, (3, 3)), (10, 1, (3, 3)), (16, 1, (3, 1)),
              (10, 2, (3, 1))]]
    for spec in specs:
        attrs = trained_attrs(spec, rng, CPU)
        error = round(rng.uniform(50, 70), 2)
        attrs |= {"val_error": error, "test_error": round(error + rng.uniform(-1, 1), 2), "curve": None}
        study.add_trial(create_trial(
            values=[error, float(attrs["params"]), attrs["latency_ms"]], params={"architecture": "x"},
            distributions=dist, user_attrs=attrs, constraints=constraints(attrs["params"], 680e3),
            intermediate_values={1: error + 14.0, 2: error + 5.5, 3: error}))
    pruned = trained_attrs(WRNSpec(depth=16, widen_factor=2, kernels=(3, 1)), rng, CPU) | {"status": "pruned"}
    study.add_trial(create_trial(state=TrialState.PRUNED, params={"architecture": "x"}, distributions=dist,
                                 user_attrs=pruned, intermediate_values={1: 81.0}))
    return study


@pytest.fixture(scope="module")
def shot_reports(tmp_path_factory, multi_report) -> dict[str, tuple[optuna.Study, Path]]:
    root = tmp_path_factory.mktemp("shots")
    study = quickstart_study(root / "quickstart.db")
    return {"multi": multi_report, "quickstart": (study, write_report(study, root / "quickstart.html"))}


# What each figure shows on screen: its traces, svg layers, paper labels, stars and tick labels,
# as boxes in CSS pixels ([left, top, right, bottom]).
_SCREEN = """paperLabel => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  return Array.from(document.querySelectorAll(".plotly-graph-div")).map(div => {
    const data = div._fullData || [];
    const traces = Array.from(div.querySelectorAll(".scatterlayer .trace"));
    const paper = data.findIndex(t => t.name === paperLabel);
    const size = div._fullLayout._size, rect = div.getBoundingClientRect();
    return {
      id: div.id, traces: data.length, svgs: div.querySelectorAll(".main-svg").length,
      plotArea: [rect.left + size.l, rect.top + size.t, rect.left + size.l + size.w, rect.top + size.t + size.h],
      // the paper's names: annotations now, the paper trace's own text before
      labels: Array.from(div.querySelectorAll(".annotation-text-g")).map(g => [g.textContent, box(g)])
        .concat(paper < 0 ? [] : Array.from(traces[paper].querySelectorAll(".textpoint text"))
                                   .map(t => [t.textContent, box(t)])),
      stars: paper < 0 ? [] : Array.from(traces[paper].querySelectorAll(".point")).map(box),
      xticks: Array.from(div.querySelectorAll(".xtick text")).map(t => [t.textContent, box(t)]),
      dimensions: data[0] && data[0].type === "parcoords"
        ? data[0].dimensions.map(d => ({label: d.label, range: d.range, values: Array.from(d.values)})) : null,
      axisTicks: Array.from(div.querySelectorAll(".y-axis")).map(a =>
        Array.from(a.querySelectorAll(".tick text")).map(t => t.textContent)),
    };
  });
}"""


def _intersect(a, b, gap: float = 0.0) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _blank(png: bytes) -> tuple[float, int]:
    """The share of pixels that are not background, and the number of distinct colours."""
    from PIL import Image

    pixels = np.asarray(Image.open(BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(np.int64)
    drawn = ((255 - pixels).max(axis=1) > 16).mean()
    return float(drawn), len(np.unique(pixels[:, 0] << 16 | pixels[:, 1] << 8 | pixels[:, 2]))


@pytest.fixture(scope="module")
def screens(browser, shot_reports):
    """Each report at each width: what is on screen, and a screenshot of every figure (saved)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    seen = {}
    for key, (_, path) in shot_reports.items():
        page, problems = open_report(browser, path)
        for width in WIDTHS:  # the responsive plots fit the new width on the resize event
            page.set_viewport_size({"width": width, "height": 900})
            page.evaluate("() => new Promise(r => { window.dispatchEvent(new Event('resize')); setTimeout(r, 400); })")
            plots = {p["id"]: p for p in page.evaluate(_SCREEN, PAPER_LABEL)}
            for div_id, plot in plots.items():
                plot["png"] = page.locator(f"#{div_id}").screenshot(path=str(SHOTS / f"{key}-{width}-{div_id}.png"))
            seen[key, width] = plots, page.content(), problems
        page.close()
    return seen


@pytest.mark.parametrize("key", ["multi", "quickstart"])
@pytest.mark.parametrize("width", WIDTHS)
def test_every_figure_is_drawn_and_not_blank(screens, shot_reports, key, width):
    plots, _, problems = screens[key, width]
    assert problems == []
    assert set(plots) == FIGURES
    text = shot_reports[key][1].read_text()
    for div_id, plot in plots.items():
        assert plot["svgs"] >= 1 and plot["traces"] == len(figure_of(text, div_id)[0]) >= 1, plot
        drawn, colours = _blank(plot["png"])
        assert drawn > 0.005 and colours > 30, (div_id, drawn, colours)


@pytest.mark.parametrize("key", ["multi", "quickstart"])
@pytest.mark.parametrize("width", WIDTHS)
def test_the_paper_labels_overlap_nothing(screens, key, width):
    """Every star named once, no two names' boxes touching, none on a star, all inside the plot."""
    plot = screens[key, width][0]["plot-error-params"]
    names = sorted(r.name for r, _ in paper_results("cifar10"))
    assert sorted(name for name, _ in plot["labels"]) == names and len(plot["stars"]) == len(names)
    boxes = [b for _, b in plot["labels"]]
    touching = [(plot["labels"][i][0], plot["labels"][j][0]) for i in range(len(boxes))
                for j in range(i + 1, len(boxes)) if _intersect(boxes[i], boxes[j])]
    assert touching == []
    on_stars = [name for name, b in plot["labels"] if any(_intersect(b, s, gap=-1.0) for s in plot["stars"])]
    assert on_stars == []
    area = plot["plotArea"]
    outside = [name for name, b in plot["labels"]
               if b[0] < area[0] - 1 or b[1] < area[1] - 1 or b[2] > area[2] + 1 or b[3] > area[3] + 1]
    assert outside == []


def _round_log_tick(text: str) -> bool:
    """One significant digit (a power of ten times 1 to 9), as a plain number (0.3, 30) or a count (300K)."""
    value = float(text[:-1]) * {"K": 1e3, "M": 1e6, "G": 1e9}[text[-1]] if text[-1] in "KMG" else float(text)
    mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
    return abs(mantissa - round(mantissa)) < 1e-6


@pytest.mark.parametrize("key", ["multi", "quickstart"])
def test_log_axes_have_few_round_ticks(screens, key):
    for div_id in ("plot-error-params", "plot-error-latency", "plot-error-infer-latency"):
        ticks = screens[key, 1101][0][div_id]["xticks"]
        texts = [t for t, _ in ticks]
        assert 2 <= len(ticks) <= 7 and len(set(texts)) == len(texts), (div_id, texts)
        assert all(_round_log_tick(t) for t in texts), (div_id, texts)
        boxes = sorted(b for _, b in ticks)
        assert all(b[0] - a[2] >= 8 for a, b in zip(boxes, boxes[1:])), (div_id, texts)  # room between labels


def test_the_learning_curves_show_every_trained_trial_on_whole_epochs(screens, shot_reports):
    study, path = shot_reports["quickstart"]
    plot = screens["quickstart", 1300][0]["plot-learning-curves"]
    assert [t for t, _ in plot["xticks"]] == ["1", "2", "3"]
    data, layout = figure_of(path.read_text(), "plot-learning-curves")
    trained = {t.number: t.intermediate_values for t in study.trials if t.intermediate_values}
    lines = {int(re.match(r"#(\d+) ", t["hovertemplate"]).group(1)): dict(zip(t["x"], t["y"])) for t in data}
    assert lines == trained  # one line per trained trial, the pruned one's single epoch included
    assert layout["xaxis"]["dtick"] == 1 and layout["xaxis"]["tickformat"] == "d"


def test_the_parallel_coordinates_span_the_values_the_trials_take(screens):
    plot = screens["quickstart", 1300][0]["plot-parallel"]
    dims = {d["label"]: d for d in plot["dimensions"]}
    # every quickstart trial has dropout 0 and two convolutions per block: no axis of an invented range
    assert set(dims) == {"depth", "k (widen factor)", "block", "val error (%)"}
    for d in dims.values():
        assert d["range"] == [min(d["values"]), max(d["values"])], d["label"]
    ticks = dict(zip([d["label"] for d in plot["dimensions"]], plot["axisTicks"]))
    assert ticks["depth"] == ["10", "16"] and ticks["k (widen factor)"] == ["1", "2", "3"]
    assert ticks["block"] == ["B(3,1)", "B(3,3)"]
    caption = re.search(r'id="plot-parallel".*?<figcaption class="caption">(.*?)</figcaption>',
                        screens["quickstart", 1300][1], re.S)
    assert caption and "dropout 0" in caption.group(1) and "l (convs/block) 2" in caption.group(1)
