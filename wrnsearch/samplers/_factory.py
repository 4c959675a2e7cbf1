"""The space's sampler, built by its entry in :mod:`wrnsearch.sampler_registry`, and proposals
drawn with it without training (:func:`sample_specs`, as ``wrnsearch space sample`` shows them)."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

import optuna

from wrnsearch.errors import SpaceError
from wrnsearch.record import Attr
from wrnsearch.sampler_registry import SamplerEntry
from wrnsearch.sampler_registry import get as get_sampler
from wrnsearch.samplers._parameters import infeasible_values, propose
from wrnsearch.space import Space, sampler_problems

Builder = Callable[..., optuna.samplers.BaseSampler]


def builder_of(entry: SamplerEntry) -> Builder:
    """The function an entry names (``"module:function"``), from this package's modules only."""
    module, _, name = entry.builder.partition(":")
    if not module.startswith(f"{__package__}."):
        raise ValueError(f"sampler {entry.name}: builder {entry.builder!r} is not in {__package__}")
    return getattr(importlib.import_module(module), name)


def make_sampler(space: Space) -> optuna.samplers.BaseSampler:
    """The space's ``search.sampler``, seeded, with the settings its registry entry lists.

    Raises:
        SpaceError: located at the space's file and ``search.sampler``, for a name no entry has or
            a space the sampler cannot search (a continuous range for a grid).
    """
    cfg = space.search
    try:
        entry = get_sampler(cfg.sampler)
    except KeyError as e:
        raise SpaceError(f"{space.source}: search.sampler: {e.args[0]}") from None
    problems = sampler_problems(space)
    if problems:
        raise SpaceError(f"{space.source}: search.sampler: {problems[0]}")
    build = builder_of(entry)
    settings = {key: getattr(cfg, key) for key in entry.settings}
    with warnings.catch_warnings():
        # Optuna says, each time one is built, that NSGA-III, QMC, brute force and TPE's `group` are
        # experimental: we pin the Optuna we test them with (wrnsearch.compat)
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return build(space, seed=cfg.seed, **settings)


def sample_specs(space: Space, n: int) -> list[dict[str, Any]]:
    """Draw ``n`` specs with the space's sampler in an in-memory study, without training.

    Feasible specs are told a stand-in objective (their analytic size) so that the sampler moves
    on; over-budget ones are told as infeasible, as a real search does.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=space.directions, sampler=make_sampler(space))
    rows = []
    for _ in range(n):
        trial = study.ask()
        proposal = propose(study, trial, space)
        if proposal.feasible:
            study.tell(trial, [float(proposal.cost.params)] * len(space.objectives))
        else:
            study.tell(trial, infeasible_values(space, proposal.cost))
        rows.append({
            "name": proposal.spec.name, Attr.PARAMS: proposal.cost.params, Attr.MACS: proposal.cost.macs,
            Attr.ACTIVATION_BYTES: proposal.cost.activation_bytes,
            Attr.INFEASIBLE_REASON: "; ".join(proposal.violations) or None,
        })
    return rows
