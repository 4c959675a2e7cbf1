"""The HTML report: what it says about a study, that it is self-contained, and that it renders.

The browser tests open the written file in headless Chromium (Debian's ``chromium`` driven by
Playwright for Python) with every network request refused, and check that each plot rendered
without a JavaScript error. They skip when /usr/bin/chromium (or $WRNSEARCH_CHROMIUM) or
playwright is missing; ``playwright install`` is not needed, the system Chromium is used.
"""

from __future__ import annotations

import base64
import gzip
import html
import re
from pathlib import Path

import numpy as np
import optuna
import plotly.offline
import pytest
from optuna.trial import create_trial

from tests.conftest import REPO
from tests.report.pages import figure_of, open_report
from tests.studies import CPU, GPU, make_study
from wrnsearch.cost import model_cost
from wrnsearch.errors import RunError
from wrnsearch.pareto import front_info, front_rows, hypervolume_history
from wrnsearch.report import PAPER_LABEL, PAPER_RESULTS, paper_results, render_report, write_report
from wrnsearch.spec import parse_name
from wrnsearch.study import outcome_of

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

# error against every other objective, in the objectives' registry order
MULTI_PLOTS = ["plot-3d", "plot-error-params", "plot-error-macs", "plot-error-latency", "plot-error-infer-latency",
               "plot-error-memory", "plot-hypervolume", "plot-learning-curves", "plot-parallel"]
SINGLE_PLOTS = ["plot-history", "plot-error-params", "plot-error-macs", "plot-error-latency",
                "plot-error-infer-latency", "plot-error-memory", "plot-learning-curves", "plot-parallel"]


# --------------------------------------------------------------------------------------------
# Studies and their reports, written once per module


@pytest.fixture(scope="module")
def reports(tmp_path_factory, multi_report) -> dict[str, tuple[optuna.Study, Path]]:
    """Reports of: a running multi-device study with every trial state (CIFAR-10, the one every report
    test reads), a finished
    single-objective one (CIFAR-100), one without any eligible trial, and an SVHN one."""
    root = tmp_path_factory.mktemp("reports")
    studies = {
        "single": make_study(root / "single.db", objectives=("error",), n_complete=15, dataset="cifar100",
                             n_running=0, seed=3, name="single"),
        "empty": make_study(root / "empty.db", n_complete=0, n_running=2, name="empty"),
        "svhn": make_study(root / "svhn.db", n_complete=6, dataset="svhn", n_running=0, seed=4, name="svhn",
                           objectives=("error", "params")),
        "infer": make_study(root / "infer.db", n_complete=12, n_running=0, seed=5, name="infer",
                            objectives=("error", "params", "latency_infer_ms"), train={"infer_batch": 4}),
    }
    return {"multi": multi_report} | {key: (study, write_report(study, root / key / "report.html"))
                                      for key, study in studies.items()}


def _html(reports, key: str) -> str:
    return reports[key][1].read_text(encoding="utf-8")


def _plot_ids(text: str) -> list[str]:
    return re.findall(r'<div id="(plot-[a-z0-9-]+)" class="plotly-graph-div"', text)


def _traces(text: str, div_id: str) -> list[dict]:
    return figure_of(text, div_id)[0]


def _table_trials(text: str) -> list[int]:
    table = re.search(r'<table class="sortable" id="front-table">(.*?)</table>', text, re.S)
    assert table, "no front table"
    return [int(n) for n in re.findall(r'<tr><td data-sort="[^"]*">(\d+)</td>', table.group(1))]


# --------------------------------------------------------------------------------------------
# What the page says


def test_write_report_returns_the_path_and_leaves_no_partial_file(reports):
    study, path = reports["multi"]
    assert path.is_file() and path.name == "report.html"
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]


def test_report_is_self_contained(reports):
    for key in reports:
        text = _html(reports, key)
        assert not re.search(r"<script[^>]*\bsrc=", text), key  # plotly.js inline, no CDN
        assert not re.search(r"<link[^>]*\bhref=", text), key
        assert ("Plotly.newPlot(" in text) == (key != "empty"), key
        assert text.count("<script") == text.count("</script>")
        # the page's plotly.js is the installed one, gzip-compressed in base64; a page without plots has none
        packed = re.search(r'<script type="application/gzip;base64" id="plotlyjs-gzip">([^<]*)</script>', text)
        assert (packed is not None) == (key != "empty"), key
        if packed:
            assert gzip.decompress(base64.b64decode(packed.group(1))).decode() == plotly.offline.get_plotlyjs()
            # every figure's script waits for it, none runs before plotly is there
            assert text.count('<script type="text/x-wrnsearch-figure">') == text.count("Plotly.newPlot(") > 0


@pytest.mark.parametrize("key, low, high", [("multi", 1_900_000, 2_400_000), ("empty", 5_000, 60_000)])
def test_report_is_small_and_says_its_size(reports, key, low, high):
    """plotly.js compressed: 2.1 MB, not 4.9, for the 30 trials of the multi-device study."""
    size = reports[key][1].stat().st_size
    assert low < size < high, size
    footer = re.search(r'<footer class="meta" id="page-size">This page: <b>([^<]*)</b>', _html(reports, key))
    assert footer and footer.group(1) == (f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} KB")


def test_header_counts_states_and_shows_the_space_collapsed(reports):
    study, _ = reports["multi"]
    text = _html(reports, "multi")
    assert "<h1>wrnsearch report: multi</h1>" in text
    expected = {"done": 0, "pruned": 0, "failed": 0, "infeasible": 0, "running": 0, "reused": 0}
    for trial in study.trials:
        expected[outcome_of(trial).value] += 1
    # the copy of an earlier result counts as reused, as in the live view, not as a second "done"
    assert expected == {"done": 29, "pruned": 3, "failed": 2, "infeasible": 3, "running": 2, "reused": 1}
    for state, count in expected.items():
        assert f'<li class="count-{state}"><b>{count}</b>{state}</li>' in text
    assert "count-interrupted" not in text and "count-waiting" not in text  # listed only when some trial is
    assert f'<b>{len(front_info(study).trials)}</b>eligible' in text
    assert "error (minimize), params (minimize), latency_ms (minimize)" in text
    details = re.search(r'<details id="space">(.*?)</details>', text, re.S)
    assert details and "<details id=\"space\" open" not in text
    assert "max_params: 20000000.0" in html.unescape(details.group(1))


def test_multi_objective_report_has_every_plot_and_the_front_table(reports):
    study, _ = reports["multi"]
    text = _html(reports, "multi")
    assert _plot_ids(text) == MULTI_PLOTS
    assert f'data-plots="{len(MULTI_PLOTS)}"' in text
    assert _table_trials(text) == [row["trial"] for row in front_rows(study)]
    assert 'id="running-note"' in text  # trials in flight
    # several devices: a visible warning that latency is not comparable, both devices named
    warning = re.search(r'<p class="note warning" id="device-warning">(.*?)</p>', text, re.S)
    assert warning and "not comparable across devices" in warning.group(1)
    assert GPU in warning.group(1) and CPU in warning.group(1)
    legend = text.replace("\\u00b7", "·")  # plotly's JSON escapes non-ASCII
    assert f"trials · {GPU}" in legend and f"front · {CPU}" in legend  # per-device traces and fronts


@pytest.mark.parametrize("key, dataset", [("multi", "cifar10"), ("single", "cifar100")])
def test_paper_results_are_labelled_reference_markers_on_cifar(reports, key, dataset):
    text = _html(reports, key)
    assert "test errors after 200 epochs on the full training data" in text
    paper = [t for t in _traces(text, "plot-error-params") if t.get("name") == PAPER_LABEL]
    assert len(paper) == 1
    expected = {r.name: (r.params_m * 1e6, getattr(r, dataset)) for r in PAPER_RESULTS
                if getattr(r, dataset) is not None}
    assert dict(zip(paper[0]["text"], zip(paper[0]["x"], paper[0]["y"]))) == expected
    # named by annotations (placed apart) at their stars, not by text drawn by the trace
    assert paper[0]["mode"] == "markers"
    labels = figure_of(text, "plot-error-params")[1]["annotations"]
    assert sorted(a["text"] for a in labels) == sorted(expected)
    for a in labels:
        assert (10 ** a["x"], a["y"]) == pytest.approx(expected[a["text"]]) and a["showarrow"]
    assert ("WRN-40-8" in expected) == (dataset == "cifar10")  # no CIFAR-100 result published
    for div_id in ("plot-error-latency", "plot-error-infer-latency", "plot-parallel"):  # on error vs params only
        assert all(t.get("name") != PAPER_LABEL for t in _traces(text, div_id))


def test_no_paper_results_off_cifar(reports):
    assert PAPER_LABEL not in _html(reports, "svhn")
    assert all(t.get("name") != PAPER_LABEL for t in _traces(_html(reports, "svhn"), "plot-error-params"))
    assert paper_results("svhn") == [] and paper_results(None) == []


def test_plotted_fronts_and_hypervolume_are_the_computed_ones(reports):
    study, _ = reports["multi"]
    text = _html(reports, "multi")
    trials = front_info(study).trials
    figures = {t.number: (t.user_attrs["params"], t.user_attrs["latency_ms"],
                          t.user_attrs["val_error"]) for t in trials}
    # 3D: the red traces hold exactly the front of (error, params, latency), the others the rest
    on_front = {(x, y, z) for t in _traces(text, "plot-3d") if t["name"].startswith("front")
                for x, y, z in zip(t["x"], t["y"], t["z"])}
    assert on_front == {figures[row["trial"]] for row in front_rows(study)}
    assert sum(len(t["x"]) for t in _traces(text, "plot-3d")) == len(trials)
    # 2D: the step line runs through the brute-force front of (params, error), sorted by params
    points = [(p, e) for p, _, e in figures.values()]
    front = sorted((p, e) for p, e in points if not any(q <= p and f <= e and (q, f) != (p, e) for q, f in points))
    steps = [t for t in _traces(text, "plot-error-params") if t["name"] == "front"]
    assert len(steps) == 1 and steps[0]["line"]["shape"] == "hv"
    assert list(zip(steps[0]["x"], steps[0]["y"])) == front
    # error vs latency: one front per device, as latencies of two devices do not compare
    latency_fronts = sorted(t["name"] for t in _traces(text, "plot-error-latency") if t["name"].startswith("front"))
    assert latency_fronts == sorted([f"front · {GPU}", f"front · {CPU}"])
    (curve,) = _traces(text, "plot-hypervolume")
    history = hypervolume_history(study)
    assert curve["y"] == pytest.approx(history.hypervolume.tolist())
    assert curve["x"] == (history.trial_numbers + 1).tolist()


def test_a_study_of_inference_latency_plots_and_tabulates_it(reports):
    study, _ = reports["infer"]
    text = _html(reports, "infer")
    assert _plot_ids(text) == MULTI_PLOTS
    assert "error (minimize), params (minimize), latency_infer_ms (minimize)" in text
    trials = front_info(study).trials
    figures = {t.number: (t.user_attrs["params"], t.values[2], t.user_attrs["val_error"]) for t in trials}
    assert all(t.values[2] == t.user_attrs["latency_infer_ms"] != t.user_attrs["latency_ms"] for t in trials)
    # the 3D front is over the latency the study optimized: inference
    on_front = {(x, y, z) for t in _traces(text, "plot-3d") if t["name"].startswith("front")
                for x, y, z in zip(t["x"], t["y"], t["z"])}
    assert on_front == {figures[row["trial"]] for row in front_rows(study)}
    assert "Validation error, parameters and inference latency" in text
    # its 2D plot is labelled with the batch the space timed it at, and draws the brute-force front
    assert "inference latency (ms, batch 4)" in text and "training-step latency (ms, batch 32)" in text
    points = [(y, e) for _, y, e in figures.values()]
    front = sorted((p, e) for p, e in points if not any(q <= p and f <= e and (q, f) != (p, e) for q, f in points))
    (step,) = [t for t in _traces(text, "plot-error-infer-latency") if t["name"] == "front"]
    assert list(zip(step["x"], step["y"])) == front
    assert "<th scope=\"col\" class=\"number\">infer ms</th>" in text


def test_paper_numbers_match_the_architectures_they_name():
    names = [r.name for r in PAPER_RESULTS]
    assert len(names) == len(set(names)) == 13
    for result in PAPER_RESULTS:
        params = model_cost(parse_name(result.name)).params / 1e6
        assert abs(params - result.params_m) <= 0.05, result  # published to 0.1M
        assert 3 < result.cifar10 < 8
        assert result.cifar100 is None or result.cifar10 < result.cifar100 < 32
    c10 = {r.name: r.cifar10 for r in PAPER_RESULTS}
    assert c10["WRN-28-10"] == 4.17 and c10["WRN-28-10-d0.3"] == 3.89 and c10["WRN-40-4"] == 4.97
    assert dict((r.name, e) for r, e in paper_results("cifar100"))["WRN-16-8"] == 22.07


def test_single_objective_report_shows_best_trials_and_history(reports):
    study, _ = reports["single"]
    text = _html(reports, "single")
    assert _plot_ids(text) == SINGLE_PLOTS
    assert "Best trials (error)" in text and 'id="device-warning"' not in text and 'id="running-note"' not in text
    info = front_info(study)
    best = sorted(zip(info.values[:, 0], info.trial_numbers))[:10]
    assert _table_trials(text) == [n for _, n in best]


def test_report_without_eligible_trials_says_so(reports):
    text = _html(reports, "empty")
    assert 'id="no-trials"' in text and "No eligible trial yet" in text
    assert _plot_ids(text) == [] and 'data-plots="0"' in text
    assert '<li class="count-running"><b>2</b>running</li>' in text


def test_two_objective_study_of_one_device(reports):
    study, _ = reports["svhn"]
    text = _html(reports, "svhn")
    assert _plot_ids(text) == MULTI_PLOTS and 'id="device-warning"' not in text
    assert "Hypervolume of the front (error, params)" in text
    assert _table_trials(text) == [row["trial"] for row in front_rows(study)]


def test_study_without_metric_names_is_refused(tmp_path):
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'x.db'}", study_name="x", directions=["minimize"] * 2)
    study.add_trial(create_trial(values=[1.0, 2.0], user_attrs={"status": "complete"}))
    with pytest.raises(RunError, match="does not name its 2 objective"):
        render_report(study)
    assert not (tmp_path / "report.html").exists()


def test_only_the_report_the_shared_figures_and_the_quality_plot_import_plotly():
    package = REPO / "wrnsearch"
    importers = sorted(str(p.relative_to(package)) for p in package.rglob("*.py")
                       if re.search(r"^\s*(import|from) plotly", p.read_text(), re.M))
    assert importers == ["bench/_quality.py", "figures/_curves.py", "figures/_front.py", "report/_figures.py",
                         "report/_page.py", "report/_parallel.py", "report/_plotlyjs.py"]
    # the report's arithmetic (axes, label placement) draws nothing
    assert not {"report/_axes.py", "report/_labels.py"} & set(importers)


# --------------------------------------------------------------------------------------------
# In a browser


_PLOT_STATE = """() => Array.from(document.querySelectorAll(".js-plotly-plot")).map(div => ({
    id: div.id,
    laidOut: !!div._fullLayout,
    svgs: div.querySelectorAll(".main-svg").length,
    traces: (div._fullData || []).length,
    points: div.querySelectorAll(".scatterlayer .point").length,
    canvases: div.querySelectorAll("canvas").length,
    gl3d: !!(div._fullLayout && div._fullLayout.scene && div._fullLayout.scene._scene
             && div._fullLayout.scene._scene.glplot),
}))"""


def _front_pixels(png: bytes) -> int:
    """Pixels of the front's red (#d62728) in a screenshot: zero if no front was drawn."""
    from io import BytesIO

    from PIL import Image

    pixels = np.asarray(Image.open(BytesIO(png)).convert("RGB"), dtype=int)
    return int((np.abs(pixels - [0xD6, 0x27, 0x28]).max(axis=2) < 24).sum())


def test_multi_objective_report_renders_in_chromium(browser, reports, tmp_path):
    study, path = reports["multi"]
    page, problems = open_report(browser, path)
    plots = {p["id"]: p for p in page.evaluate(_PLOT_STATE)}
    assert list(plots) == MULTI_PLOTS
    for plot in plots.values():
        assert plot["laidOut"] and plot["svgs"] >= 1 and plot["traces"] >= 1, plot
    assert plots["plot-3d"]["gl3d"] and plots["plot-3d"]["canvases"] >= 1  # WebGL scene drawn
    assert plots["plot-parallel"]["canvases"] >= 1
    n_eligible = len(front_info(study).trials)
    # every eligible trial, the front's step markers and the paper's stars are drawn as points
    assert plots["plot-error-params"]["points"] >= n_eligible + len(paper_results("cifar10"))
    assert plots["plot-error-latency"]["points"] >= n_eligible
    assert plots["plot-hypervolume"]["traces"] == 1
    assert page.locator("#device-warning").is_visible()
    assert not page.locator("#space pre").is_visible()  # collapsed until opened
    page.locator("#space summary").click()
    assert page.locator("#space pre").is_visible()

    # the front table sorts by a column when its header is clicked, and reverses on a second click
    def column(index: int) -> list[float]:
        values = page.eval_on_selector_all(
            f"#front-table tbody tr td:nth-child({index})", "cells => cells.map(c => c.getAttribute('data-sort'))"
        )
        return [float(v) for v in values]

    header = page.locator("#front-table th", has_text="val error %")
    header.click()
    errors = column(3)
    assert errors == sorted(errors) and len(errors) == len(front_rows(study))
    header.click()
    assert column(3) == sorted(errors, reverse=True)
    assert page.locator("#front-table th", has_text="val error %").get_attribute("aria-sort") == "descending"

    shot = page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 50_000
    assert _front_pixels(shot) > 500  # the red fronts are on screen
    page.close()
    assert problems == []


@pytest.mark.parametrize("key", ["single", "empty"])
def test_other_reports_render_in_chromium(browser, reports, key, tmp_path):
    _, path = reports[key]
    page, problems = open_report(browser, path)
    plots = page.evaluate(_PLOT_STATE)
    assert [p["id"] for p in plots] == (SINGLE_PLOTS if key == "single" else [])
    for plot in plots:
        assert plot["laidOut"] and plot["svgs"] >= 1 and plot["traces"] >= 1, plot
    if key == "empty":
        assert page.locator("#no-trials").is_visible()
    else:
        history = next(p for p in plots if p["id"] == "plot-history")
        assert history["traces"] == 2 and history["points"] >= 14  # 15 trained, one a reused copy
    page.screenshot(path=str(tmp_path / f"{key}.png"), full_page=True)
    page.close()
    assert problems == []


def test_a_browser_that_cannot_unpack_plotly_says_so(browser, reports):
    """Without DecompressionStream (Firefox before 113, Safari before 16.4) the page explains why it has
    no plots, raises no error, and keeps its tables."""
    page = browser.new_page()
    page.add_init_script("delete window.DecompressionStream;")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(reports["multi"][1].resolve().as_uri())
    page.wait_for_load_state("load")
    status = page.locator("#plotly-status")
    assert status.is_visible() and "DecompressionStream" in status.inner_text()
    assert page.locator(".js-plotly-plot").count() == 0 and page.locator("#front-table").is_visible()
    page.close()
    assert errors == []


def test_browser_check_catches_a_broken_page(browser, tmp_path):
    """The checks above can fail: a script error and a network request are both reported."""
    broken = tmp_path / "broken.html"
    broken.write_text('<html><body><script>undefinedFunction();</script><img src="http://example.invalid/x.png"></body></html>')
    page, problems = open_report(browser, broken)
    page.close()
    assert any("undefinedFunction" in p for p in problems) and any("example.invalid" in p for p in problems)


def test_the_space_of_an_earlier_study_is_shown_without_the_synthetic_sizes():
    """Studies made before the saved space left them out hold train_size/test_size beside CIFAR-10's
    train_subset: the report shows the keys that mean something for the data set."""
    study = optuna.create_study(directions=["minimize", "minimize"])
    study.set_metric_names(["error", "params"])
    study.set_user_attr("space", {"name": "old", "dataset": {"name": "cifar10", "train_subset": 3000,
                                                              "train_size": 1024, "test_size": 256}})
    details = re.search(r'<details id="space">(.*?)</details>', render_report(study), re.S)
    shown = html.unescape(details.group(1))
    assert "train_subset: 3000" in shown and "train_size" not in shown and "test_size" not in shown
