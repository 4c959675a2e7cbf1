"""The space factory: one small space (the quickstart's architectures on generated images, which
train in seconds on a CPU) that a test changes section by section, so that each test says only
what its space is about instead of pasting a space file of its own.

    make_space(name="q", budget={"max_trials": 3}, search={"sampler": "random"})  # the fixture
    write_space(directory, "q", ...), space_text("q", ...), space_data("q", ...)  # file, text, dict

A section given as a dict is merged into the base one, key by key (a key given ``None`` is
dropped); one given as ``exactly({...})`` replaces the base one; a section given as ``None``
is dropped; anything else (``objectives=[...]``, a section the base lacks) is set as given.
``base=`` starts from another space made here (the searches of a two-node cluster, say) instead.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

BASE: dict[str, Any] = {
    "name": "s",
    # 4 classes of 16x16 images, generated from the seed: no download, seconds an epoch
    "dataset": {"name": "synthetic", "num_classes": 4, "resolution": 16, "train_size": 256, "test_size": 64,
                "val_size": 64},
    # the quickstart's 12 architectures, 35K to 677K parameters
    "space": {"depth": [10, 16], "widen_factor": [1, 2, 3], "block": ["B(3,3)", "B(3,1)"]},
    "budget": {"max_trials": 6, "max_params": "600K"},  # WRN-16-3 and WRN-16-3-B(3,1) are over it
    # latency_batch 8, not 32: every trial times its training step before it trains, and every
    # search times its front again alone; nothing here asserts what a latency is, only that it is
    # measured and recorded, and at 32 images those timings cost more CPU than the training
    "train": {"epochs": 2, "batch_size": 64, "lr": 0.05, "latency_batch": 8},
    # one trial at a time: the suite's two processes already fill both cores, and a second trial
    # costs a second trial worker (seconds of imports); a test whose point is trials in flight
    # together (two at once, a kill or Ctrl-C among them, two nodes) asks for them
    "search": {"sampler": "tpe", "seed": 1, "n_startup_trials": 4, "max_concurrent": 1},
    "resources": {"cpus_per_trial": 1},
}


class exactly(dict):  # noqa: N801 - reads as the word it is: make_space(dataset=exactly({...}))
    """A section that replaces the base space's section instead of being merged into it."""


def space_data(name: str = "s", *, base: dict[str, Any] | None = None, **sections: Any) -> dict[str, Any]:
    """The base space (``BASE``, or another made by this function) named ``name`` with ``sections``
    merged in (see the module's docstring)."""
    data = copy.deepcopy(BASE if base is None else base)
    data["name"] = name
    for key, value in sections.items():
        if value is None:
            data.pop(key, None)
        elif isinstance(value, dict) and not isinstance(value, exactly) and isinstance(data.get(key), dict):
            merged = {**data[key], **value}
            data[key] = {k: v for k, v in merged.items() if v is not None}
        else:
            data[key] = copy.deepcopy(dict(value) if isinstance(value, exactly) else value)
    return data


def space_text(name: str = "s", *, base: dict[str, Any] | None = None, **sections: Any) -> str:
    """The space of :func:`space_data` as the YAML a user would write."""
    return yaml.safe_dump(space_data(name, base=base, **sections), sort_keys=False, default_flow_style=None,
                          width=1000)


def write_space(directory: Path, name: str = "s", *, base: dict[str, Any] | None = None, **sections: Any) -> Path:
    """The space of :func:`space_data` written to ``directory/<name>.yaml``; its path."""
    path = Path(directory) / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(space_text(name, base=base, **sections))
    return path


# Three small architectures on 8x8 images, judged on error and latency: the space of the studies made
# by hand whose fronts a test times alone (search/_exclusive_latency.py)
THREE_ARCHITECTURES = space_data("alone", dataset={"resolution": 8},
                                 space=exactly({"architecture": ["WRN-10-1", "WRN-10-1-B(3,1)", "WRN-10-2"]}),
                                 objectives=["error", "latency_ms"])
