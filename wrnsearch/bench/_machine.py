"""What a benchmark runs on, and the random specs it costs: the record every figure carries."""

from __future__ import annotations

import os
import platform
import random

from wrnsearch.machine import cpu_model, usable_cores
from wrnsearch.spec import WRNSpec

__all__ = ["PAPER_BLOCKS", "cpu_model", "machine_description", "random_specs", "usable_cores"]

# The six block types of the paper's Table 2.
PAPER_BLOCKS = [(1, 3, 1), (3, 1), (1, 3), (3, 1, 1), (3, 3), (3, 1, 3)]


def random_specs(n: int, seed: int = 0) -> list[WRNSpec]:
    """``n`` random specs from the paper's CIFAR space: N 1..6, k 1..12, Table 2 blocks, dropout."""
    rng = random.Random(seed)
    return [
        WRNSpec(
            blocks_per_group=rng.randint(1, 6),
            widen_factor=rng.randint(1, 12),
            kernels=rng.choice(PAPER_BLOCKS),
            dropout=rng.choice([0.0, 0.3]),
        )
        for _ in range(n)
    ]


def machine_description() -> str:
    """CPU model and core count, for the benchmark record."""
    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"
