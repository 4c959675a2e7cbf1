"""Splits: balanced, seeded and disjoint validation, training and test sets, and the sizes that
cannot be drawn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wrnsearch.data import balanced_indices, make_splits, synthetic_dataset
from wrnsearch.errors import DataError


def test_splits_are_balanced_seeded_and_disjoint():
    raw = synthetic_dataset(num_classes=5, resolution=8, channels=3, train_size=1000, test_size=200)
    s = make_splits(raw, val_size=100, train_subset=0.5, test_subset=50, seed=3)
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (450, 100, 50)
    assert torch.bincount(s.val_y).tolist() == [20] * 5
    assert torch.bincount(s.test_y).tolist() == [10] * 5
    same = make_splits(raw, val_size=100, train_subset=0.5, test_subset=50, seed=3)
    assert torch.equal(same.val_x, s.val_x) and s.record == same.record
    other = make_splits(raw, val_size=100, seed=4)
    assert other.record["val_indices_sha256"] != s.record["val_indices_sha256"]
    # validation images never appear in training
    train_rows = {bytes(r) for r in s.train_x.reshape(len(s.train_x), -1).numpy()}
    assert not any(bytes(r) in train_rows for r in s.val_x.reshape(len(s.val_x), -1).numpy())
    assert s.record["val"] == 100 and s.record["seed"] == 3
    assert all(0 < m < 1 for m in s.mean) and all(0 < v < 1 for v in s.std)


def test_balanced_indices_uneven_classes():
    labels = np.array([0] * 70 + [1] * 20 + [2] * 10)
    idx = balanced_indices(labels, 10, np.random.default_rng(0))
    assert np.bincount(labels[idx]).tolist() == [7, 2, 1]
    assert len(set(idx.tolist())) == 10


@pytest.mark.parametrize("bad", [dict(val_size=1000), dict(val_size=10, train_subset=5000)])
def test_impossible_split_sizes(bad):
    raw = synthetic_dataset(num_classes=2, resolution=8, channels=1, train_size=100, test_size=10)
    with pytest.raises(DataError):
        make_splits(raw, **bad)
