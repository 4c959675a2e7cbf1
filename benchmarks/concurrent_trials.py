"""What a second concurrent trial costs a test's search on two cores, and what a trial worker's
imports cost before it trains anything (the suite's base space: tests/spaces.py).

    python benchmarks/concurrent_trials.py [ROUNDS]

In one process on one local Ray (as a pytest-xdist worker runs its searches): first a bare Ray
actor per round that imports torch, torch._dynamo (torch.optim's first optimizer does) and Ray
Tune, timed by its own process CPU; then the base space's 6-trial search ROUNDS times each at
two trials at a time and at one, alternating, with the whole machine's busy CPU (/proc/stat).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as each xdist worker computes (tests/conftest.py)
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def busy_s() -> float:
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return (sum(fields) - fields[3]) / os.sysconf("SC_CLK_TCK")  # all but idle


def main(rounds: int) -> None:
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")

    @ray.remote(num_cpus=1)
    class Imports:
        def cpu_s(self) -> dict[str, float]:
            out = {"start": time.process_time()}
            import torch  # noqa: F401

            out["torch"] = time.process_time()
            import torch._dynamo  # noqa: F401

            out["torch._dynamo"] = time.process_time()
            import ray.tune  # noqa: F401

            out["ray.tune"] = time.process_time()
            return out

    for _ in range(rounds):
        actor = Imports.remote()
        print("actor CPU-s at", {k: round(v, 2) for k, v in ray.get(actor.cpu_s.remote()).items()}, flush=True)
        ray.kill(actor)

    from tests.spaces import write_space
    from wrnsearch.search import RunOptions, run_search

    for _ in range(rounds):
        for concurrent in (2, 1):
            runs = tempfile.mkdtemp()
            space = write_space(Path(runs), "c", search={"max_concurrent": concurrent})
            cpu, wall = busy_s(), time.monotonic()
            run_search(space, RunOptions(runs_dir=Path(runs) / "runs", num_cpus=2, measure_alone=False))
            print(f"max_concurrent {concurrent}: wall {time.monotonic() - wall:.1f} s, "
                  f"busy {busy_s() - cpu:.1f} CPU-s", flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
