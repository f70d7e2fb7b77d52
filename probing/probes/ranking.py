"""Neuron rankings: which neurons a k-sparse probe may use, best first.

Each method maps (X [n, d], y [n] in {0, 1}, seed) to a permutation of range(d). The probe then
takes the first k. Cheap scores come first in the paper (mean difference is its default); the
costlier selections (L1, pruning, telescoping) live in `selection.py` and register here too.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .validation import check_X_y

Ranker = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
RANKERS: dict[str, Ranker] = {}


def register(name: str) -> Callable[[Ranker], Ranker]:
    """Add a ranking method under `name`, usable as SparseProbe(method=name) and in sweep_k."""

    def add(fn: Ranker) -> Ranker:
        RANKERS[name] = fn
        return fn

    return add


def order_by_score(score: np.ndarray) -> np.ndarray:
    """Indices by descending score; ties (and NaN, scored last) broken by neuron index."""
    score = np.nan_to_num(np.asarray(score, dtype=np.float64), nan=-np.inf)
    return np.argsort(-score, kind="stable")


def rank_neurons(X, y, method: str = "mean_diff", seed: int = 0) -> np.ndarray:
    """Neuron indices [d], best first, under ranking `method` (see RANKERS for the names)."""
    if method == "optimal":
        raise ValueError(
            "'optimal' chooses a support per k, not a ranking: use "
            "SparseProbe(method='optimal') or sweep_k(..., method='optimal')"
        )
    if method not in RANKERS:
        raise ValueError(
            f"unknown ranking method {method!r}; choose one of {[*sorted(RANKERS), 'optimal']}"
        )
    X, y = check_X_y(X, y)
    order = np.asarray(RANKERS[method](X, y, seed), dtype=np.int64)
    if order.shape != (X.shape[1],):
        raise RuntimeError(f"ranking {method!r} returned {order.shape}, expected ({X.shape[1]},)")
    return order


def class_means(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron means of class 0 and class 1, accumulated in float64."""
    return X[y == 0].mean(axis=0, dtype=np.float64), X[y == 1].mean(axis=0, dtype=np.float64)


@register("mean_diff")
def mean_diff(X: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """|mean(class 1) - mean(class 0)| in raw activation units: the paper's default ranking."""
    mu0, mu1 = class_means(X, y)
    return order_by_score(np.abs(mu1 - mu0))


@register("random")
def random_order(X: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """A seeded random permutation: the baseline any informed ranking must beat."""
    return np.random.default_rng(seed).permutation(X.shape[1])
