"""``wrnsearch train``: one architecture, trained with the paper's recipe, its record written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from wrnsearch import dataset_registry
from wrnsearch.cli._group import SET_OPTION, main, pick_device


@main.command()
@click.argument("name")
@click.option("--dataset", type=click.Choice(dataset_registry.NAMES), default=None,
              help="Data set (default: the space's, else cifar10).")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Where the data set lives (default $WRNSEARCH_DATA or ~/.cache/wrnsearch/data).")
@click.option("--space", "space_file", type=click.Path(dir_okay=False), default=None,
              help="Take the dataset and train sections from this space file.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs (default: the recipe's, 200 for CIFAR).")
@click.option("--train-subset", type=float, default=None, help="Train on this many images (or this fraction if < 1).")
@click.option("--val-size", type=float, default=None,
              help="Validation images held out of training (or a fraction); 0 trains on all of them, as the paper did.")
@click.option("--test-subset", type=float, default=None, help="Evaluate on this many test images.")
@click.option("--batch-size", type=click.IntRange(min=2), default=None, help="Minibatch size (default 128).")
@click.option("--lr", type=float, default=None, help="Initial learning rate (default: the recipe's).")
@click.option("--seed", type=int, default=None, help="Seed of initialization, shuffling and augmentation.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1 ...")
@click.option("--time-limit", default=None,
              help="Stop cleanly after this wall time (30m, 2h); the result is marked truncated.")
@click.option("--checkpoint-dir", type=click.Path(file_okay=False), default=None,
              help="Checkpoint every epoch here; a rerun with the same settings resumes from it.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the result record (JSON) here.")
@SET_OPTION
def train(name: str, dataset: str | None, data_root: str | None, space_file: str | None, epochs: int | None,
          train_subset: float | None, val_size: float | None, test_subset: float | None, batch_size: int | None,
          lr: float | None, seed: int | None, device: str, time_limit: str | None, checkpoint_dir: str | None,
          output: str | None, overrides: tuple[str, ...]) -> None:
    """Train one architecture with the paper's recipe and write its result record.

    NAME is a canonical WRN name such as WRN-16-4, WRN-22-2-B(3,1,3) or WRN-28-10-d0.3.
    """
    from wrnsearch.space import training_space
    from wrnsearch.units import parse_seconds

    sets = list(overrides)
    for key, value in (("dataset.name", dataset), ("train.epochs", epochs), ("dataset.train_subset", train_subset),
                       ("dataset.val_size", val_size), ("dataset.test_subset", test_subset),
                       ("train.batch_size", batch_size), ("train.lr", lr), ("train.seed", seed)):
        if value is not None:
            sets.append(f"{key}={value}")
    s = training_space(name, space_file=space_file, overrides=sets)
    limit = None
    if time_limit is not None:
        try:
            limit = parse_seconds(time_limit)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--time-limit") from None
    record = _train_with_progress(name, s, data_root, pick_device(device), limit,
                                  Path(checkpoint_dir) if checkpoint_dir else None)
    _print_summary(record, s.train)
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(record.to_dict(), indent=2, default=str) + "\n")
        click.echo(f"record written to {output}")


def _train_with_progress(name: str, s: Any, data_root: str | None, device: Any, limit: float | None,
                         checkpoint_dir: Path | None) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from wrnsearch.data import load_splits
    from wrnsearch.spec import parse_name
    from wrnsearch.train import train_trial

    spec = parse_name(name, num_classes=s.dataset.num_classes, in_channels=s.dataset.channels)
    console = Console(stderr=True)
    with console.status(f"loading {s.dataset.name}"):
        splits = load_splits(s.dataset, data_root)
    r = splits.record
    console.print(f"{spec.name} on {s.dataset.name}: {r['train']:,} train / {r['val']:,} val / "
                  f"{r['test']:,} test images, "
                  f"{s.train.epochs} epochs, batch {s.train.batch_size}, lr {s.train.lr}, device {device}")
    with Progress(TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[note]}"), console=console, transient=False) as progress:
        task = progress.add_task("train", total=None, epoch=0, epochs=s.train.epochs, note="measuring latency")

        def on_step(epoch: int, step: int, steps: int) -> None:
            progress.update(task, completed=step, total=steps, epoch=epoch)

        def on_epoch(report: Any, _path: Any) -> None:
            val = "no validation split" if report.val_error is None else f"val error {report.val_error:.2f}%"
            note = f"loss {report.train_loss:.3f}  {val}  {report.images_per_s:,.0f} img/s"
            progress.update(task, note=note)
            progress.console.print(f"epoch {report.epoch}/{report.epochs}: {note}  ({report.elapsed_s:.1f} s)")

        return train_trial(spec, s.train, splits, device=device, time_limit_s=limit, checkpoint_dir=checkpoint_dir,
                           callback=on_epoch, on_step=on_step)


def _print_summary(record: Any, recipe: Any) -> None:
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}%"

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3g} ms"

    click.echo(f"{record.name}: status {record.status}, val error {pct(record.val_error)}, "
               f"test error {pct(record.test_error)}, {record.params:,} params, "
               f"latency {ms(record.latency_ms)}/training step of {recipe.latency_batch}, "
               f"{ms(record.latency_infer_ms)}/inference of {recipe.infer_batch} on {record.device}, "
               f"{record.wall_time_s:.1f} s")
    if record.reason:
        click.echo(f"reason: {record.reason}")
