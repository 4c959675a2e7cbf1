"""Warm starts (``--warm-start``): a real search's results copied into a second real search, which
trains none of them again; refusals of another data content, split or recipe; latencies from
another device timed again or left out; samplers and de-duplication see the copies."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import optuna
import pytest

from tests.spaces import exactly, write_space
from wrnsearch.errors import RunError
from wrnsearch.search import RunOptions, run_search
from wrnsearch.space import load_space
from wrnsearch.study import Outcome, counts_as_trained, has_full_result, load_study, outcome_of

FIRST_ENQUEUE = ["WRN-10-3-B(3,1)", "WRN-10-1"]  # k = 3 is outside the second run's space


def _write_images(root: Path) -> None:
    """An image folder of 4 classes of 16x16 PNGs: 20 training and 6 test images per class."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("test", 6)):
        for c in range(4):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(rng.normal(60 * c + 40, 30, size=(16, 16, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")


def _space(directory: Path, name: str, root: Path, *, widths=(1, 2, 3), max_trials=3, enqueue=(), seed=1) -> Path:
    """``name``.yaml in ``directory``: a search of the image folder at ``root``, one epoch a trial, on
    the CPU everywhere (device names the test can know)."""
    data = {"name": "imagefolder", "root": str(root), "num_classes": 4, "resolution": 16, "val_size": 16}
    search = {"sampler": "random", "seed": seed, "max_concurrent": 2, "enqueue": list(enqueue)}
    return write_space(directory, name, dataset=exactly(data), space={"widen_factor": list(widths)},
                       budget={"max_trials": max_trials}, train={"epochs": 1, "batch_size": 32}, search=exactly(search),
                       resources={"gpus_per_trial": 0})


def _study(run_dir: Path, name: str) -> optuna.Study:
    return load_study(storage=f"sqlite:///{run_dir / 'study.db'}", study_name=name)


@pytest.fixture(scope="module")
def first(tmp_path_factory, local_ray):
    """A finished real search on an image folder the test wrote: (its run directory, the data's root)."""
    base = tmp_path_factory.mktemp("warm")
    root = base / "data"
    _write_images(root)
    space = _space(base, "first", root, enqueue=FIRST_ENQUEUE)
    result = run_search(space, RunOptions(runs_dir=base / "runs", num_cpus=2, measure_alone=False))
    return result.run_dir, root


def _results(run_dir: Path, name: str) -> dict[str, optuna.trial.FrozenTrial]:
    return {t.user_attrs["arch"]: t for t in _study(run_dir, name).trials if has_full_result(t)}


@pytest.mark.slow
def test_a_warm_start_trains_nothing_twice(first, tmp_path, local_ray):
    run1, root = first
    before = _results(run1, "first")
    trained1 = {t.user_attrs["arch"] for t in _study(run1, "first").trials if counts_as_trained(t)}
    assert "WRN-10-3-B(3,1)" in before and "WRN-10-1" in before
    # the same bytes somewhere else: the content, not the path, must match
    copy = tmp_path / "data-copy"
    shutil.copytree(root, copy)
    space = _space(tmp_path, "second", copy, widths=(1, 2), max_trials=2, seed=2)
    events = []
    options = RunOptions(runs_dir=tmp_path / "runs", num_cpus=2, measure_alone=False, warm_start=run1)
    result = run_search(space, options, on_event=lambda event, progress: events.append(event))
    study = _study(result.run_dir, "second")
    copied = [t for t in study.trials if outcome_of(t) == Outcome.COPIED]
    inside = {arch for arch, t in before.items() if t.user_attrs["spec"]["widen_factor"] <= 2}
    assert {t.user_attrs["arch"] for t in copied} == inside and "WRN-10-1" in inside
    for t in copied:  # provenance, and the very values and curve of the trial it copies
        source = before[t.user_attrs["arch"]]
        assert t.user_attrs["warm_start"] == {"run_dir": str(run1.resolve()), "study": "first",
                                              "trial": source.number}
        assert t.values == source.values and t.intermediate_values == source.intermediate_values
        assert t.params and set(t.distributions) == set(t.params)
    from wrnsearch.deploy import trial_weights_path

    weights = trial_weights_path(result.run_dir, copied[0])  # wrnsearch export finds them in the first run
    assert weights == run1.resolve() / "checkpoints" / copied[0].user_attrs["key"] / "model.pt" and weights.is_file()
    warm = [event for event in events if event.kind == "warm"]
    outside = len(before) - len(inside)
    assert warm[0].copied == len(inside) and warm[0].outside == outside >= 1
    from wrnsearch.cli._live_view import warm_line

    assert warm_line(warm[0]).startswith(f"warm start: copied {len(inside)} trial(s) from {run1.resolve()} "
                                         f"(skipped {outside} outside the space")
    # copied trials do not count towards max_trials: two trained here, none of them trained before
    trained2 = [t.user_attrs["arch"] for t in study.trials if counts_as_trained(t)]
    assert len(trained2) == 2 and not set(trained2) & trained1 and Counter(trained2).most_common(1)[0][1] == 1
    assert result.progress.copied == len(inside) and result.progress.finished_before == 0

    # resumed, with the same option and one more trial: nothing copied twice, still nothing retrained
    events.clear()
    again = run_search(space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2, measure_alone=False, warm_start=run1,
                                         overrides=("budget.max_trials=3",)),
                       on_event=lambda event, progress: events.append(event))
    study = _study(again.run_dir, "second")
    assert sum(outcome_of(t) == Outcome.COPIED for t in study.trials) == len(inside)
    warm = [event for event in events if event.kind == "warm"]
    assert warm[0].copied == 0 and warm[0].held == len(inside)
    trained2 = [t.user_attrs["arch"] for t in study.trials if counts_as_trained(t)]
    assert len(trained2) == 3 and not set(trained2) & trained1 and len(set(trained2)) == 3


@pytest.mark.slow
def test_samplers_and_deduplication_see_the_copies(first):
    """TPE leaves its random start-up on the copies alone; the searcher answers a copied
    architecture with the copy (its key is a result), so it is never trained again."""
    from wrnsearch.samplers import make_sampler, search_distributions, suggest_spec
    from wrnsearch.search import RunProgress, StudySearcher, check_warm_start, copy_warm_start

    run1, root = first
    source = check_warm_start(load_space(run1 / "space.yaml"), run1, run_dir=run1.parent / "other")
    n = len(source.results)
    space = load_space(run1 / "space.yaml", ["search.sampler=tpe", f"search.n_startup_trials={n}"])
    sampler = make_sampler(space)
    study = optuna.create_study(directions=space.directions, sampler=sampler)
    fresh = study.ask()
    assert sampler.sample_relative(study, study.trials[-1], sampler.infer_relative_search_space(
        study, study.trials[-1])) == {}  # nothing known: random start-up
    study.tell(fresh, state=optuna.trial.TrialState.FAIL)
    warmed = copy_warm_start(study, space, source)
    assert len(warmed.copied) == n
    study.ask()
    relative = sampler.sample_relative(study, study.trials[-1],
                                       sampler.infer_relative_search_space(study, study.trials[-1]))
    dists = search_distributions(space)
    assert relative and set(relative) <= set(dists)  # TPE's model, fitted on the copies
    assert all(dists[k]._contains(dists[k].to_internal_repr(v)) for k, v in relative.items())
    searcher = StudySearcher(space, study, RunProgress(), None, allowed=1)
    keys = {t.user_attrs["key"] for t in study.trials if outcome_of(t) == Outcome.COPIED}
    assert keys <= set(searcher.proposals.results) and keys <= searcher.proposals.tried
    # EHVI (the default for finite spaces) fits its model on the copies and proposes none of them again
    space = load_space(run1 / "space.yaml", ["search.sampler=ehvi", f"search.n_startup_trials={n}"])
    study = optuna.create_study(directions=space.directions, sampler=make_sampler(space))
    copy_warm_start(study, space, source)
    proposed = suggest_spec(study.ask(), space).name
    assert proposed not in {t.user_attrs["arch"] for t in source.results}


@pytest.mark.slow
def test_latencies_from_another_device_are_timed_again_or_left_out(first):
    from wrnsearch.search import check_warm_start, copy_warm_start

    run1, _ = first
    before = _results(run1, "first")
    devices = {t.user_attrs["device"] for t in before.values()}
    assert devices == {"cpu (1 threads)"}
    # two threads per trial: another device as far as latency goes (WRN-10-1 alone: one to time)
    small = {"WRN-10-1"}
    for objectives, retimed in (('["error", "params", "latency_ms"]', True), ('["error", "params"]', False)):
        space = load_space(run1 / "space.yaml", ["resources.cpus_per_trial=2", f"objectives={objectives}",
                                                 "space.widen_factor=[1]", "space.depth=[10]", 'space.block=["B(3,3)"]',
                                                 "search.enqueue=[]"])
        source = check_warm_start(space, run1, run_dir=run1.parent / "other")
        study = optuna.create_study(directions=space.directions)
        warmed = copy_warm_start(study, space, source)
        assert {t.user_attrs["arch"] for t in study.trials} == small and warmed.outside == len(before) - len(small)
        assert (warmed.retimed, warmed.latency_left_out) == ((len(small), 0) if retimed else (0, len(small)))
        for t in study.trials:
            old = before[t.user_attrs["arch"]].user_attrs
            provenance = t.user_attrs["warm_start"]
            assert provenance["measured"]["latency_ms"] == old["latency_ms"]
            assert provenance["measured"]["device"] == "cpu (1 threads)"
            if retimed:
                assert t.user_attrs["device"] == "cpu (2 threads)" and t.user_attrs["latency_ms"] > 0
                assert t.values[2] == t.user_attrs["latency_ms"] and provenance["latency"].startswith("timed again")
            else:
                assert "device" not in t.user_attrs and "latency_ms" not in t.user_attrs
                assert provenance["latency"].startswith("left out: measured on cpu (1 threads)")
            assert t.values[:2] == before[t.user_attrs["arch"]].values[:2]


def _touch_one_image(root: Path) -> None:
    """The same names and sizes, other bytes: one pixel of one training image changed."""
    from PIL import Image

    path = root / "train" / "class0" / "0.png"
    pixels = np.asarray(Image.open(path)).copy()
    pixels[0, 0, 0] ^= 1
    Image.fromarray(pixels).save(path)


def _strip_content_hash(run_dir: Path) -> None:
    """A run as wrnsearch wrote it before it recorded the data's content hash."""
    with sqlite3.connect(run_dir / "study.db") as con:
        rows = con.execute("SELECT trial_user_attribute_id, value_json FROM trial_user_attributes "
                           "WHERE key = 'dataset_split'").fetchall()
        for row_id, value in rows:
            record = json.loads(value)
            record.pop("content_sha256", None)
            con.execute("UPDATE trial_user_attributes SET value_json = ? WHERE trial_user_attribute_id = ?",
                        (json.dumps(record), row_id))


@pytest.mark.slow
@pytest.mark.parametrize("change, message", [
    ("split", "another split (dataset.split_seed 0 there, 1 here)"),
    ("recipe", "another recipe (train.lr 0.05 there, 0.1 here)"),
    ("content", "another data content (dataset_split.content_sha256 "),
    ("no hash", "its trials record no hash of their data's content"),
])
def test_another_data_content_split_or_recipe_is_refused(first, tmp_path, change, message):
    run1, root = first
    data, source, overrides = root, run1, []
    if change == "split":
        overrides = ["dataset.split_seed=1"]
    elif change == "recipe":
        overrides = ["train.lr=0.1"]
    elif change == "content":
        data = tmp_path / "data-edited"
        shutil.copytree(root, data)
        _touch_one_image(data)
    else:
        source = tmp_path / "old-run"
        shutil.copytree(run1, source, ignore=shutil.ignore_patterns("checkpoints", "tune", ".lock"))
        _strip_content_hash(source)
    space = _space(tmp_path, "w", data, widths=(1, 2))
    with pytest.raises(RunError) as e:
        run_search(space, RunOptions(runs_dir=tmp_path / "runs", warm_start=source, overrides=tuple(overrides)))
    assert message in str(e.value) and len(str(e.value).splitlines()) == 1, str(e.value)
    assert str(e.value).startswith(f"--warm-start {source}:")
    assert not (tmp_path / "runs" / "w").exists()  # a refusal leaves nothing behind


@pytest.mark.slow
def test_the_cli_refuses_in_one_line_with_exit_code_2(first, tmp_path):
    run1, root = first
    space = _space(tmp_path, "w", root)
    proc = subprocess.run([sys.executable, "-m", "wrnsearch", "run", str(space), "--runs-dir", str(tmp_path / "runs"),
                           "--warm-start", str(run1), "--set", "train.epochs=2", "-q"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "another recipe (train.epochs 1 there, 2 here)" in lines[0], proc.stderr
