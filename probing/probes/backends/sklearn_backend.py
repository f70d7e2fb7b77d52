"""Reference backend: one scikit-learn LogisticRegression (lbfgs, L2, balanced) per k."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression


def fit_prefixes(
    Z: np.ndarray,
    y: np.ndarray,
    ks: list[int],
    C: float = 1.0,
    *,
    tol: float = 1e-4,
    max_iter: int = 1000,
) -> list[tuple[np.ndarray, float]]:
    """Fit one probe per k on prefixes of the ranked, standardised Z; (coef [k], intercept) per k."""
    fits = []
    for k in ks:
        model = LogisticRegression(
            C=C, class_weight="balanced", solver="lbfgs", tol=tol, max_iter=max_iter
        ).fit(Z[:, :k], y)
        fits.append((model.coef_[0].astype(np.float64), float(model.intercept_[0])))
    return fits
