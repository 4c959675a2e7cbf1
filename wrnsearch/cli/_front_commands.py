"""``wrnsearch pareto`` and ``report``: the front of a run in the terminal, and its HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from wrnsearch.cli._group import main


def _study_options(f: Any) -> Any:
    f = click.option("--study", "study_name", default=None, help="Study name, when the storage holds several.")(f)
    f = click.option("--storage", default=None, help="Optuna storage URL instead of a run directory.")(f)
    return click.argument("run_dir", type=click.Path(file_okay=False), required=False)(f)


def _open_study(run_dir: str | None, storage: str | None, study_name: str | None) -> Any:
    from wrnsearch.study import load_study

    if run_dir is None and storage is None:
        raise click.UsageError("give RUN_DIR or --storage")
    return load_study(run_dir=None if storage else run_dir, storage=storage, study_name=study_name)


@main.command()
@_study_options
@click.option("--objectives", default=None, help="Comma-separated subset, e.g. error,params (default: the study's).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="Output format.")
def pareto(run_dir: str | None, storage: str | None, study_name: str | None, objectives: str | None, fmt: str) -> None:
    """Print the Pareto front of a run: the trials no other trial beats on every objective."""
    from wrnsearch.pareto import format_front, front_rows

    study = _open_study(run_dir, storage, study_name)
    click.echo(format_front(front_rows(study, objectives), fmt), nl=False)
    if fmt == "table":
        from wrnsearch.cli._deploy_commands import ranking_text

        text = ranking_text(study)
        if text:
            click.echo("\n" + text, nl=False)


@main.command()
@_study_options
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write (default: RUN_DIR/report.html, or report.html).")
@click.option("--png", type=click.Path(dir_okay=False), default=None,
              help="Also capture the top of the page as Chromium draws it into this PNG (needs playwright and "
                   "chromium; README's picture is made so).")
def report(run_dir: str | None, storage: str | None, study_name: str | None, output: str | None,
           png: str | None) -> None:
    """Write a self-contained HTML report (works offline): fronts, hypervolume, the front's table."""
    from wrnsearch.report import screenshot_report, size_text, write_report

    study = _open_study(run_dir, storage, study_name)
    if output:
        target = Path(output)
    else:
        target = Path(run_dir) / "report.html" if run_dir and not storage else Path("report.html")
    written = write_report(study, target)
    click.echo(f"report: {written} ({size_text(written.stat().st_size)}, works offline)")
    if png:
        click.echo(f"picture: {screenshot_report(written, png)}")
