"""Bad input: a corpus of broken space files and broken command lines, each answered in one line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import REPO
from tests.procs import wrnsearch_exe
from wrnsearch.cli import main

CORPUS = Path(__file__).parent / "bad_spaces"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())


def _check_one_line(returncode: int, stderr: str, *fragments: str) -> list[str]:
    """Problems with the answer (empty when it is clean)."""
    problems = []
    if returncode != 2:
        problems.append(f"exit code {returncode}")
    lines = stderr.strip().splitlines()
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr")
    if "Traceback" in stderr:
        problems.append("a traceback")
    for fragment in fragments:
        if fragment not in stderr:
            problems.append(f"no {fragment!r} in {stderr.strip()!r}")
    return problems


def _binary_and_empty(tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    return {
        "empty.yaml": (b"", "the file is empty"),
        "comments-only.yaml": (b"# nothing here\n\n", "the file is empty"),
        "binary.yaml": (bytes(range(256)) * 8, "binary data"),
        "latin1.yaml": ("name: caf\xe9\n".encode("latin-1"), "not UTF-8"),
    }


CASES = sorted(EXPECTED) + ["empty.yaml", "comments-only.yaml", "binary.yaml", "latin1.yaml"]


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", CASES)
def test_broken_space_file(tmp_path, ledger, name):
    extra = _binary_and_empty(tmp_path)
    if name in extra:
        path = tmp_path / name
        path.write_bytes(extra[name][0])
        fragment = extra[name][1]
    else:
        path = CORPUS / name
        fragment = EXPECTED[name]
    runs = tmp_path / "runs"
    # wrnsearch run in this process (click's CliRunner: the CLI's own error handling, stderr apart
    # from stdout); the command lines below are each a process of their own, as a user types them
    result = CliRunner().invoke(main, ["run", str(path), "--runs-dir", str(runs)])
    problems = _check_one_line(result.exit_code, result.stderr, str(path), fragment)
    if result.exception is not None and not isinstance(result.exception, SystemExit):  # one the CLI let through
        problems.append(f"raised {result.exception!r}")
    if runs.exists():
        problems.append("a run directory was left behind")
    ledger.bad_input("broken space file", name, clean=not problems)
    assert not problems, problems
    assert not Path("/tmp/wrnsearch-pwned").exists()


COMMAND_LINES = [
    (["run"], "Missing argument 'SPACE.yaml'"),
    (["run", "{missing}"], "no such file"),
    (["run", "spaces/quickstart.yaml", "--set"], "--set"),
    (["run", "spaces/quickstart.yaml", "--set", "train.epochs"], "expected KEY=VALUE"),
    (["run", "spaces/quickstart.yaml", "--set", "train.epochs=zero"], "train.epochs"),
    (["run", "spaces/quickstart.yaml", "--set", "nosuch.key=1"], "unknown key 'nosuch'"),
    (["run", "spaces/quickstart.yaml", "--name", "../up"], "--name '../up'"),
    (["run", "spaces/quickstart.yaml", "--bogus"], "No such option"),
    (["run", "spaces/quickstart.yaml", "--data-root", "{tmp}/empty-root", "--set", "dataset.download=false"],
     "cifar10 not found under"),
    (["resume", "{tmp}"], "is not a run directory"),
    (["resume", "{missing}"], "does not exist"),
    (["report", "{tmp}"], "holds no study.db"),
    (["pareto", "{tmp}"], "holds no study.db"),
    (["dashboard", "{tmp}"], "holds no study.db"),
    (["model", "WRN-29-10"], "depth 29 is impossible"),
    (["train", "WRN-16-2", "--epochs", "0"], "--epochs"),
    (["train", "WRN-16-2", "--time-limit", "soon", "--dataset", "synthetic"], "--time-limit"),
    (["space", "count"], "Missing argument 'FILE'"),
    (["space", "sample", "spaces/quickstart.yaml", "--n", "0"], "--n"),
    (["bench", "nothing"], "No such command 'nothing'"),
]


@pytest.mark.parametrize("args, fragment", COMMAND_LINES, ids=[" ".join(a)[:40] for a, _ in COMMAND_LINES])
def test_broken_command_line(tmp_path, ledger, args, fragment):
    args = [a.replace("{tmp}", str(tmp_path)).replace("{missing}", str(tmp_path / "missing.yaml")) for a in args]
    runs = tmp_path / "runs"
    extra = ["--runs-dir", str(runs)] if args[0] == "run" and len(args) > 1 and "--set" not in args[-1:] else []
    proc = subprocess.run([wrnsearch_exe(), *args, *extra], capture_output=True, text=True, timeout=120, cwd=REPO)
    problems = _check_one_line(proc.returncode, proc.stderr, fragment)
    if runs.exists():
        problems.append("a run directory was left behind")
    ledger.bad_input("broken command line", " ".join(args[:3]), clean=not problems)
    assert not problems, (problems, proc.stderr)
