"""``wrnsearch retrain``: the final phase of a search, its chosen architectures trained at full budget.

A search ranks architectures on a low-fidelity proxy (few epochs, a subset, a validation split);
the networks a user ships are trained again with the paper's recipe on the whole training set.
This module builds that second run from the first: a space whose ``space.architecture`` lists the
chosen networks (the front, its ``--top K`` by validation error, or ``--trial N`` ...), with the
search's data set (``val_size`` 0, and no ``train_subset`` or ``test_subset``: the whole training
and test sets, by default), the paper's recipe for the data set (``train.epochs`` from
``--epochs``; the search's device settings kept), the grid sampler (each architecture once) and
no time budget, and runs it with :func:`wrnsearch.search.run_search`
as Ray Tune trials on the same resources or cluster. It lives in ``RUN_DIR/retrain/`` (its own
space, lock, checkpoints, report) and its study ``<name>-retrain`` sits beside the search's in
the run's storage; running the command again resumes it.

:func:`wrnsearch.pareto.final_ranking` compares the two: the search's validation error of
each architecture beside its final test error, and Kendall's tau between the two rankings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import optuna

from wrnsearch.deploy._export import pick_trial
from wrnsearch.errors import RunError
from wrnsearch.pareto import front_info, retrain_name
from wrnsearch.record import Attr
from wrnsearch.space import Space, paper_recipe, space_from_data
from wrnsearch.study import load_study, resolve_run

RETRAIN_DIR = "retrain"
# train keys that say how to run on a device, not what to train: a retrain keeps the search's
KEEP_TRAIN = ("amp", "channels_last", "compile", "eval_batch_size", "latency_batch", "latency_steps", "infer_batch",
              "seed")


def choose(study: optuna.Study, *, front: bool = False, trials: Sequence[int] = (),
           top: int | None = None) -> list[str]:
    """The architectures to retrain: the front's (best validation error first, ``top`` of them) or
    the named trials'.

    Raises:
        RunError: when nothing is chosen, or a named trial did not complete.
    """
    if front == bool(trials):
        raise RunError("give --front or --trial N (one of them)")
    if front:
        chosen = sorted(front_info(study).front_trials,
                        key=lambda t: (t.user_attrs.get(Attr.VAL_ERROR, math.inf), t.number))
        if top is not None:
            chosen = chosen[:top]
    else:
        chosen = [pick_trial(study, number=n) for n in trials]
    names = list(dict.fromkeys(t.user_attrs[Attr.ARCH] for t in chosen))
    if not names:
        raise RunError(f"study {study.study_name!r} has no front yet: let the search complete some trials")
    return names


def retrain_space(search: Space, names: Sequence[str], *, epochs: int | None = None, val_size: float = 0,
                  overrides: Sequence[str] = (), storage: str | None = None) -> Space:
    """The retrain's space (see the module docstring); ``storage``, the search's, is saved in it so
    that ``wrnsearch resume RUN_DIR/retrain`` finds the study too."""
    data = search.to_yaml_dict()
    dataset = {**data["dataset"], "val_size": val_size}
    dataset.pop("train_subset", None)
    dataset.pop("test_subset", None)  # the final test error is on the whole test set
    recipe = paper_recipe(dataset["name"])
    train = {**recipe, **{k: data["train"][k] for k in KEEP_TRAIN if k in data["train"]}}
    if epochs is not None:
        train["epochs"] = epochs
    retrain = {
        "name": retrain_name(search.name), "phase": "retrain", "dataset": dataset,
        "space": {"architecture": list(names)}, "objectives": list(search.objectives),
        "budget": {"max_trials": len(names)}, "train": train,
        "search": {"sampler": "grid", "seed": search.search.seed, "scheduler": "fifo",
                   "max_concurrent": search.search.max_concurrent, "max_failures": search.search.max_failures},
        "resources": data.get("resources", {}), "storage": storage,
    }
    return space_from_data(retrain, source=f"{search.name} retrain", overrides=overrides)


def plan_retrain(run_dir: str | Path, *, front: bool = False, trials: Sequence[int] = (), top: int | None = None,
                 epochs: int | None = None, val_size: float = 0, overrides: Sequence[str] = (),
                 storage: str | None = None) -> tuple[Space, Path, str]:
    """The retrain's space, its directory and the storage URL it shares with the search.

    A retrain that already exists is resumed as it was planned (its saved space); the options
    choose the architectures only the first time.
    """
    from wrnsearch.study import storage_url

    run_dir = Path(run_dir)
    search, run_dir = resolve_run(None, run_dir=run_dir)
    url = storage_url(run_dir, storage or search.storage)  # a search on a server saved where
    target = run_dir / RETRAIN_DIR
    if (target / "space.yaml").is_file():
        space, _ = resolve_run(None, run_dir=target, overrides=overrides)
        return space, target, url
    study = load_study(run_dir=None, storage=url, study_name=search.name)
    names = choose(study, front=front, trials=trials, top=top)
    return retrain_space(search, names, epochs=epochs, val_size=val_size, overrides=overrides, storage=url), target, url
