"""A recorded table as a replay reads it: its rows, what an architecture is judged by, and its front.

A table (``wrnsearch bench record``) holds every architecture of a benchmark space trained with
one seed or more: per-epoch validation errors and seconds, fixed costs, params and latency. With
more than one seed of every architecture it is a noisy benchmark (``truth="mean"``): an
architecture is judged by its mean final error, while a search sees one seed's curve.
Hypervolume is of the objectives min-max normalized over the table (:class:`Normalizer`).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from wrnsearch.errors import RunError
from wrnsearch.objectives import ERROR, LATENCY, PARAMS
from wrnsearch.pareto import REFERENCE_POINT, hypervolume, non_dominated_mask, normalization_bounds, normalize

OBJECTIVES = (ERROR.name, PARAMS.name, LATENCY.name)  # what a recorded table holds of each architecture
REFERENCE = REFERENCE_POINT  # the same reference point as every front's


TRUTHS = ("auto", "mean", "first")


@dataclass(frozen=True)
class Table:
    """A recorded table: its meta, its rows by architecture name, and the space it covers.

    ``truth``: ``mean`` judges each architecture by its mean final validation error over the
    table's seeds (and shows a search one seed's curve, :meth:`observed`); ``first`` by its first
    seed's, which a search then sees too.
    """

    meta: dict[str, Any]
    rows: dict[str, dict[str, Any]]
    space_data: dict[str, Any]
    truth: str = "first"

    @property
    def epochs(self) -> int:
        return int(self.meta["recipe"]["epochs"])

    @property
    def seeds_per_architecture(self) -> int:
        """Training seeds every architecture has (1 + its repeats, the fewest over the table)."""
        return _seeds_per_architecture(self.rows)

    def full_compute_s(self) -> float:
        """Worker-seconds that training every architecture fully costs (the sum of all epoch times)."""
        return float(sum(sum(r["epoch_s"]) for r in self.rows.values()))

    def curves(self, name: str) -> list[dict[str, Any]]:
        """Each seed's ``val_error`` (per epoch) and ``test_error`` of an architecture, first seed first."""
        row = self.rows[name]
        return [{"val_error": row["val_error"], "test_error": row.get("test_error")},
                *({"val_error": r["val_error"], "test_error": r.get("test_error")} for r in row.get("repeats") or ())]

    @cached_property
    def _final_errors(self) -> dict[str, float]:
        # computed once: every hypervolume of every replayed trial reads them
        if self.truth == "mean":
            return {n: float(np.mean([c["val_error"][-1] for c in self.curves(n)])) for n in self.rows}
        return {n: float(r["val_error"][-1]) for n, r in self.rows.items()}

    def final_error(self, name: str) -> float:
        """The error an architecture is judged by: its mean final validation error over the seeds
        (``truth`` mean), or the first seed's."""
        return self._final_errors[name]

    def observed(self, name: str, seed: int) -> dict[str, Any]:
        """The curve a search replayed with ``seed`` sees for ``name``: one seed's, drawn from the
        replay seed and the name (``truth`` mean), or the first seed's."""
        curves = self.curves(name)
        if self.truth != "mean":
            return curves[0]
        draw = np.random.default_rng([seed, zlib.crc32(name.encode())]).integers(len(curves))
        return curves[int(draw)]

    def objective_matrix(self, names: Sequence[str]) -> np.ndarray:
        return np.array([[self.final_error(n), self.rows[n]["params"], self.rows[n]["latency_ms"]]
                         for n in names], dtype=float)


def load_table(path: str | Path, truth: str = "auto") -> Table:
    """Read a table written by ``wrnsearch bench record``.

    ``truth`` (:class:`Table`): ``auto`` is ``mean`` when every architecture has repeats, else
    ``first``.

    Raises:
        RunError: naming the file and what is wrong with it.
    """
    if truth not in TRUTHS:
        raise RunError(f"--truth {truth}: one of {', '.join(TRUTHS)}")
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        meta, archs = data["meta"], data["architectures"]
        rows = {a["arch"]: a for a in archs}
        space_data = {"name": f"{meta['space']}-replay", "dataset": meta["dataset"], "space": meta["search_space"],
                      "objectives": list(OBJECTIVES), "budget": {**meta["budget"], "time": None, "trial_time": None},
                      "train": meta["recipe"]}
        for a in archs:
            for key in ("params", "latency_ms", "epoch_s", "fixed_s", "val_error"):
                a[key]  # noqa: B018 - a KeyError names the missing field
            for rep in a.get("repeats") or ():
                if len(rep["val_error"]) != len(a["val_error"]):
                    raise ValueError(f"{a['arch']}: a repeat of {len(rep['val_error'])} epochs, "
                                     f"not {len(a['val_error'])}")
    except FileNotFoundError:
        raise RunError(f"{path}: no such table (make one with wrnsearch bench record)") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RunError(f"{path}: not a benchmark table ({type(e).__name__}: {e})") from None
    multi = _seeds_per_architecture(rows) > 1
    if truth == "mean" and not multi:
        raise RunError(f"--truth mean: {path} has a single seed for some architectures; record repeats of "
                       f"every one (wrnsearch bench record --repeats {len(rows)}), or use --truth first")
    return Table(meta, rows, space_data, "mean" if truth == "mean" or (truth == "auto" and multi) else "first")


def _seeds_per_architecture(rows: dict[str, dict[str, Any]]) -> int:
    return min(1 + len(r.get("repeats") or ()) for r in rows.values())


class Normalizer:
    """Min-max over the table's architectures, per objective: 0 best, 1 worst."""

    def __init__(self, table: Table) -> None:
        values = table.objective_matrix(sorted(table.rows))
        self.bounds = normalization_bounds(values)
        self.true = normalize(values, self.bounds)

    def hv(self, table: Table, names: Sequence[str]) -> float:
        if not names:
            return 0.0
        return float(hypervolume(normalize(table.objective_matrix(list(names)), self.bounds), REFERENCE))


def front_of(table: Table, names: Sequence[str]) -> list[str]:
    """The names, in order, that no other of ``names`` dominates."""
    names = sorted(set(names))
    if not names:
        return []
    return [n for n, keep in zip(names, non_dominated_mask(table.objective_matrix(names))) if keep]
