"""Measured speed: the latency of one training step (the paper's Figure 4 measure) and of inference.

``latency_ms`` is the median wall time of one training step (forward, backward, SGD update) on a
minibatch of random images at the data set's resolution, after warm-up, with the device
synchronized around every timed step. ``latency_infer_ms`` is the same median for one forward
pass in eval mode without autograd (:func:`measure_inference`), what deployers mean by latency,
at batch 1 by default. Random images cost the same as real ones: convolution time does not
depend on pixel values.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class StepTiming:
    """The result of :func:`measure_training_step` and :func:`measure_inference`."""

    latency_ms: float  # median of ``steps`` timed training steps
    latency_p90_ms: float
    images_per_s: float  # batch / median step time
    batch: int
    steps: int
    device: str  # e.g. "cpu" or "NVIDIA H100 80GB HBM3"
    peak_memory_bytes: int | None  # CUDA only: max allocated during the timed steps

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def device_name(device: torch.device | str) -> str:
    """Human-readable name of a device, stored beside every latency."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast_context(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on the device (CUDA or CPU) when ``amp``; a no-op otherwise."""
    if amp and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def measure_training_step(
    model: nn.Module,
    *,
    device: torch.device | str = "cpu",
    batch: int = 32,
    resolution: int = 32,
    in_channels: int = 3,
    num_classes: int = 10,
    steps: int = 20,
    warmup: int = 5,
    amp: bool = False,
    channels_last: bool = False,
) -> StepTiming:
    """Median time of one forward+backward+update step on ``batch`` random images.

    The model's weights change (real SGD updates), so pass a model you are about to train or
    throw away, or one whose state you restore afterwards.
    """
    device = torch.device(device)
    memory_format = _prepare(model, device, channels_last)
    model.train()
    x = torch.randn(batch, in_channels, resolution, resolution, device=device).contiguous(memory_format=memory_format)
    y = torch.randint(0, num_classes, (batch,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast_context(device, amp):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    return _timed(step, device, batch=batch, steps=steps, warmup=warmup)


def measure_inference(
    model: nn.Module,
    *,
    device: torch.device | str = "cpu",
    batch: int = 1,
    resolution: int = 32,
    in_channels: int = 3,
    steps: int = 20,
    warmup: int = 5,
    amp: bool = False,
    channels_last: bool = False,
) -> StepTiming:
    """Median time of one forward pass in eval mode, without autograd, on ``batch`` random images.

    The model's weights and batch-norm statistics are left as they were (eval mode uses the
    running statistics and updates none); its train/eval mode is restored afterwards.
    """
    device = torch.device(device)
    was_training = model.training
    memory_format = _prepare(model, device, channels_last)
    model.eval()
    x = torch.randn(batch, in_channels, resolution, resolution, device=device).contiguous(memory_format=memory_format)

    def step() -> None:
        with torch.inference_mode(), autocast_context(device, amp):
            model(x)

    try:
        return _timed(step, device, batch=batch, steps=steps, warmup=warmup)
    finally:
        model.train(was_training)


def _prepare(model: nn.Module, device: torch.device, channels_last: bool) -> torch.memory_format:
    """Move ``model`` to ``device`` (and channels_last memory); the memory format of its inputs."""
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
        return torch.channels_last
    return torch.contiguous_format


def _timed(step: Callable[[], None], device: torch.device, *, batch: int, steps: int, warmup: int) -> StepTiming:
    """Run ``step`` ``warmup`` times, then time ``steps`` runs with the device synchronized around each."""
    if steps < 1:
        raise ValueError(f"steps {steps} must be >= 1")
    for _ in range(warmup):
        step()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps):
        synchronize(device)
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    times.sort()
    median = statistics.median(times)
    p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return StepTiming(
        latency_ms=median * 1e3,
        latency_p90_ms=p90 * 1e3,
        images_per_s=batch / median,
        batch=batch,
        steps=steps,
        device=device_name(device),
        peak_memory_bytes=peak,
    )
