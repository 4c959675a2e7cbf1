"""``wrnsearch bench readers``: how much readers polling a running search every second slow it.

The same small search (synthetic data, real training, one trial at a time, a fixed random
sampler: the same architectures every round) runs alone and with readers, alternating, on each
storage asked for. The readers are real processes polling as a user watching would, once a
second: optuna-dashboard's API (the study list and the study's trials) on a dashboard server of
the run, and ``wrnsearch pareto RUN_DIR``. The figure is the ratio of the search's wall time
with readers to without, per storage (median of the rounds), with the readers' errors and the
lock errors in the writer's run log counted.

On a machine of few cores the readers also take CPU from the trainer (a ``wrnsearch pareto``
process starts Python each second); one trial at a time leaves a core to the driver and them.
"""

from __future__ import annotations

import json
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from wrnsearch.bench._machine import machine_description

SPACE = """\
name: readers
dataset: {{name: synthetic, num_classes: 4, resolution: 16, train_size: {train_size}, test_size: 64, val_size: 64}}
space:
  depth: [10, 16]
  widen_factor: [1, 2]
  block: ["B(3,3)", "B(3,1)"]
budget: {{max_trials: {trials}}}
train: {{epochs: {epochs}, batch_size: 64, lr: 0.05}}
search: {{sampler: random, seed: 0, max_concurrent: 1}}
resources: {{cpus_per_trial: 1, gpus_per_trial: 0}}
"""


def _exe() -> str:
    return str(Path(sys.executable).parent / "wrnsearch")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Readers:
    """A dashboard server of the run and a thread polling it and ``wrnsearch pareto`` every second."""

    def __init__(self, run_dir: Path, name: str, pareto: bool = True) -> None:
        self.run_dir, self.name, self.pareto = run_dir, name, pareto
        self.port = _free_port()
        self.polls = 0
        self.up = False  # the dashboard answered once: from then on, a poll it does not answer is an error
        self.cpu_s = 0.0  # CPU seconds of the pareto processes (the dashboard server's are not counted)
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.dashboard: subprocess.Popen | None = None
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> _Readers:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        if self.dashboard is not None:
            self.dashboard.terminate()
            self.dashboard.wait(timeout=30)

    def _poll(self) -> None:
        while not self.stop.is_set() and not (self.run_dir / "space.yaml").exists():
            time.sleep(0.2)
        self.dashboard = subprocess.Popen([_exe(), "dashboard", str(self.run_dir), "--port", str(self.port)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while not self.stop.is_set():
            started = time.monotonic()
            self._once()
            self.stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))

    def _once(self) -> None:
        base = f"http://127.0.0.1:{self.port}"
        try:
            with urllib.request.urlopen(f"{base}/api/studies", timeout=10) as r:
                studies = json.loads(r.read())["study_summaries"]
            for s in studies:
                with urllib.request.urlopen(f"{base}/api/studies/{s['study_id']}", timeout=10) as r:
                    json.loads(r.read())
            self.up = True
        except OSError as e:
            if self.up:  # not while the server starts
                self.errors.append(f"dashboard API: {e}")
        if not self.pareto:
            self.polls += 1
            return
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        pareto = subprocess.run([_exe(), "pareto", str(self.run_dir), "--format", "json"], capture_output=True,
                                text=True, timeout=120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu_s += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if pareto.returncode != 0 and "no study" not in pareto.stderr:
            self.errors.append(f"pareto: {pareto.stderr.strip()[-200:]}")
        self.polls += 1


def _round(storage: str, readers: bool, space: Path, workdir: Path, i: int, pareto: bool) -> dict[str, Any]:
    """One search, with or without readers: its wall seconds, the readers' polls and errors, and the
    lines of its run log that speak of a lock."""
    from wrnsearch.search import RunOptions, run_search

    name = f"r{i}{'r' if readers else 'a'}"
    runs = workdir / "runs"
    url = None
    if storage == "journal":
        url = f"journal:///{workdir / f'{name}.journal'}"
    elif storage != "sqlite":
        url = storage
    options = RunOptions(runs_dir=runs, name=name, storage=url, measure_alone=False)
    run_dir = runs / name
    start = time.perf_counter()
    if readers:
        with _Readers(run_dir, name, pareto) as r:
            run_search(space, options)
        polls, errors, cpu = r.polls, r.errors, r.cpu_s
    else:
        run_search(space, options)
        polls, errors, cpu = 0, [], 0.0
    wall = time.perf_counter() - start
    log = (run_dir / "run.log").read_text() if (run_dir / "run.log").exists() else ""
    locked = [line for line in log.splitlines() if "locked" in line.lower()]
    return {"readers": readers, "wall_s": round(wall, 2), "polls": polls, "reader_cpu_s": round(cpu, 1),
            "errors": errors, "locked": locked}


def bench_readers(storages: list[str], *, rounds: int = 2, trials: int = 4, epochs: int = 3,
                  train_size: int = 512, pareto: bool = True) -> dict[str, Any]:
    """For each storage (``sqlite``, ``journal`` or a ``postgresql://`` URL), ``rounds`` pairs of the
    search alone and with readers, alternating; see the module docstring. ``pareto``: the readers
    include ``wrnsearch pareto`` (else the dashboard alone)."""
    workdir = Path(tempfile.mkdtemp(prefix="wrnbench-readers-"))
    space = workdir / "readers.yaml"
    space.write_text(SPACE.format(trials=trials, epochs=epochs, train_size=train_size))
    out = []
    for storage in storages:
        rows = []
        for i in range(rounds):
            for readers in ((False, True) if i % 2 == 0 else (True, False)):
                rows.append(_round(storage, readers, space, workdir / storage.split(":")[0], i, pareto))
        alone = [r["wall_s"] for r in rows if not r["readers"]]
        read = [r["wall_s"] for r in rows if r["readers"]]
        out.append({"storage": storage.split("@")[-1] if "://" in storage else storage, "rounds": rows,
                    "alone_s": alone, "with_readers_s": read,
                    "ratio": round(statistics.median(read) / statistics.median(alone), 3),
                    "polls": sum(r["polls"] for r in rows),
                    "reader_cpu_s": round(sum(r["reader_cpu_s"] for r in rows), 1),
                    "reader_errors": sum(len(r["errors"]) for r in rows),
                    "lock_lines": sum(len(r["locked"]) for r in rows)})
    return {"machine": machine_description(), "trials": trials, "epochs": epochs, "train_size": train_size,
            "rounds": rounds, "readers": "dashboard + pareto" if pareto else "dashboard", "storages": out}
