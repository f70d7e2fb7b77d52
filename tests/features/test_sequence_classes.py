"""Whole-sequence collections share one assembly: one-hot labels that follow their windows."""

import numpy as np
import pytest

from probing.features.builtin.sequence_classes import sequence_class_dataset
from probing.features.core.tokens import pack
from probing.models import byte_level_tokenizer


def windows_of(texts: list[str], seq_len: int = 8):
    return pack([list(t.encode()) for t in texts], list(range(len(texts))), seq_len, 0)


def test_labels_groups_and_tokens_travel_together():
    a, b = windows_of(["aaaa", "aaa", "aa"]), windows_of(["bbbbb", "bb"])
    ds = sequence_class_dataset(
        "toy",
        ["a", "b"],
        [a, b],
        [[0, 0, 1], [2, 3]],
        8,
        byte_level_tokenizer(),
        np.random.default_rng(0),
        {},
    )
    assert ds.labels.sum(0).tolist() == [3, 2] and (ds.labels.sum(1) == 1).all()
    for row, length, label, group in zip(ds.tokens, ds.lengths, ds.labels, ds.groups, strict=True):
        letter = "ab"[int(label.argmax())]
        assert bytes(row[:length].tolist()).decode() == letter * length
        assert (group in (0, 1)) == (letter == "a")
    assert ds.aggregation == "mean" and (ds.example_pos == -1).all()


def test_group_count_must_match_windows():
    with pytest.raises(ValueError, match="2 groups for 3 windows"):
        sequence_class_dataset(
            "toy",
            ["a"],
            [windows_of(["a", "aa", "aaa"])],
            [[0, 1]],
            8,
            byte_level_tokenizer(),
            np.random.default_rng(0),
            {},
        )
