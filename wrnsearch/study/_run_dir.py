"""A run directory: the resolved space it was started with, its study, and the lock of its driver.

``runs/<name>/space.yaml`` is the space as resolved when the run started (every default filled
in that its data set reads: no synthetic image counts beside CIFAR-10), so that ``wrnsearch resume
RUN_DIR`` continues it as it was; a later command with another data set, objectives or recipe is
refused, because its results would not be comparable.
``RUN_DIR/.lock`` keeps a second driver out.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from wrnsearch.errors import RunError
from wrnsearch.files import atomic_write_text
from wrnsearch.space import Space, as_space, drop_retired_keys, drop_unused_keys, load_space

SPACE_FILE = "space.yaml"
LOCK_FILE = ".lock"
# sections whose change makes results incomparable: a run refuses to continue under others
_FIXED_SECTIONS = ("dataset", "objectives", "train")


class RunLock:
    """One driver per run directory: an flock on ``RUN_DIR/.lock``, released when the process dies."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise RunError(f"{self.path.parent} is in use by another wrnsearch run (lock {self.path}); "
                           "wait for it or use --name") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)


def resolve_run(space_path: str | Path | Space | None, *, run_dir: str | Path | None = None,
                runs_dir: str | Path = "runs", name: str | None = None,
                overrides: Sequence[str] = ()) -> tuple[Space, Path]:
    """The validated space and its run directory, writing nothing (bad input leaves nothing behind).

    Without ``space_path``, ``run_dir`` is an existing run and its saved space is used. A
    :class:`Space` already validated (``wrnsearch.run`` given a mapping) stands for a file.

    Raises:
        SpaceError, RunError: bad input, or a run directory started with other settings.
    """
    if run_dir is not None and space_path is None:
        saved = Path(run_dir) / SPACE_FILE
        if not saved.exists():
            raise RunError(f"{run_dir} is not a run directory (no {SPACE_FILE}); "
                           "start one with: wrnsearch run SPACE.yaml")
        space = load_space(saved, overrides)
    else:
        space = as_space(space_path, overrides)
        if name:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
                raise RunError(f"--name {name!r}: use letters, digits, '.', '_' and '-' (it names a directory)")
            space = space.model_copy(update={"name": name})
        run_dir = run_dir or Path(runs_dir) / space.name
    run_dir = Path(run_dir)
    saved = run_dir / SPACE_FILE
    if saved.exists():
        # as an earlier version wrote it: with retired keys, and with the synthetic sizes on every data set
        old = drop_unused_keys(drop_retired_keys(yaml.safe_load(saved.read_text())))
        new = space.to_yaml_dict()
        for section in _FIXED_SECTIONS:
            if old.get(section) != new.get(section):
                raise RunError(
                    f"{run_dir} was run with a different {section} section; results would not be comparable: "
                    f"start a new run with --name, or resume as it was with: wrnsearch resume {run_dir}"
                )
    return space, run_dir


def write_run_dir(space: Space, run_dir: Path) -> None:
    """Create the run directory and save the resolved space in it (atomically)."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / SPACE_FILE, yaml.safe_dump(space.to_yaml_dict(), sort_keys=False))
    except OSError as e:
        raise RunError(f"cannot write the run directory {run_dir}: {e.strerror}") from None


def prepare_run_dir(space_path: str | Path | None, *, run_dir: str | Path | None = None,
                    runs_dir: str | Path = "runs", name: str | None = None,
                    overrides: Sequence[str] = ()) -> tuple[Space, Path]:
    """Load and validate the space, then create (or check) the run directory."""
    space, path = resolve_run(space_path, run_dir=run_dir, runs_dir=runs_dir, name=name, overrides=overrides)
    write_run_dir(space, path)
    return space, path
