"""Data sets: image folders and archives, decoded once and cached; where the data root is; a copy
of other classes. Torchvision's own formats, through its real dataset classes on files the tests
write, and what is said when a set is missing, are run for every registered data set in
tests/test_dataset_registry.py (this file's writer of CIFAR-10's batches serves it)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from wrnsearch.data import (
    read_dataset,
    resolve_data_root,
)
from wrnsearch.errors import DataError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WRNSEARCH_CACHE", str(tmp_path / "cache"))


def _write_cifar10_batches(root, rng, n_per_batch=20, n_test=30):
    """Write torchvision's on-disk CIFAR-10 format: cifar-10-batches-py/ with pickled batches."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_test if name == "test_batch" else n_per_batch
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "labels": labels, "data": data,
                         "filenames": [f"{i}.png" for i in range(n)]}, f)
        written[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                     "truck"]}, f)
    return folder, written


def _write_image_folder(root, classes=("cat", "dog", "ship"), per_class=6, size=12, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    arrays = {}
    for split in ("train", "test"):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(per_class if split == "train" else 2):
                a = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
                Image.fromarray(a).save(root / split / c / f"{i:04d}.png")
                arrays[(split, c, i)] = a
    return arrays


def test_image_folder_is_decoded_exactly_and_cached(tmp_path):
    arrays = _write_image_folder(tmp_path / "cifar10")
    raw = read_dataset("cifar10", tmp_path, download=False)
    assert raw.classes == ["cat", "dog", "ship"]
    assert raw.train_x.shape == (18, 3, 12, 12)
    assert np.array_equal(raw.train_x[0].transpose(1, 2, 0), arrays[("train", "cat", 0)])
    assert raw.train_y.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    caches = list((tmp_path / "cache" / "decoded").glob("*.npz"))
    assert len(caches) == 2  # train and test
    again = read_dataset("cifar10", tmp_path, download=False)
    assert np.array_equal(again.train_x, raw.train_x)
    assert len(list((tmp_path / "cache" / "decoded").glob("*.npz"))) == 2  # served from the cache
    # a changed image changes the key: decoded anew, not served stale
    from PIL import Image

    new = np.zeros((12, 12, 3), dtype=np.uint8)
    Image.fromarray(new).save(tmp_path / "cifar10" / "train" / "cat" / "0000.png")
    changed = read_dataset("cifar10", tmp_path, download=False)
    assert np.array_equal(changed.train_x[0], new.transpose(2, 0, 1))
    assert len(list((tmp_path / "cache" / "decoded").glob("*.npz"))) == 3


def test_archive_is_decoded_once_without_unpacking(tmp_path, monkeypatch):
    import tarfile

    src = tmp_path / "src"
    _write_image_folder(src / "cifar10-jpeg")
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(root / "cifar10-jpeg.tar.gz", "w:gz") as tar:
        tar.add(src / "cifar10-jpeg", arcname="cifar10-jpeg")
    raw = read_dataset("cifar10", root, download=False)
    folder = read_dataset("cifar10", src, download=False)  # the same images, unpacked
    assert raw.train_x.shape[0] == 18 and raw.classes == folder.classes
    for key in ("train_x", "train_y", "test_x", "test_y"):
        assert np.array_equal(getattr(raw, key), getattr(folder, key)), key
    assert not (tmp_path / "cache" / "extracted").exists()  # nothing unpacked
    assert len(list((tmp_path / "cache" / "decoded").glob("cifar10-*.npz"))) == 1
    monkeypatch.setattr(tarfile, "open", None)  # a second read is the cache's
    again = read_dataset("cifar10", root, download=False)
    assert np.array_equal(again.train_x, raw.train_x) and again.source == raw.source


def test_data_root_at_the_unpacked_copy_itself(tmp_path):
    """--data-root DIR where DIR holds train/<class>/ and test/<class>/ of the data set's classes."""
    from wrnsearch.dataset_registry import get

    classes = get("cifar10").classes
    _write_image_folder(tmp_path / "cifar10-jpeg", classes=classes, per_class=2, size=8)
    direct = read_dataset("cifar10", tmp_path / "cifar10-jpeg", download=False)
    above = read_dataset("cifar10", tmp_path, download=False)  # the copy found under its parent
    assert direct.classes == list(classes) and direct.train_x.shape == (20, 3, 8, 8)
    for key in ("train_x", "train_y", "test_x", "test_y"):
        assert np.array_equal(getattr(direct, key), getattr(above, key)), key


def test_data_root_at_a_copy_of_other_classes_says_which(tmp_path):
    _write_image_folder(tmp_path, classes=("cat", "dog", "ship", "zebra"), per_class=1, size=8)
    with pytest.raises(DataError) as e:
        read_dataset("cifar10", tmp_path, download=False)
    msg = str(e.value)
    assert "\n" not in msg
    assert f"{tmp_path} holds train/ and test/ image folders, but their classes are not cifar10's" in msg
    assert "missing airplane, automobile, bird, deer, frog ..." in msg and "not in cifar10: zebra" in msg
    assert "dataset.name: imagefolder" in msg


def test_imagefolder_needs_train_and_test(tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no image folder at"):
        read_dataset("imagefolder", tmp_path, download=False)


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("WRNSEARCH_DATA", str(tmp_path / "env"))
    assert resolve_data_root("cli", "space") == resolve_data_root("cli", None)
    assert str(resolve_data_root(None, "space")) == "space"
    assert resolve_data_root(None, None) == tmp_path / "env"
