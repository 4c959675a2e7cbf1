"""WideResNet(spec): the paper's network, built from a :class:`~wrnsearch.spec.WRNSpec`.

Follows the reference implementation (szagoruyko/wide-residual-networks): a 3x3 stem conv to 16
channels; three groups of N pre-activation blocks of widths 16k, 32k, 64k and strides 1, 2, 2;
BN-ReLU, global average pooling and a linear classifier. In a block every conv is preceded by BN
and ReLU; the first conv carries the stride; a strided 1x1 projection, applied to the output of the
first BN-ReLU, replaces the identity shortcut when shapes change; dropout sits after the ReLU that
precedes every conv but the first.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from wrnsearch.spec import GROUP_STRIDES, STEM_WIDTH, WRNSpec


class WideBlock(nn.Module):
    """Pre-activation block B(M): BN-ReLU-conv for each kernel size in ``kernels``."""

    def __init__(self, in_channels: int, width: int, kernels: tuple[int, ...], stride: int, dropout: float) -> None:
        super().__init__()
        self.dropout = dropout
        self.bns = nn.ModuleList()
        self.convs = nn.ModuleList()
        channels = in_channels
        for i, kernel in enumerate(kernels):
            self.bns.append(nn.BatchNorm2d(channels))
            self.convs.append(
                nn.Conv2d(channels, width, kernel, stride=stride if i == 0 else 1, padding=kernel // 2, bias=False)
            )
            channels = width
        self.shortcut: nn.Conv2d | None = None
        if in_channels != width or stride != 1:
            self.shortcut = nn.Conv2d(in_channels, width, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bns[0](x))
        residual = x if self.shortcut is None else self.shortcut(o)
        y = self.convs[0](o)
        for bn, conv in zip(self.bns[1:], self.convs[1:]):
            y = F.relu(bn(y))
            if self.dropout > 0:
                y = F.dropout(y, p=self.dropout, training=self.training)
            y = conv(y)
        return y + residual


class WideResNet(nn.Module):
    """The WRN family of Zagoruyko & Komodakis (2016) for any spec, resolution >= 8 px.

    Example:
        >>> from wrnsearch.spec import parse_name
        >>> m = WideResNet(parse_name("WRN-16-2"))
        >>> m(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, spec: WRNSpec) -> None:
        super().__init__()
        self.spec = spec
        self.stem = nn.Conv2d(spec.in_channels, STEM_WIDTH, 3, padding=1, bias=False)
        groups = []
        channels = STEM_WIDTH
        for width, stride in zip(spec.widths, GROUP_STRIDES):
            blocks = []
            for b in range(spec.blocks_per_group):
                blocks.append(WideBlock(channels, width, spec.kernels, stride if b == 0 else 1, spec.dropout))
                channels = width
            groups.append(nn.Sequential(*blocks))
        self.groups = nn.Sequential(*groups)
        self.bn = nn.BatchNorm2d(channels)
        self.fc = nn.Linear(channels, spec.num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The paper's init: Kaiming normal (fan-in) for convs and the classifier, BN to identity."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.groups(self.stem(x))
        x = F.relu(self.bn(x))
        return self.fc(x.mean(dim=(2, 3)))  # global average pooling: any resolution


def build_model(spec: WRNSpec, *, device: str | torch.device = "cpu") -> WideResNet:
    """The one way to get a model from a spec."""
    return WideResNet(spec).to(device)
