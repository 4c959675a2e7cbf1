"""Data sets as uint8 tensors, found in a data root, split into train / validation / test.

Where a data set comes from, in order:

1. torchvision's own on-disk format in the data root (``cifar-10-batches-py/``,
   ``cifar-100-python/``, ``train_32x32.mat``), read by torchvision's dataset classes;
2. an image-folder copy, ``ROOT/<name>/{train,test}/<class>/*`` (also ``<name>-jpeg`` and
   ``<name>-png``), as on cluster nodes without internet, or ``ROOT/{train,test}/<class>/*``
   itself when its classes are the data set's (``--data-root`` at the unpacked copy); an
   ``imagefolder`` data set of the user's own is ``ROOT/{train,test}/<class>/*``;
3. an archive of such a copy, ``ROOT/<name>-jpeg.tar.gz`` or ``ROOT/<name>.tar.gz``, decoded
   straight from the archive (nothing unpacked) once into the cache;
4. torchvision's download into the root, when ``download`` is on and the network answers.

Image folders are decoded once into a uint8 array cached under ``$WRNSEARCH_CACHE`` (default
``~/.cache/wrnsearch``), keyed by the folder's listing (paths, sizes, modification times), so a
second trial starts in a second. The ``synthetic`` data set is generated (for tests and demos).

The validation split is held out of the training set, class-balanced and seeded; it is what the
search optimizes. The test set is evaluated for reporting only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from wrnsearch.errors import DataError
from wrnsearch.files import atomic_path

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".webp", ".tif", ".tiff"}
_TORCHVISION_FILES = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python", "svhn": "train_32x32.mat"}


def default_data_root() -> Path:
    return Path(os.environ.get("WRNSEARCH_DATA") or Path.home() / ".cache" / "wrnsearch" / "data")


def cache_dir() -> Path:
    return Path(os.environ.get("WRNSEARCH_CACHE") or Path.home() / ".cache" / "wrnsearch")


def resolve_data_root(cli_root: str | Path | None = None, space_root: str | Path | None = None) -> Path:
    """``--data-root`` over ``dataset.root`` over ``$WRNSEARCH_DATA`` over the default cache."""
    root = cli_root or space_root
    return Path(root).expanduser() if root else default_data_root()


@dataclass
class RawData:
    """A whole data set: uint8 images (N, C, H, W) and int64 labels, train and test."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]
    source: str  # where it was read from


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


# --------------------------------------------------------------------------------------------
# Finding and reading


def _listing_key(folder: Path, resolution: int | None) -> tuple[str, list[Path]]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    h = hashlib.sha256(f"v1 {resolution}\n".encode())
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(folder)}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24], files


def _decode_image(source: Any, where: str, resolution: int | None) -> np.ndarray:
    """One image as a uint8 (H, W, C) array, resized to ``resolution`` when given."""
    from PIL import Image

    try:
        with Image.open(source) as im:
            im = im.convert("RGB") if im.mode not in ("RGB", "L") else im
            if resolution and im.size != (resolution, resolution):
                im = im.resize((resolution, resolution), Image.BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
    except OSError as e:
        raise DataError(f"{where}: cannot decode image ({e})") from None
    return a[:, :, None] if a.ndim == 2 else a


def _stack(images: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """(N, C, H, W) from (where, HWC image) pairs of one size."""
    size = images[0][1].shape
    for where, a in images:
        if a.shape != size:
            raise DataError(f"{where}: image is {a.shape[1]}x{a.shape[0]}, others are {size[1]}x{size[0]}; "
                            "set dataset.resolution to resize")
    return np.ascontiguousarray(np.stack([a for _, a in images]).transpose(0, 3, 1, 2))


def _load_cache(path: Path) -> dict[str, np.ndarray] | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError) as e:
        log.warning("ignoring unreadable decode cache %s: %s", path, e)
        return None


def _save_cache(path: Path, **arrays: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:  # concurrent trials decoding at once are fine
            np.savez(f, **arrays)
    except OSError as e:  # a read-only cache is no reason to fail the trial
        log.warning("cannot write decode cache %s: %s", path, e)


def _decode_split(folder: Path, classes: list[str] | None,
                  resolution: int | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    class_dirs = sorted(d.name for d in folder.iterdir() if d.is_dir())
    if classes is None:
        classes = class_dirs
    elif set(class_dirs) - set(classes):
        raise DataError(f"{folder}: classes {sorted(set(class_dirs) - set(classes))} are not in the training set")
    if not classes:
        raise DataError(f"{folder}: no class folders; expected {folder}/<class>/<image>")
    key, files = _listing_key(folder, resolution)
    cached = cache_dir() / "decoded" / f"{folder.name}-{key}.npz"
    hit = _load_cache(cached)
    if hit is not None:
        return hit["x"], hit["y"], [str(c) for c in hit["classes"]]
    if not files:
        raise DataError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    index = {c: i for i, c in enumerate(classes)}
    pairs = [p.relative_to(folder).parts for p in files]
    images = [(str(p), _decode_image(p, str(p), resolution)) for p, rel in zip(files, pairs) if len(rel) == 2]
    x = _stack(images)
    y = np.asarray([index[rel[0]] for rel in pairs if len(rel) == 2], dtype=np.int64)
    _save_cache(cached, x=x, y=y, classes=np.asarray(classes))
    return x, y, classes


def read_image_folder(folder: Path, resolution: int | None = None) -> RawData:
    """Decode ``folder/{train,test}/<class>/*`` (cached) into arrays."""
    train_x, train_y, classes = _decode_split(folder / "train", None, resolution)
    test_x, test_y, _ = _decode_split(folder / "test", classes, resolution)
    return RawData(train_x, train_y, test_x, test_y, classes, f"image folder {folder}")


def _archive_members(tar: tarfile.TarFile) -> Iterator[tuple[str, str, str, tarfile.TarInfo]]:
    """(root, split, class, member) of every image ``[root/]{train,test}/<class>/<file>``."""
    for member in tar:
        parts = PurePosixPath(member.name).parts
        if not member.isfile() or PurePosixPath(member.name).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if len(parts) >= 3 and parts[-3] in ("train", "test") and ".." not in parts:
            yield "/".join(parts[:-3]), parts[-3], parts[-2], member


def read_image_archive(archive: Path, resolution: int | None = None) -> RawData:
    """Decode a ``.tar.gz`` of an image-folder copy straight from the archive, once (cached).

    Nothing is unpacked to disk: the archive is read as one stream and each image decoded from
    its bytes, as the folder reader would decode the unpacked file (same order, same arrays).
    The shallowest folder of the archive that holds ``train/`` and ``test/`` is the data set.
    """
    st = archive.stat()
    cached = cache_dir() / "decoded" / f"{archive.name.split('.')[0]}-{st.st_size}-{st.st_mtime_ns}-{resolution}.npz"
    hit = _load_cache(cached)
    if hit is None:
        log.info("decoding %s into %s", archive, cached)
        found: dict[tuple[str, str], list[tuple[str, str, np.ndarray]]] = {}
        with tarfile.open(archive, "r:*") as tar:
            for root, split, label, member in _archive_members(tar):
                where = f"{archive}:{member.name}"
                image = _decode_image(tar.extractfile(member), where, resolution)
                found.setdefault((root, split), []).append((f"{label}/{member.name}", label, image))
        roots = sorted({r for r, _ in found if (r, "train") in found and (r, "test") in found},
                       key=lambda r: (r.count("/") + bool(r), r))
        if not roots:
            raise DataError(f"{archive}: holds no train/ and test/ folders of images")
        hit = _arrays_of(archive, found[roots[0], "train"], found[roots[0], "test"])
        _save_cache(cached, **hit)
    return RawData(hit["train_x"], hit["train_y"], hit["test_x"], hit["test_y"], [str(c) for c in hit["classes"]],
                   f"image archive {archive}")


def _arrays_of(archive: Path, train: list[tuple[str, str, np.ndarray]],
               test: list[tuple[str, str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Both splits as arrays, images in the folder reader's order (class, then file name)."""
    classes = sorted({label for _, label, _ in train})
    unknown = sorted({label for _, label, _ in test} - set(classes))
    if unknown:
        raise DataError(f"{archive}: test classes {unknown} are not in the training set")
    index = {c: i for i, c in enumerate(classes)}
    out: dict[str, np.ndarray] = {"classes": np.asarray(classes)}
    for split, items in (("train", train), ("test", test)):
        items = sorted(items, key=lambda item: (item[1], PurePosixPath(item[0]).name))
        out[f"{split}_x"] = _stack([(where, image) for where, _, image in items])
        out[f"{split}_y"] = np.asarray([index[label] for _, label, _ in items], dtype=np.int64)
    return out


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
            reason = f"the download failed ({' '.join(str(e).split())[:120]})"
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


# --------------------------------------------------------------------------------------------
# Splitting


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


def make_splits(raw: RawData, *, val_size: float, train_subset: float | None = None, test_subset: float | None = None,
                seed: int = 0, dataset: str = "") -> Splits:
    """Hold out a class-balanced, seeded validation split; optionally subsample train and test."""
    n = len(raw.train_y)
    n_val = _amount(val_size, n)
    if not 0 <= n_val < n:
        raise DataError(f"dataset.val_size {val_size} leaves no training images out of {n}")
    g = np.random.default_rng(seed)
    val_idx = balanced_indices(raw.train_y, n_val, g)
    rest = np.setdiff1d(np.arange(n), val_idx)
    n_train = _amount(train_subset, len(rest))
    if n_train is not None:
        if not 1 <= n_train <= len(rest):
            raise DataError(f"dataset.train_subset {train_subset} is not between 1 and the {len(rest)} training images")
        rest = rest[balanced_indices(raw.train_y[rest], n_train, g)]
    test_idx = np.arange(len(raw.test_y))
    n_test = _amount(test_subset, len(test_idx))
    if n_test is not None:
        if not 1 <= n_test <= len(test_idx):
            raise DataError(f"dataset.test_subset {test_subset} is not between 1 and the {len(test_idx)} test images")
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


def load_splits(dataset_cfg: Any, data_root: str | Path | None = None) -> Splits:
    """Read and split the data set a space's ``dataset`` section describes."""
    cfg = dataset_cfg
    if cfg.name == "synthetic":
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
