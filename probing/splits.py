"""Held-out splits that keep each source document on one side, stratified by label.

Windows cut from the same file share text; a random split would score probes on text they
were trained on. Grouping by document makes the test score a held-out-text score.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold


class SplitError(ValueError):
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
    n_groups_per_class = [len(np.unique(groups[y == c])) for c in (0, 1)]
    if min(n_groups_per_class) < n_splits:
        # Too few documents to hold some out per class: fall back to a stratified example split.
        groups = np.arange(len(y))
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    train, test = next(folds.split(np.zeros(len(y)), y, groups))
    for name, idx in (("train", train), ("test", test)):
        if len(np.unique(y[idx])) < 2:
            raise SplitError(f"the {name} split has one class; add examples or change the seed")
    return np.sort(train), np.sort(test)
