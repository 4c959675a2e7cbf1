"""``wrnsearch plan``: what a search will cost on this hardware, before any trial.

:func:`make_plan` times a handful of the space's architectures as their trials would run
(:mod:`wrnsearch.plan._probe`), fits step time to the exact costs every spec has
(:mod:`wrnsearch.plan._forecast`), and predicts every feasible architecture's epoch and trial
seconds and peak memory; then the search: trials at once, trial times, the wall time of
``budget.max_trials``, and what ``budget.time`` and ``budget.trial_time`` cut.
"""

from __future__ import annotations

import math
import os
import socket
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from wrnsearch.cost import model_cost
from wrnsearch.data import dataset_split_sizes
from wrnsearch.errors import DeviceError
from wrnsearch.machine import cpu_model, usable_cores
from wrnsearch.measure import device_name
from wrnsearch.plan._forecast import (
    Probe,
    Sizes,
    StepModel,
    forecast,
    search_seconds,
    training_memory_bytes,
    trials_per_gpu,
)
from wrnsearch.plan._probe import ProbeSetting, time_probes
from wrnsearch.plan._resources import Node, TrialRequest, concurrency_note, hosting_problem, hosts, trials_at_once
from wrnsearch.space import Space, as_space, budget_violations, iter_specs, space_cost
from wrnsearch.spec import WRNSpec
from wrnsearch.train import fast_path, pick_device
from wrnsearch.units import format_duration, format_seconds

PROBES = 5  # architectures timed; the forecast it gives: BENCHMARKS.md, "Forecast against real times"
MAX_LISTED = 20_000  # architectures forecast one by one; a larger space is forecast on its first ones


@dataclass(frozen=True)
class ArchitecturePlan:
    arch: str
    params: int
    macs: int
    epoch_s: float
    trial_s: float
    memory_bytes: int


@dataclass
class Plan:
    """A forecast of a search on one device (see the module docstring); ``to_dict`` is ``--format json``."""

    source: str
    device: str
    device_type: str
    precision: str  # "bf16 with channels_last" or "fp32"
    threads: int  # CPU threads of each trial
    request: TrialRequest
    node: Node
    trials_at_once: int
    probes: list[dict[str, Any]]
    architectures: list[ArchitecturePlan]
    search: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # what a trial would need that this machine lacks, and more

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.source, "device": self.device, "device_type": self.device_type,
                "precision": self.precision, "threads_per_trial": self.threads, "trial_asks": asdict(self.request),
                "node": asdict(self.node), "trials_at_once": self.trials_at_once, "probes": self.probes,
                "architectures": [asdict(a) for a in self.architectures], "search": self.search,
                "notes": self.notes}

    def summary_line(self) -> str:
        """The plan in one line (``wrnsearch run`` prints it at its start)."""
        s = self.search
        if not self.architectures:
            return f"plan: no architecture of {self.source} is within its budgets"
        times = (f"a trial {format_duration(s['trial_s_min'])} to {format_duration(s['trial_s_max'])} "
                 f"(median {format_duration(s['trial_s_median'])})")
        at_once = (f"{self.trials_at_once} at once" if self.trials_at_once else
                   f"none can run here (a trial asks for {self.request.text()}), so one at a time if it could")
        line = (f"plan: on {self.device}, {self.precision}, {self.threads} thread{'s' if self.threads != 1 else ''} "
                f"a trial, {at_once}; {times}; {s['trials']} trials in about {format_duration(s['wall_s'])}")
        if (after := s.get("cut_by_time_after")) is not None:
            ends = f"ends it after about {after} trials" if after else "is shorter than a trial on average"
            line += f"; budget.time {format_seconds(s['time_budget_s'])} {ends}"
        if s.get("over_trial_time"):
            line += f"; budget.trial_time cuts {s['over_trial_time']} of {len(self.architectures)} architectures"
        return line


def plan_device(space: Space, device: str | None) -> torch.device:
    """The device trials of ``space`` run on here: ``device`` when given, else CUDA when the space
    asks for GPUs (``auto``: when present), else the CPU.

    Raises:
        DeviceError: the space asks for a GPU this machine lacks (one line, with the way out).
    """
    if device not in (None, "auto"):
        return pick_device(device)
    gpus = space.resources.gpus_per_trial
    if gpus == "auto":
        return pick_device("auto")
    if gpus > 0 and not torch.cuda.is_available():
        raise DeviceError(f"{space.source}: resources.gpus_per_trial is {gpus:g}, and this machine has no GPU: "
                          "plan for its CPU with --device cpu, or plan on a machine with the GPU")
    return torch.device("cuda" if gpus > 0 else "cpu")


def this_machine() -> Node:
    """This machine as a node: its cores, GPUs and memory."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = None
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return Node(socket.gethostname(), float(usable_cores()), float(gpus), memory)


def feasible_specs(space: Space) -> list[WRNSpec]:
    """The space's architectures within its budgets (at most :data:`MAX_LISTED`), MACs ascending."""
    specs = []
    for spec in iter_specs(space):
        if not budget_violations(space, space_cost(space, spec)):
            specs.append(spec)
            if len(specs) >= MAX_LISTED:
                break
    return sorted(specs, key=lambda s: (model_cost(s, space.dataset.resolution).macs, s.name))


def probe_specs(specs: list[WRNSpec], n: int = PROBES) -> list[WRNSpec]:
    """``n`` architectures spread evenly over the ranks of ``specs`` (sorted by MACs), both ends included."""
    if len(specs) <= n:
        return list(specs)
    picks = sorted({round(i * (len(specs) - 1) / (n - 1)) for i in range(n)})
    return [specs[i] for i in picks]


def _request(space: Space, dev: torch.device, notes: list[str]) -> TrialRequest:
    gpus = space.resources.gpus_per_trial
    gpus = (1.0 if dev.type == "cuda" else 0.0) if gpus == "auto" else float(gpus)
    if dev.type == "cpu" and gpus > 0:
        notes.append(f"the space asks for {gpus:g} GPU a trial (resources.gpus_per_trial); planned for the CPU, "
                     "whose trials need --set resources.gpus_per_trial=0")
        gpus = 0.0
    return TrialRequest(space.resources.cpus_per_trial, gpus, space.resources.memory_per_trial)


def plan_space(space: str | os.PathLike[str] | Mapping[str, Any] | Space, *, overrides: Sequence[str] = (),
               device: str | None = None, data_root: str | None = None, probes: int = PROBES,
               use_cache: bool = True) -> Plan:
    """Forecast a search on this machine before any trial (``wrnsearch plan SPACE.yaml``).

    ``space`` is a space file, its sections as a mapping, or a :class:`~wrnsearch.space.Space`;
    ``overrides`` are ``--set`` items (``"train.epochs=2"``). A few architectures are timed as their
    trials would run them (cached: a second plan times nothing), the rest follow from their exact
    costs. The :class:`Plan` holds every architecture's epoch and trial seconds and peak memory
    (``architectures``), the whole search's wall time (``search``) and ``summary_line()``.

    Example:
        >>> import wrnsearch
        >>> print(wrnsearch.plan("spaces/quickstart.yaml").summary_line())  # doctest: +SKIP
    """
    return make_plan(as_space(space, overrides, source="<space given to wrnsearch.plan>"), device=device,
                     data_root=data_root, probes=probes, use_cache=use_cache)


def make_plan(space: Space, *, device: str | None = None, data_root: str | None = None, probes: int = PROBES,
              node: Node | None = None, steps: int = 5, use_cache: bool = True) -> Plan:
    """Forecast ``space``'s search on ``device`` (see the module docstring) on ``node`` (this machine)."""
    dev = plan_device(space, device)
    notes: list[str] = []
    node = node or this_machine()
    request = _request(space, dev, notes)
    if (problem := hosting_problem(space.source, request, [node])) is not None:
        notes.append(problem.split(": ", 1)[1])
    if (note := concurrency_note(request, [node], space.search.max_concurrent)) is not None:
        notes.append(note)
    at_once = trials_at_once([node], request, space.search.max_concurrent)
    sharing = max(1, at_once if dev.type == "cpu" else min(at_once, max(1, round(1 / max(request.gpus, 1e-9)))))
    threads = int(max(1, min(space.resources.cpus_per_trial, usable_cores())))
    setting = ProbeSetting(dev, threads, sharing, space.dataset.resolution, steps=steps)
    specs = feasible_specs(space)
    timed = time_probes(probe_specs(specs, probes), space.train, setting, use_cache=use_cache) if specs else []
    batch = space.train.batch_size
    fitted = [Probe(s.name, model_cost(s, space.dataset.resolution, 1), t.train_step_s * batch / t.batch,
                    t.eval_image_s, t.checkpoint_s) for s, t, _ in timed]
    model = StepModel.fit(fitted) if fitted else None
    architectures = _forecasts(space, specs, model, dev, data_root) if model else []
    amp, channels_last, _ = fast_path(space.train, dev)
    precision = ("bf16" if amp else "fp32") + (" with channels_last" if channels_last else "")
    name = f"cpu ({cpu_model()})" if dev.type == "cpu" else device_name(dev)
    plan = Plan(space.source, name, dev.type, precision, threads, request, node, at_once,
                [{"arch": s.name, "batch": t.batch, "train_step_s": round(t.train_step_s, 5),
                  "eval_image_s": round(t.eval_image_s, 7), "cached": cached} for s, t, cached in timed],
                architectures, {}, notes)
    plan.search = _search(space, architectures, max(1, at_once))
    if dev.type == "cuda" and architectures:
        plan.search.update(_gpu_sharing(space, architectures, dev, node))
    return plan


def _forecasts(space: Space, specs: list[WRNSpec], model: StepModel, dev: torch.device,
               data_root: str | None) -> list[ArchitecturePlan]:
    t = space.train
    n_train, n_val, n_test = dataset_split_sizes(space.dataset, data_root)
    sizes = Sizes(n_train, n_val, n_test, t.batch_size, t.epochs, t.latency_batch, t.infer_batch, t.latency_steps)
    d = space.dataset
    data_bytes = (n_train + n_val + n_test) * d.channels * d.resolution ** 2
    amp, _, _ = fast_path(t, dev)
    out = []
    for spec in specs:
        per_image = model_cost(spec, d.resolution, 1)
        f = forecast(model, per_image, sizes)
        memory = training_memory_bytes(space_cost(space, spec), amp=amp, cuda=dev.type == "cuda",
                                       data_bytes=data_bytes)
        out.append(ArchitecturePlan(spec.name, per_image.params, per_image.macs, round(f.epoch_s, 3),
                                    round(f.trial_s, 2), memory))
    return out


def _search(space: Space, architectures: list[ArchitecturePlan], at_once: int) -> dict[str, Any]:
    b = space.budget
    trial_s = [a.trial_s for a in architectures]
    trials = min(b.max_trials, len(architectures))
    wall = search_seconds(trial_s, trials, at_once) if trial_s else 0.0
    out: dict[str, Any] = {"max_trials": b.max_trials, "feasible": len(architectures), "trials": trials,
                           "at_once": at_once, "wall_s": round(wall, 1), "time_budget_s": b.time,
                           "trial_time_s": b.trial_time}
    if trial_s:
        out.update(trial_s_min=min(trial_s), trial_s_median=statistics.median(trial_s), trial_s_max=max(trial_s))
    mean = statistics.fmean(trial_s) if trial_s else math.inf
    out["cut_by_time_after"] = int(b.time * at_once / mean) if b.time and wall > b.time else None
    out["over_trial_time"] = sum(1 for s in trial_s if b.trial_time and s > b.trial_time)
    return out


def _gpu_sharing(space: Space, architectures: list[ArchitecturePlan], dev: torch.device, node: Node) -> dict[str, Any]:
    """How many trials fit in one GPU's memory (the largest architecture's), and the
    ``gpus_per_trial`` that packs them (the node's CPUs allowing)."""
    gpu_memory = torch.cuda.get_device_properties(dev).total_memory
    return gpu_plan(max(a.memory_bytes for a in architectures), gpu_memory, node, space.resources.cpus_per_trial)


def gpu_plan(memory_bytes: int, gpu_memory_bytes: int, node: Node, cpus_per_trial: float) -> dict[str, Any]:
    """Trials per GPU by memory, then by the CPUs each GPU's share of the node leaves them.

    >>> gpu_plan(9 * 2**30, 80 * 2**30, Node("h100", 16, 1), 4)["gpus_per_trial"]
    0.25
    """
    by_memory = trials_per_gpu(memory_bytes, gpu_memory_bytes)
    by_cpus = max(1, hosts(Node(node.name, node.cpus / max(1.0, node.gpus)), TrialRequest(cpus_per_trial)))
    n = min(by_memory, by_cpus)
    return {"gpu_memory_bytes": gpu_memory_bytes, "largest_trial_memory_bytes": memory_bytes,
            "trials_per_gpu_by_memory": by_memory, "trials_per_gpu": n, "gpus_per_trial": round(1 / n, 4)}
