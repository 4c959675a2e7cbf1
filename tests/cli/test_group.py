"""The CLI: every command has help; errors are one line, exit 2, no traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from wrnsearch import __version__
from wrnsearch.cli import main


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, prefix + (name,))


def test_every_command_has_help_text():
    commands = list(_all_commands(main))
    assert len(commands) >= 3
    runner = CliRunner()
    for path, cmd in commands:
        assert cmd.help and cmd.help.strip(), f"{' '.join(path)} has no docstring"
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage: wrnsearch " + " ".join(path) in result.output
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, f"{' '.join(path)} {param.opts} has no help"


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_model_json_wrn_28_10():
    result = CliRunner().invoke(main, ["model", "WRN-28-10", "--format", "json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["name"] == "WRN-28-10"
    assert info["params"] == 36_479_194
    assert isinstance(info["macs"], int) and 5.2e9 < info["macs"] < 5.3e9
    assert info["spec"]["blocks_per_group"] == 4


def test_model_options_change_costs():
    runner = CliRunner()
    base = json.loads(runner.invoke(main, ["model", "WRN-16-4", "--format", "json"]).output)
    more = json.loads(runner.invoke(main, ["model", "WRN-16-4", "--format", "json", "--classes", "100",
                                           "--in-channels", "1", "--resolution", "64"]).output)
    assert more["params"] - base["params"] == 256 * 90 + 90 - 2 * 16 * 9
    assert more["macs"] > 3.9 * base["macs"]
    assert more["resolution"] == 64


def test_model_table_shows_both_latencies():
    result = CliRunner().invoke(main, ["model", "WRN-10-1", "--measure", "--batch", "4", "--resolution", "16"])
    assert result.exit_code == 0, result.output
    assert "ms / training step of 4" in result.output
    assert "inference latency" in result.output and "ms / pass of 1 " in result.output


def test_model_table_shows_blocks_and_totals():
    result = CliRunner().invoke(main, ["model", "WRN-22-2-B(3,1,3)-d0.3"])
    assert result.exit_code == 0, result.output
    assert "group3" in result.output and "128x8x8" in result.output
    assert "735,578" in result.output
    assert "1x1 conv" in result.output


def test_model_measure_json():
    result = CliRunner().invoke(main, ["model", "WRN-10-1", "--measure", "--batch", "4", "--resolution", "16",
                                       "--infer-batch", "2", "--format", "json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["latency_ms"] > 0 and info["images_per_s"] > 0 and info["steps"] >= 20
    infer = info["inference"]  # the inference pass beside the training step, at its own batch
    assert info["latency_infer_ms"] == infer["latency_ms"] > 0 and infer["batch"] == 2 and info["batch"] == 4
    assert infer["device"] == info["device"] and infer["steps"] == info["steps"]
    from wrnsearch.train import BF16_FASTER, cpu_bf16_speedup

    assert info["amp"] == info["channels_last"] == (cpu_bf16_speedup() >= BF16_FASTER)  # auto: as a trial here
    forced = CliRunner().invoke(main, ["model", "WRN-10-1", "--measure", "--batch", "4", "--resolution", "16",
                                       "--amp", "false", "--channels-last", "true", "--format", "json"])
    assert forced.exit_code == 0, forced.output
    assert (json.loads(forced.output)["amp"], json.loads(forced.output)["channels_last"]) == (False, True)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["model", "WRN-27-10"], "depth 27 is impossible"),
        (["model", "ResNet-50"], "'ResNet-50' is not a WRN name"),
        (["model", "WRN-28-10", "--bogus"], "No such option"),
        (["model", "WRN-28-10", "--resolution", "4"], "--resolution"),
        (["model", "WRN-28-10", "--format", "xml"], "--format"),
        (["model", "WRN-16-2", "--measure", "--device", "tpu9" if __import__("torch").cuda.is_available() else "cuda"],
         "--device"),
        (["nothing"], "No such command"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, fragment):
    exe = shutil.which("wrnsearch") or pytest.skip("wrnsearch console script not installed")
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_debug_shows_traceback():
    exe = shutil.which("wrnsearch") or pytest.skip("wrnsearch console script not installed")
    proc = subprocess.run([exe, "--debug", "model", "WRN-27-10"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and "SpecError" in proc.stderr


def test_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "wrnsearch", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and __version__ in proc.stdout


def _run(*args):
    exe = shutil.which("wrnsearch") or pytest.skip("wrnsearch console script not installed")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300)


def test_space_validate_exit_codes(tmp_path):
    assert _run("space", "validate", "spaces/quickstart.yaml").returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nspace:\n  depth: [16, 23]\n  widen_factor: 1\n  blcok: B(3,3)\n")
    proc = _run("space", "validate", str(bad))
    assert proc.returncode == 2
    assert proc.stderr == f"wrnsearch: error: {bad}:5:3: space.blcok: unknown key 'blcok' (did you mean 'block'?)\n"
    # schema errors come first; once the keys are right, the impossible depth is reported
    bad.write_text(bad.read_text().replace("blcok", "block"))
    proc = _run("space", "validate", str(bad))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(
        f"wrnsearch: error: {bad}:3:15: space.depth.1: depth 23 is realized by no allowed block")


def test_space_show_count_sample():
    shown = _run("space", "show", "spaces/quickstart.yaml", "--set", "train.epochs=7")
    assert shown.returncode == 0
    import yaml

    data = yaml.safe_load(shown.stdout)
    assert data["train"]["epochs"] == 7 and data["train"]["momentum"] == 0.9 and data["train"]["nesterov"] is True
    count = _run("space", "count", "spaces/cifar10.yaml")
    assert count.returncode == 0 and count.stdout.strip() == "architectures: 432; within budget: 412"
    count_small = _run("space", "count", "spaces/cifar10.yaml", "--set", "budget.max_params=5M")
    fitting = int(count_small.stdout.strip().rsplit(" ", 1)[1])
    assert 0 < fitting < 412
    sample = _run("space", "sample", "spaces/cifar10.yaml", "--n", "10", "--seed", "0", "--format", "json")
    assert sample.returncode == 0, sample.stderr
    rows = json.loads(sample.stdout)
    assert len(rows) == 10
    from wrnsearch.spec import parse_name

    for row in rows:
        assert parse_name(row["name"]).depth in (16, 22, 28, 40)
        assert (row["params"] > 40_000_000) == (row["infeasible_reason"] is not None)
    again = json.loads(_run("space", "sample", "spaces/cifar10.yaml", "--n", "10", "--seed", "0", "--format",
                            "json").stdout)
    assert again == rows  # seeded


# --------------------------------------------------------------------------------------------
# Every block shape by name, commas included: the CLI hands names to the library whole


def _block_names() -> list[str]:
    from tests.conftest import BLOCK_TYPES
    from wrnsearch.spec import WRNSpec

    return [WRNSpec(blocks_per_group=1, widen_factor=1, kernels=k).name for k in BLOCK_TYPES]


@pytest.mark.parametrize("name", _block_names())
def test_model_and_train_take_every_block_shape_by_name(name, tmp_path):
    from wrnsearch.cost import model_cost
    from wrnsearch.spec import parse_name

    spec = parse_name(name, num_classes=4)
    shown = CliRunner().invoke(main, ["model", name, "--classes", "4", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["params"] == model_cost(spec).params
    out = tmp_path / "record.json"
    trained = CliRunner().invoke(main, [
        "train", name, "--dataset", "synthetic", "--epochs", "1", "--batch-size", "32", "--device", "cpu",
        "--set", "dataset.num_classes=4", "--set", "dataset.resolution=8", "--set", "dataset.train_size=96",
        "--set", "dataset.val_size=32", "--set", "dataset.test_size=32", "--output", str(out)])
    assert trained.exit_code == 0, trained.output
    record = json.loads(out.read_text())
    assert record["name"] == name and record["status"] == "complete" and record["spec"] == spec.to_dict()
    assert record["params"] == model_cost(spec, 8, 32).params and record["epochs"] == 1
