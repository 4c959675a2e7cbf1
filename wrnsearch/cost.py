"""Analytic costs of a WRN: parameters, forward MACs and training activation memory.

Arithmetic on a :class:`~wrnsearch.spec.WRNSpec` only: no torch, no model built. The figures equal
what the built :class:`~wrnsearch.model.WideResNet` has, exactly (the tests check every block type):

- ``params``: every trainable parameter, BN affine included
  (``sum(p.numel() for p in model.parameters())``).
- ``macs``: multiply-accumulates of one forward pass of one image through every convolution and
  the classifier. BN, ReLU, additions and pooling are not counted (they are memory-bound and tiny).
- ``activation_bytes``: what autograd keeps for the backward pass of one training step in fp32,
  i.e. every distinct tensor saved for backward that is not a parameter or buffer: the input, each
  block's input and each pre-activation BN input, each ReLU output, dropout outputs and their
  masks (1 byte per element on CUDA, 4 on
  the CPU), the pooled features, and BN's per-channel saved mean and inverse std. Transient
  tensors (BN outputs, shortcut outputs, gradients), weights, optimizer state and the allocator's
  slack are not counted: peak training memory is this plus about 4x the parameter bytes (weights,
  gradients, momentum) plus workspace. bf16 autocast roughly halves the float part.

Example:
    >>> from wrnsearch.spec import parse_name
    >>> model_cost(parse_name("WRN-28-10")).params
    36479194
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from wrnsearch.spec import GROUP_STRIDES, STEM_WIDTH, WRNSpec

FLOAT_BYTES = 4  # fp32 activations
CUDA_MASK_BYTES = 1  # CUDA's fused dropout saves a bool mask; the CPU path saves an fp32 one (4)


class Cost(NamedTuple):
    """Costs of one architecture at one input resolution and batch size."""

    params: int
    macs: int  # per image, forward pass
    activation_bytes: int  # per training step at ``batch`` images


@dataclass(frozen=True)
class LayerRow:
    """One line of the architecture table: the stem, a block, or the head."""

    group: str
    layer: str
    in_channels: int
    out_channels: int
    stride: int
    shortcut: str  # "identity" or "1x1 conv" for blocks, "" otherwise
    out_shape: tuple[int, ...]  # (C, H, W) per image, or (classes,) for the head
    params: int
    macs: int
    activation_bytes_per_image: int


def _out_size(size: int, stride: int) -> int:
    # odd kernel k, padding k//2: floor((size + 2p - k) / s) + 1 == (size - 1) // s + 1
    return (size - 1) // stride + 1


class _BlockCost(NamedTuple):
    params: int
    macs: int
    saved_floats: int  # per image
    saved_mask_bytes: int  # per image
    bn_channels: int  # per batch: BN saves mean and inverse std per channel


def _block_cost(
    spec: WRNSpec, c_in: int, width: int, stride: int, h_in: int, w_in: int, mask_bytes: int = CUDA_MASK_BYTES
) -> _BlockCost:
    h_out, w_out = _out_size(h_in, stride), _out_size(w_in, stride)
    area_in, area_out = h_in * w_in, h_out * w_out
    params = macs = 0
    saved = 2 * c_in * area_in  # the block input (saved by BN 0) and ReLU 0's output
    masks = 0
    bn_channels = 0
    channels = c_in
    for i, kernel in enumerate(spec.kernels):
        params += 2 * channels + channels * width * kernel * kernel  # BN affine + conv (no bias)
        macs += area_out * width * channels * kernel * kernel
        bn_channels += channels
        if i > 0:
            saved += 2 * width * area_out  # previous conv's output (BN input) + ReLU output
            if spec.dropout > 0:
                saved += width * area_out  # dropout output, the conv's input
                masks += width * area_out * mask_bytes
        channels = width
    if c_in != width or stride != 1:  # projection shortcut, 1x1, strided, on ReLU 0's output
        params += c_in * width
        macs += area_out * width * c_in
    return _BlockCost(params, macs, saved, masks, bn_channels)


def model_cost(
    spec: WRNSpec,
    resolution: int | tuple[int, int] = 32,
    batch: int = 1,
    *,
    dropout_mask_bytes: int = CUDA_MASK_BYTES,
) -> Cost:
    """Parameters, forward MACs per image and training activation bytes at ``batch`` images.

    ``dropout_mask_bytes`` is 1 for CUDA (the default: budgets are about GPU memory), 4 for the CPU.

    Fast: blocks 2..N of a group are identical, so each group costs two block evaluations.
    """
    h, w = (resolution, resolution) if isinstance(resolution, int) else resolution
    params = spec.in_channels * STEM_WIDTH * 9
    macs = h * w * STEM_WIDTH * spec.in_channels * 9
    saved = spec.in_channels * h * w  # the input image, saved by the stem conv
    masks = 0
    bn_channels = 0
    c_in = STEM_WIDTH
    n = spec.blocks_per_group
    for width, stride in zip(spec.widths, GROUP_STRIDES):
        first = _block_cost(spec, c_in, width, stride, h, w, dropout_mask_bytes)
        h, w = _out_size(h, stride), _out_size(w, stride)
        rest = _block_cost(spec, width, width, 1, h, w, dropout_mask_bytes)
        params += first.params + (n - 1) * rest.params
        macs += first.macs + (n - 1) * rest.macs
        saved += first.saved_floats + (n - 1) * rest.saved_floats
        masks += first.saved_mask_bytes + (n - 1) * rest.saved_mask_bytes
        bn_channels += first.bn_channels + (n - 1) * rest.bn_channels
        c_in = width
    # head: BN (saves its input, the last block's output), ReLU (saves its output), mean, linear
    params += 2 * c_in + c_in * spec.num_classes + spec.num_classes
    macs += c_in * spec.num_classes
    saved += 2 * c_in * h * w + c_in  # BN input, ReLU output, pooled features (linear's input)
    bn_channels += c_in
    activation = batch * (saved * FLOAT_BYTES + masks) + 2 * bn_channels * FLOAT_BYTES
    return Cost(params, macs, activation)


def layer_table(spec: WRNSpec, resolution: int | tuple[int, int] = 32) -> list[LayerRow]:
    """The architecture block by block, with each row's output shape and costs (per image)."""
    h, w = (resolution, resolution) if isinstance(resolution, int) else resolution
    rows = [
        LayerRow(
            "stem", "conv3x3", spec.in_channels, STEM_WIDTH, 1, "", (STEM_WIDTH, h, w),
            spec.in_channels * STEM_WIDTH * 9, h * w * STEM_WIDTH * spec.in_channels * 9,
            spec.in_channels * h * w * FLOAT_BYTES,
        )
    ]
    c_in = STEM_WIDTH
    for g, (width, stride) in enumerate(zip(spec.widths, GROUP_STRIDES), start=1):
        for b in range(spec.blocks_per_group):
            s = stride if b == 0 else 1
            bc = _block_cost(spec, c_in, width, s, h, w)
            h, w = _out_size(h, s), _out_size(w, s)
            shortcut = "identity" if (c_in == width and s == 1) else "1x1 conv"
            rows.append(
                LayerRow(
                    f"group{g}", f"block{b + 1}", c_in, width, s, shortcut,
                    (width, h, w), bc.params, bc.macs,
                    bc.saved_floats * FLOAT_BYTES + bc.saved_mask_bytes,
                )
            )
            c_in = width
    rows.append(
        LayerRow(
            "head", "pool+fc", c_in, spec.num_classes, 1, "", (spec.num_classes,),
            2 * c_in + c_in * spec.num_classes + spec.num_classes, c_in * spec.num_classes,
            (2 * c_in * h * w + c_in) * FLOAT_BYTES,
        )
    )
    return rows


def format_count(n: float, unit: str = "") -> str:
    """``36.5M``, ``5.25G``, ``940K``: three significant figures, SI prefixes."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.3g}{suffix}{unit}"
    return f"{n:.3g}{unit}"


def format_bytes(n: float) -> str:
    """``1.23 GiB``: binary prefixes."""
    for factor, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= factor:
            v = n / factor
            return f"{v:.3g} {suffix}" if abs(v) < 1000 else f"{v:.0f} {suffix}"  # 1010 MiB, not 1.01e+03
    return f"{int(n)} B"
