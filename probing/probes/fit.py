"""From a ranking to fitted k-sparse probes in raw activation units, for any backend."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .backends import BATCHED, fit_prefixes, fit_stack
from .columns import take_columns
from .optimal import optimal_support
from .ranking import rank_neurons
from .scaling import fit_standardize, standardize, to_raw_units

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
        return self.decisions_at_top(take_columns(X, self.top))

    def decisions_at_top(self, X_top: np.ndarray) -> np.ndarray:
        """decisions, given the activations at the top neurons only ([n, len(top)])."""
        return _logits(standardize(X_top, self.mean, self.scale), self.solved)


def _logits(Z: np.ndarray, solved: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """Logits in the units the solver used (no cancellation between raw-unit terms), of every
    probe at once: Z [n, >= max k] @ the coefficients stacked into a [max k, n_ks] matrix, zero
    below each probe's k."""
    width = max(len(c) for c, _ in solved)
    coefs = np.zeros((width, len(solved)), dtype=Z.dtype)
    for j, (c, _) in enumerate(solved):
        coefs[: len(c), j] = c
    intercepts = np.array([b for _, b in solved])
    return (Z[:, :width] @ coefs).astype(float) + intercepts


@dataclass
class Ranked:
    """One feature's training split cut to the first max(ks) neurons of its ranking and
    standardised by its own statistics: what every k of its sweep fits on."""

    top: np.ndarray  # neuron indices, best first
    mean: np.ndarray
    scale: np.ndarray
    Z: np.ndarray  # [n_train, len(top)] float32


def standardize_top(X: np.ndarray, order: np.ndarray, width: int) -> Ranked:
    """The first `width` neurons of `order`, standardised by their training statistics."""
    top = np.asarray(order[:width])
    return standardize_columns(top, take_columns(X, top))


def standardize_columns(top: np.ndarray, X_top: np.ndarray) -> Ranked:
    """Ranked from the training activations at neurons `top` ([n_train, len(top)])."""
    Z, mean, scale = fit_standardize(X_top)
    return Ranked(top, mean, scale, Z)


def _prefix_fits(
    ranked: Ranked, ks: list[int], solved: list[tuple[np.ndarray, float]], seconds: list[float]
) -> PrefixFits:
    """Package solved (standardised) problems as raw-unit SparseFits on one ranking."""
    top, mean, scale = ranked.top, ranked.mean, ranked.scale
    fits = []
    for k, (coef, intercept), sec in zip(ks, solved, seconds, strict=True):
        raw_coef, raw_intercept = to_raw_units(coef, intercept, mean[:k], scale[:k])
        fits.append(SparseFit(k, top[:k].copy(), raw_coef, raw_intercept, sec, {}))
    return PrefixFits(top, mean, scale, solved, fits, _logits(ranked.Z, solved))


def fit_ranked(
    X: np.ndarray, y: np.ndarray, order: np.ndarray, ks: list[int], backend: str, C: float
) -> PrefixFits:
    """Fit one probe per k on the top-k neurons of `order`, standardised by training statistics.

    `backend` must already be resolved (see backends.resolve_backend). Batched backends solve every
    k in one call; the others fit k by k, so each row's time is its own.
    """
    ranked = standardize_top(X, order, max(ks))
    if backend in BATCHED:
        start = time.perf_counter()
        solved = fit_prefixes(backend, ranked.Z, y, ks, C)
        seconds = [(time.perf_counter() - start) / len(ks)] * len(ks)
    else:
        solved, seconds = [], []
        for k in ks:
            start = time.perf_counter()
            solved += fit_prefixes(backend, ranked.Z, y, [k], C)
            seconds.append(time.perf_counter() - start)
    return _prefix_fits(ranked, ks, solved, seconds)


def fit_stacked(
    ranked: list[Ranked], ys: list[np.ndarray], ks: list[int], backend: str, C: float
) -> list[PrefixFits]:
    """fit_ranked for several features at once, on a batched backend: one solve for all
    features x ks (each row's time is an equal share of it)."""
    start = time.perf_counter()
    solved = fit_stack(backend, [r.Z for r in ranked], ys, ks, C)
    seconds = [(time.perf_counter() - start) / (len(ks) * len(ranked))] * len(ks)
    return [_prefix_fits(r, ks, s, seconds) for r, s in zip(ranked, solved, strict=True)]


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
