"""``wrnsearch space ...``: check, show, count and sample a search-space file."""

from __future__ import annotations

from typing import Any

import click

from wrnsearch.cli._group import SET_OPTION, main, print_json, wide_console
from wrnsearch.record import Attr


@main.group()
def space() -> None:
    """Check, show, count and sample a search-space file."""


def _load(path: str, overrides: tuple[str, ...]) -> Any:
    from wrnsearch.space import load_space

    return load_space(path, overrides)


@space.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
@SET_OPTION
def space_validate(file: str, overrides: tuple[str, ...]) -> None:
    """Check a space file: exit 0 when valid, else one line per problem and exit 2."""
    s = _load(file, overrides)
    click.echo(f"{file}: ok ({s.name}, {len(s.objectives)} objective(s), sampler {s.search.sampler})")


@space.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
@SET_OPTION
def space_show(file: str, overrides: tuple[str, ...]) -> None:
    """Print the resolved space as YAML, every default filled in."""
    import yaml

    click.echo(yaml.safe_dump(_whole_numbers(_load(file, overrides).to_yaml_dict()), sort_keys=False), nl=False)


def _whole_numbers(data: Any) -> Any:
    """Counts as a user writes them: a float with no fraction printed as an int (``val_size: 500``,
    ``cpus_per_trial: 1``); the space validates back the same (those keys take either)."""
    if isinstance(data, dict):
        return {k: _whole_numbers(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_whole_numbers(v) for v in data]
    if isinstance(data, float) and data.is_integer():
        return int(data)
    return data


@space.command("count")
@click.argument("file", type=click.Path(dir_okay=False))
@SET_OPTION
def space_count(file: str, overrides: tuple[str, ...]) -> None:
    """Count the distinct architectures of a space and how many fit its budgets."""
    import math

    from wrnsearch.space import count_specs

    total, fitting = count_specs(_load(file, overrides))
    if math.isinf(total):
        click.echo("architectures: infinite (a continuous range); within budget: not enumerable")
    elif fitting is None:
        click.echo(f"architectures: {int(total):,}; within budget: too many to enumerate")
    else:
        click.echo(f"architectures: {int(total):,}; within budget: {fitting:,}")


@space.command("sample")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--n", "n", type=click.IntRange(min=1), default=10, show_default=True, help="How many specs to draw.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the space's sampler.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Output format.")
@SET_OPTION
def space_sample(file: str, n: int, seed: int, fmt: str, overrides: tuple[str, ...]) -> None:
    """Draw specs with the space's sampler (no training) and print them with their costs."""
    from wrnsearch.samplers import sample_specs

    s = _load(file, (*overrides, f"search.seed={seed}"))
    rows = sample_specs(s, n)
    if fmt == "json":
        print_json(rows)
        return
    from rich.table import Table

    from wrnsearch.cost import format_bytes, format_count

    table = Table(title=f"{n} samples from {file} ({s.search.sampler}, seed {seed})")
    for col in ("#", "architecture", "params", "MACs", f"act @{s.train.batch_size}", "budget"):
        table.add_column(col, justify="left" if col in ("architecture", "budget") else "right")
    for i, r in enumerate(rows):
        table.add_row(str(i), r["name"], format_count(r["params"]), format_count(r["macs"]),
                      format_bytes(r["activation_bytes"]), r[Attr.INFEASIBLE_REASON] or "ok")
    wide_console().print(table)
