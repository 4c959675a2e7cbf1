"""A real PostgreSQL server for tests, started from Debian's package on a free port, and databases
of their own on it."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.procs import free_port

# distinctive: a test greps the files and the output of a run for it
PG_PASSWORD = "pw-7f3kq9z-5c1"


def _postgres_bin() -> Path | None:
    """The server's programs: Debian keeps them in /usr/lib/postgresql/<version>/bin, off PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).resolve().parent if pg_ctl else None


@contextlib.contextmanager
def postgres_server(password: str) -> Iterator[str]:
    """A PostgreSQL server of the caller's own on a free port, with a user that logs in by password
    and a database of its own: yields ``postgresql://wrn:PASSWORD@127.0.0.1:PORT/wrn``. PostgreSQL
    refuses to run as root, so as root it runs as Debian's ``postgres`` user in a temporary
    directory that user owns. No fsync: the test's data need not survive a power cut. Skips the
    test when the server's programs or psycopg are absent."""
    # SQLAlchemy 2.1 reads postgresql:// as psycopg (3): the driver the test extra installs
    psycopg = pytest.importorskip("psycopg", reason="psycopg[binary] is in the test extra: pip install -e '.[test]'")

    bindir = _postgres_bin()
    if bindir is None or not (bindir / "initdb").exists():
        pytest.skip("PostgreSQL's server programs are absent (Debian: apt-get install postgresql; .ci/run does)")
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root, and there is no 'postgres' user to run PostgreSQL as")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="wrnsearch-pg-"))
    if as_user:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, port = root / "data", free_port()
    pg_ctl = [*as_user, str(bindir / "pg_ctl"), "-D", str(data)]
    try:
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                        "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
        subprocess.run([*pg_ctl, "-o", options, "-l", str(root / "server.log"), "-w", "-t", "60", "start"],
                       check=True, capture_output=True, timeout=120)
    except subprocess.CalledProcessError as e:
        shutil.rmtree(root, ignore_errors=True)
        raise AssertionError(f"PostgreSQL did not start: {e.stderr.decode()[-2000:]}") from None
    try:
        with psycopg.connect(host=str(root), port=port, user="postgres", dbname="postgres", autocommit=True) as admin:
            admin.execute(f"CREATE USER wrn PASSWORD '{password}' CREATEDB")
            admin.execute("CREATE DATABASE wrn OWNER wrn")
        yield f"postgresql://wrn:{password}@127.0.0.1:{port}/wrn"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


_DATABASES = itertools.count(1)


def new_database(url: str) -> str:
    """A new, empty database on the server of ``url`` (a URL :func:`postgres_server` yielded), owned by
    its user: the same URL with the new database's name."""
    import psycopg

    base, _ = url.rsplit("/", 1)
    name = f"wrn{next(_DATABASES)}"
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}"
