"""The report's figures without a browser: their axes, the placement of the paper's labels against
a brute-force check in pixels, the parallel coordinates' axes and the learning curves."""

from __future__ import annotations

import itertools
import math
import random

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from tests.studies import CPU, make_study
from wrnsearch.cost import format_count
from wrnsearch.figures import FRONT_COLOR, curves_figure, epoch_axis
from wrnsearch.pareto import front_info
from wrnsearch.report import paper_results
from wrnsearch.report._axes import linear_range, log_range, log_ticks
from wrnsearch.report._figures import points_of, scatter_2d
from wrnsearch.report._labels import Box, Geometry, label_size_px, overlaps, place_labels
from wrnsearch.report._parallel import architecture_axes, constant_note
from wrnsearch.spec import WRNSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


# --------------------------------------------------------------------------------------------
# Axes


@pytest.mark.parametrize("low, high, ticks", [
    (0.13, 130.0, ["0.3", "1", "3", "10", "30", "100"]),   # training-step latencies of CPU and GPU together
    (0.1, 200.0, ["0.1", "0.3", "1", "3", "10", "30", "100"]),
    (2.0, 40.0, ["2", "5", "10", "20"]),
    (0.5, 1.0, ["0.5", "0.6", "0.7", "0.8", "0.9", "1"]),  # within a decade: every digit
    (1e-3, 1e6, ["0.001", "0.1", "10", "1000", "100000"]),  # nine decades: every other one
])
def test_log_ticks_are_few_and_round(low, high, ticks):
    axis = log_ticks([math.log10(low), math.log10(high)], lambda v: f"{v:g}")
    assert axis["ticktext"] == ticks
    assert all(low <= v <= high for v in axis["tickvals"]) and len(axis["tickvals"]) <= 7


def test_log_ticks_of_parameters_read_as_counts():
    axis = log_ticks(log_range([34.8e3, 677e3, 52.5e6]), format_count)
    assert axis["ticktext"] == ["30K", "100K", "300K", "1M", "3M", "10M", "30M"]
    assert log_ticks([0.35, 0.45], str) == {}  # 2.2 to 2.8: no round value inside, plotly's own


def test_ranges_hold_their_values_with_room():
    assert log_range([1e5, 1e7]) == pytest.approx([4.9, 7.1])
    assert linear_range([50.0, 70.0]) == pytest.approx([48.8, 71.2])
    assert linear_range([4.0]) == [3.5, 4.5] and log_range([1e6]) == pytest.approx([5.9, 6.1])


@pytest.mark.parametrize("span", [1, 2, 3, 9, 10, 11, 20, 25, 30, 90, 200, 999])
def test_epoch_axis_ticks_whole_epochs_only(span):
    epochs = list(range(1, span + 1))
    axis = epoch_axis(epochs)
    low, high = axis["range"]
    ticks = [t for t in range(0, span + 2) if (t - axis["tick0"]) % axis["dtick"] == 0 and low <= t <= high]
    assert isinstance(axis["dtick"], int) and axis["tickformat"] == "d"
    assert 1 <= len(ticks) <= 10 and 0 not in ticks and low < 1 and high > span
    assert axis["dtick"] == 1 or span > 10
    assert [epoch_axis(list(range(1, n + 1)))["dtick"] for n in (3, 10, 11, 30, 200)] == [1, 1, 2, 5, 20]


# --------------------------------------------------------------------------------------------
# The paper's labels


def _pixel_boxes(boxes, width, height):
    """Boxes in pixels of a plot area of this size: [left, top, right, bottom]."""
    out = []
    for b in boxes:
        x, y = b.u * width + b.dx_px, b.v * height + b.dy_px
        out.append((x - b.width_px / 2, y - b.height_px / 2, x + b.width_px / 2, y + b.height_px / 2))
    return out


def _touching(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _scene(dataset: str, trials: list[tuple[float, float]]):
    """The stars and the trials' markers as the error-vs-params plot places them."""
    paper = paper_results(dataset)
    (x0, x1) = log_range([x for x, _ in trials] + [r.params_m * 1e6 for r, _ in paper])
    (y0, y1) = linear_range([y for _, y in trials] + [e for _, e in paper])

    def box(x, y, size):
        return Box((math.log10(x) - x0) / (x1 - x0), (y1 - y) / (y1 - y0), size, size)

    return ([box(r.params_m * 1e6, e, 14) for r, e in paper], [label_size_px(r.name) for r, _ in paper],
            [box(x, y, 10) for x, y in trials])


_CLOUDS = {  # (params, error) of the trials: the quickstart's, a full CIFAR search, one beside the paper
    "quickstart": [(34.8e3, 70.0), (120e3, 60.0), (677e3, 50.0)],
    "cifar": [(1e5, 16.8), (2e6, 8.0), (2e7, 4.1)],
    "paper-like": [(5e5, 8.0), (3e6, 5.5), (1.5e7, 4.5), (3e7, 4.0)],
}


@pytest.mark.parametrize("dataset, cloud", list(itertools.product(["cifar10", "cifar100"], _CLOUDS)))
def test_paper_labels_touch_nothing_at_any_width_and_height(dataset, cloud):
    stars, sizes, markers = _scene(dataset, _CLOUDS[cloud])
    offsets = place_labels(stars, sizes, markers=markers)
    labels = [Box(s.u, s.v, w, h, dx, dy) for s, (w, h), (dx, dy) in zip(stars, sizes, offsets)]
    assert overlaps(labels, stars) == []
    # checked again without _labels' arithmetic: boxes in pixels, over the widths and heights the page gives
    geometry = Geometry()
    for width, height in itertools.product([geometry.min_width_px, 480, 531, 700, 1050, 1600],
                                           [*geometry.heights_px, 305, 340]):
        boxes, star_boxes = _pixel_boxes(labels, width, height), _pixel_boxes(stars, width, height)
        assert not [(i, j) for i, j in itertools.combinations(range(len(boxes)), 2) if _touching(boxes[i], boxes[j])]
        assert not [(i, j) for i in range(len(boxes)) for j in range(len(stars)) if _touching(boxes[i], star_boxes[j])]
        assert all(0 <= b[0] and b[2] <= width and 0 <= b[1] and b[3] <= height for b in boxes), (width, height)


def test_the_old_labels_beside_their_stars_overlap():
    """The check can fail: plotly's text above and below each star in turn (the report before) piles up."""
    stars, sizes, _ = _scene("cifar10", _CLOUDS["cifar"])
    order = sorted(range(len(stars)), key=lambda i: stars[i].u)
    old = [Box(s.u, s.v, w, h, 0.0, (1 if order.index(i) % 2 else -1) * (7 + h / 2))
           for i, (s, (w, h)) in enumerate(zip(stars, sizes))]
    assert len({i for i, what in overlaps(old, stars) if what.startswith("label")}) >= 4


def test_labels_avoid_the_trials_where_they_can():
    stars, sizes, _ = _scene("cifar10", _CLOUDS["cifar"])
    lone = [Box(stars[0].u, stars[0].v - 0.06, 10, 10)]  # a trial right above WRN-40-1's star
    (dx, dy), *_ = place_labels(stars[:1], sizes[:1], markers=lone)
    assert (dx, dy) != (0.0, -(7 + 2 + sizes[0][1] / 2))  # not above, where the trial is
    assert overlaps([Box(stars[0].u, stars[0].v, *sizes[0], dx, dy)], stars[:1]) == []


# --------------------------------------------------------------------------------------------
# The figures


def test_error_plots_have_their_ranges_ticks_and_labels(tmp_path):
    study = make_study(tmp_path / "s.db", n_complete=12, n_running=0, seed=2)
    points = points_of(front_info(study), ("error", "params", "latency_ms"))
    paper = paper_results("cifar10")
    fig = scatter_2d(points, [CPU], "params", "params", "t", fronts=True, per_device_front=False, paper=paper)
    x0, x1 = fig.layout.xaxis.range
    xs = [p.params for p in points] + [r.params_m * 1e6 for r, _ in paper]
    assert 10**x0 < min(xs) and max(xs) < 10**x1
    assert all(10**x0 <= v <= 10**x1 for v in fig.layout.xaxis.tickvals) and len(fig.layout.xaxis.tickvals) <= 7
    assert sorted(a.text for a in fig.layout.annotations) == sorted(r.name for r, _ in paper)
    latency = scatter_2d(points, [CPU], "latency_ms", "ms", "t", fronts=True, per_device_front=False)
    assert not latency.layout.annotations and len(latency.layout.xaxis.tickvals) <= 7


def _points(specs_and_errors):
    study = optuna.create_study(directions=["minimize"] * 2)
    study.set_metric_names(["error", "params"])
    study.set_user_attr("objectives", ["error", "params"])
    for spec, error in specs_and_errors:
        study.add_trial(create_trial(values=[error, 1e5], user_attrs={
            "arch": spec.name, "spec": spec.to_dict(), "val_error": error, "params": 1e5, "status": "complete",
            "epochs": 3, "epochs_budget": 3}))
    return points_of(front_info(study), ("error", "params"))


def test_parallel_axes_leave_out_what_every_trial_shares():
    points = _points([(WRNSpec(depth=d, widen_factor=k, kernels=(3, 3)), e)
                      for d, k, e in [(10, 1, 60.0), (16, 2, 52.0), (10, 3, 50.0)]])
    axes = architecture_axes(points)
    dims = {d["label"]: d for d in axes.dimensions}
    assert list(dims) == ["depth", "k (widen factor)", "val error (%)"]
    assert dims["depth"]["range"] == [10.0, 16.0] and dims["depth"]["ticktext"] == ["10", "16"]
    assert dims["k (widen factor)"]["tickvals"] == [1.0, 2.0, 3.0]
    assert dims["val error (%)"]["range"] == [50.0, 60.0]
    assert axes.constant == {"l (convs/block)": "2", "block": "B(3,3)", "dropout": "0"}
    assert constant_note(axes) == (" Not drawn, as every trial shares its value: l (convs/block) 2, "
                                   "block B(3,3), dropout 0.")
    # a single trial: its error axis a sliver around it, never -1 .. 1 of nothing
    (error,) = architecture_axes(points[:1]).dimensions
    assert error["range"] == pytest.approx([59.4, 60.6])


def _trial(number_error, state=TrialState.COMPLETE, **extra):
    number, error, curve = number_error
    attrs = {"arch": f"WRN-10-{number}", "status": "complete"} | extra
    if state == TrialState.COMPLETE:
        return create_trial(values=[error], user_attrs=attrs, intermediate_values=curve)
    return create_trial(state=state, user_attrs=attrs, intermediate_values=curve)


def test_learning_curves_draw_each_trained_trial_the_front_on_top():
    study = optuna.create_study()
    study.add_trial(_trial((1, 50.0, {1: 70.0, 2: 60.0, 3: 50.0})))
    study.add_trial(_trial((2, 40.0, {1: 65.0, 2: 50.0, 3: 40.0})))
    study.add_trial(_trial((3, 0.0, {1: 80.0}), state=TrialState.PRUNED))
    study.add_trial(_trial((4, 50.0, {1: 70.0, 2: 60.0, 3: 50.0}), reused_from=0))  # a copy: no line of its own
    study.add_trial(_trial((5, 0.0, {}), state=TrialState.FAIL))  # failed before its first epoch
    fig = curves_figure(study.trials, {1: FRONT_COLOR}, front_name="best trial")
    lines = {int(t.hovertemplate.split()[0][1:]): t for t in fig.data}
    assert list(lines) == [0, 2, 1]  # the front's line last, on top
    assert dict(zip(lines[1].x, lines[1].y)) == {1: 65.0, 2: 50.0, 3: 40.0}
    assert lines[1].line.color == FRONT_COLOR and lines[0].line.color != FRONT_COLOR
    assert lines[2].line.dash == "dot" and lines[0].line.dash == "solid" and lines[2].mode == "lines+markers"
    assert [t.name for t in fig.data if t.showlegend] == ["other trials", "stopped early", "best trial"]
    assert fig.layout.xaxis.dtick == 1 and fig.layout.xaxis.tickformat == "d" and fig.layout.xaxis.tick0 == 1
    assert curves_figure(study.trials[4:], {}) is None


def test_learning_curves_of_many_epochs_tick_every_few():
    rng = random.Random(0)
    study = optuna.create_study()
    study.add_trial(_trial((1, 5.0, {e: 90.0 / e + rng.random() for e in range(1, 201)})))
    axis = curves_figure(study.trials, {}).layout.xaxis
    assert axis.dtick == 20 and axis.tick0 == 0 and axis.range[0] >= 0.5
