"""Where the study lives: the journal file on a network filesystem, SQLite refused there, and a
real PostgreSQL server (started by the test) through run, kill, resume, pareto, report and dashboard."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections import Counter

import optuna
import pytest
from click.testing import CliRunner

from tests.pgserver import PG_PASSWORD
from tests.procs import free_port, kill_group, wrnsearch_exe
from tests.spaces import exactly
from wrnsearch.cli import main
from wrnsearch.errors import RunError
from wrnsearch.study import _shared_fs as shared_fs
from wrnsearch.study import counts_as_trained, display_url, load_study, storage_url, study_lock, without_password

# 4 architectures, trained one at a time for one epoch on 128 images
SMALL = dict(dataset={"train_size": 128, "test_size": 32, "val_size": 32},
             space={"depth": [10], "widen_factor": [1, 2]}, budget={"max_trials": 3}, train={"epochs": 1},
             search=exactly({"sampler": "random", "seed": 3, "max_concurrent": 1}))


# --------------------------------------------------------------------------------------------
# URLs and the network-filesystem rule, without a search


def test_passwords_are_hidden_and_dropped():
    url = f"postgresql+psycopg2://wrn:{PG_PASSWORD}@db.internal:5432/wrn?sslmode=require"
    assert display_url(url) == "postgresql+psycopg2://wrn:***@db.internal:5432/wrn?sslmode=require"
    assert without_password(url) == "postgresql+psycopg2://wrn@db.internal:5432/wrn?sslmode=require"
    for plain in ("postgresql://wrn@db/wrn", "sqlite:////runs/q/study.db", "journal:////runs/q/study.journal"):
        assert display_url(plain) == plain and without_password(plain) == plain


def test_a_network_mount_gets_the_journal_and_refuses_sqlite(tmp_path, monkeypatch):
    # /proc/self/mounts as an NFS client's reads: the share's mount line is all the rule looks at
    monkeypatch.delenv(shared_fs.SHARED_FS_ENV, raising=False)
    share = tmp_path / "efs"
    mounts = tmp_path / "mounts"
    mounts.write_text(f"overlay / overlay rw 0 0\nfs-1.efs.amazonaws.com:/ {share} nfs4 rw,vers=4.1 0 0\n")
    monkeypatch.setattr(shared_fs, "_MOUNTS_FILE", str(mounts))
    run_dir = share / "runs" / "q"
    assert storage_url(run_dir) == f"journal:///{run_dir.resolve()}/study.journal"
    assert storage_url(tmp_path / "local" / "q") == f"sqlite:///{(tmp_path / 'local' / 'q').resolve()}/study.db"
    with pytest.raises(RunError) as e:
        storage_url(run_dir, f"sqlite:///{share}/other.db")
    message = str(e.value)
    assert "\n" not in message and f"{share}/other.db" in message
    assert f"nfs4 mounted at {share}" in message
    assert "leave out --storage" in message and "study.journal" in message and "postgresql://" in message


def test_sqlite_on_a_declared_shared_directory_is_refused_before_anything_is_written(tmp_path, make_space,
                                                                                      monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv(shared_fs.SHARED_FS_ENV, str(shared))
    space = make_space("nfs", **SMALL)
    result = CliRunner().invoke(main, ["run", str(space), "--runs-dir", str(shared / "runs"), "--quiet",
                                       "--storage", f"sqlite:///{shared}/study.db"])
    assert result.exit_code == 2
    line = result.output.strip()
    assert line.count("\n") == 0 and f"{shared}/study.db" in line and "declared shared (WRNSEARCH_SHARED_FS)" in line
    assert "study.journal" in line and "postgresql://" in line
    assert not (shared / "runs").exists() and not (shared / "study.db").exists()

    # a run directory that already holds a study.db there: readers and writers refused, with a way out
    old = shared / "runs" / "old"
    old.mkdir(parents=True)
    optuna.create_study(study_name="old", storage=f"sqlite:///{old / 'study.db'}")
    for args in (["pareto", str(old)], ["dashboard", str(old)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert "SQLite is unsafe" in result.output and f"copy {old} to a local disk" in result.output


# --------------------------------------------------------------------------------------------
# The journal file: the default on a network filesystem


@pytest.mark.slow
def test_journal_study_on_a_shared_directory_runs_resumes_and_reads(tmp_path, make_space, monkeypatch, local_ray):
    from tests.trainables import scripted_wrn_trial
    from wrnsearch.search import RunOptions, run_search

    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv(shared_fs.SHARED_FS_ENV, str(shared))
    space = make_space("jr", **{**SMALL, "budget": {"max_trials": 2}, "train": {"epochs": 2}})
    options = RunOptions(runs_dir=shared / "runs", num_cpus=2, measure_alone=False)
    first = run_search(space, options, trainable=scripted_wrn_trial)
    run_dir = shared / "runs" / "jr"
    assert first.storage == f"journal:///{run_dir.resolve()}/study.journal"
    assert (run_dir / "study.journal").is_file() and not (run_dir / "study.db").exists()

    more = RunOptions(run_dir=run_dir, num_cpus=2, measure_alone=False, overrides=("budget.max_trials=4",))
    second = run_search(None, more, trainable=scripted_wrn_trial)
    assert second.progress.finished_before == 2
    study = load_study(run_dir)  # finds study.journal
    trained = [t for t in study.get_trials(deepcopy=False) if counts_as_trained(t)]
    assert len(trained) == 4 and Counter(t.user_attrs["key"] for t in trained).most_common(1)[0][1] == 1
    assert all(t.intermediate_values == {1: t.values[0], 2: t.values[0]} for t in trained)  # the learning curve

    pareto = CliRunner().invoke(main, ["pareto", str(run_dir), "--format", "json"])
    assert pareto.exit_code == 0, pareto.output
    front = json.loads(pareto.output)
    assert front and {row["arch"] for row in front} <= {t.user_attrs["arch"] for t in trained}
    report = CliRunner().invoke(main, ["report", str(run_dir)])
    assert report.exit_code == 0, report.output
    assert "jr" in (run_dir / "report.html").read_text()
    assert _dashboard_studies([str(run_dir)]) == {"jr": 4 + _untrained(study)}


def _untrained(study: optuna.Study) -> int:
    return sum(not counts_as_trained(t) for t in study.get_trials(deepcopy=False))


def _dashboard_studies(args: list[str], env: dict[str, str] | None = None) -> dict[str, int]:
    """``wrnsearch dashboard ARGS`` served on a free port: study name -> trials, as its API lists them."""
    port = free_port()
    proc = subprocess.Popen([wrnsearch_exe(), "dashboard", *args, "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    summaries = json.loads(r.read())["study_summaries"]
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the dashboard did not serve: {proc.stderr.read()[-2000:]}") from None
                time.sleep(0.3)
        found = {}
        for s in summaries:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{s['study_id']}", timeout=10) as r:
                found[s["study_name"]] = len(json.loads(r.read())["trials"])
        return found
    finally:
        kill_group(proc)
        proc.communicate(timeout=30)


# --------------------------------------------------------------------------------------------
# A real PostgreSQL server (a database of the test's own on this process's server, tests/conftest.py)


def test_a_study_file_named_by_two_run_directories_has_one_driver(tmp_path):
    """An SQLite or journal study named with --storage may be shared by run directories (hosts,
    people): a second driver is refused, naming the first; another study of the file is free."""
    for url in (f"sqlite:///{tmp_path / 'shared.db'}", f"journal:///{tmp_path / 'shared.journal'}"):
        with study_lock(url, "s", tmp_path / "runs-a" / "s"):
            with pytest.raises(RunError) as e, study_lock(url, "s", tmp_path / "runs-b" / "s"):
                pass
            message = str(e.value)
            assert message.count("\n") == 0 and "study 's' in " in message
            assert "in use by another wrnsearch driver" in message
            assert f"(wrnsearch {socket.gethostname()} pid {os.getpid()} run {tmp_path / 'runs-a' / 's'})" in message
            with study_lock(url, "t"):  # another study in the same file
                pass
        with study_lock(url, "s"):  # released when its driver ended
            pass


def test_a_study_lock_on_the_server_refuses_a_second_holder(postgres):
    with study_lock(postgres, "locked"):
        with pytest.raises(RunError) as e, study_lock(postgres, "locked"):
            pass
        message = str(e.value)
        assert "study 'locked'" in message and "in use by another wrnsearch driver" in message
        assert f"(wrnsearch {socket.gethostname()} pid {os.getpid()})"[:40] in message  # who holds it
        assert PG_PASSWORD not in message and "wrn:***@127.0.0.1" in message
        with study_lock(postgres, "another"):  # another study of the same database is free
            pass
    with study_lock(postgres, "locked"):  # released when its holder left
        pass


@pytest.mark.slow
def test_postgres_study_through_run_kill_resume_and_readers(tmp_path, make_space, monkeypatch, postgres, local_ray):
    """The driver on a PostgreSQL study killed mid-search, a second driver of the study (another run
    directory, as on another host) refused while the first runs, the search resumed from the run
    directory alone (the password from PGPASSWORD), then pareto, report and dashboard on the server.

    The driver that is killed is a process of its own (the kill, and the lock its death frees, are
    the point); the second driver, the resume, pareto and report are the same commands run in this
    process (click's runner, the resume on the test process's Ray): another process than the killed
    driver, without a process's imports and a Ray's start and stop each (`wrnsearch resume` as a
    process of its own: tests/reliability/test_head_loss.py)."""
    exe = wrnsearch_exe()
    monkeypatch.delenv("PGPASSWORD", raising=False)
    space = make_space("pg", **{**SMALL, "budget": {"max_trials": 2}, "train": {"epochs": 1}})
    runs, elsewhere = tmp_path / "runs", tmp_path / "other-host"
    run_dir = runs / "pg"
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    outputs = []

    def trained() -> list[optuna.trial.FrozenTrial]:
        try:
            trials = load_study(storage=postgres, study_name="pg").get_trials(deepcopy=False)
        except RunError:  # not created yet
            return []
        return [t for t in trials if counts_as_trained(t)]

    driver = subprocess.Popen([exe, "run", str(space), "--runs-dir", str(runs), "--storage", postgres, "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                              env=env)
    try:
        deadline = time.monotonic() + 300
        while len(trained()) < 1:
            assert driver.poll() is None, driver.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no trial finished"
            time.sleep(0.5)
        second = CliRunner().invoke(main, ["run", str(space), "--runs-dir", str(elsewhere), "--storage", postgres,
                                           "--quiet"])
        os.kill(driver.pid, signal.SIGKILL)
        out, err = driver.communicate(timeout=60)
    finally:
        kill_group(driver)
    outputs += [out, err, second.stdout, second.stderr]
    assert second.exit_code == 2, second.stderr[-2000:]
    assert "study 'pg'" in second.stderr and "in use by another wrnsearch driver" in second.stderr
    assert second.stderr.count("\n") == 1
    before = {t.number: (t.user_attrs["key"], t.values) for t in trained()}
    assert before

    saved = (run_dir / "space.yaml").read_text()
    assert f"storage: {without_password(postgres)}" in saved  # where the study is, not its password
    resumed = CliRunner(env={"PGPASSWORD": PG_PASSWORD}).invoke(main, ["resume", str(run_dir), "--quiet"])
    outputs += [resumed.stdout, resumed.stderr]
    assert resumed.exit_code == 0, resumed.stderr[-2000:] + repr(resumed.exception)
    study = load_study(storage=postgres, study_name="pg")
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if counts_as_trained(t)]
    assert len(done) == 2 and Counter(t.user_attrs["key"] for t in done).most_common(1)[0][1] == 1
    assert all({t.number: (t.user_attrs["key"], t.values) for t in done}.get(n) == v for n, v in before.items())
    assert not [t for t in trials if t.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)]
    events = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert events[0]["event"] == "run" and events[0]["storage"] == without_password(postgres)  # the saved URL
    assert (run_dir / "report.html").is_file() and (run_dir / "pareto.csv").is_file()

    pareto = CliRunner().invoke(main, ["pareto", "--storage", postgres, "--format", "json"])
    assert pareto.exit_code == 0, pareto.stderr
    assert {r["arch"] for r in json.loads(pareto.stdout)} <= {t.user_attrs["arch"] for t in done}
    report = CliRunner().invoke(main, ["report", "--storage", postgres, "-o", str(run_dir / "again.html")])
    assert report.exit_code == 0 and (run_dir / "again.html").is_file(), report.stderr
    outputs += [pareto.stdout, pareto.stderr, report.stdout, report.stderr]
    assert _dashboard_studies(["--storage", postgres], env=env) == {"pg": len(trials)}
    # a reader of the run directory alone: the saved URL, with the password from PGPASSWORD or nowhere
    with pytest.raises(RunError, match="no password supplied.*set PGPASSWORD"):
        load_study(run_dir)
    monkeypatch.setenv("PGPASSWORD", PG_PASSWORD)
    assert len(load_study(run_dir).trials) == len(trials)

    files = [p for d in (run_dir, elsewhere) if d.exists() for p in d.rglob("*") if p.is_file()]
    assert len(files) > 5 and run_dir / "space.yaml" in files
    leaked = [str(p) for p in files if PG_PASSWORD.encode() in p.read_bytes()]
    assert not leaked, leaked
    assert not [o for o in outputs if PG_PASSWORD in o]
