"""The statistics of a comparison over replay seeds: bootstrap intervals and paired shares, checked
against what they must be on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from wrnsearch.bench import bootstrap, paired_share


def test_the_median_interval_covers_the_true_median_about_as_often_as_it_claims():
    """95 % intervals of the median of 100 draws from N(0, 1) cover 0 in about 95 % of 200 samples."""
    rng = np.random.default_rng(1)
    covered = 0
    for i in range(200):
        e = bootstrap(rng.normal(size=100), resamples=1000, seed=i)
        assert e.low <= e.value <= e.high
        covered += e.low <= 0.0 <= e.high
    assert 0.88 <= covered / 200 <= 0.99, covered


def test_the_interval_narrows_with_more_seeds_and_is_reproducible():
    rng = np.random.default_rng(2)
    small, large = rng.normal(size=20), rng.normal(size=400)
    assert bootstrap(large).high - bootstrap(large).low < bootstrap(small).high - bootstrap(small).low
    assert bootstrap(small) == bootstrap(small)  # seeded resampling: the same table every time


def test_a_paired_share_counts_seeds_and_ties_go_to_the_first():
    e = paired_share([0.9, 0.8, 0.7, 0.6], [0.9, 0.9, 0.1, 0.7])
    assert e.value == 0.5  # seed 0 is a tie (counted), seed 2 a win, seeds 1 and 3 losses
    always = paired_share([1.0] * 30, [0.5] * 30)
    assert always == (1.0, 1.0, 1.0)
    rng = np.random.default_rng(3)
    a = rng.normal(size=200)
    coin = paired_share(a, a[::-1] + 1e-3)  # independent of each other: about half
    assert coin.low < 0.5 < coin.high
    with pytest.raises(ValueError, match="differ in count"):
        paired_share([1.0, 2.0], [1.0])
