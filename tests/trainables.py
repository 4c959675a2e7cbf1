"""Stand-in trainers for tests of the search machinery: the trainable's protocol, no training.

Ray pickles these by value (the workers cannot import the tests folder).
"""

from __future__ import annotations

import sys
from typing import Any

import ray.cloudpickle

from wrnsearch.cost import model_cost
from wrnsearch.record import Status, TrialRecord
from wrnsearch.search import TrialContext
from wrnsearch.spec import WRNSpec

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def scripted_wrn_trial(config: dict[str, Any], ctx: dict[str, Any]) -> None:
    """Every epoch of the recipe reported with a validation error that is a fixed function of the
    spec (wider and deeper is better), then the record, as the real trainable does."""
    from ray import tune

    from wrnsearch.search import report_record

    spec = WRNSpec.from_dict(config["spec"])
    epochs = TrialContext.from_dict(ctx).train.epochs
    error = max(1.0, 80.0 - 10.0 * float(spec.widen_factor) - (spec.depth - 10) / 3)
    for e in range(1, epochs):
        tune.report({"epoch": e, "val_error": error})
    cost = model_cost(spec)
    report_record(TrialRecord(name=spec.name, status=Status.COMPLETE, val_error=error, test_error=error,
                              params=cost.params, macs=cost.macs, latency_ms=1.0, epochs=epochs,
                              curve=[{"epoch": e, "val_error": error} for e in range(1, epochs + 1)], device="cpu"))


def scripted_error(spec: WRNSpec, epoch: int, epochs: int) -> float:
    """Validation error after ``epoch`` of ``epochs``: bigger networks better, every net improving."""
    final = max(1.0, 80.0 - 10.0 * float(spec.widen_factor) - (spec.depth - 10) / 3)
    return final + 6.0 * (epochs - epoch)


def scripted_latency_ms(params: int) -> float:
    return round(params / 1e4, 3)


def scripted_mo_trial(config: dict[str, Any], ctx: dict[str, Any]) -> None:
    """As the real trainable reports to a multi-objective scheduler: every epoch's validation error
    with the objectives known before training (params, MACs, latency), then the record."""
    from ray import tune

    from wrnsearch.search import report_record

    spec = WRNSpec.from_dict(config["spec"])
    epochs = TrialContext.from_dict(ctx).train.epochs
    cost = model_cost(spec, 16)
    latency = scripted_latency_ms(cost.params)
    for e in range(1, epochs):
        tune.report({"epoch": e, "val_error": scripted_error(spec, e, epochs), "params": cost.params,
                     "macs": cost.macs, "latency_ms": latency})
    error = scripted_error(spec, epochs, epochs)
    report_record(TrialRecord(name=spec.name, status=Status.COMPLETE, val_error=error, test_error=error,
                              params=cost.params, macs=cost.macs, latency_ms=latency, epochs=epochs,
                              curve=[{"epoch": e, "val_error": scripted_error(spec, e, epochs)}
                                     for e in range(1, epochs + 1)], device="cpu"))


SLEEPY_TRIAL_S = 2.0


def sleepy_trial(config: dict[str, Any], ctx: dict[str, Any]) -> None:
    """A trial that takes ``SLEEPY_TRIAL_S`` seconds, then reports as scripted_wrn_trial does."""
    import time

    time.sleep(SLEEPY_TRIAL_S)
    scripted_wrn_trial(config, ctx)


def setup_failing_on(calls: set[int], claims: str) -> Any:
    """A trainer whose n-th call (1-based, over every worker: each call claims the next number by
    creating ``claims/<n>`` exclusively) fails in its setup, as a node without the data set does;
    the others train as :func:`scripted_wrn_trial`."""

    def trial(config: dict[str, Any], ctx: dict[str, Any]) -> None:
        import os

        from wrnsearch.errors import DataError
        from wrnsearch.search import failed_record, report_record

        n = 1
        while True:
            try:
                os.close(os.open(os.path.join(claims, str(n)), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                break
            except FileExistsError:
                n += 1
        if n in calls:
            spec = WRNSpec.from_dict(config["spec"])
            report_record(failed_record(spec.name, DataError("the data set vanished on this node"), 0))
            return
        scripted_wrn_trial(config, ctx)

    return trial


GPU_TRIAL_S = 5.0


def gpu_seeing_trial(config: dict[str, Any], ctx: dict[str, Any]) -> None:
    """On a node that declares GPUs it does not have: what Ray assigned the trial (its GPU ids, and
    CUDA_VISIBLE_DEVICES set to them), held for ``GPU_TRIAL_S`` so that trials overlap; no CUDA touched."""
    import os
    import time

    from wrnsearch.search import assigned_gpus, report_record

    spec = WRNSpec.from_dict(config["spec"])
    began = time.time()
    ids = assigned_gpus()
    time.sleep(GPU_TRIAL_S)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ok = ids is not None and visible == ",".join(ids)
    cost = model_cost(spec, 16)
    report_record(TrialRecord(name=spec.name, status=Status.COMPLETE if ok else Status.FAILED,
                              reason=None if ok else f"assigned {ids}, CUDA_VISIBLE_DEVICES {visible!r}",
                              val_error=50.0, test_error=50.0, params=cost.params, macs=cost.macs, latency_ms=1.0,
                              epochs=1, curve=[{"epoch": 1, "val_error": 50.0}], device="cpu", gpu_ids=ids,
                              started_at=began, wall_time_s=time.time() - began))
