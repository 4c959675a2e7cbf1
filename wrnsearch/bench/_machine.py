"""What a benchmark runs on, and the random specs it costs: the record every figure carries."""

from __future__ import annotations

import os
import platform
import random

from wrnsearch.spec import WRNSpec

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


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's word for it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def machine_description() -> str:
    """CPU model and core count, for the benchmark record."""
    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"
