"""``search.sampler: ehvi``: a sampler that uses what only this tool knows about a WRN.

Of a search's three objectives, two are known before any training: the parameter count exactly (and
the MACs), a latency nearly (``latency_ms`` or ``latency_infer_ms``: each a log-linear fit on MACs,
parameters and depth over the trials timed so far). Only the validation error is unknown. Generic
samplers treat all three as black boxes. This one enumerates every architecture of the (finite)
space within its budgets, predicts each untried one's error with a Gaussian process over its shape
(log params, log MACs, depth, convolutions per block, share of 1x1 kernels, dropout) fitted
to the finished trials, and proposes the candidate with the largest *expected hypervolume
improvement*: the volume its point would add to the current front, averaged over the predicted
error, in closed form (the error is the only uncertain coordinate, so the expectation is a sum over
the front's error levels of 2-D areas times a normal partial expectation). With
``search.cost_exponent`` e > 0 the improvement is divided by ``(MACs / median MACs) ** e``, MACs
standing for the training seconds a proposal costs (expected improvement per unit cost; off by
default: BENCHMARKS.md).

The first ``search.n_startup_trials`` proposals spread over the feasible candidates' sizes (one
drawn from each of that many bins of parameter counts, smallest first).
Running trials are not proposed again. No torch here: costs are analytic.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from wrnsearch.errors import SpaceError
from wrnsearch.record import Attr
from wrnsearch.space import (
    EHVI_MAX_ARCHITECTURES,
    STARTUP_TRIALS,
    Space,
    budget_violations,
    iter_specs,
    params_of,
    space_cost,
)
from wrnsearch.spec import WRNSpec

MAX_CANDIDATES = EHVI_MAX_ARCHITECTURES
SPREAD_SHARE = 0.8  # a start-up proposal is drawn among those at least this share of the farthest
REFERENCE = 1.1
LATENCY_RCOND = 1e-4  # the latency fit's cut-off for directions the timed trials barely span


def _features(spec: WRNSpec, params: int, macs: int) -> list[float]:
    """The shape the error model sees: size (log params, log MACs), depth, convolutions per block,
    share of 1x1 kernels, dropout. Not the widening factor k: size, depth and block fix it (params
    grow as depth * k^2), so it would count the size direction again in the kernel's distances and
    the trend. With k among them, ehvi learned more slowly from its first trials: median
    hypervolume after 15 trials 0.899 against 0.932 without (BENCHMARKS.md)."""
    ones = sum(1 for k in spec.kernels if k == 1) / len(spec.kernels)
    return [math.log(params), math.log(max(macs, 1)), spec.depth, len(spec.kernels), ones, spec.dropout]


class _GP:
    """A small Gaussian process on the residuals of a ridge regression (a linear trend in the
    standardized features, which extrapolates where the RBF kernel alone would fall back to the
    mean), its length scale and noise picked by marginal likelihood from a grid."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x = x
        design = np.c_[np.ones(len(x)), x]
        penalty = np.eye(design.shape[1]) * 1.0
        penalty[0, 0] = 0.0
        self.coef = np.linalg.solve(design.T @ design + penalty, design.T @ y)
        resid = y - design @ self.coef
        self.mean, self.std = 0.0, float(resid.std()) or float(y.std()) or 1.0
        yn = resid / self.std
        best = None
        d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        for ls in (0.5, 1.0, 2.0, 4.0):
            for noise in (1e-3, 1e-2, 1e-1, 0.3):
                k = np.exp(-0.5 * d2 / ls**2) + noise * np.eye(len(x))
                try:
                    chol = np.linalg.cholesky(k)
                except np.linalg.LinAlgError:
                    continue
                alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, yn))
                nll = 0.5 * yn @ alpha + np.log(np.diag(chol)).sum()
                if best is None or nll < best[0]:
                    best = (nll, ls, chol, alpha)
        assert best is not None
        _, self.ls, self.chol, self.alpha = best

    def predict(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d2 = ((xs[:, None, :] - self.x[None, :, :]) ** 2).sum(-1)
        ks = np.exp(-0.5 * d2 / self.ls**2)
        mu = ks @ self.alpha
        v = np.linalg.solve(self.chol, ks.T)
        var = np.clip(1.0 - (v**2).sum(0), 1e-9, None)
        trend = np.c_[np.ones(len(xs)), xs] @ self.coef
        return trend + mu * self.std, np.sqrt(var) * self.std


def _area_2d(points: list[tuple[float, float]], lo: tuple[float, float], ref: tuple[float, float]) -> float:
    """Area of the box ``[lo, ref]`` dominated by ``points`` (minimized), each clipped into the box."""
    pts = sorted((max(x, lo[0]), max(y, lo[1])) for x, y in points if x < ref[0] and y < ref[1])
    # sweep left to right along the staircase of the non-dominated clipped points
    area, best_y = 0.0, ref[1]
    stairs = []
    for x, y in pts:
        if y < best_y:
            stairs.append((x, y))
            best_y = y
    for i, (x, y) in enumerate(stairs):
        x_next = stairs[i + 1][0] if i + 1 < len(stairs) else ref[0]
        area += (x_next - x) * (ref[1] - y)
    return area


def _normal(z: float) -> tuple[float, float]:
    """The standard normal's CDF and density at ``z``."""
    return 0.5 * (1 + math.erf(z / math.sqrt(2))), math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _partial(a: float, b: float, mu: float, sigma: float) -> float:
    """E[(b - max(a, e))^+] for e ~ N(mu, sigma^2) (a may be -inf): the expected length of
    ``[max(a, e), b]``."""
    cdf_b, pdf_b = _normal((b - mu) / sigma)
    if a == -math.inf:
        return (b - mu) * cdf_b + sigma * pdf_b
    cdf_a, pdf_a = _normal((a - mu) / sigma)
    return (b - a) * cdf_a + (b - mu) * (cdf_b - cdf_a) + sigma * (pdf_b - pdf_a)


def expected_improvement(front: list[tuple[float, float, float]], point: tuple[float, float], mu: float,
                         sigma: float, ref: tuple[float, float, float] = (REFERENCE,) * 3) -> float:
    """Expected hypervolume improvement of a candidate with known coordinates ``point`` (2nd and 3rd
    objectives) and error ~ N(mu, sigma^2) (1st), over ``front`` (all normalized, minimized).

    At error level z the candidate adds the part of its box ``[point, ref]`` that no front point
    with error <= z covers; that area changes only at the front's error levels.

    >>> round(expected_improvement([], (0.0, 0.0), 0.0, 1e-9, (1, 1, 1)), 6)
    1.0
    >>> expected_improvement([(0.0, 0.0, 0.0)], (0.5, 0.5), 0.5, 1e-9, (1, 1, 1))
    0.0
    """
    if point[0] >= ref[1] or point[1] >= ref[2]:
        return 0.0
    box = (ref[1] - point[0]) * (ref[2] - point[1])
    levels = sorted({e for e, _, _ in front if e < ref[0]})
    bounds = [-math.inf, *levels, ref[0]]
    total = 0.0
    for a, b in zip(bounds, bounds[1:]):
        covering = [(p, q) for e, p, q in front if e <= a] if a != -math.inf else []
        area = box - _area_2d(covering, point, (ref[1], ref[2])) if covering else box
        if area > 0 and b > a:
            total += area * _partial(a, b, mu, sigma)
    return max(0.0, total)


class EHVISampler(BaseSampler):
    """Proposes the feasible, untried architecture with the largest expected hypervolume improvement."""

    def __init__(self, space: Space, seed: int | None = None, n_startup_trials: int = STARTUP_TRIALS["ehvi"],
                 cost_exponent: float = 0.0) -> None:
        if "error" not in space.objectives:
            raise SpaceError(f"{space.source}: search.sampler ehvi predicts the error: list error among the objectives")
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
                raise SpaceError(f"{space.source}: search.sampler ehvi ranks every architecture, and this space "
                                 f"holds over {MAX_CANDIDATES:,} within its budgets: use tpe, or narrow the space")
        if not self.candidates:
            raise SpaceError(f"{space.source}: no architecture of the space fits its budgets")
        self.names = [s.name for s, _ in self.candidates]
        feats = np.array([_features(s, c.params, c.macs) for s, c in self.candidates], dtype=float)
        self.feat_mean, self.feat_std = feats.mean(0), feats.std(0)
        self.feat_std[self.feat_std == 0] = 1.0
        self.features = (feats - self.feat_mean) / self.feat_std
        self.index = {n: i for i, n in enumerate(self.names)}
        by_size = sorted(range(len(self.names)), key=lambda i: (self.candidates[i][1].params, self.names[i]))
        self.size_rank = np.empty(len(by_size), dtype=int)
        self.size_rank[by_size] = np.arange(len(by_size))
        macs = np.array([max(c.macs, 1) for _, c in self.candidates], dtype=float)
        self.cost_weight = (macs / np.median(macs)) ** -cost_exponent
        self._chosen: dict[int, dict[str, Any]] = {}

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
        tried = {t.user_attrs.get(Attr.ARCH) for t in trials if t.number != trial.number}
        open_ = [i for i, n in enumerate(self.names) if n not in tried] or list(range(len(self.names)))
        done = [t for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get(Attr.ARCH) in self.index
                and t.values and all(math.isfinite(v) for v in t.values)]
        if len(done) < max(self.n_startup_trials, 2):
            return self._spread(open_, [self.index[n] for n in tried if n in self.index])
        scores = list(np.array(self.scores(done, open_)) * self.cost_weight[open_])
        best = max(scores)
        ties = [i for i, s in zip(open_, scores) if s >= best - 1e-12]
        return int(self.rng.choice(ties))

    def _spread(self, open_: list[int], tried: list[int]) -> int:
        """A start-up proposal, spread along the size axis, the one the front runs along: the
        candidates sorted by parameter count fall into ``n_startup_trials`` bins of equal counts,
        and the k-th start-up proposal is drawn at random among the open candidates of the k-th
        bin, smallest bin first. Measured against the farthest-point spread in every shape
        feature, which chose the space's corners (deepest, widest, most 1x1), this found more
        hypervolume at a quarter of the table's trials and compute (BENCHMARKS.md). An emptied bin
        (candidates copied or tried already) falls back to the open candidate farthest from every
        tried one."""
        bins = max(self.n_startup_trials, 2)
        k = len(tried) % bins
        lo, hi = k * len(self.names) / bins, (k + 1) * len(self.names) / bins
        in_bin = [i for i in open_ if lo <= self.size_rank[i] < hi]
        if in_bin:  # always so for the first: bin 0 holds the smallest candidate, untried
            return int(self.rng.choice(in_bin))
        d = ((self.features[open_][:, None, :] - self.features[tried][None, :, :]) ** 2).sum(-1).min(1)
        best = d.max()
        return int(self.rng.choice([i for i, v in zip(open_, d) if v >= SPREAD_SHARE * best]))

    def scores(self, done: list[FrozenTrial], open_: list[int]) -> list[float]:
        """Expected hypervolume improvement of each open candidate, given the finished trials."""
        objectives = list(self.space.objectives)
        rows = [self.index[t.user_attrs[Attr.ARCH]] for t in done]
        err_i = objectives.index("error")
        errors = np.array([t.values[err_i] for t in done], dtype=float)
        gp = _GP(self.features[rows], errors)
        mu, sigma = gp.predict(self.features[open_])
        known = {name: self._known(name, done, objectives) for name in objectives if name != "error"}
        lo_e, hi_e = float(errors.min()), float(errors.max())
        span_e = (hi_e - lo_e) or 1.0

        def norm_known(name: str, values: np.ndarray) -> np.ndarray:
            all_values = known[name]
            lo, hi = float(all_values.min()), float(all_values.max())
            return (values - lo) / ((hi - lo) or 1.0)

        others = [n for n in objectives if n != "error"][:2]
        coords = [norm_known(n, known[n]) for n in others]
        while len(coords) < 2:
            coords.append(np.zeros(len(self.candidates)))
        front = []
        for t, r in zip(done, rows):
            front.append(((t.values[err_i] - lo_e) / span_e, float(coords[0][r]), float(coords[1][r])))
        return [expected_improvement(front, (float(coords[0][i]), float(coords[1][i])), (m - lo_e) / span_e,
                                     max(s, 1e-6) / span_e)
                for i, m, s in zip(open_, mu, sigma)]

    def _known(self, name: str, done: list[FrozenTrial], objectives: list[str]) -> np.ndarray:
        """Every candidate's value of an objective known before training (a latency: fitted)."""
        if name == "params":
            return np.array([c.params for _, c in self.candidates], dtype=float)
        if name == "macs":
            return np.array([c.macs for _, c in self.candidates], dtype=float)
        # latency_ms or latency_infer_ms: log-linear in log params, log MACs and depth (per-layer
        # overheads weigh at batch 1), fitted on the trials timed so far; the timed ones as measured.
        # The fit is centred on the timed trials (their mean features, their mean log latency)
        # and ignores directions they barely span (singular values below LATENCY_RCOND of the
        # largest), so a feature the timed trials do not vary adds nothing: three timed WRN-10s
        # once made deeper networks 12-17x faster, and in a small space, where log params and log
        # MACs are nearly collinear, gave coefficients of +-15,000 along that sliver, whose
        # extrapolation overflowed exp. No prediction goes beyond e^7 (~1,100x) of the timed.
        i = objectives.index(name)
        rows = [self.index[t.user_attrs[Attr.ARCH]] for t in done]
        x = self.features[:, :3]
        y = np.log(np.array([max(t.values[i], 1e-6) for t in done]))
        x0, y0 = x[rows].mean(0), float(y.mean())
        coef, *_ = np.linalg.lstsq(x[rows] - x0, y - y0, rcond=LATENCY_RCOND)
        fitted = np.exp(np.clip(y0 + (x - x0) @ coef, y.min() - 7.0, y.max() + 7.0))
        for t, r in zip(done, rows):
            fitted[r] = t.values[i]
        return fitted
