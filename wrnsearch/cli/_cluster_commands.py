"""``wrnsearch submit`` and ``jobs ...``: a search as a Ray job on a cluster, followed from here."""

from __future__ import annotations

from typing import Any

import click

from wrnsearch.cli._group import SET_OPTION, main, print_json


def _address_option(f: Any) -> Any:
    return click.option(
        "--address", envvar="RAY_API_SERVER_ADDRESS", default="http://127.0.0.1:8265", show_default=True,
        help="The Ray head's job server (through an SSH tunnel by default); env RAY_API_SERVER_ADDRESS.")(f)


@main.command()
@click.argument("space_file", metavar="SPACE.yaml", type=click.Path(dir_okay=False))
@_address_option
@click.option("--runs-dir", required=True, help="Absolute run-directory root on storage every node shares.")
@click.option("--name", default=None, help="Study and run-directory name (default: the space's name).")
@click.option("--storage", default=None,
              help="Optuna storage URL of a database server (postgresql://...); default: a journal file in the "
                   "shared run directory (SQLite on a network filesystem is refused).")
@click.option("--data-root", default=None, help="Absolute data root as the nodes see it.")
@click.option("--working-dir", type=click.Path(file_okay=False, exists=True), default=".", show_default=True,
              help="Project checkout shipped with the job.")
@click.option("--pip", "extra_pip", multiple=True, help="Extra pip package for the job's environment (repeatable).")
@click.option("--no-pip", is_flag=True, help="Install nothing: the nodes already have wrnsearch's dependencies.")
@click.option("--no-runtime-env", is_flag=True, help="Ship nothing: the nodes have wrnsearch installed.")
@click.option("--follow", is_flag=True, help="Stream the job's logs until it ends; exit non-zero unless it SUCCEEDED.")
@SET_OPTION
def submit(space_file: str, address: str, runs_dir: str, name: str | None, storage: str | None, data_root: str | None,
           working_dir: str, extra_pip: tuple[str, ...], no_pip: bool, no_runtime_env: bool, follow: bool,
           overrides: tuple[str, ...]) -> int:
    """Submit a search to a Ray cluster as a Ray job; print its id and how to follow it.

    With --follow, exit as the job ended: 0 SUCCEEDED, the driver's exit code when it FAILED
    (2 for a one-line error such as missing data), 1 when it was STOPPED.
    """
    from wrnsearch.cluster import SubmitOptions, normalize_address, submit_search

    options = SubmitOptions(runs_dir=runs_dir, overrides=overrides, name=name, storage=storage, data_root=data_root,
                            working_dir=working_dir, pip=not no_pip, extra_pip=extra_pip,
                            runtime_env=not no_runtime_env)
    job_id = submit_search(space_file, address, options)
    addr = normalize_address(address)
    click.echo(f"submitted {job_id}")
    click.echo(f"follow it:  wrnsearch jobs logs {job_id} --address {addr} --follow")
    click.echo(f"status:     wrnsearch jobs status {job_id} --address {addr}")
    if follow:
        return _follow(job_id, address)
    return 0


def _follow(job_id: str, address: str) -> int:
    """Stream the job's log until it ends; the exit code of the job (0 SUCCEEDED, the driver's on
    FAILED, 1 STOPPED), with one line on stderr saying why when it is not 0. Scripts can trust it."""
    from wrnsearch.cluster import job_logs, wait_for_job

    for chunk in job_logs(job_id, address, follow=True):
        click.echo(chunk, nl=False)
    info = wait_for_job(job_id, address, timeout_s=60, poll_s=0.5)  # the log ends as the job does
    if info.exit_code:
        click.echo(f"wrnsearch: error: {info.error_line}", err=True)
    return info.exit_code


@main.group()
def jobs() -> None:
    """Follow, inspect and stop search jobs on a Ray cluster."""


@jobs.command("status")
@click.argument("job_id")
@_address_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
def jobs_status(job_id: str, address: str, fmt: str) -> None:
    """Show a job's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED)."""
    from wrnsearch.cluster import job_status

    info = job_status(job_id, address)
    if fmt == "json":
        print_json(info.to_dict())
    else:
        click.echo(f"{info.job_id}: {info.status}" + (f" ({info.message})" if info.message else ""))


@jobs.command("logs")
@click.argument("job_id")
@_address_option
@click.option("--follow", is_flag=True, help="Keep streaming until the job ends; exit non-zero unless it SUCCEEDED.")
def jobs_logs(job_id: str, address: str, follow: bool) -> int:
    """Print a job's driver log; following it, exit as the job ended (see `wrnsearch submit --help`)."""
    from wrnsearch.cluster import job_logs

    if follow:
        return _follow(job_id, address)
    for chunk in job_logs(job_id, address):
        click.echo(chunk, nl=False)
    return 0


@jobs.command("stop")
@click.argument("job_id")
@_address_option
def jobs_stop(job_id: str, address: str) -> None:
    """Stop a running job (the study keeps every finished trial; resume later)."""
    from wrnsearch.cluster import stop_job

    click.echo(f"{job_id}: {'stopping' if stop_job(job_id, address) else 'was not running'}")


@jobs.command("list")
@_address_option
def jobs_list(address: str) -> None:
    """List the cluster's jobs."""
    from wrnsearch.cluster import list_jobs

    for info in list_jobs(address):
        click.echo(f"{info.job_id}  {info.status:<9}  {info.entrypoint}")
