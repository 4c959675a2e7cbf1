"""Where a study lives: its storage URL, opened for the one writer or for any number of readers.

A run directory holds its study as SQLite (``RUN_DIR/study.db``) unless ``--storage`` names
another Optuna storage URL. SQLite takes one writer: only the search's driver writes, through
:func:`open_storage`, with the database in WAL mode so that readers never block it. Readers
(``wrnsearch pareto``, ``report``, the tests) use :func:`load_study`, which opens SQLite
read-only, so a reader can never change or break a running search.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from urllib.parse import quote

import optuna
import sqlalchemy
import sqlalchemy.event

from wrnsearch.errors import RunError

log = logging.getLogger(__name__)

STUDY_FILE = "study.db"  # the study's SQLite file in a run directory
_SQLITE = "sqlite:///"


def sqlite_path(url: str) -> str | None:
    """The file of an SQLAlchemy SQLite URL: ``sqlite:////abs/x.db`` -> ``/abs/x.db``.

    ``''`` for an in-memory database, None for a URL that is not SQLite; query options
    (``?timeout=...``) are dropped.

    Example:
        >>> sqlite_path("sqlite:////runs/q/study.db"), sqlite_path("sqlite://"), sqlite_path("postgresql://db/x")
        ('/runs/q/study.db', '', None)
    """
    if not url.startswith("sqlite:"):
        return None
    rest = url.split(":", 1)[1].split("?", 1)[0]
    if not rest.startswith("///"):
        return ""  # sqlite:// names no file
    path = rest[3:]
    return "" if path == ":memory:" else path


def storage_url(run_dir: Path, storage: str | None = None) -> str:
    """The run's storage: ``storage`` when given, else SQLite in the run directory."""
    return storage or f"{_SQLITE}{(Path(run_dir) / STUDY_FILE).resolve()}"


def open_storage(url: str, *, create_tables: bool = True) -> optuna.storages.RDBStorage:
    """An RDB storage; SQLite in WAL mode with a generous lock timeout (readers never block us).

    Only the driver creates Optuna's tables; optuna-dashboard passes ``create_tables=False``.

    Raises:
        RunError: when the database cannot be opened (a read-only or full disk, a bad URL).
    """
    path = sqlite_path(url)
    if path:
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
    try:
        return optuna.storages.RDBStorage(url, skip_table_creation=not create_tables)
    except Exception as e:  # noqa: BLE001 - any driver error becomes one line
        raise RunError(f"cannot open storage {url.split('@')[-1]}: {' '.join(str(e).split())[:200]}") from None


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
        RunError: when the file does not exist (SQLite would create an empty one).
    """
    path = sqlite_path(url)
    if not path or "?" in url or path.startswith("file:"):
        return url
    db = Path(path)
    if not db.is_file():
        raise RunError(f"no study database at {db}: run a search first ('wrnsearch run <space.yaml>')")
    return f"{_SQLITE}file:{quote(str(db.resolve()))}?mode=ro&uri=true"


def load_study(
    run_dir: str | Path | None = None, storage: str | None = None, study_name: str | None = None
) -> optuna.Study:
    """Open a search's study for reading, without being able to disturb a running search.

    Give a run directory (its ``study.db``) or an Optuna storage URL. SQLite files are opened
    read-only. The study name may be left out when the storage holds only one study.

    Raises:
        RunError: naming what is missing: the directory, its study.db, or the study.
    """
    if (run_dir is None) == (storage is None):
        raise RunError("give a run directory or a storage URL (one of them)")
    if run_dir is not None:
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise RunError(f"run directory {run_dir} does not exist")
        db = run_dir / STUDY_FILE
        saved = None if db.is_file() else _saved_space(run_dir).get("storage")
        if isinstance(saved, str):  # a run whose space names its storage, e.g. RUN_DIR/retrain
            source, url = saved, readonly_url(saved)
        elif not db.is_file():
            raise RunError(
                f"{run_dir} holds no {STUDY_FILE}: not a run directory, or its search stored the study "
                "elsewhere (then pass the storage URL)"
            )
        else:
            source, url = str(db), readonly_url(f"{_SQLITE}{db}")
    else:
        source, url = str(storage), readonly_url(str(storage))

    import sqlalchemy.exc

    try:
        opened = optuna.storages.RDBStorage(url, skip_table_creation=True)
        names = optuna.study.get_all_study_names(opened)
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.OptunaError, RuntimeError, ValueError, ImportError) as e:
        raise RunError(f"cannot read the study storage {source}: {' '.join(str(e).split())[:300]}") from e
    if study_name is None and run_dir is not None and len(names) > 1:
        study_name = _run_study_name(run_dir, names)  # the search's, beside its retrain
    if study_name is None:
        if not names:
            raise RunError(f"{source} holds no study yet")
        if len(names) > 1:
            raise RunError(f"{source} holds {len(names)} studies ({', '.join(sorted(names))}): name one")
        study_name = names[0]
    elif study_name not in names:
        known = ", ".join(sorted(names)) or "none"
        raise RunError(f"{source} holds no study {study_name!r} (studies: {known})")
    log.debug("opening study %r from %s", study_name, url)
    return optuna.load_study(study_name=study_name, storage=opened)


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
