"""Before the first trial: can any node of the Ray cluster ever host one?

Ray Tune keeps a trial PENDING, silently, when no node can host what it asks for (its warning
reaches only the log, after a minute), and a search would wait forever behind a view of trials
"started". So the driver reads the cluster's nodes once Ray is up and refuses a trial no node
could ever host, in one line (:func:`wrnsearch.plan.hosting_problem`). Where an autoscaler may
add a node that can, waiting is legitimate: the live view then says what the search waits for.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from wrnsearch.errors import RunError
from wrnsearch.plan import Node, TrialRequest, concurrency_note, hosting_problem, trials_at_once

log = logging.getLogger(__name__)

def cluster_nodes() -> list[Node]:
    """The alive nodes of the cluster this driver joined, as Ray declares their resources."""
    import ray

    nodes = []
    for n in ray.nodes():
        if not n.get("Alive"):
            continue
        r = n.get("Resources", {})
        nodes.append(Node(f"{n.get('NodeManagerHostname', '?')} ({n.get('NodeManagerAddress', '?')})",
                          float(r.get("CPU", 0)), float(r.get("GPU", 0)), r.get("memory")))
    return nodes


def ray_autoscaling_status() -> dict[str, Any]:
    """What the Ray head's monitor last published about the cluster (``ray status`` reads the
    same; empty when it is not there or cannot be read). No public call reads it: Ray's internal
    key-value store, ``__autoscaling_status`` (``ray_constants.DEBUG_AUTOSCALING_STATUS``); its
    name is checked against the installed Ray with the private APIs of :mod:`wrnsearch.compat`."""
    try:
        import ray.experimental.internal_kv as internal_kv

        raw = internal_kv._internal_kv_get("__autoscaling_status")  # noqa: SLF001
        return json.loads(raw) if raw else {}
    except Exception as e:  # noqa: BLE001 - not connected, or another Ray: nothing known
        log.debug("the autoscaler's status is not readable: %s", e)
        return {}


def autoscaler_present() -> bool:
    """Whether an autoscaler may add nodes: the cluster launcher's bootstrap file is on this node
    (Ray Tune's own test), autoscaler v2 runs (KubeRay), or the monitor reports node types of a
    configuration. Every Ray head runs a monitor; without a cluster configuration its node types
    are only the nodes themselves (``node_<id>``, Ray's read-only provider), which add nothing."""
    if Path("~/ray_bootstrap_config.yaml").expanduser().exists():
        return True
    try:
        from ray.autoscaler.v2.utils import is_autoscaler_v2

        if is_autoscaler_v2():
            return True
    except Exception as e:  # noqa: BLE001 - an old or odd cluster: no autoscaler known
        log.debug("autoscaler v2 not known: %s", e)
    status = ray_autoscaling_status()
    mapping = (status.get("autoscaler_report") or {}).get("node_type_mapping") or {}
    return configured_node_types(mapping)


def configured_node_types(mapping: dict[str, str]) -> bool:
    """Whether a monitor's node-to-type mapping names types of a cluster configuration.

    >>> configured_node_types({"6e11": "node_6e11"}), configured_node_types({"6e11": "ray.head.default"})
    (False, True)
    """
    return any(kind != f"node_{node}" for node, kind in mapping.items())


def check_trials_can_start(source: str, request: TrialRequest, max_concurrent: int) -> tuple[int, str | None]:
    """Refuse (:class:`RunError`, one line) a trial no node could ever host, unless an autoscaler
    may add one. Returns how many trials the nodes host at once now (at most ``max_concurrent``,
    at least 1), and the line to say when ``max_concurrent`` is more than that (None: it is not)."""
    nodes = cluster_nodes()
    scaling = autoscaler_present()
    problem = hosting_problem(source, request, nodes, autoscaler=scaling)
    if problem is not None:
        raise RunError(problem)
    room = max(1, trials_at_once(nodes, request, max_concurrent))
    if scaling:
        return room, None  # the autoscaler sizes the cluster to what is asked
    return room, concurrency_note(request, nodes, max_concurrent)
