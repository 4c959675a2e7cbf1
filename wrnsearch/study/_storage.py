"""Where a study lives: its storage URL, opened for the one writer or for any number of readers.

A run directory holds its study as SQLite (``RUN_DIR/study.db``) on a local disk, and as Optuna's
journal file (``RUN_DIR/study.journal``, URL ``journal:///`` + path) on a network filesystem, unless
``--storage`` names another Optuna storage URL (``postgresql://...``). SQLite takes one writer: only
the search's driver writes, through :func:`open_storage`, with the database in WAL mode so that
readers never block it. WAL keeps its index in shared memory, which works on one host only: a
reader on another host (a login node, a laptop mounting the share) breaks it, so SQLite on a
network filesystem is refused (:func:`refuse_sqlite_on_network_fs`); the journal file locks by
creating a file with ``O_EXCL``, which NFSv3 and later (EFS) honour across hosts. Readers
(``wrnsearch pareto``, ``report``, the tests) use :func:`load_study`, which opens SQLite read-only
and never creates a journal, so a reader can never change or break a running search.

A database server has no run directory to lock: :func:`~wrnsearch.study._study_lock.study_lock`
holds one for the driver's life. URLs and their passwords are :mod:`wrnsearch.study._urls`.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from urllib.parse import quote

import optuna
import sqlalchemy
import sqlalchemy.event

from wrnsearch.errors import RunError, one_line
from wrnsearch.study._shared_fs import network_fs
from wrnsearch.study._urls import (
    JOURNAL_FILE,
    JOURNAL_PREFIX,
    SQLITE_PREFIX,
    STUDY_FILE,
    display_url,
    journal_path,
    sqlite_path,
)

log = logging.getLogger(__name__)



def storage_url(run_dir: Path, storage: str | None = None) -> str:
    """The run's storage: ``storage`` when given; else the study the run directory already holds
    (``study.db`` or ``study.journal``); else, for a new run, the journal file on a network
    filesystem (see :mod:`wrnsearch.study._shared_fs`) and SQLite elsewhere.

    Raises:
        RunError: for SQLite on a network filesystem (before the run writes anything).
    """
    if storage:
        if sqlite_path(storage):
            refuse_sqlite_on_network_fs(sqlite_path(storage) or "")
        return storage
    run_dir = Path(run_dir).resolve()
    db, journal = run_dir / STUDY_FILE, run_dir / JOURNAL_FILE
    if db.exists():
        refuse_sqlite_on_network_fs(db)
        return f"{SQLITE_PREFIX}{db}"
    if not journal.exists() and network_fs(run_dir) is None:
        return f"{SQLITE_PREFIX}{db}"
    return f"{JOURNAL_PREFIX}{journal}"


def refuse_sqlite_on_network_fs(path: str | Path) -> None:
    """Refuse an SQLite study on a network filesystem, in one line that says what to use instead.

    Raises:
        RunError: when ``path`` lies on a network filesystem or under a directory declared shared.
    """
    where = network_fs(Path(path))
    if where is None:
        return
    path = Path(path)
    if path.name == STUDY_FILE and path.exists():
        instead = (f"copy {path.parent} to a local disk to continue or read it there, or start a new run "
                   f"(--name) whose study is then the journal file {JOURNAL_FILE}")
    else:
        instead = (f"leave out --storage to keep the study in the run directory's journal file ({JOURNAL_FILE}), "
                   "or use a database server (--storage postgresql://...)")
    raise RunError(f"the SQLite study {path} is on {where}, where SQLite is unsafe (its WAL index works on "
                   f"one host only; a reader on another host breaks it): {instead}")


def _journal_storage(path: str, *, create: bool) -> optuna.storages.BaseStorage:
    """Optuna's journal storage on ``path``. Appends lock by creating ``path.lock`` with ``O_EXCL``
    (``JournalFileOpenLock``), which NFSv3 and later honour across hosts; reads take no lock and
    stop before a line still being written. A reader (``create=False``) never creates the file."""
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

    if not create and not Path(path).is_file():
        raise RunError(f"no study journal at {path}: run a search first ('wrnsearch run <space.yaml>')")
    try:
        if create:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
    except (OSError, ValueError) as e:
        raise RunError(f"cannot open the study journal {path}: {e}") from None


def open_storage(url: str, *, create_tables: bool = True) -> optuna.storages.BaseStorage:
    """The study's storage: a journal file, or an RDB storage; SQLite in WAL mode with a generous
    lock timeout (readers never block us), and never on a network filesystem.

    Only the driver creates Optuna's tables (or the journal file); optuna-dashboard passes
    ``create_tables=False``.

    Raises:
        RunError: when the storage cannot be opened (a read-only or full disk, a bad URL, SQLite on
            a network filesystem).
    """
    journal = journal_path(url)
    if journal is not None:
        return _journal_storage(journal, create=create_tables)
    path = sqlite_path(url)
    if path:
        refuse_sqlite_on_network_fs(path)
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(path, timeout=60) as con:
                con.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as e:  # read-only or full disks
            raise RunError(f"cannot open the study database {path}: {e}") from None
        storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}},
                                             skip_table_creation=not create_tables)
        _sync_at_checkpoints(storage.engine)
        return storage
    if not create_tables:
        require_server_tables(url)
    try:
        return optuna.storages.RDBStorage(url, skip_table_creation=not create_tables)
    except Exception as e:  # noqa: BLE001 - any driver error becomes one line
        raise RunError(f"cannot open storage {display_url(url)}: {one_line(e, 200)}") from None


def require_server_tables(url: str) -> None:
    """A reader of a database server's study waits for the driver to create Optuna's tables.

    Optuna's RDBStorage writes even when told to skip table creation: it inserts its schema
    version and stamps Alembic's table when they are missing. A reader doing that while a driver
    creates the same tables races it (PostgreSQL then refuses one of the two CREATE TABLEs, and
    the driver may be the one that dies), so a reader first checks, read-only, that they exist.

    Raises:
        RunError: the tables are not there yet ("holds no study yet"), or the server cannot be read.
    """
    import sqlalchemy.exc
    import sqlalchemy.pool

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            tables = set(sqlalchemy.inspect(connection).get_table_names())
            stamped = "alembic_version" in tables and connection.execute(
                sqlalchemy.text("SELECT count(*) FROM alembic_version")).scalar()
    except (sqlalchemy.exc.SQLAlchemyError, ImportError) as e:
        raise RunError(f"cannot read the study storage {display_url(url)}: {_read_failure(e)}") from None
    finally:
        engine.dispose()
    if not ({"studies", "version_info"} <= tables and stamped):
        raise RunError(f"{display_url(url)} holds no study yet")


def _sync_at_checkpoints(engine: sqlalchemy.engine.Engine) -> None:
    """``PRAGMA synchronous=NORMAL`` on every connection: SQLite's advice for WAL mode.

    A commit is then written to the WAL without an fsync of its own (the WAL is synced at each
    checkpoint). A killed process loses nothing it committed; a power cut may lose the last
    commits, never the database's consistency: a trial whose end was lost is reconciled as
    interrupted on resume and trained again from its checkpoint. A trial commits about eight
    times, each fsync a fraction of a millisecond to milliseconds, depending on the disk.
    """

    @sqlalchemy.event.listens_for(engine, "connect")
    def _normal_sync(connection: sqlite3.Connection, _record: object) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    engine.dispose()  # the connection Optuna opened to check the schema had no such setting


def readonly_url(url: str) -> str:
    """``sqlite:///path`` as a read-only SQLite URI, so a reader can never write the study.

    Other databases, in-memory SQLite and URLs with options of the caller's pass through.

    Raises:
        RunError: when the file does not exist (SQLite would create an empty one), or lies on a
            network filesystem.
    """
    path = sqlite_path(url)
    if not path or "?" in url or path.startswith("file:"):
        return url
    db = Path(path)
    if not db.is_file():
        raise RunError(f"no study database at {db}: run a search first ('wrnsearch run <space.yaml>')")
    refuse_sqlite_on_network_fs(db)
    return f"{SQLITE_PREFIX}file:{quote(str(db.resolve()))}?mode=ro&uri=true"


def run_study_url(run_dir: str | Path) -> str:
    """The storage URL of the study an existing run directory holds: its ``study.db``, its
    ``study.journal``, or the storage its saved space names (a run on a database server, a retrain).

    Raises:
        RunError: when the directory is missing or holds no study.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run directory {run_dir} does not exist")
    db, journal = run_dir / STUDY_FILE, run_dir / JOURNAL_FILE
    if db.is_file():
        return f"{SQLITE_PREFIX}{db.resolve()}"
    if journal.is_file():
        return f"{JOURNAL_PREFIX}{journal.resolve()}"
    saved = _saved_space(run_dir).get("storage")
    if isinstance(saved, str):
        return saved
    raise RunError(
        f"{run_dir} holds no {STUDY_FILE} or {JOURNAL_FILE}: not a run directory, or its search stored the study "
        "elsewhere (then pass the storage URL)"
    )


def load_study(
    run_dir: str | Path | None = None, storage: str | None = None, study_name: str | None = None
) -> optuna.Study:
    """Open a search's study for reading, without being able to disturb a running search.

    Give a run directory (its ``study.db`` or ``study.journal``) or an Optuna storage URL. SQLite
    files are opened read-only; a journal is read, never created. The study name may be left out
    when the storage holds only one study.

    Raises:
        RunError: naming what is missing: the directory, its study, or the study.
    """
    if (run_dir is None) == (storage is None):
        raise RunError("give a run directory or a storage URL (one of them)")
    url = run_study_url(run_dir) if run_dir is not None else str(storage)
    source = sqlite_path(url) or journal_path(url) or display_url(url)

    import sqlalchemy.exc

    try:
        journal = journal_path(url)
        if journal is not None:
            opened = _journal_storage(journal, create=False)
        else:
            if sqlite_path(url) is None:  # a server: never race the driver creating Optuna's tables
                require_server_tables(url)
            opened = optuna.storages.RDBStorage(readonly_url(url), skip_table_creation=True)
        names = optuna.study.get_all_study_names(opened)
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.OptunaError, RuntimeError, ValueError, ImportError) as e:
        raise RunError(f"cannot read the study storage {source}: {_read_failure(e)}") from e
    if study_name is None and run_dir is not None and len(names) > 1:
        study_name = _run_study_name(Path(run_dir), names)  # the search's, beside its retrain
    if study_name is None:
        if not names:
            raise RunError(f"{source} holds no study yet")
        if len(names) > 1:
            raise RunError(f"{source} holds {len(names)} studies ({', '.join(sorted(names))}): name one")
        study_name = names[0]
    elif study_name not in names:
        known = ", ".join(sorted(names)) or "none"
        raise RunError(f"{source} holds no study {study_name!r} (studies: {known})")
    log.debug("opening study %r from %s", study_name, display_url(url))
    return optuna.load_study(study_name=study_name, storage=opened)


def _read_failure(e: BaseException) -> str:
    """Why a study could not be read, in one line, with what to do about a missing password."""
    message = one_line(_root_cause(e))
    if "password" in message:  # libpq: "no password supplied", "password authentication failed"
        message += " (give --storage with the password, or set PGPASSWORD or ~/.pgpass)"
    return message


def _root_cause(e: BaseException) -> BaseException:
    """The first error of a chain: Optuna wraps a refused connection in "an exception is raised
    during the commit", which says nothing of the password the server asked for."""
    seen = {id(e)}
    while (e.__cause__ or e.__context__) is not None and id(e.__cause__ or e.__context__) not in seen:
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
        seen.add(id(e))
    return e


def _saved_space(run_dir: Path) -> dict:
    """The space a run directory saved, as plain data ({} when it has none that reads)."""
    import yaml

    try:
        data = yaml.safe_load((run_dir / "space.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _run_study_name(run_dir: Path, names: list[str]) -> str | None:
    """The study a run directory's saved space names, when the storage holds it (else None)."""
    name = _saved_space(run_dir).get("name")
    return name if name in names else None


