"""The Python API (``wrnsearch.run``, ``open_run``, ``plan``), as a notebook uses it: in a fresh
interpreter, a short real search on an image-folder data set the test writes (PNG files in
``<split>/<class>/``, read by the ``imagefolder`` data set), then its front and study read back,
a resumed run that trains nothing twice, and the forecast."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.spaces import exactly, space_data

pytestmark = pytest.mark.slow
# the factory's small space on two classes of image folders, four architectures, three trials
SPACE = space_data("notebook", dataset=exactly({"name": "imagefolder", "num_classes": 2, "resolution": 16,
                                                "val_size": 16}),
                   space={"depth": [10], "widen_factor": [1, 2]}, budget=exactly({"max_trials": 3}),
                   train={"batch_size": 16}, search=exactly({"sampler": "random", "seed": 0}),
                   resources={"gpus_per_trial": 0})

NOTEBOOK = textwrap.dedent('''
    import json, sys
    from pathlib import Path

    import numpy as np
    from PIL import Image

    import wrnsearch

    root = Path(sys.argv[1])
    rng = np.random.default_rng(0)
    for split, n in (("train", 48), ("test", 16)):  # two classes, told apart by brightness
        for label, name in enumerate(("dark", "light")):
            folder = root / "shapes" / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = rng.integers(0, 110, (16, 16, 3)) + 140 * label
                Image.fromarray(pixels.astype("uint8")).save(folder / f"{i}.png")

    space = json.loads(sys.argv[2])  # a dict of a space file's sections, as a notebook writes one
    space["dataset"]["root"] = str(root / "shapes")
    kinds = []
    result = wrnsearch.run(space, runs_dir=root / "runs", overrides={"train.lr": 0.1},
                           on_event=lambda event, progress: kinds.append(event.kind))
    frame = result.front_frame()
    again = wrnsearch.open_run(result.run_dir)
    resumed = wrnsearch.run(space, runs_dir=root / "runs", overrides={"train.lr": 0.1})
    plan = wrnsearch.plan(space, overrides=["train.epochs=1"])
    print(json.dumps({
        "run_dir": str(result.run_dir), "stop": result.stop_reason, "kinds": kinds,
        "front": result.front, "frame_columns": list(frame.columns), "frame_rows": len(frame),
        "trials": [(t.number, t.state.name, t.user_attrs.get("arch"), t.values) for t in result.study.trials],
        "metric_names": result.study.metric_names, "report": str(result.report), "csv": str(result.front_csv),
        "opened_front": again.front, "opened_trials": len(again.study.trials), "opened_stop": again.stop_reason,
        "resumed_stop": resumed.stop_reason, "resumed_trials": len(resumed.study.trials),
        "plan_line": plan.summary_line(), "plan_archs": sorted(a.arch for a in plan.architectures),
    }, default=str))
''')


def test_a_notebook_runs_a_search_and_reads_its_front(tmp_path):
    proc = subprocess.run([sys.executable, "-c", NOTEBOOK, str(tmp_path), json.dumps(SPACE)], capture_output=True,
                          text=True, timeout=500, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    trained = [t for t in out["trials"] if t[1] == "COMPLETE"]
    assert len(trained) == 3 and len({t[2] for t in trained}) == 3, out["trials"]
    assert out["stop"] == "budget.max_trials reached (3)" and out["metric_names"] == ["error", "params", "latency_ms"]
    # the events a notebook gets, typed, in order
    assert out["kinds"][0] == "run" and out["kinds"][-1] == "end" and out["kinds"].count("done") == 3
    assert out["kinds"].count("start") == 3 and "epoch" in out["kinds"]
    # the front: rows as `wrnsearch pareto` has them, the same as a DataFrame, non-dominated
    front = out["front"]
    assert 1 <= len(front) <= 3 and out["frame_rows"] == len(front)
    assert {"trial", "arch", "error", "params", "latency_ms", "test_error"} <= set(out["frame_columns"])
    numbers = {t[0]: t for t in trained}
    points = [(r["error"], r["params"], r["latency_ms"]) for r in front]  # latencies as timed alone at the end
    for row, point in zip(front, points):
        assert [row["error"], row["params"]] == pytest.approx(numbers[row["trial"]][3][:2])
        assert not any(all(a <= b for a, b in zip(other, point)) and other != point for other in points)
    # the lowest error and the fewest parameters are on any front, whatever the latencies
    assert min(r["error"] for r in front) == min(t[3][0] for t in trained)
    assert min(r["params"] for r in front) == min(t[3][1] for t in trained)
    assert front == sorted(front, key=lambda r: r["error"])
    assert out["report"].endswith("runs/notebook/report.html") and out["csv"].endswith("pareto.csv")
    assert (tmp_path / "runs" / "notebook" / "report.html").stat().st_size > 100_000
    # an existing run opened: the same front and study; run again: resumes, trains nothing more
    assert out["opened_front"] == front and out["opened_trials"] == len(out["trials"]) and out["opened_stop"] is None
    assert out["resumed_stop"] == "budget.max_trials reached (3)" and out["resumed_trials"] == len(out["trials"])
    # the forecast, before any trial: every architecture of the space
    assert out["plan_line"].startswith("plan: on cpu") and len(out["plan_archs"]) == 4


def test_the_api_reads_right_in_help_and_refuses_bad_input(tmp_path):
    code = textwrap.dedent('''
        import pydoc, sys, wrnsearch
        print(pydoc.render_doc(wrnsearch.run, renderer=pydoc.plaintext))
        print("----")
        try:
            wrnsearch.run({"name": "x", "space": {"depth": [10]}, "train": {"epoch": 2}})
        except wrnsearch.SpaceError as e:
            print("SpaceError:", e)
        try:
            wrnsearch.open_run(sys.argv[1])
        except wrnsearch.RunError as e:
            print("RunError:", e)
    ''')
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc, errors = proc.stdout.split("----")
    assert "run(space: 'SpaceLike'" in doc and "Run a search, or resume it" in doc and "Returns:" in doc
    assert "SearchRun" in doc and "overrides" in doc
    assert "SpaceError: <space given to wrnsearch.run>" in errors and "train.epoch" in errors and "epochs" in errors
    assert f"RunError: {tmp_path} is not a run directory" in errors
