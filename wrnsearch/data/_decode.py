"""Image folders and archives decoded once into uint8 arrays, cached by their listing.

A folder ``{train,test}/<class>/*`` or a ``.tar.gz`` of one (read as one stream, nothing
unpacked) is decoded into a uint8 array cached under ``$WRNSEARCH_CACHE`` (default
``~/.cache/wrnsearch``), keyed by the folder's listing (paths, sizes, modification times) or the
archive's size and time, so that a second trial starts in a second.
"""

from __future__ import annotations

import hashlib
import logging
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from wrnsearch.errors import DataError
from wrnsearch.files import atomic_path, cache_dir

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".gif", ".webp", ".tif", ".tiff"}


@dataclass
class RawData:
    """A whole data set: uint8 images (N, C, H, W) and int64 labels, train and test."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]
    source: str  # where it was read from


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
