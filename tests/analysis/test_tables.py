"""Derived tables on known curves: best neurons, sparsity, model order, relative depth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.aggregate import finalize
from analysis.models import model_info, order_models, relative_depth
from analysis.plots import depth_columns
from analysis.tables import best_neurons, k1_scores, neuron_id, smallest_k, sparsity, top_neurons
from tests.analysis.conftest import curve, row


@pytest.fixture
def results(sweep_rows) -> pd.DataFrame:
    return finalize(pd.DataFrame(sweep_rows))


def test_neuron_ids_name_layer_and_neuron():
    assert neuron_id(12, 345) == "L12N345"


def test_best_neurons_pick_the_layer_of_the_best_single_neuron(results):
    best = best_neurons(results)
    got = best[["feature", "model", "layer", "neuron_id", "f1_k1", "best_f1"]].values.tolist()
    assert got == [
        ["c", "pythia-160m", 0, "L0N7", 0.2, 0.85],
        ["c", "pythia-70m", 0, "L0N7", 0.2, 0.85],
        ["python", "pythia-160m", 5, "L5N345", 0.9, 1.0],
        ["python", "pythia-70m", 5, "L5N345", pytest.approx(0.72), 1.0],
    ]
    assert best["rel_depth"].tolist() == [0.0, 0.0, pytest.approx(5 / 11), 1.0]


def test_smallest_k_reaching_a_fraction_of_the_best_f1():
    assert smallest_k([8, 1, 2, 4], [1.0, 0.4, 0.5, 0.95], 0.9) == 4
    assert smallest_k([1, 2], [0.9, 1.0], 0.9) == 1
    assert smallest_k([1, 2, 4], [0.1, 0.2, 0.3], 1.0) == 4


def test_sparsity_is_read_at_the_best_layer_with_models_smallest_first(results):
    table = sparsity(results, fraction=0.9)
    got = table[["feature", "model", "layer", "max_f1", "k_at_fraction"]].values.tolist()
    assert got == [
        # c: layer 0 is best (0.85); 0.9 * 0.85 = 0.765 is first reached at k=4
        ["c", "pythia-70m", 0, 0.85, 4],
        ["c", "pythia-160m", 0, 0.85, 4],
        # python: layer 5; 0.9 * 1.0 reached at k=1 by 160m (0.9), at k=2 by 70m (0.72, 0.92)
        ["python", "pythia-70m", 5, 1.0, 2],
        ["python", "pythia-160m", 5, 1.0, 1],
    ]
    assert (sparsity(results, fraction=1.0)["k_at_fraction"] == 8).all()


def test_top_neurons_rank_every_layers_k1_neuron(results):
    top = top_neurons(results, per_feature=1)
    assert top[["feature", "model", "neuron_id"]].values.tolist() == [
        ["c", "pythia-160m", "L0N7"],
        ["c", "pythia-70m", "L0N7"],
        ["python", "pythia-160m", "L5N345"],
        ["python", "pythia-70m", "L5N345"],
    ]
    assert len(top_neurons(results, per_feature=5)) == 8  # 2 layers x 2 features x 2 models


def test_models_order_by_parameters_then_by_neurons():
    assert order_models(["pythia-1b", "smollm2-135m", "pythia-70m", "tiny-pythia"]) == [
        "tiny-pythia",
        "pythia-70m",
        "smollm2-135m",
        "pythia-1b",
    ]
    unknown = finalize(pd.DataFrame(curve("mystery", "python", 3, {1: 0.5})))
    assert model_info("mystery", unknown).n_layers == 4
    # an unknown model has no parameter count: everything is ordered by n_layers * d_mlp
    assert order_models(["pythia-1b", "mystery"], unknown) == ["mystery", "pythia-1b"]
    with pytest.raises(KeyError, match="nobody"):
        model_info("nobody")


def test_relative_depth_lines_up_models_of_different_depth():
    assert relative_depth(0, 30) == 0.0
    assert relative_depth(29, 30) == 1.0
    assert relative_depth(0, 1) == 0.0
    rows = []
    for layer in (0, 7, 14, 22, 29):  # smollm2-135m, layer=quartiles
        rows += curve("smollm2-135m", "python", layer, {1: 0.5})
    rows += curve("tiny-pythia", "python", 0, {1: 0.5}) + curve(
        "tiny-pythia", "python", 1, {1: 0.5}
    )
    k1 = k1_scores(finalize(pd.DataFrame(rows)))
    column, labels = depth_columns(k1)
    assert len(labels) == 5
    by_model = k1.assign(column=column.to_numpy()).groupby("model")["column"].apply(list)
    assert by_model["smollm2-135m"] == [0, 1, 2, 3, 4]
    assert by_model["tiny-pythia"] == [0, 4]


def test_a_model_config_states_depth_and_size(tmp_path, monkeypatch):
    from analysis import models

    (tmp_path / "custom.yaml").write_text(
        "config: {num_hidden_layers: 7}\nn_layers: ${.config.num_hidden_layers}\n"
        "d_mlp: 64\nn_params: 1000\n"
    )
    real = Path(models.__file__).resolve().parents[1] / "conf" / "model" / "pythia-70m.yaml"
    (tmp_path / "pythia-70m.yaml").write_text(real.read_text())  # the configs are the only home
    monkeypatch.setattr(models, "CONF_MODELS", tmp_path)
    models._configured.cache_clear()
    try:
        assert model_info("custom") == models.ModelInfo("custom", 7, 64, 1000)
        assert model_info("custom@step10").n_layers == 7
        assert order_models(["pythia-70m", "custom"]) == ["custom", "pythia-70m"]
    finally:
        models._configured.cache_clear()


def test_sparsity_breaks_ties_at_max_f1_by_the_mean_over_k():
    rows = curve("pythia-70m", "python", 0, {1: 0.2, 2: 0.3, 4: 1.0})
    rows += curve("pythia-70m", "python", 3, {1: 0.95, 2: 1.0, 4: 1.0})
    table = sparsity(finalize(pd.DataFrame(rows)), fraction=0.9)
    assert table[["layer", "k_at_fraction"]].values.tolist() == [[3, 1]]


def noisy_flat_curves(n_features: int = 150, seed: int = 0) -> pd.DataFrame:
    """Curves whose true F1 is 0.7 at every layer and k: validation and test F1 each that plus
    independent noise (sd 0.05), so any number above 0.7 on average is selection on test."""
    rng = np.random.default_rng(seed)
    rows = []
    for feature in range(n_features):
        for layer in range(3):
            for k in (1, 2, 4, 8, 16, 32):
                rows.append(row("pythia-70m", f"f{feature}", layer, k, 0.7 + rng.normal(0, 0.05),
                                val_f1=0.7 + rng.normal(0, 0.05)))  # fmt: skip
    return finalize(pd.DataFrame(rows))


def test_sparsity_max_f1_is_not_the_maximum_of_test_f1s():
    """max_f1 is the F1 k90 is read against: the test F1 of the k validation chooses, an
    unbiased estimate (the maximum of six noisy test F1s overstated it by ~0.06)."""
    table = sparsity(noisy_flat_curves(), fraction=0.9)
    assert abs(table["max_f1"].mean() - 0.7) < 0.015
