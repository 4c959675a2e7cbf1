"""The worker's side of a search: the Ray Tune function trainable that trains one architecture.

It runs in a Ray worker: loads the data once per worker (actors are reused), trains with
:func:`wrnsearch.train.train_trial`, reports every epoch but the last to Tune (for the
scheduler), then the whole :class:`~wrnsearch.record.TrialRecord` as JSON with the final report.
Deterministic failures (bad data, a checkpoint of other settings) are recorded, not raised:
retrying cannot help. A crash of the trainer is recorded too, as failed; a worker that dies is
retried by Tune up to ``search.max_failures`` times and resumes from its checkpoint. A failure of
the trial's setup before its first epoch (data, import, device, storage: :data:`SETUP_ERRORS`) is
recorded as ``setup_failed``: the node's fault, not the architecture's (:func:`failed_record`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wrnsearch.errors import DataError, DeviceError, WRNSearchError, one_line
from wrnsearch.record import Status, TrialRecord
from wrnsearch.search._trial_context import TrialContext
from wrnsearch.spec import WRNSpec

log = logging.getLogger(__name__)

_SPLITS_CACHE: dict[str, Any] = {}

# Errors of a trial's setup rather than of its architecture, when they come before the first
# epoch: the data set (DataError), a missing module (ImportError), the device (DeviceError), the
# file system (OSError: checkpoints, progress files, a vanished mount). Out of memory and
# divergence are results of the architecture and never count as setup.
SETUP_ERRORS: tuple[type[BaseException], ...] = (DataError, DeviceError, ImportError, OSError)


def failed_record(name: str, error: BaseException, epochs_trained: int) -> TrialRecord:
    """The record of a trial whose trainer raised ``error`` after ``epochs_trained`` epochs:
    ``setup_failed`` for a :data:`SETUP_ERRORS` error before the first epoch, else ``failed``.

    >>> failed_record("WRN-10-1", DataError("cifar10 not found under /x"), 0).status.value
    'setup_failed'
    >>> failed_record("WRN-10-1", DataError("cifar10 not found under /x"), 2).status.value
    'failed'
    """
    if isinstance(error, WRNSearchError):
        reason = str(error)
    else:
        reason = one_line(error, kind=True)
    setup = (epochs_trained == 0 and isinstance(error, SETUP_ERRORS)
             and getattr(error, "errno", None) != errno.ENOMEM)  # out of memory is a result, never setup
    return TrialRecord(name=name, status=Status.SETUP_FAILED if setup else Status.FAILED, reason=reason)


def trial_device(gpus: float) -> str:
    import torch

    return "cuda" if gpus > 0 and torch.cuda.is_available() else "cpu"


class MemoryCap:
    """Let this worker grow by ``extra_bytes`` of address space at most while training (CPU trials
    only: CUDA reserves large address ranges). Beyond it allocations fail and the trial is
    recorded as out_of_memory, instead of the host's OOM killer taking a process at random.

    The cap is lifted while the worker talks to Ray (epoch reports, the final record): an
    allocation refused in one of Ray's own threads would kill the worker, and the trial would be
    retried and fail as a lost worker instead of being recorded.
    """

    def __init__(self, extra_bytes: int | None) -> None:
        import resource

        self.extra_bytes = extra_bytes
        self.saved = resource.getrlimit(resource.RLIMIT_AS)

    def __enter__(self) -> MemoryCap:
        if self.extra_bytes:
            self._set(_address_space_bytes() + int(self.extra_bytes))
        return self

    def __exit__(self, *exc: Any) -> None:
        self._set(self.saved[0])

    @contextlib.contextmanager
    def lifted(self) -> Iterator[None]:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        self._set(self.saved[0])
        try:
            yield
        finally:
            self._set(soft)

    def hit(self) -> bool:
        """True when training ran under the cap and came within 10 % of it."""
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if not self.extra_bytes or soft == resource.RLIM_INFINITY:
            return False
        try:
            with open("/proc/self/status") as f:
                peak_kib = next(int(line.split()[1]) for line in f if line.startswith("VmPeak:"))
        except (OSError, StopIteration, ValueError):
            return False
        return peak_kib * 1024 >= 0.9 * soft

    def _set(self, soft: int) -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (soft, self.saved[1]))


def _address_space_bytes() -> int:
    import resource

    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def _splits(context: TrialContext) -> Any:
    """The trial's data, loaded once per worker and data set (Tune reuses the actors)."""
    from wrnsearch.data import load_splits

    cache_key = json.dumps([context.dataset.model_dump(mode="json"), context.data_root], sort_keys=True)
    if cache_key not in _SPLITS_CACHE:
        _SPLITS_CACHE.clear()
        _SPLITS_CACHE[cache_key] = load_splits(context.dataset, context.data_root)
    return _SPLITS_CACHE[cache_key]


def _train(spec: WRNSpec, config: dict[str, Any], context: TrialContext, trained: list[int]) -> TrialRecord:
    """Train one trial; ``trained[0]`` counts its epochs as they end (for :func:`failed_record`)."""
    from ray import tune

    from wrnsearch.cost import model_cost
    from wrnsearch.objectives import NAMES
    from wrnsearch.objectives import known as known_objectives
    from wrnsearch.search._epoch_progress import ProgressFile
    from wrnsearch.train import train_trial

    splits = _splits(context)  # before the memory cap: the cap is for the trial, not for the data
    # every report carries the objectives' raw figures by record field, for MO-ASHA's rungs: those
    # known before training from the cost, the device figures (latencies, peak memory) measured so far
    cost = model_cost(spec, splits.train_x.shape[-1])
    known = {o.attr: getattr(cost, o.attr) for o in known_objectives(NAMES)}
    device = trial_device(context.gpus)
    cap = MemoryCap(context.memory_per_trial if device == "cpu" else None)
    if cap.extra_bytes:
        _warm_up(context.cpus)

    recipe = context.train
    progress = ProgressFile(context.progress, config.get("number", 0), spec.name, recipe.epochs,
                            recipe.batch_size)

    from wrnsearch.search._ray_connection import current_node

    node_id = current_node().node_id  # in each report: a trial retried after its node was lost names it

    def on_epoch(report: Any, _path: Any) -> None:
        trained[0] += 1
        progress.epoch_done(report.epoch, report.val_error)
        # The last epoch is reported with the whole record: a scheduler that stops a trial on its
        # last epoch report (ASHA at max_t) must not cut the record off.
        if report.epoch < report.epochs:
            with cap.lifted():
                tune.report({"epoch": report.epoch, "val_error": report.val_error, "train_loss": report.train_loss,
                             "elapsed_s": report.elapsed_s, "images_per_s": report.images_per_s, "lr": report.lr,
                             **known, **(report.measured or {}), "node_id": node_id})

    with cap:
        try:
            return train_trial(spec, recipe, splits, device=device, time_limit_s=context.trial_time_s,
                               callback=on_epoch, on_step=progress.step, threads=context.cpus,
                               checkpoint_dir=Path(context.checkpoints) / config["key"])
        except Exception as e:
            if not cap.hit():
                raise
            # allocation failures under the cap surface as odd errors from deep inside torch
            text = one_line(e, kind=True)
            return TrialRecord(name=spec.name, status=Status.OUT_OF_MEMORY,
                               reason=f"out of memory under resources.memory_per_trial ({text})")


def _warm_up(threads: int) -> None:
    """Run what a trial runs once, on a tiny network, before a memory cap goes on.

    Under the cap, what torch does for the first time (starting its compute threads, importing
    the modules it loads lazily: torch.optim reaches for torch._dynamo and sympy) can crash the
    interpreter outright instead of raising: a segmentation fault in the import machinery, seen
    here. Done once beforehand, nothing of that is left for the capped trial.
    """
    import io

    import torch

    from wrnsearch.measure import measure_training_step
    from wrnsearch.model import build_model
    from wrnsearch.spec import parse_name
    from wrnsearch.train import Augmenter

    torch.set_num_threads(max(1, int(threads)))
    model = build_model(parse_name("WRN-10-1", num_classes=2))
    measure_training_step(model, batch=2, resolution=8, num_classes=2, steps=1, warmup=1)
    images = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    Augmenter((0.5,) * 3, (0.25,) * 3, augment=True, normalize="meanstd",
              device=torch.device("cpu")).train_batch(images, torch.Generator())
    torch.save(model.state_dict(), io.BytesIO())


def wrn_trainable(config: dict[str, Any], ctx: dict[str, Any]) -> None:
    """A Ray Tune function trainable: train one spec, report every epoch, then the whole record.

    ``config`` is the searcher's (the spec, its key, the trial number); ``ctx`` the run's
    :meth:`TrialContext.to_dict`, as ``tune.with_parameters`` hands it over.
    """
    from wrnsearch.search._ray_connection import assigned_gpus, current_node

    spec = WRNSpec.from_dict(config["spec"])
    trained = [0]
    try:
        record = _train(spec, config, TrialContext.from_dict(ctx), trained)
    except Exception as e:  # noqa: BLE001 - recorded: retrying a deterministic failure or a bug cannot help
        if not isinstance(e, WRNSearchError):
            log.exception("trial %s failed", spec.name)
        record = failed_record(spec.name, e, trained[0])
    node = current_node()
    record.node, record.node_ip, record.node_id = node.hostname, node.ip, node.node_id
    record.gpu_ids = assigned_gpus()
    report_record(record)


def report_record(record: TrialRecord) -> None:
    """The final report of a trial: its whole record, which the searcher tells the study."""
    from ray import tune

    tune.report({"final": True, "epoch": record.epochs or 0,
                 "val_error": record.val_error if record.val_error is not None else 100.0,
                 "record": record.to_json()})
