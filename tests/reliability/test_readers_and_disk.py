"""Readers during a search (dashboard, report, pareto), and a read-only or full run directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.pgserver import PG_PASSWORD
from tests.procs import free_port, kill_group, wait_for, wrnsearch_exe
from tests.studies import load, trials_of
from wrnsearch.cli import main
from wrnsearch.study import counts_as_trained


def _storage(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> list[str]:
    """The --storage option of a search on ``kind``: the run directory's SQLite file by default."""
    if kind == "journal":
        (tmp_path / "shared").mkdir()
        return ["--storage", f"journal:///{tmp_path / 'shared' / 'study.journal'}"]
    if kind == "postgresql":
        return ["--storage", request.getfixturevalue("postgres")]
    return []


# After the first two polls of each reader (taken as fast as they answer), one reader every
# READER_GAP_S, report and pareto in turn: each is a process of its own (seconds of imports), and
# back to back they kept a core busy and slowed the search they watch
READER_GAP_S = 3.0


def _study_exists(run_dir: Path, name: str) -> bool:
    """Whether the driver has created the study (it may hold no trial yet)."""
    try:
        load(run_dir, name)
    except Exception:  # noqa: BLE001 - not created yet
        return False
    return True


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_dashboard_report_and_pareto_poll_during_a_search(kind, tmp_path, make_space, ledger, request, monkeypatch):
    """optuna-dashboard reads the study every second, `wrnsearch pareto` and `wrnsearch report` in
    turn every few seconds, while a search writes it, on each storage: no error in a reader, no lock
    error in the writer. The dashboard starts once the study exists (before its first trial), so
    that it sees it grow; the report and pareto readers once a trial is in it."""
    storage = _storage(kind, tmp_path, request)
    monkeypatch.setenv("PGPASSWORD", PG_PASSWORD)  # readers of the run directory find the server's study
    space = make_space("readers", dataset={"train_size": 384}, budget={"max_trials": 3}, train={"epochs": 3})
    runs = tmp_path / "runs"
    run_dir = runs / "readers"
    exe = wrnsearch_exe()
    run = subprocess.Popen([exe, "run", str(space), "--runs-dir", str(runs), *storage, "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    port = free_port()
    dash = None
    polls = {"dashboard": 0, "report": 0, "pareto": 0}
    readers = (("report", ["-o", str(tmp_path / "r.html")]), ("pareto", ["--format", "json"]))
    next_reader = 0.0  # when the next report or pareto poll is due (time.monotonic)
    has_trials = False
    seen_trials = set()  # how many trials the dashboard listed, poll by poll
    names: set[str] = set()
    errors = []
    try:
        wait_for(lambda: _study_exists(run_dir, "readers"), 120, "the study", run)
        dash = subprocess.Popen([exe, "dashboard", str(run_dir), "--port", str(port)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        while run.poll() is None:
            polled = time.monotonic()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    summary = json.loads(r.read())["study_summaries"][0]
                    sid, names = summary["study_id"], names | {summary["study_name"]}
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{sid}", timeout=10) as r:
                    seen_trials.add(len(json.loads(r.read())["trials"]))
                polls["dashboard"] += 1
            except OSError:
                pass  # not listening yet
            has_trials = has_trials or bool(trials_of(run_dir, "readers"))
            if has_trials and polled >= next_reader:
                cmd, args = readers[(polls["report"] + polls["pareto"]) % 2]
                proc = subprocess.run([exe, cmd, str(run_dir), *args], capture_output=True, text=True, timeout=120)
                if proc.returncode != 0 or "Traceback" in proc.stderr:
                    errors.append((cmd, proc.returncode, proc.stderr[-500:]))
                polls[cmd] += 1
                if min(polls["report"], polls["pareto"]) >= 2:
                    next_reader = time.monotonic() + READER_GAP_S
            time.sleep(max(0.0, 1.0 - (time.monotonic() - polled)))  # every second, or as fast as they answer
        out, err = run.communicate(timeout=600)
        still_serving = dash is not None and dash.poll() is None
    finally:
        kill_group(run)
        if dash is not None:
            kill_group(dash)
    dash_err = dash.stderr.read() if dash is not None else ""
    log = (run_dir / "run.log").read_text()
    trained = [t for t in trials_of(run_dir, "readers") if counts_as_trained(t)]
    locked = [line for line in (log + err).splitlines() if "locked" in line.lower()]
    ok = (run.returncode == 0 and not errors and not locked and "Traceback" not in dash_err and len(trained) == 3
          and min(polls.values()) >= 2)
    ledger.fault("concurrent readers during a search", f"{kind}: dashboard {polls['dashboard']}, report "
                 f"{polls['report']}, pareto {polls['pareto']} polls", survived=ok, finished_before=0, lost=0)
    assert run.returncode == 0, err[-2000:]
    assert not errors, errors
    assert not locked, locked  # "database is locked" (SQLite), a journal's lock timeout: none in the writer
    assert "Traceback" not in dash_err and "Traceback" not in err
    # Ray's start-up and Tune's messages go to the run's log, not over the terminal
    assert "Token authentication" not in err and "may be a performance bottleneck" not in err, err
    assert "ray._private.worker: Started a local Ray instance" in log
    assert min(polls.values()) >= 2, polls
    assert len(trained) == 3
    assert names == {"readers"} and len(seen_trials) >= 2, "the dashboard saw the study grow"
    assert still_serving  # the dashboard outlived the search
    events = [json.loads(line) for line in out.strip().splitlines()]  # quiet mode: JSON lines only
    assert [e["event"] for e in events[-2:]] == ["end", "outputs"]
    assert any(line.startswith("report: ") for line in events[-1]["files"])
    assert (run_dir / "report.html").exists() and (run_dir / "pareto.csv").exists()


def _mount_tmpfs(target: Path, size: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
                          capture_output=True).returncode == 0


def _remount_read_only(target: Path, timeout_s: float = 60) -> None:
    """Remount read-only once no process holds a file there for writing (the finished run's trial
    workers, whose working directory was their trial's folder, exit on their own time)."""
    deadline = time.monotonic() + timeout_s
    while True:
        proc = subprocess.run(["mount", "-o", "remount,ro", str(target)], capture_output=True, text=True)
        if proc.returncode == 0:
            return
        assert "busy" in proc.stderr and time.monotonic() < deadline, (proc.stderr, _holders(target))
        time.sleep(0.5)


def _holders(target: Path) -> list[str]:
    """Processes with their working directory or an open file under ``target`` (for the message)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = [os.readlink(f"/proc/{pid}/cwd")]
            links += [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:80]
        except OSError:
            continue
        found += [f"{pid} {cmd}: {link}" for link in links if link.startswith(str(target))]
    return found


def _umount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True)


@pytest.fixture
def small_fs(tmp_path):
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    target = Path("/tmp") / f"wrnfs-{uuid.uuid4().hex[:8]}"
    if not _mount_tmpfs(target, "64m"):
        pytest.skip("cannot mount a tmpfs here (needs root): the read-only and full-disk faults need one")
    try:
        yield target
    finally:
        _umount(target)
        shutil.rmtree(target, ignore_errors=True)


def _finished_run(small_fs: Path, quick_run) -> tuple[list[str], Path]:
    """A finished run on the small file system (a copy of the session's: no process of it is left
    to keep the file system busy), and the command that resumes it."""
    run_dir = quick_run.copy_to(small_fs)
    return [wrnsearch_exe(), "run", str(quick_run.space), "--runs-dir", str(small_fs), "--quiet"], run_dir


def _snapshot(run_dir: Path) -> list[tuple]:
    """Every trial's number, state, values and key, read with a connection closed at once
    (an open one would keep the file system busy and stop it from being remounted read-only)."""
    import sqlite3

    con = sqlite3.connect(f"file:{run_dir / 'study.db'}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "select t.number, t.state,"
            " (select group_concat(v.value, ',') from trial_values v where v.trial_id = t.trial_id),"
            " (select a.value_json from trial_user_attributes a where a.trial_id = t.trial_id and a.key = 'key')"
            " from trials t order by t.number").fetchall()
    finally:
        con.close()
    return [tuple(r) for r in rows]


def test_read_only_run_directory(small_fs, quick_run, ledger):
    cmd, run_dir = _finished_run(small_fs, quick_run)
    before = _snapshot(run_dir)
    _remount_read_only(small_fs)
    proc = subprocess.run([*cmd[:-1], "--set", "budget.max_trials=4"], capture_output=True, text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    after = _snapshot(run_dir)
    ok = proc.returncode == 2 and len(lines) == 1 and "Read-only file system" in lines[0] and after == before
    ledger.fault("read-only run directory", "resume on a read-only mount: one-line error, study intact", survived=ok,
                 finished_before=sum(1 for b in before if b[1] == "COMPLETE"),
                 lost=0 if after == before else len(before))
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "Read-only file system" in lines[0] and "Traceback" not in proc.stderr
    assert after == before


def test_full_disk(small_fs, quick_run, ledger, local_ray):
    cmd, run_dir = _finished_run(small_fs, quick_run)
    before = _snapshot(run_dir)
    filler = small_fs / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=100"], capture_output=True)
    proc = subprocess.run([*cmd[:-1], "--set", "budget.max_trials=4"], capture_output=True, text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    filler.unlink()
    after = _snapshot(run_dir)
    ok = proc.returncode == 2 and len(lines) == 1 and "No space left on device" in lines[0] and after == before
    ledger.fault("full disk", "resume with the run directory's disk full: one-line error, study intact", survived=ok,
                 finished_before=sum(1 for b in before if b[1] == "COMPLETE"),
                 lost=0 if after == before else len(before))
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "No space left on device" in lines[0] and "Traceback" not in proc.stderr
    assert after == before
    # and once there is room again, the same command resumes; in this process (click's runner, on the
    # worker's Ray that quick_run started): the refused attempt above is the process of its own, a
    # second one would add only its imports and a Ray's start and stop
    again = CliRunner().invoke(main, [*cmd[1:-1], "--set", "budget.max_trials=4", "--quiet"])
    assert again.exit_code == 0, again.stderr[-2000:] + repr(again.exception)
    assert sum(counts_as_trained(t) for t in load(run_dir, quick_run.name).trials) == 4
