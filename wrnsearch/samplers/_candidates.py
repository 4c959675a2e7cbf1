"""Samplers that enumerate the space: every architecture within the budgets is a candidate.

Of a search's objectives only the validation error is unknown before training: the parameter
count and MACs are exact, a latency or the peak memory nearly so (:meth:`CandidateSampler.known`:
a log-linear fit on the trials measured so far; the kinds are :mod:`wrnsearch.objectives`').
A candidate sampler (``ehvi``) models the error over the
candidates' shapes and proposes the one its acquisition ranks first (:meth:`scores`); what does
not depend on the model is here: the candidates and their features, the start-up proposals
spread along the size axis, the trials that are done or still running, and Optuna's sampler
interface. (What was tried on this base and measured against ehvi is in BENCHMARKS.md.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from wrnsearch.cost import Cost
from wrnsearch.dominance import normalization_bounds, normalize
from wrnsearch.errors import SpaceError
from wrnsearch.objectives import ERROR, Kind
from wrnsearch.objectives import get as get_objective
from wrnsearch.record import Attr
from wrnsearch.sampler_registry import get as get_sampler
from wrnsearch.space import Space, budget_violations, iter_specs, params_of, space_cost
from wrnsearch.spec import WRNSpec

MAX_CANDIDATES = get_sampler("ehvi").max_architectures
SPREAD_SHARE = 0.8  # a start-up proposal is drawn among those at least this share of the farthest
LATENCY_RCOND = 1e-4  # the latency fit's cut-off for directions the timed trials barely span


def shape_features(spec: WRNSpec, params: int, macs: int) -> list[float]:
    """The shape an error model sees: size (log params, log MACs), depth, convolutions per block,
    share of 1x1 kernels, dropout. Not the widening factor k: size, depth and block fix it (params
    grow as depth * k^2), so it would count the size direction again in the kernel's distances and
    the trend (with k among them, ehvi learned more slowly: BENCHMARKS.md)."""
    ones = sum(1 for k in spec.kernels if k == 1) / len(spec.kernels)
    return [math.log(params), math.log(max(macs, 1)), spec.depth, len(spec.kernels), ones, spec.dropout]


@contextmanager
def proposals_limited_to(sampler: BaseSampler, accept: Callable[[Cost], bool]) -> Iterator[bool]:
    """While in the block, ``sampler`` proposes only candidates whose cost ``accept`` takes, when
    any is open. Yields whether it can: a candidate sampler ranks the accepted ones alone, so one
    proposal it makes outside them means none is open; Optuna's samplers cannot (False), and their
    proposal is checked after it is made."""
    if not isinstance(sampler, CandidateSampler):
        yield False
        return
    sampler.proposal_filter = accept
    try:
        yield True
    finally:
        sampler.proposal_filter = None


class CandidateSampler(BaseSampler):
    """Proposes the feasible, untried candidate that :meth:`scores` ranks first."""

    sampler_name = "candidate"

    def __init__(self, space: Space, seed: int | None, n_startup_trials: int) -> None:
        if ERROR.name not in space.objectives:
            raise SpaceError(f"{space.source}: search.sampler {self.sampler_name} predicts the error: list error "
                             "among the objectives")
        self.space = space
        self.n_startup_trials = n_startup_trials
        self.rng = np.random.default_rng(seed)
        self._random = optuna.samplers.RandomSampler(seed=seed)
        self.candidates: list[tuple[WRNSpec, Any]] = []
        for spec in iter_specs(space):
            cost = space_cost(space, spec)
            if not budget_violations(space, cost):
                self.candidates.append((spec, cost))
            if len(self.candidates) > MAX_CANDIDATES:
                raise SpaceError(f"{space.source}: search.sampler {self.sampler_name} ranks every architecture, and "
                                 f"this space holds over {MAX_CANDIDATES:,} within its budgets: use tpe, or narrow "
                                 "the space")
        if not self.candidates:
            raise SpaceError(f"{space.source}: no architecture of the space fits its budgets")
        self.names = [s.name for s, _ in self.candidates]
        feats = np.array([shape_features(s, c.params, c.macs) for s, c in self.candidates], dtype=float)
        self.feat_mean, self.feat_std = feats.mean(0), feats.std(0)
        self.feat_std[self.feat_std == 0] = 1.0
        self.features = (feats - self.feat_mean) / self.feat_std  # standardized over the candidates
        self.index = {n: i for i, n in enumerate(self.names)}
        by_size = sorted(range(len(self.names)), key=lambda i: (self.candidates[i][1].params, self.names[i]))
        self.size_rank = np.empty(len(by_size), dtype=int)
        self.size_rank[by_size] = np.arange(len(by_size))
        self._chosen: dict[int, dict[str, Any]] = {}
        # set by the search for one proposal (:func:`proposals_limited_to`): only the candidates it
        # accepts are open (a time budget's "would finish in the time left"), when any is
        self.proposal_filter: Callable[[Cost], bool] | None = None

    def reseed_rng(self) -> None:
        self.rng = np.random.default_rng()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if trial.number not in self._chosen:
            self._chosen = {trial.number: params_of(self.space, self.candidates[self._choose(study, trial)][0])}
        chosen = self._chosen[trial.number]
        if param_name in chosen:
            return chosen[param_name]
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def _choose(self, study: optuna.Study, trial: FrozenTrial) -> int:
        trials = study.get_trials(deepcopy=False)
        others = [t for t in trials if t.number != trial.number]
        tried = {t.user_attrs.get(Attr.ARCH) for t in others}
        open_ = [i for i, n in enumerate(self.names) if n not in tried] or list(range(len(self.names)))
        if self.proposal_filter is not None:  # none accepted: the quickest, whose prediction says why not
            open_ = ([i for i in open_ if self.proposal_filter(self.candidates[i][1])]
                     or [min(open_, key=lambda i: (self.candidates[i][1].macs, self.names[i]))])
        done = [t for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get(Attr.ARCH) in self.index
                and t.values and all(math.isfinite(v) for v in t.values)]
        if len(done) < max(self.n_startup_trials, 2):
            return self._spread(open_, [self.index[n] for n in tried if n in self.index])
        pending = [self.index[t.user_attrs[Attr.ARCH]] for t in others
                   if t.state == TrialState.RUNNING and t.user_attrs.get(Attr.ARCH) in self.index]
        scores = np.asarray(self.scores(done, open_, pending), dtype=float)
        best = scores.max()
        ties = [i for i, s in zip(open_, scores) if s >= best - 1e-12]
        return int(self.rng.choice(ties))

    def scores(self, done: list[FrozenTrial], open_: list[int], pending: list[int] = ()) -> list[float]:
        """How much each open candidate is worth proposing, given the finished trials (``done``) and
        the candidates still training (``pending``); the highest is proposed."""
        raise NotImplementedError

    def _spread(self, open_: list[int], tried: list[int]) -> int:
        """A start-up proposal, spread along the size axis, the one the front runs along: the
        candidates sorted by parameter count fall into ``n_startup_trials`` bins of equal counts,
        and the k-th start-up proposal is drawn at random among the open candidates of the k-th
        bin, smallest bin first, preferring a block type no tried candidate has (five start-up
        trials then see up to five of the six block types, not mostly the most common kind). It
        found more hypervolume than a farthest-point spread over every shape feature, which chose
        the space's corners (deepest, widest, most 1x1; BENCHMARKS.md). An emptied bin
        (candidates copied or tried already) falls back to the open candidate farthest from every
        tried one."""
        bins = max(self.n_startup_trials, 2)
        k = len(tried) % bins
        lo, hi = k * len(self.names) / bins, (k + 1) * len(self.names) / bins
        in_bin = [i for i in open_ if lo <= self.size_rank[i] < hi]
        if in_bin:  # always so for the first: bin 0 holds the smallest candidate, untried
            seen = {self.candidates[j][0].kernels for j in tried}
            fresh = [i for i in in_bin if self.candidates[i][0].kernels not in seen]
            return int(self.rng.choice(fresh or in_bin))
        d = ((self.features[open_][:, None, :] - self.features[tried][None, :, :]) ** 2).sum(-1).min(1)
        best = d.max()
        return int(self.rng.choice([i for i, v in zip(open_, d) if v >= SPREAD_SHARE * best]))

    def known(self, name: str, done: list[FrozenTrial], objectives: list[str]) -> np.ndarray:
        """Every candidate's value of an objective other than the error: exact for one known before
        training (params, MACs), fitted for one predicted from the measured trials (a latency,
        the peak memory)."""
        objective = get_objective(name)
        if objective.kind == Kind.KNOWN:
            return np.array([objective.value(getattr(c, objective.attr)) for _, c in self.candidates], dtype=float)
        # predicted: log-linear in log params, log MACs and depth (per-layer overheads weigh at
        # batch 1), fitted on the trials measured so far; the measured ones as measured.
        # The fit is centred on the measured trials (their mean features, their mean log value)
        # and ignores directions they barely span (singular values below LATENCY_RCOND of the
        # largest), so a feature the measured trials do not vary adds nothing: three timed WRN-10s
        # once made deeper networks 12-17x faster, and in a small space, where log params and log
        # MACs are nearly collinear, gave coefficients of +-15,000 along that sliver, whose
        # extrapolation overflowed exp. No prediction goes beyond e^7 (~1,100x) of the measured.
        i = objectives.index(objective.name)
        rows = [self.index[t.user_attrs[Attr.ARCH]] for t in done]
        x = self.features[:, :3]
        y = np.log(np.array([max(t.values[i], 1e-6) for t in done]))
        x0, y0 = x[rows].mean(0), float(y.mean())
        coef, *_ = np.linalg.lstsq(x[rows] - x0, y - y0, rcond=LATENCY_RCOND)
        fitted = np.exp(np.clip(y0 + (x - x0) @ coef, y.min() - 7.0, y.max() + 7.0))
        for t, r in zip(done, rows):
            fitted[r] = t.values[i]
        return fitted

    def known_normalized(self, done: list[FrozenTrial]) -> list[np.ndarray]:
        """Every objective besides the error, each min-max normalized over the candidates (0 best,
        1 worst): the coordinates of every candidate's point that training does not change. A
        space with fewer than two gets zeros in their place (a constant factor on every
        improvement)."""
        objectives = list(self.space.objectives)
        coords = []
        for name in objectives:
            if get_objective(name).kind == Kind.MEASURED:
                continue
            values = self.known(name, done, objectives)
            bounds = normalization_bounds(values)
            coords.append(normalize(values, bounds)[:, 0])
        while len(coords) < 2:
            coords.append(np.zeros(len(self.candidates)))
        return coords
