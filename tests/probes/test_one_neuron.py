"""k=1 problems (the baselines' refits) solved by Newton's method are scikit-learn's problems."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from probing.probes.backends import torch_backend


def reference(Z, y, C):
    model = LogisticRegression(C=C, class_weight="balanced", tol=1e-12, max_iter=10000)
    model.fit(Z[:, :1], y)
    return model.coef_[0, 0], model.intercept_[0]


@pytest.mark.parametrize("C", [1.0, 0.05])
def test_stacked_one_neuron_fits_are_sklearns_balanced_l2_logistic_regression(C):
    """Splits of different lengths (zero-weight padding), imbalance, a neuron that separates
    the classes (the penalty alone bounds its weight), a dead neuron (weight 0). At tol 1e-10
    (in float64, as Newton solves) the minimiser to 1e-6; at the default tol the gradient
    bound allows |g| / curvature ~1e-5, checked against L-BFGS below."""
    rng = np.random.default_rng(4)
    Zs, ys = [], []
    for n in (120, 400, 250, 300, 90):
        Z = rng.standard_normal((n, 3))
        ys.append((Z[:, 0] + rng.standard_normal(n) > 1.0).astype(int))
        Zs.append(Z)
    Zs[2][:, 0] = np.where(ys[2] > 0, 1.0, -1.0) + 0.05 * rng.standard_normal(250)
    Zs[3][:, 0] = 0.0
    fits = torch_backend.fit_stack(Zs, ys, [1], C=C, device="cpu", tol=1e-10)
    for Z, y, ((coef, intercept),) in zip(Zs, ys, fits, strict=True):
        w, b = reference(Z, y, C)
        assert coef.shape == (1,)
        assert coef[0] == pytest.approx(w, abs=1e-6)
        assert intercept == pytest.approx(b, abs=1e-6)
    assert fits[3][0][0][0] == pytest.approx(0.0, abs=1e-9)


def test_a_k1_sweep_and_the_k1_problem_of_a_longer_sweep_agree():
    """Newton (ks=[1]) and the batched L-BFGS (k=1 among other ks) stop within one
    tolerance of the same minimiser."""
    rng = np.random.default_rng(5)
    Z = rng.standard_normal((500, 8)).astype(np.float32)
    y = (Z[:, 0] - 0.5 * Z[:, 1] + rng.standard_normal(500) > 0.7).astype(int)
    ((alone,),) = torch_backend.fit_stack([Z], [y], [1], device="cpu")
    ((first, _),) = torch_backend.fit_stack([Z], [y], [1, 8], device="cpu")
    assert alone[0][0] == pytest.approx(first[0][0], abs=1e-4)
    assert alone[1] == pytest.approx(first[1], abs=1e-4)


def test_newton_stopped_early_warns():
    rng = np.random.default_rng(6)
    Z = rng.standard_normal((300, 1))
    y = (Z[:, 0] + rng.standard_normal(300) > 0).astype(int)
    with pytest.warns(ConvergenceWarning, match=r"k=\[1\]"):
        torch_backend.fit_stack([Z], [y], [1], device="cpu", max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        torch_backend.fit_stack([Z], [y], [1], device="cpu")
