"""The ``wrnsearch`` command line: a thin skin over the library.

Every user error (a :class:`~wrnsearch.errors.WRNSearchError` or a bad option) becomes one line
per problem on stderr and exit code 2; ``--debug`` adds the traceback. Only this module prints.
"""

from __future__ import annotations

import json
import logging
import sys
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
            click.echo("wrnsearch: interrupted; finished trials are kept, run the same command again to resume", err=True)
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
            sys.exit(EXIT_USAGE)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(name="wrnsearch", cls=WRNGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="wrnsearch")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
def main(debug: bool) -> None:
    """Search the Wide Residual Network design space for error/size/speed trade-offs."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _print_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


@main.command()
@click.argument("name")
@click.option("--classes", "num_classes", type=click.IntRange(min=1), default=10, show_default=True, help="Number of classes.")
@click.option("--in-channels", type=click.IntRange(min=1), default=3, show_default=True, help="Input image channels.")
@click.option("--resolution", type=click.IntRange(min=8), default=32, show_default=True, help="Input height and width in pixels.")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True, help="Batch size for activation memory and --measure.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Output format.")
@click.option("--measure", is_flag=True, help="Also time forward+backward+update of one minibatch.")
@click.option("--device", default="cpu", show_default=True, help="Device for --measure: cpu, cuda, cuda:1 ...")
@click.option("--steps", type=click.IntRange(min=20), default=20, show_default=True, help="Timed steps for --measure (median).")
@click.option("--amp", type=click.Choice(["auto", "true", "false"]), default="auto", show_default=True,
              help="bf16 autocast for --measure, as trials run: auto is on with CUDA and on CPUs with AMX bf16 units.")
@click.option("--channels-last", type=click.Choice(["auto", "true", "false"]), default="auto", show_default=True,
              help="channels_last memory for --measure, as trials run (auto: as --amp).")
def model(name: str, num_classes: int, in_channels: int, resolution: int, batch: int, fmt: str,
          measure: bool, device: str, steps: int, amp: str, channels_last: str) -> None:
    """Show a WRN's blocks, output shapes, parameters, MACs and activation memory.

    NAME is a canonical name such as WRN-28-10, WRN-22-2-B(3,1,3) or WRN-16-8-d0.3.
    """
    from wrnsearch.cost import format_bytes, format_count, layer_table, model_cost
    from wrnsearch.spec import parse_name

    spec = parse_name(name, num_classes=num_classes, in_channels=in_channels)
    cost = model_cost(spec, resolution, batch)
    info: dict[str, Any] = {
        "name": spec.name,
        "spec": spec.to_dict(),
        "resolution": resolution,
        "params": cost.params,
        "macs": cost.macs,
        "batch": batch,
        "activation_bytes": cost.activation_bytes,
    }
    if measure:
        info.update(_measure(spec, device, batch, resolution, steps, amp, channels_last))
    if fmt == "json":
        _print_json(info)
        return

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{spec.name}: blocks {spec.block}, {resolution}x{resolution} input, {num_classes} classes")
    for col in ("group", "layer", "in", "out", "stride", "shortcut", "output", "params", "MACs", "act/img"):
        table.add_column(col, justify="left" if col in ("group", "layer", "shortcut") else "right")
    for row in layer_table(spec, resolution):
        table.add_row(
            row.group, row.layer, str(row.in_channels), str(row.out_channels), str(row.stride), row.shortcut,
            "x".join(str(d) for d in row.out_shape), f"{row.params:,}", format_count(row.macs),
            format_bytes(row.activation_bytes_per_image),
        )
    console = Console(width=max(Console().width, 100))
    console.print(table)
    console.print(f"params            {cost.params:,} ({format_count(cost.params)})")
    console.print(f"MACs / image      {cost.macs:,} ({format_count(cost.macs)})")
    console.print(f"activations @ {batch:<4d}{format_bytes(cost.activation_bytes)} (fp32, saved for backward)")
    if measure:
        precision = "bf16 autocast" if info["amp"] else "fp32"
        layout = "channels_last" if info["channels_last"] else "NCHW"
        console.print(f"latency           {info['latency_ms']:.2f} ms / step of {batch} on {info['device']} "
                      f"({precision}, {layout})")
        console.print(f"throughput        {info['images_per_s']:.1f} images/s")


def _measure(spec: Any, device: str, batch: int, resolution: int, steps: int, amp: str = "auto",
             channels_last: str = "auto") -> dict[str, Any]:
    """The trial's latency measure, with the trial's fast-path settings on this device."""
    import torch

    from wrnsearch.measure import measure_training_step
    from wrnsearch.model import build_model
    from wrnsearch.space import TrainConfig
    from wrnsearch.train import fast_path

    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise click.BadParameter(f"{device!r} is not a device ({e})", param_hint="--device") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise click.BadParameter("CUDA is not available on this machine; use --device cpu", param_hint="--device")
    use_amp, use_channels_last, _ = fast_path(TrainConfig(amp=amp, channels_last=channels_last), dev)
    timing = measure_training_step(
        build_model(spec), device=dev, batch=batch, resolution=resolution,
        in_channels=spec.in_channels, num_classes=spec.num_classes, steps=steps,
        amp=use_amp, channels_last=use_channels_last,
    )
    return {**timing.to_dict(), "amp": use_amp, "channels_last": use_channels_last}


SET_OPTION = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a key of the space file, e.g. --set train.epochs=10 (repeatable).",
)


@main.group()
def space() -> None:
    """Check, show, count and sample a search-space file."""


def _load(path: str, overrides: tuple[str, ...], *, search: bool = True) -> Any:
    from wrnsearch.space import load_space

    return load_space(path, overrides, search=search)


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

    click.echo(yaml.safe_dump(_load(file, overrides).to_yaml_dict(), sort_keys=False), nl=False)


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
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Output format.")
@SET_OPTION
def space_sample(file: str, n: int, seed: int, fmt: str, overrides: tuple[str, ...]) -> None:
    """Draw specs with the space's sampler (no training) and print them with their costs."""
    from wrnsearch.sampling import sample_specs

    s = _load(file, (*overrides, f"search.seed={seed}"))
    rows = sample_specs(s, n)
    if fmt == "json":
        _print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    from wrnsearch.cost import format_bytes, format_count

    table = Table(title=f"{n} samples from {file} ({s.search.sampler}, seed {seed})")
    for col in ("#", "architecture", "params", "MACs", f"act @{s.train.batch_size}", "budget"):
        table.add_column(col, justify="left" if col in ("architecture", "budget") else "right")
    for i, r in enumerate(rows):
        table.add_row(str(i), r["name"], format_count(r["params"]), format_count(r["macs"]),
                      format_bytes(r["activation_bytes"]), r["infeasible_reason"] or "ok")
    Console(width=max(Console().width, 100)).print(table)


@main.command()
@click.argument("name")
@click.option("--dataset", type=click.Choice(["cifar10", "cifar100", "svhn", "imagefolder", "synthetic"]), default=None,
              help="Data set (default: the space's, else cifar10).")
@click.option("--data-root", type=click.Path(file_okay=False), default=None, help="Where the data set lives (default $WRNSEARCH_DATA or ~/.cache/wrnsearch/data).")
@click.option("--space", "space_file", type=click.Path(dir_okay=False), default=None, help="Take the dataset and train sections from this space file.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs (default: the recipe's, 200 for CIFAR).")
@click.option("--train-subset", type=float, default=None, help="Train on this many images (or this fraction if < 1).")
@click.option("--val-size", type=float, default=None,
              help="Validation images held out of training (or a fraction); 0 trains on all of them, as the paper did.")
@click.option("--test-subset", type=float, default=None, help="Evaluate on this many test images.")
@click.option("--batch-size", type=click.IntRange(min=2), default=None, help="Minibatch size (default 128).")
@click.option("--lr", type=float, default=None, help="Initial learning rate (default: the recipe's).")
@click.option("--seed", type=int, default=None, help="Seed of initialization, shuffling and augmentation.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1 ...")
@click.option("--time-limit", default=None, help="Stop cleanly after this wall time (30m, 2h); the result is marked truncated.")
@click.option("--checkpoint-dir", type=click.Path(file_okay=False), default=None, help="Checkpoint every epoch here; a rerun with the same settings resumes from it.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write the result record (JSON) here.")
@SET_OPTION
def train(name: str, dataset: str | None, data_root: str | None, space_file: str | None, epochs: int | None,
          train_subset: float | None, val_size: float | None, test_subset: float | None, batch_size: int | None,
          lr: float | None, seed: int | None, device: str, time_limit: str | None, checkpoint_dir: str | None,
          output: str | None, overrides: tuple[str, ...]) -> None:
    """Train one architecture with the paper's recipe and write its result record.

    NAME is a canonical WRN name such as WRN-16-4 or WRN-28-10-d0.3.
    """
    from pathlib import Path

    from wrnsearch.space import parse_space
    from wrnsearch.train import pick_device
    from wrnsearch.units import parse_seconds

    sets = list(overrides)
    for key, value in (("dataset.name", dataset), ("train.epochs", epochs), ("dataset.train_subset", train_subset),
                       ("dataset.val_size", val_size), ("dataset.test_subset", test_subset),
                       ("train.batch_size", batch_size), ("train.lr", lr), ("train.seed", seed)):
        if value is not None:
            sets.append(f"{key}={value}")
    if space_file:
        s = _load(space_file, tuple(sets), search=False)
    else:
        s = parse_space(f"name: train\nspace: {{architecture: [{name}]}}\n", source="wrnsearch train", overrides=sets,
                        search=False)
    limit = None
    if time_limit is not None:
        try:
            limit = parse_seconds(time_limit)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--time-limit") from None
    try:
        dev = pick_device(device)
    except RuntimeError as e:
        raise click.BadParameter(f"{device!r} is not a device ({e})", param_hint="--device") from None
    if dev.type == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise click.BadParameter("CUDA is not available on this machine; use --device cpu", param_hint="--device")
    record = _train_with_progress(name, s, data_root, dev, limit, Path(checkpoint_dir) if checkpoint_dir else None)
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(record, indent=2, default=str) + "\n")
        click.echo(f"record written to {output}")


def _train_with_progress(name: str, s: Any, data_root: str | None, device: Any, limit: float | None, checkpoint_dir: Any) -> dict[str, Any]:
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
    console.print(f"{spec.name} on {s.dataset.name}: {r['train']:,} train / {r['val']:,} val / {r['test']:,} test images, "
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

        record = train_trial(spec, s.train, splits, device=device, time_limit_s=limit, checkpoint_dir=checkpoint_dir,
                             callback=on_epoch, on_step=on_step)
    def pct(key: str) -> str:
        return "n/a" if record.get(key) is None else f"{record[key]:.2f}%"

    summary = (f"{record['name']}: status {record['status']}, val error {pct('val_error')}, "
               f"test error {pct('test_error')}, {record['params']:,} params, "
               f"latency {record.get('latency_ms', float('nan')):.1f} ms/step of {s.train.latency_batch} on {record['device']}, "
               f"{record['wall_time_s']:.1f} s")
    click.echo(summary)
    if record.get("reason"):
        click.echo(f"reason: {record['reason']}")
    return record


def _run_options(**kw: Any) -> Any:
    from pathlib import Path

    from wrnsearch.search import RunOptions

    return RunOptions(**{k: (Path(v) if k in ("runs_dir", "run_dir") and v is not None else v) for k, v in kw.items()})


@main.command()
@click.argument("space_file", metavar="SPACE.yaml", type=click.Path(dir_okay=False))
@click.option("--name", default=None, help="Study and run-directory name (default: the space's name).")
@click.option("--runs-dir", type=click.Path(file_okay=False), default="runs", show_default=True, help="Where run directories live.")
@click.option("--storage", default=None, help="Optuna storage URL (default: SQLite in the run directory).")
@click.option("--address", default=None, help="Ray cluster to join (e.g. auto, ray://host:10001); default: start a local Ray.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None, help="Where the data set lives.")
@click.option("--quiet", "-q", is_flag=True, help="No live view: one JSON line per event on stdout.")
@SET_OPTION
def run(space_file: str, name: str | None, runs_dir: str, storage: str | None, address: str | None,
        data_root: str | None, quiet: bool, overrides: tuple[str, ...]) -> None:
    """Run a search: Optuna proposes, Ray Tune trains, the study keeps every result.

    Running the same command again resumes: no finished trial is lost or repeated.
    """
    options = _run_options(name=name, runs_dir=runs_dir, storage=storage, address=address, data_root=data_root,
                           overrides=overrides)
    _drive(space_file, options, quiet)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--storage", default=None, help="Optuna storage URL, if the run used one.")
@click.option("--address", default=None, help="Ray cluster to join; default: a local Ray.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None, help="Where the data set lives.")
@click.option("--quiet", "-q", is_flag=True, help="No live view: one JSON line per event on stdout.")
@SET_OPTION
def resume(run_dir: str, storage: str | None, address: str | None, data_root: str | None, quiet: bool,
           overrides: tuple[str, ...]) -> None:
    """Continue a stopped or crashed run from its directory (the space it saved, the study it holds)."""
    options = _run_options(run_dir=run_dir, storage=storage, address=address, data_root=data_root, overrides=overrides)
    _drive(None, options, quiet)


def _drive(space_file: str | None, options: Any, quiet: bool) -> None:
    from wrnsearch.progress import LiveView, json_lines
    from wrnsearch.search import run_search

    from wrnsearch.outputs import write_run_outputs

    if quiet:
        result = run_search(space_file, options, on_event=json_lines)
    else:
        with LiveView() as view:
            result = run_search(space_file, options, on_event=view.on_event)
    # every run ends by writing pareto.csv and report.html into its directory
    lines = write_run_outputs(result.run_dir, result.storage, result.study_name)
    if quiet:
        json_lines("outputs", {"files": lines}, result.progress)
    else:
        for line in lines:
            click.echo(line)


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True), required=False)
@click.option("--storage", default=None, help="Optuna storage URL instead of a run directory.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Keep loopback unless you mean to expose the study (no authentication).")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8080, show_default=True, help="Port to listen on.")
def dashboard(run_dir: str | None, storage: str | None, host: str, port: int) -> None:
    """Serve optuna-dashboard on a run's study (read-only use is safe during a search)."""
    from pathlib import Path

    from wrnsearch.errors import RunError
    from wrnsearch.search import STUDY_FILE, open_storage, storage_url

    if storage is None:
        if run_dir is None:
            raise click.UsageError("give RUN_DIR or --storage")
        if not (Path(run_dir) / STUDY_FILE).exists():
            raise RunError(f"{run_dir} holds no {STUDY_FILE}; give the run directory of a search, or --storage URL")
    url = storage or storage_url(Path(run_dir), None)
    import optuna_dashboard

    click.echo(f"optuna-dashboard on {url}: http://{host}:{port}/  (Ctrl-C to stop)", err=False)
    sys.stdout.flush()
    optuna_dashboard.run_server(open_storage(url, create_tables=False), host=host, port=port)


def _study_options(f: Any) -> Any:
    f = click.option("--study", "study_name", default=None, help="Study name, when the storage holds several.")(f)
    f = click.option("--storage", default=None, help="Optuna storage URL instead of a run directory.")(f)
    return click.argument("run_dir", type=click.Path(file_okay=False), required=False)(f)


def _open_study(run_dir: str | None, storage: str | None, study_name: str | None) -> Any:
    from wrnsearch.pareto import load_study

    if run_dir is None and storage is None:
        raise click.UsageError("give RUN_DIR or --storage")
    return load_study(run_dir=None if storage else run_dir, storage=storage, study_name=study_name)


@main.command()
@_study_options
@click.option("--objectives", default=None, help="Comma-separated subset, e.g. error,params (default: the study's).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True, help="Output format.")
def pareto(run_dir: str | None, storage: str | None, study_name: str | None, objectives: str | None, fmt: str) -> None:
    """Print the Pareto front of a run: the trials no other trial beats on every objective."""
    from wrnsearch.pareto import format_front, front_rows

    click.echo(format_front(front_rows(_open_study(run_dir, storage, study_name), objectives), fmt), nl=False)


@main.command()
@_study_options
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write (default: RUN_DIR/report.html, or report.html).")
def report(run_dir: str | None, storage: str | None, study_name: str | None, output: str | None) -> None:
    """Write a self-contained HTML report (works offline): fronts, hypervolume, the front's table."""
    from pathlib import Path

    from wrnsearch.report import write_report

    study = _open_study(run_dir, storage, study_name)
    target = Path(output) if output else (Path(run_dir) / "report.html" if run_dir and not storage else Path("report.html"))
    click.echo(f"report: {write_report(study, target)}")


def _address_option(f: Any) -> Any:
    return click.option("--address", envvar="RAY_API_SERVER_ADDRESS", default="http://127.0.0.1:8265", show_default=True,
                        help="The Ray head's job server (through an SSH tunnel by default); env RAY_API_SERVER_ADDRESS.")(f)


@main.command()
@click.argument("space_file", metavar="SPACE.yaml", type=click.Path(dir_okay=False))
@_address_option
@click.option("--runs-dir", required=True, help="Absolute run-directory root on storage every node shares.")
@click.option("--name", default=None, help="Study and run-directory name (default: the space's name).")
@click.option("--storage", default=None, help="Optuna storage URL (a shared SQLite path or a database server).")
@click.option("--data-root", default=None, help="Absolute data root as the nodes see it.")
@click.option("--working-dir", type=click.Path(file_okay=False, exists=True), default=".", show_default=True,
              help="Project checkout shipped with the job.")
@click.option("--pip", "extra_pip", multiple=True, help="Extra pip package for the job's environment (repeatable).")
@click.option("--no-pip", is_flag=True, help="Install nothing: the nodes already have wrnsearch's dependencies.")
@click.option("--no-runtime-env", is_flag=True, help="Ship nothing: the nodes have wrnsearch installed.")
@click.option("--follow", is_flag=True, help="Stream the job's logs until it ends.")
@SET_OPTION
def submit(space_file: str, address: str, runs_dir: str, name: str | None, storage: str | None, data_root: str | None,
           working_dir: str, extra_pip: tuple[str, ...], no_pip: bool, no_runtime_env: bool, follow: bool,
           overrides: tuple[str, ...]) -> None:
    """Submit a search to a Ray cluster as a Ray job; print its id and how to follow it."""
    from wrnsearch.cluster import job_logs, normalize_address, submit_search

    job_id = submit_search(space_file, address, overrides=overrides, name=name, storage=storage, runs_dir=runs_dir,
                           data_root=data_root, working_dir=working_dir, extra_pip=extra_pip or None,
                           pip=not no_pip, runtime_env=not no_runtime_env)
    addr = normalize_address(address)
    click.echo(f"submitted {job_id}")
    click.echo(f"follow it:  wrnsearch jobs logs {job_id} --address {addr} --follow")
    click.echo(f"status:     wrnsearch jobs status {job_id} --address {addr}")
    if follow:
        for chunk in job_logs(job_id, address, follow=True):
            click.echo(chunk, nl=False)


@main.group()
def jobs() -> None:
    """Follow, inspect and stop search jobs on a Ray cluster."""


@jobs.command("status")
@click.argument("job_id")
@_address_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format.")
def jobs_status(job_id: str, address: str, fmt: str) -> None:
    """Show a job's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED)."""
    from wrnsearch.cluster import job_status

    info = job_status(job_id, address)
    if fmt == "json":
        _print_json(info.to_dict())
    else:
        click.echo(f"{info.job_id}: {info.status}" + (f" ({info.message})" if info.message else ""))


@jobs.command("logs")
@click.argument("job_id")
@_address_option
@click.option("--follow", is_flag=True, help="Keep streaming until the job ends.")
def jobs_logs(job_id: str, address: str, follow: bool) -> None:
    """Print a job's driver log."""
    from wrnsearch.cluster import job_logs

    for chunk in job_logs(job_id, address, follow=follow):
        click.echo(chunk, nl=False)


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


@main.group()
def bench() -> None:
    """Benchmarks that compare two ways side by side in one run (figures for BENCHMARKS.md)."""


@bench.command("cost")
@click.option("--n", "n", type=click.IntRange(min=1), default=10_000, show_default=True, help="Random specs to cost analytically.")
@click.option("--build-n", type=click.IntRange(min=1), default=100, show_default=True, help="Of those, how many to build as modules.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random specs.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format.")
def bench_cost_command(n: int, build_n: int, seed: int, fmt: str) -> None:
    """Analytic costing of random paper-space specs versus building them as torch modules."""
    from wrnsearch.bench import bench_cost

    r = bench_cost(n=n, build_n=build_n, seed=seed)
    if fmt == "json":
        _print_json(r)
        return
    click.echo(f"machine: {r['machine']}, torch {r['torch']}")
    click.echo(f"analytic: {r['specs']:,} specs in {r['analytic_total_s']:.3f} s ({r['analytic_per_spec_us']:.1f} us/spec)")
    click.echo(f"modules:  {r['built_specs']:,} specs in {r['build_total_s']:.2f} s ({r['build_per_spec_ms']:.1f} ms/spec)")
    click.echo(f"analytic is {r['speedup']:,.0f}x faster per spec")


@bench.command("train")
@click.option("--arch", default="WRN-16-2", show_default=True, help="Architecture to train.")
@click.option("--dataset", type=click.Choice(["synthetic", "cifar10"]), default="synthetic", show_default=True, help="Data: synthetic, or the real CIFAR-10 (needs --data-root).")
@click.option("--data-root", type=click.Path(file_okay=False), default=None, help="Where CIFAR-10 lives.")
@click.option("--images", type=click.IntRange(min=64), default=2048, show_default=True, help="Training images per epoch.")
@click.option("--epochs", type=click.IntRange(min=1), default=1, show_default=True, help="Timed epochs per round.")
@click.option("--rounds", type=click.IntRange(min=1), default=2, show_default=True, help="Alternating rounds; the best of each side counts.")
@click.option("--batch-size", type=click.IntRange(min=2), default=128, show_default=True, help="Minibatch size.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda.")
@click.option("--compile", "use_compile", is_flag=True, help="torch.compile the trainer's model (any device).")
@click.option("--amp", type=click.Choice(["auto", "true", "false"]), default="auto", show_default=True,
              help="bf16 autocast in the trainer: auto is on with CUDA and on CPUs with AMX bf16 units.")
@click.option("--channels-last", type=click.Choice(["auto", "true", "false"]), default="auto", show_default=True,
              help="channels_last memory in the trainer (auto: as --amp).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format.")
def bench_train_command(arch: str, dataset: str, data_root: str | None, images: int, epochs: int, rounds: int,
                        batch_size: int, device: str, use_compile: bool, amp: str, channels_last: str, fmt: str) -> None:
    """Training throughput of the trainer against a plain eager fp32 loop, same data, one process."""
    from wrnsearch.bench import bench_train

    r = bench_train(arch, dataset=dataset, data_root=data_root, images=images, epochs=epochs, rounds=rounds,
                    batch_size=batch_size, device=device, compile=use_compile, amp=amp, channels_last=channels_last)
    if fmt == "json":
        _print_json(r)
        return
    click.echo(f"machine: {r['machine']}, torch {r['torch']}, device {r['device']}")
    click.echo(f"{r['arch']}, {r['images']:,} images of {r['dataset']}, batch {r['batch_size']}, {r['epochs']} epoch(s) x {r['rounds']} rounds")
    click.echo("plain eager fp32 loop: " + ", ".join(f"{v:,.0f}" for v in r["plain_images_per_s"]) + " images/s")
    click.echo(f"wrnsearch trainer (amp={r['amp']}, channels_last={r['channels_last']}, compile={r['compile']}): "
               + ", ".join(f"{v:,.0f}" for v in r["ours_images_per_s"]) + " images/s")
    click.echo(f"ratio (best of each): {r['ratio']:.2f}x")


@bench.command("overhead")
@click.option("--trials", type=click.IntRange(min=2), default=30, show_default=True, help="Trivial trials per run.")
@click.option("--rounds", type=click.IntRange(min=1), default=2, show_default=True, help="Alternating rounds; the best of each side counts.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format.")
def bench_overhead_command(trials: int, rounds: int, fmt: str) -> None:
    """Per-trial overhead of wrnsearch run against bare Ray Tune + OptunaSearch, trivial trials."""
    from wrnsearch.bench import bench_overhead

    r = bench_overhead(trials=trials, rounds=rounds)
    if fmt == "json":
        _print_json(r)
        return
    click.echo(f"machine: {r['machine']}, ray {r['ray']}; {r['trials']} trivial trials x {r['rounds']} rounds, one at a time")
    click.echo("bare Tune + OptunaSearch: " + ", ".join(f"{v:.3f}" for v in r["bare_s_per_trial"]) + " s/trial")
    click.echo("wrnsearch run:            " + ", ".join(f"{v:.3f}" for v in r["ours_s_per_trial"]) + " s/trial")
    click.echo(f"ratio (best of each): {r['ratio']:.2f}x")


if __name__ == "__main__":  # pragma: no cover
    main()
