"""One driver per study, whoever points at it: a lock held for the driver's life.

A run directory's lock (:class:`~wrnsearch.study.RunLock`) covers the study kept in it. A study named
with ``--storage`` may be shared by run directories, hosts and people: two drivers on one study would
each trust the trials they read when they started and train the same architectures twice, silently,
with the budget counted twice. So the second is refused in one line naming the first:

- on PostgreSQL, a session advisory lock keyed by the study's name;
- on an SQLite or journal file, an ``flock`` on ``<file>.<study>.driver`` beside it, which holds
  the holder's host, pid and run directory. On NFS, Linux carries ``flock`` to the server as a
  POSIX lock, so it crosses hosts where the server locks (NFSv4, or NFSv3 with lockd); NFS mounted
  ``nolock`` keeps it on one host (docs/study.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy

from wrnsearch.errors import RunError, one_line
from wrnsearch.study._urls import display_url, journal_path, sqlite_path


def _advisory_key(study_name: str) -> int:
    """The 64-bit PostgreSQL advisory-lock key of a study (advisory locks are per database)."""
    digest = hashlib.sha256(f"wrnsearch study {study_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def driver_lock_path(study_file: str | Path, study_name: str) -> Path:
    """The lock of a study kept in an SQLite or journal file: ``study.journal.<name>.driver`` beside it
    (not Optuna's own ``study.journal.lock``, which a journal creates for each append).

    Example:
        >>> driver_lock_path("/runs/q/study.journal", "quick start").name
        'study.journal.quick_start.driver'
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", study_name)[:80]
    return Path(study_file).with_name(f"{Path(study_file).name}.{safe}.driver")


@contextlib.contextmanager
def file_study_lock(study_file: str | Path, study_name: str, holder: str = "") -> Iterator[None]:
    """Hold the driver lock of a study in ``study_file`` (see the module docstring); ``holder`` says
    who, in the refusal a second driver gets.

    Raises:
        RunError: when another driver holds it.
    """
    path = driver_lock_path(study_file, study_name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        by = os.pread(fd, 300, 0).decode(errors="replace").strip()
        os.close(fd)
        raise RunError(f"study {study_name!r} in {study_file} is in use by another wrnsearch driver"
                       f"{f' ({by})' if by else ''}: wait for it, or use --name for a new study") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"wrnsearch {socket.gethostname()} pid {os.getpid()}{holder}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; a killed driver's is released by the kernel (or the NFS server)


@contextlib.contextmanager
def study_lock(url: str, study_name: str, run_dir: str | Path | None = None) -> Iterator[None]:
    """One driver per study on a database server, on whatever host it runs.

    A run directory's flock cannot see a driver of the same study started elsewhere (another
    run directory, another host). On PostgreSQL the driver holds a session advisory lock keyed by
    the study's name on a connection of its own for its whole life; the server releases it when
    that connection closes, so a killed driver frees it at once (a host that vanishes without
    closing it frees it when the server's TCP keepalive gives up on the connection). An SQLite or
    journal file gets :func:`file_study_lock` (``run_dir`` named in it). Other servers are used as
    they are.

    Raises:
        RunError: when another driver holds the study, or the server cannot be reached.
    """
    study_file = sqlite_path(url) or journal_path(url)
    if study_file:
        with file_study_lock(study_file, study_name, f" run {run_dir}" if run_dir else ""):
            yield
        return
    if not url.startswith("postgresql"):
        yield
        return
    import sqlalchemy.exc
    import sqlalchemy.pool

    holder = f"wrnsearch {socket.gethostname()} pid {os.getpid()}"[:63]  # pg_stat_activity shows it
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool,
                                      connect_args={"application_name": holder})
    key = _advisory_key(study_name)
    try:
        connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        acquired = connection.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        others = [] if acquired else _advisory_holders(connection, key)
    except sqlalchemy.exc.SQLAlchemyError as e:
        engine.dispose()
        cause = one_line(getattr(e, "orig", e), 200)
        raise RunError(f"cannot reach the study storage {display_url(url)}: {cause}") from None
    if not acquired:
        connection.close()
        engine.dispose()
        by = f" ({', '.join(others)})" if others else ""
        raise RunError(f"study {study_name!r} in {display_url(url)} is in use by another wrnsearch driver{by}, "
                       "perhaps on another host: wait for it, or use --name for a new study")
    try:
        yield
    finally:
        with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            connection.close()
        engine.dispose()


def _advisory_holders(connection: sqlalchemy.engine.Connection, key: int) -> list[str]:
    """The application names of the sessions that hold ``key`` (a bigint key is classid:objid)."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    rows = connection.execute(sqlalchemy.text(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.classid::bigint = :hi AND l.objid::bigint = :lo"), {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF})
    return [name for (name,) in rows if name]
