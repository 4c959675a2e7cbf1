"""``wrnsearch bench train``: the trainer's throughput against a plain eager fp32 loop, one process."""

from __future__ import annotations

import time
from typing import Any

from wrnsearch import dataset_registry
from wrnsearch.bench._machine import machine_description
from wrnsearch.spec import WRNSpec


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
    loader = DataLoader(Images(splits.train_x, splits.train_y), batch_size=recipe.batch_size, shuffle=True,
                        drop_last=False)
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
    from wrnsearch.space import space_from_data
    from wrnsearch.spec import parse_name
    from wrnsearch.train import pick_device, train_trial

    dev = pick_device(device)
    if dataset_registry.get(dataset).generated:
        data = {"name": dataset, "train_size": images + 256, "test_size": 256, "val_size": 256}
    else:
        data = {"name": dataset, "val_size": 256, "train_subset": images, "test_subset": 256}
    s = space_from_data({"name": "bench", "dataset": data, "space": {"architecture": [arch]},
                         "train": {"batch_size": batch_size, "compile": compile, "amp": amp,
                                   "channels_last": channels_last}},
                        source="bench train")
    splits = load_splits(s.dataset, data_root)
    spec = parse_name(arch, num_classes=s.dataset.num_classes, in_channels=s.dataset.channels)
    plain, ours = [], []
    for _ in range(rounds):
        plain.append(_plain_loop_images_per_s(spec, splits, s.train, dev, epochs))
        # one warm-up epoch not counted (cudnn.benchmark, compile), then the timed ones
        record = train_trial(spec, s.train, splits, device=dev, epochs=epochs + 1, measure=False,
                             callback=None)
        timed = record.curve[1:]
        ours.append(sum(c["images_per_s"] for c in timed) / len(timed))
    best_plain, best_ours = max(plain), max(ours)
    return {
        "benchmark": "train", "arch": arch, "dataset": splits.record["source"], "images": len(splits.train_y),
        "batch_size": batch_size, "epochs": epochs, "rounds": rounds, "device": record.device,
        "amp": record.amp, "channels_last": record.channels_last, "compile": record.compile,
        "plain_images_per_s": plain, "ours_images_per_s": ours,
        "plain_best": best_plain, "ours_best": best_ours, "ratio": best_ours / best_plain,
        "machine": machine_description(), "torch": torch.__version__,
    }
