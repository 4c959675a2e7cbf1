"""Two drivers of one study: two `wrnsearch run` processes in two run directories (as two people,
or two hosts, would start them) pointing --storage at one journal file or one PostgreSQL study.
The second is refused in one line naming the first while it runs; the first trains its budget,
each architecture once. A silent double training is the one outcome that must not exist."""

from __future__ import annotations

import subprocess
import time
from collections import Counter

import pytest
from click.testing import CliRunner

from tests.pgserver import PG_PASSWORD
from tests.procs import kill_group, wrnsearch_exe
from wrnsearch.cli import main
from wrnsearch.study import counts_as_trained, load_study


@pytest.mark.parametrize("kind", ["journal", "postgresql"])
def test_a_second_driver_of_one_study_is_refused_and_nothing_is_trained_twice(kind, tmp_path, make_space, ledger,
                                                                               request):
    exe = wrnsearch_exe()
    space = make_space("two", budget={"max_trials": 3}, search={"sampler": "random", "max_concurrent": 1})
    if kind == "journal":
        (tmp_path / "shared").mkdir()
        url = f"journal:///{tmp_path / 'shared' / 'study.journal'}"
        started = lambda: (tmp_path / "shared" / "study.journal").exists()  # noqa: E731
    else:
        url = request.getfixturevalue("postgres")
        started = lambda: (tmp_path / "a" / "two" / "run.log").exists()  # noqa: E731 - after the study lock
    first = subprocess.Popen([exe, "run", str(space), "--runs-dir", str(tmp_path / "a"), "--storage", url, "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not started():
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()[1][-2000:]
            time.sleep(0.3)
        # the second driver in this process (click's runner): another process than the first, refused
        # under the study lock before it would start a Ray, so a process of its own adds only imports
        second = CliRunner().invoke(main, ["run", str(space), "--runs-dir", str(tmp_path / "b"), "--storage", url,
                                           "--quiet"])
        out, err = first.communicate(timeout=600)
    finally:
        kill_group(first)
    trials = load_study(storage=url, study_name="two").get_trials(deepcopy=False)
    trained = [t for t in trials if counts_as_trained(t)]
    twice = Counter(t.user_attrs["key"] for t in trained).most_common(1)[0][1] > 1
    ok = first.returncode == 0 and second.exit_code == 2 and len(trained) == 3 and not twice
    ledger.fault("a second driver of one study", f"{kind}: refused in one line naming the first; "
                 f"{len(trained)} of 3 trained, none twice", survived=ok, finished_before=0, lost=0)
    assert first.returncode == 0, err[-2000:]
    assert second.exit_code == 2 and second.stderr.count("\n") == 1, second.stderr[-2000:]
    assert "study 'two'" in second.stderr and "in use by another wrnsearch driver" in second.stderr
    assert f"pid {first.pid}" in second.stderr  # who holds it
    assert PG_PASSWORD not in second.stderr
    assert len(trained) == 3 and not twice
