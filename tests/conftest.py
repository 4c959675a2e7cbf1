"""Shared fixtures: small random specs and paths to the real CIFAR-10 copy when present."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CIFAR_ARCHIVE = Path(os.environ.get("WRNSEARCH_CIFAR_ARCHIVE", REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"))

BLOCK_TYPES = [(3, 3), (3, 1, 3), (1, 3, 1), (1, 3), (3, 1), (3, 1, 1), (3,), (3, 3, 3), (5,), (1, 5, 1)]


def random_spec_kwargs(rng: random.Random, *, max_n: int = 3) -> dict:
    """Random but valid WRNSpec arguments covering every block type, fractional k, classes, channels."""
    kernels = rng.choice(BLOCK_TYPES)
    return dict(
        blocks_per_group=rng.randint(1, max_n),
        widen_factor=rng.choice([0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3]),
        kernels=kernels,
        dropout=rng.choice([0.0, 0.0, 0.3]),
        in_channels=rng.randint(1, 4),
        num_classes=rng.randint(1, 100),
    )


@pytest.fixture
def rng() -> random.Random:
    return random.Random(1234)


def pytest_configure(config):
    """Under pytest-xdist each of the two workers computes on one thread (torch, OpenMP), so that
    the two do not fight over the cores with twice as many threads; nothing here is timed."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        os.environ.setdefault("MKL_NUM_THREADS", "1")


def pytest_addoption(parser):
    parser.addoption("--reliability-report", metavar="PATH", default=None,
                     help="Write the reliability suite's figures (faults injected and survived, bad inputs) to PATH.")


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray for every test that runs a search in this process and is not about Ray's own
    lifecycle: a search finds it initialized, uses it and leaves it running (as in a notebook).
    Starting a Ray costs seconds on two cores; its workers are reused across those tests."""
    import ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=True,
                 logging_level="WARNING")
    yield
    ray.shutdown()
