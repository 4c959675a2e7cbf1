"""A trial's attempt lost with its worker or its node, said in one line of the run log.

Ray Tune retries a trial whose worker died (``search.max_failures``), on any live node, and the
trainable continues from the trial's last checkpoint (:mod:`wrnsearch.search._trainable`). What
the user needs to know is where it was lost: a node that vanished (a spot instance reclaimed, a
machine that went down) or a worker that crashed on a node still alive. The trial's last report
names its node (``node_id``); Ray's node table says whether that node is still alive.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ray import tune

from wrnsearch.spec import WRNSpec

log = logging.getLogger(__name__)

CHECK_S = 2.0  # how often an attempt lost on a node still counted alive looks at Ray's node table again


def node_state(node_id: str | None) -> tuple[str | None, bool | None]:
    """A node's description (host, IP, id) and whether Ray counts it alive (None: not known)."""
    import ray

    if not node_id:
        return None, None
    for node in ray.nodes():
        if node.get("NodeID") == node_id:
            host, ip = node.get("NodeManagerHostname", "?"), node.get("NodeManagerAddress", "?")
            return f"node {host} ({ip}, {node_id[:12]})", bool(node.get("Alive"))
    return f"node {node_id[:12]}", None


def lost_line(number: Any, arch: Any, where: str | None, alive: bool | None, failures: int,
              max_failures: int) -> str:
    """The run log's line for a retried attempt.

    >>> lost_line(3, "WRN-10-1", "node w2 (10.0.0.7, 4f2a)", False, 1, 2)[:50]
    'trial #3 WRN-10-1: node w2 (10.0.0.7, 4f2a) was lo'
    """
    if where is None:  # lost before its first epoch report, which names the node
        what = "its worker was lost before its first epoch report (which names its node)"
    else:
        what = f"{where} was lost" if alive is False else f"its worker on {where} died"
    return (f"trial #{number} {arch}: {what}; the trial is retried on a live node from its last checkpoint "
            f"(failure {failures} of {max_failures} allowed)")


class LostWorkers(tune.Callback):
    """Logs each retried attempt (:func:`lost_line`): which node it was on and whether that node is gone.

    A node's workers die with it at once, and Tune retries the trial at once, before Ray's health
    checks declare the node dead (seconds later). So an attempt lost on a node still counted alive
    waits, checked every :data:`CHECK_S` between Tune's steps, until Ray decides: its line says
    "was lost" once the node is dead, or "died" when the node is still alive after ``decide_s``
    (a worker that crashed) or when the run ends first.
    """

    def __init__(self, max_failures: int, decide_s: float = 90.0) -> None:
        self.max_failures, self.decide_s = max_failures, decide_s
        self.pending: list[tuple[float, Any, str, str | None, int]] = []  # (give up at, number, arch, node, failures)
        self.checked = 0.0

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        config = trial.config or {}
        try:
            arch = WRNSpec.from_dict(config["spec"]).name
        except (KeyError, TypeError, ValueError):
            arch = trial.trial_id
        failures = int(getattr(trial.run_metadata, "num_failures", 0) or 0)
        node_id = (trial.last_result or {}).get("node_id")
        self.pending.append((time.monotonic() + self.decide_s, config.get("number", "?"), arch, node_id, failures))
        self._decide(final=False, now=True)

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        self._decide(final=False)

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        self._decide(final=True, now=True)

    def _decide(self, final: bool, now: bool = False) -> None:
        if not self.pending or (not now and time.monotonic() - self.checked < CHECK_S):
            return
        self.checked = time.monotonic()
        waiting = []
        for give_up, number, arch, node_id, failures in self.pending:
            where, alive = node_state(node_id)
            if alive is not True or final or time.monotonic() >= give_up:  # dead, unknown, or decided
                log.warning("%s", lost_line(number, arch, where, alive, failures, self.max_failures))
            else:
                waiting.append((give_up, number, arch, node_id, failures))
        self.pending = waiting
