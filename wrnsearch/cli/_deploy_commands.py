"""``wrnsearch export``: a trained trial of a run as a model someone can load without wrnsearch."""

from __future__ import annotations

from typing import Any

import click

from wrnsearch.cli._group import SET_OPTION, main


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--trial", "trial", type=int, default=None, help="The completed trial's number (wrnsearch pareto).")
@click.option("--arch", default=None, help="Or an architecture: its completed trial with the lowest validation error.")
@click.option("--format", "fmt", type=click.Choice(["export", "torchscript", "safetensors", "onnx"]), default="export",
              show_default=True, help="export: torch.export .pt2; torchscript: .pt; safetensors: tensors and "
              "metadata (load with wrnsearch.deploy.load_safetensors); onnx: needs the export extra.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True,
              help="The model file; its card is written beside it as <file name>.card.json.")
@click.option("--study", "study_name", default=None, help="Study name, when the storage holds several.")
def export(run_dir: str, trial: int | None, arch: str | None, fmt: str, output: str, study_name: str | None) -> None:
    """Export a completed trial: float RGB in [0, 1] (NCHW) in, logits out, the normalization inside."""
    from wrnsearch.deploy import export_trial, read_card

    if (trial is None) == (arch is None):
        raise click.UsageError("give --trial N or --arch NAME")
    path, card_path = export_trial(run_dir, output, fmt=fmt, trial=trial, arch=arch, study_name=study_name)
    card = read_card(path)
    err = card.get("test_error")
    click.echo(f"exported trial {card['source']['trial']} ({card['name']}, test error "
               f"{'-' if err is None else f'{err:.2f} %'}) to {path}")
    click.echo(f"model card: {card_path}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--keep", type=click.Choice(["front", "completed"]), default="front", show_default=True,
              help="Whose final weights to keep: the front's trials, or every completed trial's.")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
def clean(run_dir: str, keep: str, dry_run: bool) -> None:
    """Free disk: resume checkpoints of finished trials, and final weights not kept by --keep."""
    from wrnsearch.deploy import clean_run

    done = clean_run(run_dir, keep=keep, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {len(done.removed)} files ({done.freed_bytes / 2**20:.1f} MiB); kept the final weights of "
               f"{len(done.kept_weights)} trials ({keep})")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--storage", default=None, help="Optuna storage URL, if the run used one.")
@click.option("--device", default=None, help="Device to time on (default: cuda when present, else cpu); it must be "
              "the one the trials ran on.")
def measure(run_dir: str, storage: str | None, device: str | None) -> None:
    """Time the front's latencies again, one architecture at a time with the device to itself.

    Repeats until every member of the front computed on these exclusive figures has been timed
    alone; wrnsearch pareto and the report then use them (the trials keep the co-located ones).
    """
    from wrnsearch.cli._group import pick_device
    from wrnsearch.search import measure_run

    def timed(arch: str, figures: dict) -> None:
        click.echo(f"{arch}: latency {figures['latency_ms']:.2f} ms, inference {figures['latency_infer_ms']:.3f} ms "
                   f"alone on {figures['device']}")

    result = measure_run(run_dir, storage, device=pick_device(device) if device else None, on_timed=timed)
    for arch, why in result.skipped.items():
        click.echo(f"{arch}: not timed alone here ({why})", err=True)
    click.echo(f"timed {len(result.timed)} architecture(s) alone in {result.seconds:.1f} s; the front has "
               f"{result.front} member(s)")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--front", is_flag=True, help="Retrain the front's architectures (best validation error first).")
@click.option("--trial", "trials", type=int, multiple=True, help="Retrain this completed trial's architecture "
              "(repeatable).")
@click.option("--top", type=click.IntRange(min=1), default=None, help="With --front: only its K best.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs of the final training (default: the paper's, 200 on CIFAR).")
@click.option("--val-size", type=click.FloatRange(min=0), default=0, show_default=True,
              help="Validation images to hold out (0: train on the whole training set; the error is then "
              "the test error).")
@click.option("--storage", default=None, help="Optuna storage URL, if the search used one.")
@click.option("--address", default=None, help="Ray cluster to join; default: a local Ray.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None, help="Where the data set lives.")
@click.option("--quiet", "-q", is_flag=True, help="No live view: one JSON line per event on stdout.")
@SET_OPTION
def retrain(run_dir: str, front: bool, trials: tuple[int, ...], top: int | None, epochs: int | None,
            val_size: float, storage: str | None, address: str | None, data_root: str | None, quiet: bool,
            overrides: tuple[str, ...]) -> None:
    """Train a search's chosen architectures at full budget: the final phase, in RUN_DIR/retrain.

    The paper's recipe on the whole training set by default, as Ray Tune trials; its study sits
    beside the search's. Running it again resumes it. Ends with the search's ranking against the
    final one (Kendall's tau).
    """
    from wrnsearch.cli._run_commands import drive_search, run_options
    from wrnsearch.deploy import plan_retrain
    from wrnsearch.study import write_run_dir

    if top is not None and not front:
        raise click.UsageError("--top goes with --front")
    space, target, url = plan_retrain(run_dir, front=front, trials=trials, top=top, epochs=epochs,
                                      val_size=val_size, overrides=overrides, storage=storage)
    if not (target / "space.yaml").is_file():
        write_run_dir(space, target)
    options = run_options(run_dir=str(target), storage=url, address=address, data_root=data_root,
                           overrides=overrides)
    drive_search(None, options, quiet)
    if not quiet:
        from wrnsearch.study import load_study

        click.echo(ranking_text(load_study(run_dir=None if storage else run_dir, storage=storage)), nl=False)


def ranking_text(search: Any) -> str:
    """The search's validation error beside the final test error, and Kendall's tau ('' without a retrain)."""
    from wrnsearch.pareto import final_ranking, open_final

    final = open_final(search)
    if final is None:
        return ""
    ranking = final_ranking(search, final)
    lines = [f"final training ({final.study_name}): search validation error against final test error"]
    lines.append(f"{'arch':<22} {'search trial':>12} {'val error %':>11} {'final trial':>11} {'test error %':>12}")
    for r in ranking.rows:
        val = "-" if r["search_val_error"] is None else f"{r['search_val_error']:.2f}"
        test = "-" if r["final_test_error"] is None else f"{r['final_test_error']:.2f}"
        lines.append(f"{r['arch']:<22} {str(r['search_trial']):>12} {val:>11} {r['final_trial']:>11} {test:>12}")
    tau = "-" if ranking.tau is None else f"{ranking.tau:.2f}"
    lines.append(f"Kendall's tau between the rankings: {tau} (n = {ranking.n})")
    return "\n".join(lines) + "\n"
