"""The search: Optuna proposes, Ray Tune trains, the Optuna study keeps every result.

``run_search`` opens (or creates) the run directory and its study, starts a local Ray or joins a
cluster, and hands Ray Tune a :class:`StudySearcher`: a Tune searcher that asks the Optuna study
for architectures and tells it every outcome. It does what Ray's own ``OptunaSearch`` does not:

- over-budget specs are told as infeasible at once and never reach Tune;
- an architecture already trained with the same recipe is not trained again: its result is
  copied to the new trial (``reused_from``), and a proposal equal to one in flight waits for it;
- pruned (ASHA), truncated (trial time limit), diverged and out-of-memory trials are recorded with
  their state and reason, and never enter the front;
- the study is the whole state: a resumed run (same command, or ``wrnsearch resume RUN_DIR``)
  reconciles trials a killed driver left RUNNING (marked failed as interrupted, and queued again
  so they continue from their checkpoint), counts what is finished, and goes on. Ray Tune's own
  restore is not used (it has lost searcher state across releases).

Only the driver writes the study (SQLite takes one writer); trials report to Tune, the searcher
tells Optuna. SQLite runs in WAL mode so that readers such as optuna-dashboard never block it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from wrnsearch import __version__
from wrnsearch.errors import RunError, WRNSearchError
from wrnsearch.sampling import (
    INFEASIBLE_ATTR,
    is_feasible,
    make_sampler,
    propose,
    tell_infeasible,
    write_trial_attrs,
)
from wrnsearch.space import Space, drop_retired_keys, load_space, space_size
from wrnsearch.spec import WRNSpec

log = logging.getLogger(__name__)

SPACE_FILE = "space.yaml"
STUDY_FILE = "study.db"
LOCK_FILE = ".lock"
INTERRUPTED = "interrupted: the driver stopped while this trial ran"
MAX_FREE_PROPOSALS = 500  # consecutive infeasible / already-trained proposals before giving up

# user attributes copied from a trial's record into the study (see docs/study.md)
RECORD_ATTRS = ("arch", "spec", "params", "macs", "activation_bytes", "status", "val_error", "test_error", "latency_ms",
                "images_per_s", "peak_memory_bytes", "device", "node", "epochs", "epochs_budget", "wall_time_s",
                "curve", "dataset_split", "torch", "resumed_from_epoch", "node_ip", "node_id")


@dataclass(frozen=True)
class RunOptions:
    """How to run a space: where, on what, with which overrides."""

    name: str | None = None  # default: the space's name
    runs_dir: Path = Path("runs")
    run_dir: Path | None = None  # overrides runs_dir/name (used by resume)
    storage: str | None = None  # Optuna storage URL; default SQLite in the run directory
    address: str | None = None  # Ray cluster address; None starts a local Ray
    data_root: str | None = None
    overrides: tuple[str, ...] = ()
    num_cpus: int | None = None  # for a local Ray; default all cores
    preflight_data: bool = True  # check the data set is there before starting (local runs)


@dataclass
class RunProgress:
    """Counts the live view shows; updated by the searcher in the driver."""

    started: float = field(default_factory=time.monotonic)
    time_budget_s: float | None = None
    max_trials: int = 0
    done: int = 0
    running: int = 0
    pruned: int = 0
    failed: int = 0
    infeasible: int = 0
    reused: int = 0
    front_size: int = 0
    best_error: float | None = None
    finished_before: int = 0  # trained trials found in the study at start (resume)
    last_event: str = ""
    results: list[tuple[list[float], float]] = field(default_factory=list)  # (objective values, val error) of the front's candidates

    @property
    def trained(self) -> int:
        return self.done + self.pruned + self.failed

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def to_dict(self) -> dict[str, Any]:
        return {
            "elapsed_s": round(self.elapsed_s, 1), "time_budget_s": self.time_budget_s, "max_trials": self.max_trials,
            "done": self.done, "running": self.running, "pruned": self.pruned, "failed": self.failed,
            "infeasible": self.infeasible, "reused": self.reused, "front_size": self.front_size,
            "best_error": self.best_error,
        }


EventCallback = Callable[[str, dict[str, Any], RunProgress], None]


# --------------------------------------------------------------------------------------------
# Run directory and study


def trial_key(space: Space, spec: WRNSpec) -> str:
    """Identity of "this architecture with this recipe on this data": equal keys are trained once."""
    dataset = space.dataset.model_dump(mode="json", exclude={"root", "download"})
    recipe = space.train.model_dump(mode="json", exclude={"eval_batch_size"})
    blob = json.dumps({"spec": spec.to_dict(), "recipe": recipe, "dataset": dataset}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def storage_url(run_dir: Path, storage: str | None) -> str:
    return storage or f"sqlite:///{(run_dir / STUDY_FILE).resolve()}"


def open_storage(url: str, *, create_tables: bool = True) -> optuna.storages.BaseStorage:
    """An RDB storage; SQLite in WAL mode with a generous lock timeout (readers never block us).

    Readers pass ``create_tables=False``: only the driver creates Optuna's tables.
    """
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            import sqlite3

            with sqlite3.connect(path, timeout=60) as con:
                con.execute("PRAGMA journal_mode=WAL")
        except (OSError, Exception) as e:  # sqlite3.OperationalError on read-only or full disks
            raise RunError(f"cannot open the study database {path}: {e}") from None
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}},
                                          skip_table_creation=not create_tables)
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as e:  # noqa: BLE001 - any driver error becomes one line
        raise RunError(f"cannot open storage {url.split('@')[-1]}: {' '.join(str(e).split())[:200]}") from None


class RunLock:
    """One driver per run directory: an flock on ``RUN_DIR/.lock``, released when the process dies."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise RunError(f"{self.path.parent} is in use by another wrnsearch run (lock {self.path}); wait for it or use --name") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)


def prepare_run_dir(space_path: str | Path | None, options: RunOptions) -> tuple[Space, Path]:
    """Load and validate the space, then create (or check) the run directory."""
    space, run_dir = resolve_run(space_path, options)
    write_run_dir(space, run_dir)
    return space, run_dir


def resolve_run(space_path: str | Path | None, options: RunOptions) -> tuple[Space, Path]:
    """The validated space and its run directory, writing nothing (bad input leaves nothing behind)."""
    if options.run_dir is not None and space_path is None:
        saved = options.run_dir / SPACE_FILE
        if not saved.exists():
            raise RunError(f"{options.run_dir} is not a run directory (no {SPACE_FILE}); start one with: wrnsearch run SPACE.yaml")
        space = load_space(saved, options.overrides)
        run_dir = options.run_dir
    else:
        space = load_space(space_path, options.overrides)
        if options.name:
            import re

            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", options.name):
                raise RunError(f"--name {options.name!r}: use letters, digits, '.', '_' and '-' (it names a directory)")
            space = space.model_copy(update={"name": options.name})
        run_dir = options.run_dir or Path(options.runs_dir) / space.name
    run_dir = Path(run_dir)
    saved = run_dir / SPACE_FILE
    if saved.exists():
        old = drop_retired_keys(yaml.safe_load(saved.read_text()))  # as an earlier version wrote it
        new = space.to_yaml_dict()
        for section in ("dataset", "objectives", "train"):
            if old.get(section) != new.get(section):
                raise RunError(
                    f"{run_dir} was run with a different {section} section; results would not be comparable: "
                    f"start a new run with --name, or resume as it was with: wrnsearch resume {run_dir}"
                )
    return space, run_dir


def write_run_dir(space: Space, run_dir: Path) -> None:
    """Create the run directory and save the resolved space in it (atomically)."""
    saved = run_dir / SPACE_FILE
    resolved = yaml.safe_dump(space.to_yaml_dict(), sort_keys=False)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = saved.with_suffix(".yaml.tmp")
        tmp.write_text(resolved)
        os.replace(tmp, saved)
    except OSError as e:
        raise RunError(f"cannot write the run directory {run_dir}: {e.strerror}") from None


def open_study(space: Space, url: str, *, create: bool = True, attempts: int = 5) -> optuna.Study:
    """Create or load the study named after the space; check its objectives match.

    A reader that opens the database at the moment the driver creates it (optuna-dashboard
    creates Optuna's tables when they are missing) can make the creation fail once with a
    lock or "table already exists" error: such errors are retried.
    """
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            return _open_study_once(space, url, create)
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError) as e:
            if attempt == attempts - 1:
                raise RunError(f"cannot open the study in {url}: {' '.join(str(e.orig if hasattr(e, 'orig') else e).split())[:200]}") from None
            log.warning("opening the study failed (%s); retrying", type(e).__name__)
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _open_study_once(space: Space, url: str, create: bool) -> optuna.Study:
    storage = open_storage(url)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=space.name, storage=storage, sampler=make_sampler(space))
    except KeyError:
        if not create:
            raise RunError(f"no study named {space.name!r} in {url}") from None
        study = optuna.create_study(study_name=space.name, storage=storage, directions=space.directions,
                                    sampler=make_sampler(space))
        study.set_metric_names(list(space.objectives))
        study.set_user_attr("space", space.to_yaml_dict())
        study.set_user_attr("objectives", list(space.objectives))
        study.set_user_attr("dataset", space.dataset.name)
        study.set_user_attr("wrnsearch_version", __version__)
        return study
    names = study.metric_names or []
    if list(names) != list(space.objectives):
        raise RunError(f"study {space.name!r} in {url} has objectives {names}, the space asks for {space.objectives}: use another --name")
    return study


def reconcile_running(study: optuna.Study) -> list[int]:
    """Trials a killed driver left RUNNING: mark them failed (interrupted) and queue them again.

    Called under the run lock, so no other driver can be running them. The queued copy carries
    the same parameters and resumes from the architecture's checkpoint.
    """
    numbers = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(t._trial_id, "fail_reason", INTERRUPTED)  # noqa: SLF001
        study._storage.set_trial_user_attr(t._trial_id, "status", "interrupted")  # noqa: SLF001
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        if t.params and INFEASIBLE_ATTR not in t.user_attrs and "reused_from" not in t.user_attrs:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
        numbers.append(t.number)
    return numbers


def is_interrupted(t: FrozenTrial) -> bool:
    return t.state == TrialState.FAIL and t.user_attrs.get("fail_reason") == INTERRUPTED


def counts_as_trained(t: FrozenTrial) -> bool:
    """A trial that consumed training: finished, not infeasible, not reused, not interrupted."""
    if t.state == TrialState.COMPLETE:
        return is_feasible(t) and "reused_from" not in t.user_attrs
    if t.state == TrialState.PRUNED:
        return "reused_from" not in t.user_attrs
    return t.state == TrialState.FAIL and not is_interrupted(t) and "reused_from" not in t.user_attrs


# --------------------------------------------------------------------------------------------
# The trainable (runs in Ray workers)

_SPLITS_CACHE: dict[str, Any] = {}


def _trial_device(gpus: float) -> str:
    import torch

    return "cuda" if gpus > 0 and torch.cuda.is_available() else "cpu"


def _cap_memory(extra_bytes: int) -> None:
    """Let this worker grow by ``extra_bytes`` of address space at most (CPU trials only: CUDA
    reserves large address ranges). Beyond it allocations fail and the trial is out_of_memory."""
    import resource

    with open("/proc/self/statm") as f:
        vsize = int(f.read().split()[0]) * resource.getpagesize()
    limit = vsize + int(extra_bytes)
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))


def _hit_memory_cap() -> bool:
    """True when this worker runs under a memory cap and came within 10 % of it."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return False
    try:
        with open("/proc/self/status") as f:
            peak_kib = next(int(line.split()[1]) for line in f if line.startswith("VmPeak:"))
    except (OSError, StopIteration, ValueError):
        return False
    return peak_kib * 1024 >= 0.9 * soft


def wrn_trainable(config: dict[str, Any], ctx: dict[str, Any]) -> None:
    """A Ray Tune function trainable: train one spec, report every epoch, then the whole record."""
    from ray import tune

    from wrnsearch.data import load_splits
    from wrnsearch.space import DatasetConfig, TrainConfig
    from wrnsearch.train import train_trial

    spec = WRNSpec.from_dict(config["spec"])
    try:
        dataset = DatasetConfig.model_validate(ctx["dataset"])
        recipe = TrainConfig.model_validate(ctx["train"])
        cache_key = json.dumps([ctx["dataset"], ctx["data_root"]], sort_keys=True)
        if cache_key not in _SPLITS_CACHE:  # actors are reused: load the data once per worker
            _SPLITS_CACHE.clear()
            _SPLITS_CACHE[cache_key] = load_splits(dataset, ctx["data_root"])
        splits = _SPLITS_CACHE[cache_key]

        def on_epoch(report: Any, _path: Any) -> None:
            # The last epoch is reported with the whole record below: a scheduler that stops a
            # trial on its last epoch report (ASHA at max_t) must not cut the record off.
            if report.epoch < report.epochs:
                tune.report({"epoch": report.epoch, "val_error": report.val_error, "train_loss": report.train_loss,
                             "elapsed_s": report.elapsed_s, "images_per_s": report.images_per_s})

        device = _trial_device(ctx["gpus"])
        if ctx.get("memory_per_trial") and device == "cpu":
            _cap_memory(ctx["memory_per_trial"])
        record = train_trial(
            spec, recipe, splits, device=device, time_limit_s=ctx["trial_time_s"],
            checkpoint_dir=Path(ctx["checkpoints"]) / config["key"], callback=on_epoch, threads=ctx["cpus"],
        )
    except WRNSearchError as e:  # deterministic: retrying cannot help, so report instead of raising
        record = {"name": spec.name, "status": "failed", "reason": str(e)}
    except Exception as e:  # noqa: BLE001 - a bug in a trial must not retry forever; it is recorded
        text = f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
        if _hit_memory_cap():  # allocation failures surface as odd errors from deep inside torch
            record = {"name": spec.name, "status": "out_of_memory",
                      "reason": f"out of memory under resources.memory_per_trial ({text})"}
        else:
            log.exception("trial %s failed", spec.name)
            record = {"name": spec.name, "status": "failed", "reason": text}
    from wrnsearch.cluster import current_node

    record.update(current_node().to_dict())  # node (host name), node_ip, node_id
    tune.report({"final": True, "epoch": record.get("epochs", 0), "val_error": record.get("val_error", 100.0),
                 "record": json.dumps(record, default=str)})


# --------------------------------------------------------------------------------------------
# The searcher (runs in the driver)


def _not_restorable() -> None:
    """What Tune's pickled copy of the searcher becomes: the study, not Tune, restores a run."""
    return None


class StudySearcher:
    """Factory for the Tune searcher; kept apart so that Ray is imported only when a search runs."""

    @staticmethod
    def create(space: Space, study: optuna.Study, progress: RunProgress, on_event: EventCallback | None,
               max_trials: int) -> Any:
        from ray.tune.search import Searcher

        class _Searcher(Searcher):
            def __init__(self) -> None:
                super().__init__(metric="val_error", mode="min")
                self.space, self.study, self.progress = space, study, progress
                self.on_event = on_event
                self.max_trials = max_trials  # trained trials still allowed in this run
                self.launched = 0
                self.live: dict[str, tuple[optuna.Trial, Any, str]] = {}  # tune trial id -> (optuna trial, proposal, key)
                self.leaders: dict[str, str] = {}  # key -> tune trial id training it
                self.followers: dict[str, list[optuna.Trial]] = {}  # key -> optuna trials waiting on it
                self.results: dict[str, FrozenTrial] = {}  # key -> finished trial whose result can be reused
                self.space_total = space_size(space)
                self.tried_keys: set[str] = set()
                self.stop_reason: str | None = None
                self.lock = threading.Lock()
                for t in study.get_trials(deepcopy=False):
                    key = t.user_attrs.get("key")
                    if key and t.state in (TrialState.COMPLETE, TrialState.PRUNED) and "reused_from" not in t.user_attrs:
                        self.results.setdefault(key, t)
                    if key and t.state != TrialState.WAITING and not is_interrupted(t):
                        self.tried_keys.add(key)

            def _event(self, kind: str, **data: Any) -> None:
                self.progress.last_event = f"{kind} {data.get('arch', '')}".strip()
                if self.on_event is not None:
                    self.on_event(kind, data, self.progress)

            def _finish(self, reason: str) -> Any:
                if self.stop_reason is None:
                    self.stop_reason = reason
                    log.info("no more trials: %s", reason)
                return Searcher.FINISHED

            def suggest(self, trial_id: str) -> dict[str, Any] | None:
                with self.lock:
                    return self._suggest(trial_id)

            def _suggest(self, trial_id: str) -> Any:
                if self.launched >= self.max_trials:
                    return self._finish(f"budget.max_trials reached ({self.progress.max_trials})")
                budget = self.space.budget.time
                if budget is not None and self.progress.elapsed_s >= budget:
                    return self._finish("budget.time reached")
                for _ in range(MAX_FREE_PROPOSALS):
                    if len(self.tried_keys) >= self.space_total and not self._has_waiting():
                        return self._finish(f"the space is exhausted: all {int(self.space_total)} architectures tried")
                    trial = self.study.ask()
                    keys: list[str] = []  # the key, computed once, written with the proposal's attributes

                    def key_attrs(spec: WRNSpec) -> dict[str, Any]:
                        keys.append(trial_key(self.space, spec))
                        return {"key": keys[0], "spec": spec.to_dict()}

                    proposal = propose(trial, self.space, key_attrs)
                    key = keys[0]
                    self.tried_keys.add(key)
                    if not proposal.feasible:
                        write_trial_attrs(trial, {"status": "infeasible"})
                        tell_infeasible(self.study, trial, self.space, proposal)
                        self.progress.infeasible += 1
                        self._event("infeasible", number=trial.number, arch=proposal.spec.name,
                                    reason="; ".join(proposal.violations))
                        continue
                    if key in self.results:
                        self._copy_result(trial, self.results[key])
                        continue
                    if key in self.leaders:
                        self.followers.setdefault(key, []).append(trial)
                        continue
                    self.live[trial_id] = (trial, proposal, key)
                    self.leaders[key] = trial_id
                    self.launched += 1
                    self.progress.running += 1
                    self._event("start", number=trial.number, arch=proposal.spec.name, params=proposal.cost.params)
                    return {"spec": proposal.spec.to_dict(), "key": key, "number": trial.number}
                return self._finish(f"the sampler proposed {MAX_FREE_PROPOSALS} infeasible or already-trained architectures in a row")

            def _has_waiting(self) -> bool:
                return bool(self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))

            def _copy_result(self, trial: optuna.Trial, source: FrozenTrial) -> None:
                attrs = {k: v for k, v in source.user_attrs.items() if k not in ("key", "retry_of")}
                write_trial_attrs(trial, {**attrs, "reused_from": source.number})
                self.progress.reused += 1
                if source.state == TrialState.COMPLETE:
                    self.study.tell(trial, list(source.values))
                else:
                    self.study.tell(trial, state=source.state)
                self._event("reused", number=trial.number, arch=source.user_attrs.get("arch"), reused_from=source.number)

            def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
                if trial_id in self.live and not result.get("final"):
                    trial, proposal, _ = self.live[trial_id]
                    self._event("epoch", number=trial.number, arch=proposal.spec.name, epoch=result.get("epoch"),
                                val_error=result.get("val_error"))

            def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
                with self.lock:
                    if trial_id not in self.live:
                        return
                    trial, proposal, key = self.live.pop(trial_id)
                    self.leaders.pop(key, None)
                    self.progress.running -= 1
                    frozen = self._record(trial, proposal, result, error)
                    if frozen.state in (TrialState.COMPLETE, TrialState.PRUNED):
                        self.results[key] = frozen
                    for follower in self.followers.pop(key, []):
                        if frozen.state in (TrialState.COMPLETE, TrialState.PRUNED):
                            self._copy_result(follower, frozen)
                        else:  # the leader failed: the follower is no result either
                            write_trial_attrs(follower, {"fail_reason": f"same architecture as trial {frozen.number}, which failed",
                                                         "reused_from": frozen.number})
                            self.study.tell(follower, state=TrialState.FAIL)

            def _record(self, trial: optuna.Trial, proposal: Any, result: dict[str, Any] | None, error: bool) -> FrozenTrial:
                record: dict[str, Any] = {}
                if result and result.get("final") and "record" in result:
                    record = json.loads(result["record"])
                status = record.get("status")
                if error and not record:
                    status, reason = "failed", "the trial's worker died more often than search.max_failures allows"
                elif not record:  # stopped by the scheduler (ASHA) or the search's time budget
                    status = "pruned"
                    epoch = (result or {}).get("epoch", 0)
                    reason = f"stopped early after epoch {epoch}"
                    record = {"epochs": epoch, "val_error": (result or {}).get("val_error")}
                else:
                    reason = record.get("reason")
                attrs = {"status": status, **{k: record[k] for k in RECORD_ATTRS if k in record and k not in ("arch", "spec", "status")}}
                if "dataset" in record:
                    attrs["dataset_split"] = record["dataset"]
                if status in ("pruned", "truncated"):
                    attrs["prune_reason"] = reason or status
                elif status != "complete":
                    attrs["fail_reason"] = reason or status or "failed"
                write_trial_attrs(trial, attrs)
                number = trial.number
                if status == "complete":
                    values = self._objective_values(record)
                    self.study.tell(trial, values)
                    self.progress.done += 1
                    self.progress.results.append((values, float(record["val_error"])))
                    _refresh_front(self.progress)
                    self._event("done", number=number, arch=proposal.spec.name, val_error=record.get("val_error"),
                                test_error=record.get("test_error"), latency_ms=record.get("latency_ms"))
                elif status in ("pruned", "truncated"):
                    self.study.tell(trial, state=TrialState.PRUNED)
                    self.progress.pruned += 1
                    self._event(status, number=number, arch=proposal.spec.name, epochs=record.get("epochs"), reason=reason)
                else:
                    self.study.tell(trial, state=TrialState.FAIL)
                    self.progress.failed += 1
                    self._event("failed", number=number, arch=proposal.spec.name, status=status, reason=reason)
                return self.study._storage.get_trial(trial._trial_id)  # noqa: SLF001

            def _objective_values(self, record: dict[str, Any]) -> list[float]:
                table = {"error": record["val_error"], "params": record["params"], "macs": record["macs"],
                         "latency_ms": record.get("latency_ms", math.inf)}
                return [float(table[o]) for o in self.space.objectives]

            def finish_stragglers(self, reason: str) -> None:
                """Trials Tune never completed (time budget, Ctrl-C): pruned with the reason."""
                with self.lock:
                    for trial_id, (trial, _, _) in list(self.live.items()):
                        write_trial_attrs(trial, {"status": "pruned", "prune_reason": reason})
                        self.study.tell(trial, state=TrialState.PRUNED)
                        self.progress.running -= 1
                        self.progress.pruned += 1
                        self.live.pop(trial_id)
                    for key, followers in self.followers.items():
                        for follower in followers:
                            self.study.tell(follower, state=TrialState.FAIL)
                    self.followers.clear()

            def forget_in_flight(self) -> None:
                """Forget the trials in flight and the proposals waiting on them (they stay RUNNING
                in the study, for reconcile_running to mark interrupted and queue again)."""
                with self.lock:
                    self.followers.clear()
                    self.live.clear()

            def __reduce__(self) -> tuple[Any, tuple[()]]:
                # Tune pickles its searcher for its own restore, which we never use: the study is
                # the state (and holds a database engine, locks and callbacks that cannot be pickled).
                return (_not_restorable, ())

            def save(self, checkpoint_path: str) -> None:  # the study is the state
                pass

            def restore(self, checkpoint_path: str) -> None:
                pass

        return _Searcher()


# --------------------------------------------------------------------------------------------
# Running


@dataclass
class RunResult:
    run_dir: Path
    storage: str
    study_name: str
    progress: RunProgress
    stop_reason: str | None
    reconciled: list[int]


def _init_ray(options: RunOptions, space: Space) -> bool:
    """Start a local Ray or join ``options.address``; True when we started it (and must stop it)."""
    # torch before ray: a driver that loads libtorch after joining a cluster can fail with
    # "Intel oneMKL FATAL ERROR: Cannot load libtorch_cpu.so" (seen with Ray 2.60, torch 2.14)
    import torch  # noqa: F401
    import ray

    if ray.is_initialized():
        return False
    from wrnsearch.cluster import cluster_errors

    address = options.address or os.environ.get("RAY_ADDRESS")  # RAY_ADDRESS joins a cluster, as in Ray
    if address:
        with cluster_errors(address):
            ray.init(address=address, log_to_driver=False, configure_logging=True, logging_level=logging.WARNING)
        return True
    try:
        # "local": a Ray of our own even when `ray start` left a cluster on this machine (address
        # None would join that cluster, and then refuse num_cpus)
        ray.init(address="local", num_cpus=options.num_cpus or os.cpu_count(), include_dashboard=False,
                 log_to_driver=False, configure_logging=True, logging_level=logging.WARNING)
    except Exception as e:  # noqa: BLE001 - start-up errors come in many types
        raise RunError(f"cannot start a local Ray: {' '.join(str(e).split())[:300]}") from None
    return True


def _gpus_per_trial(space: Space) -> float:
    import ray

    gpus = space.resources.gpus_per_trial
    if gpus == "auto":
        return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    return float(gpus)


def _preflight_data(space: Space, data_root: str | None) -> None:
    """Fail before any trial when a local run's data set is missing (one clear line)."""
    if space.dataset.name == "synthetic":
        return
    from wrnsearch.data import read_dataset, resolve_data_root

    read_dataset(space.dataset.name, resolve_data_root(data_root, space.dataset.root), download=space.dataset.download,
                 resolution=space.dataset.resolution)


def run_search(space_path: str | Path | None, options: RunOptions = RunOptions(), *,
               on_event: EventCallback | None = None, trainable: Callable[..., None] | None = None) -> RunResult:
    """Run (or resume) a search. See the module docstring. ``trainable`` replaces the trainer (benchmarks)."""
    space, run_dir = resolve_run(space_path, options)
    url = storage_url(run_dir, options.storage)
    if options.preflight_data and options.address is None and trainable is None:
        _preflight_data(space, options.data_root)
    write_run_dir(space, run_dir)
    with RunLock(run_dir):
        study = open_study(space, url)
        reconciled = reconcile_running(study)
        trials = study.get_trials(deepcopy=False)
        trained_before = sum(counts_as_trained(t) for t in trials)
        progress = RunProgress(time_budget_s=space.budget.time, max_trials=space.budget.max_trials,
                               finished_before=trained_before)
        for t in trials:
            state = "done" if counts_as_trained(t) and t.state == TrialState.COMPLETE else None
            if t.state == TrialState.COMPLETE and not is_feasible(t):
                progress.infeasible += 1
            elif "reused_from" in t.user_attrs and t.state != TrialState.WAITING:
                progress.reused += 1
            elif state == "done":
                progress.done += 1
            elif t.state == TrialState.PRUNED:
                progress.pruned += 1
            elif t.state == TrialState.FAIL and not is_interrupted(t):
                progress.failed += 1
        remaining = space.budget.max_trials - trained_before
        from wrnsearch.pareto import eligible_trials

        progress.results = [(list(t.values), t.user_attrs["val_error"]) for t in eligible_trials(study) if "val_error" in t.user_attrs]
        _refresh_front(progress)
        tried = {t.user_attrs.get("key") for t in trials if t.state != TrialState.WAITING and not is_interrupted(t)} - {None}
        waiting = any(t.state == TrialState.WAITING for t in trials)
        if on_event:
            on_event("run", {"run_dir": str(run_dir), "storage": url, "resumed": bool(trials),
                             "reconciled": reconciled, "trained_before": trained_before}, progress)
        stop_reason = None
        if remaining <= 0:
            stop_reason = f"budget.max_trials reached ({space.budget.max_trials})"
        elif len(tried) >= space_size(space) and not waiting:
            stop_reason = f"the space is exhausted: all {int(space_size(space))} architectures tried"
        else:
            try:
                stop_reason = _tune(space, study, run_dir, options, progress, on_event, remaining, trainable)
            except Exception as e:
                cause = _storage_failure(e)
                if cause is None:
                    raise
                raise RunError(
                    f"the study could not be written ({cause}); every trial finished before is kept in {url}: "
                    f"free disk space or fix permissions, then resume with: wrnsearch resume {run_dir}"
                ) from e
        if on_event:
            on_event("end", {"reason": stop_reason}, progress)
        return RunResult(run_dir, url, space.name, progress, stop_reason, reconciled)


def _storage_failure(e: BaseException) -> str | None:
    """A full disk, a read-only file system or a database error anywhere in ``e``'s chain."""
    import errno
    import sqlite3

    import sqlalchemy.exc

    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (sqlalchemy.exc.OperationalError, sqlite3.OperationalError, sqlalchemy.exc.DatabaseError)):
            return " ".join(str(getattr(e, "orig", e)).split())[:200]
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
            return f"{e.strerror}: {e.filename or ''}".strip(": ")
        e = e.__cause__ or e.__context__
    return None


def _refresh_front(progress: RunProgress) -> None:
    """Front size and best error of the finished results, from memory (no study read)."""
    from wrnsearch.pareto import non_dominated_mask

    points = [values for values, _ in progress.results]
    if not points:
        return
    mask = non_dominated_mask(points)
    progress.front_size = int(mask.sum())
    progress.best_error = min(error for _, error in progress.results)


def _tune(space: Space, study: optuna.Study, run_dir: Path, options: RunOptions, progress: RunProgress,
          on_event: EventCallback | None, remaining: int, trainable: Callable[..., None] | None) -> str | None:
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # our own live view replaces Tune's tables
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    started_ray = _init_ray(options, space)
    try:
        if options.address:  # a study or checkpoints on one node's disk would be lost to the others
            from wrnsearch.cluster import check_storage_for_cluster, cluster_node_count

            check_storage_for_cluster(storage_url(run_dir, options.storage), str(run_dir.resolve()), cluster_node_count())
        gpus = _gpus_per_trial(space)
        cpus = space.resources.cpus_per_trial
        searcher = StudySearcher.create(space, study, progress, on_event, remaining)
        ctx = {
            "dataset": space.dataset.model_dump(mode="json"), "train": space.train.model_dump(mode="json"),
            "data_root": str(Path(options.data_root).resolve()) if options.data_root else None,
            "checkpoints": str((run_dir / "checkpoints").resolve()), "trial_time_s": space.budget.trial_time,
            "gpus": gpus, "cpus": int(max(1, cpus)), "memory_per_trial": space.resources.memory_per_trial,
        }
        fn = trainable or wrn_trainable
        resources = {"cpu": cpus, "gpu": gpus}
        if space.search.scheduler == "asha":
            scheduler = ASHAScheduler(time_attr="epoch", metric="val_error", mode="min", max_t=space.train.epochs,
                                      grace_period=space.search.asha.grace_period,
                                      reduction_factor=space.search.asha.reduction_factor)
        else:
            scheduler = FIFOScheduler()
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(fn, ctx=ctx), resources),
            tune_config=tune.TuneConfig(
                search_alg=searcher, scheduler=scheduler, num_samples=remaining,
                max_concurrent_trials=space.search.max_concurrent, reuse_actors=space.resources.reuse_actors,
                time_budget_s=space.budget.time,
            ),
            run_config=tune.RunConfig(
                name="tune", storage_path=str((run_dir).resolve()), verbose=0,
                failure_config=tune.FailureConfig(max_failures=space.search.max_failures),
                log_to_file=True,
            ),
        )
        interrupted = False
        try:
            tuner.fit()
        except KeyboardInterrupt:
            interrupted = True
        time_up = bool(space.budget.time and progress.elapsed_s >= space.budget.time)
        # Tune handles Ctrl-C itself and returns with trials in flight: when the search's time
        # is not up, that was the user. Those trials did not fail; like a killed driver's, they
        # are marked interrupted and queued again, to continue from their checkpoints on resume.
        if interrupted or (searcher.live and not time_up and searcher.stop_reason is None):
            searcher.forget_in_flight()
            reconcile_running(study)
            raise KeyboardInterrupt
        searcher.finish_stragglers("stopped before it finished: budget.time reached")
        if searcher.stop_reason:
            return searcher.stop_reason
        if progress.finished_before + searcher.launched >= space.budget.max_trials:
            return f"budget.max_trials reached ({space.budget.max_trials})"
        if time_up:
            return "budget.time reached"
        return "all trials done"
    finally:
        if started_ray:
            ray.shutdown()


def summarize_study(study: optuna.Study) -> dict[str, int]:
    """Counts per outcome, for tests and the progress view after a resume."""
    counts = {"done": 0, "pruned": 0, "failed": 0, "infeasible": 0, "reused": 0, "interrupted": 0, "running": 0, "waiting": 0}
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.RUNNING:
            counts["running"] += 1
        elif t.state == TrialState.WAITING:
            counts["waiting"] += 1
        elif is_interrupted(t):
            counts["interrupted"] += 1
        elif "reused_from" in t.user_attrs:
            counts["reused"] += 1
        elif t.state == TrialState.COMPLETE:
            counts["done" if is_feasible(t) else "infeasible"] += 1
        elif t.state == TrialState.PRUNED:
            counts["pruned"] += 1
        else:
            counts["failed"] += 1
    return counts


__all__ = ["RunOptions", "RunProgress", "RunResult", "open_study", "run_search", "summarize_study", "trial_key"]
