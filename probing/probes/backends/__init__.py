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
BATCHED = {"torch"}  # backends that fit every k of a sweep in one call
CPU_DEFAULT = "torch"  # measured by benchmarks/probe_sweep.py: batched L-BFGS beats one fit per k


def resolve_backend(name: str) -> str:
    """The backend `name` stands for: "auto" is torch (on CUDA when present, else the fastest CPU
    choice); it never picks cuML, which is opt-in. Unknown names fail with the valid choices."""
    if name == "auto":
        return "torch" if torch_backend.default_device() == "cuda" else CPU_DEFAULT
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {['auto', *BACKENDS]}")
    if name == "cuml" and not cuml_backend.available():
        raise ImportError(cuml_backend.INSTALL_HINT)
    return name


def fit_prefixes(backend: str, Z: np.ndarray, y: np.ndarray, ks: list[int], C: float):
    """Dispatch to a resolved backend."""
    return BACKENDS[backend](Z, y, ks, C)
