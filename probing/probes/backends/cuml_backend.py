"""GPU backend on RAPIDS cuML, imported lazily: most machines (and CI) do not have it."""

from __future__ import annotations

import importlib.util

import numpy as np

INSTALL_HINT = (
    "backend='cuml' needs RAPIDS cuML on a CUDA machine: pip install 'probing[gpu]' "
    "(cuml-cu12), or use the docker/Dockerfile.gpu image; backend='torch' also runs on GPU"
)


def available() -> bool:
    """True when cuml can be imported here (checked without importing it)."""
    return importlib.util.find_spec("cuml") is not None


def fit_prefixes(
    Z: np.ndarray,
    y: np.ndarray,
    ks: list[int],
    C: float = 1.0,
    *,
    tol: float = 1e-4,
    max_iter: int = 1000,
) -> list[tuple[np.ndarray, float]]:
    """One cuML LogisticRegression (qn solver, L2, balanced) per k on the GPU."""
    try:
        from cuml.linear_model import LogisticRegression
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    fits = []
    for k in ks:
        model = LogisticRegression(
            C=C,
            penalty="l2",
            class_weight="balanced",
            tol=tol,
            max_iter=max_iter,
            output_type="numpy",
        ).fit(np.ascontiguousarray(Z[:, :k]), y.astype(np.float32))
        coef = np.asarray(model.coef_, dtype=np.float64).reshape(-1)
        fits.append((coef, float(np.asarray(model.intercept_).reshape(-1)[0])))
    return fits
