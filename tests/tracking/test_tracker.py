"""TensorBoard and MLflow copies of the trials' curves (wrnsearch.tracking._tracker): a real search on
real Ray with the real trainer, its event files read back with TensorBoard's own reader, its
MLflow runs read back from a real SQLite store, and a resume that goes on in the same parent run;
the search's summary on the parent run and the latencies timed alone on the trials' runs
(wrnsearch.tracking._search_summary), after a search and after ``wrnsearch measure``."""

from __future__ import annotations

import csv
import io
import logging
import sys

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.spaces import THREE_ARCHITECTURES, space_data
from tests.studies import load
from wrnsearch.compat import close_storage
from wrnsearch.errors import RunError
from wrnsearch.pareto import FRONT_COLUMNS, alone_figures, front_info, front_rows, timed_alone
from wrnsearch.record import Status, TrialRecord
from wrnsearch.search import RunOptions, measure_run, run_search
from wrnsearch.space import load_space, space_from_data
from wrnsearch.spec import parse_name
from wrnsearch.study import counts_as_trained, open_study, storage_url, write_run_dir
from wrnsearch.tracking import (
    ALONE_METRICS,
    EPOCH_SCALARS,
    FAILED,
    FINISHED,
    FRONT_ARTIFACT,
    KILLED,
    PARENT_ATTR,
    SPACE_ARTIFACT,
    TENSORBOARD_DIR,
    Tracker,
    mlflow_status,
    open_tracker,
)

# MLflow's SQLite store maps its tables with a loader SQLAlchemy 2.1 deprecates: theirs, not ours
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


def _scalars(run_dir, name):
    """A TensorBoard run's scalars as TensorBoard reads them: {tag: {step: value}}."""
    acc = EventAccumulator(str(run_dir / TENSORBOARD_DIR / name))
    acc.Reload()
    return {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}


def _runs(client, experiment):
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    return parents, [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def _experiment(client, name, tmp_path):
    """The experiment a search will find, its artifacts under ``tmp_path``: MLflow's default for a
    SQLite store is ./mlruns of the working directory, which is the repository under pytest."""
    client.create_experiment(name, artifact_location=(tmp_path / "mlartifacts").as_uri())


def _artifact(client, run_id, name, tmp_path):
    """An artifact of a run, downloaded as a user would, as text."""
    where = tmp_path / "artifacts" / run_id
    where.mkdir(parents=True, exist_ok=True)
    return open(client.download_artifacts(run_id, name, str(where)), encoding="utf-8").read()


def _check_summary(client, parent_id, study, run_dir, tmp_path):
    """The parent run holds the study's whole front (its CSV as pareto.csv), its hypervolume as the
    report computes it, and the resolved space; the trials' runs hold the latencies the study has
    timed alone for their architectures (and no others). Returns the trials whose runs have them."""
    parent = client.get_run(parent_id)
    info, rows = front_info(study), front_rows(study)
    assert rows, "a front to publish"
    stored = list(csv.DictReader(io.StringIO(_artifact(client, parent_id, FRONT_ARTIFACT, tmp_path))))
    assert [int(r["trial"]) for r in stored] == [t.number for t in info.front_trials]
    for got, row in zip(stored, rows):
        assert list(got) == list(FRONT_COLUMNS) and got["arch"] == row["arch"]
        for key in ("error", "test_error", "params", "latency_ms"):
            assert float(got[key]) == pytest.approx(row[key], rel=1e-12), key
        assert got["timed_alone"] == str(row["timed_alone"])
    assert parent.data.metrics["hypervolume"] == pytest.approx(info.hypervolume, rel=1e-12)
    assert parent.data.metrics["front_size"] == len(rows)
    trained = sum(1 for t in study.trials if counts_as_trained(t))
    assert {m.step for m in client.get_metric_history(parent_id, "hypervolume")} >= {trained}
    space_yaml = _artifact(client, parent_id, SPACE_ARTIFACT, tmp_path)
    assert yaml.safe_load(space_yaml) == yaml.safe_load((run_dir / "space.yaml").read_text())
    assert parent.data.params["dataset.name"] == "synthetic"
    assert parent.data.params["train.epochs"] == str(study.user_attrs["space"]["train"]["epochs"])
    assert parent.data.params["objectives"] == ",".join(study.metric_names)
    alone = alone_figures(study)
    by_number = {t.number: t for t in study.trials}
    _, children = _runs(client, study.study_name)
    for child in children:
        t = by_number[int(child.data.tags["wrnsearch.trial"])]
        if timed_alone(t, alone):
            figures = alone[t.user_attrs["arch"]]
            for key, metric in ALONE_METRICS.items():
                assert child.data.metrics[metric] == figures[key], (t.number, metric)
        else:
            assert not set(ALONE_METRICS.values()) & set(child.data.metrics), t.number
    return [int(c.data.tags["wrnsearch.trial"]) for c in children if "latency_alone_ms" in c.data.metrics]


@pytest.mark.slow
def test_a_search_writes_tensorboard_runs_and_mlflow_runs_and_a_resume_goes_on_in_the_same_parent(
        tmp_path, make_space, local_ray, mlflow, mlflow_uri):
    """... and each run's end publishes the whole study's front, hypervolume and space on the parent,
    and the latencies timed alone on the trials' runs."""
    uri = mlflow_uri
    client = mlflow.MlflowClient(tracking_uri=uri)
    _experiment(client, "tr", tmp_path)
    space = make_space("tr", budget={"max_trials": 2}, search={"sampler": "random"})
    options = RunOptions(runs_dir=tmp_path / "runs", num_cpus=2, overrides=(f"tracking.mlflow.uri={uri}",),
                         measure_alone=False)  # the front is timed alone in the resume below
    result = run_search(space, options)
    run_dir = result.run_dir
    study = load(run_dir, "tr")
    trained = [t for t in study.trials if counts_as_trained(t)]
    assert len(trained) == 2

    # TensorBoard: one run per trained trial, <number>-<arch>, each epoch's scalars at step = epoch;
    # epoch 1 came through the searcher's per-epoch reports, epoch 2 with the record
    names = {f"{t.number}-{t.user_attrs['arch']}": t for t in trained}
    assert {p.name for p in (run_dir / TENSORBOARD_DIR).iterdir()} == set(names)
    for name, t in names.items():
        scalars = _scalars(run_dir, name)
        assert set(scalars) == set(EPOCH_SCALARS)
        assert scalars["val_error"] == pytest.approx(t.intermediate_values)  # the study's learning curve
        for tag in ("train_loss", "lr", "images_per_s"):
            assert scalars[tag] == pytest.approx({e["epoch"]: e[tag] for e in t.user_attrs["curve"]}, rel=1e-6)
        assert scalars["lr"][1] == pytest.approx(0.05)  # the space's rate, before the first milestone
    # nothing else under the run directory writes event files (Tune's own loggers are off)
    events = {p.parent.name for p in run_dir.rglob("events.out.tfevents.*")}
    assert events == set(names)

    # MLflow: a parent run named after the study, a finished child per trained trial under it
    parents, children = _runs(client, "tr")
    assert [p.info.run_name for p in parents] == ["tr"]
    parent = parents[0]
    assert parent.info.status == FINISHED and parent.data.tags["wrnsearch.run_dir"] == str(run_dir.resolve())
    assert study.user_attrs[PARENT_ATTR]["run_id"] == parent.info.run_id
    assert sorted(c.info.run_name for c in children) == sorted(names)
    for child in children:
        t = names[child.info.run_name]
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == FINISHED and child.data.tags["wrnsearch.status"] == "complete"
        assert child.data.params["arch"] == t.user_attrs["arch"]
        assert child.data.params["widen_factor"] == str(t.user_attrs["spec"]["widen_factor"])
        history = client.get_metric_history(child.info.run_id, "val_error")
        assert {m.step: m.value for m in history} == pytest.approx(t.intermediate_values)
        assert len(history) == len(t.intermediate_values)  # no epoch twice
        assert child.data.metrics["test_error"] == pytest.approx(t.user_attrs["test_error"])
        assert child.data.metrics["params"] == t.user_attrs["params"]
    assert _check_summary(client, parent.info.run_id, study, run_dir, tmp_path) == []  # nothing timed alone yet

    # resumed with a larger budget: the same parent run, one more child; the front of all three
    # trials timed alone at the end, and published
    run_search(space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2,
                                 overrides=(f"tracking.mlflow.uri={uri}", "budget.max_trials=3")))
    parents, children = _runs(client, "tr")
    assert [p.info.run_id for p in parents] == [parent.info.run_id]
    assert client.get_run(parent.info.run_id).info.status == FINISHED
    study = load(run_dir, "tr")
    trained = [t for t in study.trials if counts_as_trained(t)]
    assert len(trained) == 3
    assert sorted(c.info.run_name for c in children) == sorted(f"{t.number}-{t.user_attrs['arch']}" for t in trained)
    timed = _check_summary(client, parent.info.run_id, study, run_dir, tmp_path)
    assert set(timed) >= {t.number for t in front_info(study).front_trials}  # every front member timed alone


def _cpu_one_thread():
    """The device a trial with ``cpus_per_trial: 1`` names when it times on this CPU."""
    import torch

    from wrnsearch.measure import device_name

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return device_name("cpu")
    finally:
        torch.set_num_threads(saved)


def test_wrnsearch_measure_publishes_the_front_and_the_latencies_timed_alone_to_mlflow(tmp_path, caplog, mlflow,
                                                                                       mlflow_uri):
    """Trials whose runs a finished search left in MLflow, timed alone afterwards with ``wrnsearch
    measure``: the figures reach those runs, and the front on them the parent run, which stays FINISHED."""
    import optuna

    here = _cpu_one_thread()
    space = space_from_data(space_data("pub", base=THREE_ARCHITECTURES, tracking={"mlflow": {"uri": mlflow_uri}}))
    client = mlflow.MlflowClient(tracking_uri=mlflow_uri)
    _experiment(client, "pub", tmp_path)
    run_dir = tmp_path / "run"
    write_run_dir(space, run_dir)
    study = open_study(space, storage_url(run_dir, None))
    with open_tracker(space, study, run_dir) as tracker:
        # WRN-10-2 was timed on another machine: never timed alone here, so no figure on its run
        for arch, error, latency, device in [("WRN-10-1", 50.0, 1e-6, here), ("WRN-10-1-B(3,1)", 60.0, 1e-5, here),
                                             ("WRN-10-2", 40.0, 1e9, "cpu (64 threads)")]:
            spec = parse_name(arch, num_classes=4).to_dict()
            study.add_trial(optuna.trial.create_trial(values=[error, latency], user_attrs={
                "arch": arch, "spec": spec, "status": "complete", "val_error": error, "test_error": error + 1,
                "latency_ms": latency, "device": device, "params": 1000, "epochs": 1}))
            number = study.trials[-1].number
            tracker.trial_started(number, arch, spec)
            tracker.trial_ended(number, TrialRecord(name=arch, epochs=1, latency_ms=latency))
    close_storage(study)
    parent_id = study.user_attrs[PARENT_ATTR]["run_id"]

    with caplog.at_level(logging.WARNING):
        result = measure_run(run_dir)  # WRN-10-1 timed alone is slower than B(3,1) timed beside others
        assert result.timed == ["WRN-10-1", "WRN-10-1-B(3,1)"] and "WRN-10-2" in result.skipped
        measure_run(run_dir)  # again: nothing new to time; published again, params already there
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    study = open_study(space, storage_url(run_dir, None), create=False)
    try:
        assert sorted(alone_figures(study)) == ["WRN-10-1", "WRN-10-1-B(3,1)"]
        timed = _check_summary(client, parent_id, study, run_dir, tmp_path)
    finally:
        close_storage(study)
    assert sorted(timed) == [0, 1]
    assert client.get_run(parent_id).info.status == FINISHED
    history = client.get_metric_history(parent_id, "hypervolume")
    assert [m.step for m in history] == [3, 3]  # one point per publication, at the trials trained


class _DeadClient:
    """Stands in for an MLflow client whose server went away: every call fails as the real one does."""

    def __getattr__(self, name):
        from mlflow.exceptions import MlflowException

        def call(*args, **kwargs):
            raise MlflowException(f"API request to endpoint /api/2.0/mlflow/runs/{name} failed: "
                                  "Max retries exceeded (Connection refused)")
        return call


def test_an_mlflow_store_that_fails_mid_search_is_warned_about_once_and_the_search_goes_on(tmp_path, caplog, mlflow,
                                                                                           mlflow_uri):
    import optuna

    space = load_space("spaces/quickstart.yaml", [f"tracking.mlflow.uri={mlflow_uri}"])
    study = optuna.create_study(study_name=space.name, directions=space.directions)
    tracker = open_tracker(space, study, tmp_path)
    tracker.trial_started(0, "WRN-10-1", {"depth": 10})
    tracker.epochs(0, [{"epoch": 1, "val_error": 60.0, "lr": 0.1}])
    tracker.trial_ended(0, TrialRecord(name="WRN-10-1", status=Status.PRUNED, epochs=1))
    tracker.mlflow._submit(lambda: None).result(timeout=60)  # what was sent so far has reached the store
    tracker.mlflow.client = _DeadClient()  # then the server goes down
    with caplog.at_level(logging.WARNING, logger="wrnsearch.tracking"):
        for n in (1, 2):
            tracker.trial_started(n, "WRN-10-2", {"depth": 10})
            tracker.epochs(n, [{"epoch": 1, "val_error": 50.0 - n}, {"epoch": 2, "val_error": 40.0 - n}])
            tracker.trial_ended(n, TrialRecord(name="WRN-10-2", status=Status.COMPLETE, epochs=2))
        tracker.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "MLflow at sqlite:///" in warnings[0] and "Connection refused" in warnings[0]
    # TensorBoard went on; MLflow holds what it took before the failure
    assert _scalars(tmp_path, "2-WRN-10-2")["val_error"] == {1: 48.0, 2: 38.0}
    client = mlflow.MlflowClient(tracking_uri=mlflow_uri)
    _, children = _runs(client, space.name)
    assert [(c.info.run_name, c.info.status) for c in children] == [("0-WRN-10-1", KILLED)]
    assert study.user_attrs[PARENT_ATTR]["run_id"] == children[0].data.tags["mlflow.parentRunId"]


def test_steps_only_go_forward_in_a_trials_run(tmp_path):
    """A trial restarted from its checkpoint reports epochs again: they are not written twice."""
    tracker = Tracker(tmp_path / TENSORBOARD_DIR)
    tracker.trial_started(5, "WRN-16-1", {})
    tracker.epochs(5, [{"epoch": 1, "val_error": 70.0}, {"epoch": 2, "val_error": 60.0}])
    tracker.epochs(5, [{"epoch": 2, "val_error": 61.0}, {"epoch": 3, "val_error": 55.0, "train_loss": float("nan")}])
    tracker.trial_ended(5, TrialRecord(name="WRN-16-1", curve=[{"epoch": e, "val_error": 1.0} for e in (1, 2, 3, 4)]))
    tracker.epochs(5, [{"epoch": 5, "val_error": 1.0}])  # after its end: nothing
    assert _scalars(tmp_path, "5-WRN-16-1") == {"val_error": {1: 70.0, 2: 60.0, 3: 55.0, 4: 1.0}}


def test_tensorboard_events_that_cannot_be_written_are_warned_about_once(tmp_path, caplog):
    (tmp_path / TENSORBOARD_DIR).write_text("a file where the folder would go")
    tracker = Tracker(tmp_path / TENSORBOARD_DIR)
    with caplog.at_level(logging.WARNING, logger="wrnsearch.tracking"):
        for n in (1, 2):
            tracker.trial_started(n, "WRN-10-1", {})
            tracker.epochs(n, [{"epoch": 1, "val_error": 50.0}])
            tracker.trial_ended(n, TrialRecord(name="WRN-10-1", curve=[{"epoch": 2, "val_error": 40.0}]))
        tracker.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "TensorBoard events in" in warnings[0], warnings


def test_tracking_mlflow_without_mlflow_installed_is_one_line_before_anything_is_written(tmp_path, make_space,
                                                                                          monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed: find_spec answers None
    space = make_space("nomlflow")
    with pytest.raises(RunError) as e:
        run_search(space, RunOptions(runs_dir=tmp_path / "runs", overrides=("tracking.mlflow.uri=sqlite:///x.db",)))
    assert str(e.value).splitlines() == [f"{space}: tracking.mlflow needs MLflow, which is not installed: "
                                         "pip install 'wrnsearch[mlflow]'"]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("status, expected", [
    (Status.COMPLETE, FINISHED), (Status.PRUNED, KILLED), (Status.TRUNCATED, KILLED), (Status.INTERRUPTED, KILLED),
    (Status.DIVERGED, FAILED), (Status.OUT_OF_MEMORY, FAILED), (Status.FAILED, FAILED),
])
def test_a_trials_mlflow_state(status, expected):
    assert mlflow_status(status) == expected


def test_the_tracking_section_defaults_and_errors():
    space = load_space("spaces/quickstart.yaml")
    assert space.tracking.tensorboard is True and space.tracking.mlflow is None
    assert load_space("spaces/quickstart.yaml", ["tracking.mlflow={}"]).tracking.mlflow.uri is None
    with pytest.raises(Exception, match=r"tracking.mlfow: unknown key 'mlfow' \(did you mean 'mlflow'\?\)"):
        load_space("spaces/quickstart.yaml", ["tracking.mlfow.uri=x"])
