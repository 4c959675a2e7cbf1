"""Latency measured alone: the front's architectures timed again with the device to themselves.

A trial times its latencies at its start, while other trials share the machine (the quickstart
runs two trials on two cores; fractional GPUs share a device), so the speed axis of the front
carries the noise of whoever ran beside it. At the end of a run, and with ``wrnsearch measure
RUN_DIR``, the driver (no trial running) times every front member again, one at a time, on the
trials' device with the trials' threads and fast path, and stores the figures in the study's
``latency_alone`` attribute (Optuna cannot change a finished trial's values). The front is then
computed on the exclusive figures, which may bring other trials onto it: they are timed too,
until every member of the front computed on exclusive figures has been timed alone.
``wrnsearch pareto`` and the report use those figures and say so; the trials keep the
co-located ones (optuna-dashboard's own front shows those: the study's ``latency_note`` says so).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna

from wrnsearch.objectives import NAMES, retimed
from wrnsearch.pareto import ALONE_ATTR, alone_figures, front_info, timed_alone
from wrnsearch.record import Attr
from wrnsearch.space import Space
from wrnsearch.spec import WRNSpec

log = logging.getLogger(__name__)

NOTE_ATTR = "latency_note"
NOTE = ("Trial values and user attributes hold latencies timed while other trials shared the device; "
        f"the study attribute {ALONE_ATTR} holds the front's latencies timed alone (per architecture and "
        "device), which wrnsearch pareto and the report use. optuna-dashboard's front uses the co-located ones.")
MAX_ROUNDS = 20


@dataclass
class AloneResult:
    timed: list[str] = field(default_factory=list)  # architectures timed alone now
    skipped: dict[str, str] = field(default_factory=dict)  # architecture -> why not
    front: int = 0  # members of the final front
    seconds: float = 0.0


def measure_front_alone(study: optuna.Study, space: Space, *, device: Any = None,
                        on_timed: Callable[[str, dict[str, Any]], None] | None = None) -> AloneResult:
    """Time the front's members alone until the front on exclusive figures is all timed alone.

    ``device`` defaults to CUDA when present, else the CPU; a trial measured on another device
    (another GPU model, another thread count) cannot be timed alone here and is skipped, named
    in the result. Call it with no trial running.
    """
    import torch

    from wrnsearch.measure import device_name
    from wrnsearch.train import pick_device

    start = time.monotonic()
    out = AloneResult()
    if not retimed(space.objectives):
        return out
    torch_device = pick_device(device)
    threads = max(1, int(space.resources.cpus_per_trial))
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        here = device_name(torch_device)
        study.set_user_attr(NOTE_ATTR, NOTE)
        for _ in range(MAX_ROUNDS):
            alone = alone_figures(study)
            info = front_info(study)
            todo = {}
            for t in info.front_trials:
                arch = t.user_attrs.get(Attr.ARCH)
                if timed_alone(t, alone) or arch in out.skipped or arch in todo:
                    continue
                if t.user_attrs.get(Attr.DEVICE) != here:
                    out.skipped[arch] = f"trained on {t.user_attrs.get(Attr.DEVICE)}, this is {here}"
                    continue
                todo[arch] = t
            if not todo:
                out.front = len(info.front_trials)
                break
            for arch, t in todo.items():
                figures = time_alone(WRNSpec.from_dict(t.user_attrs[Attr.SPEC]), space, torch_device, here)
                alone = {**alone_figures(study), arch: figures}
                study.set_user_attr(ALONE_ATTR, alone)
                out.timed.append(arch)
                if on_timed:
                    on_timed(arch, figures)
    finally:
        torch.set_num_threads(saved_threads)
    out.seconds = time.monotonic() - start
    return out


def time_alone(spec: WRNSpec, space: Space, device: Any, device_label: str) -> dict[str, Any]:
    """Every objective timed alone (the latencies) of ``spec``, as a trial of ``space`` times it
    (batch, steps, fast path), by name; also what a warm start times a copied architecture with
    (:mod:`wrnsearch.search._warm_start`)."""
    from wrnsearch.train import measure_like_a_trial

    recipe, resolution = space.train, space.dataset.resolution
    figures: dict[str, Any] = {}
    for objective in retimed(NAMES):
        timing, _, _ = measure_like_a_trial(spec, recipe, device, batch=getattr(recipe, objective.batch_setting),
                                            resolution=resolution, steps=recipe.latency_steps,
                                            inference=objective.inference)
        figures[objective.name] = timing.latency_ms
    return {**figures, "device": device_label, "measured_at": time.time()}


def measure_run(run_dir: Any, storage: str | None = None, *, device: Any = None,
                on_timed: Callable[[str, dict[str, Any]], None] | None = None) -> AloneResult:
    """``wrnsearch measure RUN_DIR``: :func:`measure_front_alone` on a run, under its lock (no
    search may run beside it: that is the point).

    Raises:
        RunError: when the run is in use or holds no study.
    """
    from pathlib import Path

    from wrnsearch.compat import close_storage
    from wrnsearch.study import RunLock, open_study, resolve_run, storage_url, study_lock
    from wrnsearch.tracking import publish_search

    space, run_dir = resolve_run(None, run_dir=Path(run_dir))
    url = storage_url(run_dir, storage or space.storage)
    with RunLock(run_dir), study_lock(url, space.name):
        study = open_study(space, url, create=False)
        try:
            result = measure_front_alone(study, space, device=device, on_timed=on_timed)
            publish_search(space, study, run_dir)  # with tracking.mlflow: the front and figures timed now
            return result
        finally:
            close_storage(study)
