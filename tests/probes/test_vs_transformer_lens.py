"""Our k sweep solves TransformerLens's sparse-probe problem (same split, ranking, objective)."""

import numpy as np
import pytest

from benchmarks.probe_sweep import synthetic_activations
from benchmarks.vs_transformer_lens import transformer_lens_sweep
from probing.probes import sweep_k

pytest.importorskip("transformer_lens.tools.analysis.sparse_probing")


@pytest.mark.parametrize("C", [1.0, 0.05])
def test_same_supports_and_f1_as_transformer_lens(C):
    X, y, _ = synthetic_activations(600, 64, seed=2)
    ks = [1, 2, 3, 8, 16, 64]
    theirs = transformer_lens_sweep(X, y, ks, C, seed=0)
    train = theirs.results[0].train_indices.numpy()
    test = theirs.results[0].test_indices.numpy()
    ours = sweep_k(X[train], y[train], X[test], y[test], ks, backend="torch", C=C)
    for row, result in zip(ours, theirs.results, strict=True):
        assert sorted(row["support"]) == sorted(result.selected_features.tolist())
        assert row["f1"] == pytest.approx(result.metrics.f1, abs=0.005), row["k"]
        # the same optimum: TransformerLens's coefficients are on standardised neurons
        raw = result.coefficients.numpy() / result.preprocess_scale.numpy()
        theirs_by_neuron = dict(zip(result.selected_features.tolist(), raw, strict=True))
        mine = np.array(row["coef"])
        other = np.array([theirs_by_neuron[n] for n in row["support"]])
        assert np.abs(mine - other).max() <= 2e-3 * np.abs(other).max(), row["k"]
