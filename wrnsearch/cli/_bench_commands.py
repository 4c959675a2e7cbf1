"""``wrnsearch bench ...``: benchmarks that compare two ways side by side in one run."""

from __future__ import annotations

import sys

import click

from wrnsearch import dataset_registry
from wrnsearch.cli._group import SET_OPTION, main, print_json

# The data sets `bench train` takes: those whose shape is known without a space (not an image folder)
BENCH_DATASETS = [e.name for e in dataset_registry.DATASETS.values() if e.generated or e.shape is not None]


@main.group()
def bench() -> None:
    """Benchmarks that compare two ways side by side in one run (figures for BENCHMARKS.md)."""


@bench.command("cost")
@click.option("--n", "n", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Random specs to cost analytically.")
@click.option("--build-n", type=click.IntRange(min=1), default=100, show_default=True,
              help="Of those, how many to build as modules.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random specs.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
def bench_cost_command(n: int, build_n: int, seed: int, fmt: str) -> None:
    """Analytic costing of random paper-space specs versus building them as torch modules."""
    from wrnsearch.bench import bench_cost

    r = bench_cost(n=n, build_n=build_n, seed=seed)
    if fmt == "json":
        print_json(r)
        return
    click.echo(f"machine: {r['machine']}, torch {r['torch']}")
    click.echo(f"analytic: {r['specs']:,} specs in {r['analytic_total_s']:.3f} s "
               f"({r['analytic_per_spec_us']:.1f} us/spec)")
    click.echo(f"modules:  {r['built_specs']:,} specs in {r['build_total_s']:.2f} s "
               f"({r['build_per_spec_ms']:.1f} ms/spec)")
    click.echo(f"analytic is {r['speedup']:,.0f}x faster per spec")


@bench.command("train")
@click.option("--arch", default="WRN-16-2", show_default=True, help="Architecture to train.")
@click.option("--dataset", type=click.Choice(BENCH_DATASETS), default="synthetic", show_default=True,
              help="Data: synthetic, or a published data set such as the real CIFAR-10 (needs --data-root).")
@click.option("--data-root", type=click.Path(file_okay=False), default=None, help="Where that data set lives.")
@click.option("--images", type=click.IntRange(min=64), default=2048, show_default=True,
              help="Training images per epoch.")
@click.option("--epochs", type=click.IntRange(min=1), default=1, show_default=True, help="Timed epochs per round.")
@click.option("--rounds", type=click.IntRange(min=1), default=2, show_default=True,
              help="Alternating rounds; the best of each side counts.")
@click.option("--batch-size", type=click.IntRange(min=2), default=128, show_default=True, help="Minibatch size.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda.")
@click.option("--compile", "use_compile", is_flag=True, help="torch.compile the trainer's model (any device).")
@click.option("--amp", type=click.Choice(["auto", "true", "false"]), default="auto", show_default=True,
              help="bf16 autocast in the trainer: auto is on with CUDA and on a CPU where bf16 measured faster.")
@click.option("--channels-last", type=click.Choice(["auto", "true", "false"]), default="auto", show_default=True,
              help="channels_last memory in the trainer (auto: as --amp).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
def bench_train_command(arch: str, dataset: str, data_root: str | None, images: int, epochs: int, rounds: int,
                        batch_size: int, device: str, use_compile: bool, amp: str, channels_last: str,
                        fmt: str) -> None:
    """Training throughput of the trainer against a plain eager fp32 loop, same data, one process."""
    from wrnsearch.bench import bench_train

    r = bench_train(arch, dataset=dataset, data_root=data_root, images=images, epochs=epochs, rounds=rounds,
                    batch_size=batch_size, device=device, compile=use_compile, amp=amp, channels_last=channels_last)
    if fmt == "json":
        print_json(r)
        return
    click.echo(f"machine: {r['machine']}, torch {r['torch']}, device {r['device']}")
    click.echo(f"{r['arch']}, {r['images']:,} images of {r['dataset']}, batch {r['batch_size']}, "
               f"{r['epochs']} epoch(s) x {r['rounds']} rounds")
    click.echo("plain eager fp32 loop: " + ", ".join(f"{v:,.0f}" for v in r["plain_images_per_s"]) + " images/s")
    click.echo(f"wrnsearch trainer (amp={r['amp']}, channels_last={r['channels_last']}, compile={r['compile']}): "
               + ", ".join(f"{v:,.0f}" for v in r["ours_images_per_s"]) + " images/s")
    click.echo(f"ratio (best of each): {r['ratio']:.2f}x")


@bench.command("forecast")
@click.argument("space_file", metavar="SPACE.yaml", type=click.Path(exists=True, dir_okay=False))
@click.option("--table", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A recorded table of this space (benchmarks/*.json): its epochs and trials.")
@click.option("--run", "run_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="A finished run of this space: its trials, proposal to result.")
@click.option("--device", default=None, help="cpu, cuda (default: the space's).")
@click.option("--probes", type=click.IntRange(min=2, max=50), default=5, show_default=True,
              help="Architectures the plan times.")
@click.option("--remeasure", is_flag=True, help="Time the probes again, not from the cache.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
@SET_OPTION
def bench_forecast_command(space_file: str, table: str | None, run_dir: str | None, device: str | None, probes: int,
                           remeasure: bool, fmt: str, overrides: tuple[str, ...]) -> None:
    """The plan's predicted epoch and trial seconds against a recorded table's and a run's real ones."""
    from wrnsearch.bench import bench_forecast

    if table is None and run_dir is None:
        raise click.UsageError("give --table or --run (or both)")
    r = bench_forecast(space_file, table=table, run_dir=run_dir, device=device, overrides=overrides, probes=probes,
                       remeasure=remeasure)
    if fmt == "json":
        print_json(r)
        return
    click.echo(f"machine: {r['machine']}, torch {r['torch']}; {r['plan']}")
    for row in r["rows"]:
        real = f"{row['real_epoch_s']:.2f}" if row.get("real_epoch_s") else "-"
        click.echo(f"{row['arch']:>26}  epoch {row['epoch_s']:8.2f} s (real {real})  "
                   f"trial {row['trial_s']:9.1f} s (real {row['real_trial_s']:.1f})")
    for what in ("epoch", "trial"):
        e = r[what]
        if e.get("n"):
            click.echo(f"{what}: {e['n']} compared, relative error median {e['median_abs']:.1%}, "
                       f"90th percentile {e['p90_abs']:.1%}, signed median {e['median_signed']:+.1%}")


@bench.command("proposals")
@click.argument("space_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--sampler", "samplers", multiple=True, default=("ehvi", "tpe"), show_default=True,
              help="A sampler of search.sampler; repeat to compare.")
@click.option("--finished", default="10,50,200", show_default=True,
              help="Finished trials before the timed proposals, comma-separated.")
@click.option("--proposals", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed proposals per sampler and count (the median is reported).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
def bench_proposals_command(space_file: str, samplers: tuple[str, ...], finished: str, proposals: int,
                            fmt: str) -> None:
    """Seconds per proposal of each sampler on a space's candidates, after 10, 50 and 200 finished trials."""
    from wrnsearch.bench import bench_proposals

    try:
        counts = [int(v) for v in finished.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{finished!r}: give whole numbers, e.g. 10,50,200", param_hint="--finished") from None
    def echo(row: dict) -> None:
        click.echo(f"{row['sampler']:>16}  after {row['finished']:>4} finished: {row['median_s']:.3f} s per proposal")

    r = bench_proposals(space_file, samplers, finished=counts, proposals=proposals,
                        on_row=None if fmt == "json" else echo)
    if fmt == "json":
        print_json(r)
        return
    click.echo(f"machine: {r['machine']}; {r['space']}: {r['candidates']} candidates; median of {r['proposals']}")


@bench.command("overhead")
@click.option("--trials", type=click.IntRange(min=2), default=30, show_default=True, help="Trivial trials per run.")
@click.option("--rounds", type=click.IntRange(min=1), default=2, show_default=True,
              help="Alternating rounds; the best and the median of each side are reported.")
@click.option("--warmup-trials", type=click.IntRange(min=0), default=5, show_default=True,
              help="Untimed trials of each side first (imports, worker start-up).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
def bench_overhead_command(trials: int, rounds: int, warmup_trials: int, fmt: str) -> None:
    """Per-trial overhead of wrnsearch run against bare Ray Tune + OptunaSearch, trivial trials."""
    from wrnsearch.bench import bench_overhead

    r = bench_overhead(trials=trials, rounds=rounds, warmup_trials=warmup_trials)
    if fmt == "json":
        print_json(r)
        return
    click.echo(f"machine: {r['machine']}, ray {r['ray']}; {r['trials']} trivial trials x {r['rounds']} rounds, "
               f"one at a time, after {r['warmup_trials']} untimed")
    click.echo("bare Tune + OptunaSearch: " + ", ".join(f"{v:.3f}" for v in r["bare_s_per_trial"]) + " s/trial")
    click.echo("wrnsearch run:            " + ", ".join(f"{v:.3f}" for v in r["ours_s_per_trial"]) + " s/trial")
    click.echo(f"ratio (best of each): {r['ratio']:.2f}x; median: {r['median_ratio']:.2f}x, "
               f"wrnsearch adds {r['added_median_s'] * 1e3:.1f} ms per trial")


@bench.command("record")
@click.argument("space_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The table to write (JSON).")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="The recording's run directory (default runs/<space>-record); the same command resumes it.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None, help="Where the data set lives.")
@click.option("--repeat-seed", type=int, default=1, show_default=True, help="Training seed of the repeats.")
@click.option("--repeats", type=click.IntRange(min=0), default=8, show_default=True,
              help="Architectures trained again with --repeat-seed (spread over the parameter counts).")
@click.option("--quiet", is_flag=True, help="JSON lines instead of the live view.")
def bench_record_command(space_file: str, output: str, run_dir: str | None, data_root: str | None, repeat_seed: int,
                         repeats: int, quiet: bool) -> None:
    """Record a benchmark table: train every architecture of a grid space fully, then export it.

    Resumable: run the same command again after a stop. The table (per architecture: params,
    MACs, latency timed alone, per-epoch validation error and seconds, fixed costs, test error)
    feeds `wrnsearch bench search --table`.
    """
    import shlex

    from wrnsearch.bench import record_table
    from wrnsearch.cli._live_view import LiveView, json_lines

    command = "wrnsearch " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if quiet:
        table = record_table(space_file, output, run_dir=run_dir, data_root=data_root, repeat_seed=repeat_seed,
                             repeats=repeats, command=command, say=lambda m: click.echo(m, err=True),
                             on_event=json_lines)
    else:
        with LiveView() as view:
            table = record_table(space_file, output, run_dir=run_dir, data_root=data_root, repeat_seed=repeat_seed,
                                 repeats=repeats, command=command, say=view.console.print, on_event=view.on_event)
    agreement = table["meta"]["repeat_agreement"]
    click.echo(f"wrote {output}: {len(table['architectures'])} architectures; repeats with seed {repeat_seed}: "
               f"n={agreement['n']}, Spearman rho {agreement['spearman_rho']}")


@bench.command("search")
@click.option("--table", "table", required=True, type=click.Path(dir_okay=False),
              help="A table written by wrnsearch bench record.")
@click.option("--method", "methods", multiple=True, required=True,
              help="SAMPLER+SCHEDULER (e.g. tpe+moasha, random+fifo), or default; repeat to compare.")
@click.option("--seeds", type=click.IntRange(min=1), default=100, show_default=True,
              help="Seeds per method (replay seeds: every method sees the same noisy curves on a seed).")
@click.option("--first-seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Run seeds K..K+S-1.")
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Launched trials per run (default: a quarter of the table's architectures).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Trials at a time on the simulated clock.")
@click.option("--compute", "compute", default=None, metavar="SECONDS|xC",
              help="Also stop launching once this many worker-seconds are spent; 2C is twice C, a quarter of "
                   "what training every architecture of the table costs.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Processes replaying seeds side by side (default: one per core).")
@click.option("--truth", type=click.Choice(["auto", "mean", "first"]), default="auto", show_default=True,
              help="What an architecture is judged by: mean = its mean final validation error over the table's "
                   "seeds, a search seeing one seed's curve, drawn per replay seed; first = the first seed's; "
                   "auto = mean when every architecture has repeats.")
@SET_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Output format.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), default=None,
              help="Also write median and quartile curves per method to this HTML file.")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the curves as a small standalone SVG (for a Markdown page).")
def bench_search_command(table: str, methods: tuple[str, ...], seeds: int, first_seed: int, trials: int | None,
                         workers: int, compute: str | None, jobs: int | None, truth: str, overrides: tuple[str, ...],
                         fmt: str,
                         html_path: str | None, svg_path: str | None) -> None:
    """Replay the real searcher on a recorded table in simulated time: hypervolume per method and seed.

    The first method is compared with each other on the same seeds (paired); tune on seeds below
    100, report seeds 100-199, and keep seeds from 1000 up for independent checks.
    """
    from wrnsearch.bench import bench_search, format_quality, quality_svg, statistics, usable_cores, write_quality_html
    from wrnsearch.files import atomic_write_text

    result = bench_search(table, methods, seeds=seeds, first_seed=first_seed, trials=trials, workers=workers,
                          compute=compute, overrides=overrides, processes=jobs or usable_cores(), truth=truth)
    if html_path:
        write_quality_html(result, html_path)
    if svg_path:
        atomic_write_text(svg_path, quality_svg(result))
    if fmt == "json":
        print_json({**result, **statistics(result)})
    else:
        click.echo(format_quality(result))


@bench.command("readers")
@click.option("--storage", "storages", multiple=True, default=("sqlite", "journal"), show_default=True,
              help="sqlite, journal, or a postgresql:// URL (its password in PGPASSWORD, as readers of a run "
                   "directory take it); repeat for several.")
@click.option("--rounds", type=click.IntRange(min=1), default=2, show_default=True,
              help="Pairs of the search alone and with readers, alternating.")
@click.option("--trials", type=click.IntRange(min=1), default=4, show_default=True, help="Trials per search.")
@click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True, help="Epochs per trial.")
@click.option("--dashboard-only", is_flag=True, help="Poll optuna-dashboard alone, without wrnsearch pareto.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
def bench_readers_command(storages: tuple[str, ...], rounds: int, trials: int, epochs: int, dashboard_only: bool,
                          fmt: str) -> None:
    """A search alone against the same search with optuna-dashboard and wrnsearch pareto polling it
    every second, per storage: the slowdown, the readers' errors, lock errors in the writer."""
    from wrnsearch.bench import bench_readers

    r = bench_readers(list(storages), rounds=rounds, trials=trials, epochs=epochs, pareto=not dashboard_only)
    if fmt == "json":
        print_json(r)
        return
    click.echo(f"machine: {r['machine']}; {r['trials']} trials of {r['epochs']} epochs, one at a time, "
               f"{r['rounds']} rounds; readers: {r['readers']}, every second")
    for s in r["storages"]:
        click.echo(f"{s['storage']:>12}: alone {', '.join(f'{v:.1f}' for v in s['alone_s'])} s; with readers "
                   f"{', '.join(f'{v:.1f}' for v in s['with_readers_s'])} s; ratio {s['ratio']:.3f}; "
                   f"{s['polls']} polls ({s['reader_cpu_s']:.0f} CPU s of pareto), {s['reader_errors']} reader errors, "
                   f"{s['lock_lines']} lock lines")
