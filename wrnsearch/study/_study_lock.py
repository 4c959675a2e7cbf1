"""One driver per study on a database server: a PostgreSQL advisory lock held for the driver's life."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from collections.abc import Iterator

import sqlalchemy

from wrnsearch.errors import RunError
from wrnsearch.study._urls import display_url


def _advisory_key(study_name: str) -> int:
    """The 64-bit PostgreSQL advisory-lock key of a study (advisory locks are per database)."""
    digest = hashlib.sha256(f"wrnsearch study {study_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def study_lock(url: str, study_name: str) -> Iterator[None]:
    """One driver per study on a database server, on whatever host it runs.

    A run directory's flock cannot see a driver of the same study started elsewhere (another
    run directory, another host). On PostgreSQL the driver holds a session advisory lock keyed by
    the study's name on a connection of its own for its whole life; the server releases it when
    that connection closes, so a killed driver frees it at once (a host that vanishes without
    closing it frees it when the server's TCP keepalive gives up on the connection). Other
    storages pass: SQLite and journal files live in the run directory its lock covers, and other
    servers are used as they are.

    Raises:
        RunError: when another driver holds the study, or the server cannot be reached.
    """
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
        cause = " ".join(str(getattr(e, "orig", e)).split())[:200]
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
