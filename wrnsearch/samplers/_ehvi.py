"""``search.sampler: ehvi``: a sampler that uses what only this tool knows about a WRN.

Of a search's objectives, all but the validation error are known before a candidate trains: the
parameter count and the MACs exactly, a device figure (a latency, the peak memory) nearly, each a
log-linear fit on MACs, parameters and depth over the trials measured so far
(:mod:`wrnsearch.objectives` says which is which). Only the validation error is unknown. Generic
samplers treat every objective as a black box. This one enumerates every architecture of the (finite)
space within its budgets, predicts each untried one's error with a Gaussian process over its shape
(log params, log MACs, depth, convolutions per block, share of 1x1 kernels, dropout) fitted
to the finished trials, and proposes the candidate with the largest *expected hypervolume
improvement*: the volume its point would add to the current front, averaged over the predicted
error, in closed form (the error is the only uncertain coordinate, so the expectation is a sum over
the front's error levels of the candidate's exclusive volume in the other objectives times a
normal partial expectation). With
``search.cost_exponent`` e > 0 the improvement is divided by ``(MACs / median MACs) ** e``, MACs
standing for the training seconds a proposal costs (expected improvement per unit cost; off by
default: BENCHMARKS.md).

The first ``search.n_startup_trials`` proposals spread over the feasible candidates' sizes (one
drawn from each of that many bins of parameter counts, smallest first, a block type not tried
yet where the bin has one; :mod:`._candidates`). Running trials are not proposed again, and count
on the front at their predicted error. No torch here: costs are analytic.
"""

from __future__ import annotations

import math

import numpy as np
from optuna.trial import FrozenTrial

from wrnsearch.dominance import REFERENCE_POINT, exclusive_hypervolume
from wrnsearch.objectives import ERROR
from wrnsearch.record import Attr
from wrnsearch.sampler_registry import get as get_sampler
from wrnsearch.samplers._candidates import CandidateSampler
from wrnsearch.space import Space


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


def expected_improvement(front: list[tuple[float, ...]], point: tuple[float, ...], mu: float, sigma: float,
                         ref: tuple[float, ...] | None = None) -> float:
    """Expected hypervolume improvement of a candidate with known coordinates ``point`` (every
    objective but the error) and error ~ N(mu, sigma^2) (the 1st), over ``front`` (all normalized,
    minimized; reference :data:`~wrnsearch.dominance.REFERENCE_POINT` in every coordinate unless
    ``ref`` says otherwise).

    At error level z the candidate adds the part of its box ``[point, ref]`` that no front point
    with error <= z covers (its exclusive hypervolume); that changes only at the front's error levels.

    >>> round(expected_improvement([], (0.0, 0.0), 0.0, 1e-9, (1, 1, 1)), 6)
    1.0
    >>> expected_improvement([(0.0, 0.0, 0.0)], (0.5, 0.5), 0.5, 1e-9, (1, 1, 1))
    0.0
    >>> round(expected_improvement([(0.5, 0.0, 0.0, 0.0)], (0.5, 0.5, 0.5), 0.0, 1e-9, (1, 1, 1, 1)), 6)
    0.0625
    """
    ref = tuple(ref) if ref is not None else (REFERENCE_POINT,) * (len(point) + 1)
    corner, limit = np.asarray(point, dtype=float), np.asarray(ref[1:], dtype=float)
    if (corner >= limit).any():
        return 0.0
    box = float(np.prod(limit - corner))
    errors = np.array([p[0] for p in front], dtype=float)
    coords = np.array([p[1:] for p in front], dtype=float).reshape(len(front), len(point))
    levels = sorted({float(e) for e in errors if e < ref[0]})
    bounds = [-math.inf, *levels, ref[0]]
    total = 0.0
    for a, b in zip(bounds, bounds[1:]):
        covering = coords[errors <= a] if a != -math.inf else coords[:0]
        area = exclusive_hypervolume(corner, covering, limit) if len(covering) else box
        if area > 0 and b > a:
            total += area * _partial(a, b, mu, sigma)
    return max(0.0, total)


class EHVISampler(CandidateSampler):
    """Proposes the feasible, untried architecture with the largest expected hypervolume improvement."""

    sampler_name = "ehvi"

    def __init__(self, space: Space, seed: int | None = None,
                 n_startup_trials: int = get_sampler("ehvi").n_startup_trials, cost_exponent: float = 0.0) -> None:
        super().__init__(space, seed, n_startup_trials)
        macs = np.array([max(c.macs, 1) for _, c in self.candidates], dtype=float)
        self.cost_weight = (macs / np.median(macs)) ** -cost_exponent

    def scores(self, done: list[FrozenTrial], open_: list[int], pending: list[int] = ()) -> list[float]:
        """Expected hypervolume improvement of each open candidate, given the finished trials, per
        unit of cost with ``cost_exponent``. Trials still running (``pending``) stand on the front at
        their predicted error (the "kriging believer"), so a second worker's proposal is worth what
        it adds beyond the first's, not the same corner of the front again (BENCHMARKS.md)."""
        objectives = list(self.space.objectives)
        rows = [self.index[t.user_attrs[Attr.ARCH]] for t in done]
        err_i = objectives.index(ERROR.name)
        errors = np.array([t.values[err_i] for t in done], dtype=float)
        gp = _GP(self.features[rows], errors)
        mu, sigma = gp.predict(self.features[open_])
        lo_e, hi_e = float(errors.min()), float(errors.max())
        span_e = (hi_e - lo_e) or 1.0
        coords = np.stack(self.known_normalized(done), axis=1)  # (candidates, objectives besides the error)
        front = [((t.values[err_i] - lo_e) / span_e, *coords[r]) for t, r in zip(done, rows)]
        if pending:
            believed, _ = gp.predict(self.features[list(pending)])
            front += [((m - lo_e) / span_e, *coords[r]) for m, r in zip(believed, pending)]
        return [expected_improvement(front, tuple(coords[i]), (m - lo_e) / span_e, max(s, 1e-6) / span_e)
                * float(self.cost_weight[i]) for i, m, s in zip(open_, mu, sigma)]
