"""A trial: learns, resumes exactly, stops on time and on divergence, measures its speed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import CIFAR_ARCHIVE
from tests.spaces import exactly, space_data
from wrnsearch.data import load_splits, make_splits, synthetic_dataset
from wrnsearch.record import TrialRecord
from wrnsearch.space import space_from_data
from wrnsearch.spec import parse_name
from wrnsearch.train import Augmenter, load_checkpoint, lr_milestones, train_trial


def _space(lr: float = 0.05, train_size: int = 448, **train):
    """One architecture's 3-epoch recipe on generated images (what the trainer reads: the train and
    dataset sections), with ``train`` overriding the recipe's keys."""
    return space_from_data(space_data("t", dataset={"train_size": train_size},
                                      space=exactly({"architecture": ["WRN-10-1"]}),
                                      train={"epochs": 3, "batch_size": 32, "lr": lr, **train}))


@pytest.fixture(scope="module")
def synthetic():
    s = _space()
    return s, load_splits(s.dataset)


def test_synthetic_trial_learns_and_records_everything(synthetic, tmp_path):
    s, splits = synthetic
    reports = []
    spec = parse_name("WRN-10-1", num_classes=4)
    record = train_trial(spec, s.train, splits, device="cpu", checkpoint_dir=tmp_path, callback=lambda r,
                         p: reports.append((r, p)))
    assert record.status == "complete" and record.epochs == 3
    assert [r.epoch for r, _ in reports] == [1, 2, 3]
    assert all(p is not None and p.exists() for _, p in reports[-2:])
    assert record.val_error < 50 and record.test_error < 50  # 4 classes: chance is 75 %
    assert record.curve[-1]["val_error"] == record.val_error
    assert record.params == sum(p.numel() for p in __import__("wrnsearch").build_model(spec).parameters())
    # timed at the recipe's latency_batch (the factory's 8, not the default 32)
    assert record.latency["steps"] >= 20 and record.latency["batch"] == s.train.latency_batch == 8
    assert record.latency_ms > 0
    assert record.images_per_s > 0 and record.device.startswith("cpu")
    for key in ("name", "spec", "recipe", "dataset", "macs", "torch", "seed", "wall_time_s", "peak_memory_bytes",
                "node"):
        assert key in record.to_dict(), key
    assert record.dataset["val"] == 64
    assert TrialRecord.from_json(record.to_json()) == record  # the record is JSON and reads back as it was
    assert [c["lr"] for c in record.curve] == pytest.approx([0.05, 0.01, 0.002])  # x0.2 at 30/60/80 % of 3 epochs


def test_resume_continues_exactly_where_it_stopped(synthetic, tmp_path):
    s, splits = synthetic
    spec = parse_name("WRN-10-1", num_classes=4)
    full = train_trial(spec, s.train, splits, device="cpu", measure=False)

    class Crash(Exception):
        pass

    def crash_after_two(report, path):
        if report.epoch == 2:
            raise Crash

    with pytest.raises(Crash):
        train_trial(spec, s.train, splits, device="cpu", checkpoint_dir=tmp_path, callback=crash_after_two,
                    measure=False)
    resumed = train_trial(spec, s.train, splits, device="cpu", checkpoint_dir=tmp_path, measure=False)
    assert resumed.resumed_from_epoch == 2
    assert [c["epoch"] for c in resumed.curve] == [1, 2, 3]
    # the same RNG, optimizer and scheduler state: the resumed run is the uninterrupted one
    for a, b in zip(full.curve, resumed.curve):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_error"] == pytest.approx(b["val_error"], abs=1.6)  # one image of 64 at most
    assert resumed.status == "complete"


def test_corrupt_newest_checkpoint_falls_back(synthetic, tmp_path):
    s, splits = synthetic
    spec = parse_name("WRN-10-1", num_classes=4)
    train_trial(spec, s.train, splits, device="cpu", checkpoint_dir=tmp_path, epochs=2, measure=False)
    newest = sorted(tmp_path.glob("checkpoint-*.pt"))[-1]
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated
    state = load_checkpoint(tmp_path, spec)
    assert state is not None and state["epoch"] == 1
    assert load_checkpoint(tmp_path, parse_name("WRN-10-2", num_classes=4)) is None  # another architecture's


def test_checkpoints_of_other_settings_are_refused_not_resumed(synthetic, tmp_path):
    """A checkpoint directory reused with another recipe or split is an error naming what changed;
    settings that only change measurement (eval batch, compile) resume."""
    from wrnsearch.errors import RunError

    s, splits = synthetic
    spec = parse_name("WRN-10-1", num_classes=4)
    train_trial(spec, s.train, splits, device="cpu", checkpoint_dir=tmp_path, epochs=2, measure=False)
    other_lr = s.train.model_copy(update={"lr": 0.1})
    with pytest.raises(RunError, match=r"recipe\.lr 0\.05 -> 0\.1") as e:
        train_trial(spec, other_lr, splits, device="cpu", checkpoint_dir=tmp_path, epochs=2, measure=False)
    assert "another checkpoint directory" in str(e.value) and "\n" not in str(e.value)
    other_split = make_splits(synthetic_dataset(4, 16, 3, 448, 64), val_size=32)
    with pytest.raises(RunError, match=r"dataset\.val 64 -> 32"):
        train_trial(spec, s.train, other_split, device="cpu", checkpoint_dir=tmp_path, epochs=2, measure=False)
    resumed = train_trial(spec, s.train.model_copy(update={"eval_batch_size": 7}), splits, device="cpu",
                          checkpoint_dir=tmp_path, epochs=2, measure=False)
    assert resumed.resumed_from_epoch == 2


def test_time_limit_truncates_cleanly(tmp_path):
    s = _space(train_size=4000)
    splits = load_splits(s.dataset)
    record = train_trial(parse_name("WRN-10-1", num_classes=4), s.train, splits, device="cpu", time_limit_s=0.5,
                         measure=False)
    assert record.status == "truncated"
    assert record.epochs < 3 and "time limit" in record.reason
    assert 0 <= record.val_error <= 100  # evaluated on the weights it had


def test_nan_loss_is_diverged(synthetic):
    s, splits = synthetic
    hot = _space(lr=1.0e6).train
    record = train_trial(parse_name("WRN-10-1", num_classes=4), hot, splits, device="cpu", measure=False)
    assert record.status == "diverged" and "loss became" in record.reason
    assert record.val_error is None


def test_scheduler_stop_is_pruned(synthetic):
    s, splits = synthetic
    record = train_trial(parse_name("WRN-10-1", num_classes=4), s.train, splits, device="cpu", measure=False,
                         callback=lambda r, p: r.epoch < 1)
    assert record.status == "pruned" and record.epochs == 1


def test_lr_milestones_scale_with_epochs():
    assert lr_milestones(200, [0.3, 0.6, 0.8]) == [60, 120, 160]
    assert lr_milestones(160, [0.5, 0.75]) == [80, 120]
    assert lr_milestones(10, [0.3, 0.6, 0.8]) == [3, 6, 8]


def test_augmentation_is_a_reflect_padded_crop_or_its_mirror():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    aug = Augmenter((0.0,) * 3, (1.0,) * 3, augment=True, normalize="scale", device=torch.device("cpu"))
    out = aug.train_batch(x, g)
    padded = F.pad(x.float() / 255, (4, 4, 4, 4), mode="reflect")
    flips = 0
    for i in range(16):
        windows = [padded[i, :, r:r + 8, c:c + 8] for r in range(9) for c in range(9)]
        plain = any(torch.allclose(out[i], w) for w in windows)
        mirrored = any(torch.allclose(out[i], w.flip(-1)) for w in windows)
        assert plain or mirrored
        flips += mirrored and not plain
    assert 0 < flips < 16
    assert torch.allclose(aug.eval_batch(x), x.float() / 255)


def test_meanstd_normalization():
    x = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    aug = Augmenter((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), augment=False, normalize="meanstd", device=torch.device("cpu"))
    assert torch.allclose(aug.eval_batch(x), torch.full((2, 3, 4, 4), 2.0))


@pytest.mark.skipif(not CIFAR_ARCHIVE.exists(),
                    reason=f"the real CIFAR-10 copy is absent ({CIFAR_ARCHIVE}); set WRNSEARCH_CIFAR_ARCHIVE")
@pytest.mark.slow
def test_real_cifar10_slice_learns(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("WRNSEARCH_CACHE", str(tmp_path_factory.getbasetemp() / "cifar-cache"))
    s = space_from_data(space_data("r", dataset=exactly({"name": "cifar10", "val_size": 500, "train_subset": 2000,
                                                         "test_subset": 500}),
                                   space=exactly({"architecture": ["WRN-10-2"]}), train={"epochs": 2}))
    splits = load_splits(s.dataset, CIFAR_ARCHIVE.parent)
    assert splits.record["train"] == 2000 and splits.num_classes == 10
    record = train_trial(parse_name("WRN-10-2"), s.train, splits, device="cpu", measure=False)
    assert record.status == "complete"
    assert record.val_error < 80, record.curve  # chance is 90 %


def test_cli_train_writes_record(tmp_path):
    exe = shutil.which("wrnsearch") or pytest.skip("wrnsearch console script not installed")
    out = tmp_path / "rec.json"
    proc = subprocess.run([exe, "train", "WRN-10-1", "--dataset", "synthetic", "--epochs", "1", "--batch-size", "64",
                           "--set", "dataset.train_size=320", "--set", "dataset.val_size=64", "--output", str(out),
                           "--checkpoint-dir", str(tmp_path / "ck")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "WRNSEARCH_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["name"] == "WRN-10-1" and record["status"] == "complete" and record["epochs"] == 1
    assert "WRN-10-1: status complete" in proc.stdout
    assert list((tmp_path / "ck").glob("checkpoint-*.pt"))


def test_cli_train_on_the_whole_training_set(tmp_path):
    """--val-size 0 trains on every training image, as the paper did; the record has no val error."""
    exe = shutil.which("wrnsearch") or pytest.skip("wrnsearch console script not installed")
    out = tmp_path / "rec.json"
    proc = subprocess.run([exe, "train", "WRN-10-1", "--dataset", "synthetic", "--epochs", "1", "--batch-size", "64",
                           "--val-size", "0", "--set", "dataset.train_size=320", "--set", "train.latency_steps=20",
                           "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["dataset"]["train"] == 320 and record["dataset"]["val"] == 0
    assert record["val_error"] is None and record["curve"][0]["val_error"] is None
    assert 0 <= record["test_error"] <= 100
    assert "val error n/a" in proc.stdout and "no validation split" in proc.stderr


def test_a_search_refuses_val_size_zero(tmp_path):
    exe = shutil.which("wrnsearch") or pytest.skip("wrnsearch console script not installed")
    proc = subprocess.run([exe, "run", "spaces/quickstart.yaml", "--set", "dataset.val_size=0", "--runs-dir",
                           str(tmp_path / "runs")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "--set dataset.val_size=0" in proc.stderr
    assert "optimizes validation error" in proc.stderr and not (tmp_path / "runs").exists()


def test_cli_train_missing_data_is_one_line(tmp_path):
    exe = shutil.which("wrnsearch") or pytest.skip("wrnsearch console script not installed")
    proc = subprocess.run([exe, "train", "WRN-10-1", "--dataset", "cifar100", "--data-root", str(tmp_path),
                           "--set", "dataset.download=false"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cifar100 not found under" in proc.stderr and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------------------------
# The fast path (bf16 autocast, channels_last, torch.compile) runs on the CPU too when asked for,
# so the code a GPU trial runs is exercised here, short of the CUDA kernels themselves.


def test_fast_path_settings_resolve_per_device():
    from wrnsearch.train import BF16_FASTER, cpu_bf16_speedup, cpu_has_bf16_units, fast_path

    auto = _space().train
    amx = "amx_bf16" in open("/proc/cpuinfo").read()  # what Linux says of this CPU, beside torch's probe
    assert cpu_has_bf16_units() == amx
    measured = cpu_bf16_speedup() >= BF16_FASTER  # auto on a CPU: as a step measured here
    assert fast_path(auto, torch.device("cpu")) == (measured, measured, False)
    assert fast_path(auto, torch.device("cuda")) == (True, True, False)
    forced = _space(amp=True, channels_last=True, compile=True).train
    assert fast_path(forced, torch.device("cpu")) == (True, True, True)
    off = _space(amp=False, channels_last=False).train
    assert fast_path(off, torch.device("cuda")) == (False, False, False)


@pytest.mark.parametrize("name", ["WRN-10-2", "WRN-13-1-B(3,1,3)-d0.3", "WRN-13-1-B(1,3,1)", "WRN-10-1.5-B(3,3)-d0.3"])
def test_every_block_compiles_without_graph_breaks(name):
    """torch.compile traces each block type as one graph: no graph break, no Python fallback."""
    import torch._dynamo

    model = __import__("wrnsearch").build_model(parse_name(name)).train()
    x = torch.randn(4, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(model)(x)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


def test_bf16_autocast_and_channels_last_step_matches_fp32():
    """One training step under the fast path computes the fp32 step's loss and gradients to bf16 accuracy."""
    from wrnsearch.measure import autocast_context

    spec = parse_name("WRN-10-2", num_classes=10)
    torch.manual_seed(0)
    ref = __import__("wrnsearch").build_model(spec).train()
    fast = __import__("wrnsearch").build_model(spec).train().to(memory_format=torch.channels_last)
    fast.load_state_dict(ref.state_dict())
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    loss_ref = F.cross_entropy(ref(x), y)
    loss_ref.backward()
    with autocast_context(torch.device("cpu"), True):
        out = fast(x.contiguous(memory_format=torch.channels_last))
        assert out.dtype == torch.bfloat16  # autocast really ran the network in bf16
        loss_fast = F.cross_entropy(out, y)
    loss_fast.backward()
    assert loss_fast.item() == pytest.approx(loss_ref.item(), rel=2e-2)
    g_ref = torch.cat([p.grad.flatten() for p in ref.parameters()])
    g_fast = torch.cat([p.grad.flatten().float() for p in fast.parameters()])
    assert torch.isfinite(g_fast).all()
    # bf16 keeps 8 mantissa bits; over ten layers and their batch norms the gradient stays within
    # about 10 % in norm and points the same way (a wrong layout or a dropped cast would not)
    assert ((g_fast - g_ref).norm() / g_ref.norm()).item() < 0.15
    assert F.cosine_similarity(g_fast, g_ref, dim=0).item() > 0.99


def test_trial_on_the_fast_path_learns_and_resumes(tmp_path, monkeypatch):
    """The whole trial with amp, channels_last and torch.compile forced on, on the CPU.

    torch.compile runs dynamo and AOT autograd for real; only the backend is swapped for
    ``aot_eager`` (inductor's C++ code generation costs a minute on two cores and is PyTorch's own).
    """
    s = _space(amp=True, channels_last=True, compile=True)
    splits = load_splits(s.dataset)
    real_compile = torch.compile
    compiled = []

    def compile_with_aot_eager(model, **kwargs):
        compiled.append(kwargs)
        return real_compile(model, **{**kwargs, "backend": "aot_eager"})

    monkeypatch.setattr(torch, "compile", compile_with_aot_eager)
    spec = parse_name("WRN-10-1", num_classes=4)

    def crash_after_two(report, path):
        if report.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_trial(spec, s.train, splits, device="cpu", checkpoint_dir=tmp_path, callback=crash_after_two,
                    measure=False)
    record = train_trial(spec, s.train, splits, device="cpu", checkpoint_dir=tmp_path)
    assert compiled and all(k.get("dynamic") is False for k in compiled)
    assert (record.amp, record.channels_last, record.compile) == (True, True, True)
    assert record.status == "complete" and record.resumed_from_epoch == 2 and record.epochs == 3
    assert record.val_error < 50  # 4 classes: chance is 75 %
    assert record.latency_ms > 0 and record.latency["steps"] >= 20


def test_auto_takes_bf16_where_this_cpu_measured_it_faster_once_and_says_so(tmp_path, monkeypatch):
    """auto follows a measurement of both precisions on this CPU, timed once and cached per CPU model,
    torch and threads: bf16 where it ran at least BF16_FASTER as fast, fp32 where not; the record says which."""
    import json

    from wrnsearch.train import BF16_FASTER, cpu_bf16_speedup, fast_path, fast_path_reason
    from wrnsearch.train import _device as device_module

    monkeypatch.setenv("WRNSEARCH_CACHE", str(tmp_path))
    monkeypatch.setattr(device_module, "_SPEEDUPS", {})
    speedup = cpu_bf16_speedup(1)  # really timed, on this CPU
    cache = json.loads((tmp_path / "precision.json").read_text())
    (key, entry), = cache.items()
    assert entry["speedup"] == round(speedup, 3) > 0 and json.loads(key)[2] == 1
    if "avx512_bf16" in open("/proc/cpuinfo").read() or "amx_bf16" in open("/proc/cpuinfo").read():
        assert speedup >= BF16_FASTER  # native bf16 units: the EPYC Zen 4 and Xeon AMX classes ran about 2x
    monkeypatch.setattr(device_module, "_SPEEDUPS", {})
    monkeypatch.setattr(device_module, "_measure_bf16_speedup", lambda: pytest.fail("measured twice"))
    assert cpu_bf16_speedup(1) == round(speedup, 3)  # from the cache: not timed again

    auto, cpu = _space().train, torch.device("cpu")
    threads = torch.get_num_threads()
    for figure, expected in ((0.6, False), (2.1, True)):  # a CPU without bf16 units, and one with
        (tmp_path / "precision.json").write_text(json.dumps({key.replace(", 1]", f", {threads}]"): {
            "speedup": figure, "at": 0}}))
        monkeypatch.setattr(device_module, "_SPEEDUPS", {})
        assert fast_path(auto, cpu)[:2] == (expected, expected)
        reason = fast_path_reason(auto, cpu)
        assert reason.startswith("bf16 with channels_last: auto" if expected else "fp32: auto")
        assert f"{figure:.2f}x as fast as fp32" in reason
