"""The paper's other rankings: statistics (F, mutual information), sparse linear models (L1, SVM),
iterative pruning and telescoping. Each registers under its name in ranking.RANKERS.

Model-based rankings standardise first: |coef| only compares neurons on a common scale.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.feature_selection import f_classif

from .backends import torch_backend
from .l1_logistic import L1Logistic, l1_entry_order
from .ranking import order_by_score, register
from .scaling import fit_scaling, standardize

MI_SAMPLES = 4000  # examples used to estimate MI
MI_BINS = 16  # quantile bins per neuron
L1_TARGET = (
    64  # the L1 path stops once this many neurons are nonzero (k <= 64 is the regime of interest)
)
SVM_C = 1.0  # LinearSVC's default
PRUNE_LAM = (
    0.02  # iterative pruning fits at this fraction of lam_max: weak, so weights stay informative
)
TELESCOPE_KEEP = 256  # neurons the cheap ranking passes to the costly one


def _standardized(X: np.ndarray) -> np.ndarray:
    return standardize(X, *fit_scaling(X))


@register("f_stat")
def f_stat(X: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """ANOVA F statistic of each neuron between the classes; scale-free, constant neurons last."""
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "features are constant": they rank last
        return order_by_score(f_classif(X, y)[0])


@register("mi")
def mutual_information(X: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Mutual information (nats) between the label and each neuron cut into MI_BINS quantile bins,
    on a stratified subsample. Plug-in estimate: every neuron in a few vectorised passes, where
    scikit-learn's nearest-neighbour estimator takes minutes on a wide layer."""
    rng = np.random.default_rng(seed)
    if len(y) > MI_SAMPLES:
        # keep both classes in proportion, so a rare feature is not subsampled away
        idx = np.concatenate(
            [
                rng.choice(where, max(2, round(MI_SAMPLES * len(where) / len(y))), replace=False)
                for where in (np.flatnonzero(y == 0), np.flatnonzero(y == 1))
            ]
        )
        X, y = X[idx], y[idx]
    edges = np.quantile(X, np.linspace(0, 1, MI_BINS + 1)[1:-1], axis=0)  # [bins - 1, d]
    bins = np.zeros(X.shape, dtype=np.int8)
    for edge in edges:
        bins += X > edge
    joint = np.stack([[(bins[y == c] == b).sum(0) for c in (0, 1)] for b in range(MI_BINS)])
    p = joint / len(y)  # [bins, 2, d]
    p_bin, p_class = p.sum(1, keepdims=True), p.sum((0, 2), keepdims=True) / X.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        mi = np.where(p > 0, p * np.log(p / (p_bin * p_class)), 0.0).sum((0, 1))
    return order_by_score(mi)


@register("l1")
def l1(X: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Order of entry along an L1 logistic regularisation path, walked down until L1_TARGET
    neurons are nonzero; neurons that never enter follow by F statistic."""
    entered, _ = l1_entry_order(_standardized(X), y, min(L1_TARGET, X.shape[1]))
    return _then_rest(entered, f_stat(X, y))


@register("svm")
def svm(X: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """|coef| of a class-balanced linear SVM (squared hinge, L2, LinearSVC's objective)."""
    Z = _standardized(X)
    ((coef, _),) = torch_backend.fit_prefixes(
        Z, y, [X.shape[1]], SVM_C, loss="squared_hinge", device="cpu"
    )
    return order_by_score(np.abs(coef))


@register("adaptive_threshold")
def adaptive_threshold(X: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Iterative pruning: fit an L1 logistic regression on the surviving neurons, drop the weaker
    half (by |coef|, F statistic breaking ties), repeat down to one. Late drop-outs rank first."""
    problem = L1Logistic(_standardized(X), y)
    f_rank = np.empty(X.shape[1])
    f_rank[f_stat(X, y)] = np.arange(X.shape[1])
    alive = np.arange(X.shape[1])
    dropped: list[np.ndarray] = []
    while alive.size > 1:
        cols = torch.as_tensor(alive)
        lam = PRUNE_LAM * float(problem.gradient(torch.zeros(0), 0.0)[cols].abs().max())
        w, _ = problem.solve(lam, cols, torch.zeros(alive.size), 0.0)
        weakest_first = np.lexsort((-f_rank[alive], np.abs(w.numpy())))
        n_drop = alive.size // 2
        dropped.append(alive[weakest_first[:n_drop]][::-1])  # strongest of the dropped first
        alive = alive[weakest_first[n_drop:]]
    return np.concatenate([alive, *reversed(dropped)])


@register("telescopic")
def telescopic(X: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """F statistic keeps the top TELESCOPE_KEEP neurons; the L1 path orders them. Costs the L1
    ranking's precision at a fraction of its price on wide layers."""
    cheap = f_stat(X, y)
    keep = cheap[: min(TELESCOPE_KEEP, X.shape[1])]
    inner = l1(X[:, keep], y, seed)
    return _then_rest(keep[inner], cheap)


def _then_rest(first: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """`first`, then the remaining neurons in the order of `fallback`."""
    return np.concatenate([first, fallback[~np.isin(fallback, first)]]).astype(np.int64)
