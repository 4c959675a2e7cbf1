"""``search.sampler: botorch``: noisy multi-objective Bayesian optimisation by BoTorch, over the candidates.

The field's standard for a few noisy trials of several objectives, on what only this tool knows
about a WRN (:mod:`._candidates`): the validation error is modelled by a Gaussian process
(BoTorch's ``SingleTaskGP``: ARD kernel over the candidates' shapes, its length scales, output
scale and noise level fitted by marginal likelihood, so that two trainings of similar networks
that disagree are read as noise, not as a cliff); the parameter count is exact and a latency
fitted log-linearly, both as deterministic outputs. The acquisition is log noisy expected
hypervolume improvement (``qLogNEHVI``) of the three objectives, min-max normalized as the
replay measures them (reference point 1.1), evaluated on every open candidate: it integrates
over the error's posterior at the trials already done (a noisy front is not taken at face value)
and at the trials still running (``X_pending``: a second worker's proposal accounts for the
first's). The first ``search.n_startup_trials`` proposals spread along the size axis.

BoTorch is optional: ``pip install 'wrnsearch[botorch]'``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from optuna.trial import FrozenTrial

from wrnsearch.errors import SpaceError
from wrnsearch.record import Attr
from wrnsearch.samplers._candidates import CandidateSampler
from wrnsearch.space import STARTUP_TRIALS, Space

REFERENCE = 1.1
MC_SAMPLES = 32  # quasi-Monte Carlo samples of the error's posterior in qLogNEHVI


TREND = True


def _shape_trend(d: int) -> Any:
    from gpytorch.means import LinearMean

    class ShapeTrend(LinearMean):
        """A linear trend in the shape columns only: bigger networks err less, far from any trial too."""

        def forward(self, x: Any) -> Any:
            return super().forward(x[..., :d])

    return ShapeTrend(input_size=d)


def _botorch() -> Any:
    try:
        import botorch
    except ImportError:
        return None
    return botorch


class BoTorchSampler(CandidateSampler):
    """Proposes the open candidate with the largest log noisy expected hypervolume improvement."""

    sampler_name = "botorch"

    def __init__(self, space: Space, seed: int | None = None,
                 n_startup_trials: int = STARTUP_TRIALS.get("botorch", STARTUP_TRIALS["ehvi"]),
                 mc_samples: int = MC_SAMPLES) -> None:
        if _botorch() is None:
            raise SpaceError(f"{space.source}: search.sampler botorch needs BoTorch: pip install 'wrnsearch[botorch]' "
                             "(or use search.sampler: ehvi, which needs nothing more)")
        super().__init__(space, seed, n_startup_trials)
        self.mc_samples = mc_samples
        lo, hi = self.features.min(0), self.features.max(0)
        self.unit = (self.features - lo) / np.where(hi > lo, hi - lo, 1.0)  # the GP's inputs, in [0, 1]

    def scores(self, done: list[FrozenTrial], open_: list[int], pending: list[int] = ()) -> list[float]:
        """Log noisy expected hypervolume improvement of each open candidate."""
        import torch

        objectives = list(self.space.objectives)
        rows = [self.index[t.user_attrs[Attr.ARCH]] for t in done]
        errors = np.array([t.values[objectives.index("error")] for t in done], dtype=float)
        lo_e, span_e = float(errors.min()), float(errors.max() - errors.min()) or 1.0
        coords = self.known_normalized(done)
        x = torch.tensor(np.c_[self.unit, coords[0], coords[1]], dtype=torch.double)
        d = self.unit.shape[1]
        with torch.random.fork_rng():
            torch.manual_seed(int(self.rng.integers(2**31)))
            model = self._model(x[rows], torch.tensor(-(errors - lo_e) / span_e, dtype=torch.double), d)
            acquisition = self._acquisition(model, d, x[rows], x[list(pending)] if pending else None)
            with torch.no_grad():
                values = acquisition(x[open_].unsqueeze(-2))
        return [float(v) if math.isfinite(float(v)) else -math.inf for v in values]

    @staticmethod
    def _model(x: Any, y: Any, d: int) -> Any:
        """The error's GP on the shape columns (the first ``d``; the known objectives ride along
        in the last two)."""
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms.outcome import Standardize
        from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
        from gpytorch.mlls import ExactMarginalLogLikelihood

        covar = get_covar_module_with_dim_scaled_prior(ard_num_dims=d, active_dims=list(range(d)))
        gp = SingleTaskGP(x, y.unsqueeze(-1), covar_module=covar, mean_module=_shape_trend(d) if TREND else None,
                          outcome_transform=Standardize(m=1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
        return gp

    def _acquisition(self, model: Any, d: int, baseline: Any, pending: Any) -> Any:
        """qLogNEHVI of (error, and the two known objectives read off the candidates' last columns),
        all negated: BoTorch maximizes."""
        import torch
        from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
        from botorch.acquisition.multi_objective.objective import GenericMCMultiOutputObjective
        from botorch.sampling import SobolQMCNormalSampler

        def objectives(samples: Any, X: Any = None) -> Any:
            known = -X[..., d:d + 2]
            return torch.cat([samples, known.expand(*samples.shape[:-1], 2)], dim=-1)

        return qLogNoisyExpectedHypervolumeImprovement(
            model=model, ref_point=[-REFERENCE] * 3, X_baseline=baseline, X_pending=pending, prune_baseline=True,
            objective=GenericMCMultiOutputObjective(objectives),
            sampler=SobolQMCNormalSampler(sample_shape=torch.Size([self.mc_samples])),
        )
