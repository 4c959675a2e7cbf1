"""Storage URLs as strings: the files a run directory's study lives in, and passwords kept out of sight.

A password in a storage URL is the user's secret: :func:`display_url` hides it in every message
and :func:`without_password` drops it from what is saved. No I/O here.
"""

from __future__ import annotations

import re

STUDY_FILE = "study.db"  # the study's SQLite file in a run directory
JOURNAL_FILE = "study.journal"  # the study's journal file in a run directory on a network filesystem
SQLITE_PREFIX = "sqlite:///"
JOURNAL_PREFIX = "journal:///"  # wrnsearch's spelling of an Optuna journal file: journal:////abs/x.journal
_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*):[^/?#@]*@")


def display_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``: for messages, logs and the live view.

    Example:
        >>> display_url("postgresql://wrn:s3cret@db:5432/wrn"), display_url("sqlite:////runs/q/study.db")
        ('postgresql://wrn:***@db:5432/wrn', 'sqlite:////runs/q/study.db')
    """
    return _PASSWORD.sub(r"\1:***@", url)


def without_password(url: str) -> str:
    """``url`` without its password, as a run directory saves it: resuming from it takes the password
    from ``PGPASSWORD`` or ``~/.pgpass`` (libpq reads both), or from ``--storage`` given again.

    Example:
        >>> without_password("postgresql+psycopg2://wrn:s3cret@db/wrn")
        'postgresql+psycopg2://wrn@db/wrn'
    """
    return _PASSWORD.sub(r"\1@", url)


def journal_path(url: str) -> str | None:
    """The file of a ``journal:///`` URL (``journal:////abs/x.journal`` -> ``/abs/x.journal``), else None."""
    return url[len(JOURNAL_PREFIX):] if url.startswith(JOURNAL_PREFIX) else None


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
