"""The search end to end: real Ray, a real SQLite study, synthetic data, resume after SIGKILL."""

from __future__ import annotations

import json
import signal
import subprocess
from collections import Counter
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from tests.procs import kill_group, wait_for, wrnsearch_exe
from tests.studies import load
from wrnsearch.cli import main
from wrnsearch.search import RunOptions, run_search
from wrnsearch.search._stop_decisions import TIME_REASON
from wrnsearch.space import iter_specs, load_space, space_cost
from wrnsearch.study import count_outcomes, counts_as_trained, is_feasible

pytestmark = pytest.mark.slow

def test_real_search_fills_the_study(tmp_path, make_space, local_ray):
    space = make_space(search={"max_concurrent": 2})
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


def _count_trained(db: Path, name: str) -> int:
    if not db.exists():
        return 0
    try:
        return sum(counts_as_trained(t) for t in load(db.parent, name).get_trials(deepcopy=False))
    except Exception:  # noqa: BLE001 - the study may not exist yet
        return 0


def test_run_refuses_a_second_driver(tmp_path, make_space):
    space = make_space("l")
    from wrnsearch.errors import RunError
    from wrnsearch.study import RunLock, prepare_run_dir

    _, run_dir = prepare_run_dir(space, runs_dir=tmp_path / "runs")
    with RunLock(run_dir):
        with pytest.raises(RunError, match="in use by another wrnsearch run"):
            run_search(space, RunOptions(runs_dir=tmp_path / "runs"))


def test_asha_prunes_and_pruned_trials_stay_out_of_the_front(tmp_path, make_space, local_ray):
    # the trainer is replaced by one whose validation error is a fixed function of the spec, so
    # that ASHA's decisions do not hang on what a tiny network happens to learn in one epoch
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tests.trainables import scripted_wrn_trial

    space = make_space("a", budget={"max_trials": 8}, train={"epochs": 4},
                       search={"sampler": "random", "max_concurrent": 1, "scheduler": "asha",
                               "asha": {"grace_period": 1, "reduction_factor": 2}})
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


def test_no_trial_is_started_that_the_time_budget_would_cut(tmp_path, make_space, local_ray):
    """budget.time: once a trial takes longer than the time left, none is started (it would be cut
    unfinished, off the front); every trial the run started finishes."""
    from tests.trainables import SLEEPY_TRIAL_S, sleepy_trial

    space = make_space("t", budget={"max_trials": 40, "time": "20s"}, search={"sampler": "random", "max_concurrent": 1})
    result = run_search(space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2), trainable=sleepy_trial)
    trials = [t for t in load(result.run_dir, "t").trials if counts_as_trained(t)]
    assert trials and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials), \
        [(t.number, t.state, t.user_attrs.get("prune_reason")) for t in trials]
    # the budget, not max_trials, ended it: as predicted, or (a loaded machine's cold start using
    # up the 20 s before the searcher asked again) with the budget spent when it asked
    assert result.stop_reason == TIME_REASON or (result.stop_reason.startswith("budget.time: ")
                                                 and "less than a trial takes here" in result.stop_reason), \
        result.stop_reason
    assert len(trials) < 20 / SLEEPY_TRIAL_S
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
    if result.stop_reason == TIME_REASON:
        return
    left_s = float(result.stop_reason.split("budget.time: ")[1].split(" s left")[0])
    stop_predicted_s = float(result.stop_reason.split("about ")[1].split(" s")[0])
    assert stop_predicted_s >= SLEEPY_TRIAL_S / 2 and stop_predicted_s > left_s - 1, result.stop_reason


def test_resume_command_continues_a_finished_run(tmp_path, quick_run, local_ray):
    run_dir = quick_run.copy_to(tmp_path / "runs")  # a finished run of 2 trials (it ended on budget.max_trials)
    # the command in this process, on the worker's Ray (a resume in a process of its own is the
    # reliability suite's: tests/reliability/test_driver_kill.py)
    more = CliRunner().invoke(main, ["resume", str(run_dir), "--set", "budget.max_trials=3", "--quiet"])
    assert more.exit_code == 0, more.output[-2000:]
    events = [json.loads(line) for line in more.stdout.splitlines()]
    assert events[0]["event"] == "run" and events[0]["trained_before"] == 2
    trials = load(run_dir, quick_run.name).get_trials(deepcopy=False)
    assert sum(counts_as_trained(t) for t in trials) == 3
    changed = subprocess.run([wrnsearch_exe(), "resume", str(run_dir), "--set", "train.epochs=5"],
                             capture_output=True, text=True, timeout=120)
    assert changed.returncode == 2 and "was run with a different train section" in changed.stderr


def test_ctrl_c_interrupts_cleanly_and_resume_finishes(tmp_path, make_space, local_ray):
    space = make_space("c", dataset={"train_size": 512}, budget={"max_trials": 4}, train={"epochs": 3},
                       search={"max_concurrent": 2})  # two trials in flight when Ctrl-C lands
    runs = tmp_path / "runs"
    cmd = [wrnsearch_exe(), "run", str(space), "--runs-dir", str(runs)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: _count_trained(runs / "c" / "study.db", "c") >= 1, 240, "a finished trial", proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        kill_group(proc)
    assert proc.returncode == 130, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last == "wrnsearch: interrupted; finished trials are kept, run the same command again to resume"
    trials = load(runs / "c", "c").get_trials(deepcopy=False)
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    interrupted = [t for t in trials if t.user_attrs.get("status") == "interrupted" and t.params]
    queued = [t for t in trials if t.state == optuna.trial.TrialState.WAITING]
    assert len(queued) == len(interrupted)  # in-flight trials wait to be run again, not lost as pruned
    # the same command again, in this process on the worker's Ray (the interrupted run was the
    # process the signal had to reach)
    again = CliRunner().invoke(main, [*cmd[1:], "--quiet"])
    assert again.exit_code == 0, again.output[-2000:]
    trained = [t for t in load(runs / "c", "c").get_trials(deepcopy=False) if counts_as_trained(t)]
    assert len(trained) == 4
    assert Counter(t.user_attrs["key"] for t in trained).most_common(1)[0][1] == 1


def test_a_real_search_with_the_default_sampler(tmp_path, make_space, local_ray):
    # ehvi (the default) through Ray Tune: two at a time, never the same architecture twice, every
    # proposal within budget, the model used after the start-up trials
    space = make_space("e", train={"epochs": 1}, search={"sampler": "ehvi"})
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
