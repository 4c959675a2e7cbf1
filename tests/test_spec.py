from __future__ import annotations

import pytest

from wrnsearch.errors import SpecError
from wrnsearch.spec import WRNSpec, parse_block, parse_name


@pytest.mark.parametrize(
    "name, depth, k, kernels, dropout, n",
    [
        ("WRN-28-10", 28, 10, (3, 3), 0.0, 4),
        ("WRN-22-2-B(3,1,3)", 22, 2, (3, 1, 3), 0.0, 2),
        ("WRN-16-8-d0.3", 16, 8, (3, 3), 0.3, 2),
        ("WRN-40-2-B(3)", 40, 2, (3,), 0.0, 12),
        ("WRN-40-4", 40, 4, (3, 3), 0.0, 6),
        ("WRN-22-0.5-B(1,3,1)-d0.25", 22, 0.5, (1, 3, 1), 0.25, 2),
    ],
)
def test_names_round_trip(name, depth, k, kernels, dropout, n):
    spec = parse_name(name)
    fields = (spec.depth, spec.widen_factor, spec.kernels, spec.dropout, spec.blocks_per_group)
    assert fields == (depth, k, kernels, dropout, n)
    assert spec.name == name
    assert parse_name(spec.name) == spec


def test_spec_given_by_blocks_per_group_names_its_depth():
    spec = WRNSpec(blocks_per_group=2, widen_factor=4, kernels=(3, 1, 3))
    assert spec.depth == 22
    assert spec.name == "WRN-22-4-B(3,1,3)"
    assert WRNSpec(depth=22, widen_factor=4, kernels=(3, 1, 3)) == spec


def test_widths_and_fractional_k():
    assert WRNSpec(depth=28, widen_factor=10).widths == (160, 320, 640)
    assert WRNSpec(depth=16, widen_factor=0.5).widths == (8, 16, 32)
    assert WRNSpec(depth=16, widen_factor=1.0).widen_factor == 1


def test_dict_round_trip():
    spec = parse_name("WRN-22-2-B(3,1,3)-d0.3", num_classes=100, in_channels=1)
    assert WRNSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(depth=27, widen_factor=2), "depth 27 is impossible"),
        (dict(depth=4, widen_factor=2), "depth 4 is impossible"),
        (dict(depth=26, widen_factor=2, kernels=(3, 3)), "depth 26 is impossible"),
        (dict(blocks_per_group=0, widen_factor=2), "blocks_per_group 0"),
        (dict(depth=16, widen_factor=0), "widen_factor 0"),
        (dict(depth=16, widen_factor=-1), "widen_factor -1"),
        (dict(depth=16, widen_factor=0.3), "group width 16*0.3"),
        (dict(depth=16, widen_factor=2, dropout=1.0), "dropout 1.0"),
        (dict(depth=16, widen_factor=2, dropout=-0.1), "dropout -0.1"),
        (dict(depth=16, widen_factor=2, kernels=(3, 2)), "kernel size 2"),
        (dict(depth=16, widen_factor=2, kernels=()), "at least one convolution"),
        (dict(depth=16, widen_factor=2, num_classes=0), "num_classes 0"),
        (dict(depth=16, widen_factor=2, in_channels=0), "in_channels 0"),
        (dict(depth=22, blocks_per_group=2, widen_factor=2), "does not match"),
        (dict(widen_factor=2), "give depth or blocks_per_group"),
    ],
)
def test_invalid_specs_name_the_bad_value(kwargs, fragment):
    with pytest.raises(SpecError, match=fragment.replace("(", r"\(").replace("*", r"\*")):
        WRNSpec(**kwargs)


@pytest.mark.parametrize("name", ["WRN28-10", "ResNet-50", "WRN-28-10-B(3,3", "WRN-27-10", "WRN-28-10-B(2,3)",
                                  "WRN-16-8-d1.5", ""])
def test_bad_names_are_rejected(name):
    with pytest.raises(SpecError):
        parse_name(name)


def test_parse_block_forms():
    assert parse_block("B(3,1,3)") == (3, 1, 3)
    assert parse_block("3, 1, 3") == (3, 1, 3)
    assert parse_block([1, 3, 1]) == (1, 3, 1)
    with pytest.raises(SpecError, match="not an integer"):
        parse_block("B(3,x)")
