"""Controls: the random rotation removes what is special about neurons; the dense probe reads all."""

import numpy as np

from probing.probes import sweep_k
from probing.probes.controls import random_rotation


def test_rotation_is_orthogonal_and_seeded():
    Q = random_rotation(64, seed=3)
    assert np.allclose(Q.T @ Q, np.eye(64), atol=1e-5)
    assert np.array_equal(Q, random_rotation(64, seed=3))
    assert not np.allclose(Q, random_rotation(64, seed=4))


def test_rotation_destroys_single_neuron_localisation():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1000)
    X = rng.standard_normal((1000, 200)).astype(np.float32)
    X[:, 42] = y + 0.2 * rng.standard_normal(1000)
    args = (X[:800], y[:800], X[800:], y[800:])
    neurons = sweep_k(*args, ks=[1, 200])
    rotated = sweep_k(*args, ks=[1, 200], rotate=True)
    assert neurons[0]["support"] == [42] and neurons[0]["f1"] > 0.95
    assert rotated[0]["f1"] < 0.8
    assert rotated[0]["rotated"] and not neurons[0]["rotated"]
    # the dense probe sees the same information in either basis
    assert abs(neurons[1]["f1"] - rotated[1]["f1"]) < 0.05


def test_dense_appends_all_neurons(planted):
    X, y, _ = planted
    X = X[:, :50]
    rows = sweep_k(X[:800], y[:800], X[800:], y[800:], ks=[1, 2], dense=True)
    assert [r["k"] for r in rows] == [1, 2, 50]
    assert sorted(rows[-1]["support"]) == list(range(50))
    assert [
        r["k"] for r in sweep_k(X[:800], y[:800], X[800:], y[800:], ks=[1, 50], dense=True)
    ] == [1, 50]
