"""wrnsearch retrain: a search's chosen architectures trained again at full budget as a second
study beside the search's (real Ray, real SQLite), its driver killed and the command resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import yaml
from click.testing import CliRunner
from optuna.trial import TrialState

from tests.spaces import exactly, space_data
from wrnsearch.cli import main
from wrnsearch.deploy import choose, plan_retrain, retrain_space
from wrnsearch.errors import RunError
from wrnsearch.pareto import final_ranking, front_info, open_final
from wrnsearch.search import RunOptions, run_search
from wrnsearch.space import space_from_data
from wrnsearch.study import load_study

pytestmark = pytest.mark.slow



def _final_trials(run_dir):
    """Read-only, as a reader beside a running driver must (optuna.load_study may write the schema)."""
    try:
        study = load_study(storage=f"sqlite:///{run_dir / 'study.db'}", study_name="s-retrain")
    except RunError:
        return []  # the retrain has not created its study yet
    return study.get_trials(deepcopy=False)


def _complete(trials):
    """Told complete: the driver writes a trial's record before it tells the study, and a kill
    between the two leaves it RUNNING with its record but no values (the resume trains it again)."""
    return [t for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get("status") == "complete"]


def test_retrain_runs_as_a_second_study_and_resumes_after_a_kill(tmp_path, make_space, local_ray):
    # the three WRN-10-k of k = 1, 2, 3, each trained once (grid), for one epoch on 512 images
    space = make_space("s", dataset={"train_size": 512, "test_size": 200},
                       space={"depth": [10], "widen_factor": [1, 2, 3], "block": ["B(3,3)"]},
                       budget={"max_trials": 3, "max_params": None}, train={"epochs": 1},
                       search={"sampler": "grid", "seed": 0, "n_startup_trials": None})
    # the search the retrain starts from, its front not timed alone: no assertion reads alone figures, and
    # choose() and front_info() below read the same study either way
    run_dir = run_search(space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2, measure_alone=False)).run_dir
    search = load_study(run_dir=run_dir)
    numbers = [t.number for t in search.trials if t.user_attrs.get("status") == "complete"]
    assert len(numbers) == 3
    # the front, and its best by validation error
    front = choose(search, front=True)
    assert set(front) == {t.user_attrs["arch"] for t in front_info(search).front_trials}
    assert choose(search, front=True, top=1) == front[:1]
    with pytest.raises(RunError, match="give --front or --trial"):
        choose(search)
    planned, target, _ = plan_retrain(run_dir, trials=numbers, epochs=4)
    assert planned.phase == "retrain" and planned.dataset.val_size == 0 and planned.train.epochs == 4
    assert planned.train.lr == 0.1  # the paper's recipe, not the search's lr 0.05
    assert target == run_dir / "retrain"
    assert planned.storage == f"sqlite:///{(run_dir / 'study.db').resolve()}"  # resume RUN/retrain finds it

    cmd = [sys.executable, "-m", "wrnsearch", "retrain", str(run_dir), "--epochs", "4", "--quiet"]
    cmd += [arg for n in numbers for arg in ("--trial", str(n))]
    env = {**os.environ, "RAY_AIR_NEW_OUTPUT": "0"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 300
        while not _complete(_final_trials(run_dir)):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no retrained trial completed in 300 s"
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    before = {t.number: list(t.values) for t in _complete(_final_trials(run_dir))}
    assert 1 <= len(before) < 3

    # again, without the choice: the retrain resumes as it was planned (the same command, in this
    # process, on its Ray: a new process and a Ray of its own would add nothing the kill did not test)
    resumed = CliRunner().invoke(main, ["retrain", str(run_dir), "--quiet"])
    assert resumed.exit_code == 0, resumed.output[-3000:]
    final = _final_trials(run_dir)
    done = _complete(final)
    assert len(done) == 3
    assert Counter(t.user_attrs["arch"] for t in done).most_common(1)[0][1] == 1  # nothing trained twice
    assert all(list(t.values) == before[t.number] for t in done if t.number in before)  # nothing lost
    for t in done:
        a = t.user_attrs
        assert a["epochs"] == 4 and len(a["curve"]) == 4 and "val_error" not in a
        assert t.values[0] == a["test_error"]  # no validation images: the error is the test error
        assert a["dataset_split"]["val"] == 0 and a["dataset_split"]["train"] == 512

    search = load_study(run_dir=run_dir)  # the run directory still opens the search's study
    assert search.study_name == "s"
    ranking = final_ranking(search, open_final(search))
    assert ranking.n == 3 and ranking.tau is not None and -1 <= ranking.tau <= 1
    # the readers, in this process (the retrain's own commands above ran as a user runs them)
    pareto = CliRunner().invoke(main, ["pareto", str(run_dir)])
    assert pareto.exit_code == 0, pareto.output
    assert f"Kendall's tau between the rankings: {ranking.tau:.2f} (n = 3)" in pareto.output
    for r in ranking.rows:
        assert r["arch"] in pareto.output and f"{r['final_test_error']:.2f}" in pareto.output
    report = CliRunner().invoke(main, ["report", str(run_dir)])
    assert report.exit_code == 0, report.output
    html = (run_dir / "report.html").read_text()
    assert 'id="final-table"' in html and f"<b>{ranking.tau:.2f}</b> (n = 3)" in html
    # the retrained models are what a user ships: the retrain's directory opens its study for export
    best = min(done, key=lambda t: t.values[0])
    exported = CliRunner().invoke(main, ["export", str(run_dir / "retrain"), "--trial", str(best.number), "-o",
                                         str(run_dir / "final.pt2")])
    assert exported.exit_code == 0, exported.output
    assert f"exported trial {best.number} ({best.user_attrs['arch']}" in exported.output


def test_the_retrain_of_a_cifar10_search_takes_its_data_set_without_the_synthetic_sizes(tmp_path):
    from wrnsearch.study import resolve_run, write_run_dir

    search = space_from_data(space_data("c", dataset=exactly({"name": "cifar10", "train_subset": 3000,
                                                            "test_subset": 500}),
                                        space=exactly({"depth": [10], "widen_factor": [1, 2]})))
    planned = retrain_space(search, ["WRN-10-2"], epochs=2)
    whole = search.dataset.model_copy(update={"val_size": 0, "train_subset": None, "test_subset": None})
    assert planned.dataset == whole  # the same data set, split seed ..., on the whole sets
    target = tmp_path / "retrain"
    write_run_dir(planned, target)  # as wrnsearch retrain saves it
    saved = yaml.safe_load((target / "space.yaml").read_text())
    assert "train_size" not in saved["dataset"] and "test_size" not in saved["dataset"]
    resumed, _ = resolve_run(None, run_dir=target)  # wrnsearch resume RUN_DIR/retrain
    assert resumed.model_dump() == planned.model_dump()
