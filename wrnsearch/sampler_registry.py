"""The samplers a space may name, each defined here once.

An entry says what is known about a sampler before it is built:

- the name ``search.sampler`` gives it, and what it is, in a line;
- its builder, named ``"module:function"`` in :mod:`wrnsearch.samplers`, which resolves it. The
  space validates against this entry from below the samplers' layer, and the builder needs Optuna
  and the samplers' own code, so the entry names the builder instead of importing it;
- the ``search.*`` settings it reads besides ``seed``: its builder takes exactly these, as keywords;
- the ``search.n_startup_trials`` a space that leaves it unset gets (filled before validation, so
  the saved space names it; a sampler that does not read it saves the count unread);
- whether it needs a finite space (every range stepped, or a list), the most architectures it
  takes, and whether it visits every architecture once.

:mod:`wrnsearch.space` reads the entries to validate ``search.sampler``, fill the defaults and
choose the sampler of a space that names none; :func:`wrnsearch.samplers.make_sampler` builds one.
A new sampler is one file in :mod:`wrnsearch.samplers` (its class and builder) and one entry here.

No torch, Ray or Optuna here.

Example:
    >>> get("ehvi").settings
    ('n_startup_trials', 'cost_exponent')
    >>> default_for(12), default_for(float("inf"))
    ('ehvi', 'tpe')
"""

from __future__ import annotations

from dataclasses import dataclass

BUILDERS = "wrnsearch.samplers._builders"  # the builders of Optuna's samplers and of ehvi
STARTUP_TRIALS = 10  # Optuna's default for TPE; an entry with a measured count of its own says it


@dataclass(frozen=True)
class SamplerEntry:
    """One sampler: its name, builder, settings and what space it takes."""

    name: str
    summary: str  # what it is, in a line (docs and messages)
    builder: str  # "module:function" in wrnsearch.samplers: function(space, *, seed, **settings)
    settings: tuple[str, ...] = ()  # the search.* keys it reads besides seed
    n_startup_trials: int = STARTUP_TRIALS  # proposals before its model is used, where unset
    finite_space: bool = False  # every dimension a list or a stepped range
    max_architectures: int | None = None  # it ranks every architecture: at most this many
    exhaustive: bool = False  # visits every architecture of the space once, in an order of its own

    def takes(self, architectures: float) -> bool:
        """Whether it searches a space of this many architectures (``inf``: a continuous range)."""
        if self.finite_space and architectures == float("inf"):
            return False
        return self.max_architectures is None or architectures <= self.max_architectures


SAMPLERS: dict[str, SamplerEntry] = {e.name: e for e in (
    SamplerEntry("tpe", "Optuna's TPE, multivariate over grouped parameters, the budgets as constraints",
                 f"{BUILDERS}:tpe", settings=("n_startup_trials",)),
    SamplerEntry("nsga2", "Optuna's NSGA-II, the budgets as constraints", f"{BUILDERS}:nsga2",
                 settings=("population_size",)),
    SamplerEntry("nsga3", "Optuna's NSGA-III, the budgets as constraints", f"{BUILDERS}:nsga3",
                 settings=("population_size",)),
    SamplerEntry("gp", "Optuna's Gaussian-process sampler, the budgets as constraints", f"{BUILDERS}:gp",
                 settings=("n_startup_trials",)),
    SamplerEntry("qmc", "Optuna's scrambled quasi-Monte Carlo (Sobol) sequence", f"{BUILDERS}:qmc"),
    SamplerEntry("random", "uniform random proposals", f"{BUILDERS}:random"),
    SamplerEntry("grid", "every architecture once, in a seeded order (brute force where parameters are "
                 "conditional)", f"{BUILDERS}:grid", finite_space=True, exhaustive=True),
    SamplerEntry("bruteforce", "every architecture once, in a seeded order", f"{BUILDERS}:bruteforce",
                 finite_space=True, exhaustive=True),
    # 5 start-up proposals: chosen on the tuning seeds (0-99 and 0-49) of both recorded tables
    # together among 4, 5, 6, 7 and 8 (BENCHMARKS.md, "Search quality on two tables")
    SamplerEntry("ehvi", "ours: the untried architecture with the largest expected hypervolume improvement, "
                 "its error predicted by a Gaussian process", f"{BUILDERS}:ehvi",
                 settings=("n_startup_trials", "cost_exponent"), n_startup_trials=5, finite_space=True,
                 max_architectures=20_000),
)}
NAMES: tuple[str, ...] = tuple(SAMPLERS)
# The sampler of a space that names none: ehvi had the highest hypervolume on both recorded tables
# (benchmarks/*.json) at a quarter and half of their trials and compute, seeds 100-199 (BENCHMARKS.md,
# "Search quality on two tables"); tpe where ehvi does not take the space.
DEFAULT = "ehvi"
FALLBACK = "tpe"


def get(name: str) -> SamplerEntry:
    """The sampler called ``name``.

    Raises:
        KeyError: naming the samplers there are, for an unknown name.
    """
    try:
        return SAMPLERS[name]
    except KeyError:
        raise KeyError(f"unknown sampler {name!r}: choose from {', '.join(NAMES)}") from None


def default_for(architectures: float | None) -> str:
    """The sampler a space that names none gets: :data:`DEFAULT` where it takes a space of this many
    architectures (an upper bound; ``inf`` for a continuous range; None where the space does not
    say), else :data:`FALLBACK`."""
    return DEFAULT if architectures is None or get(DEFAULT).takes(architectures) else FALLBACK
