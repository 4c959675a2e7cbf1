"""Warm starts: another run's results copied into this study, so the search starts from what is known.

``wrnsearch run SPACE --warm-start OTHER_RUN_DIR`` copies the complete results of another run
into the new study as completed trials (outcome ``copied``), with the parameters and
distributions this space's sampler uses, so TPE, EHVI and the other samplers condition on them,
and with their keys, so that a proposal of a copied architecture is answered with the copy
(``reused``) and nothing is trained twice. Nothing is retrained.

Results are comparable only when everything that made them is the same, so the other run must
have the same data set *content* (a hash of its pixels and labels, which its trials record in
``dataset_split``), the same split (its settings and the validation indices drawn) and the same
recipe (every ``train`` key that enters a trial's key): otherwise it is refused, naming the first
difference. Its architectures outside this space, or over this space's budgets, are skipped and
counted. Only full results are copied: a pruned trial's partial curve says how an architecture
started, not where it ends, and failed ones have none.

A latency is a property of the device it was timed on. A copied trial keeps its latencies only
when it was timed on this device (same device name, same host); otherwise, when an objective is a
latency, both latencies are timed again here as :mod:`wrnsearch.search._exclusive_latency` times them (a fresh
model: timing needs no weights), and when none is, they are left out. Either way the other
run's figures stay in the trial's ``warm_start`` attribute beside its provenance (run directory,
study, trial number). Copied trials do not count towards ``budget.max_trials``; a resumed run
never copies a trial twice.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from wrnsearch.errors import RunError
from wrnsearch.objectives import NAMES, attrs_values, device_bound, retimed
from wrnsearch.record import Attr
from wrnsearch.samplers import CONSTRAINT_KEYS, search_distributions
from wrnsearch.search._events import WarmStarted
from wrnsearch.space import Space, budget_violations, constraint_values, outside_space, space_cost
from wrnsearch.spec import WRNSpec
from wrnsearch.study import (
    STUDY_FILE,
    has_full_result,
    is_reusable,
    load_study,
    resolve_run,
    trial_key,
)

log = logging.getLogger(__name__)

SOURCES_ATTR = "warm_starts"  # study attr: one entry per warm start (run directory, study, trials copied)
# what a trial measured on its own device while it trained: kept only as the other run's figures
_DEVICE_ATTRS = (Attr.DEVICE, "images_per_s", *(o.attr for o in device_bound(NAMES)))
# dataset keys that describe the split rather than the data set itself
_SPLIT_KEYS = ("val_size", "train_subset", "test_subset", "split_seed")
# the split as its record states it (data.make_splits): the validation indices drawn, the sizes
_SPLIT_RECORD_KEYS = ("val_indices_sha256", "train", "val", "test")


@dataclass(frozen=True)
class WarmSource:
    """Another run, checked comparable with this one: its study's full results, ready to copy."""

    run_dir: Path
    study_name: str
    results: list[FrozenTrial]
    not_results: int  # its trials that are no full result (pruned, failed, infeasible, reused ...)

    def provenance(self, trial: FrozenTrial) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "study": self.study_name, "trial": trial.number}


@dataclass
class WarmStart:
    """What a warm start copied and why it left the rest."""

    source: str
    copied: list[int] = field(default_factory=list)  # numbers of the new trials
    outside: int = 0  # architectures outside this space
    over_budget: int = 0
    held: int = 0  # copied before (a resume) or already in this study
    not_results: int = 0
    retimed: int = 0  # latencies timed again on this device
    latency_left_out: int = 0  # measured elsewhere, and no objective needs them

    def to_event(self) -> WarmStarted:
        return WarmStarted(self.source, len(self.copied), self.outside, self.over_budget, self.held, self.not_results,
                           self.retimed, self.latency_left_out)


# --------------------------------------------------------------------------------------------
# Checking


def check_warm_start(space: Space, source_dir: str | Path, *, run_dir: Path,
                     data_root: str | Path | None = None) -> WarmSource:
    """The other run, if its results are comparable with this run's; reads it, writes nothing.

    Raises:
        RunError: one line naming the difference (data content, split, recipe), or what is missing.
    """
    where = f"--warm-start {source_dir}"
    source_dir = Path(source_dir)
    if source_dir.resolve() == Path(run_dir).resolve():
        raise RunError(f"{where} is this run's own directory: name another run (resuming keeps its results)")
    try:
        other, _ = resolve_run(None, run_dir=source_dir)
    except RunError as e:
        raise RunError(f"{where}: {e}") from None
    if other.phase != "search":
        raise RunError(f"{where} is a retrain (its errors are test errors): name the search it came from")
    _check_same(where, space, other)
    try:
        study = load_study(source_dir, study_name=other.name)
    except RunError as e:
        raise RunError(f"{where}: {e} (a run with --storage elsewhere cannot be warm-started from yet; "
                       f"its {STUDY_FILE} is read)") from None
    trials = study.get_trials(deepcopy=False)
    results = [t for t in trials if has_full_result(t) and Attr.SPEC in t.user_attrs]
    if results:
        _check_same_data(where, space, results, data_root)
    return WarmSource(source_dir.resolve(), other.name, results, len(trials) - len(results))


def _check_same(where: str, space: Space, other: Space) -> None:
    """Same data set, split settings and recipe as ``trial_key`` sees them, or the first difference."""
    ours = space.dataset.model_dump(mode="json", exclude={"root", "download"})
    theirs = other.dataset.model_dump(mode="json", exclude={"root", "download"})
    for key in sorted(ours, key=lambda k: (k in _SPLIT_KEYS, k)):
        if ours[key] != theirs.get(key):
            what = "split" if key in _SPLIT_KEYS else "data set"
            _refuse(where, what, f"dataset.{key}", theirs.get(key), ours[key])
    # the recipe as trial keys hold it: the same keys make a copied architecture a trained one here
    ours = space.train.model_dump(mode="json", exclude={"eval_batch_size", "infer_batch"})
    theirs = other.train.model_dump(mode="json", exclude={"eval_batch_size", "infer_batch"})
    for key in sorted(ours):
        if ours[key] != theirs.get(key):
            _refuse(where, "recipe", f"train.{key}", theirs.get(key), ours[key])


def _check_same_data(where: str, space: Space, results: list[FrozenTrial], data_root: str | Path | None) -> None:
    """The data's content and the split drawn from it, as the other run's trials recorded them,
    against this run's data (read and split here, as a trial would)."""
    from wrnsearch.data import load_splits

    records = [t.user_attrs.get(Attr.DATASET_SPLIT) or {} for t in results]
    if any("content_sha256" not in r for r in records):
        raise RunError(f"{where}: its trials record no hash of their data's content (run before wrnsearch recorded "
                       "one), so it cannot be shown to have trained on the same data: run that search again, or "
                       "start this one without --warm-start")
    here = load_splits(space.dataset, data_root).record
    for record in records:
        if record["content_sha256"] != here["content_sha256"]:
            _refuse(where, "data content", "dataset_split.content_sha256", record["content_sha256"],
                    here["content_sha256"], extra=f" ({space.dataset.name}: same name, other bytes)")
        for key in _SPLIT_RECORD_KEYS:
            if record.get(key) != here.get(key):
                _refuse(where, "split", f"dataset_split.{key}", record.get(key), here.get(key))


def _refuse(where: str, what: str, key: str, theirs: Any, ours: Any, extra: str = "") -> None:
    raise RunError(f"{where}: that run has another {what} ({key} {theirs!r} there, {ours!r} here){extra}; its "
                   "results are not comparable with this run's: warm-start from a run with the same data, split "
                   "and recipe, or start without --warm-start")


# --------------------------------------------------------------------------------------------
# Copying


def copy_warm_start(study: optuna.Study, space: Space, source: WarmSource, *, device: Any = None,
                    on_copied: Callable[[int, str], None] | None = None) -> WarmStart:
    """Copy ``source``'s results into ``study`` (see the module docstring). Call it under the run's
    lock with no trial running: latencies timed again here must have the device to themselves."""
    out = WarmStart(str(source.run_dir), not_results=source.not_results)
    existing = study.get_trials(deepcopy=False)
    copied_before = {_origin(t.user_attrs[Attr.WARM_START]) for t in existing if Attr.WARM_START in t.user_attrs}
    held_keys = {t.user_attrs.get(Attr.KEY) for t in existing if is_reusable(t)}
    dists = search_distributions(space)
    timer = _Timer(space, device)
    for t in sorted(source.results, key=lambda t: t.number):
        provenance = source.provenance(t)
        spec = WRNSpec.from_dict(t.user_attrs[Attr.SPEC])
        if _origin(provenance) in copied_before:
            out.held += 1
            continue
        if outside_space(space, spec) is not None:
            out.outside += 1
            continue
        cost = space_cost(space, spec)
        if budget_violations(space, cost):
            out.over_budget += 1
            continue
        key = trial_key(space, spec)
        if key in held_keys:
            out.held += 1
            continue
        attrs = _copied_attrs(t, provenance, key, space, spec, timer, out)
        params = _params(space, spec, dists)
        trial = optuna.trial.create_trial(
            state=TrialState.COMPLETE, values=_values(attrs, space), params=params,
            distributions={k: dists[k] for k in params}, user_attrs=attrs,
            intermediate_values=dict(t.intermediate_values),
            constraints=dict(zip(CONSTRAINT_KEYS, constraint_values(space, cost))),
        )
        study.add_trial(trial)
        held_keys.add(key)
        number = len(existing) + len(out.copied)  # add_trial numbers trials in order, as Optuna's storage does
        out.copied.append(number)
        if on_copied:
            on_copied(number, spec.name)
    if out.copied:
        entry = {"run_dir": str(source.run_dir), "study": source.study_name, "copied": len(out.copied),
                 "at": time.time()}
        study.set_user_attr(SOURCES_ATTR, [*study.user_attrs.get(SOURCES_ATTR, []), entry])
    return out


def _origin(provenance: dict[str, Any]) -> tuple[str, str, int]:
    return str(provenance.get("run_dir")), str(provenance.get("study")), int(provenance.get("trial", -1))


def _params(space: Space, spec: WRNSpec, dists: dict[str, Any]) -> dict[str, Any]:
    """The Optuna parameters of ``spec`` in this space, as a proposal of it would have them."""
    from wrnsearch.space import params_of

    return {k: v for k, v in params_of(space, spec).items() if k in dists}


def _values(attrs: dict[str, Any], space: Space) -> list[float]:
    return attrs_values(attrs, space.objectives)


def _copied_attrs(t: FrozenTrial, provenance: dict[str, Any], key: str, space: Space, spec: WRNSpec,
                  timer: _Timer, out: WarmStart) -> dict[str, Any]:
    """The other trial's attributes under this run's key, its provenance, and latencies for this device."""
    attrs = {k: v for k, v in t.user_attrs.items()
             if k not in (Attr.KEY, Attr.RETRY_OF, Attr.REUSED_FROM, Attr.WARM_START)}
    if Attr.WARM_START in t.user_attrs:  # a copy of a copy: where that one came from
        provenance["via"] = t.user_attrs[Attr.WARM_START]
    attrs[Attr.KEY] = key
    timed_on = attrs.get(Attr.DEVICE)
    if timed_on is not None and (timed_on != timer.here or attrs.get(Attr.NODE) != timer.host):
        provenance["measured"] = {k: attrs.pop(k) for k in _DEVICE_ATTRS if k in attrs}
        provenance["measured"][Attr.NODE] = attrs.get(Attr.NODE)
        elsewhere = f"{timed_on} of {attrs.get(Attr.NODE)}"
        if retimed(space.objectives):
            attrs.update(timer.retime(spec))
            provenance["latency"] = f"timed again on {timer.here} of {timer.host}: measured on {elsewhere}"
            out.retimed += 1
        else:
            provenance["latency"] = f"left out: measured on {elsewhere}, and no objective is a latency"
            out.latency_left_out += 1
    attrs[Attr.WARM_START] = provenance
    return attrs


class _Timer:
    """Times copied architectures on the device this run's trials use, with their threads (as
    ``alone`` does); the device is opened only when a latency must be timed."""

    def __init__(self, space: Space, device: Any) -> None:
        import torch

        from wrnsearch.measure import device_name
        from wrnsearch.train import pick_device

        self.space = space
        cpu_only = space.resources.gpus_per_trial == 0
        self.device = torch.device("cpu") if cpu_only and device is None else pick_device(device)
        self.threads = max(1, int(space.resources.cpus_per_trial))
        saved = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            self.here = device_name(self.device)  # the CPU's name says its threads, as a trial's does
        finally:
            torch.set_num_threads(saved)
        self.host = socket.gethostname()

    def retime(self, spec: WRNSpec) -> dict[str, Any]:
        """Both latencies of ``spec`` on this device; the trial keeps the host it trained on."""
        import torch

        from wrnsearch.search._exclusive_latency import time_alone

        saved = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            figures = time_alone(spec, self.space, self.device, self.here)
        finally:
            torch.set_num_threads(saved)
        return {**{o.attr: figures[o.name] for o in retimed(NAMES)}, Attr.DEVICE: self.here}
