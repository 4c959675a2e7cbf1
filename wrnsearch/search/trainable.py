"""The worker's side of a search: the Ray Tune function trainable that trains one architecture.

It runs in a Ray worker: loads the data once per worker (actors are reused), trains with
:func:`wrnsearch.train.train_trial`, reports every epoch but the last to Tune (for the
scheduler), then the whole :class:`~wrnsearch.record.TrialRecord` as JSON with the final report.
Deterministic failures (bad data, a checkpoint of other settings) are recorded, not raised:
retrying cannot help. A crash of the trainer is recorded too, as failed; a worker that dies is
retried by Tune up to ``search.max_failures`` times and resumes from its checkpoint.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from wrnsearch.errors import WRNSearchError
from wrnsearch.record import Status, TrialRecord
from wrnsearch.spec import WRNSpec

log = logging.getLogger(__name__)

_SPLITS_CACHE: dict[str, Any] = {}


def trial_device(gpus: float) -> str:
    import torch

    return "cuda" if gpus > 0 and torch.cuda.is_available() else "cpu"


def cap_memory(extra_bytes: int) -> None:
    """Let this worker grow by ``extra_bytes`` of address space at most (CPU trials only: CUDA
    reserves large address ranges). Beyond it allocations fail and the trial is out_of_memory."""
    import resource

    with open("/proc/self/statm") as f:
        vsize = int(f.read().split()[0]) * resource.getpagesize()
    limit = vsize + int(extra_bytes)
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))


def hit_memory_cap() -> bool:
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


def _splits(ctx: dict[str, Any]) -> Any:
    """The trial's data, loaded once per worker and data set (Tune reuses the actors)."""
    from wrnsearch.data import load_splits
    from wrnsearch.space import DatasetConfig

    cache_key = json.dumps([ctx["dataset"], ctx["data_root"]], sort_keys=True)
    if cache_key not in _SPLITS_CACHE:
        _SPLITS_CACHE.clear()
        _SPLITS_CACHE[cache_key] = load_splits(DatasetConfig.model_validate(ctx["dataset"]), ctx["data_root"])
    return _SPLITS_CACHE[cache_key]


def _train(spec: WRNSpec, config: dict[str, Any], ctx: dict[str, Any]) -> TrialRecord:
    from ray import tune

    from wrnsearch.space import TrainConfig
    from wrnsearch.train import train_trial

    def on_epoch(report: Any, _path: Any) -> None:
        # The last epoch is reported with the whole record: a scheduler that stops a trial on its
        # last epoch report (ASHA at max_t) must not cut the record off.
        if report.epoch < report.epochs:
            tune.report({"epoch": report.epoch, "val_error": report.val_error, "train_loss": report.train_loss,
                         "elapsed_s": report.elapsed_s, "images_per_s": report.images_per_s})

    device = trial_device(ctx["gpus"])
    if ctx.get("memory_per_trial") and device == "cpu":
        cap_memory(ctx["memory_per_trial"])
    return train_trial(spec, TrainConfig.model_validate(ctx["train"]), _splits(ctx), device=device,
                       time_limit_s=ctx["trial_time_s"], checkpoint_dir=Path(ctx["checkpoints"]) / config["key"],
                       callback=on_epoch, threads=ctx["cpus"])


def wrn_trainable(config: dict[str, Any], ctx: dict[str, Any]) -> None:
    """A Ray Tune function trainable: train one spec, report every epoch, then the whole record."""
    from wrnsearch.search.connect import current_node

    spec = WRNSpec.from_dict(config["spec"])
    try:
        record = _train(spec, config, ctx)
    except WRNSearchError as e:  # deterministic: retrying cannot help, so report instead of raising
        record = TrialRecord(name=spec.name, status=Status.FAILED, reason=str(e))
    except Exception as e:  # noqa: BLE001 - a bug in a trial must not retry forever; it is recorded
        text = f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
        if hit_memory_cap():  # allocation failures surface as odd errors from deep inside torch
            record = TrialRecord(name=spec.name, status=Status.OUT_OF_MEMORY,
                                 reason=f"out of memory under resources.memory_per_trial ({text})")
        else:
            log.exception("trial %s failed", spec.name)
            record = TrialRecord(name=spec.name, status=Status.FAILED, reason=text)
    node = current_node()
    record.node, record.node_ip, record.node_id = node.hostname, node.ip, node.node_id
    report_record(record)


def report_record(record: TrialRecord) -> None:
    """The final report of a trial: its whole record, which the searcher tells the study."""
    from ray import tune

    tune.report({"final": True, "epoch": record.epochs or 0,
                 "val_error": record.val_error if record.val_error is not None else 100.0,
                 "record": record.to_json()})
