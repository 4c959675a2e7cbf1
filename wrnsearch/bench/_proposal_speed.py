"""``wrnsearch bench proposals``: what one proposal costs each sampler, against how many trials are done.

A model-based sampler refits its model at every proposal, so its cost grows with the finished
trials. For each sampler and each count, an in-memory study of the space is filled with that many
finished trials (drawn at random among the feasible architectures, told a smooth error in the
size, the parameter count and a latency proportional to the MACs), then the next proposals are
timed, the same study for every sampler. Only the proposal is timed, not training.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wrnsearch.bench._machine import machine_description
from wrnsearch.errors import RunError
from wrnsearch.objectives import Kind, Objective
from wrnsearch.objectives import get as get_objective


def _filled_study(space: Any, finished: int, seed: int) -> Any:
    """A study holding ``finished`` complete trials of distinct feasible architectures."""
    import optuna

    from wrnsearch.samplers import propose

    study = optuna.create_study(directions=space.directions, sampler=optuna.samplers.RandomSampler(seed=seed))
    study.set_metric_names(list(space.objectives))
    seen: set[str] = set()
    while len(seen) < finished:
        trial = study.ask()
        proposal = propose(study, trial, space)
        if not proposal.feasible or proposal.spec.name in seen:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        seen.add(proposal.spec.name)
        study.tell(trial, [_stand_in(get_objective(o), proposal) for o in space.objectives])
    return study


def _stand_in(objective: Objective, proposal: Any) -> float:
    """A finished trial's value for timing proposals: the error falls with size, a known objective is
    exact, a device figure grows with the MACs."""
    cost = proposal.cost
    if objective.kind == Kind.MEASURED:
        return 80 - 5 * math.log(cost.params / 3e4) + 0.3 * proposal.spec.dropout
    if objective.kind == Kind.KNOWN:
        return float(objective.value(getattr(cost, objective.attr)))
    return cost.macs / 1e6


def bench_proposals(space_path: str | Path, samplers: Sequence[str], *, finished: Sequence[int] = (10, 50, 200),
                    proposals: int = 3, seed: int = 0,
                    on_row: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Median seconds per proposal of each sampler after each count of finished trials; ``on_row``
    sees each row as it is measured (a slow sampler's minutes are not spent in silence)."""
    import optuna

    from wrnsearch.samplers import make_sampler, propose
    from wrnsearch.space import count_specs, load_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = load_space(space_path)
    feasible = count_specs(base)[1]
    if max(finished) + proposals > feasible:
        raise RunError(f"{space_path} holds {feasible} architectures within its budgets: too few for "
                       f"{max(finished)} finished trials and {proposals} proposals")
    rows = []
    for n in finished:
        for name in samplers:
            space = load_space(space_path, [f"search.sampler={name}", "search.n_startup_trials=2"])
            study = _filled_study(space, n, seed)
            study.sampler = make_sampler(space)
            times = []
            for _ in range(proposals):
                trial = study.ask()
                start = time.perf_counter()
                propose(study, trial, space)
                times.append(time.perf_counter() - start)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)  # the next proposal sees the same trials
            rows.append({"sampler": name, "finished": n, "median_s": statistics.median(times), "times_s": times})
            if on_row is not None:
                on_row(rows[-1])
    return {"benchmark": "proposals", "space": str(space_path), "candidates": feasible, "proposals": proposals,
            "rows": rows, "machine": machine_description()}
