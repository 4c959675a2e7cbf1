"""Parsing of human quantities in space files: sizes (``36.5M``), memory (``8GiB``), times (``2h``).

Pure functions, no imports beyond the standard library. Each raises ``ValueError`` with a message
that quotes the input; the space loader adds file, line and key.
"""

from __future__ import annotations

import math
import re

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_SIZE_SUFFIX = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_BYTES_SUFFIX = {
    "": 1, "B": 1,
    "K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9, "T": 1e12, "TB": 1e12,
    "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40,
}
_TIME_SUFFIX = {"": 1, "S": 1, "M": 60, "MIN": 60, "H": 3600, "D": 86400}


def _parse(value: object, suffixes: dict[str, float], what: str, example: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a {what} (e.g. {example})")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        m = re.fullmatch(rf"\s*({_NUMBER})\s*([A-Za-z]*)\s*", value)
        if not m or m.group(2).upper() not in suffixes:
            raise ValueError(f"{value!r} is not a {what} (e.g. {example})")
        number = float(m.group(1)) * suffixes[m.group(2).upper()]
    else:
        raise ValueError(f"{value!r} is not a {what} (e.g. {example})")
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{value!r} must be a finite {what} > 0")
    return number


def parse_count(value: object) -> int:
    """``36.5M`` -> 36500000, ``2.2e6`` -> 2200000, ``5G`` -> 5000000000."""
    return int(round(_parse(value, _SIZE_SUFFIX, "count", "36.5M, 2.2e6, 500K")))


def parse_bytes(value: object) -> int:
    """``8GiB`` -> 8589934592, ``500MB`` -> 500000000, a plain number is bytes."""
    return int(round(_parse(value, _BYTES_SUFFIX, "memory size", "8GiB, 512MiB, 2GB")))


def parse_seconds(value: object) -> float:
    """``30m`` -> 1800, ``2h`` -> 7200, ``1d``, ``90s``, ``2m30s`` -> 150, ``1h30m``; a plain number is seconds."""
    if isinstance(value, str):
        parts = re.findall(rf"({_NUMBER})\s*([A-Za-z]+)", value)
        if len(parts) > 1 and re.fullmatch(rf"\s*(?:({_NUMBER})\s*([A-Za-z]+)\s*)+", value):
            return sum(_parse(f"{n}{unit}", _TIME_SUFFIX, "duration", "30m, 2h, 90s, 2m30s") for n, unit in parts)
    return _parse(value, _TIME_SUFFIX, "duration", "30m, 2h, 90s, 1d")


def format_seconds(seconds: float) -> str:
    """``2h``, ``30m``, ``90m``, ``45s``: the shortest exact form a space file accepts back."""
    s = float(seconds)
    if s >= 60 and s % 60 == 0:
        minutes = int(s // 60)
        if minutes % 60 == 0:
            hours = minutes // 60
            return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"
        return f"{minutes}m"
    return f"{s:g}s"


def format_duration(seconds: float) -> str:
    """A predicted or measured duration for people: ``8.5 s``, ``2 min 10 s``, ``3.4 h``, ``12 days``.

    >>> [format_duration(s) for s in (8.46, 130, 1800, 12240, 3.2e5, 4e7)]
    ['8.5 s', '2 min 10 s', '30 min', '3.4 h', '3.7 days', '1.3 years']
    """
    s = float(seconds)
    if s != s or s == float("inf"):
        return "forever"
    if s < 10:
        return f"{s:.1f} s"
    if s < 90:
        return f"{s:.0f} s"
    if s < 600:
        minutes, rest = divmod(round(s), 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h"
    if s < 365 * 86400:
        days = s / 86400
        return f"{days:.1f} days" if days < 10 else f"{days:.0f} days"
    return f"{s / (365.25 * 86400):.1f} years"
