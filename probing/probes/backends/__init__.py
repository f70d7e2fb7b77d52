"""Fitting backends. Each fits one L2, class-balanced logistic regression per k on prefixes of the
ranked, standardised activations, `fit_prefixes(Z, y, ks, C) -> [(coef [k], intercept), ...]`,
so every backend solves the same problem and their results can be compared k by k."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import cuml_backend, sklearn_backend, torch_backend

FitPrefixes = Callable[..., list[tuple[np.ndarray, float]]]
BACKENDS: dict[str, FitPrefixes] = {
    "sklearn": sklearn_backend.fit_prefixes,
    "torch": torch_backend.fit_prefixes,
    "cuml": cuml_backend.fit_prefixes,
}
BATCHED = {"torch"}  # backends that fit every k of a sweep, and several features, in one call


def resolve_backend(name: str) -> str:
    """The backend `name` stands for; unknown names fail with the valid choices.

    "auto" is torch: on CUDA when present, else on CPU with each solve on one thread and the
    features of a layer solved in parallel (torch_backend.SOLVE_THREADS). The rule comes from
    benchmarks/backend_choice.py (2 shared CPU cores, N in {2000, 8000, 20000} x d in {1024,
    8192}): at the same accuracy (tolerance 1e-6) torch is the fastest in every cell, by 1.6-6.9x
    over scikit-learn; scikit-learn at its looser default (1e-4) is still slower at d=1024 and at
    N=2000, and faster by 1.2-1.5x only at N >= 8000, d=8192, with 4 ks and F1 up to 0.05 from
    the converged fit. torch on torch's thread count (as before) was the slowest everywhere.
    auto never picks cuML, which is opt-in.
    """
    if name == "auto":
        return "torch"
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {['auto', *BACKENDS]}")
    if name == "cuml" and not cuml_backend.available():
        raise ImportError(cuml_backend.INSTALL_HINT)
    return name


def fit_prefixes(backend: str, Z: np.ndarray, y: np.ndarray, ks: list[int], C: float):
    """Dispatch to a resolved backend."""
    return BACKENDS[backend](Z, y, ks, C)


def fit_stack(backend: str, Zs: list[np.ndarray], ys: list[np.ndarray], ks: list[int], C: float):
    """The sweeps of several features in one solve, on a batched backend: per feature, the
    (coef, intercept) per k that fit_prefixes gives."""
    if backend not in BATCHED:
        raise ValueError(f"backend {backend!r} fits one problem at a time; batched: {BATCHED}")
    return torch_backend.fit_stack(Zs, ys, ks, C)
