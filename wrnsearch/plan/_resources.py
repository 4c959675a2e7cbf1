"""What one trial asks of a node, what the nodes have, and how many trials they host at once.

Pure arithmetic on plain figures (no Ray, no torch): the search's preflight reads the nodes of
its Ray cluster into :class:`Node` and asks :func:`hosting_problem` whether any node can ever
host a trial, and :func:`trials_at_once` how many run together; ``wrnsearch plan`` asks the
same of this machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wrnsearch.cost import format_bytes

_EPS = 1e-9  # fractional GPUs: 4 trials of 0.25 fit in one GPU, floating point notwithstanding


@dataclass(frozen=True)
class TrialRequest:
    """The resources one trial asks for (``resources.cpus_per_trial``, ``gpus_per_trial``, ``memory_per_trial``)."""

    cpus: float
    gpus: float = 0.0
    memory_bytes: int | None = None

    def text(self) -> str:
        """``1 GPU and 4 CPUs``, ``0.5 GPU, 2 CPUs and 8 GiB``.

        >>> TrialRequest(4, 1).text(), TrialRequest(2, 0.5, 8 * 2**30).text(), TrialRequest(1).text()
        ('1 GPU and 4 CPUs', '0.5 GPU, 2 CPUs and 8 GiB', '1 CPU')
        """
        parts = []
        if self.gpus > 0:
            parts.append(f"{_number(self.gpus)} GPU{'s' if self.gpus > 1 else ''}")
        parts.append(f"{_number(self.cpus)} CPU{'s' if self.cpus != 1 else ''}")
        if self.memory_bytes:
            parts.append(format_bytes(self.memory_bytes))
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


@dataclass(frozen=True)
class Node:
    """A machine trials can run on, as Ray (or this machine) declares it."""

    name: str
    cpus: float
    gpus: float = 0.0
    memory_bytes: float | None = None  # what Ray lets tasks reserve (its ``memory`` resource)

    def text(self) -> str:
        """``2 CPUs and no GPU``."""
        gpus = f"{_number(self.gpus)} GPU{'s' if self.gpus != 1 else ''}" if self.gpus > 0 else "no GPU"
        memory = f", {format_bytes(int(self.memory_bytes))} of memory" if self.memory_bytes else ""
        return f"{_number(self.cpus)} CPU{'s' if self.cpus != 1 else ''}{memory} and {gpus}"


def _number(x: float) -> str:
    return f"{x:g}"


def _count(have: float | None, ask: float | None) -> float:
    if not ask or ask <= 0:
        return math.inf
    return math.floor((have or 0.0) / ask + _EPS)


def hosts(node: Node, request: TrialRequest) -> int:
    """How many trials of ``request`` the node runs at once (0: it cannot run one).

    >>> hosts(Node("a", 16, 2), TrialRequest(4, 0.5)), hosts(Node("b", 2), TrialRequest(4, 1))
    (4, 0)
    """
    n = min(_count(node.cpus, request.cpus), _count(node.gpus, request.gpus),
            _count(node.memory_bytes, request.memory_bytes) if node.memory_bytes is not None else math.inf)
    return 0 if n == math.inf else int(n)


def trials_at_once(nodes: list[Node], request: TrialRequest, max_concurrent: int) -> int:
    """Trials the nodes run together, at most ``search.max_concurrent``.

    >>> trials_at_once([Node("a", 2), Node("b", 2)], TrialRequest(1), 8)
    4
    """
    return min(max_concurrent, sum(hosts(n, request) for n in nodes))


def largest(nodes: list[Node]) -> Node | None:
    """The node with the most GPUs, then CPUs: the one to quote when none can host a trial."""
    return max(nodes, key=lambda n: (n.gpus, n.cpus, n.memory_bytes or 0), default=None)


def hosting_problem(source: str, request: TrialRequest, nodes: list[Node], *, autoscaler: bool = False) -> str | None:
    """Why no trial of ``request`` can ever start on ``nodes``, in one line that names the space
    file, its keys and the fixes; None when a node can host one, or when an autoscaler may add
    one (waiting is then legitimate, and the live view says what it waits for).

    >>> print(hosting_problem("spaces/cifar10.yaml", TrialRequest(4, 1), [Node("here", 2)]))
    spaces/cifar10.yaml: a trial asks for 1 GPU and 4 CPUs (resources.gpus_per_trial, resources.cpus_per_trial) \
and the largest node has 2 CPUs and no GPU, so no trial could ever start: run on the CPU with \
--set resources.gpus_per_trial=0 --set resources.cpus_per_trial=2, or join a cluster with GPUs with --address
    """
    if autoscaler or any(hosts(n, request) > 0 for n in nodes):
        return None
    big = largest(nodes)
    if big is None:
        return f"{source}: the Ray cluster has no live node to run a trial on: start one, or join another (--address)"
    keys, fixes = [], []
    if request.gpus > 0 and big.gpus + _EPS < request.gpus:
        keys.append("resources.gpus_per_trial")
        fixes.append("resources.gpus_per_trial=0")
    if big.cpus + _EPS < request.cpus:
        keys.append("resources.cpus_per_trial")
        fixes.append(f"resources.cpus_per_trial={_number(max(1, math.floor(big.cpus)))}")
    if request.memory_bytes and big.memory_bytes is not None and big.memory_bytes < request.memory_bytes:
        keys.append("resources.memory_per_trial")
        fixes.append(f"resources.memory_per_trial={format_bytes(int(big.memory_bytes)).replace(' ', '')}")
    where = "run on the CPU with" if "resources.gpus_per_trial" in keys else "ask for less with"
    elsewhere = "join a cluster with GPUs" if request.gpus > 0 and big.gpus < request.gpus else "join a larger cluster"
    return (f"{source}: a trial asks for {request.text()} ({', '.join(keys)}) and the largest node has "
            f"{big.text()}, so no trial could ever start: {where} {' '.join('--set ' + f for f in fixes)}, "
            f"or {elsewhere} with --address")


def concurrency_note(request: TrialRequest, nodes: list[Node], max_concurrent: int) -> str | None:
    """One line when ``search.max_concurrent`` asks for more trials at once than the nodes host.

    >>> concurrency_note(TrialRequest(1), [Node("here", 2)], 4)
    'search.max_concurrent is 4, but the cluster runs 2 trials of 1 CPU at once: 2 at a time'
    """
    room = sum(hosts(n, request) for n in nodes)
    if room <= 0 or room >= max_concurrent:
        return None
    return (f"search.max_concurrent is {max_concurrent}, but the cluster runs {room} trial{'s' if room != 1 else ''} "
            f"of {request.text()} at once: {room} at a time")
