"""The search end to end: real Ray, a real SQLite study, synthetic data, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from tests.procs import wrnsearch_exe

from wrnsearch.search import RunOptions, run_search
from wrnsearch.space import iter_specs, load_space, space_cost
from wrnsearch.study import count_outcomes, counts_as_trained, is_feasible

pytestmark = pytest.mark.slow

SPACE = """\
name: {name}
dataset: {{name: synthetic, num_classes: 4, resolution: 16, train_size: {train_size}, test_size: 64, val_size: 64}}
space:
  depth: [10, 16]
  widen_factor: [1, 2, 3]
  block: ["B(3,3)", "B(3,1)"]
budget: {{max_trials: {max_trials}, max_params: 600K}}
train: {{epochs: {epochs}, batch_size: 64, lr: 0.05}}
search: {{sampler: {sampler}, seed: 1, n_startup_trials: 4, max_concurrent: 2}}
resources: {{cpus_per_trial: 1}}
"""


def write_space(tmp_path: Path, name="s", max_trials=6, epochs=2, train_size=256, sampler="tpe") -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(SPACE.format(name=name, max_trials=max_trials, epochs=epochs, train_size=train_size, sampler=sampler))
    return p


def load(run_dir: Path, name: str) -> optuna.Study:
    """Read-only, as a reader during a search must: optuna.load_study would create Optuna's
    tables if they were missing, racing the driver that is creating them."""
    from wrnsearch.study import load_study

    return load_study(storage=f"sqlite:///{run_dir / 'study.db'}", study_name=name)


def test_real_search_fills_the_study(tmp_path, local_ray):
    space = write_space(tmp_path)
    events = []
    result = run_search(space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2),
                        on_event=lambda event, progress: events.append((event.kind, event.to_dict(), progress.running)))
    study = load(result.run_dir, "s")
    trials = study.get_trials(deepcopy=False)
    trained = [t for t in trials if counts_as_trained(t)]
    assert len(trained) == 6
    assert max(r for _, _, r in events) == 2  # two at a time
    assert Counter(t.user_attrs["key"] for t in trained).most_common(1)[0][1] == 1  # nothing trained twice
    assert study.metric_names == ["error", "params", "latency_ms"]
    assert study.user_attrs["dataset"] == "synthetic" and study.user_attrs["space"]["name"] == "s"
    for t in trained:
        a = t.user_attrs
        assert t.state == optuna.trial.TrialState.COMPLETE and a["status"] == "complete"
        assert t.values == [a["val_error"], float(a["params"]), a["latency_ms"]]
        assert t.intermediate_values == {e["epoch"]: e["val_error"] for e in a["curve"]}  # the learning curve
        assert a["params"] <= 600_000 and a["epochs"] == 2 and len(a["curve"]) == 2
        for key in ("arch", "macs", "device", "test_error", "wall_time_s", "node", "images_per_s", "spec"):
            assert key in a, key
    for t in trials:
        if not is_feasible(t):
            assert t.user_attrs["infeasible_reason"].startswith("params")
            assert t.user_attrs["params"] > 600_000
        if "reused_from" in t.user_attrs:
            source = study.trials[t.user_attrs["reused_from"]]
            assert t.values == source.values and t.user_attrs["arch"] == source.user_attrs["arch"]
    assert count_outcomes(trials)["running"] == 0
    assert (result.run_dir / "space.yaml").exists()
    assert result.stop_reason.startswith("budget.max_trials")
    # checkpoints of every trained architecture are in the run directory
    assert len(list((result.run_dir / "checkpoints").iterdir())) == 6


def _wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _count_trained(db: Path, name: str) -> int:
    if not db.exists():
        return 0
    try:
        return sum(counts_as_trained(t) for t in load(db.parent, name).get_trials(deepcopy=False))
    except Exception:  # noqa: BLE001 - the study may not exist yet
        return 0


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_dashboard_command_needs_a_run(tmp_path):
    proc = subprocess.run([wrnsearch_exe(), "dashboard", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "holds no study.db" in proc.stderr and proc.stderr.count("\n") == 1


def test_run_refuses_a_second_driver(tmp_path):
    space = write_space(tmp_path, name="l")
    from wrnsearch.errors import RunError
    from wrnsearch.study import RunLock, prepare_run_dir

    _, run_dir = prepare_run_dir(space, runs_dir=tmp_path / "runs")
    with RunLock(run_dir):
        with pytest.raises(RunError, match="in use by another wrnsearch run"):
            run_search(space, RunOptions(runs_dir=tmp_path / "runs"))


def test_asha_prunes_and_pruned_trials_stay_out_of_the_front(tmp_path, local_ray):
    # the trainer is replaced by one whose validation error is a fixed function of the spec, so
    # that ASHA's decisions do not hang on what a tiny network happens to learn in one epoch
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from trainables import scripted_wrn_trial

    space = tmp_path / "a.yaml"
    space.write_text(SPACE.format(name="a", max_trials=8, epochs=4, train_size=256, sampler="random")
                     .replace("max_concurrent: 2}",
                              "max_concurrent: 1, scheduler: asha, asha: {grace_period: 1, reduction_factor: 2}}"))
    result = run_search(space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2), trainable=scripted_wrn_trial)
    study = load(result.run_dir, "a")
    trials = study.get_trials(deepcopy=False)
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    complete = [t for t in trials if counts_as_trained(t) and t.state == optuna.trial.TrialState.COMPLETE]
    assert pruned, "ASHA stopped no trial"
    for t in pruned:
        assert t.user_attrs["status"] == "pruned" and 1 <= t.user_attrs["epochs"] < 4
        assert t.user_attrs["prune_reason"] == f"stopped early after epoch {t.user_attrs['epochs']}"
        if "reused_from" in t.user_attrs:
            continue  # a copy of a pruned result: not trained, no curve of its own
        # its TensorBoard run stops where it was stopped, as its learning curve in the study does
        events = EventAccumulator(str(result.run_dir / "tensorboard" / f"{t.number}-{t.user_attrs['arch']}"))
        events.Reload()
        assert {e.step: e.value for e in events.Scalars("val_error")} == pytest.approx(t.intermediate_values)
        assert max(t.intermediate_values) == t.user_attrs["epochs"]
    assert complete and all(t.user_attrs["epochs"] == 4 for t in complete)
    from wrnsearch.pareto import front_info

    info = front_info(study)
    assert not {t.number for t in pruned} & set(info.trial_numbers)
    assert sum(counts_as_trained(t) for t in trials) == 8


def test_no_trial_is_started_that_the_time_budget_would_cut(tmp_path, local_ray):
    """budget.time: once a trial takes longer than the time left, none is started (it would be cut
    unfinished, off the front); every trial the run started finishes."""
    from trainables import SLEEPY_TRIAL_S, sleepy_trial

    space = tmp_path / "t.yaml"
    space.write_text(SPACE.format(name="t", max_trials=40, epochs=2, train_size=256, sampler="random")
                     .replace("max_trials: 40,", "max_trials: 40, time: 20s,")
                     .replace("max_concurrent: 2}", "max_concurrent: 1}"))
    result = run_search(space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2), trainable=sleepy_trial)
    trials = [t for t in load(result.run_dir, "t").trials if counts_as_trained(t)]
    assert trials and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials), \
        [(t.number, t.state, t.user_attrs.get("prune_reason")) for t in trials]
    assert result.stop_reason.startswith("budget.time: ") and "less than a trial takes here" in result.stop_reason
    assert len(trials) < 20 / SLEEPY_TRIAL_S  # the budget, not max_trials, ended it
    # each trial started after the first finished was predicted to fit in what was left (the
    # decision, checked as made; the wall clock of a loaded machine is no test of it); the
    # predictions come from trials that slept SLEEPY_TRIAL_S each
    # (on a loaded machine the first trial's cold start may leave room for no second: then the
    # stop decision below is the only one made, and it is checked the same way)
    checked = [(t.user_attrs["predicted_s"], t.user_attrs["time_left_s"])
               for t in trials if "predicted_s" in t.user_attrs]
    assert len(checked) >= len(trials) - 1, [t.user_attrs for t in trials]
    assert all(predicted <= left for predicted, left in checked), checked
    assert all(predicted >= SLEEPY_TRIAL_S / 2 for predicted, _ in checked), checked
    left_s = float(result.stop_reason.split("budget.time: ")[1].split(" s left")[0])
    stop_predicted_s = float(result.stop_reason.split("about ")[1].split(" s")[0])
    assert stop_predicted_s >= SLEEPY_TRIAL_S / 2 and stop_predicted_s > left_s - 1, result.stop_reason


def test_resume_command_continues_a_finished_run(tmp_path, local_ray):
    space = write_space(tmp_path, name="r", max_trials=2, epochs=1)
    runs = tmp_path / "runs"
    first = run_search(space, RunOptions(runs_dir=runs))  # a finished run, made in this process
    assert first.stop_reason.startswith("budget.max_trials")
    more = subprocess.run([wrnsearch_exe(), "resume", str(runs / "r"), "--set", "budget.max_trials=3", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert more.returncode == 0, more.stderr[-2000:]
    events = [json.loads(line) for line in more.stdout.splitlines()]
    assert events[0]["event"] == "run" and events[0]["trained_before"] == 2
    trials = load(runs / "r", "r").get_trials(deepcopy=False)
    assert sum(counts_as_trained(t) for t in trials) == 3
    changed = subprocess.run([wrnsearch_exe(), "resume", str(runs / "r"), "--set", "train.epochs=5"],
                             capture_output=True, text=True, timeout=120)
    assert changed.returncode == 2 and "was run with a different train section" in changed.stderr


def test_ctrl_c_interrupts_cleanly_and_resume_finishes(tmp_path):
    space = write_space(tmp_path, name="c", max_trials=4, epochs=3, train_size=512)
    runs = tmp_path / "runs"
    cmd = [wrnsearch_exe(), "run", str(space), "--runs-dir", str(runs)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _wait_for(lambda: _count_trained(runs / "c" / "study.db", "c") >= 1, 240, "a finished trial")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        _kill_group(proc)
    assert proc.returncode == 130, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last == "wrnsearch: interrupted; finished trials are kept, run the same command again to resume"
    trials = load(runs / "c", "c").get_trials(deepcopy=False)
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    interrupted = [t for t in trials if t.user_attrs.get("status") == "interrupted" and t.params]
    queued = [t for t in trials if t.state == optuna.trial.TrialState.WAITING]
    assert len(queued) == len(interrupted)  # in-flight trials wait to be run again, not lost as pruned
    again = subprocess.run([*cmd, "--quiet"], capture_output=True, text=True, timeout=600, start_new_session=True)
    assert again.returncode == 0, again.stderr[-2000:]
    trained = [t for t in load(runs / "c", "c").get_trials(deepcopy=False) if counts_as_trained(t)]
    assert len(trained) == 4
    assert Counter(t.user_attrs["key"] for t in trained).most_common(1)[0][1] == 1


def test_a_real_search_with_the_default_sampler(tmp_path, local_ray):
    # ehvi (the default) through Ray Tune: two at a time, never the same architecture twice, every
    # proposal within budget, the model used after the start-up trials
    space = write_space(tmp_path, name="e", max_trials=6, epochs=1, sampler="ehvi")
    result = run_search(space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2))
    study = load(result.run_dir, "e")
    trials = study.get_trials(deepcopy=False)
    trained = [t for t in trials if counts_as_trained(t)]
    assert len(trained) == 6 and len(trials) == 6  # no infeasible or repeated proposal
    assert len({t.user_attrs["arch"] for t in trained}) == 6
    loaded = load_space(space)
    assert loaded.search.sampler == "ehvi"
    smallest = min(space_cost(loaded, spec).params for spec in iter_specs(loaded))
    assert min(t.user_attrs["params"] for t in trained) == smallest  # its start-up begins with the smallest


def test_a_proposal_too_long_for_the_time_left_is_neither_started_nor_stored(tmp_path):
    """Near the end of budget.time, a proposal predicted (from this run's finished trials, by its
    MACs) not to finish is not started and leaves no trial in the study: no FAIL that every Optuna
    tool would show as a failure. ehvi ranks only the architectures that fit, so it proposes each
    of them and then stops; random search gets three tries. The stop says why."""
    import time as clock

    from ray.tune.search import Searcher

    from wrnsearch.search import RunProgress, StudySearcher
    from wrnsearch.study import Outcome, open_study, outcome_of

    for sampler in ("ehvi", "random"):
        space = load_space(write_space(tmp_path, name=sampler, max_trials=30, sampler=sampler), ["budget.time=100s"])
        study = open_study(space, f"sqlite:///{tmp_path / sampler}.db")
        progress = RunProgress(time_budget_s=100, max_trials=30)
        progress.started = clock.monotonic() - 84  # 16 s left
        searcher = StudySearcher(space, study, progress, None, allowed=30)
        # finished here: 7 s at 2M MACs, 28 s at 8M: 3.5 s per million MACs, so up to 4.6M fit in 16 s
        searcher.proposals.finished_costs = [(2e6, 7.0), (8e6, 28.0)]
        launched = []
        while (config := searcher.suggest(f"t{len(launched)}")) not in (None, Searcher.FINISHED):
            searcher.started(f"t{len(launched)}")  # Tune starts each on a node (the next waits for that)
            launched.append(config)
            assert len(launched) < 30
        trials = study.get_trials(deepcopy=False)
        assert not [t for t in trials if t.state == optuna.trial.TrialState.FAIL], sampler
        assert re.match(r"budget\.time: 1[0-6] s left, less than a trial takes here", searcher.stop_reason or "")
        started = [t for t in trials if outcome_of(t) == Outcome.RUNNING]  # and followers of the same
        assert len(started) >= len(launched) >= 1 and all(t.user_attrs["macs"] <= 4.6e6 for t in started)
        numbers = {c["number"] for c in launched}
        assert all(t.user_attrs["predicted_s"] <= 16 for t in started if t.number in numbers)
        if sampler == "ehvi":  # WRN-10-1 (3.1M MACs at 16 px), WRN-10-1-B(3,1) and WRN-16-1-B(3,1)
            fitting = {s.name for s in iter_specs(space) if space_cost(space, s).macs <= 4.6e6}
            assert {t.user_attrs["arch"] for t in started} == fitting and len(trials) == len(fitting) == 3
            # why: the quickest architecture left, WRN-10-2-B(3,1) (4.83M MACs), not the one ranked first
            assert "(about 17 s, predicted" in searcher.stop_reason
