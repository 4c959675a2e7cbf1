"""The trial record: what training one architecture produced, and the names it is stored under.

One module owns it. The trainer fills a :class:`TrialRecord`; the search copies it into the
study as user attributes (:meth:`TrialRecord.user_attrs`, names in :class:`Attr`); readers get a
trial's outcome from :func:`wrnsearch.study.outcome_of`, which reads only what this module
names. Nothing else spells a status or an attribute name.

:class:`Status` is the ``status`` user attribute of a trial, as docs/study.md lists it: how its
training ended (``complete``, ``truncated``, ``pruned``, ``diverged``, ``out_of_memory``,
``failed``), or why it never trained to the end (``infeasible``, ``interrupted``, ``setup_failed``).

No torch, Ray or Optuna here: the trainer (a leaf) writes records and the study reads them.

Example:
    >>> r = TrialRecord(name="WRN-16-4", status=Status.COMPLETE, val_error=5.0, epochs=200)
    >>> r.to_dict()["status"], r.trained_result
    ('complete', True)
"""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass
from typing import Any


class Status(str, enum.Enum):
    """The stored ``status`` of a trial (a ``str``, so it compares equal to its JSON value)."""

    COMPLETE = "complete"  # trained for the whole epoch budget
    TRUNCATED = "truncated"  # stopped by resources.trial_time (counts as pruned)
    PRUNED = "pruned"  # stopped early by the scheduler or the search's time budget
    DIVERGED = "diverged"  # the loss became NaN or inf
    OUT_OF_MEMORY = "out_of_memory"
    FAILED = "failed"  # a crash, a bad data set, a worker that died too often
    # could not start training (data, import, device or storage) before its first epoch: the
    # setup's fault, not the architecture's, so not counted against budget.max_trials
    SETUP_FAILED = "setup_failed"
    INFEASIBLE = "infeasible"  # over a budget: never trained
    # proposed when budget.time had too little left for it to finish: never started, and proposed
    # again on resume (with more time), so not counted against budget.max_trials
    DEFERRED = "deferred"
    INTERRUPTED = "interrupted"  # the driver stopped while it ran: queued again on resume

    def __str__(self) -> str:
        return self.value

    @property
    def evaluated(self) -> bool:
        """Training stopped cleanly, so the weights it reached were evaluated."""
        return self in (Status.COMPLETE, Status.TRUNCATED, Status.PRUNED)

    @property
    def stopped_early(self) -> bool:
        """Stored in Optuna as PRUNED: a clean stop before the epoch budget."""
        return self in (Status.TRUNCATED, Status.PRUNED)


class Attr:
    """Names of a trial's user attributes (docs/study.md), each spelled here only."""

    # written with the proposal
    ARCH = "arch"
    SPEC = "spec"
    KEY = "key"  # architecture + recipe + data: equal keys are trained once
    PARAMS = "params"
    MACS = "macs"
    ACTIVATION_BYTES = "activation_bytes"
    INFEASIBLE_REASON = "infeasible_reason"
    # written at the launch when the search has a ``budget.time``: the seconds the trial was
    # predicted to take and the seconds the budget had left then (the check that started it)
    PREDICTED_S = "predicted_s"
    TIME_LEFT_S = "time_left_s"
    # written with the outcome
    STATUS = "status"
    PRUNE_REASON = "prune_reason"
    FAIL_REASON = "fail_reason"
    REUSED_FROM = "reused_from"  # the trial whose result this one copies
    RETRY_OF = "retry_of"  # the interrupted trial this one runs again
    WARM_START = "warm_start"  # a copied result: the run, study and trial it came from (--warm-start)
    DATASET_SPLIT = "dataset_split"  # the record's ``dataset``
    VAL_ERROR = "val_error"
    TEST_ERROR = "test_error"
    LATENCY_MS = "latency_ms"
    LATENCY_INFER_MS = "latency_infer_ms"
    PEAK_MEMORY_BYTES = "peak_memory_bytes"
    DEVICE = "device"
    NODE = "node"  # the host the trial ran on
    EPOCHS = "epochs"
    CURVE = "curve"


# What a killed driver's trials are marked with (``fail_reason``) before they are queued again.
INTERRUPTED_REASON = "interrupted: the driver stopped while this trial ran"
# Why a trial whose worker died more often than search.max_failures allows is failed.
WORKER_DIED_REASON = "the trial's worker died more often than search.max_failures allows"


@dataclass
class TrialRecord:
    """Everything one trial produced, as the trainer returns it and ``wrnsearch train -o`` writes it.

    Fields left None were not produced (a failed trial has no errors, an unmeasured one no
    latency) and are left out of :meth:`to_dict`, except ``val_error`` and ``test_error`` of an
    evaluated trial: None there means the split held no images.
    """

    name: str
    status: Status = Status.COMPLETE
    reason: str | None = None
    spec: dict[str, Any] | None = None
    recipe: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None  # the split: sizes, seed, validation indices' hash
    params: int | None = None
    macs: int | None = None
    activation_bytes: int | None = None
    device: str | None = None  # what latency_ms and latency_infer_ms were measured on
    node: str | None = None  # host name
    node_ip: str | None = None
    node_id: str | None = None
    gpu_ids: list[str] | None = None  # the GPUs Ray assigned the trial (its CUDA_VISIBLE_DEVICES); None: none
    torch: str | None = None
    wrnsearch: str | None = None
    seed: int | None = None
    epochs_budget: int | None = None
    amp: bool | None = None
    channels_last: bool | None = None
    compile: bool | None = None
    fast_path: str | None = None  # why amp and channels_last are as they are (auto: the CPU's measured bf16 speedup)
    started_at: float | None = None  # Unix time
    latency_ms: float | None = None  # median training step at train.latency_batch
    latency: dict[str, Any] | None = None  # the whole timing (p90, steps, batch, peak memory)
    latency_infer_ms: float | None = None  # median eval-mode forward pass, no grad, at train.infer_batch
    latency_infer: dict[str, Any] | None = None  # its whole timing
    curve: list[dict[str, Any]] | None = None  # one EpochReport per epoch
    epochs: int | None = None  # epochs trained
    images_per_s: float | None = None
    val_error: float | None = None  # percent
    test_error: float | None = None  # percent, for reporting only
    resumed_from_epoch: int | None = None
    peak_memory_bytes: int | None = None
    wall_time_s: float | None = None

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @property
    def trained_result(self) -> bool:
        """Trained for the whole budget: the record may enter a front and be reused."""
        return self.status == Status.COMPLETE

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, unproduced fields left out (see the class docstring)."""
        keep_none = {"val_error", "test_error"} if self.status.evaluated else set()
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None or f.name in keep_none:
                out[f.name] = value.value if isinstance(value, Status) else value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> TrialRecord:
        return cls.from_dict(json.loads(text))

    def user_attrs(self) -> dict[str, Any]:
        """The record as the study stores it beside the proposal's attributes (docs/study.md).

        ``name`` and ``spec`` were stored with the proposal (as ``arch`` and ``spec``); the split
        is stored as ``dataset_split``; the reason goes to ``prune_reason`` or ``fail_reason``.
        """
        data = self.to_dict()
        attrs = {key: data[key] for key in _STORED if data.get(key) is not None}
        attrs[Attr.STATUS] = self.status.value
        if data.get("dataset") is not None:
            attrs[Attr.DATASET_SPLIT] = data["dataset"]
        if self.status.stopped_early:
            attrs[Attr.PRUNE_REASON] = self.reason or self.status.value
        elif self.status != Status.COMPLETE:
            attrs[Attr.FAIL_REASON] = self.reason or self.status.value
        return attrs


# Fields of a record copied into the study under their own names.
_STORED = ("params", "macs", "activation_bytes", "val_error", "test_error", "latency_ms", "latency_infer_ms",
           "images_per_s", "peak_memory_bytes", "device", "node", "epochs", "epochs_budget", "wall_time_s", "curve",
           "torch", "resumed_from_epoch", "node_ip", "node_id", "gpu_ids", "fast_path")
