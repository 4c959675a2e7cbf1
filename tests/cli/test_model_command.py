"""wrnsearch model: a WRN's costs and layers by name, measured on request, and every block shape
by name (commas included), which wrnsearch train takes too."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from wrnsearch.cli import main


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
