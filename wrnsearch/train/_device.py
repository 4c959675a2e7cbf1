"""Where and how a trial computes: the device, and the fast path (bf16, channels_last, compile).

``train.amp`` and ``train.channels_last`` are ``auto``, ``true`` or ``false``. ``auto`` turns
them on with CUDA and on a CPU with AMX bf16 units (Xeon Sapphire Rapids and later), where bf16
autocast with channels_last trained WRN-16-2 2.3-2.9x faster than fp32 (BENCHMARKS.md); other
CPUs emulate bf16 and run slower with it, so ``auto`` leaves them in fp32. ``compile`` applies
on any device when asked for.
"""

from __future__ import annotations

from typing import Any

import torch

from wrnsearch.compat import cpu_has_amx_bf16
from wrnsearch.errors import DeviceError
from wrnsearch.measure import StepTiming, measure_inference, measure_training_step
from wrnsearch.model import build_model
from wrnsearch.spec import WRNSpec


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


def cpu_has_bf16_units() -> bool:
    """AMX bf16 tiles (Xeon Sapphire Rapids and later): where bf16 on the CPU runs fast."""
    return cpu_has_amx_bf16()


def _setting(value: bool | str, fast_device: bool) -> bool:
    return fast_device if value == "auto" else bool(value)


def fast_path(recipe: Any, device: torch.device) -> tuple[bool, bool, bool]:
    """(amp, channels_last, compile) for this recipe on this device.

    ``recipe`` has ``amp`` and ``channels_last`` (``auto``/True/False) and ``compile`` (bool).
    """
    fast_device = device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16_units())
    return (_setting(recipe.amp, fast_device), _setting(recipe.channels_last, fast_device),
            bool(recipe.compile))


def measure_like_a_trial(spec: WRNSpec, recipe: Any, device: torch.device, *, batch: int, resolution: int,
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
