"""From a handful of timed architectures to every architecture's epoch and trial seconds.

Pure arithmetic (numpy, no torch): a training step's seconds and an evaluation's seconds per
image are fitted to what the spec says exactly, its multiply-accumulates and its activation
memory per image, by non-negative least squares on relative errors (a constant for what every
step costs, the optimizer and the framework's overhead included). How well it predicts recorded
epochs is measured by ``wrnsearch bench forecast`` (BENCHMARKS.md, "Forecast against real times").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from wrnsearch.cost import Cost

# What a trial pays besides its epochs that no step timing shows: the worker's start (a new Ray
# actor on two cores takes about 2 s, a reused one 0.2 s; DESIGN.md) and the model's build.
START_S = 2.0
LATENCY_WARMUP = 5  # measure.py's warm-up steps before each latency's timed ones


@dataclass(frozen=True)
class Probe:
    """One architecture timed as its trial would run it (:func:`wrnsearch.train.time_trial_steps`)."""

    arch: str
    cost: Cost  # at batch 1: activation bytes per image
    train_step_s: float  # at the recipe's batch (converted when timed at a smaller one)
    eval_image_s: float
    checkpoint_s: float


def _features(cost: Cost) -> list[float]:
    return [1.0, float(cost.macs), float(cost.activation_bytes)]


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.optimize import nnls

    return nnls(a, b)[0]


@dataclass(frozen=True)
class StepModel:
    """Seconds of a training step at the recipe's batch, of evaluating one image and of one
    checkpoint, for any architecture, fitted to probes."""

    train: tuple[float, ...]
    evaluate: tuple[float, ...]
    checkpoint: tuple[float, ...]

    @classmethod
    def fit(cls, probes: list[Probe]) -> StepModel:
        """Weights on (1, MACs, activation bytes) per image minimising each probe's relative error.

        >>> from wrnsearch.cost import Cost
        >>> probes = [Probe(str(m), Cost(0, m, 4 * m), 0.01 + 2e-9 * m, 1e-11 * m, 0.0) for m in (1e6, 1e7, 1e8)]
        >>> round(StepModel.fit(probes).train_s(Cost(0, int(5e7), int(2e8))), 4)
        0.11
        """
        x = np.array([_features(p.cost) for p in probes])
        scale = x.max(axis=0)
        scale[scale == 0] = 1.0

        def weights(y: list[float]) -> tuple[float, ...]:
            target = np.maximum(np.array(y), 1e-12)
            return tuple((_nnls((x / scale) / target[:, None], np.ones(len(y))) / scale).tolist())

        return cls(weights([p.train_step_s for p in probes]), weights([p.eval_image_s for p in probes]),
                   weights([p.checkpoint_s for p in probes]))

    def _apply(self, w: tuple[float, ...], cost: Cost) -> float:
        return float(np.dot(w, _features(cost)))

    def train_s(self, cost: Cost) -> float:
        return self._apply(self.train, cost)

    def eval_image_s(self, cost: Cost) -> float:
        return self._apply(self.evaluate, cost)

    def checkpoint_s(self, cost: Cost) -> float:
        return self._apply(self.checkpoint, cost)


@dataclass(frozen=True)
class Sizes:
    """What one trial processes: images of each split, the recipe's batches and epochs, the latencies' steps."""

    train: int
    val: int
    test: int
    batch: int
    epochs: int
    latency_batch: int
    infer_batch: int
    latency_steps: int


@dataclass(frozen=True)
class Forecast:
    """One architecture's predicted seconds on the planned device."""

    epoch_s: float  # training steps and the validation pass of one epoch
    trial_s: float  # every epoch, and what a trial pays once: start, latency timing, test, checkpoints
    fixed_s: float  # trial_s less the epochs


def forecast(model: StepModel, cost: Cost, sizes: Sizes) -> Forecast:
    """Epoch and trial seconds of the architecture of ``cost`` (per image) for ``sizes``.

    A step's seconds are taken as flat per image beyond the constant of the fit (the last,
    smaller batch of an epoch costs its share), which is how a CPU behaves and overstates a
    GPU's small batches a little.
    """
    step = model.train_s(cost)
    per_image = max(0.0, step - model.train[0]) / sizes.batch
    full, last = divmod(sizes.train, sizes.batch)
    steps_s = full * step + (model.train[0] + per_image * last if last >= 2 else 0.0)
    eval_image = model.eval_image_s(cost)
    epoch = steps_s + eval_image * sizes.val
    timed = sizes.latency_steps + LATENCY_WARMUP
    latency = timed * (model.train[0] + per_image * sizes.latency_batch) + timed * eval_image * sizes.infer_batch
    fixed = START_S + latency + eval_image * sizes.test + sizes.epochs * model.checkpoint_s(cost)
    return Forecast(epoch_s=epoch, trial_s=sizes.epochs * epoch + fixed, fixed_s=fixed)


def training_memory_bytes(cost: Cost, *, amp: bool, cuda: bool, data_bytes: int) -> int:
    """Peak memory of one trial, from the exact counts: the activations autograd saves at the
    batch (``cost`` at the recipe's batch; bf16 autocast halves them), the weights with their
    gradients and momentum (fp32) and a bf16 copy under autocast, the data set (on a GPU it lives
    there), and the runtime (a CUDA context, or torch's own resident memory on a CPU)."""
    activations = cost.activation_bytes // 2 if amp else cost.activation_bytes
    weights = cost.params * 4 * 3 + (cost.params * 2 if amp else 0)
    runtime = 600 * 2**20 if cuda else 400 * 2**20  # a CUDA context; torch's and Python's resident set
    return int(activations + weights + data_bytes + runtime)


def trials_per_gpu(memory_bytes: int, gpu_memory_bytes: int, *, usable: float = 0.9) -> int:
    """How many trials of ``memory_bytes`` fit together in one GPU's memory (at least one).

    >>> trials_per_gpu(9 * 2**30, 80 * 2**30), trials_per_gpu(100 * 2**30, 80 * 2**30)
    (8, 1)
    """
    return max(1, math.floor(usable * gpu_memory_bytes / max(1, memory_bytes)))


def search_seconds(trial_s: list[float], trials: int, at_once: int) -> float:
    """Expected wall seconds of ``trials`` trials ``at_once`` at a time, architectures drawn
    evenly from those of ``trial_s`` (the sampler's choices are not known before it runs).

    >>> search_seconds([10.0, 30.0], trials=8, at_once=2)
    80.0
    """
    if not trial_s or at_once <= 0:
        return math.inf
    return float(np.mean(trial_s)) * trials / at_once
