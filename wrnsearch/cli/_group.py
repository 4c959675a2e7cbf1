"""The ``wrnsearch`` command group, and the options and helpers its commands share.

Every user error (a :class:`~wrnsearch.errors.WRNSearchError` or a bad option) becomes one line
per problem on stderr and exit code 2; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import threading
import traceback
from typing import Any

import click

from wrnsearch import __version__
from wrnsearch.errors import WRNSearchError

EXIT_USAGE = 2


class WRNGroup(click.Group):
    """A click group whose errors are one line each and exit 2, tracebacks only with --debug."""

    def main(self, args: list[str] | None = None, prog_name: str | None = None, **extra: Any) -> Any:  # type: ignore[override]
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv
        extra.pop("standalone_mode", None)
        try:
            rv = super().main(args=argv, prog_name=prog_name or "wrnsearch", standalone_mode=False, **extra)
        except (click.exceptions.Abort, KeyboardInterrupt):
            click.echo("wrnsearch: interrupted; finished trials are kept, run the same command again to resume",
                       err=True)
            sys.exit(130)
        except click.UsageError as e:
            path = e.ctx.command_path if e.ctx else "wrnsearch"
            message = " ".join(e.format_message().split())
            click.echo(f"{path}: error: {message} (see '{path} --help')", err=True)
            sys.exit(EXIT_USAGE)
        except click.ClickException as e:
            click.echo(f"wrnsearch: error: {' '.join(e.format_message().split())}", err=True)
            sys.exit(e.exit_code)
        except WRNSearchError as e:
            if debug:
                traceback.print_exc()
            problems = getattr(e, "problems", None) or [str(e)]
            for line in problems:
                click.echo(f"wrnsearch: error: {line}", err=True)
            sys.exit(getattr(e, "exit_code", EXIT_USAGE))  # SearchCrashed: 1
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(name="wrnsearch", cls=WRNGroup, context_settings={"help_option_names": ["-h", "--help"],
                                                               "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="wrnsearch")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
def main(debug: bool) -> None:
    """Search the Wide Residual Network design space for error/size/speed trade-offs."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def entry() -> None:
    """The ``wrnsearch`` command (console script, ``python -m wrnsearch``): :func:`main`, then a quick exit.

    Python's teardown of the modules a command imported (torch, Ray Tune, plotly, ...) costs a
    fraction of a second of CPU after ``wrnsearch pareto`` and seconds after ``wrnsearch run``
    (BENCHMARKS.md, "The quick exit"), and does nothing a finished command needs: what it wrote to
    a study is committed, and a connection still open holds no more than its locks, which the
    operating system releases. So once the command has exited, its threads are joined and its exit
    handlers run as at a normal exit (Ray's shutdown, logging's flush, temporary directories), the
    standard streams are flushed, and the process ends with the command's exit code. An exit with a
    message instead of a code, or an exception that escaped, takes Python's normal way out.
    """
    code = 0
    try:
        main()
    except SystemExit as e:
        if e.code is not None and not isinstance(e.code, int):
            raise
        code = e.code or 0
    for thread in threading.enumerate():  # what a normal exit waits for, before its exit handlers
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # noqa: SLF001 - CPython's own call at exit, made here before os._exit
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (| head), a closed stream
            pass
    os._exit(code)


def print_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


SET_OPTION = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a key of the space file, e.g. --set train.epochs=10 (repeatable).",
)


def pick_device(device: str, option: str = "--device") -> Any:
    """The torch device an option names; a bad or missing one is the option's error."""
    from wrnsearch.errors import DeviceError
    from wrnsearch.train import pick_device as pick

    try:
        return pick(device)
    except DeviceError as e:
        raise click.BadParameter(str(e), param_hint=option) from None


def wide_console() -> Any:
    """A rich console at least 100 columns wide (tables stay readable in narrow terminals)."""
    from rich.console import Console

    return Console(width=max(Console().width, 100))
