"""The exception hierarchy: every error a user can cause derives from :class:`WRNSearchError`.

The CLI turns any of these into one line on stderr and exit code 2; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations


class WRNSearchError(Exception):
    """Base class of every error caused by user input or the environment, not by a bug."""


class SpecError(WRNSearchError, ValueError):
    """An architecture spec or name that does not describe a valid Wide ResNet."""


class SpaceError(WRNSearchError, ValueError):
    """A search-space file that cannot be loaded: syntax, schema or an impossible space.

    ``problems`` holds one line per problem, each naming the file, line, column and key.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class DataError(WRNSearchError):
    """A data set that is missing, unreadable or malformed."""


class RunError(WRNSearchError):
    """A search run that cannot start or continue (storage, cluster, run directory)."""


class DeviceError(WRNSearchError, ValueError):
    """A device that does not exist or is not available on this machine (``cuda`` without a GPU)."""


class SearchCrashed(RunError):
    """A search stopped by an unexpected error (a bug, or its environment failing where nothing
    checks). It carries the run, so that the front and the report can still be written from what
    the study holds; the CLI prints its one line and exits 1 (the traceback is in the run's log).
    """

    exit_code = 1

    def __init__(self, message: str, run_dir: str, storage: str, study_name: str) -> None:
        super().__init__(message)
        self.run_dir, self.storage, self.study_name = run_dir, storage, study_name


def one_line(error: BaseException | str, limit: int | None = 300, *, kind: bool = False) -> str:
    """An error's text on one line (runs of whitespace and newlines become one space), cut to
    ``limit`` characters, and with ``kind`` prefixed by its type: what an error line, a record's
    reason or a log line quotes of an exception.

    >>> one_line(ValueError("bad\\n   value"), kind=True)
    'ValueError: bad value'
    >>> one_line("x" * 10, 4)
    'xxxx'
    """
    text = " ".join(str(error).split())
    if limit is not None:
        text = text[:limit]
    return f"{type(error).__name__}: {text}" if kind and isinstance(error, BaseException) else text
