"""The data sets a space may name, each defined here once.

An entry says what is known about a data set before any image is read:

- the name ``dataset.name`` gives it, and what it is, in a line;
- the shape it fixes (classes, resolution, channels), or the shape keys a space that leaves them
  out gets (an image folder of the user's needs its classes and resolution said);
- for a published set, its training and test images as torchvision ships them, and its class
  names in label order (the sorted names of its image folders);
- the file or folder torchvision's own class keeps in the data root, and the reader of that
  format, named ``"module:function"`` in :mod:`wrnsearch.data` (it needs torchvision, which this
  module does not import); a set without one is read from image folders only;
- whether the data root itself is the set (``imagefolder``), and whether it is generated from
  the seed instead of read (``synthetic``);
- the paper's training recipe for it: SVHN's, or CIFAR's.

:mod:`wrnsearch.space` validates ``dataset.name`` and fills the shape and the recipe from these
entries, :mod:`wrnsearch.data` finds and reads a set by them, and the CLI offers their names. A
new data set is one entry here, plus its reader in ``wrnsearch/data/_torchvision.py`` when
torchvision's format is to be read too; an image-folder copy of it needs nothing more.

No torch, torchvision, Ray or Optuna here.

Example:
    >>> get("svhn").sizes, get("svhn").recipe["lr"]
    ((73257, 26032), 0.01)
    >>> get("imagefolder").shape is None, get("imagefolder").shape_defaults
    (True, {'channels': 3})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

READERS = "wrnsearch.data._torchvision"  # the readers of torchvision's on-disk formats
SHAPE_KEYS = ("num_classes", "resolution", "channels")

# The paper's recipes (section 4): CIFAR's, and SVHN's (no augmentation, [0, 1] inputs, 160 epochs)
CIFAR_RECIPE: Mapping[str, Any] = MappingProxyType({
    "epochs": 200, "lr": 0.1, "lr_milestones": (0.3, 0.6, 0.8), "lr_gamma": 0.2, "augment": True,
    "normalize": "meanstd"})
SVHN_RECIPE: Mapping[str, Any] = MappingProxyType({
    "epochs": 160, "lr": 0.01, "lr_milestones": (0.5, 0.75), "lr_gamma": 0.1, "augment": False,
    "normalize": "scale"})

_CIFAR100_CLASSES = tuple("""apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge
    bus butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile
    cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard
    lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree
    pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal
    shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone
    television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split())


@dataclass(frozen=True)
class DatasetEntry:
    """One data set: its name, shape, sizes, classes, where torchvision keeps it, and its recipe."""

    name: str
    summary: str  # what it is, in a line (docs and messages)
    shape: tuple[int, int, int] | None = None  # (num_classes, resolution, channels) it fixes
    shape_defaults: Mapping[str, int] = field(default_factory=dict)  # where it fixes none: what a space may omit
    sizes: tuple[int, int] | None = None  # (training, test) images, known without reading any
    classes: tuple[str, ...] | None = None  # in label order: its image folders' sorted names
    torchvision_files: str | None = None  # what torchvision's class keeps in the data root
    reader: str | None = None  # "module:function" in wrnsearch.data: function(root, download) -> RawData
    root_is_data: bool = False  # the data root itself holds train/<class>/ and test/<class>/
    generated: bool = False  # made from dataset.split_seed, never read
    recipe: Mapping[str, Any] = field(default_factory=lambda: CIFAR_RECIPE)  # the paper's training recipe for it

    @property
    def downloadable(self) -> bool:
        """Torchvision can fetch it into the data root."""
        return self.reader is not None


DATASETS: dict[str, DatasetEntry] = {e.name: e for e in (
    DatasetEntry("cifar10", "CIFAR-10: 60,000 32x32 colour images in 10 classes (the paper's first benchmark)",
                 shape=(10, 32, 3), sizes=(50_000, 10_000),
                 classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
                 torchvision_files="cifar-10-batches-py", reader=f"{READERS}:cifar10"),
    DatasetEntry("cifar100", "CIFAR-100: 60,000 32x32 colour images in 100 classes", shape=(100, 32, 3),
                 sizes=(50_000, 10_000), classes=_CIFAR100_CLASSES, torchvision_files="cifar-100-python",
                 reader=f"{READERS}:cifar100"),
    DatasetEntry("svhn", "SVHN: 32x32 house-number digits, 10 classes, without the 'extra' images",
                 shape=(10, 32, 3), sizes=(73_257, 26_032), classes=tuple(str(i) for i in range(10)),
                 torchvision_files="train_32x32.mat", reader=f"{READERS}:svhn", recipe=SVHN_RECIPE),
    DatasetEntry("imagefolder", "your own images: ROOT/train/<class>/* and ROOT/test/<class>/*",
                 shape_defaults={"channels": 3}, root_is_data=True),
    DatasetEntry("synthetic", "generated 4x4-cell patterns per class plus noise, from the split seed (tests, demos)",
                 shape_defaults={"num_classes": 10, "resolution": 32, "channels": 3}, generated=True),
)}
NAMES: tuple[str, ...] = tuple(DATASETS)
DEFAULT = "cifar10"  # the data set of a space that names none


def get(name: str) -> DatasetEntry:
    """The data set called ``name``.

    Raises:
        KeyError: naming the data sets there are, for an unknown name.
    """
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown data set {name!r}: choose from {', '.join(NAMES)}") from None


def recipe_for(name: str | None) -> dict[str, Any]:
    """The paper's training recipe for the data set called ``name``; CIFAR's for any other (a
    name that is not one is reported where the space is validated)."""
    entry = DATASETS.get(name or DEFAULT)
    recipe = entry.recipe if entry is not None else CIFAR_RECIPE
    return {k: list(v) if isinstance(v, tuple) else v for k, v in recipe.items()}
