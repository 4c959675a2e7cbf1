"""What Python's normal exit costs a wrnsearch command, side by side with the quick exit.

    python benchmarks/exit_cost.py N [--fresh DIR] -- COMMAND ARGS...

Runs the command N times each way, alternating: through ``main()`` with Python's normal exit
(the modules torn down), and through the ``wrnsearch`` console script (``wrnsearch.cli.entry``:
threads joined, exit handlers run, then ``os._exit``). Prints the median wall seconds and busy
CPU seconds of the whole machine (/proc/stat, Linux) of each. ``--fresh DIR`` removes DIR before
each run (a search's runs directory, so that every run trains the same trials).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def _busy_s() -> float:
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / 100  # all but idle and iowait, in USER_HZ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     usage="exit_cost.py N [--fresh DIR] -- COMMAND ARGS...")
    parser.add_argument("n", type=int)
    parser.add_argument("--fresh", default=None)
    if "--" not in sys.argv:
        parser.error("give the wrnsearch command after --")
    split = sys.argv.index("--")
    a, args = parser.parse_args(sys.argv[1:split]), sys.argv[split + 1:]
    ways = {"normal exit": [sys.executable, "-c", "from wrnsearch.cli import main; main()", *args],
            "quick exit": [shutil.which("wrnsearch") or "wrnsearch", *args]}
    figures: dict[str, list[tuple[float, float]]] = {k: [] for k in ways}
    for _ in range(a.n):
        for way, cmd in ways.items():
            if a.fresh:
                shutil.rmtree(a.fresh, ignore_errors=True)
            busy, start = _busy_s(), time.monotonic()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            figures[way].append((time.monotonic() - start, _busy_s() - busy))
    for way, rows in figures.items():
        print(f"wrnsearch {' '.join(args)}: {way}: wall {statistics.median(w for w, _ in rows):.2f} s, "
              f"busy {statistics.median(c for _, c in rows):.2f} CPU-s (median of {a.n})")


if __name__ == "__main__":
    main()
