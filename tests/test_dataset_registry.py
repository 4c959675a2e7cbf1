"""The data-set registry: every entry whole, and every entry through one contract (the space
validates and fills it, the data layer finds it by its names and reads it, torchvision's own
format through the reader the entry names), with no module branching on a data set's name."""

from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from tests.data.test_sources import _write_image_folder
from tests.spaces import exactly, space_data, space_text
from wrnsearch import dataset_registry
from wrnsearch.data import dataset_split_sizes, load_splits, locate_dataset, read_dataset
from wrnsearch.dataset_registry import CIFAR_RECIPE, DATASETS, NAMES
from wrnsearch.errors import DataError, SpaceError
from wrnsearch.space import parse_space, space_from_data

PUBLISHED = [e.name for e in DATASETS.values() if e.classes is not None]  # cifar10, cifar100, svhn
READ_BY_TORCHVISION = [e.name for e in DATASETS.values() if e.reader is not None]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WRNSEARCH_CACHE", str(tmp_path / "cache"))


def _space(name: str, **dataset):
    """The factory's space on the named data set, without its train section: the recipe is the entry's."""
    return space_from_data(space_data("d", dataset=exactly({"name": name, **dataset}), train=None))


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_is_whole(name):
    e = dataset_registry.get(name)
    assert e.name == name and e.summary
    assert e.shape is not None or e.shape_defaults, "a shape fixed, or defaults for the keys a space omits"
    assert set(e.shape_defaults) <= set(dataset_registry.SHAPE_KEYS)
    if e.classes is not None:  # a published set: its shape, sizes and classes agree
        assert e.shape is not None and e.shape[0] == len(e.classes) == len(set(e.classes))
        assert list(e.classes) == sorted(e.classes), "label order is the image folders' sorted order"
        assert e.sizes is not None and all(n > 0 for n in e.sizes)
    assert (e.reader is None) == (e.torchvision_files is None)
    if e.reader is not None:  # it names a function of wrnsearch.data that exists
        import importlib

        module, function = e.reader.split(":")
        assert module.startswith("wrnsearch.data.") and callable(getattr(importlib.import_module(module), function))
    assert not (e.generated and (e.reader or e.classes or e.root_is_data))
    assert set(e.recipe) == set(CIFAR_RECIPE) and dataset_registry.recipe_for(name)["epochs"] == e.recipe["epochs"]


@pytest.mark.parametrize("name", NAMES)
def test_the_space_takes_every_entry_and_fills_its_shape_and_recipe(name):
    e = dataset_registry.get(name)
    given = {"num_classes": 3, "resolution": 16} if e.shape is None and not e.generated else {}
    s = _space(name, **given)
    shape = (s.dataset.num_classes, s.dataset.resolution, s.dataset.channels)
    if e.shape is not None:
        assert shape == e.shape
    else:
        assert all(getattr(s.dataset, k) == v for k, v in e.shape_defaults.items())
    assert s.train.lr == e.recipe["lr"] and s.train.augment == e.recipe["augment"]
    assert s.train.lr_milestones == list(e.recipe["lr_milestones"])
    assert _space(name, **given).to_yaml_dict()["dataset"]["name"] == name  # saved and read back by its name


def test_an_unknown_data_set_is_a_located_error_naming_every_entry():
    with pytest.raises(SpaceError) as err:
        parse_space(space_text("x", dataset=exactly({"name": "mnist"})), source="x.yaml")
    msg = str(err.value)
    assert "x.yaml" in msg and "dataset.name" in msg and "mnist" in msg
    assert all(repr(n) in msg or n in msg for n in NAMES), msg


@pytest.mark.parametrize("name", PUBLISHED)
def test_every_published_set_is_found_and_read_from_an_image_folder_copy(name, tmp_path):
    """ROOT/<name>-jpeg/{train,test}/<class>/ with the entry's classes: located by names alone,
    read in its label order, split as a space asks; its sizes known without reading."""
    e = dataset_registry.get(name)
    _write_image_folder(tmp_path / f"{name}-jpeg", classes=e.classes, per_class=2, size=e.shape[1])
    assert locate_dataset(name, tmp_path) == tmp_path / f"{name}-jpeg"
    s = _space(name, val_size=0.5)
    splits = load_splits(s.dataset, tmp_path)
    assert splits.classes == list(e.classes)
    assert splits.train_x.shape[1:] == (e.shape[2], e.shape[1], e.shape[1])
    assert len(splits.train_y) + len(splits.val_y) == 2 * len(e.classes) and len(splits.test_y) == 2 * len(e.classes)
    train, test = e.sizes
    assert dataset_split_sizes(_space(name, val_size=1000).dataset) == (train - 1000, 1000, test)


@pytest.mark.parametrize("name", READ_BY_TORCHVISION)
def test_a_missing_set_says_where_each_of_its_forms_goes(name, tmp_path):
    e = dataset_registry.get(name)
    with pytest.raises(DataError) as err:
        read_dataset(name, tmp_path, download=False)
    msg = str(err.value)
    assert "\n" not in msg and "download is off" in msg
    assert f"torchvision's {e.torchvision_files}" in msg and f"{tmp_path}/{name}/train/<class>/*" in msg
    (tmp_path / e.torchvision_files).mkdir()  # torchvision's own files are found by their name alone
    assert locate_dataset(name, tmp_path) == tmp_path / e.torchvision_files


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _trust(monkeypatch, cls, folder: Path, train: list[str], test: str, meta: str) -> None:
    """torchvision checks each CIFAR file's MD5 against the release's: make it ours."""
    monkeypatch.setattr(cls, "train_list", [[name, _md5(folder / name)] for name in train])
    monkeypatch.setattr(cls, "test_list", [[test, _md5(folder / test)]])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(folder / meta)})


def _write_cifar10(root: Path, rng, monkeypatch) -> tuple[np.ndarray, list[int], int]:
    import torchvision

    from tests.data.test_sources import _write_cifar10_batches

    folder, written = _write_cifar10_batches(root, rng)  # 5 batches of 20, a test batch of 30
    train = [f"data_batch_{i}" for i in range(1, 6)]
    _trust(monkeypatch, torchvision.datasets.CIFAR10, folder, train, "test_batch", "batches.meta")
    x = np.concatenate([written[name][0] for name in train]).reshape(-1, 3, 32, 32)
    return x, sum((written[name][1] for name in train), []), 30


def _write_cifar100(root: Path, rng, monkeypatch) -> tuple[np.ndarray, list[int], int]:
    import torchvision

    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    written = {}
    for split, n in (("train", 40), ("test", 20)):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 100, size=n)]
        with open(folder / split, "wb") as f:
            pickle.dump({"data": data, "fine_labels": labels, "coarse_labels": [0] * n}, f)
        written[split] = (data, labels)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": list(DATASETS["cifar100"].classes), "coarse_label_names": ["x"]}, f)
    _trust(monkeypatch, torchvision.datasets.CIFAR100, folder, ["train"], "test", "meta")
    return written["train"][0].reshape(-1, 3, 32, 32), written["train"][1], 20


def _write_svhn(root: Path, rng, monkeypatch) -> tuple[np.ndarray, list[int], int]:
    import scipy.io
    import torchvision

    root.mkdir(parents=True, exist_ok=True)
    split_list = {}
    for split, n in (("train", 30), ("test", 10)):
        x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, size=(n, 1)).astype(np.uint8)  # SVHN's files label the digit 0 as 10
        scipy.io.savemat(root / f"{split}_32x32.mat", {"X": x, "y": y})
        split_list[split] = ["", f"{split}_32x32.mat", _md5(root / f"{split}_32x32.mat")]
        if split == "train":
            written = (np.transpose(x, (3, 2, 0, 1)), [int(v) % 10 for v in y[:, 0]])
    monkeypatch.setattr(torchvision.datasets.SVHN, "split_list", split_list)
    return (*written, 10)


# torchvision's own format of each entry read by torchvision, written by the test, and the
# torchvision class that reads it: a new entry with a reader needs its writer here
FORMATS = {"cifar10": (_write_cifar10, "CIFAR10"), "cifar100": (_write_cifar100, "CIFAR100"),
           "svhn": (_write_svhn, "SVHN")}


@pytest.mark.parametrize("name", READ_BY_TORCHVISION)
def test_every_reader_reads_torchvision_s_own_format(name, tmp_path, monkeypatch):
    """The reader an entry names, through torchvision's real dataset class on files the test
    wrote in that format: the images, labels and classes exactly."""
    assert name in FORMATS, f"a new entry read by torchvision ({name}): write its format in FORMATS"
    write, cls = FORMATS[name]
    x, y, n_test = write(tmp_path, np.random.default_rng(3), monkeypatch)
    raw = read_dataset(name, tmp_path, download=False)
    assert raw.source == f"torchvision {cls} in {tmp_path}"
    assert np.array_equal(raw.train_x, x) and raw.train_y.tolist() == y
    assert raw.classes == list(DATASETS[name].classes)
    assert raw.train_x.shape[1:] == (3, 32, 32) and raw.test_x.shape == (n_test, 3, 32, 32)
    assert raw.test_x.dtype == np.uint8 and len(raw.test_y) == n_test


def test_the_commands_and_the_docs_offer_every_entry():
    from wrnsearch.cli import main

    choices = {p.name: p.type.choices for p in main.commands["train"].params if p.name == "dataset"}
    assert tuple(choices["dataset"]) == NAMES
    bench = {p.name: p.type.choices for p in main.commands["bench"].commands["train"].params if p.name == "dataset"}
    assert set(bench["dataset"]) == {e.name for e in DATASETS.values() if e.generated or e.shape is not None}
    docs = (REPO / "docs" / "spaces.md").read_text().splitlines()
    line = next(ln for ln in docs if ln.strip().startswith("name: cifar10"))  # the dataset section's comment
    assert [n.strip() for n in line.split("#", 1)[1].split("|")] == list(NAMES)


def test_no_module_outside_the_registry_branches_on_a_data_set_name():
    """A comparison with, or membership in a tuple of, a data set's name: the entry's fields say
    it instead (generated, shape, sizes, reader ...)."""
    names = "|".join(re.escape(n) for n in NAMES)
    branch = re.compile(rf"""(==|!=|\bin)\s*\(?\s*["']({names})["']|["']({names})["']\s*(==|!=)""")
    found = []
    for path in sorted((REPO / "wrnsearch").rglob("*.py")):
        if path.name == "dataset_registry.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if branch.search(line):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found, found
    assert branch.search('if name == "svhn":') and branch.search("x in ('cifar10', 'cifar100')")  # it would catch them
