"""Optimal sparse probing: exact where greedy rankings are not, with a certificate."""

import numpy as np
import pytest

from probing.probes import SparseProbe, rank_neurons, sweep_k
from probing.probes import optimal as optimal_module
from probing.probes.optimal import optimal_support


@pytest.fixture(scope="module")
def complementary_pair():
    """y depends on b - c where b and c share a large nuisance: alone, c says nothing and b little,
    so rankings pick the decoy a; together b and c classify almost perfectly."""
    rng = np.random.default_rng(0)
    n = 400
    t = rng.standard_normal(n)
    y = (t > 0).astype(np.int64)
    nuisance = 3 * rng.standard_normal(n)
    X = rng.standard_normal((n, 10))
    X[:, 2] = nuisance + t  # b
    X[:, 7] = nuisance  # c
    X[:, 5] = 0.8 * t + rng.standard_normal(n)  # a: the best single neuron
    return X.astype(np.float32), y


@pytest.fixture(autouse=True)
def small_program(monkeypatch):
    monkeypatch.setattr(optimal_module, "MAX_EXAMPLES", 200)
    monkeypatch.setattr(optimal_module, "TIME_LIMIT", 10.0)


def test_optimal_finds_the_pair_that_rankings_miss(complementary_pair):
    X, y = complementary_pair
    assert set(rank_neurons(X, y, "f_stat")[:2]) != {2, 7}
    sol = optimal_support(X, y, 2)
    assert set(sol.support.tolist()) == {2, 7}
    assert sol.status == "optimal" and sol.mip_gap == pytest.approx(0.0, abs=1e-6)


def test_optimal_k1_is_the_best_single_neuron(complementary_pair):
    X, y = complementary_pair
    assert optimal_support(X, y, 1).support.tolist() == [5]


def test_optimal_in_probe_and_sweep(complementary_pair):
    X, y = complementary_pair
    probe = SparseProbe(k=2, method="optimal", backend="torch").fit(X[:300], y[:300])
    assert set(probe.support_.tolist()) == {2, 7} and probe.mip_gap_ == pytest.approx(0, abs=1e-6)
    assert probe.score(X[300:], y[300:]) > 0.9
    rows = sweep_k(X[:300], y[:300], X[300:], y[300:], ks=[1, 2], method="optimal")
    assert [len(r["support"]) for r in rows] == [1, 2]
    assert all(r["mip_status"] == "optimal" and r["mip_gap"] <= 1e-6 for r in rows)
    assert rows[1]["f1"] > rows[0]["f1"] + 0.1


def test_padding_follows_the_f_statistic():
    """Neuron 8 alone separates the classes, so the program needs one neuron for k=2; the second
    is the strongest remaining by F statistic (neuron 9), not the lowest index."""
    rng = np.random.default_rng(0)
    n = 200
    y = np.tile([0, 1], n // 2)
    X = rng.standard_normal((n, 10))
    X[:, 8] = y  # hinge loss 0 with w = 1: any second neuron only adds L1 cost
    X[:, 9] = 0.7 * y + rng.standard_normal(n)  # informative, but far from separating
    assert rank_neurons(X, y, "f_stat")[:2].tolist() == [8, 9]
    sol = optimal_support(X.astype(np.float32), y, 2)
    assert sol.support.tolist() == [8, 9]
    assert sol.objective == pytest.approx(optimal_module.LAM)  # |w_8| = 1, nothing else


def test_time_limit_returns_incumbent_with_gap(monkeypatch):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 40)).astype(np.float32)
    y = (X[:, :8].sum(1) + 2 * rng.standard_normal(200) > 0).astype(np.int64)
    monkeypatch.setattr(optimal_module, "TIME_LIMIT", 0.3)
    sol = optimal_support(X, y, 5)
    assert len(sol.support) == 5 and len(set(sol.support.tolist())) == 5
    assert sol.status == "optimal" or sol.mip_gap > 0


def test_optimal_is_not_a_ranking(complementary_pair):
    X, y = complementary_pair
    with pytest.raises(ValueError, match="not a ranking"):
        rank_neurons(X, y, "optimal")
