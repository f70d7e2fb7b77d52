"""The paper's other rankings recover planted neurons where the raw mean difference cannot."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from probing.probes import rank_neurons, selection, sweep_k
from probing.probes.l1_logistic import L1Logistic

MODEL_FREE = ["f_stat", "mi"]
MODEL_BASED = ["l1", "svm", "adaptive_threshold", "telescopic"]


@pytest.fixture(scope="module")
def scaled_combination():
    """Three planted neurons among 400, every neuron rescaled by 10^U(-2, 2)."""
    rng = np.random.default_rng(0)
    n, d = 1200, 400
    H = rng.standard_normal((n, d))
    planted = np.array([3, 150, 399])
    y = (H[:, planted].sum(1) + 0.3 * rng.standard_normal(n) > 0).astype(np.int64)
    X = (H * 10 ** rng.uniform(-2, 2, d)).astype(np.float32)
    return X, y, planted


@pytest.mark.parametrize("method", MODEL_FREE + MODEL_BASED)
def test_scale_free_rankings_find_the_planted_neurons(scaled_combination, method):
    X, y, planted = scaled_combination
    order = rank_neurons(X, y, method)
    assert np.array_equal(np.sort(order), np.arange(X.shape[1]))
    assert set(order[:3]) == set(planted)


def test_raw_mean_difference_is_fooled_by_scale(scaled_combination):
    X, y, planted = scaled_combination
    assert set(rank_neurons(X, y, "mean_diff")[:3]) != set(planted)


@pytest.mark.parametrize(
    "method", ["l1", "svm", "adaptive_threshold", "telescopic", "mi", "f_stat"]
)
def test_every_ranking_runs_in_a_sweep(scaled_combination, method):
    X, y, _ = scaled_combination
    rows = sweep_k(X[:900], y[:900], X[900:], y[900:], ks=[3], method=method, backend="torch")
    assert rows[0]["f1"] > 0.85 and rows[0]["method"] == method


def test_constant_neurons_rank_last_under_f_stat(scaled_combination):
    X, y, _ = scaled_combination
    X = X.copy()
    X[:, 7] = 2.5
    assert rank_neurons(X, y, "f_stat")[-1] == 7


def test_mi_subsample_keeps_a_rare_class(monkeypatch):
    rng = np.random.default_rng(0)
    y = (rng.random(5000) < 0.02).astype(np.int64)
    X = rng.standard_normal((5000, 30)).astype(np.float32)
    X[:, 11] += 3 * y
    monkeypatch.setattr(selection, "MI_SAMPLES", 500)
    assert rank_neurons(X, y, "mi")[0] == 11


def test_telescopic_orders_only_the_cheap_shortlist(scaled_combination, monkeypatch):
    X, y, _ = scaled_combination
    monkeypatch.setattr(selection, "TELESCOPE_KEEP", 10)
    order, cheap = rank_neurons(X, y, "telescopic"), rank_neurons(X, y, "f_stat")
    assert set(order[:10]) == set(cheap[:10])
    assert np.array_equal(order[10:], cheap[10:])


def test_l1_solver_matches_liblinear():
    """Same objective as scikit-learn's L1 logistic regression: C = 1 / (lam * n)."""
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((600, 20)).astype(np.float32)
    y = (Z[:, 0] - 0.7 * Z[:, 1] + 0.5 * rng.standard_normal(600) > 0.4).astype(np.int64)
    problem, lam = L1Logistic(Z, y), 0.01
    w, b = problem.fit(lam, torch.zeros(20), 0.0, problem.lam_max())
    ref = LogisticRegression(
        l1_ratio=1.0,
        solver="liblinear",
        C=1 / (lam * 600),
        class_weight="balanced",
        intercept_scaling=1e4,
        tol=1e-8,
        max_iter=10_000,
    ).fit(Z, y)
    assert np.allclose(w.numpy(), ref.coef_[0], atol=5e-3)
    assert set(np.flatnonzero(np.abs(ref.coef_[0]) > 1e-3)) <= set(np.flatnonzero(w.numpy()))
    assert b == pytest.approx(ref.intercept_[0], abs=5e-3)
