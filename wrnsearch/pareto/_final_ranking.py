"""A search's ranking against the final one: what ``wrnsearch retrain`` trained at full budget.

The retrain's study (``<name>-retrain``) sits beside the search's in the run's storage. For each
retrained architecture, the search's validation error (its best eligible trial) beside the final
test error, and Kendall's tau between the two rankings with its n: how well the cheap proxy
predicted what training in full gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna

from wrnsearch.pareto._front import front_info
from wrnsearch.record import Attr

SUFFIX = "-retrain"


def retrain_name(search_name: str) -> str:
    """The study name of a search's retrain."""
    return f"{search_name}{SUFFIX}"


@dataclass
class Ranking:
    rows: list[dict[str, Any]]  # arch, search trial, search val error, final trial, final test error
    tau: float | None  # Kendall's tau between search validation error and final test error
    n: int  # architectures with both


def final_ranking(search: optuna.Study, final: optuna.Study) -> Ranking:
    """Each retrained architecture's search validation error beside its final test error."""
    from scipy.stats import kendalltau

    best: dict[str, optuna.trial.FrozenTrial] = {}
    for t in front_info(search).trials:
        arch = t.user_attrs.get(Attr.ARCH)
        if arch not in best or t.user_attrs.get(Attr.VAL_ERROR, math.inf) < best[arch].user_attrs.get(
                Attr.VAL_ERROR, math.inf):
            best[arch] = t
    rows = []
    for t in front_info(final).trials:
        arch = t.user_attrs.get(Attr.ARCH)
        source = best.get(arch)
        rows.append({"arch": arch, "search_trial": source.number if source else None,
                     "search_val_error": source.user_attrs.get(Attr.VAL_ERROR) if source else None,
                     "final_trial": t.number, "final_test_error": t.user_attrs.get(Attr.TEST_ERROR),
                     "final_epochs": t.user_attrs.get(Attr.EPOCHS)})
    pairs = [(r["search_val_error"], r["final_test_error"]) for r in rows
             if r["search_val_error"] is not None and r["final_test_error"] is not None]
    tau = None
    if len(pairs) >= 2:
        value = kendalltau([a for a, _ in pairs], [b for _, b in pairs]).statistic
        tau = None if value is None or math.isnan(value) else float(value)
    return Ranking(sorted(rows, key=lambda r: (r["final_test_error"] is None, r["final_test_error"])), tau, len(pairs))


def open_final(search: optuna.Study) -> optuna.Study | None:
    """The retrain study beside a search's, if one was started."""
    from wrnsearch.compat import study_storage

    name = retrain_name(search.study_name)
    storage = study_storage(search)
    if name not in optuna.study.get_all_study_names(storage):
        return None
    return optuna.load_study(study_name=name, storage=storage)
