"""Export of a trained trial: a real search (real Ray, real SQLite: the session's quick_run), its
final weights exported in every format, loaded in a fresh Python that does not import wrnsearch
(TorchScript, .pt2, ONNX), and the recorded test error reproduced on the study's own test images."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import optuna
import pytest
import torch

from tests.conftest import QUICK_SPACE
from wrnsearch.data import load_splits
from wrnsearch.deploy import EXPORT_FORMATS, export_trial, read_card, trial_weights_path
from wrnsearch.errors import RunError
from wrnsearch.search import RunOptions, run_search
from wrnsearch.space import DatasetConfig
from wrnsearch.study import load_study

pytestmark = pytest.mark.slow


# run in a fresh interpreter: torch (and onnxruntime) only, never wrnsearch
LOADERS = {
    "torchscript": "model = torch.jit.load(sys.argv[1]); run = model",
    "export": "model = torch.export.load(sys.argv[1]).module(); run = model",
    "onnx": textwrap.dedent("""\
        import onnxruntime
        session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
        run = lambda x: torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])"""),
    "safetensors": "from wrnsearch.deploy import load_safetensors; run = load_safetensors(sys.argv[1])",
}
EVALUATE = """\
import sys, json, torch
{loader}
images, labels = torch.load(sys.argv[2])
wrong = 0
with torch.no_grad():
    for i in range(0, len(labels), 128):
        logits = run(images[i:i + 128])
        assert logits.dtype == torch.float32 and logits.shape == (len(labels[i:i + 128]), 4), logits.shape
        wrong += int((logits.argmax(1) != labels[i:i + 128]).sum())
    one = run(images[:1])  # batch 1, which the export never saw
print(json.dumps({{"error": 100.0 * wrong / len(labels), "batch1": list(one.shape),
                  "wrnsearch_imported": "wrnsearch" in sys.modules}}))
"""


@pytest.fixture(scope="module")
def trained(quick_run, tmp_path_factory):
    """The session's finished search (2 trials, 2 epochs in fp32, its front timed alone): its run
    directory, its study, and its test images as a deployer feeds them."""
    study = load_study(run_dir=quick_run.run_dir)
    splits = load_splits(DatasetConfig.model_validate(study.user_attrs["space"]["dataset"]))
    images = tmp_path_factory.mktemp("export") / "test-images.pt"
    torch.save((splits.test_x.float() / 255.0, splits.test_y), images)  # as a deployer feeds it: [0, 1] floats
    return quick_run.run_dir, study, images


def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if t.user_attrs.get("status") == "complete"]


def test_every_completed_trial_keeps_its_final_weights_by_number(trained):
    run_dir, study, _ = trained
    done = _complete(study)
    assert len(done) == 2
    for t in done:
        path = trial_weights_path(run_dir, t)
        state = torch.load(path, weights_only=True)  # weights-only: no pickle of arbitrary objects
        assert state["spec"] == t.user_attrs["spec"] and state["epochs"] == 2
        assert "optimizer" not in state and len(state["mean"]) == 3


@pytest.mark.parametrize("fmt", ["torchscript", "export", "safetensors", "onnx"])
def test_export_reproduces_the_recorded_test_error_in_a_fresh_process(trained, tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxscript", reason="the onnx format needs the export extra")
        pytest.importorskip("onnxruntime", reason="checked against onnxruntime")
    if fmt == "safetensors":
        pytest.importorskip("safetensors", reason="the safetensors format needs the export extra")
    run_dir, study, images = trained
    for t in _complete(study):
        path, card_path = export_trial(run_dir, tmp_path / f"m{t.number}", fmt=fmt, trial=t.number)
        script = EVALUATE.format(loader=LOADERS[fmt])
        out = subprocess.run([sys.executable, "-c", script, str(path), str(images)], capture_output=True, text=True,
                             timeout=300, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        got = json.loads(out.stdout.strip().splitlines()[-1])
        assert got["wrnsearch_imported"] == (fmt == "safetensors")
        assert got["batch1"] == [1, 4]
        # trained and evaluated in fp32 (amp: false): the very same predictions
        assert got["error"] == pytest.approx(t.user_attrs["test_error"], abs=1e-9), (fmt, t.user_attrs["arch"])
        card = json.loads(card_path.read_text())
        assert card["name"] == t.user_attrs["arch"] and card["source"]["trial"] == t.number
        assert card["test_error"] == t.user_attrs["test_error"] and card["params"] == t.user_attrs["params"]
        assert card["dataset"]["split"]["val_indices_sha256"] == t.user_attrs["dataset_split"]["val_indices_sha256"]
        assert card["latencies"][0]["latency_ms"] == t.user_attrs["latency_ms"]
        alone = study.user_attrs.get("latency_alone", {}).get(t.user_attrs["arch"])
        if alone is not None:  # a front member: the figures timed alone are in the card too
            assert card["latencies"][-1]["latency_ms"] == alone["latency_ms"]
        assert card["input"]["height"] == 16 and card["format"] == fmt


def _available_formats() -> list[str]:
    """Every export format whose optional packages are installed."""
    import importlib.util

    needs = {"safetensors": ["safetensors"], "onnx": ["onnx", "onnxscript"]}
    return [fmt for fmt in EXPORT_FORMATS if all(importlib.util.find_spec(m) for m in needs.get(fmt, []))]


@pytest.fixture(scope="module")
def one_stem(trained, tmp_path_factory):
    """One trial exported in every available format under one stem (m.pt2, m.onnx ...) under umask
    022, beside a file made by open() under the same umask; the directory and the formats."""
    run_dir, study, _ = trained
    out = tmp_path_factory.mktemp("one-stem")
    formats = _available_formats()
    assert "safetensors" in formats, "the export extra is installed in development"
    old_umask = os.umask(0o022)
    try:
        for fmt in formats:
            export_trial(run_dir, out / f"m{EXPORT_FORMATS[fmt]}", fmt=fmt, trial=_complete(study)[0].number)
        with open(out / "made-by-open", "w"):
            pass
    finally:
        os.umask(old_umask)
    return out, formats


def test_exports_of_one_stem_each_keep_their_own_card(one_stem):
    out, formats = one_stem
    assert len(formats) >= 2
    for fmt in formats:
        model = out / f"m{EXPORT_FORMATS[fmt]}"
        card = json.loads((out / f"{model.name}.card.json").read_text())
        assert card["format"] == fmt and card["file"] == model.name
        assert read_card(model) == card
    assert not (out / "m.card.json").exists()


def test_every_exported_file_gets_the_mode_open_gives_a_new_file(one_stem):
    out, formats = one_stem
    want = stat.S_IMODE((out / "made-by-open").stat().st_mode)
    assert want == 0o644  # 0666 under umask 022
    written = sorted(p for p in out.iterdir() if p.name != "made-by-open")
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written}
    assert set(modes.values()) == {oct(want)}, modes
    assert len(written) == 2 * len(formats)  # each model and its card, no temporary left behind


def test_a_card_written_under_the_stem_by_an_earlier_version_is_still_read(trained, tmp_path):
    run_dir, study, _ = trained
    path, card_path = export_trial(run_dir, tmp_path / "old.pt2", trial=_complete(study)[0].number)
    card_path.rename(tmp_path / "old.card.json")  # the name exports gave a card before each file had its own
    assert read_card(path)["file"] == "old.pt2"
    (tmp_path / "old.onnx").write_bytes(b"")  # the shared stem card describes old.pt2, not this file
    with pytest.raises(RunError, match="no model card"):
        read_card(tmp_path / "old.onnx")


def test_export_by_architecture_and_its_errors(trained, tmp_path):
    run_dir, study, _ = trained
    best = min(_complete(study), key=lambda t: t.user_attrs["val_error"])
    _, card_path = export_trial(run_dir, tmp_path / "a.pt2", arch=best.user_attrs["arch"])
    assert json.loads(card_path.read_text())["source"]["trial"] == best.number
    with pytest.raises(RunError, match="no completed trial of WRN-40-4"):
        export_trial(run_dir, tmp_path / "b.pt2", arch="WRN-40-4")
    with pytest.raises(RunError, match="has no trial 99"):
        export_trial(run_dir, tmp_path / "b.pt2", trial=99)
    out = subprocess.run([sys.executable, "-m", "wrnsearch", "export", str(run_dir), "--trial", "99", "-o",
                          str(tmp_path / "c.pt2")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "has no trial 99" in out.stderr
    # on a copy: the session's run directory is read by the other test process at the same time
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns(".lock"))
    trial_weights_path(copy, best).unlink()
    with pytest.raises(RunError, match="no final weights"):
        export_trial(copy, tmp_path / "d.pt2", trial=best.number)


def test_a_trial_trained_under_bf16_exports_within_a_third_of_a_point(tmp_path, make_space, local_ray):
    # the exported model computes in fp32; the recorded error was evaluated under bf16 autocast
    space = make_space("bf", base=QUICK_SPACE, dataset={"test_size": 2000}, space={"depth": [10], "widen_factor": [1]},
                       train={"amp": True})
    result = run_search(space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2))
    study = load_study(run_dir=result.run_dir)
    (t,) = _complete(study)
    splits = load_splits(DatasetConfig.model_validate(study.user_attrs["space"]["dataset"]))
    path, _ = export_trial(result.run_dir, tmp_path / "bf.pt2", trial=t.number)
    model = torch.export.load(str(path)).module()
    with torch.no_grad():
        wrong = sum(int((model(splits.test_x[i:i + 500].float() / 255).argmax(1) != splits.test_y[i:i + 500]).sum())
                    for i in range(0, 2000, 500))
    assert abs(100 * wrong / 2000 - t.user_attrs["test_error"]) <= 0.3


def test_clean_keeps_the_fronts_weights_and_export_still_works(trained, tmp_path):
    from wrnsearch.deploy import clean_run
    from wrnsearch.pareto import front_info

    run_dir, study, _ = trained
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns(".lock"))
    stray = copy / "checkpoints" / "0123456789abcdef"  # final weights no trial of the study names
    stray.mkdir()
    shutil.copy(trial_weights_path(copy, _complete(study)[0]), stray / "model.pt")
    before = sorted(p.relative_to(copy) for p in (copy / "checkpoints").rglob("*.pt"))
    dry = clean_run(copy, dry_run=True)
    assert sorted(p.relative_to(copy) for p in (copy / "checkpoints").rglob("*.pt")) == before  # nothing removed
    done = clean_run(copy, keep="front")
    assert [p.relative_to(copy) for p in done.removed] == [p.relative_to(copy) for p in dry.removed]
    assert not list((copy / "checkpoints").rglob("checkpoint-*.pt"))  # every trial finished: no resume state
    assert not stray.exists()
    left = {p.parent.name for p in (copy / "checkpoints").rglob("model.pt")}
    assert left == {t.user_attrs["key"] for t in front_info(study).front_trials}
    out = subprocess.run([sys.executable, "-m", "wrnsearch", "export", str(copy), "--trial",
                          str(front_info(study).front_trials[0].number), "-o", str(tmp_path / "f.pt2")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "exported trial" in out.stdout, out.stderr


def test_the_run_timed_its_front_alone_and_measure_does_it_again(trained, tmp_path):
    from wrnsearch.pareto import ALONE_ATTR, front_info, front_rows

    run_dir, study, _ = trained
    front = front_info(study).front_trials
    alone = study.user_attrs[ALONE_ATTR]
    assert {t.user_attrs["arch"] for t in front} <= set(alone)  # the end of the run timed the front alone
    assert all(r["timed_alone"] for r in front_rows(study))
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns(".lock"))
    writable = optuna.load_study(study_name=study.study_name, storage=f"sqlite:///{copy / 'study.db'}")
    writable.set_user_attr(ALONE_ATTR, {})
    out = subprocess.run([sys.executable, "-m", "wrnsearch", "measure", str(copy)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert f"timed {len(front)} architecture(s) alone" in out.stdout
    rows = json.loads(subprocess.run([sys.executable, "-m", "wrnsearch", "pareto", str(copy), "--format", "json"],
                                     capture_output=True, text=True, timeout=120).stdout)
    again = load_study(run_dir=copy).user_attrs[ALONE_ATTR]
    assert rows and all(r["timed_alone"] for r in rows)
    assert all(r["latency_ms"] == again[r["arch"]]["latency_ms"] for r in rows)
