"""From a ranking to fitted k-sparse probes in raw activation units, for any backend."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .backends import BATCHED, fit_prefixes
from .optimal import optimal_support
from .ranking import rank_neurons
from .scaling import fit_scaling, standardize, to_raw_units

PER_K_METHODS = ("optimal",)  # choose a support per k instead of ranking once


@dataclass
class SparseFit:
    """One fitted k-sparse probe: decision = X[:, support] @ coef + intercept (raw units)."""

    k: int
    support: np.ndarray  # neuron indices, in rank order
    coef: np.ndarray  # [k], raw activation units
    intercept: float
    seconds: float  # wall time of this fit (an equal share of the solve for batched backends)
    extra: dict  # per-row extras: selection time, MIP certificate


@dataclass
class PrefixFits:
    """Probes on prefixes of one ranking, sharing its standardisation (training statistics)."""

    top: np.ndarray  # the first max(k) neurons of the ranking
    mean: np.ndarray
    scale: np.ndarray
    solved: list[tuple[np.ndarray, float]]  # (coef, intercept) per k, standardised units
    fits: list[SparseFit]
    train_logits: np.ndarray  # [n_train, n_ks]

    def decisions(self, X: np.ndarray) -> np.ndarray:
        """Logits [n, n_ks] of every probe on activations X [n, d]."""
        return _logits(
            standardize(np.take(X, self.top, axis=1), self.mean, self.scale), self.solved
        )


def _logits(Z: np.ndarray, solved: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """Logits in the units the solver used: no cancellation between raw-unit terms."""
    return np.stack([Z[:, : len(c)] @ c.astype(Z.dtype) + b for c, b in solved], 1).astype(float)


def fit_ranked(
    X: np.ndarray, y: np.ndarray, order: np.ndarray, ks: list[int], backend: str, C: float
) -> PrefixFits:
    """Fit one probe per k on the top-k neurons of `order`, standardised by training statistics.

    `backend` must already be resolved (see backends.resolve_backend). Batched backends solve every
    k in one call; the others fit k by k, so each row's time is its own.
    """
    top = np.asarray(order[: max(ks)])
    X_top = np.take(X, top, axis=1)  # np.take: several times faster than X[:, top] here
    mean, scale = fit_scaling(X_top)
    Z = standardize(X_top, mean, scale)
    del X_top
    if backend in BATCHED:
        start = time.perf_counter()
        solved = fit_prefixes(backend, Z, y, ks, C)
        seconds = [(time.perf_counter() - start) / len(ks)] * len(ks)
    else:
        solved, seconds = [], []
        for k in ks:
            start = time.perf_counter()
            solved += fit_prefixes(backend, Z, y, [k], C)
            seconds.append(time.perf_counter() - start)
    fits = []
    for k, (coef, intercept), sec in zip(ks, solved, seconds, strict=True):
        raw_coef, raw_intercept = to_raw_units(coef, intercept, mean[:k], scale[:k])
        fits.append(SparseFit(k, top[:k].copy(), raw_coef, raw_intercept, sec, {}))
    return PrefixFits(top, mean, scale, solved, fits, _logits(Z, solved))


def fit_method(
    X: np.ndarray, y: np.ndarray, method: str, ks: list[int], backend: str, C: float, seed: int
) -> list[PrefixFits]:
    """Fits for every k under `method`; each row's extras hold its selection time (and MIP
    certificate). Rankings are computed once and shared by every k; "optimal" solves one program
    per k and fits the same L2 probe on its support, so methods differ only in the neurons."""
    if method in PER_K_METHODS:
        groups = []
        for k in ks:
            start = time.perf_counter()
            sol = optimal_support(X, y, k, seed)
            seconds = time.perf_counter() - start
            group = fit_ranked(X, y, sol.support, [k], backend, C)
            group.fits[0].extra = {
                "rank_seconds": seconds,
                "mip_gap": sol.mip_gap,
                "mip_objective": sol.objective,
                "mip_status": sol.status,
            }
            groups.append(group)
        return groups
    start = time.perf_counter()
    order = rank_neurons(X, y, method, seed)
    seconds = time.perf_counter() - start
    group = fit_ranked(X, y, order, ks, backend, C)
    for fit in group.fits:
        fit.extra = {"rank_seconds": seconds}
    return [group]
