"""Analytic costs equal the built model's, exactly, for every kind of spec."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
import torch
from torch import nn

from tests.conftest import BLOCK_TYPES, random_spec_kwargs
from wrnsearch.cost import layer_table, model_cost
from wrnsearch.model import WideResNet
from wrnsearch.spec import WRNSpec, parse_name

# Paper, Table 4 (CIFAR-10): parameter counts in millions, rounded to 0.1 M.
PAPER_TABLE4_PARAMS_M = {
    "WRN-40-1": 0.6, "WRN-40-2": 2.2, "WRN-40-4": 8.9, "WRN-40-8": 35.7, "WRN-28-10": 36.5,
    "WRN-28-12": 52.5, "WRN-22-8": 17.2, "WRN-22-10": 26.8, "WRN-16-8": 11.0, "WRN-16-10": 17.1,
}


@pytest.mark.parametrize("name, millions", sorted(PAPER_TABLE4_PARAMS_M.items()))
def test_paper_table4_parameter_counts(name, millions):
    assert round(model_cost(parse_name(name)).params / 1e6, 1) == millions


def test_wrn_28_10_exact():
    assert model_cost(parse_name("WRN-28-10")).params == 36_479_194


def test_param_count_equals_built_model_for_random_specs():
    rng = random.Random(0)
    seen_blocks = set()
    for _ in range(300):
        spec = WRNSpec(**random_spec_kwargs(rng))
        seen_blocks.add(spec.kernels)
        model = WideResNet(spec)
        assert model_cost(spec).params == sum(p.numel() for p in model.parameters()), spec.name
    assert seen_blocks == set(BLOCK_TYPES)


def _hooked_macs(model: nn.Module, x: torch.Tensor) -> int:
    total = 0

    def conv_hook(m, inp, out):
        nonlocal total
        total += out[0].numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m, inp, out):
        nonlocal total
        total += m.in_features * m.out_features

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(linear_hook)
    with torch.no_grad():
        model.eval()(x)
    return total


def _saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct non-parameter tensors autograd saves for one training step."""
    exclude = {t.data_ptr() for t in list(model.parameters()) + list(model.buffers())}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        if t.data_ptr() not in exclude and t.numel() > 0:
            seen[t.data_ptr()] = max(seen.get(t.data_ptr(), 0), t.numel() * t.element_size())
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x).sum().backward()
    return sum(seen.values())


@pytest.mark.parametrize("seed", range(40))
def test_macs_and_activation_memory_equal_the_model(seed):
    rng = random.Random(seed)
    kwargs = random_spec_kwargs(rng, max_n=2)
    spec = WRNSpec(**kwargs)
    resolution = rng.choice([8, 11, 16, 32])
    batch = rng.choice([1, 2, 3])
    model = WideResNet(spec)
    x = torch.randn(batch, spec.in_channels, resolution, resolution)
    cost = model_cost(spec, resolution, batch, dropout_mask_bytes=4)  # the CPU saves fp32 masks
    assert cost.macs == _hooked_macs(model, x[:1]), spec.name
    assert cost.activation_bytes == _saved_activation_bytes(model, x), (spec.name, resolution, batch)


def test_non_square_and_odd_resolutions():
    spec = parse_name("WRN-16-1-B(3,1)")
    x = torch.randn(1, 3, 13, 21)
    assert model_cost(spec, (13, 21)).macs == _hooked_macs(WideResNet(spec), x)


def test_layer_table_sums_to_model_cost():
    spec = parse_name("WRN-22-2-B(3,1,3)-d0.3", num_classes=100)
    rows = layer_table(spec, 32)
    cost = model_cost(spec, 32)
    assert sum(r.params for r in rows) == cost.params
    assert sum(r.macs for r in rows) == cost.macs
    assert [r.out_shape for r in rows if r.layer == "block1"] == [(32, 32, 32), (64, 16, 16), (128, 8, 8)]
    assert rows[-1].out_shape == (100,)
    assert len(rows) == 2 + 3 * spec.blocks_per_group


def test_cost_module_imports_no_torch():
    code = ("import sys, wrnsearch.cost, wrnsearch.spec; "
            "print(any(m == 'torch' or m.startswith('torch.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
