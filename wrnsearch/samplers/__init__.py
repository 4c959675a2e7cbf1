"""How the next architecture is chosen: a space as Optuna parameters, and the samplers over it.

- :func:`make_sampler`: the space's ``search.sampler``, built by the builder its entry in
  :mod:`wrnsearch.sampler_registry` names (:func:`builder_of`), seeded, with the settings the entry
  lists: Optuna's (TPE, NSGA-II/III, GP, QMC, random, grid, brute force) or :class:`EHVISampler`,
  ours. A new sampler is a module here (its class and builder) and one entry in that registry;
- :func:`search_distributions`, :func:`suggest_spec`, :func:`propose`: the parameters a space
  defines and one proposal costed against its budgets (:class:`Proposal`);
- :func:`sample_specs`: proposals without training, as ``wrnsearch space sample`` shows them;
- :func:`marks_visited`, :func:`complete_proposal`, :data:`QUEUED`: what an exhaustive sampler
  (grid, brute force) and Optuna's queue make of a proposal the driver was killed in the middle of.

Below the study: samplers read the trials Optuna hands them and write nothing but a proposal's
attributes. When to stop a trial early is the scheduler's, in :mod:`wrnsearch.search`.
"""

from __future__ import annotations

from wrnsearch.samplers._candidates import proposals_limited_to
from wrnsearch.samplers._ehvi import EHVISampler
from wrnsearch.samplers._factory import builder_of, make_sampler, sample_specs
from wrnsearch.samplers._parameters import (
    CONSTRAINT_KEYS,
    Proposal,
    has_conditional_params,
    infeasible_values,
    propose,
    search_distributions,
    suggest_spec,
)
from wrnsearch.samplers._visited import GRID_POINT, QUEUED, complete_proposal, marks_visited

__all__ = [
    "CONSTRAINT_KEYS", "EHVISampler", "GRID_POINT", "QUEUED", "Proposal", "builder_of", "complete_proposal",
    "has_conditional_params", "infeasible_values", "make_sampler", "marks_visited", "propose",
    "proposals_limited_to", "sample_specs", "search_distributions", "suggest_spec",
]
