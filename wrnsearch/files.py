"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one.

Every file wrnsearch leaves for later (the run's space.yaml, pareto.csv, report.html, trial
checkpoints, the decoded-image cache) is written beside its target under a temporary name and
renamed over it, which POSIX makes atomic within one file system.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


def cache_dir() -> Path:
    """Where wrnsearch keeps what it can make again (decoded images, the packed plotly.js):
    ``$WRNSEARCH_CACHE``, else ``~/.cache/wrnsearch``."""
    return Path(os.environ.get("WRNSEARCH_CACHE") or Path.home() / ".cache" / "wrnsearch")


@contextlib.contextmanager
def atomic_path(path: str | Path, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; on success it replaces ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was. ``fsync``
    flushes the data to disk before the rename (checkpoints: a power cut must not leave an
    empty newest checkpoint).

    Example:
        >>> import uuid
        >>> target = Path(tempfile.mkdtemp()) / "out.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text()
        'done'
    """
    path = Path(path)
    # a unique name in the same directory; created by the caller's write, with the usual mode
    # (umask), unlike mkstemp's 0600 that os.replace would carry over to the target
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str, *, fsync: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically; return ``path``."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_text(text)
    return Path(path)
