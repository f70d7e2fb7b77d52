"""Whole-sequence collections: windows of text sorted into classes (a language, a genre), each
window one example labelled one-vs-rest and probed on its mean activation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from probing.features.core.dataset import FeatureDataset
from probing.features.core.tokens import Windows, pack, pad_id


def sequence_class_dataset(
    name: str,
    class_names: Sequence[str],
    windows: Sequence[Windows],
    groups: Sequence[Sequence[int] | np.ndarray],
    seq_len: int,
    tokenizer,
    rng: np.random.Generator,
    meta: dict,
) -> FeatureDataset:
    """windows[c] holds class c's windows and groups[c] the group (source document) of each.

    Classes are interleaved in a seeded order, so any prefix of the dataset is balanced.
    """
    rows = [list(t[:n]) for w in windows for t, n in zip(w.tokens, w.lengths, strict=True)]
    docs = [int(g) for class_groups in groups for g in class_groups]
    class_of = np.concatenate([np.full(len(w.lengths), c) for c, w in enumerate(windows)])
    if len(docs) != len(rows):
        raise ValueError(f"{name}: {len(docs)} groups for {len(rows)} windows")
    order = rng.permutation(len(rows))
    packed = pack([rows[i] for i in order], [docs[i] for i in order], seq_len, pad_id(tokenizer))
    n = len(rows)
    return FeatureDataset(
        name=name,
        feature_names=list(class_names),
        tokens=packed.tokens,
        lengths=packed.lengths,
        example_seq=np.arange(n),
        example_pos=np.full(n, -1),
        labels=np.eye(len(class_names), dtype=np.int8)[class_of[order]],
        groups=packed.docs,
        aggregation="mean",
        meta=meta,
    )
