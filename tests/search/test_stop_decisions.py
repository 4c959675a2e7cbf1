"""A broken setup stops a search instead of burning its budget (issue 16, part 4).

Trials that fail before their first epoch because of the data, an import, the device or the
storage are ``setup_failed``: not trained, not counted in ``budget.max_trials``, and three in a
row with the same reason stop the search with one line (exit 2). A cluster run checks the data on
every node before the first trial. Real local Ray, real SQLite studies, the real trainable.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from tests.spaces import exactly, write_space
from wrnsearch.errors import DataError, DeviceError, RunError
from wrnsearch.record import Attr, Status
from wrnsearch.search import RunOptions, check_data_on_nodes, data_problem, failed_record, run_search, wrn_trainable
from wrnsearch.study import Outcome, count_outcomes, counts_as_trained, load_study

SYNTHETIC = {"train_size": 128, "test_size": 32, "val_size": 32}  # the base's generated images, fewer


def _space(tmp_path: Path, name: str, dataset: dict | None = None, max_trials: int = 4, concurrent: int = 1) -> Path:
    """8 architectures trained one at a time (or ``concurrent`` at a time), on ``dataset`` if given."""
    return write_space(tmp_path, name, dataset=exactly(dataset) if dataset else SYNTHETIC,
                       space={"widen_factor": [1, 2]}, budget={"max_trials": max_trials, "max_params": None},
                       search=exactly({"sampler": "random", "seed": 0, "max_concurrent": concurrent}))


@pytest.mark.parametrize("error, epochs, status", [
    (DataError("cifar10 not found under /x"), 0, Status.SETUP_FAILED),
    (ModuleNotFoundError("No module named 'torchvision'"), 0, Status.SETUP_FAILED),
    (DeviceError("cuda is not available"), 0, Status.SETUP_FAILED),
    (OSError(errno.EROFS, "Read-only file system", "/runs/x/checkpoints"), 0, Status.SETUP_FAILED),
    (DataError("cannot decode image"), 1, Status.FAILED),  # after an epoch: not the setup
    (RuntimeError("CUDA out of memory"), 0, Status.FAILED),  # a result of the architecture
    (OSError(errno.ENOMEM, "Cannot allocate memory"), 0, Status.FAILED),
    (ValueError("a bug"), 0, Status.FAILED),
])
def test_setup_errors_before_the_first_epoch_are_told_apart(error, epochs, status):
    record = failed_record("WRN-10-1", error, epochs)
    assert record.status == status
    assert record.reason == (str(error) if isinstance(error, (DataError, DeviceError))
                             else f"{type(error).__name__}: {error}")
    assert record.user_attrs()[Attr.FAIL_REASON] == record.reason


@pytest.mark.slow
def test_three_setup_failures_in_a_row_stop_the_search_without_using_its_budget(tmp_path, local_ray):
    """The real trainable on a data root without the data set (the local preflight is skipped, as
    when the data vanish after it): three trials fail alike, the search stops with one line."""
    empty = tmp_path / "empty"
    empty.mkdir()
    dataset = {"name": "cifar10", "root": str(empty), "download": False, "val_size": 100}
    space = _space(tmp_path, "broken", dataset=dataset, max_trials=8)
    events = []
    with pytest.raises(RunError) as raised:
        run_search(space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2), trainable=wrn_trainable,
                   on_event=lambda event, progress: events.append((event.kind, event.to_dict(), progress.trained)))
    line = str(raised.value)
    assert "\n" not in line
    assert line.startswith("3 trials in a row failed before their first epoch with the same setup error")
    assert f"cifar10 not found under {empty}" in line
    assert f"resume with: wrnsearch resume {tmp_path / 'runs' / 'broken'}" in line

    study = load_study(tmp_path / "runs" / "broken")
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 3
    assert count_outcomes(trials)[Outcome.SETUP_FAILED.value] == 3
    assert not any(counts_as_trained(t) for t in trials)
    assert {t.user_attrs[Attr.STATUS] for t in trials} == {"setup_failed"}
    assert all("cifar10 not found" in t.user_attrs[Attr.FAIL_REASON] for t in trials)
    # the live view was told of three failures, and of no trained trial
    assert [kind for kind, _, _ in events if kind in ("done", "failed")] == ["failed"] * 3
    assert all(trained == 0 for _, _, trained in events)


@pytest.mark.slow
def test_setup_failures_give_their_place_in_the_budget_back(tmp_path, local_ray):
    """The 2nd and 4th trials to start fail in their setup: the search still trains its three,
    two at a time, and ends for its budget."""
    from tests.trainables import setup_failing_on

    claims = tmp_path / "claims"
    claims.mkdir()
    space = _space(tmp_path, "flaky", max_trials=3, concurrent=2)
    result = run_search(space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2, measure_alone=False),
                        trainable=setup_failing_on({2, 4}, str(claims)))
    assert result.stop_reason == "budget.max_trials reached (3)"
    assert (result.progress.trained, result.progress.setup_failed) == (3, 2)
    trials = load_study(result.run_dir).get_trials(deepcopy=False)
    counts = count_outcomes(trials)
    assert (counts["done"], counts["setup_failed"]) == (3, 2)
    assert sum(counts_as_trained(t) for t in trials) == 3
    assert sorted(int(p.name) for p in claims.iterdir()) == [1, 2, 3, 4, 5]  # no sixth trial started


@pytest.mark.slow
def test_the_data_are_checked_on_every_node_before_the_first_trial(tmp_path, local_ray):
    missing = {"name": "cifar10", "download": False, "resolution": None}
    with pytest.raises(RunError) as raised:
        check_data_on_nodes(missing, str(tmp_path / "nowhere"))
    line = str(raised.value)
    assert line.startswith("the data set cifar10 is not there for the trials on node ")
    assert "(127.0.0.1)" in line or "(" in line.split(":")[0]
    assert f"cifar10 not found under {tmp_path / 'nowhere'}" in line and "\n" not in line

    # an image-folder copy is found by its names alone: no image is read (these are not images)
    for split in ("train", "test"):
        (tmp_path / "data" / "cifar10" / split / "cat").mkdir(parents=True)
        (tmp_path / "data" / "cifar10" / split / "cat" / "0.png").write_bytes(b"not a png")
    assert check_data_on_nodes(missing, str(tmp_path / "data")) == 1  # the one node of a local Ray
    assert check_data_on_nodes({"name": "synthetic"}, None) == 0
    assert data_problem(missing, str(tmp_path / "data")) is None


@pytest.mark.slow
def test_a_crashed_search_writes_its_outputs_and_prints_one_line(tmp_path, local_ray, monkeypatch, capsys):
    """An unexpected error after the trials (here in the final latency timing): pareto.csv and
    report.html are written from the study, stderr gets one line, the traceback goes to run.log."""
    from wrnsearch.cli import main
    from wrnsearch.search import _driver as driver

    def broken(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", "/tmp/ray/session/runtime_resources/gone")

    monkeypatch.setattr(driver, "_measure_alone", broken)
    space = _space(tmp_path, "crash", max_trials=1)
    with pytest.raises(SystemExit) as exited:
        main.main(args=["run", str(space), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    out, err = capsys.readouterr()
    assert exited.value.code == 1
    run_dir = tmp_path / "runs" / "crash"
    assert err.count("\n") == 1 and err.startswith("wrnsearch: error: the search stopped on an unexpected error: "
                                                   "FileNotFoundError: ")
    assert f"the traceback is in {run_dir / 'run.log'}" in err and f"wrnsearch resume {run_dir}" in err
    assert "Traceback" not in err
    assert (run_dir / "pareto.csv").is_file() and (run_dir / "report.html").is_file()
    assert len((run_dir / "pareto.csv").read_text().splitlines()) == 2  # header and the one trained trial
    outputs = [json.loads(line) for line in out.splitlines() if '"event": "outputs"' in line]
    assert len(outputs) == 1 and any("pareto.csv" in f for f in outputs[0]["files"])
    log = (run_dir / "run.log").read_text()
    assert "Traceback" in log and "in broken" in log
