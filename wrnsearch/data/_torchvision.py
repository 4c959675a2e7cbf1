"""The readers of torchvision's on-disk formats, which :mod:`wrnsearch.dataset_registry` names:
``reader(root, download)`` reads (or fetches into ``root``) a data set with torchvision's own class."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wrnsearch.data._decode import RawData


def _cifar(cls, root: Path, download: bool) -> RawData:
    train = cls(str(root), train=True, download=download)
    test = cls(str(root), train=False, download=download)
    return RawData(
        np.ascontiguousarray(train.data.transpose(0, 3, 1, 2)), np.asarray(train.targets, dtype=np.int64),
        np.ascontiguousarray(test.data.transpose(0, 3, 1, 2)), np.asarray(test.targets, dtype=np.int64),
        list(train.classes), f"torchvision {cls.__name__} in {root}",
    )


def cifar10(root: Path, download: bool) -> RawData:
    import torchvision

    return _cifar(torchvision.datasets.CIFAR10, root, download)


def cifar100(root: Path, download: bool) -> RawData:
    import torchvision

    return _cifar(torchvision.datasets.CIFAR100, root, download)


def svhn(root: Path, download: bool) -> RawData:
    import torchvision

    train = torchvision.datasets.SVHN(str(root), split="train", download=download)
    test = torchvision.datasets.SVHN(str(root), split="test", download=download)
    return RawData(train.data, train.labels.astype(np.int64), test.data, test.labels.astype(np.int64),
                   [str(i) for i in range(10)], f"torchvision SVHN in {root}")
