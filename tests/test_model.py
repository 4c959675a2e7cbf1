"""WideResNet(spec) is the paper's network: shapes, shortcuts, dropout placement, init."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from wrnsearch.measure import measure_training_step
from wrnsearch.model import WideBlock, WideResNet, build_model
from wrnsearch.spec import WRNSpec, parse_name


@pytest.mark.parametrize("resolution", [8, 9, 17, 32, 64])
@pytest.mark.parametrize("in_channels", [1, 3, 5])
def test_any_resolution_and_channels(resolution, in_channels):
    spec = parse_name("WRN-10-1", num_classes=7, in_channels=in_channels)
    out = WideResNet(spec)(torch.randn(2, in_channels, resolution, resolution))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


def test_group_widths_strides_and_shortcuts():
    spec = parse_name("WRN-16-2")  # N = 2
    model = WideResNet(spec)
    blocks = [b for g in model.groups for b in g]
    assert [b.convs[0].out_channels for b in blocks] == [32, 32, 64, 64, 128, 128]
    assert [b.convs[0].stride[0] for b in blocks] == [1, 1, 2, 1, 2, 1]
    # projections exactly where shapes change: 16->32 (k=2), 32->64 /2, 64->128 /2
    assert [b.shortcut is not None for b in blocks] == [True, False, True, False, True, False]
    assert model.stem.kernel_size == (3, 3) and model.stem.out_channels == 16 and model.stem.bias is None
    assert all(c.bias is None for b in blocks for c in b.convs)
    assert model.fc.bias is not None


def test_k1_first_block_has_identity_shortcut():
    model = WideResNet(parse_name("WRN-10-1"))
    assert model.groups[0][0].shortcut is None


def _zero_convs(block: WideBlock) -> None:
    with torch.no_grad():
        for conv in block.convs:
            conv.weight.zero_()


def test_identity_shortcut_adds_block_input():
    block = WideBlock(8, 8, (3, 3), 1, 0.0).eval()
    _zero_convs(block)
    x = torch.randn(2, 8, 6, 6)
    assert torch.equal(block(x), x)


def test_projection_shortcut_is_applied_after_first_bn_relu():
    block = WideBlock(4, 8, (3, 1, 3), 2, 0.0).eval()
    _zero_convs(block)
    with torch.no_grad():
        block.bns[0].bias.fill_(0.5)
    x = torch.randn(2, 4, 6, 6)
    expected = block.shortcut(F.relu(block.bns[0](x)))
    assert torch.allclose(block(x), expected)
    assert not torch.allclose(block(x), block.shortcut(x))
    assert block(x).shape == (2, 8, 3, 3)


class _CountDropout(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is F.dropout:
            self.calls.append(args[0].shape)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name, per_block", [("WRN-16-1-d0.3", 1), ("WRN-22-1-B(3,1,3)-d0.3", 2),
                                             ("WRN-13-1-B(3)-d0.3", 0), ("WRN-16-1", 0)])
def test_dropout_before_every_conv_but_the_first(name, per_block):
    spec = parse_name(name)
    model = WideResNet(spec).train()
    with _CountDropout() as mode:
        model(torch.randn(1, 3, 16, 16))
    assert len(mode.calls) == 3 * spec.blocks_per_group * per_block


def test_dropout_is_off_in_eval():
    model = WideResNet(parse_name("WRN-16-2-d0.5")).eval()
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(model(x), model(x))


def test_init():
    torch.manual_seed(0)
    model = WideResNet(parse_name("WRN-16-8"))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
        elif isinstance(m, nn.Conv2d) and m.weight.numel() > 10_000:
            fan_in = m.weight[0].numel()
            assert m.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)
    assert torch.all(model.fc.bias == 0)
    assert model.fc.weight.std().item() == pytest.approx(math.sqrt(2 / 512), rel=0.1)


def test_build_model_and_spec_attached():
    spec = WRNSpec(blocks_per_group=1, widen_factor=1, kernels=(1, 3, 1))
    model = build_model(spec)
    assert model.spec == spec


def test_measure_training_step_reports_median_of_timed_steps():
    model = WideResNet(parse_name("WRN-10-1"))
    before = model.fc.weight.detach().clone()
    timing = measure_training_step(model, batch=4, resolution=16, steps=20, warmup=2)
    assert timing.steps == 20 and timing.batch == 4
    assert 0 < timing.latency_ms <= timing.latency_p90_ms
    assert timing.images_per_s == pytest.approx(4 / (timing.latency_ms / 1e3))
    assert timing.device.startswith("cpu")
    assert not torch.equal(before, model.fc.weight)  # real optimizer updates ran
