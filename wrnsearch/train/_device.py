"""Where and how a trial computes: the device, and the fast path (bf16, channels_last, compile).

``train.amp`` and ``train.channels_last`` are ``auto``, ``true`` or ``false``. ``auto`` turns
them on with CUDA, and on a CPU where bf16 autocast with channels_last runs a training step
faster than fp32: decided by timing both once per CPU model, torch version and thread count
(:func:`cpu_bf16_speedup`, about a second, cached), since what is native differs by CPU: AMX
(Xeon Sapphire Rapids and later) and AVX512-BF16 (AMD Zen 4) run WRN steps faster in bf16, a CPU
without bf16 units runs them slower (``wrnsearch bench train``; BENCHMARKS.md). ``compile`` applies on any
device when asked for. The record of each trial says which was taken, and why (``fast_path``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import time
from typing import Any

import torch

from wrnsearch.compat import cpu_has_amx_bf16
from wrnsearch.errors import DeviceError
from wrnsearch.files import atomic_write_text, cache_dir
from wrnsearch.machine import cpu_model
from wrnsearch.measure import StepTiming, measure_inference, measure_training_step
from wrnsearch.model import build_model
from wrnsearch.spec import WRNSpec
from wrnsearch.train._recipe import Recipe


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``auto`` (or None): CUDA when present, else the CPU; otherwise the named device.

    Raises:
        DeviceError: for a name torch does not know, or CUDA on a machine without it.
    """
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise DeviceError(f"{str(device)!r} is not a device ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError("CUDA is not available on this machine; use the CPU (device cpu)")
    return dev


log = logging.getLogger(__name__)

BF16_FASTER = 1.2  # auto takes bf16 on a CPU where a step ran at least this much faster than in fp32
_SPEEDUPS: dict[int, float] = {}  # threads -> this process's measured bf16 speedup


def cpu_has_bf16_units() -> bool:
    """AMX bf16 tiles (Xeon Sapphire Rapids and later), as torch's probes see them."""
    return cpu_has_amx_bf16()


def _time_step(amp: bool, rounds: int = 2) -> float:
    from wrnsearch.spec import parse_name

    model = build_model(parse_name("WRN-10-2"))
    fastest = float("inf")
    for _ in range(rounds):
        t = measure_training_step(model, batch=32, steps=3, warmup=1, amp=amp, channels_last=amp)
        fastest = min(fastest, t.latency_ms)
    return fastest


def _measure_bf16_speedup() -> float:
    """fp32 NCHW step time over bf16 channels_last step time, WRN-10-2 at batch 32, best of two each."""
    fp32, bf16 = _time_step(False), _time_step(True)
    return fp32 / bf16


def cpu_bf16_speedup(threads: int | None = None) -> float:
    """How much faster a training step runs here with bf16 autocast and channels_last than in
    fp32 (above 1: faster), at ``threads`` (default: torch's). Timed once per CPU model, torch
    version and thread count, and cached in ``$WRNSEARCH_CACHE/precision.json``; trials that
    start together wait for the first one's measurement (a file lock)."""
    threads = int(threads or torch.get_num_threads())
    if threads in _SPEEDUPS:
        return _SPEEDUPS[threads]
    path = cache_dir() / "precision.json"
    key = json.dumps([cpu_model(), torch.__version__, threads])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path.with_suffix(".lock"), "a")  # noqa: SIM115 - held until the figure is known
    except OSError:
        lock = None
    with lock or contextlib.nullcontext():
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        known = _read_json(path)
        if key not in known:
            saved = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                speedup = _measure_bf16_speedup()
            finally:
                torch.set_num_threads(saved)
            known[key] = {"speedup": round(speedup, 3), "at": time.time()}
            try:
                atomic_write_text(path, json.dumps(known, sort_keys=True))
            except OSError as e:
                log.warning("cannot cache the bf16 measurement in %s: %s", path, e)
    _SPEEDUPS[threads] = float(known[key]["speedup"])
    return _SPEEDUPS[threads]


def _read_json(path: Any) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _setting(value: bool | str, fast_device: bool) -> bool:
    return fast_device if value == "auto" else bool(value)


def _fast_device(recipe: Recipe, device: torch.device) -> bool:
    if device.type == "cuda":
        return True
    if device.type != "cpu" or "auto" not in (recipe.amp, recipe.channels_last):
        return False
    return cpu_bf16_speedup() >= BF16_FASTER


def fast_path(recipe: Recipe, device: torch.device) -> tuple[bool, bool, bool]:
    """(amp, channels_last, compile) for this recipe on this device.

    ``recipe`` has ``amp`` and ``channels_last`` (``auto``/True/False) and ``compile`` (bool).
    """
    fast_device = _fast_device(recipe, device)
    return (_setting(recipe.amp, fast_device), _setting(recipe.channels_last, fast_device),
            bool(recipe.compile))


def fast_path_reason(recipe: Recipe, device: torch.device) -> str:
    """Why the trial computes as it does, for its record: ``auto: bf16 measured 2.1x faster ...``."""
    amp, channels_last, _ = fast_path(recipe, device)
    taken = ("bf16" if amp else "fp32") + (" with channels_last" if channels_last else "")
    if "auto" not in (recipe.amp, recipe.channels_last):
        return f"{taken}: as train.amp and train.channels_last say"
    if device.type == "cuda":
        return f"{taken}: auto, on CUDA"
    if device.type != "cpu":
        return f"{taken}: auto, on {device.type}"
    speedup = cpu_bf16_speedup()
    return (f"{taken}: auto, a training step in bf16 with channels_last measured {speedup:.2f}x as fast as fp32 "
            f"on this CPU ({cpu_model()}; bf16 at {BF16_FASTER}x or more)")


def measure_like_a_trial(spec: WRNSpec, recipe: Recipe, device: torch.device, *, batch: int, resolution: int,
                         steps: int, inference: bool = False) -> tuple[StepTiming, bool, bool]:
    """Time a fresh model as a trial on ``device`` would run it: with its fast path.

    A training step (``latency_ms``), or with ``inference`` one eval-mode forward pass without
    autograd (``latency_infer_ms``). Returns the timing and the (amp, channels_last) it ran with.
    """
    amp, channels_last, _ = fast_path(recipe, device)
    model = build_model(spec)
    shape = dict(device=device, batch=batch, resolution=resolution, in_channels=spec.in_channels, steps=steps,
                 amp=amp, channels_last=channels_last)
    if inference:
        timing = measure_inference(model, **shape)
    else:
        timing = measure_training_step(model, num_classes=spec.num_classes, **shape)
    return timing, amp, channels_last
