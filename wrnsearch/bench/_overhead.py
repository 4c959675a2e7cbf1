"""``wrnsearch bench overhead``: the per-trial cost of a search around training, against bare Tune.

Both sides run trivial trials one at a time with reused actors on one Ray instance in this
process, alternating; the best round of each side is compared.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from wrnsearch.bench._machine import machine_description
from wrnsearch.cost import model_cost
from wrnsearch.record import Status, TrialRecord
from wrnsearch.spec import WRNSpec


def trivial_wrn_trial(config: dict[str, Any], ctx: dict[str, Any]) -> None:
    """Stands in for training in ``bench overhead``: an epoch report, then the record, at once.

    The real trainable's protocol (:mod:`wrnsearch.search`): every epoch but the last
    reported for the scheduler, then the final report with the whole record.
    """
    from ray import tune

    from wrnsearch.search import report_record

    spec = WRNSpec.from_dict(config["spec"])
    cost = model_cost(spec)
    tune.report({"epoch": 1, "val_error": 50.0})
    report_record(TrialRecord(name=spec.name, status=Status.COMPLETE, val_error=50.0, test_error=50.0,
                              params=cost.params, macs=cost.macs, latency_ms=1.0, epochs=1,
                              curve=[{"epoch": 1, "val_error": 50.0}], device="cpu"))


def _bare_tune_optuna(trials: int, seed: int) -> float:
    """A bare Ray Tune + OptunaSearch run of trivial trials with reused actors; seconds per trial."""
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    def trivial(config: dict[str, Any]) -> None:
        tune.report({"loss": config["x"] ** 2})

    tuner = tune.Tuner(
        trivial,
        param_space={"x": tune.uniform(-1, 1), "k": tune.randint(1, 12)},
        tune_config=tune.TuneConfig(search_alg=OptunaSearch(metric="loss", mode="min", seed=seed), num_samples=trials,
                                    max_concurrent_trials=1, reuse_actors=True),
        run_config=tune.RunConfig(verbose=0, storage_path=tempfile.mkdtemp(prefix="wrnbench-bare-")),
    )
    start = time.perf_counter()
    tuner.fit()
    return (time.perf_counter() - start) / trials


def _ours(trials: int, seed: int, workdir: Path) -> float:
    """The whole ``wrnsearch run`` path on trivial trials; seconds per trial."""
    from wrnsearch.search import RunOptions, run_search

    space = workdir / f"overhead-{seed}.yaml"
    space.write_text(yaml.safe_dump({
        "name": f"overhead-{seed}", "dataset": {"name": "synthetic"},
        "space": {"depth": {"low": 10, "high": 100, "step": 6}, "widen_factor": {"low": 1, "high": 12},
                  "dropout": {"low": 0.0, "high": 0.5}},
        "budget": {"max_trials": trials}, "search": {"sampler": "tpe", "seed": seed, "max_concurrent": 1},
    }))
    start = time.perf_counter()
    run_search(space, RunOptions(runs_dir=workdir / "runs"), trainable=trivial_wrn_trial)
    return (time.perf_counter() - start) / trials


def bench_overhead(trials: int = 30, rounds: int = 2, warmup_trials: int = 5) -> dict[str, Any]:
    """Per-trial overhead of the whole ``wrnsearch run`` path against bare Tune + OptunaSearch.

    Both run trivial trials one at a time with reused actors on one Ray instance in this process.
    Each side first runs ``warmup_trials`` untimed (imports, worker start-up, compiled SQL), then
    they alternate, ``rounds`` times each. The best and the median round of each side are
    reported, and what ours adds per trial (ours minus bare). Our side includes everything a real
    run does around training: proposals with costs and budgets, the Tune searcher, the SQLite
    study with its user attributes, the run directory and its lock.
    """
    import logging
    import os
    import statistics

    import ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # the bare side writes Tune's result files; its result grid's warnings are not ours to show
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    workdir = Path(tempfile.mkdtemp(prefix="wrnbench-"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=True, logging_level="WARNING")
    try:
        if warmup_trials:
            _bare_tune_optuna(warmup_trials, seed=rounds)  # seeds the timed rounds do not use
            _ours(warmup_trials, seed=rounds, workdir=workdir)
        bare, ours = [], []
        for r in range(rounds):
            bare.append(_bare_tune_optuna(trials, seed=r))
            ours.append(_ours(trials, seed=r, workdir=workdir))
    finally:
        ray.shutdown()
    bare_median, ours_median = statistics.median(bare), statistics.median(ours)
    return {
        "benchmark": "overhead", "trials": trials, "rounds": rounds, "warmup_trials": warmup_trials,
        "bare_s_per_trial": bare, "ours_s_per_trial": ours,
        "bare_best": min(bare), "ours_best": min(ours), "ratio": min(ours) / min(bare),
        "bare_median": bare_median, "ours_median": ours_median, "median_ratio": ours_median / bare_median,
        "added_median_s": ours_median - bare_median,
        "machine": machine_description(), "ray": ray.__version__,
    }
