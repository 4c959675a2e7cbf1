"""The paper's published results, as data: the reference markers of the report's plots."""

from __future__ import annotations

from typing import NamedTuple

from wrnsearch.dataset_registry import DATASETS


class PaperResult(NamedTuple):
    """One published result of Zagoruyko & Komodakis (2016): test error (%) after 200 epochs."""

    name: str
    params_m: float  # millions, as published (CIFAR-10 classifier)
    cifar10: float | None
    cifar100: float | None
    table: str


# Tables 4 and 6 of the paper, test error in percent. The tests check every name against the
# analytic parameter count. WRN-40-8 has no published CIFAR-100 result.
PAPER_RESULTS: tuple[PaperResult, ...] = (
    PaperResult("WRN-40-1", 0.6, 6.85, 30.89, "Table 4"),
    PaperResult("WRN-40-2", 2.2, 5.33, 26.04, "Table 4"),
    PaperResult("WRN-40-4", 8.9, 4.97, 22.89, "Table 4"),
    PaperResult("WRN-40-8", 35.7, 4.66, None, "Table 4"),
    PaperResult("WRN-28-10", 36.5, 4.17, 20.50, "Table 4"),
    PaperResult("WRN-28-12", 52.5, 4.33, 20.43, "Table 4"),
    PaperResult("WRN-22-8", 17.2, 4.38, 21.22, "Table 4"),
    PaperResult("WRN-22-10", 26.8, 4.44, 20.75, "Table 4"),
    PaperResult("WRN-16-8", 11.0, 4.81, 22.07, "Table 4"),
    PaperResult("WRN-16-10", 17.1, 4.56, 21.59, "Table 4"),
    PaperResult("WRN-16-4", 2.7, 5.02, 24.03, "Table 6"),
    PaperResult("WRN-16-4-d0.3", 2.7, 5.24, 23.91, "Table 6"),
    PaperResult("WRN-28-10-d0.3", 36.5, 3.89, 18.85, "Table 6"),
)
PAPER_LABEL = "paper (test error)"
# The data sets the paper's tables give results for: the columns of PaperResult that name one
PAPER_DATASETS = tuple(f for f in PaperResult._fields if f in DATASETS)


def paper_results(dataset: str | None) -> list[tuple[PaperResult, float]]:
    """The paper's results for one of :data:`PAPER_DATASETS` (CIFAR-10, CIFAR-100) as (result, test
    error); else none."""
    if dataset not in PAPER_DATASETS:
        return []
    return [(r, getattr(r, dataset)) for r in PAPER_RESULTS if getattr(r, dataset) is not None]
