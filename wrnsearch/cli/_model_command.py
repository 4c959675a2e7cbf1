"""``wrnsearch model``: one architecture's blocks, costs and, measured, its speed."""

from __future__ import annotations

from typing import Any

import click

from wrnsearch.cli._group import main, pick_device, print_json, wide_console
from wrnsearch.record import Attr

_AUTO = click.Choice(["auto", "true", "false"])


@main.command()
@click.argument("name")
@click.option("--classes", "num_classes", type=click.IntRange(min=1), default=10, show_default=True,
              help="Number of classes.")
@click.option("--in-channels", type=click.IntRange(min=1), default=3, show_default=True, help="Input image channels.")
@click.option("--resolution", type=click.IntRange(min=8), default=32, show_default=True,
              help="Input height and width in pixels.")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True,
              help="Batch size for activation memory and the training step of --measure.")
@click.option("--infer-batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Batch size of the inference pass of --measure (eval mode, no grad).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Output format.")
@click.option("--measure", is_flag=True,
              help="Also time a training step (forward+backward+update) and an inference pass, as trials do.")
@click.option("--device", default="cpu", show_default=True, help="Device for --measure: cpu, cuda, cuda:1 ...")
@click.option("--steps", type=click.IntRange(min=20), default=20, show_default=True,
              help="Timed runs of each latency for --measure (median).")
@click.option("--amp", type=_AUTO, default="auto", show_default=True,
              help="bf16 autocast for --measure, as trials run: auto is on with CUDA and on a CPU where bf16 "
                   "measured faster.")
@click.option("--channels-last", type=_AUTO, default="auto", show_default=True,
              help="channels_last memory for --measure, as trials run (auto: as --amp).")
def model(name: str, num_classes: int, in_channels: int, resolution: int, batch: int, infer_batch: int, fmt: str,
          measure: bool, device: str, steps: int, amp: str, channels_last: str) -> None:
    """Show a WRN's blocks, output shapes, parameters, MACs and activation memory.

    NAME is a canonical name such as WRN-28-10, WRN-22-2-B(3,1,3) or WRN-16-8-d0.3.
    """
    from wrnsearch.cost import model_cost
    from wrnsearch.spec import parse_name

    spec = parse_name(name, num_classes=num_classes, in_channels=in_channels)
    cost = model_cost(spec, resolution, batch)
    info: dict[str, Any] = {"name": spec.name, "spec": spec.to_dict(), "resolution": resolution, "params": cost.params,
                            "macs": cost.macs, "batch": batch, "activation_bytes": cost.activation_bytes}
    if measure:
        from wrnsearch.space import TrainConfig
        from wrnsearch.train import measure_like_a_trial

        recipe, dev = TrainConfig(amp=amp, channels_last=channels_last), pick_device(device)
        timing, used_amp, used_channels_last = measure_like_a_trial(spec, recipe, dev, batch=batch,
                                                                    resolution=resolution, steps=steps)
        infer, _, _ = measure_like_a_trial(spec, recipe, dev, batch=infer_batch, resolution=resolution, steps=steps,
                                           inference=True)
        info.update({**timing.to_dict(), "amp": used_amp, "channels_last": used_channels_last,
                     Attr.LATENCY_INFER_MS: infer.latency_ms, "inference": infer.to_dict()})
    if fmt == "json":
        print_json(info)
    else:
        _print_table(spec, cost, info, resolution, batch, num_classes)


def _print_table(spec: Any, cost: Any, info: dict[str, Any], resolution: int, batch: int, num_classes: int) -> None:
    from rich.table import Table

    from wrnsearch.cost import format_bytes, format_count, layer_table

    table = Table(title=f"{spec.name}: blocks {spec.block}, {resolution}x{resolution} input, {num_classes} classes")
    for col in ("group", "layer", "in", "out", "stride", "shortcut", "output", "params", "MACs", "act/img"):
        table.add_column(col, justify="left" if col in ("group", "layer", "shortcut") else "right")
    for row in layer_table(spec, resolution):
        table.add_row(
            row.group, row.layer, str(row.in_channels), str(row.out_channels), str(row.stride), row.shortcut,
            "x".join(str(d) for d in row.out_shape), f"{row.params:,}", format_count(row.macs),
            format_bytes(row.activation_bytes_per_image),
        )
    console = wide_console()
    console.print(table)
    console.print(f"params            {cost.params:,} ({format_count(cost.params)})")
    console.print(f"MACs / image      {cost.macs:,} ({format_count(cost.macs)})")
    console.print(f"activations @ {batch:<4d}{format_bytes(cost.activation_bytes)} (fp32, saved for backward)")
    if Attr.LATENCY_MS in info:
        precision = "bf16 autocast" if info["amp"] else "fp32"
        layout = "channels_last" if info["channels_last"] else "NCHW"
        console.print(f"latency           {info['latency_ms']:.2f} ms / training step of {batch} on {info['device']} "
                      f"({precision}, {layout})")
        console.print(f"throughput        {info['images_per_s']:.1f} images/s")
        infer = info["inference"]
        console.print(f"inference latency {info['latency_infer_ms']:.2f} ms / pass of {infer['batch']} "
                      f"(eval mode, no grad; {infer['images_per_s']:.1f} images/s)")
