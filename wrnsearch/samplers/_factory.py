"""The space's sampler, by name: Optuna's, seeded and told the budgets, or ours (``ehvi``).

Grid and brute force are wrapped so that their end-of-space ``study.stop()`` does not break
ask/tell; :func:`sample_specs` draws proposals without training, as ``wrnsearch space sample``
shows them.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from wrnsearch.compat import tpe_ranks_pruned_errors
from wrnsearch.errors import SpaceError
from wrnsearch.record import Attr
from wrnsearch.samplers._ehvi import EHVISampler
from wrnsearch.samplers._parameters import has_conditional_params, infeasible_values, propose, search_distributions
from wrnsearch.space import Space


def _ask_tell_safe(cls: type) -> type:
    """A subclass whose end-of-space ``study.stop()`` does not break ask/tell.

    Grid and brute-force samplers call ``study.stop()`` once the space is exhausted, which raises
    outside ``study.optimize`` and, being raised inside ``tell``, would leave the trial unfinished.
    The search driver stops by itself when every architecture has been tried.
    """

    def after_trial(self: Any, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        try:
            cls.after_trial(self, study, trial, state, values)
        except RuntimeError as e:  # stop() is the last statement of both after_trial methods
            if "Study.stop" not in str(e):
                raise

    return type(cls.__name__, (cls,), {"after_trial": after_trial, "__doc__": cls.__doc__})


_GridSampler = _ask_tell_safe(optuna.samplers.GridSampler)
_BruteForceSampler = _ask_tell_safe(optuna.samplers.BruteForceSampler)


def make_sampler(space: Space) -> optuna.samplers.BaseSampler:
    """The space's sampler, seeded, with budget constraints where the sampler supports them."""
    cfg = space.search
    seed = cfg.seed
    name = cfg.sampler
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # infeasible trials carry inf error/latency on purpose; GP clips them, which is what we want
    warnings.filterwarnings("ignore", message="Clip non-finite values", category=UserWarning)
    if name in ("grid", "bruteforce"):
        dists = search_distributions(space)
        infinite = [k for k, d in dists.items() if isinstance(d, FloatDistribution) and d.step is None]
        if infinite:
            raise SpaceError(
                f"{space.source}: search.sampler {name} needs a finite space, but space.{infinite[0]} is a "
                "continuous range: give it a step or a list"
            )
        if name == "grid" and not has_conditional_params(space):
            grid = {k: _all_values(d) for k, d in dists.items()}
            return _GridSampler(grid, seed=seed) if grid else _BruteForceSampler(seed=seed)
        return _BruteForceSampler(seed=seed)
    if name == "tpe":
        tpe_ranks_pruned_errors()  # pruned trials carry each epoch's error: TPE must not fail on them
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=cfg.n_startup_trials, multivariate=True, group=True,
        )
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=cfg.population_size)
    if name == "nsga3":
        return optuna.samplers.NSGAIIISampler(seed=seed, population_size=cfg.population_size)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=cfg.n_startup_trials,
                                         warn_independent_sampling=False)
    if name == "ehvi":
        return EHVISampler(space, seed=seed, n_startup_trials=cfg.n_startup_trials,
                           cost_exponent=cfg.cost_exponent)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False,
                                          warn_asynchronous_seeding=False)
    return optuna.samplers.RandomSampler(seed=seed)


def _all_values(dist: BaseDistribution) -> list[Any]:
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution):
        return list(range(dist.low, dist.high + 1, dist.step))
    n = int(math.floor((dist.high - dist.low) / dist.step + 1e-9)) + 1  # a finite float range (checked above)
    return [round(dist.low + i * dist.step, 12) for i in range(n)]


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
