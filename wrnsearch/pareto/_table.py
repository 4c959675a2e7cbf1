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
from wrnsearch.pareto._front import Alone, front_info, optimized_objectives, timed_alone, trial_figure
from wrnsearch.record import Attr

FRONT_COLUMNS = ("trial", "arch", "error", "test_error", "params", "macs", "latency_ms", "latency_infer_ms", "device",
                 "epochs", "timed_alone")
_LATENCIES = ("latency_ms", "latency_infer_ms")
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
        row[key] = _plain_number(value) if key in ("params", "macs", "epochs") else value
    row["timed_alone"] = timed_alone(trial, alone)
    return row


def front_rows(study: optuna.Study, objectives: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The front's trials as rows of :data:`FRONT_COLUMNS`, best first in the first objective.

    ``error`` is the validation error (%), ``test_error`` the test error recorded beside it for
    reporting; ``latency_ms`` (a training step) and ``latency_infer_ms`` (inference) were measured
    on ``device``, alone (``timed_alone``: by :mod:`wrnsearch.search`) or while other trials
    shared it.

    Example:
        >>> from wrnsearch.study import load_study
        >>> rows = front_rows(load_study("runs/cifar10"), "error,params")  # doctest: +SKIP
        >>> print(format_front(rows, "csv"))  # doctest: +SKIP
    """
    info = front_info(study, objectives)
    optimized = optimized_objectives(study)
    return [trial_row(t, optimized, info.alone) for t in info.front_trials]


_TABLE_HEADERS = {
    "trial": "trial", "arch": "arch", "error": "error %", "test_error": "test error %", "params": "params",
    "macs": "MACs", "latency_ms": "latency ms", "latency_infer_ms": "infer ms", "device": "device", "epochs": "epochs",
    "timed_alone": "alone",
}


def _table_cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "timed_alone":
        return "yes" if value else "no"
    if key in ("params", "macs") and isinstance(value, (int, float)):
        return format_count(value)
    if key in ("error", "test_error") and isinstance(value, (int, float)):
        return f"{value:.2f}"
    if key in _LATENCIES and isinstance(value, (int, float)):
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
