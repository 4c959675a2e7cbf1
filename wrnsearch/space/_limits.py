"""What every section of a space file shares: frozen models that refuse unknown keys, and bounds
beyond any sense."""

from __future__ import annotations

from typing import Any

from pydantic import AfterValidator, BaseModel, ConfigDict

MAX_DEPTH = 1000
MAX_WIDEN_FACTOR = 64
# Bounds beyond any sense, so that a typo (an extra zero or ten) is refused with its bound instead
# of starting a search that can never end: the paper trains 200 epochs at batch 128.
MAX_EPOCHS = 10_000
MAX_BATCH = 65_536
MAX_TRIALS = 1_000_000
MAX_CONCURRENT = 4096
MAX_IMAGES = 1_000_000_000  # a data set's images, held out or subsetted
MAX_SECONDS = 366 * 24 * 3600.0  # a year: budget.time, budget.trial_time
MAX_COUNT = 10**13  # params or MACs of any network a budget may bound (GPT-4 class models are ~10**12)
MAX_BYTES = 2**50  # a pebibyte


def at_most(limit: float, shown: Any) -> AfterValidator:
    """A bound beyond any sense, refused in the units the file is written in (``366d``, ``10T``)."""

    def check(v: float) -> float:
        if v > limit:
            raise ValueError(f"{shown(v)} is beyond any sense: at most {shown(limit)}")
        return v

    return AfterValidator(check)


class Section(BaseModel):
    """A section of a space file: frozen once valid, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
