"""Where a data set comes from: found in a data root by names alone, read, or generated.

In order: torchvision's own on-disk format in the data root (``cifar-10-batches-py/``,
``cifar-100-python/``, ``train_32x32.mat``: what the set's entry in :mod:`wrnsearch.dataset_registry`
names), read by the reader that entry names (torchvision's dataset classes); an
image-folder copy ``ROOT/<name>/{train,test}/<class>/*`` (also ``<name>-jpeg`` and ``<name>-png``),
or ``ROOT/{train,test}/<class>/*`` itself when its classes are the data set's; an archive of such
a copy, ``ROOT/<name>-jpeg.tar.gz`` or ``ROOT/<name>.tar.gz``; torchvision's download into the
root, when ``download`` is on and the network answers. The ``synthetic`` data set is generated.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path

import numpy as np

from wrnsearch.data._decode import RawData, read_image_archive, read_image_folder
from wrnsearch.dataset_registry import DatasetEntry, get
from wrnsearch.errors import DataError, one_line

log = logging.getLogger(__name__)


def default_data_root() -> Path:
    return Path(os.environ.get("WRNSEARCH_DATA") or Path.home() / ".cache" / "wrnsearch" / "data")


def resolve_data_root(cli_root: str | Path | None = None, space_root: str | Path | None = None) -> Path:
    """``--data-root`` over ``dataset.root`` over ``$WRNSEARCH_DATA`` over the default cache."""
    root = cli_root or space_root
    return Path(root).expanduser() if root else default_data_root()


def _is_image_folder(folder: Path) -> bool:
    return (folder / "train").is_dir() and (folder / "test").is_dir()


def _own_folder(root: Path, entry: DatasetEntry) -> Path | None:
    """``root`` itself when it is an image-folder copy of the named data set (``--data-root``
    pointing at the unpacked ``cifar10-jpeg/``): its class folders must be the data set's.

    Raises:
        DataError: when ``root`` holds train/ and test/ folders of other classes.
    """
    name, expected = entry.name, entry.classes
    if expected is None or not _is_image_folder(root):
        return None
    found = tuple(sorted(d.name for d in (root / "train").iterdir() if d.is_dir()))
    if found == expected:
        return root
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    shown = "; ".join(part for part in (
        f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}" if missing else "",
        f"not in {name}: {', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}" if extra else "") if part)
    raise DataError(f"{root} holds train/ and test/ image folders, but their classes are not {name}'s ({shown}): "
                    f"point --data-root at a {name} copy, or use dataset.name: imagefolder for a data set of "
                    "your own")


def _image_folder_candidates(root: Path, entry: DatasetEntry) -> list[Path]:
    if entry.root_is_data:
        return [root]
    return [root / entry.name, root / f"{entry.name}-jpeg", root / f"{entry.name}-png"]


def _torchvision_read(entry: DatasetEntry, root: Path, download: bool) -> RawData:
    """Read (or fetch) torchvision's format of the data set with the reader its entry names."""
    module, function = entry.reader.split(":")
    return getattr(importlib.import_module(module), function)(root, download)


def _torchvision_path(entry: DatasetEntry, root: Path) -> Path | None:
    """Where torchvision's class keeps the data set under ``root``, for a set it reads."""
    return root / entry.torchvision_files if entry.torchvision_files else None


def _entry(name: str) -> DatasetEntry:
    try:
        return get(name)
    except KeyError as e:
        raise DataError(e.args[0]) from None


def locate_dataset(name: str, root: Path) -> Path | None:
    """Where :func:`read_dataset` reads the named data set from under ``root``, by names alone (no
    image is read: a check that costs milliseconds on every node of a cluster), or None.

    Raises:
        DataError: when ``root`` holds train/ and test/ image folders of other classes.
    """
    entry = _entry(name)
    native = _torchvision_path(entry, root)
    if native is not None and native.exists():
        return native
    for folder in _image_folder_candidates(root, entry):
        if _is_image_folder(folder):
            return folder
    own = _own_folder(root, entry)
    if own is not None:
        return own
    base = root.name if entry.root_is_data else name
    for archive in (root / f"{base}-jpeg.tar.gz", root / f"{base}.tar.gz", root / f"{base}-png.tar.gz"):
        if archive.is_file():
            return archive
    return None


def read_dataset(name: str, root: Path, *, download: bool = True, resolution: int | None = None) -> RawData:
    """Find and read a named data set under ``root`` (see the module docstring for the order).

    Raises:
        DataError: one line saying where to put which files, when it is nowhere to be found.
    """
    entry = _entry(name)
    found = locate_dataset(name, root)
    if found is not None:
        if found == _torchvision_path(entry, root):
            return _torchvision_read(entry, root, download=False)
        return read_image_folder(found, resolution) if found.is_dir() else read_image_archive(found, resolution)
    if entry.root_is_data:
        raise DataError(f"no image folder at {root}: expected {root}/train/<class>/* and {root}/test/<class>/*")
    if entry.downloadable and download:
        try:
            root.mkdir(parents=True, exist_ok=True)
            return _torchvision_read(entry, root, download=True)
        except (OSError, RuntimeError) as e:
            log.debug("download of %s failed: %s", name, e)
            reason = f"the download failed ({one_line(e, 120)})"
        except Exception as e:  # urllib raises various errors without a network
            reason = f"the download failed ({type(e).__name__})"
    else:
        reason = "download is off" if entry.downloadable else f"{name} is never downloaded"
    native = f"put torchvision's {entry.torchvision_files} there, or " if entry.torchvision_files else "put "
    raise DataError(
        f"{name} not found under {root} and {reason}: {native}an image-folder copy as "
        f"{root}/{name}/train/<class>/* and {root}/{name}/test/<class>/*, or pass --data-root DIR"
    )


def synthetic_dataset(num_classes: int, resolution: int, channels: int, train_size: int, test_size: int,
                      seed: int = 0) -> RawData:
    """Learnable synthetic images: a smooth random pattern per class plus noise, as uint8."""
    g = np.random.default_rng(seed)
    low = g.normal(size=(num_classes, channels, 4, 4))
    tile = -(-resolution // 4)  # each of the 4x4 cells of a prototype, in pixels (rounded up)
    protos = np.stack([np.kron(p, np.ones((1, tile, tile)))[:, :resolution, :resolution] for p in low])

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % num_classes
        g.shuffle(y)
        x = protos[y] * 40 + 128 + g.normal(scale=30, size=(n, channels, resolution, resolution))
        return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)

    train_x, train_y = make(train_size)
    test_x, test_y = make(test_size)
    return RawData(train_x, train_y, test_x, test_y, [f"class{i}" for i in range(num_classes)],
                   f"synthetic (seed {seed})")
