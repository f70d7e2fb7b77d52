"""Held-out splits that keep each source document on one side, stratified by label, always.

Windows cut from the same file share text; a random split would score probes on text they
were trained on. Grouping by document makes the test score a held-out-text score.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from probing.errors import UserError


class SplitError(UserError, ValueError):
    """The labels cannot give a train and a test split with both classes."""


def group_split(
    y: np.ndarray, groups: np.ndarray, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (train, test): stratified, grouped, seeded."""
    if not 0 < test_fraction < 1:
        raise SplitError(f"test_fraction must be in (0, 1), got {test_fraction}")
    y = np.asarray(y)
    counts = np.bincount(y.astype(np.int64), minlength=2)
    if (counts < 2).any():
        raise SplitError(f"need at least 2 examples of each class, got {counts.tolist()}")
    n_splits = max(2, round(1 / test_fraction))
    for c in (0, 1):
        n_docs = len(np.unique(groups[y == c]))
        if n_docs < 2:
            raise SplitError(
                f"all {counts[c]} examples labelled {c} come from {n_docs} document: a split "
                "that holds out whole documents needs at least 2"
            )
    n_groups = len(np.unique(groups))
    if n_groups < n_splits:
        raise SplitError(
            f"{n_groups} documents cannot be split into {n_splits} folds by document "
            f"(test_fraction {test_fraction}): add documents or raise test_fraction"
        )
    # Never fall back to splitting documents: a test score on windows of training documents
    # would measure memorised text. With few documents per class some folds lack a class;
    # the first fold that has both classes on both sides is taken.
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for train, test in folds.split(np.zeros(len(y)), y, groups):
        if len(np.unique(y[train])) == 2 and len(np.unique(y[test])) == 2:
            return np.sort(train), np.sort(test)
    raise SplitError(
        f"no split into {n_splits} folds by document has both classes on both sides "
        f"({len(np.unique(groups))} documents): add documents or change test_fraction"
    )


def split_by_document(
    y: np.ndarray,
    groups: np.ndarray,
    test_fraction: float = 0.2,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (train, val, test), each document on one side only, each with both classes.

    Layers and neurons are chosen on val and reported on test; val_fraction=0 gives an empty val
    (callers then choose on test, and must say so).
    """
    if not 0 <= val_fraction < 1 - test_fraction:
        raise SplitError(
            f"val_fraction must be in [0, 1 - test_fraction), got {val_fraction} "
            f"with test_fraction {test_fraction}"
        )
    y, groups = np.asarray(y), np.asarray(groups)
    rest, test = group_split(y, groups, test_fraction, seed)
    if val_fraction == 0:
        return rest, np.array([], dtype=rest.dtype), test
    inner_train, inner_val = group_split(
        y[rest], groups[rest], val_fraction / (1 - test_fraction), seed
    )
    return rest[inner_train], rest[inner_val], test
