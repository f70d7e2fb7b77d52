"""Label-shuffle and random-support refits: chance and an arbitrary neuron beside each probe."""

import numpy as np
import pytest

from probing.probes import probe_layer, sweep_k
from probing.probes.baselines import Baselines, draw
from probing.splits import split_by_document


@pytest.fixture(scope="module")
def layer():
    """Feature "a" is neuron 3 alone (plus noise); "b" needs neurons 10 and 11."""
    rng = np.random.default_rng(7)
    n, d = 1000, 120
    H = rng.standard_normal((n, d))
    X = np.log1p(np.exp(H)).astype(np.float32)
    groups = np.arange(n) // 4
    labels = {
        "a": (H[:, 3] + 0.3 * rng.standard_normal(n) > 0).astype(np.int64),
        "b": (H[:, 10] - H[:, 11] + 0.5 * rng.standard_normal(n) > 0.8).astype(np.int64),
    }
    splits = {
        f: split_by_document(y, groups, 0.2, 0.2, seed=i) for i, (f, y) in enumerate(labels.items())
    }
    return X, labels, splits


@pytest.mark.parametrize("backend", ["torch", "sklearn"])
def test_a_dedicated_neuron_stands_above_chance_and_random_neurons(layer, backend):
    X, labels, splits = layer
    base = Baselines(ks=(1,), label_shuffles=4, random_supports=12)
    rows = probe_layer(X, labels, splits, [1, 4], backend=backend, baselines=base)
    k1 = rows["a"][0]
    assert k1["support"] == [3] and k1["f1"] > 0.85
    assert len(k1["shuffle_f1"]) == 4 and len(k1["random_f1"]) == 12
    assert len(k1["random_support"]) == 12 and all(len(s) == 1 for s in k1["random_support"])
    # noise labels: the pipeline finds nothing (F1 of a coin flip on a balanced split ~ 0.5)
    assert max(k1["shuffle_f1"]) < 0.65
    # a random neuron is not neuron 3 (almost surely), and carries little of the feature
    draws = [s[0] for s in k1["random_support"]]
    assert np.median([f for s, f in zip(draws, k1["random_f1"], strict=True) if s != 3]) < 0.65
    assert "shuffle_f1" not in rows["a"][1]  # k=4 was not asked for


def test_random_support_scores_are_those_of_a_probe_on_those_neurons(layer):
    """Each random draw is a real fit: the same F1 as sweep_k on exactly those columns."""
    X, labels, splits = layer
    rows = probe_layer(
        X, labels, splits, [2], backend="sklearn",
        baselines=Baselines(ks=(2,), label_shuffles=0, random_supports=3),
    )  # fmt: skip
    train, _, test = splits["b"]
    y = labels["b"]
    for support, score in zip(
        rows["b"][0]["random_support"], rows["b"][0]["random_f1"], strict=True
    ):
        alone = sweep_k(
            X[train][:, support], y[train], X[test][:, support], y[test], [2], backend="sklearn"
        )
        assert score == pytest.approx(alone[0]["f1"], abs=1e-9)


def test_draws_do_not_depend_on_the_other_features_of_the_layer(layer):
    X, labels, splits = layer
    base = Baselines(ks=(1,), label_shuffles=2, random_supports=5)
    both = probe_layer(X, labels, splits, [1], backend="torch", baselines=base)
    alone = probe_layer(X, labels, {"b": splits["b"]}, [1], backend="torch", baselines=base)
    assert both["b"][0]["random_support"] == alone["b"][0]["random_support"]
    for key in ("shuffle_f1", "random_f1"):
        assert both["b"][0][key] == pytest.approx(alone["b"][0][key], abs=1e-6)
    other_seed = probe_layer(X, labels, {"b": splits["b"]}, [1], seed=1, baselines=base)
    assert other_seed["b"][0]["random_support"] != alone["b"][0]["random_support"]


def test_the_shuffle_permutes_labels_and_keeps_their_counts():
    y = np.array([0, 0, 0, 1, 1, 0, 1, 0, 0, 0])
    a, b = draw(0, "x", 1, 0, 0).permutation(y), draw(0, "x", 1, 0, 1).permutation(y)
    assert a.sum() == b.sum() == y.sum()
    assert not np.array_equal(a, b)
    assert np.array_equal(a, draw(0, "x", 1, 0, 0).permutation(y))


def test_no_baselines_adds_no_fields_and_negative_counts_are_refused(layer):
    X, labels, splits = layer
    rows = probe_layer(
        X, labels, splits, [1], baselines=Baselines(label_shuffles=0, random_supports=0)
    )
    assert "shuffle_f1" not in rows["a"][0]
    with pytest.raises(ValueError, match="label_shuffles"):
        Baselines(label_shuffles=-1)
