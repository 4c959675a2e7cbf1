"""Shared fixtures: small random specs, the real CIFAR-10 copy when present, the space factory, and
what is expensive to set up, made once per test process (pytest-xdist worker) for every test that
needs it: a local Ray, a PostgreSQL server, a Chromium, an empty MLflow store; and a finished
search (quick_run), made once for both processes."""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.spaces import space_data, write_space

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("WRNSEARCH_CHROMIUM", "/usr/bin/chromium"))  # Debian's chromium package
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
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


@pytest.fixture
def make_space(tmp_path):
    """The space factory (tests/spaces.py) writing into the test's directory:
    ``make_space(name="q", budget={"max_trials": 3})`` is the path of ``q.yaml``."""

    def make(name: str = "s", **sections):
        return write_space(tmp_path, name, **sections)

    return make


@pytest.fixture(scope="session")
def postgres_server_url():
    """A PostgreSQL server of this test process's own (tests/pgserver.py), started once (seconds)."""
    from tests.pgserver import PG_PASSWORD, postgres_server

    with postgres_server(PG_PASSWORD) as url:
        yield url


@pytest.fixture
def postgres(postgres_server_url):
    """A database of the test's own on that server, whose studies no other test sees:
    ``postgresql://wrn:PG_PASSWORD@127.0.0.1:PORT/wrnN``. Readers of a run directory whose study
    lives there take the password from PGPASSWORD."""
    from tests.pgserver import new_database

    return new_database(postgres_server_url)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's, driven by Playwright) for the tests that draw pages; skips
    without either. Each test opens its own pages and closes them."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium to run the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed: pip install playwright")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory):
    """An empty MLflow SQLite store, made once: MLflow builds its schema in many migrations (seconds)."""
    mlflow = pytest.importorskip("mlflow", reason="tracking.mlflow needs pip install 'wrnsearch[mlflow]' (test extra)")
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_uri(mlflow_template, tmp_path):
    """A fresh MLflow SQLite store for one test (a copy of the empty one)."""
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def mlflow(mlflow_uri):
    """MLflow (skips the test where it is not installed), and a fresh store at ``mlflow_uri``."""
    import mlflow

    return mlflow


@dataclass(frozen=True)
class FinishedRun:
    """A run directory a finished search left, and the space file it was run from."""

    space: Path
    run_dir: Path
    name: str

    def copy_to(self, runs_dir: Path) -> Path:
        """A copy of the run directory under ``runs_dir`` (as ``runs_dir/<name>``), for a test that
        resumes, retrains, cleans or breaks a finished run: the same command resumes it there."""
        target = Path(runs_dir) / self.name
        shutil.copytree(self.run_dir, target, ignore=shutil.ignore_patterns(".lock"))
        return target


# The finished search the read-only tests share: WRN-10-1 and WRN-10-2 (the grid's first two at
# seed 5) trained for 2 epochs in fp32, two at once as in the quickstart (exports reproduce its test
# errors exactly), its front timed alone; WRN-16-1 and WRN-16-2 left for a resume
QUICK_SPACE = space_data("quick", dataset={"test_size": 300},
                         space={"depth": [10, 16], "widen_factor": [1, 2], "block": ["B(3,3)"]},
                         budget={"max_trials": 2, "max_params": None}, train={"amp": False, "eval_batch_size": 128},
                         search={"sampler": "grid", "seed": 5, "n_startup_trials": None, "max_concurrent": 2})


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory, request) -> FinishedRun:
    """A finished real search (real Ray, real SQLite, the real trainer), made once per test session
    for every test that reads one: the first test process that needs it runs it on its Ray, under
    a lock that the other process waits on, and both read the same run directory (a search costs
    both cores for seconds). A test that writes to it works on ``quick_run.copy_to(...)``."""
    import fcntl

    from wrnsearch.search import RunOptions, run_search

    # the directory pytest-xdist's workers share: each worker's own base is a folder in it
    root = tmp_path_factory.getbasetemp()
    base = (root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root) / "quick-run"
    base.mkdir(exist_ok=True)
    space, run_dir, made = base / "quick.yaml", base / "runs" / "quick", base / "made"
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not made.exists():  # the search finished (a failed one is run again by the next process)
            request.getfixturevalue("local_ray")
            write_space(base, "quick", base=QUICK_SPACE)
            result = run_search(space, RunOptions(runs_dir=base / "runs", num_cpus=2))
            assert result.stop_reason.startswith("budget.max_trials"), result.stop_reason
            assert result.run_dir == run_dir
            made.touch()
    return FinishedRun(space=space, run_dir=run_dir, name="quick")
