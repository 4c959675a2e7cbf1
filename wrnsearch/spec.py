"""WRNSpec: one Wide ResNet architecture, validated, with its canonical name.

Pure arithmetic: no torch import, so the space, cost and pareto modules can use it freely.

The paper's depth convention: a WRN with ``N`` blocks per group of ``l`` convolutions each has
``n = 3·N·l + 4`` layers (the stem conv, the classifier and the two projection shortcuts of the
strided groups are the "+4"). WRN-28-10 with B(3,3) therefore has N = 4.

Example:
    >>> s = WRNSpec(depth=28, widen_factor=10)
    >>> s.blocks_per_group, s.widths, s.name
    (4, (160, 320, 640), 'WRN-28-10')
    >>> parse_name("WRN-22-2-B(3,1,3)-d0.3").kernels
    (3, 1, 3)
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from wrnsearch.errors import SpecError

BASIC_BLOCK = (3, 3)
STEM_WIDTH = 16
GROUP_BASE_WIDTHS = (16, 32, 64)
GROUP_STRIDES = (1, 2, 2)

_NAME_RE = re.compile(
    r"^WRN-(?P<depth>\d+)-(?P<k>\d+(?:\.\d+)?)"
    r"(?:-B\((?P<kernels>\d+(?:\s*,\s*\d+)*)\))?"
    r"(?:-d(?P<dropout>\d*\.?\d+(?:[eE]-?\d+)?))?$"
)


def format_number(x: float) -> str:
    """Shortest text that reads back as ``x``: ``10`` for 10.0, ``0.3`` for 0.3."""
    if float(x).is_integer():
        return str(int(x))
    return repr(float(x))


def format_block(kernels: tuple[int, ...]) -> str:
    """``B(3,1,3)`` for ``(3, 1, 3)``."""
    return "B(" + ",".join(str(k) for k in kernels) + ")"


def parse_block(text: str | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """Read a block's kernel list from ``"B(3,1,3)"``, ``"3,1,3"`` or ``[3, 1, 3]``."""
    if isinstance(text, (list, tuple)):
        items: list[Any] = list(text)
    else:
        m = re.fullmatch(r"\s*(?:B\()?\s*([^()]*?)\s*\)?\s*", str(text))
        if not m or not m.group(1):
            raise SpecError(f"block {text!r} is not a kernel list such as 'B(3,1,3)' or [3, 1, 3]")
        items = [p.strip() for p in m.group(1).split(",")]
    kernels: list[int] = []
    for item in items:
        if isinstance(item, bool):
            raise SpecError(f"block {text!r}: kernel size {item!r} is not an integer")
        try:
            value = int(item)
        except (TypeError, ValueError):
            raise SpecError(f"block {text!r}: kernel size {item!r} is not an integer") from None
        if isinstance(item, float) and item != value:
            raise SpecError(f"block {text!r}: kernel size {item!r} is not an integer")
        kernels.append(value)
    return tuple(kernels)


# --------------------------------------------------------------------------------------------
# The paper's rules, stated once: the space validates its dimensions with these too.


def depth_of(blocks_per_group: int, convs_per_block: int) -> int:
    """The paper's depth n = 3·N·l + 4 of N blocks per group of l convolutions each."""
    return 3 * blocks_per_group * convs_per_block + 4


def depth_fits(depth: int, convs_per_block: int) -> bool:
    """Can blocks of ``convs_per_block`` convs realize ``depth`` (some N >= 1 with n = 3·N·l + 4)?"""
    l = convs_per_block
    return depth >= depth_of(1, l) and (depth - 4) % (3 * l) == 0


def check_kernels(kernels: tuple[int, ...]) -> None:
    """A block needs at least one convolution, each with a positive odd kernel size.

    Raises:
        SpecError: naming the block and the bad size.
    """
    if not kernels:
        raise SpecError("kernels: a block needs at least one convolution")
    for kernel in kernels:
        if not is_odd_kernel(kernel):
            raise SpecError(f"block {format_block(kernels)}: kernel size {kernel!r}: "
                            "kernel sizes must be positive odd integers")


def is_odd_kernel(kernel: object) -> bool:
    """Padding k // 2 keeps the spatial size only for an odd kernel size k >= 1."""
    return isinstance(kernel, int) and not isinstance(kernel, bool) and kernel >= 1 and kernel % 2 == 1


def width_problem(widen_factor: float) -> str | None:
    """Why 16k, 32k and 64k are not all positive whole channel counts, or None when they are.

    The widths are multiples of 16k, so 16k decides: it must be a whole number of channels.
    """
    k = format_number(widen_factor)
    width = GROUP_BASE_WIDTHS[0] * widen_factor
    if abs(width - round(width)) > 1e-9:
        return f"widen_factor {k}: group width {GROUP_BASE_WIDTHS[0]}*{k} is not a whole number of channels ({width:g})"
    if round(width) < 1:
        return f"widen_factor {k}: group width {GROUP_BASE_WIDTHS[0]}*{k} is below one channel ({width:g})"
    return None


@dataclass(frozen=True)
class WRNSpec:
    """A Wide ResNet: depth (or blocks per group), widening factor, block kernels, dropout.

    Give either ``depth`` (the paper's n) or ``blocks_per_group`` (N); the other is derived.
    ``widen_factor`` may be fractional as long as every group width (16k, 32k, 64k) is a
    positive integer.

    Raises:
        SpecError: naming the bad value, when the combination is not a valid WRN.
    """

    depth: int | None = None
    widen_factor: float = 1
    kernels: tuple[int, ...] = BASIC_BLOCK
    dropout: float = 0.0
    in_channels: int = 3
    num_classes: int = 10
    blocks_per_group: int | None = field(default=None)

    def __post_init__(self) -> None:
        kernels = parse_block(self.kernels) if not isinstance(self.kernels, tuple) else self.kernels
        check_kernels(kernels)
        object.__setattr__(self, "kernels", kernels)
        l = len(kernels)

        if self.depth is None and self.blocks_per_group is None:
            raise SpecError("give depth or blocks_per_group")
        if self.blocks_per_group is not None:
            n = self.blocks_per_group
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise SpecError(f"blocks_per_group {n!r} must be an integer >= 1")
            depth = depth_of(n, l)
            if self.depth is not None and self.depth != depth:
                raise SpecError(
                    f"depth {self.depth!r} does not match blocks_per_group {n} with "
                    f"{format_block(kernels)}: that is depth {depth}"
                )
            object.__setattr__(self, "depth", depth)
        else:
            depth = self.depth
            if isinstance(depth, bool) or not isinstance(depth, int):
                raise SpecError(f"depth {depth!r} must be an integer")
            if not depth_fits(depth, l):
                raise SpecError(
                    f"depth {depth} is impossible with {format_block(kernels)} (l={l}): "
                    f"depth - 4 must be a positive multiple of 3*l = {3 * l}, "
                    f"e.g. {depth_of(1, l)}, {depth_of(2, l)}, {depth_of(3, l)}"
                )
            object.__setattr__(self, "blocks_per_group", (depth - 4) // (3 * l))

        k = self.widen_factor
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k <= 0:
            raise SpecError(f"widen_factor {k!r} must be a number > 0")
        problem = width_problem(k)
        if problem:
            raise SpecError(problem)
        object.__setattr__(self, "widen_factor", int(k) if float(k).is_integer() else float(k))

        d = self.dropout
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not (0 <= d < 1):
            raise SpecError(f"dropout {d!r} must be in [0, 1)")
        object.__setattr__(self, "dropout", float(d))
        for key in ("in_channels", "num_classes"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpecError(f"{key} {value!r} must be an integer >= 1")

    @property
    def convs_per_block(self) -> int:
        """l, the number of convolutions in a block."""
        return len(self.kernels)

    @property
    def widths(self) -> tuple[int, int, int]:
        """Output widths of the three groups: 16k, 32k, 64k."""
        return tuple(int(round(b * self.widen_factor)) for b in GROUP_BASE_WIDTHS)  # type: ignore[return-value]

    @property
    def block(self) -> str:
        """The block type as the paper writes it, e.g. ``B(3,3)``."""
        return format_block(self.kernels)

    @property
    def name(self) -> str:
        """Canonical name: ``WRN-28-10``, ``WRN-22-2-B(3,1,3)``, ``WRN-16-8-d0.3``."""
        text = f"WRN-{self.depth}-{format_number(self.widen_factor)}"
        if self.kernels != BASIC_BLOCK:
            text += "-" + self.block
        if self.dropout > 0:
            text += f"-d{format_number(self.dropout)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields (kernels as a list)."""
        d = asdict(self)
        d["kernels"] = list(self.kernels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WRNSpec:
        d = dict(d)
        if "kernels" in d:
            d["kernels"] = parse_block(d["kernels"])
        return cls(**d)

    def __str__(self) -> str:
        return self.name


def parse_name(name: str, *, num_classes: int = 10, in_channels: int = 3) -> WRNSpec:
    """Parse a canonical name such as ``WRN-28-10``, ``WRN-22-2-B(3,1,3)`` or ``WRN-16-8-d0.3``.

    Raises:
        SpecError: when the text is not a WRN name or names an impossible architecture.
    """
    m = _NAME_RE.match(name.strip())
    if not m:
        raise SpecError(
            f"{name!r} is not a WRN name: expected WRN-<depth>-<k>[-B(<kernels>)][-d<dropout>], "
            "e.g. WRN-28-10, WRN-22-2-B(3,1,3), WRN-16-8-d0.3"
        )
    k = float(m.group("k"))
    kernels = parse_block(m.group("kernels")) if m.group("kernels") else BASIC_BLOCK
    return WRNSpec(
        depth=int(m.group("depth")),
        widen_factor=int(k) if k.is_integer() else k,
        kernels=kernels,
        dropout=float(m.group("dropout")) if m.group("dropout") else 0.0,
        num_classes=num_classes,
        in_channels=in_channels,
    )
