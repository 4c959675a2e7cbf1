"""Data sets as uint8 tensors, found in a data root, split into train / validation / test.

- where a data set comes from (:func:`read_dataset`, :func:`locate_dataset`; in order:
  torchvision's on-disk format, an image-folder copy, an archive of one, torchvision's download),
  and the generated ``synthetic`` one (:func:`synthetic_dataset`);
- image folders and archives decoded once into a cache (:func:`read_image_folder`,
  :func:`read_image_archive`);
- the splits a trial trains, validates and tests on (:func:`load_splits`, :class:`Splits`).
"""

from __future__ import annotations

from wrnsearch.data._decode import IMAGE_SUFFIXES, RawData, cache_dir, read_image_archive, read_image_folder
from wrnsearch.data._sources import (
    default_data_root,
    locate_dataset,
    read_dataset,
    resolve_data_root,
    synthetic_dataset,
)
from wrnsearch.data._splits import (
    Splits,
    balanced_indices,
    content_hash,
    dataset_split_sizes,
    load_splits,
    make_splits,
    split_sizes,
)

__all__ = [
    "IMAGE_SUFFIXES", "RawData", "Splits", "balanced_indices", "cache_dir",
    "content_hash", "dataset_split_sizes", "default_data_root", "load_splits", "locate_dataset", "make_splits",
    "read_dataset", "read_image_archive", "read_image_folder", "resolve_data_root", "split_sizes",
    "synthetic_dataset",
]
