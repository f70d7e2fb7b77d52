"""Standardisation by training statistics, so every backend solves the same well-conditioned problem.

Activations of different neurons differ in scale by orders of magnitude; an unscaled L2 logistic
regression then depends on units and converges slowly. Probes fit on z = (x - mean) / scale and
report coefficients mapped back to raw activation units.
"""

from __future__ import annotations

import numpy as np


def fit_scaling(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron mean and std of X [n, d] (float64 accumulators, no float64 copy of X);
    constant (dead) neurons get scale 1 so they stay 0."""
    mean, scale, _ = _moments(X)
    return mean, scale


def _moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """fit_scaling's mean and scale, and the centred X (in X's dtype) they came from."""
    mean = X.mean(axis=0, dtype=np.float64)
    centered = X - mean.astype(X.dtype)
    scale = np.sqrt(np.einsum("ij,ij->j", centered, centered, dtype=np.float64) / X.shape[0])
    scale[scale < 1e-12 * max(1.0, float(np.abs(mean).max(initial=0.0)))] = 1.0
    return mean, scale, centered


def fit_standardize(X: np.ndarray, dtype=np.float32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(standardize(X, mean, scale, dtype), mean, scale) with fit_scaling's mean and scale: the
    same values, the centred copy that fit_scaling makes reused (one pass over X fewer)."""
    mean, scale, centered = _moments(X)
    if centered.dtype != dtype:  # standardize would round X to dtype before centring
        return standardize(X, mean, scale, dtype), mean, scale
    centered /= scale.astype(dtype)
    return centered, mean, scale


def standardize(X: np.ndarray, mean: np.ndarray, scale: np.ndarray, dtype=np.float32) -> np.ndarray:
    """(X - mean) / scale in `dtype`, computed in that dtype without float64 temporaries."""
    Z = np.asarray(X, dtype=dtype) - mean.astype(dtype)
    Z /= scale.astype(dtype)
    return Z


def to_raw_units(
    coef: np.ndarray, intercept: float, mean: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, float]:
    """Map w, b fitted on standardised neurons to raw units: w·z + b == w_raw·x + b_raw."""
    coef_raw = np.asarray(coef, dtype=np.float64) / scale
    return coef_raw, float(intercept - coef_raw @ mean)
