"""The live view in a terminal: each running trial's progress within its epoch, from the file its
worker writes (search/_epoch_progress.py), and the search's ETA against its budget; off a terminal,
a line per event as it happens."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import time

import pytest
from rich.console import Console

from wrnsearch.cli._live_view import LiveView
from wrnsearch.search import (
    EpochReported,
    PhaseStarted,
    ProgressFile,
    RunEnded,
    RunProgress,
    RunStarted,
    TrialDone,
    TrialStarted,
    fraction_done,
    read_progress,
    trial_eta_s,
)


def _screen(view: LiveView) -> str:
    out = Console(file=io.StringIO(), width=150, color_system=None)
    out.print(view._render())
    return out.file.getvalue()


def test_the_view_shows_each_running_trial_and_the_search_eta(tmp_path):
    view = LiveView(console=Console(file=io.StringIO(), width=150, color_system=None))
    progress = RunProgress(max_trials=4, time_budget_s=900)
    run_dir = tmp_path / "runs" / "q"
    view.on_event(RunStarted(str(run_dir), "sqlite:///x", resumed=False, found=0, reconciled=[], trained_before=0),
                  progress)
    for number, arch in ((3, "WRN-10-3"), (4, "WRN-10-2-B(3,1)")):
        progress.running += 1
        view.on_event(TrialStarted(number, arch, params=677274, epochs=3, waited_s=0.0), progress)
    view.on_event(EpochReported(4, "WRN-10-2-B(3,1)", epoch=1, val_error=71.5), progress)
    (run_dir / "progress").mkdir(parents=True)
    # trial 3: half of its training done (epoch 2 of 3, minibatch 25 of 50) in 30 s: 30 s left
    (run_dir / "progress" / "3.json").write_text(json.dumps({
        "number": 3, "arch": "WRN-10-3", "phase": "training", "epoch": 2, "epochs": 3, "step": 25, "steps": 50,
        "images_per_s": 312.4, "val_error": 66.8, "training_since": time.time() - 30, "done_at_start": 0.0}))
    # one trial of this run took 60 s; trial 4 wrote no file (a node without the run directory)
    view.durations = [60.0]
    progress.done = 1
    screen = _screen(view)
    line3 = next(line for line in screen.splitlines() if "#3 WRN-10-3" in line)
    assert re.search(r"epoch 2/3 █{6}░{6}\s+50%\s+312 img/s\s+val 66\.8%\s+ETA 0:00:(29|30)", line3), line3
    line4 = next(line for line in screen.splitlines() if "#4 WRN-10-2-B(3,1)" in line and "started" not in line)
    assert "epoch 1/3" in line4 and "val 71.5%" in line4 and "ETA" not in line4, line4
    # the search: the running trials' ends (30 s, and 60 s less trial 4's age for the one without a file),
    # then 4 - 1 trained - 2 running = 1 trial in rounds of 2 at 60 s: about 2 minutes
    eta = re.search(r"search ETA ~0:(\d\d):(\d\d)", screen)
    assert eta and 115 <= int(eta[1]) * 60 + int(eta[2]) <= 120, screen
    assert "0:00:00 / 15m" in screen or re.search(r"0:00:0\d / 15m", screen)
    # a trial that ends leaves the view's running rows
    progress.running -= 1
    view.on_event(TrialDone(3, "WRN-10-3", val_error=49.8, test_error=51.8, latency_ms=250.5, latency_infer_ms=3.2),
                  progress)
    screen = _screen(view)
    assert not any("#3 WRN-10-3" in line and "epoch" in line for line in screen.splitlines())
    assert "#3 WRN-10-3 done: val error 49.80%" in screen and len(view.durations) == 2


def test_a_worker_writes_its_progress_throttled_and_atomically(tmp_path):
    folder = tmp_path / "progress"
    writer = ProgressFile(folder, 7, "WRN-16-2", epochs=2, batch=64, interval_s=3600)
    assert read_progress(folder, 7)["phase"] == "starting"  # written at once, before any minibatch
    writer.step(1, 1, 10)
    writer.step(1, 2, 10)
    assert read_progress(folder, 7)["phase"] == "starting"  # within the interval: not written
    writer.epoch_done(1, 70.5)  # an epoch's end is always written
    seen = read_progress(folder, 7)
    assert (seen["phase"], seen["epoch"], seen["step"], seen["val_error"]) == ("training", 1, 2, 70.5)
    assert seen["images_per_s"] > 0 and fraction_done(seen) == 0.1
    writer.step(2, 10, 10)  # the last minibatch: evaluation follows, written at once
    seen = read_progress(folder, 7)
    assert (seen["phase"], seen["epoch"], fraction_done(seen)) == ("evaluating", 2, 1.0)
    assert trial_eta_s(seen) == 0.0
    assert [p.name for p in folder.iterdir()] == ["7.json"]  # no temporary file left behind


def test_a_resumed_trial_extrapolates_from_its_own_progress(tmp_path):
    writer = ProgressFile(tmp_path, 1, "WRN-10-1", epochs=4, batch=32, interval_s=0)
    writer.step(3, 1, 10)  # resumed after epoch 2 of 4: half was done before this worker began
    state = dict(read_progress(tmp_path, 1), training_since=time.time() - 10)
    state.update(epoch=3, step=10)  # 3 of 4 epochs now: a quarter done in 10 s, a quarter left
    assert abs(state["done_at_start"] - 0.5) < 1e-9
    assert abs(trial_eta_s(state, now=state["training_since"] + 10) - 10 * 0.25 / 0.25) < 1e-6


def test_an_unwritable_folder_disables_the_file_quietly(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    writer = ProgressFile(blocker, 1, "WRN-10-1", epochs=1, batch=8)
    writer.step(1, 1, 1)
    assert writer.path is None and read_progress(blocker, 1) is None


def test_off_a_terminal_each_event_is_a_timestamped_line_and_progress_ticks():
    from wrnsearch.cli._live_view import PlainView

    out = io.StringIO()
    progress = RunProgress(max_trials=2, time_budget_s=60)
    with PlainView(stream=out, every_s=0.3) as view:
        view.on_event(RunStarted("runs/q", "sqlite:///q.db", resumed=False, found=0, reconciled=[], trained_before=0),
                      progress)
        view.on_event(TrialStarted(0, "WRN-10-1", params=77460, epochs=3, waited_s=0.0), progress)
        time.sleep(1.0)  # nothing said for 1 s: progress lines every 0.3 s
        progress.done, progress.front_size, progress.best_error = 1, 1, 55.0
        view.on_event(TrialDone(0, "WRN-10-1", val_error=55.0, test_error=56.0, latency_ms=30.2, latency_infer_ms=0.7),
                      progress)
        progress.started -= 100  # now past budget.time: the line says why the run goes on
        view.on_event(PhaseStarted("timing the front's latencies alone"), progress)
        view.on_event(RunEnded("budget.time reached"), progress)
    lines = out.getvalue().splitlines()
    assert all(re.match(r"\d\d:\d\d:\d\d ", line) for line in lines), lines
    texts = [line[9:] for line in lines]
    assert texts[0] == "run runs/q  study sqlite:///q.db" and texts[1] == "#0 WRN-10-1 started (77,460 params)"
    assert not any("resumed" in t for t in texts)  # a fresh run says nothing of resuming
    ticks = [t for t in texts[2:texts.index("#0 WRN-10-1 done: val error 55.00%, latency 30.2 ms")]]
    assert 2 <= len(ticks) <= 4 and all(t.startswith("progress: done 0") and "(trained 0 of 2)" in t for t in ticks)
    after_done = texts[texts.index("#0 WRN-10-1 done: val error 55.00%, latency 30.2 ms") + 1]
    assert after_done.startswith("progress: done 1") and "front 1 trial(s), best validation error 55.00%" in after_done
    last = texts[-1]
    assert re.search(r"elapsed 0:01:4\d / 1m \(budget\.time reached: timing the front's latencies alone\)", last), last
    assert texts[-2] == "finished: budget.time reached"


def test_a_resume_says_what_it_found():
    from wrnsearch.cli._live_view import event_line

    assert event_line(RunStarted("runs/q", "sqlite:///q.db", resumed=False, found=0, reconciled=[],
                                 trained_before=0)) is None
    line = event_line(RunStarted("runs/q", "sqlite:///q.db", resumed=True, found=5, reconciled=[4], trained_before=3))
    assert line == "resumed: 5 trial(s) found in the study, 3 of them trained, 1 interrupted trial(s) queued again"


def test_the_panel_the_plain_lines_and_the_json_lines_read_the_same_event_objects():
    """One typed event, three consumers: its JSON line carries its kind and every field in declared
    order with the counts; the plain line and the panel's line are the same text; a stopped trial's
    kind is its status (pruned or truncated), which the JSON's "event" and the line both say."""
    from wrnsearch.cli._live_view import PlainView, event_line, json_line
    from wrnsearch.search import TimedAlone, TrialReused, TrialStopped

    progress = RunProgress(max_trials=3)
    for event, line in (
            (TrialStopped(2, "WRN-16-1", status="truncated", epochs=1, reason="trial_time reached"),
             "#2 WRN-16-1 truncated: trial_time reached"),
            (TrialReused(5, "WRN-10-1", reused_from=1), "#5 WRN-10-1 already trained (trial 1): result reused"),
            (TimedAlone("WRN-10-1", {"latency_ms": 12.25, "latency_infer_ms": 0.5, "device": "cpu"}),
             "WRN-10-1 timed alone: latency 12.2 ms, inference 0.50 ms")):
        as_json = json.loads(json_line(event, progress))
        assert as_json["event"] == event.kind and list(as_json)[2:-1] == list(event.to_dict())
        assert as_json["progress"]["max_trials"] == 3 and event_line(event) == line
        out = io.StringIO()
        with PlainView(stream=out, every_s=3600) as plain:
            plain.on_event(event, progress)
        assert out.getvalue().splitlines()[0][9:] == line
        panel = LiveView(console=Console(file=io.StringIO(), width=150, color_system=None))
        panel.on_event(event, progress)
        assert list(panel.events) == [line]
        panel.__exit__(None, None, None)
    assert json.loads(json_line(TrialStopped(2, "WRN-16-1", "pruned", 1, "rung 1")))["event"] == "pruned"


@pytest.mark.slow
def test_run_piped_to_a_log_shows_each_trial_as_it_happens(tmp_path, make_space):
    """``wrnsearch run ... | cat``: the lines arrive while the run goes on, not in one piece at its end."""
    import subprocess
    import threading

    from tests.procs import wrnsearch_exe

    space = make_space("p", budget={"max_trials": 2}, search={"sampler": "random"})
    proc = subprocess.Popen([wrnsearch_exe(), "run", str(space), "--runs-dir", str(tmp_path / "runs"),
                             "--set", "search.max_concurrent=1", "--set", "search.enqueue=[WRN-10-1]"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    seen: list[tuple[str, bool]] = []  # each line, and whether the run was still going when it arrived

    def read() -> None:
        for line in proc.stdout:
            seen.append((line.rstrip("\n"), proc.poll() is None))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert proc.wait(timeout=300) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    reader.join(timeout=10)
    texts = [text[9:] for text, _ in seen]
    live = [text[9:] for text, running in seen if running]
    assert texts[0].startswith("run ") and not any("resumed" in t for t in texts), texts  # enqueued is not found
    # the forecast, said once before the first trial starts (wrnsearch plan in one line)
    plans = [i for i, t in enumerate(texts) if t.startswith("plan: on cpu (")]
    assert len(plans) == 1 and plans[0] < texts.index("#0 WRN-10-1 started (77,460 params)"), texts
    assert re.search(r"1 at once; a trial .+ \(median .+\); 2 trials in about ", texts[plans[0]]), texts[plans[0]]
    assert any(t == "#0 WRN-10-1 started (77,460 params)" for t in live), seen
    done = [t for t in live if re.match(r"#[01] \S+ done: val error", t)]
    assert len(done) >= 1, seen  # the first trial's end arrived before the second trial's
    assert any(t.startswith("progress: done 1") for t in live), seen
    assert [t for t in texts if t.startswith("finished: ")] == ["finished: budget.max_trials reached (2)"]
    assert any("report.html" in text for text, _ in seen)  # then the outputs, as before
