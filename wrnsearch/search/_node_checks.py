"""Checks on every node of a Ray cluster that can run a trial, before the first trial starts.

A local run reads its data set before the first trial (:func:`wrnsearch.search._driver.run_search`);
on a cluster the data must be on every node that trains, at the path the trials are given, and a
node without it would fail every trial sent there. :func:`check_data_on_nodes` sends one small
task to each such node, pinned to it, that looks for the data set the way a trial would find it
(:func:`wrnsearch.data.locate_dataset`: names only, no image read, so it costs a worker start,
not a decode), and turns what is missing into one :class:`~wrnsearch.errors.RunError` line.
"""

from __future__ import annotations

import logging
from typing import Any

from wrnsearch import dataset_registry
from wrnsearch.errors import RunError, WRNSearchError, one_line

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 600.0  # a node's first task may wait for the job's runtime environment to be built there


def data_problem(dataset: dict[str, Any], data_root: str | None) -> str | None:
    """On this node: why the trials could not read ``dataset`` (a space's ``dataset`` section as
    plain data), in one line, or None when it is there (or will be downloaded as a trial would)."""
    from wrnsearch.data import locate_dataset, read_dataset, resolve_data_root

    name = dataset["name"]
    if dataset_registry.get(name).generated:
        return None
    root = resolve_data_root(data_root, dataset.get("root"))
    try:
        if locate_dataset(name, root) is None:  # absent: what a trial would do (download, or fail)
            read_dataset(name, root, download=bool(dataset.get("download", True)), resolution=dataset.get("resolution"))
    except WRNSearchError as e:
        return str(e)
    except OSError as e:  # an unreadable mount
        return f"{type(e).__name__}: {e}"
    return None


def trial_nodes(cpus_per_trial: float, gpus_per_trial: float) -> list[dict[str, Any]]:
    """The alive nodes with the CPUs (and GPUs) one trial asks for, as ``ray.nodes()`` lists them."""
    import ray

    nodes = []
    for node in ray.nodes():
        resources = node.get("Resources", {})
        if (node.get("Alive") and resources.get("CPU", 0) >= cpus_per_trial
                and (gpus_per_trial <= 0 or resources.get("GPU", 0) >= gpus_per_trial)):
            nodes.append(node)
    return nodes


def check_data_on_nodes(dataset: dict[str, Any], data_root: str | None, cpus_per_trial: float = 1.0,
                        gpus_per_trial: float = 0.0, timeout_s: float = CHECK_TIMEOUT_S) -> int:
    """Check the data set on every node that can run a trial; the number of nodes checked.

    The tasks ask for no CPU, so that they run at once beside whatever the nodes are doing. A
    node that does not answer within ``timeout_s`` is logged and left to the trials (a broken
    setup there is caught by the search's setup-failure streak).

    Raises:
        RunError: one line naming the first node without the data (and how many more) and why.
    """
    if dataset_registry.get(dataset["name"]).generated:
        return 0
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = trial_nodes(cpus_per_trial, gpus_per_trial)
    check = ray.remote(num_cpus=0, max_retries=0)(data_problem)
    pending = {check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
               .remote(dataset, data_root): node for node in nodes}
    ready, late = ray.wait(list(pending), num_returns=len(pending), timeout=timeout_s)
    problems = []
    for ref in ready:
        node = pending[ref]
        try:
            problem = ray.get(ref)
        except Exception as e:  # noqa: BLE001 - the check itself failed there (a worker that cannot start)
            problem = f"the check could not run there ({one_line(e, 200, kind=True)})"
        if problem:
            problems.append((_label(node), problem))
    for ref in late:
        log.warning("the data check on node %s did not answer within %g s; its trials will tell",
                    _label(pending[ref]), timeout_s)
        ray.cancel(ref, force=True)
    if problems:
        label, problem = sorted(problems)[0]
        more = f" and {len(problems) - 1} other node(s)" if len(problems) > 1 else ""
        raise RunError(
            f"the data set {dataset['name']} is not there for the trials on node {label}{more}: {problem} "
            "(every node that runs trials needs it at the same path: a shared file system, or a copy "
            "on each node and --data-root pointing at it)"
        )
    return len(nodes)


def _label(node: dict[str, Any]) -> str:
    return f"{node.get('NodeManagerHostname', '?')} ({node.get('NodeManagerAddress', '?')})"
