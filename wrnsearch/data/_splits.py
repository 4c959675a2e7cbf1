"""Train / validation / test: a class-balanced, seeded validation split held out of the training set.

The validation split is what the search optimizes; the test set is evaluated for reporting only.
Each split is recorded with the data's content hash and the validation indices' hash, so that
two runs can tell whether they trained on the same thing (a warm start compares them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wrnsearch.data._decode import RawData
from wrnsearch.data._sources import read_dataset, resolve_data_root, synthetic_dataset
from wrnsearch.dataset_registry import get as dataset_entry
from wrnsearch.errors import DataError


@dataclass
class Splits:
    """Tensors ready for training: uint8 images (N, C, H, W), int64 labels, and the split record."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    mean: tuple[float, ...]  # per channel, on the 0..1 scale, of the training split
    std: tuple[float, ...]
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _amount(value: float | None, total: int) -> int | None:
    if value is None:
        return None
    return int(round(value * total)) if value < 1 else int(value)


def balanced_indices(labels: np.ndarray, count: int, generator: np.random.Generator) -> np.ndarray:
    """``count`` indices with every class represented in proportion (largest remainders)."""
    classes, per_class = np.unique(labels, return_counts=True)
    exact = per_class * count / len(labels)
    take = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - take))[: count - take.sum()]:
        take[i] += 1
    chosen = [generator.choice(np.flatnonzero(labels == c), size=t, replace=False) for c, t in zip(classes, take)]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def content_hash(raw: RawData) -> str:
    """A hash of the data set's content (pixels, labels, class names), whatever files it came from.

    Two runs trained on the same bytes have the same hash; a data set of the same name with one
    image changed does not. A warm start compares it (``wrnsearch run --warm-start``): the name
    and the validation indices alone cannot tell a re-encoded or edited copy from the original.
    About 0.1 s for CIFAR-10's 180 MB, once per worker (the trainable caches its splits).
    """
    h = hashlib.sha256(b"wrnsearch data v1\n")
    for a in (raw.train_x, raw.train_y, raw.test_x, raw.test_y):
        h.update(f"{a.dtype.str}{a.shape}\n".encode())
        h.update(memoryview(np.ascontiguousarray(a)).cast("B"))
    h.update("\n".join(raw.classes).encode())
    return h.hexdigest()[:16]


def split_sizes(train_images: int, test_images: int, *, val_size: float, train_subset: float | None = None,
                test_subset: float | None = None) -> tuple[int, int, int]:
    """(training, validation, test) images of a split of a data set of ``train_images`` and
    ``test_images``, as :func:`make_splits` draws it: counts, or fractions below 1.

    >>> split_sizes(50_000, 10_000, val_size=500, train_subset=3000, test_subset=1000)
    (3000, 500, 1000)
    >>> split_sizes(50_000, 10_000, val_size=0.1)
    (45000, 5000, 10000)

    Raises:
        DataError: a size the data set cannot give, naming the key.
    """
    n_val = _amount(val_size, train_images)
    if not 0 <= n_val < train_images:
        raise DataError(f"dataset.val_size {val_size} leaves no training images out of {train_images}")
    rest = train_images - n_val
    n_train = _amount(train_subset, rest)
    if n_train is not None and not 1 <= n_train <= rest:
        raise DataError(f"dataset.train_subset {train_subset} is not between 1 and the {rest} training images")
    n_test = _amount(test_subset, test_images)
    if n_test is not None and not 1 <= n_test <= test_images:
        raise DataError(f"dataset.test_subset {test_subset} is not between 1 and the {test_images} test images")
    return (rest if n_train is None else n_train), n_val, (test_images if n_test is None else n_test)


def make_splits(raw: RawData, *, val_size: float, train_subset: float | None = None, test_subset: float | None = None,
                seed: int = 0, dataset: str = "") -> Splits:
    """Hold out a class-balanced, seeded validation split; optionally subsample train and test."""
    n = len(raw.train_y)
    n_train, n_val, n_test = split_sizes(n, len(raw.test_y), val_size=val_size, train_subset=train_subset,
                                         test_subset=test_subset)
    g = np.random.default_rng(seed)
    val_idx = balanced_indices(raw.train_y, n_val, g)
    rest = np.setdiff1d(np.arange(n), val_idx)
    if train_subset is not None:
        rest = rest[balanced_indices(raw.train_y[rest], n_train, g)]
    test_idx = np.arange(len(raw.test_y))
    if test_subset is not None:
        test_idx = balanced_indices(raw.test_y, n_test, g)
    train_x = torch.from_numpy(raw.train_x[rest])
    pixels = train_x.float().div_(255)
    mean = tuple(pixels.mean(dim=(0, 2, 3)).tolist())
    std = tuple(pixels.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist())
    record = {
        "dataset": dataset, "source": raw.source, "content_sha256": content_hash(raw), "seed": seed,
        "train": len(rest), "val": len(val_idx),
        "test": len(test_idx), "val_size": val_size, "train_subset": train_subset, "test_subset": test_subset,
        "val_indices_sha256": hashlib.sha256(val_idx.tobytes()).hexdigest()[:16],
    }
    return Splits(
        train_x, torch.from_numpy(raw.train_y[rest]),
        torch.from_numpy(raw.train_x[val_idx]), torch.from_numpy(raw.train_y[val_idx]),
        torch.from_numpy(raw.test_x[test_idx]), torch.from_numpy(raw.test_y[test_idx]),
        raw.classes, mean, std, record,
    )


def dataset_split_sizes(dataset_cfg: Any, data_root: str | Path | None = None) -> tuple[int, int, int]:
    """(training, validation, test) images a space's ``dataset`` section gives its trials, without
    reading a named data set (its sizes are known); an image folder is read (decoded once, cached).

    >>> from types import SimpleNamespace as S
    >>> dataset_split_sizes(S(name="cifar10", val_size=5000, train_subset=None, test_subset=None))
    (45000, 5000, 10000)
    """
    cfg = dataset_cfg
    entry = dataset_entry(cfg.name)
    if entry.generated:
        totals = (cfg.train_size, cfg.test_size)
    elif entry.sizes is not None:
        totals = entry.sizes
    else:
        raw = read_dataset(cfg.name, resolve_data_root(data_root, cfg.root), download=False,
                           resolution=cfg.resolution)
        totals = (len(raw.train_y), len(raw.test_y))
    return split_sizes(*totals, val_size=cfg.val_size, train_subset=cfg.train_subset, test_subset=cfg.test_subset)


def load_splits(dataset_cfg: Any, data_root: str | Path | None = None) -> Splits:
    """Read and split the data set a space's ``dataset`` section describes."""
    cfg = dataset_cfg
    if dataset_entry(cfg.name).generated:
        raw = synthetic_dataset(cfg.num_classes, cfg.resolution, cfg.channels, cfg.train_size, cfg.test_size,
                                seed=cfg.split_seed)
    else:
        root = resolve_data_root(data_root, cfg.root)
        raw = read_dataset(cfg.name, root, download=cfg.download, resolution=cfg.resolution)
        if len(raw.classes) != cfg.num_classes:
            raise DataError(f"{raw.source}: {len(raw.classes)} classes, but dataset.num_classes is {cfg.num_classes}")
    if raw.train_x.shape[1] != cfg.channels:
        raise DataError(f"{raw.source}: images have {raw.train_x.shape[1]} channels, "
                        f"dataset.channels is {cfg.channels}")
    return make_splits(raw, val_size=cfg.val_size, train_subset=cfg.train_subset, test_subset=cfg.test_subset,
                       seed=cfg.split_seed, dataset=cfg.name)
