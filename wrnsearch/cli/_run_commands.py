"""``wrnsearch run``, ``resume`` and ``dashboard``: a search, and the live look at its study."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from wrnsearch.cli._group import SET_OPTION, main

WARM_START_OPTION = click.option(
    "--warm-start", "warm_start", metavar="OTHER_RUN_DIR", type=click.Path(file_okay=False, exists=True), default=None,
    help="First copy the complete results of another run on the same data, split and recipe (nothing retrained; "
         "architectures outside this space skipped; not counted in budget.max_trials; never copied twice).")


def run_options(**kw: Any) -> Any:
    """The search's :class:`~wrnsearch.search.RunOptions` from the command's options (paths as paths)."""
    from wrnsearch.search import RunOptions

    paths = ("runs_dir", "run_dir", "warm_start")
    return RunOptions(**{k: (Path(v) if k in paths and v is not None else v) for k, v in kw.items()})


@main.command()
@click.argument("space_file", metavar="SPACE.yaml", type=click.Path(dir_okay=False))
@click.option("--name", default=None, help="Study and run-directory name (default: the space's name).")
@click.option("--runs-dir", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="Where run directories live.")
@click.option("--storage", default=None, help="Optuna storage URL, e.g. postgresql://user@host/db "
              "(default: the run directory's study.db; study.journal on a network filesystem).")
@click.option("--address", default=None,
              help="Ray cluster to join (e.g. auto, ray://host:10001); default: start a local Ray.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None, help="Where the data set lives.")
@click.option("--quiet", "-q", is_flag=True, help="No live view: one JSON line per event on stdout.")
@WARM_START_OPTION
@SET_OPTION
def run(space_file: str, name: str | None, runs_dir: str, storage: str | None, address: str | None,
        data_root: str | None, quiet: bool, warm_start: str | None, overrides: tuple[str, ...]) -> None:
    """Run a search: Optuna proposes, Ray Tune trains, the study keeps every result.

    Running the same command again resumes: no finished trial is lost or repeated.
    """
    options = run_options(name=name, runs_dir=runs_dir, storage=storage, address=address, data_root=data_root,
                           overrides=overrides, warm_start=warm_start)
    drive_search(space_file, options, quiet)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--storage", default=None, help="Optuna storage URL, if the run used one.")
@click.option("--address", default=None, help="Ray cluster to join; default: a local Ray.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None, help="Where the data set lives.")
@click.option("--quiet", "-q", is_flag=True, help="No live view: one JSON line per event on stdout.")
@WARM_START_OPTION
@SET_OPTION
def resume(run_dir: str, storage: str | None, address: str | None, data_root: str | None, quiet: bool,
           warm_start: str | None, overrides: tuple[str, ...]) -> None:
    """Continue a stopped or crashed run from its directory (the space it saved, the study it holds)."""
    options = run_options(run_dir=run_dir, storage=storage, address=address, data_root=data_root, overrides=overrides,
                           warm_start=warm_start)
    drive_search(None, options, quiet)


def drive_search(space_file: str | None, options: Any, quiet: bool) -> None:
    """Run the search with the live view (JSON lines with ``quiet``), then write the run's outputs;
    ``wrnsearch run``, ``resume`` and ``retrain`` share it."""
    from wrnsearch.cli._live_view import LiveView, PlainView, json_lines
    from wrnsearch.errors import SearchCrashed
    from wrnsearch.report import write_run_outputs
    from wrnsearch.search import OutputsWritten, run_search

    try:
        if quiet:
            result = run_search(space_file, options, on_event=json_lines)
        else:  # the panel in a terminal; off one (a job log, | tee) it would print once, at the end
            view = LiveView() if sys.stdout.isatty() and sys.stderr.isatty() else PlainView()
            with view:
                result = run_search(space_file, options, on_event=view.on_event)
    except SearchCrashed as e:  # the study holds the finished trials: their front and report still
        _write_what_it_can(e, quiet)
        raise
    # every run ends by writing pareto.csv and report.html into its directory
    lines = write_run_outputs(result.run_dir, result.storage, result.study_name)
    if quiet:
        json_lines(OutputsWritten(lines), result.progress)
    else:
        for line in lines:
            click.echo(line)


def _write_what_it_can(crash: Any, quiet: bool) -> None:
    """pareto.csv and report.html of a crashed search, from what its study holds (when it can be read)."""
    import logging

    from wrnsearch.report import write_run_outputs

    try:
        lines = write_run_outputs(Path(crash.run_dir), crash.storage, crash.study_name)
    except Exception as e:  # noqa: BLE001 - the crash's own line matters more than this one
        logging.getLogger(__name__).warning("could not write the run's outputs after the crash: %s", e)
        return
    if quiet:  # as json_lines writes it, without counts: the search's are gone with it
        from wrnsearch.cli._live_view import json_line
        from wrnsearch.search import OutputsWritten

        click.echo(json_line(OutputsWritten(lines)))
    else:
        for line in lines:
            click.echo(line)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True), required=False)
@click.option("--storage", default=None, help="Optuna storage URL instead of a run directory.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Keep loopback unless you mean to expose the study (no authentication).")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8080, show_default=True,
              help="Port to listen on.")
def dashboard(run_dir: str | None, storage: str | None, host: str, port: int) -> None:
    """Serve optuna-dashboard on a run's study (read-only use is safe during a search)."""
    from wrnsearch.study import display_url, open_storage, run_study_url

    if storage is None and run_dir is None:
        raise click.UsageError("give RUN_DIR or --storage")
    url = storage or run_study_url(run_dir)
    import optuna_dashboard

    click.echo(f"optuna-dashboard on {display_url(url)}: http://{host}:{port}/  (Ctrl-C to stop)", err=False)
    sys.stdout.flush()
    optuna_dashboard.run_server(open_storage(url, create_tables=False), host=host, port=port)
