"""token_position: labels are thresholds on the sampled position, positions cover the window."""

from __future__ import annotations

import numpy as np
import pytest

from probing.features import FeatureDataError, build_feature_dataset


@pytest.fixture(scope="module")
def ds(bpe_tokenizer):
    return build_feature_dataset("token_position", bpe_tokenizer, n_sequences=80)


def test_labels_match_positions(ds):
    assert ds.feature_names == ["pos_lt_8", "pos_lt_32", "pos_ge_64"]
    pos = ds.example_pos
    expected = np.stack([pos < 8, pos < 32, pos >= 64], axis=1)
    assert np.array_equal(ds.labels.astype(bool), expected)


def test_positions_are_spread_over_the_window(ds):
    assert (ds.lengths == 128).all()
    quarters = np.bincount(ds.example_pos // 32, minlength=4) / ds.n_examples
    assert quarters.min() > 0.18 and quarters.max() < 0.32
    assert (ds.example_pos == 0).any()


def test_custom_thresholds(bpe_tokenizer):
    ds = build_feature_dataset("token_position", bpe_tokenizer, n_sequences=40, lt=[16], ge=[100])
    assert ds.feature_names == ["pos_lt_16", "pos_ge_100"]
    assert np.array_equal(ds.label("pos_ge_100").astype(bool), ds.example_pos >= 100)


def test_threshold_outside_window_is_an_error(bpe_tokenizer):
    with pytest.raises(FeatureDataError, match=r"seq_len=128\); got \[128\]"):
        build_feature_dataset("token_position", bpe_tokenizer, ge=[128])
