"""The reliability suite: real faults on real parts, and a ledger of what was injected and survived.

Run it alone and write RELIABILITY.md with:

    python -m pytest tests/reliability --reliability-report RELIABILITY.md
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "reliability" in str(item.fspath):
            item.add_marker(pytest.mark.reliability)


@dataclass
class Ledger:
    faults: list[dict] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)

    def fault(self, kind: str, detail: str, *, survived: bool, finished_before: int = 0, lost: int = 0) -> None:
        self.faults.append({"kind": kind, "detail": detail, "survived": survived, "finished_before": finished_before,
                            "lost": lost})

    def bad_input(self, kind: str, name: str, *, clean: bool) -> None:
        self.inputs.append({"kind": kind, "name": name, "clean": clean})


LEDGER = Ledger()

# What this suite cannot inject on one machine, said in RELIABILITY.md
UNKNOWNS = [
    "NFS mounted without lockd (NFSv3 `nolock`): the driver locks (the run directory's flock, a study "
    "file's driver lock) stay on each host, so drivers on two hosts could both write one journal study; "
    "the journal's own append lock (O_EXCL lock file) still keeps its records whole. Untested: no NFS "
    "server here.",
    "A network partition between the driver and PostgreSQL: the server ends the driver's session when its "
    "TCP keepalive gives up, freeing the study's advisory lock while the cut-off driver may still run; its "
    "next write fails and it stops with the finished trials kept, but a second driver could start in the "
    "gap. Untested: no way to partition loopback here.",
    "A node lost while it holds the only copy of a checkpoint (a run directory not on a shared "
    "filesystem): refused before the search starts (`check_storage_for_cluster`), so not injected.",
]


@pytest.fixture
def ledger() -> Ledger:
    return LEDGER


def pytest_sessionfinish(session, exitstatus):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: its ledger goes to the controller
        workeroutput["reliability_ledger"] = json.dumps({"faults": LEDGER.faults, "inputs": LEDGER.inputs})
        return
    path = session.config.getoption("--reliability-report")
    if not path or not (LEDGER.faults or LEDGER.inputs):
        return
    failed = session.testsfailed
    faults_by_kind: dict[str, list[dict]] = {}
    for f in LEDGER.faults:
        faults_by_kind.setdefault(f["kind"], []).append(f)
    inputs_by_kind: dict[str, list[dict]] = {}
    for i in LEDGER.inputs:
        inputs_by_kind.setdefault(i["kind"], []).append(i)
    lines = [
        "# Reliability",
        "",
        "Produced by one command, which runs the fault-injection suite (real faults on real Ray instances,",
        "one node and two, real SQLite, journal and PostgreSQL studies, real processes) and writes this file:",
        "",
        "```",
        f"python -m pytest tests/reliability --reliability-report {Path(path).name}",
        "```",
        "",
        f"Run {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} on {platform.node()} ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}); pytest exit status {int(exitstatus)}, {failed} test(s) failed.",
        "",
        "## Totals",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| faults injected | {len(LEDGER.faults)} |",
        f"| faults survived | {sum(f['survived'] for f in LEDGER.faults)} |",
        f"| finished trials before the faults | {sum(f['finished_before'] for f in LEDGER.faults)} |",
        f"| finished trials lost | {sum(f['lost'] for f in LEDGER.faults)} |",
        f"| bad inputs tried | {len(LEDGER.inputs)} |",
        "| bad inputs answered cleanly (exit 2, one line naming the file/line/key, no traceback, nothing left behind) "
        f"| {sum(i['clean'] for i in LEDGER.inputs)} |",
        "",
        "## Faults",
        "",
        "| fault | injected | survived | finished before | lost |",
        "| --- | --- | --- | --- | --- |",
    ]
    for kind, items in faults_by_kind.items():
        lines.append(f"| {kind} | {len(items)} | {sum(f['survived'] for f in items)} | "
                     f"{sum(f['finished_before'] for f in items)} | {sum(f['lost'] for f in items)} |")
    lines += ["", "## Bad inputs", "", "| kind | tried | answered cleanly |", "| --- | --- | --- |"]
    for kind, items in inputs_by_kind.items():
        lines.append(f"| {kind} | {len(items)} | {sum(i['clean'] for i in items)} |")
    lines += ["", "## Each fault", ""]
    lines += [f"- {f['kind']}: {f['detail']} — {'survived' if f['survived'] else 'NOT survived'}, lost {f['lost']}"
              for f in LEDGER.faults]
    lines += ["", "## Not covered here", ""] + [f"- {u}" for u in UNKNOWNS]
    Path(path).write_text("\n".join(lines) + "\n")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """pytest-xdist's controller: add a finished worker's ledger to the report's."""
    ledger = json.loads(getattr(node, "workeroutput", {}).get("reliability_ledger", "{}"))
    LEDGER.faults += ledger.get("faults", [])
    LEDGER.inputs += ledger.get("inputs", [])


@pytest.fixture
def cluster_fs(tmp_path, monkeypatch) -> Path:
    """A directory every node of a loopback Ray cluster sees, declared shared as an NFS mount would
    be, and the environment of a client of such a cluster (skips without the ray executable)."""
    from tests.raynodes import RAY

    if not RAY.exists():
        pytest.skip(f"no ray executable beside {sys.executable}")
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv("WRNSEARCH_SHARED_FS", str(shared))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    return shared
