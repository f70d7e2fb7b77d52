"""probe_layer (every feature x k of a layer in one batched solve) must give sweep_k's rows."""

import numpy as np
import pytest
import torch

from probing.probes import probe_layer, rank_neurons, sweep_k
from probing.probes.backends import torch_backend
from probing.probes.metrics import bootstrap_weights, f1_interval, f1_intervals
from probing.splits import split_by_document

KS = [1, 2, 5, 16, 64, 200]


@pytest.fixture(scope="module")
def layer():
    """Three features of one layer: different neurons, balance and splits (so different n_train,
    and the stacked solve pads the shorter ones)."""
    rng = np.random.default_rng(3)
    n, d = 1200, 200
    H = rng.standard_normal((n, d))
    X = (np.log1p(np.exp(H)) * 10.0 ** rng.uniform(-0.2, 0.2, d)).astype(np.float32)
    groups = np.arange(n) // 4
    labels = {
        "a": (H[:, 3] + 0.5 * rng.standard_normal(n) > 0.5).astype(np.int64),
        "b": (H[:, 10] - H[:, 11] + 0.8 * rng.standard_normal(n) > 1.2).astype(np.int64),
        "c": (H[:, :6].sum(1) + rng.standard_normal(n) > 0).astype(np.int64),
    }
    splits = {
        f: split_by_document(y, groups, 0.2, 0.2, seed=i) for i, (f, y) in enumerate(labels.items())
    }
    assert len({len(s[0]) for s in splits.values()}) > 1  # the stack really pads
    return X, labels, splits, groups


def per_feature(X, labels, splits, groups, **kw):
    out = {}
    for f, (train, val, test) in splits.items():
        y = labels[f]
        out[f] = sweep_k(
            X[train], y[train], X[test], y[test], KS,
            X_val=X[val], y_val=y[val], test_groups=groups[test], **kw,
        )  # fmt: skip
    return out


@pytest.mark.parametrize("backend", ["torch", "sklearn"])
def test_layer_rows_are_sweep_k_rows(layer, backend):
    X, labels, splits, groups = layer
    batched = probe_layer(X, labels, splits, KS, backend=backend, groups=groups)
    alone = per_feature(X, labels, splits, groups, backend=backend)
    assert list(batched) == list(splits)
    for f in splits:
        assert [r["k"] for r in batched[f]] == KS
        for b, a in zip(batched[f], alone[f], strict=True):
            assert b["support"] == a["support"], (f, a["k"])
            for key in ("f1", "train_f1", "val_f1", "f1_ci_low", "f1_ci_high", "accuracy"):
                assert b[key] == pytest.approx(a[key], abs=1e-6), (f, a["k"], key)
            # AUCs rank the logits: two nearly tied test examples may swap between two fits
            # that both meet the solver's tolerance
            assert b["roc_auc"] == pytest.approx(a["roc_auc"], abs=1e-3), (f, a["k"])
            coef_a, coef_b = np.array(a["coef"]), np.array(b["coef"])
            assert np.abs(coef_a - coef_b).max() <= 1e-3 * np.abs(coef_a).max(), (f, a["k"])
            assert b["backend"] == a["backend"] == backend


def test_features_are_not_mixed_up(layer):
    """Each feature's rows come from its own labels and split: its k=1 neuron is the one its
    training split ranks first, and that differs between features."""
    X, labels, splits, groups = layer
    rows = probe_layer(X, labels, splits, [1], backend="torch")
    firsts = {}
    for f, (train, _, _) in splits.items():
        firsts[f] = int(rank_neurons(X[train], labels[f][train])[0])
        assert rows[f][0]["support"] == [firsts[f]]
    assert len(set(firsts.values())) == 3
    assert rows["a"][0]["support"] == [3] and rows["a"][0]["f1"] > 0.7


def test_stacked_solve_equals_solving_each_feature_alone():
    """Padding rows carry no weight and every feature keeps its own n, class weights and
    penalty: in float64 at a tight tolerance the stacked optimum is each feature's own."""
    rng = np.random.default_rng(0)
    Zs, ys = [], []
    for n in (300, 420, 250):
        Z = rng.standard_normal((n, 30))
        ys.append((Z[:, 0] + Z[:, 1] + rng.standard_normal(n) > 0.8).astype(int))
        Zs.append(Z)
    opts = {"dtype": torch.float64, "tol": 1e-9, "max_iter": 5000}
    stacked = torch_backend.fit_stack(Zs, ys, [2, 10, 30], C=0.3, workers=1, **opts)
    threaded = torch_backend.fit_stack(Zs, ys, [2, 10, 30], C=0.3, workers=2, **opts)
    for Z, y, fits, fits_threaded in zip(Zs, ys, stacked, threaded, strict=True):
        alone = torch_backend.fit_prefixes(Z, y, [2, 10, 30], C=0.3, **opts)
        for (c, b), (c1, b1), (c2, b2) in zip(fits, alone, fits_threaded, strict=True):
            assert np.allclose(c, c1, atol=1e-6) and b == pytest.approx(b1, abs=1e-6)
            assert np.allclose(c, c2, atol=1e-6) and b == pytest.approx(b2, abs=1e-6)


def test_intervals_of_all_ks_at_once_match_one_at_a_time():
    """The vectorised bootstrap of a sweep equals the per-probe computation written out naively
    (documents in any order, several probes)."""
    rng = np.random.default_rng(2)
    groups = rng.permutation(np.arange(300) // 3)  # documents interleaved, not sorted
    y = rng.integers(0, 2, 300)
    preds = rng.integers(0, 2, (300, 5))
    W, index = bootstrap_weights(groups, 500, 0)
    lows, highs = f1_intervals(y, preds, (W, index))
    for j in range(5):
        counts = [
            W @ np.bincount(index, weights=m.astype(float), minlength=W.shape[1])
            for m in (y & preds[:, j], (1 - y) & preds[:, j], y & (1 - preds[:, j]))
        ]
        tp, fp, fn = (c.astype(float) for c in counts)
        f1s = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
        assert (lows[j], highs[j]) == pytest.approx(np.percentile(f1s, [2.5, 97.5]), abs=1e-12)
        assert f1_interval(y, preds[:, j], (W, index)) == (lows[j], highs[j])
