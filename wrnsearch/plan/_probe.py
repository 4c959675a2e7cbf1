"""Timing a few architectures as their trials would run them, and keeping the figures.

A trial shares its device with the trials beside it: on a CPU they share the memory bus and
caches, on a GPU its compute. So each probe architecture is timed in ``at_once`` threads at
the same moment (a barrier before each), every thread with the trial's own CPU threads (torch
releases the GIL inside its kernels), and the figures of the first thread are kept. Timings are
cached per machine, torch, device, precision, threads, sharing, shapes and architecture
(``$WRNSEARCH_CACHE/plan/steps.json``), so that a second plan, and the summary a run prints at
its start, cost nothing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import torch

from wrnsearch.files import atomic_write_text, cache_dir
from wrnsearch.machine import cpu_model
from wrnsearch.measure import device_name
from wrnsearch.spec import WRNSpec
from wrnsearch.train import StepTimes, fast_path, time_trial_steps

log = logging.getLogger(__name__)

MAX_STEP_S = 1.0  # a probe's training step is timed at a smaller batch when the full one would take longer
MIN_PROBE_BATCH = 2  # BatchNorm needs two images
CACHE_DAYS = 30.0


@dataclass(frozen=True)
class ProbeSetting:
    """How the trials would run: the device, their CPU threads, how many share the device."""

    device: torch.device
    threads: int
    at_once: int
    resolution: int
    steps: int = 3
    warmup: int = 2


def _cache_path() -> Any:
    return cache_dir() / "plan" / "steps.json"


def _read_cache() -> dict[str, Any]:
    try:
        data = json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(entries: dict[str, Any]) -> None:
    path = _cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        merged = {**_read_cache(), **entries}
        atomic_write_text(path, json.dumps(merged, sort_keys=True))
    except OSError as e:  # a read-only cache is no reason to fail the plan
        log.warning("cannot write the plan's timing cache %s: %s", path, e)


def _key(spec: WRNSpec, recipe: Any, setting: ProbeSetting, batch: int) -> str:
    amp, channels_last, use_compile = fast_path(recipe, setting.device)
    machine = cpu_model() if setting.device.type == "cpu" else device_name(setting.device)
    return json.dumps([machine, torch.__version__, setting.device.type, amp, channels_last, use_compile,
                       setting.threads, setting.at_once, setting.resolution, batch, recipe.eval_batch_size,
                       spec.to_dict()], sort_keys=True)


def _time_together(spec: WRNSpec, recipe: Any, setting: ProbeSetting, batch: int) -> StepTimes:
    """``spec`` timed in ``at_once`` threads at once; the first thread's figures."""
    barrier = threading.Barrier(setting.at_once)
    results: list[StepTimes | BaseException] = [RuntimeError("not timed")] * setting.at_once

    def one(i: int) -> None:
        try:
            torch.set_num_threads(max(1, setting.threads))  # OpenMP's thread count is each thread's own
            barrier.wait(timeout=600)
            results[i] = time_trial_steps(spec, recipe, setting.device, resolution=setting.resolution, batch=batch,
                                          steps=setting.steps, warmup=setting.warmup)
        except BaseException as e:  # noqa: BLE001 - raised in the caller's thread below
            results[i] = e
            barrier.abort()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(1, setting.at_once)]
    for t in threads:
        t.start()
    one(0)
    for t in threads:
        t.join()
    first = results[0]
    if isinstance(first, BaseException):
        raise first
    return first


def time_probes(specs: list[WRNSpec], recipe: Any, setting: ProbeSetting, *, per_image_s: float | None = None,
                use_cache: bool = True) -> list[tuple[WRNSpec, StepTimes, bool]]:
    """(spec, its step times, whether they came from the cache) for each spec, in MACs order.

    A spec whose full-batch step would take more than :data:`MAX_STEP_S` (judged from the
    seconds per MAC of the smaller specs timed before it) is timed at a smaller batch.
    """
    from wrnsearch.cost import model_cost

    saved_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, setting.threads))
    cache = _read_cache() if use_cache else {}
    fresh: dict[str, Any] = {}
    out = []
    rate = per_image_s  # seconds per MAC of one image's training step, from the last timed spec
    try:
        for spec in sorted(specs, key=lambda s: model_cost(s, setting.resolution).macs):
            macs = model_cost(spec, setting.resolution).macs
            batch = recipe.batch_size
            if rate is not None and rate * macs * batch > MAX_STEP_S:
                batch = max(MIN_PROBE_BATCH, int(MAX_STEP_S / (rate * macs)))
            key = _key(spec, recipe, setting, batch)
            hit = cache.get(key)
            if hit and time.time() - hit.get("at", 0) < CACHE_DAYS * 86400:
                times, cached = StepTimes(**hit["times"]), True
            else:
                times, cached = _time_together(spec, recipe, setting, batch), False
                fresh[key] = {"at": time.time(), "times": times.to_dict()}
            rate = times.train_step_s / (times.batch * max(1, macs))
            out.append((spec, times, cached))
    finally:
        torch.set_num_threads(saved_threads)
        if fresh and use_cache:
            _write_cache(fresh)
    return out
