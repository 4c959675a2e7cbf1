"""The builders that :mod:`wrnsearch.sampler_registry`'s entries name: Optuna's samplers as a search
uses them, and ours (``ehvi``).

Each takes the space and, as keywords, the seed and the settings its entry lists, and returns a
new sampler. Grid and brute force are wrapped so that their end-of-space ``study.stop()`` does not
break ask/tell; GP is kept quiet about the infeasible trials' ``inf`` values it clips.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from wrnsearch.compat import tpe_ranks_pruned_errors
from wrnsearch.samplers._ehvi import EHVISampler
from wrnsearch.samplers._parameters import has_conditional_params, search_distributions
from wrnsearch.space import Space


def tpe(space: Space, *, seed: int, n_startup_trials: int) -> BaseSampler:
    tpe_ranks_pruned_errors()  # pruned trials carry each epoch's error: TPE must not fail on them
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials, multivariate=True, group=True)


def nsga2(space: Space, *, seed: int, population_size: int) -> BaseSampler:
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=population_size)


def nsga3(space: Space, *, seed: int, population_size: int) -> BaseSampler:
    return optuna.samplers.NSGAIIISampler(seed=seed, population_size=population_size)


class _GPSampler(optuna.samplers.GPSampler):
    """Optuna's GP sampler, without its warning that it clips non-finite values: an infeasible
    trial is told ``inf`` on purpose (it was never trained), and clipping it to the worst finite
    value is what a search wants of it."""

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Clip non-finite values", category=UserWarning)
            return super().sample_relative(study, trial, search_space)


def gp(space: Space, *, seed: int, n_startup_trials: int) -> BaseSampler:
    return _GPSampler(seed=seed, n_startup_trials=n_startup_trials, warn_independent_sampling=False)


def qmc(space: Space, *, seed: int) -> BaseSampler:
    return optuna.samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False,
                                      warn_asynchronous_seeding=False)


def random(space: Space, *, seed: int) -> BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


def ehvi(space: Space, *, seed: int, n_startup_trials: int, cost_exponent: float) -> BaseSampler:
    return EHVISampler(space, seed=seed, n_startup_trials=n_startup_trials, cost_exponent=cost_exponent)


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


def grid(space: Space, *, seed: int) -> BaseSampler:
    """Optuna's grid over every parameter's values; brute force where parameters are conditional
    (a grid has one value per parameter in every trial) or where there is no parameter at all."""
    if has_conditional_params(space):
        return bruteforce(space, seed=seed)
    values = {name: _all_values(dist) for name, dist in search_distributions(space).items()}
    return _GridSampler(values, seed=seed) if values else bruteforce(space, seed=seed)


def bruteforce(space: Space, *, seed: int) -> BaseSampler:
    return _BruteForceSampler(seed=seed)


def _all_values(dist: BaseDistribution) -> list[Any]:
    """Every value of a finite distribution (the space refuses a continuous range for a grid)."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution):
        return list(range(dist.low, dist.high + 1, dist.step))
    n = int(math.floor((dist.high - dist.low) / dist.step + 1e-9)) + 1
    return [round(dist.low + i * dist.step, 12) for i in range(n)]
