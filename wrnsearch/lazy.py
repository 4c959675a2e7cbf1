"""Package fronts that load each name's module when the name is first asked for (PEP 562).

A front lists what its package offers; nothing behind it is imported until used, so that a Ray
worker importing the trainable does not import Optuna or the driver, and a replay's worker
processes do not import plotly or torch.

Example:
    >>> __all__, __getattr__, __dir__ = lazy_exports("json", {"decoder": ("JSONDecoder",)})
    >>> __getattr__("JSONDecoder").__name__, __all__
    ('JSONDecoder', ['JSONDecoder'])
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package``, whose ``exports`` map each of
    its modules (relative, ``"_driver"``) to the public names it defines."""
    module_of = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # asked once
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *module_of})

    return sorted(module_of), __getattr__, __dir__
