"""The botorch sampler: BoTorch's noisy GP and qLogNEHVI over the candidates, with the trials still
running as pending points; and the one-line error without BoTorch."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import optuna
import pytest

from wrnsearch.errors import SpaceError
from wrnsearch.samplers import BoTorchSampler, make_sampler, propose
from wrnsearch.space import budget_violations, iter_specs, load_space, space_cost

pytest.importorskip("botorch", reason="the botorch extra is not installed: pip install -e '.[botorch]'")

ROOT = Path(__file__).resolve().parents[1]
TABLE = {a["arch"]: a for a in json.loads((ROOT / "benchmarks/wrn-cifar10-cpu.json").read_text())["architectures"]}


def _space(*overrides: str):
    return load_space(ROOT / "benchmarks/wrn-cifar10-cpu.yaml", ["search.sampler=botorch", *overrides])


def _tell_from_table(study: optuna.Study, trial: optuna.Trial, proposal) -> None:
    row = TABLE[proposal.spec.name]
    study.tell(trial, [row["val_error"][-1], float(proposal.cost.params), row["latency_ms"]])


def _search(sampler, space, n: int) -> tuple[optuna.Study, list[str]]:
    study = optuna.create_study(directions=space.directions, sampler=sampler)
    names = []
    for _ in range(n):
        trial = study.ask()
        proposal = propose(study, trial, space)
        assert proposal.feasible
        names.append(proposal.spec.name)
        _tell_from_table(study, trial, proposal)
    return study, names


def test_proposals_are_feasible_new_and_reproducible():
    space = _space("search.n_startup_trials=3")
    feasible = {s.name for s in iter_specs(space) if not budget_violations(space, space_cost(space, s))}
    _, first = _search(make_sampler(space), space, 7)
    _, again = _search(BoTorchSampler(space, seed=space.search.seed, n_startup_trials=3), space, 7)
    assert len(set(first)) == 7 and set(first) <= feasible
    assert first == again  # seeded: the same proposals, the model's included


def test_a_running_trial_is_a_pending_point():
    """A candidate that is already training adds almost nothing: its log improvement with itself
    pending falls far below the same candidate's without."""
    space = _space("search.n_startup_trials=3")
    sampler = BoTorchSampler(space, seed=0, n_startup_trials=3)
    study, _ = _search(sampler, space, 6)
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    tried = {t.user_attrs["arch"] for t in done}
    open_ = [i for i, n in enumerate(sampler.names) if n not in tried]
    free = sampler.scores(done, open_, [])
    best = open_[int(np.argmax(free))]
    busy = sampler.scores(done, open_, [best])
    assert all(math.isfinite(s) for s in free)
    assert busy[open_.index(best)] < free[open_.index(best)] - 3.0
    # and the study's running trial is what the sampler treats as pending
    running = study.ask()
    running.set_user_attr("arch", sampler.names[best])
    nxt = study.ask()
    assert sampler.names[sampler._choose(study, nxt)] != sampler.names[best]


def test_without_botorch_the_space_is_refused_in_one_line(monkeypatch):
    import wrnsearch.samplers._botorch as module

    monkeypatch.setattr(module, "_botorch", lambda: None)
    with pytest.raises(SpaceError, match=r"search.sampler botorch needs BoTorch: pip install 'wrnsearch\[botorch\]'"):
        make_sampler(_space())
