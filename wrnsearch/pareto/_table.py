"""The front as rows: a text table for the terminal, CSV (``pareto.csv``) and JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from wrnsearch.cost import format_count
from wrnsearch.objectives import ERROR, NAMES, OBJECTIVES
from wrnsearch.pareto._front import Alone, front_info, optimized_objectives, timed_alone, trial_figure
from wrnsearch.record import Attr

# error and the test error beside it, then the other objectives in their registry's order
FRONT_COLUMNS = ("trial", "arch", "error", "test_error", *(n for n in NAMES if n != ERROR.name), "device", "epochs",
                 "timed_alone")
FORMATS = ("table", "csv", "json")


def _plain_number(value: Any) -> Any:
    """Integral floats as ints (params told as floats), other numbers as they are."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def trial_row(trial: FrozenTrial, optimized: Sequence[str] = (), alone: Alone | None = None) -> dict[str, Any]:
    """One trial as a row of :data:`FRONT_COLUMNS` (None where the trial lacks a figure); its
    latencies are those timed alone where ``alone`` has them (``timed_alone`` says which)."""
    row: dict[str, Any] = {"trial": trial.number, "arch": trial.user_attrs.get(Attr.ARCH)}
    for key in FRONT_COLUMNS[2:-1]:
        value = trial_figure(trial, key, optimized, alone)
        counted = key == "epochs" or (key in OBJECTIVES and not OBJECTIVES[key].unit)
        row[key] = _plain_number(value) if counted else value
    row["timed_alone"] = timed_alone(trial, alone)
    return row


def front_rows(study: optuna.Study, objectives: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The front's trials as rows of :data:`FRONT_COLUMNS`, best first in the first objective.

    ``error`` is the validation error (%), ``test_error`` the test error recorded beside it for
    reporting; the device-bound objectives (the latencies, the peak memory) were measured on
    ``device``, the latencies alone (``timed_alone``: by :mod:`wrnsearch.search`) or while other
    trials shared it.

    Example:
        >>> from wrnsearch.study import load_study
        >>> rows = front_rows(load_study("runs/cifar10"), "error,params")  # doctest: +SKIP
        >>> print(format_front(rows, "csv"))  # doctest: +SKIP
    """
    info = front_info(study, objectives)
    optimized = optimized_objectives(study)
    return [trial_row(t, optimized, info.alone) for t in info.front_trials]


_TABLE_HEADERS = {"trial": "trial", "arch": "arch", "test_error": "test error %", "device": "device",
                  "epochs": "epochs", "timed_alone": "alone", **{o.name: o.column for o in OBJECTIVES.values()}}


def _table_cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "timed_alone":
        return "yes" if value else "no"
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    unit = "%" if key == "test_error" else OBJECTIVES[key].unit if key in OBJECTIVES else None
    if unit == "":  # a count
        return format_count(value)
    if unit == "%":
        return f"{value:.2f}"
    if unit is not None:  # a time or a size
        return f"{value:.3g}" if value < 100 else f"{value:.0f}"
    return str(value)


def format_front(rows: Sequence[dict[str, Any]], fmt: str = "table") -> str:
    """The rows of :func:`front_rows` as a text table, CSV or JSON, ending with a newline.

    ``table`` rounds for reading (``36.5M``, ``4.17``); ``csv`` and ``json`` keep every digit. CSV
    has the header of :data:`FRONT_COLUMNS` even without rows; missing figures are empty (CSV),
    ``null`` (JSON) or ``-`` (table).

    Raises:
        ValueError: for a format other than :data:`FORMATS`.
    """
    if fmt == "json":
        return json.dumps([{k: row.get(k) for k in FRONT_COLUMNS} for row in rows], indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FRONT_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in FRONT_COLUMNS})
        return buffer.getvalue()
    if fmt == "table":
        if not rows:
            return "no trial on the front yet (none complete, feasible and trained for the full budget)\n"
        cells = [[_TABLE_HEADERS[k] for k in FRONT_COLUMNS]]
        cells += [[_table_cell(k, row.get(k)) for k in FRONT_COLUMNS] for row in rows]
        widths = [max(len(line[j]) for line in cells) for j in range(len(FRONT_COLUMNS))]
        left = {"arch", "device"}
        lines = []
        for line in cells:
            parts = [c.ljust(w) if k in left else c.rjust(w) for c, w, k in zip(line, widths, FRONT_COLUMNS)]
            lines.append("  ".join(parts).rstrip())
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines) + "\n"
    raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
