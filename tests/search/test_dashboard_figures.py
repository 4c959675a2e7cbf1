"""The study's own figures in optuna-dashboard (search/_dashboard_figures.py): drawn as trials finish by a
real search (real Ray, real SQLite), served by a real optuna-dashboard and drawn in headless
Chromium."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request

import optuna
import plotly.io
import pytest
from optuna_dashboard._custom_plot_data import get_plotly_graph_objects

from tests.procs import free_port, wrnsearch_exe
from tests.spaces import write_space
from tests.studies import load
from wrnsearch.figures import learning_curve
from wrnsearch.pareto import front_info
from wrnsearch.search import CURVES_ID, FRONT_ID, DashboardFigures, RunOptions, run_search
from wrnsearch.study import counts_as_trained


def _figures(study: optuna.Study) -> dict[str, dict]:
    attrs = study._storage.get_study_system_attrs(study._study_id)
    return {k: json.loads(v) for k, v in get_plotly_graph_objects(attrs).items()}


def _curves(figure: dict) -> dict[int, list[float]]:
    """Trial number -> the errors its line draws, from the figure's hover texts ("#n arch ...")."""
    return {int(t["hovertemplate"].split()[0][1:]): t["y"] for t in figure["data"]}


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def dash_run(tmp_path_factory, local_ray):
    """A finished real search whose figures were redrawn at every event, and what they showed."""
    tmp = tmp_path_factory.mktemp("dash")
    space = write_space(tmp, "dash", budget={"max_trials": 4}, search={"sampler": "random"})
    seen = []  # (trials finished, lines in the curves figure) after each finished trial

    def on_event(event, progress):
        if event.kind == "done":
            run_dir = tmp / "runs" / "dash"
            figure = _figures(load(run_dir, "dash")).get(CURVES_ID)
            seen.append((progress.done, len(figure["data"]) if figure else 0))

    result = run_search(space, RunOptions(runs_dir=tmp / "runs", num_cpus=2, figure_interval_s=0), on_event=on_event)
    return result.run_dir, seen


@pytest.mark.slow
def test_a_search_keeps_its_figures_current_in_the_study(dash_run):
    run_dir, seen = dash_run
    study = load(run_dir, "dash")
    trained = [t for t in study.trials if counts_as_trained(t)]
    assert len(trained) == 4
    figures = _figures(study)
    assert set(figures) == {CURVES_ID, FRONT_ID}
    # one line per trained trial, its points the trial's intermediate values
    curves = _curves(figures[CURVES_ID])
    assert set(curves) == {t.number for t in trained}
    for t in trained:
        assert curves[t.number] == [t.intermediate_values[e] for e in sorted(t.intermediate_values)]
        assert sorted(t.intermediate_values) == [1, 2]
    # redrawn as the search went: the figure grew while trials were still finishing
    assert len({lines for _, lines in seen}) >= 2, seen
    # the front's members are the named, coloured points of the front figure
    info = front_info(study)
    named = {t["name"] for t in figures[FRONT_ID]["data"] if t["name"] != "dominated"}
    assert named == {f"#{t.number} {t.user_attrs['arch']}" for t in info.front_trials}


@pytest.mark.slow
def test_trials_leave_their_progress_and_ray_its_messages_in_the_run_directory(dash_run):
    from wrnsearch.search import fraction_done, read_progress

    run_dir, _ = dash_run
    trained = [t for t in load(run_dir, "dash").trials if counts_as_trained(t)]
    for t in trained:  # each worker's last word: its last minibatch of its last epoch, then evaluation
        seen = read_progress(run_dir / "progress", t.number)
        assert seen["arch"] == t.user_attrs["arch"] and seen["phase"] == "evaluating", seen
        assert (seen["epoch"], seen["epochs"], fraction_done(seen)) == (2, 2, 1.0)
        assert seen["step"] == seen["steps"] > 0 and seen["images_per_s"] > 0
        assert seen["val_error"] == t.intermediate_values[2]  # the last epoch's, as reported
    log = (run_dir / "run.log").read_text()
    assert " ray.tune" in log  # Tune's messages went to the run's log


@pytest.mark.slow
def test_the_dashboard_serves_and_chromium_draws_the_figures(dash_run, browser):
    # the session's Chromium (conftest): a second sync_playwright in a worker that holds one fails
    # ("Sync API inside the asyncio loop") whenever a page test ran first in the same worker
    run_dir, _ = dash_run
    port = free_port()
    dash = subprocess.Popen([wrnsearch_exe(), "dashboard", str(run_dir), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                sid = _get(f"{base}/api/studies")["study_summaries"][0]["study_id"]
                break
            except OSError:
                assert time.monotonic() < deadline and dash.poll() is None, "the dashboard did not start"
                time.sleep(0.5)
        detail = _get(f"{base}/api/studies/{sid}")
        assert detail["has_intermediate_values"] is True
        served = {g["id"]: json.loads(g["graph_object"]) for g in detail["plotly_graph_objects"]}
        assert set(served) == {CURVES_ID, FRONT_ID}
        study = load(run_dir, "dash")
        assert _curves(served[CURVES_ID]) == {t.number: [learning_curve(t)[e] for e in sorted(learning_curve(t))]
                                              for t in study.trials if counts_as_trained(t)}
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(f"{base}/dashboard/studies/{sid}")
        drawn = page.wait_for_function(
            """ids => { const out = {};
                for (const id of ids) {
                    const div = document.getElementById("user-defined-plot:" + id);
                    if (!div || !div._fullLayout) return null;
                    out[id] = {traces: div._fullData.length, title: div._fullLayout.title.text,
                               lines: div.querySelectorAll(".scatterlayer .trace").length};
                }
                return out; }""", arg=[CURVES_ID, FRONT_ID], timeout=60_000).json_value()
        page.close()
    finally:
        os.killpg(dash.pid, signal.SIGKILL)
        dash.wait(timeout=30)
    assert not problems, problems
    assert drawn[CURVES_ID]["traces"] == len(served[CURVES_ID]["data"]) == 4
    assert drawn[CURVES_ID]["lines"] == 4 and drawn[CURVES_ID]["title"] == "Learning curves (4 trained trials)"
    assert drawn[FRONT_ID]["traces"] == len(served[FRONT_ID]["data"]) and drawn[FRONT_ID]["title"].startswith("Front: ")


def test_redraws_are_throttled_and_flushed(tmp_path):
    study = optuna.create_study(directions=["minimize", "minimize"])
    study.set_metric_names(["error", "params"])
    study.set_user_attr("objectives", ["error", "params"])
    figures = DashboardFigures(study, min_interval_s=3600)
    figures.changed()
    figures.changed()  # within the interval (from the start too): not drawn, but remembered
    assert figures.redraws == 0 and figures.stale and not _figures(study)
    figures.flush()
    figures.flush()  # nothing changed since
    assert figures.redraws == 1 and set(_figures(study)) == {CURVES_ID}  # no trial yet: no front
    figures.min_interval_s = 0
    figures.changed()  # the interval past: drawn at once
    assert figures.redraws == 2 and not figures.stale


def test_a_trial_recorded_before_intermediate_values_draws_its_curve_attribute():
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(value=50.0, user_attrs={"curve": [
        {"epoch": 1, "val_error": 70.0}, {"epoch": 2, "val_error": 61.5}, {"epoch": 3}]}))
    study.add_trial(optuna.trial.create_trial(value=40.0, intermediate_values={1: 55.0, 3: 40.0},
                                              user_attrs={"curve": [{"epoch": 1, "val_error": 99.0}]}))
    assert [learning_curve(t) for t in study.trials] == [{1: 70.0, 2: 61.5}, {1: 55.0, 3: 40.0}]


@pytest.mark.parametrize("epochs, ticks", [(3, ["1", "2", "3"]), (12, ["2", "4", "6", "8", "10", "12"]),
                                           (30, ["5", "10", "15", "20", "25", "30"])])
def test_the_learning_curves_tick_whole_epochs(browser, tmp_path, epochs, ticks):
    """The epoch axis as Chromium draws it: whole epochs only, never "1 2 2 3 3" (ticks at 1.5 and
    2.5 printed as integers), and at most ten of them."""
    study = optuna.create_study(directions=["minimize", "minimize"])
    study.set_metric_names(["error", "params"])
    study.set_user_attr("objectives", ["error", "params"])
    for n in range(3):
        study.add_trial(optuna.trial.create_trial(
            values=[60.0 - n, 1e5 * (n + 1)], user_attrs={"arch": f"WRN-10-{n + 1}", "params": 1e5 * (n + 1)},
            intermediate_values={e: 90.0 - e - n for e in range(1, epochs + 1)}))
    DashboardFigures(study, min_interval_s=0).flush()
    figure = _figures(study)[CURVES_ID]
    assert figure["layout"]["xaxis"]["tickformat"] == "d" and isinstance(figure["layout"]["xaxis"]["dtick"], int)
    page_path = tmp_path / "curves.html"
    plotly.io.from_json(json.dumps(figure)).write_html(page_path, include_plotlyjs=True)
    page = browser.new_page(viewport={"width": 900, "height": 600})
    page.goto(page_path.as_uri())
    page.wait_for_function("() => document.querySelector('.plotly-graph-div')._fullLayout", timeout=60_000)
    drawn = page.eval_on_selector_all(".xtick text", "ticks => ticks.map(t => t.textContent)")
    page.close()
    assert drawn == ticks
