"""Where a data set comes from: found in a data root by names alone, read, or generated.

In order: torchvision's own on-disk format in the data root (``cifar-10-batches-py/``,
``cifar-100-python/``, ``train_32x32.mat``), read by torchvision's dataset classes; an
image-folder copy ``ROOT/<name>/{train,test}/<class>/*`` (also ``<name>-jpeg`` and ``<name>-png``),
or ``ROOT/{train,test}/<class>/*`` itself when its classes are the data set's; an archive of such
a copy, ``ROOT/<name>-jpeg.tar.gz`` or ``ROOT/<name>.tar.gz``; torchvision's download into the
root, when ``download`` is on and the network answers. The ``synthetic`` data set is generated.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from wrnsearch.data._decode import RawData, read_image_archive, read_image_folder
from wrnsearch.errors import DataError, one_line

log = logging.getLogger(__name__)

_TORCHVISION_FILES = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python", "svhn": "train_32x32.mat"}


def default_data_root() -> Path:
    return Path(os.environ.get("WRNSEARCH_DATA") or Path.home() / ".cache" / "wrnsearch" / "data")


def resolve_data_root(cli_root: str | Path | None = None, space_root: str | Path | None = None) -> Path:
    """``--data-root`` over ``dataset.root`` over ``$WRNSEARCH_DATA`` over the default cache."""
    root = cli_root or space_root
    return Path(root).expanduser() if root else default_data_root()


# The class names of the named data sets, in label order (their folders' sorted names)
KNOWN_CLASSES = {
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    "cifar100": tuple("""apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
        butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile
        cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower
        leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter
        palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket
        rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper
        table tank telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf
        woman worm""".split()),
    "svhn": tuple(str(i) for i in range(10)),
}
# (training, test) images of the named data sets, as torchvision ships them (SVHN without "extra")
KNOWN_SIZES = {"cifar10": (50_000, 10_000), "cifar100": (50_000, 10_000), "svhn": (73_257, 26_032)}


def _is_image_folder(folder: Path) -> bool:
    return (folder / "train").is_dir() and (folder / "test").is_dir()


def _own_folder(root: Path, name: str) -> Path | None:
    """``root`` itself when it is an image-folder copy of the named data set (``--data-root``
    pointing at the unpacked ``cifar10-jpeg/``): its class folders must be the data set's.

    Raises:
        DataError: when ``root`` holds train/ and test/ folders of other classes.
    """
    if name not in KNOWN_CLASSES or not _is_image_folder(root):
        return None
    expected = KNOWN_CLASSES[name]
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


def _image_folder_candidates(root: Path, name: str) -> list[Path]:
    if name == "imagefolder":
        return [root]
    return [root / name, root / f"{name}-jpeg", root / f"{name}-png"]


def _torchvision_read(name: str, root: Path, download: bool) -> RawData:
    import torchvision

    if name == "svhn":
        train = torchvision.datasets.SVHN(str(root), split="train", download=download)
        test = torchvision.datasets.SVHN(str(root), split="test", download=download)
        classes = [str(i) for i in range(10)]
        return RawData(train.data, train.labels.astype(np.int64), test.data, test.labels.astype(np.int64), classes,
                       f"torchvision SVHN in {root}")
    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    train = cls(str(root), train=True, download=download)
    test = cls(str(root), train=False, download=download)
    return RawData(
        np.ascontiguousarray(train.data.transpose(0, 3, 1, 2)), np.asarray(train.targets, dtype=np.int64),
        np.ascontiguousarray(test.data.transpose(0, 3, 1, 2)), np.asarray(test.targets, dtype=np.int64),
        list(train.classes), f"torchvision {cls.__name__} in {root}",
    )


def locate_dataset(name: str, root: Path) -> Path | None:
    """Where :func:`read_dataset` reads the named data set from under ``root``, by names alone (no
    image is read: a check that costs milliseconds on every node of a cluster), or None.

    Raises:
        DataError: when ``root`` holds train/ and test/ image folders of other classes.
    """
    if name in _TORCHVISION_FILES and (root / _TORCHVISION_FILES[name]).exists():
        return root / _TORCHVISION_FILES[name]
    for folder in _image_folder_candidates(root, name):
        if _is_image_folder(folder):
            return folder
    own = _own_folder(root, name)
    if own is not None:
        return own
    base = name if name != "imagefolder" else root.name
    for archive in (root / f"{base}-jpeg.tar.gz", root / f"{base}.tar.gz", root / f"{base}-png.tar.gz"):
        if archive.is_file():
            return archive
    return None


def read_dataset(name: str, root: Path, *, download: bool = True, resolution: int | None = None) -> RawData:
    """Find and read a named data set under ``root`` (see the module docstring for the order).

    Raises:
        DataError: one line saying where to put which files, when it is nowhere to be found.
    """
    found = locate_dataset(name, root)
    if found is not None:
        if name in _TORCHVISION_FILES and found == root / _TORCHVISION_FILES[name]:
            return _torchvision_read(name, root, download=False)
        return read_image_folder(found, resolution) if found.is_dir() else read_image_archive(found, resolution)
    if name in _TORCHVISION_FILES and download:
        try:
            root.mkdir(parents=True, exist_ok=True)
            return _torchvision_read(name, root, download=True)
        except (OSError, RuntimeError) as e:
            log.debug("download of %s failed: %s", name, e)
            reason = f"the download failed ({one_line(e, 120)})"
        except Exception as e:  # urllib raises various errors without a network
            reason = f"the download failed ({type(e).__name__})"
    else:
        reason = "download is off" if name in _TORCHVISION_FILES else "imagefolder data sets are never downloaded"
    if name == "imagefolder":
        raise DataError(f"no image folder at {root}: expected {root}/train/<class>/* and {root}/test/<class>/*")
    raise DataError(
        f"{name} not found under {root} and {reason}: put torchvision's {_TORCHVISION_FILES[name]} there, "
        f"or an image-folder copy as {root}/{name}/train/<class>/* and {root}/{name}/test/<class>/*, "
        f"or pass --data-root DIR"
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
