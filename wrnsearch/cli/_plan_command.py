"""``wrnsearch plan``: what a search will cost on this machine, before any trial."""

from __future__ import annotations

from typing import Any

import click

from wrnsearch.cli._group import SET_OPTION, main, print_json, wide_console


@main.command()
@click.argument("space_file", metavar="SPACE.yaml", type=click.Path(dir_okay=False))
@click.option("--device", default=None,
              help="cpu, cuda, cuda:1 (default: where the space's trials run, resources.gpus_per_trial).")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Where the data set lives (only an imagefolder data set is read, for its size).")
@click.option("--probes", type=click.IntRange(min=2, max=50), default=5, show_default=True,
              help="Architectures timed, spread over the space's MACs.")
@click.option("--remeasure", is_flag=True, help="Time the probes again instead of reusing the cached timings.")
@click.option("--all", "show_all", is_flag=True, help="List every architecture (default: 20 spread over the space).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Output format.")
@SET_OPTION
def plan(space_file: str, device: str | None, data_root: str | None, probes: int, remeasure: bool, show_all: bool,
         fmt: str, overrides: tuple[str, ...]) -> None:
    """Forecast a search on this machine: each architecture's epoch and trial time and memory,
    how many trials run at once, and the whole search's wall time against budget.time.

    A few architectures are timed as their trials would run them (the recipe's batch, precision,
    threads per trial, the trials sharing the device); the rest follow from their exact costs.
    """
    from wrnsearch.errors import DeviceError
    from wrnsearch.plan import make_plan
    from wrnsearch.space import load_space

    space = load_space(space_file, overrides)
    try:
        result = make_plan(space, device=device, data_root=data_root, probes=probes, use_cache=not remeasure)
    except DeviceError as e:
        if device is not None:
            raise click.BadParameter(str(e), param_hint="--device") from None
        raise
    if fmt == "json":
        print_json(result.to_dict())
        return
    _print_table(result, show_all)


def _spread(rows: list[Any], n: int) -> list[Any]:
    if len(rows) <= n:
        return rows
    return [rows[round(i * (len(rows) - 1) / (n - 1))] for i in range(n)]


def _print_table(result: Any, show_all: bool) -> None:
    from rich.table import Table

    from wrnsearch.cost import format_bytes, format_count
    from wrnsearch.units import format_duration

    console = wide_console()
    r, s = result.request, result.search
    console.print(f"{result.source}: {s['feasible']} architectures within the budgets, on {result.device}, "
                  f"{result.precision}; a trial asks for {r.text()}, this machine has {result.node.text()}",
                  soft_wrap=True, highlight=False)
    timed = ", ".join(f"{p['arch']}{' (cached)' if p['cached'] else ''}" for p in result.probes)
    console.print(f"timed as trials run them: {timed}", highlight=False, soft_wrap=True)
    table = Table(box=None, pad_edge=False)
    for column in ("architecture", "params", "MACs", "epoch", "trial", "memory"):
        table.add_column(column, justify="left" if column == "architecture" else "right")
    rows = result.architectures if show_all else _spread(result.architectures, 20)
    for a in rows:
        table.add_row(a.arch, format_count(a.params), format_count(a.macs), format_duration(a.epoch_s),
                      format_duration(a.trial_s), format_bytes(a.memory_bytes))
    console.print(table)
    if len(rows) < len(result.architectures):
        console.print(f"({len(rows)} of {len(result.architectures)} spread over the MACs; --all lists every one)")
    if "trials_per_gpu" in s:
        console.print(f"one GPU ({format_bytes(s['gpu_memory_bytes'])}) holds {s['trials_per_gpu']} trial(s) of the "
                      f"largest ({format_bytes(s['largest_trial_memory_bytes'])}): "
                      f"--set resources.gpus_per_trial={s['gpus_per_trial']:g}", soft_wrap=True)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    console.print(result.summary_line(), highlight=False, soft_wrap=True)
