"""Benchmarks behind ``wrnsearch bench ...``: each compares two ways side by side in one run.

The figures go to BENCHMARKS.md with the command that produced them; tests never time anything.
"""

from __future__ import annotations

import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from wrnsearch.cost import model_cost
from wrnsearch.spec import WRNSpec

# The six block types of the paper's Table 2.
PAPER_BLOCKS = [(1, 3, 1), (3, 1), (1, 3), (3, 1, 1), (3, 3), (3, 1, 3)]


def random_specs(n: int, seed: int = 0) -> list[WRNSpec]:
    """``n`` random specs from the paper's CIFAR space: N 1..6, k 1..12, Table 2 blocks, dropout."""
    rng = random.Random(seed)
    return [
        WRNSpec(
            blocks_per_group=rng.randint(1, 6),
            widen_factor=rng.randint(1, 12),
            kernels=rng.choice(PAPER_BLOCKS),
            dropout=rng.choice([0.0, 0.3]),
        )
        for _ in range(n)
    ]


def machine_description() -> str:
    """CPU model and core count, for the benchmark record."""
    import os

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def bench_cost(n: int = 10_000, build_n: int = 100, seed: int = 0) -> dict[str, Any]:
    """Time analytic costing of ``n`` random specs against building ``build_n`` of them as modules.

    Building every one of 10,000 WRNs (up to 150 M parameters each) would take most of an hour, so
    the module side builds the first ``build_n`` of the same specs and the comparison is per spec.
    """
    import torch

    from wrnsearch.model import WideResNet

    specs = random_specs(n, seed)
    start = time.perf_counter()
    analytic = [model_cost(s, 32, 128) for s in specs]
    analytic_s = time.perf_counter() - start

    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.perf_counter()
    for spec, cost in zip(specs[:build_n], analytic):
        built = sum(p.numel() for p in WideResNet(spec).parameters())
        if built != cost.params:  # pragma: no cover - the tests guarantee equality
            raise AssertionError(f"{spec.name}: analytic {cost.params} != built {built}")
    build_s = time.perf_counter() - start
    per_analytic = analytic_s / n
    per_build = build_s / build_n
    return {
        "benchmark": "cost",
        "specs": n,
        "analytic_total_s": analytic_s,
        "analytic_per_spec_us": per_analytic * 1e6,
        "built_specs": build_n,
        "build_total_s": build_s,
        "build_per_spec_ms": per_build * 1e3,
        "speedup": per_build / per_analytic,
        "machine": machine_description(),
        "torch": torch.__version__,
    }


def _plain_loop_images_per_s(spec: WRNSpec, splits: Any, recipe: Any, device: Any, epochs: int) -> float:
    """The baseline: a plain eager fp32 NCHW loop as one would write it from the tutorials.

    Per-sample torchvision transforms in a DataLoader, SGD with the same recipe, no autocast,
    no channels_last, no compile. Same architecture, batch and data as the trainer.
    """
    import torch
    import torch.nn.functional as F
    import torchvision.transforms.v2 as T
    from torch.utils.data import DataLoader, Dataset

    from wrnsearch.model import build_model

    class Images(Dataset):
        def __init__(self, x: Any, y: Any) -> None:
            self.x, self.y = x, y
            self.tf = T.Compose([
                T.RandomCrop(x.shape[-1], padding=4, padding_mode="reflect"), T.RandomHorizontalFlip(),
                T.ToDtype(torch.float32, scale=True), T.Normalize(splits.mean, splits.std),
            ])

        def __len__(self) -> int:
            return len(self.y)

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            return self.tf(self.x[i]), self.y[i]

    torch.manual_seed(recipe.seed)
    model = build_model(spec, device=device)
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay,
                          nesterov=True)
    loader = DataLoader(Images(splits.train_x, splits.train_y), batch_size=recipe.batch_size, shuffle=True, drop_last=False)
    seen, elapsed = 0, 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        for x, y in loader:
            if len(y) < 2:
                continue
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(y)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed += time.perf_counter() - start
    return seen / elapsed


def bench_train(arch: str = "WRN-16-2", *, dataset: str = "synthetic", data_root: str | None = None,
                images: int = 2048, epochs: int = 1, rounds: int = 2, batch_size: int = 128,
                device: str | None = None, compile: bool = False, amp: str = "auto",
                channels_last: str = "auto") -> dict[str, Any]:
    """Training throughput of our trainer against the plain loop, alternating in one process.

    Each round runs the plain loop, then the trainer, for ``epochs`` over ``images`` training
    images; the best round of each is compared (the least disturbed by other load).
    """
    import torch

    from wrnsearch.data import load_splits
    from wrnsearch.space import parse_space
    from wrnsearch.spec import parse_name
    from wrnsearch.train import pick_device, train_trial

    dev = pick_device(device)
    ds = f"{{name: {dataset}, val_size: 256, train_subset: {images}, test_subset: 256}}" if dataset != "synthetic" else \
        f"{{name: synthetic, train_size: {images + 256}, test_size: 256, val_size: 256}}"
    s = parse_space(f"name: bench\ndataset: {ds}\nspace: {{architecture: [{arch}]}}\n"
                    f"train: {{batch_size: {batch_size}, compile: {str(compile).lower()}, amp: {amp}, "
                    f"channels_last: {channels_last}}}\n", source="bench train")
    splits = load_splits(s.dataset, data_root)
    spec = parse_name(arch, num_classes=s.dataset.num_classes, in_channels=s.dataset.channels)
    plain, ours = [], []
    for _ in range(rounds):
        plain.append(_plain_loop_images_per_s(spec, splits, s.train, dev, epochs))
        # one warm-up epoch not counted (cudnn.benchmark, compile), then the timed ones
        record = train_trial(spec, s.train, splits, device=dev, epochs=epochs + 1, measure=False,
                             callback=None)
        timed = record["curve"][1:]
        ours.append(sum(c["images_per_s"] for c in timed) / len(timed))
    best_plain, best_ours = max(plain), max(ours)
    return {
        "benchmark": "train", "arch": arch, "dataset": splits.record["source"], "images": len(splits.train_y),
        "batch_size": batch_size, "epochs": epochs, "rounds": rounds, "device": record["device"],
        "amp": record["amp"], "channels_last": record["channels_last"], "compile": record["compile"],
        "plain_images_per_s": plain, "ours_images_per_s": ours,
        "plain_best": best_plain, "ours_best": best_ours, "ratio": best_ours / best_plain,
        "machine": machine_description(), "torch": torch.__version__,
    }


def _trivial_wrn_trial(config: dict[str, Any], ctx: dict[str, Any]) -> None:
    """Stands in for training in ``bench overhead``: reports one epoch and a record at once."""
    import json as _json

    from ray import tune

    spec = WRNSpec.from_dict(config["spec"])
    cost = model_cost(spec)
    tune.report({"epoch": 1, "val_error": 50.0})
    record = {"name": spec.name, "status": "complete", "val_error": 50.0, "test_error": 50.0, "params": cost.params,
              "macs": cost.macs, "latency_ms": 1.0, "epochs": 1, "curve": [{"epoch": 1, "val_error": 50.0}], "device": "cpu"}
    tune.report({"final": True, "epoch": 1, "val_error": 50.0, "record": _json.dumps(record)})


def scripted_wrn_trial(config: dict[str, Any], ctx: dict[str, Any]) -> None:
    """A stand-in trainer for tests of the search machinery (schedulers): every epoch of the
    recipe is reported with a validation error that is a fixed function of the spec (wider and
    deeper is better), then the record, as the real trainable does."""
    import json as _json

    from ray import tune

    spec = WRNSpec.from_dict(config["spec"])
    epochs = int(ctx["train"]["epochs"])
    error = max(1.0, 80.0 - 10.0 * float(spec.widen_factor) - (spec.depth - 10) / 3)
    curve = [{"epoch": e, "val_error": error} for e in range(1, epochs + 1)]
    for e in range(1, epochs):
        tune.report({"epoch": e, "val_error": error})
    cost = model_cost(spec)
    record = {"name": spec.name, "status": "complete", "val_error": error, "test_error": error, "params": cost.params,
              "macs": cost.macs, "latency_ms": 1.0, "epochs": epochs, "curve": curve, "device": "cpu"}
    tune.report({"final": True, "epoch": epochs, "val_error": error, "record": _json.dumps(record)})


def _bare_tune_optuna(trials: int, seed: int) -> float:
    """A bare Ray Tune + OptunaSearch run of trivial trials with reused actors; seconds per trial."""
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    def trivial(config: dict[str, Any]) -> None:
        tune.report({"loss": config["x"] ** 2})

    tuner = tune.Tuner(
        trivial,
        param_space={"x": tune.uniform(-1, 1), "k": tune.randint(1, 12)},
        tune_config=tune.TuneConfig(search_alg=OptunaSearch(metric="loss", mode="min", seed=seed), num_samples=trials,
                                    max_concurrent_trials=1, reuse_actors=True),
        run_config=tune.RunConfig(verbose=0, storage_path=tempfile.mkdtemp(prefix="wrnbench-bare-")),
    )
    start = time.perf_counter()
    tuner.fit()
    return (time.perf_counter() - start) / trials


def _ours(trials: int, seed: int, workdir: Path) -> float:
    from wrnsearch.search import RunOptions, run_search

    space = workdir / f"overhead-{seed}.yaml"
    space.write_text(
        f"name: overhead-{seed}\n"
        "dataset: {name: synthetic}\n"
        "space: {depth: {low: 10, high: 100, step: 6}, widen_factor: {low: 1, high: 12}, dropout: {low: 0.0, high: 0.5}}\n"
        f"budget: {{max_trials: {trials}}}\n"
        f"search: {{sampler: tpe, seed: {seed}, max_concurrent: 1}}\n"
    )
    start = time.perf_counter()
    run_search(space, RunOptions(runs_dir=workdir / "runs"), trainable=_trivial_wrn_trial)
    return (time.perf_counter() - start) / trials


def bench_overhead(trials: int = 30, rounds: int = 2) -> dict[str, Any]:
    """Per-trial overhead of the whole ``wrnsearch run`` path against bare Tune + OptunaSearch.

    Both run trivial trials one at a time with reused actors on one Ray instance in this process,
    alternating, ``rounds`` times each; the best round of each side is compared. Our side includes
    everything a real run does around training: proposals with costs and budgets, the Tune
    searcher, the SQLite study with its user attributes, the run directory and its lock.
    """
    import os

    import ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    workdir = Path(tempfile.mkdtemp(prefix="wrnbench-"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=True, logging_level="WARNING")
    try:
        bare, ours = [], []
        for r in range(rounds):
            bare.append(_bare_tune_optuna(trials, seed=r))
            ours.append(_ours(trials, seed=r, workdir=workdir))
    finally:
        ray.shutdown()
    return {
        "benchmark": "overhead", "trials": trials, "rounds": rounds,
        "bare_s_per_trial": bare, "ours_s_per_trial": ours,
        "bare_best": min(bare), "ours_best": min(ours), "ratio": min(ours) / min(bare),
        "machine": machine_description(), "ray": ray.__version__,
    }
