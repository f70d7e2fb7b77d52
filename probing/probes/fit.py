"""From a ranking to fitted k-sparse probes in raw activation units, for any backend."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .backends import BATCHED, fit_prefixes
from .scaling import fit_scaling, standardize, to_raw_units


@dataclass
class SparseFit:
    """One fitted k-sparse probe: decision = X[:, support] @ coef + intercept (raw units)."""

    k: int
    support: np.ndarray  # neuron indices, in rank order
    coef: np.ndarray  # [k], raw activation units
    intercept: float
    seconds: float  # wall time of this fit (an equal share of the solve for batched backends)

    def decision(self, X: np.ndarray) -> np.ndarray:
        """Logits [n] of the probe on activations X [n, d]."""
        return X[:, self.support].astype(np.float64) @ self.coef + self.intercept


def fit_ranked(
    X: np.ndarray, y: np.ndarray, order: np.ndarray, ks: list[int], backend: str, C: float
) -> list[SparseFit]:
    """Fit one probe per k on the top-k neurons of `order`, standardised by training statistics.

    `backend` must already be resolved (see backends.resolve_backend). Batched backends solve every
    k in one call; the others fit k by k, so each row's time is its own.
    """
    top = order[: max(ks)]
    mean, scale = fit_scaling(X[:, top])
    Z = standardize(X[:, top], mean, scale)
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
        fits.append(SparseFit(k, top[:k].copy(), raw_coef, raw_intercept, sec))
    return fits
