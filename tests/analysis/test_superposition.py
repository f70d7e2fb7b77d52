"""Superposition by depth, on inputs whose answer is known: a sparse-built layer, crowded weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import superposition as sp


def rows_for(model: str, n_layers: int, k90_of_layer) -> pd.DataFrame:
    """Result rows whose F1 curve at each layer saturates exactly at k90_of_layer(layer)."""
    out = []
    for layer in range(n_layers):
        k90 = k90_of_layer(layer)
        for feature in ("a", "b", "c"):
            for k in (1, 2, 4, 8, 16, 32):
                out.append({"model": model, "layer": layer, "feature": feature,
                            "method": "mean_diff", "k": k, "f1": 0.95 if k >= k90 else 0.5})  # fmt: skip
    return pd.DataFrame(out)


def test_a_layer_built_to_need_more_neurons_shows_in_k90_and_the_first_quarter():
    # pythia-70m has 6 layers: layers 0 and 1 (relative depth 0, 0.2) are the first quarter
    results = rows_for("pythia-70m", 6, lambda layer: 16 if layer < 2 else 1)
    layers = sp.by_layer(sp.probing_sparsity(results))
    assert layers.set_index("layer")["k90_median"].tolist() == [16, 16, 1, 1, 1, 1]
    assert np.allclose(layers["gain_1_16"], [0.45, 0.45, 0, 0, 0, 0])
    quarter = sp.first_quarter(layers, ["log2_k90_mean"]).iloc[0]
    assert quarter["early_layers"] == 2
    assert quarter["first_quarter"] == 4.0 and quarter["rest"] == 0.0
    assert quarter["difference"] == 4.0


def test_the_first_quarter_per_collection_keeps_collections_apart():
    """One collection built sparse early, one the same at every depth: per collection, only the
    first shows a first-quarter difference; pooled, both are mixed."""
    early = rows_for("pythia-70m", 6, lambda layer: 16 if layer < 2 else 1).assign(collection="a")
    flat = rows_for("pythia-70m", 6, lambda layer: 4).assign(collection="b")
    sparsity = sp.probing_sparsity(pd.concat([early, flat]))
    keys = ("model", "collection")
    quarter = sp.first_quarter(sp.by_layer(sparsity, keys), ["log2_k90_mean"], keys)
    diff = quarter.set_index("collection")["difference"]
    assert diff["a"] == 4.0 and diff["b"] == 0.0
    assert set(quarter["model"]) == {"pythia-70m"}


def test_rotation_controls_are_left_out():
    real = rows_for("pythia-70m", 6, lambda layer: 1)
    control = real.assign(method="mean_diff+rotated", f1=0.1)
    table = sp.probing_sparsity(pd.concat([real, control]))
    assert set(table["method"]) == {"mean_diff"}


def test_cli_writes_tables_and_plots(tmp_path, capsys):
    from probing.results import METRICS, RESULTS_FILE

    run = tmp_path / "run"
    run.mkdir()
    rows = rows_for("pythia-70m", 6, lambda layer: 8 if layer == 0 else 2)
    rows = rows.assign(collection="x", category="text_source", backend="sklearn")
    rows["support"] = [list(range(k)) for k in rows["k"]]
    for metric in METRICS:
        rows[metric] = rows.get(metric, rows["f1"])
    rows.to_json(run / RESULTS_FILE, orient="records", lines=True)
    assert sp.main([str(run), "-o", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "log2_k90" in printed and "first_quarter" in printed and "ci_low" in printed
    names = ("sparsity_by_layer.csv", "first_quarter.csv", "first_quarter_by_collection.csv",
             "sparsity_by_depth.png")  # fmt: skip
    for name in names:
        assert (tmp_path / "out" / name).stat().st_size > 100


def write_run(run, rows: pd.DataFrame) -> None:
    from probing.results import METRICS, RESULTS_FILE

    run.mkdir()
    rows = rows.assign(collection="x", category="text_source", backend="sklearn")
    rows["support"] = [list(range(k)) for k in rows["k"]]
    for metric in METRICS:
        rows[metric] = rows.get(metric, rows["f1"])
    rows.to_json(run / RESULTS_FILE, orient="records", lines=True)


def test_cli_weights_come_from_the_case_study_that_loads_the_models(tmp_path, capsys):
    """analysis loads no model: --weights runs probing.case_studies.weights and reads its CSV."""
    write_run(tmp_path / "run", rows_for("tiny-pythia", 2, lambda layer: 4 if layer == 0 else 1))
    assert sp.main([str(tmp_path / "run"), "--weights", "-o", str(tmp_path / "out")]) == 0
    weights = pd.read_csv(tmp_path / "out" / "weights_by_layer.csv")
    assert weights["model"].tolist() == ["tiny-pythia"] * 2 and weights["layer"].tolist() == [0, 1]
    quarter = pd.read_csv(tmp_path / "out" / "first_quarter.csv")
    assert {"out_interference", "in_out_cosine", "out_effective_dims"} <= set(quarter["statistic"])
    assert (tmp_path / "out" / "weights_by_depth.png").stat().st_size > 100


def noisy_rows(model, n_layers, k90_of_layer, n_features, seed):
    """rows_for with n_features features whose k90 wanders by a factor of 2 around the layer's."""
    rng = np.random.default_rng(seed)
    out = []
    for layer in range(n_layers):
        for feature in range(n_features):
            k90 = k90_of_layer(layer) * 2 ** int(rng.integers(-1, 2))
            for k in (1, 2, 4, 8, 16, 32, 64):
                out.append({"model": model, "layer": layer, "feature": f"f{feature}",
                            "collection": "x", "method": "mean_diff", "k": k,
                            "f1": 0.95 if k >= k90 else 0.5})  # fmt: skip
    return pd.DataFrame(out)


def test_the_first_quarter_difference_has_an_interval_and_a_verdict():
    # smollm2-135m: 30 layers, the first 8 are the first quarter
    sparse_early = noisy_rows("smollm2-135m", 30, lambda la: 16 if la < 8 else 2, 12, seed=0)
    table = sp.first_quarter(sp.probing_sparsity(sparse_early), ["log2_k90", "gain_1_16"])
    k90 = table.set_index("statistic").loc["log2_k90"]
    assert k90["early_layers"] == 8 and k90["n_features"] == 12
    assert k90["ci_low"] < k90["difference"] < k90["ci_high"]
    assert 2.5 < k90["ci_low"] and k90["ci_high"] < 3.5  # log2(16) - log2(2) = 3
    assert k90["verdict"] == "as the paper"
    dense_early = noisy_rows("smollm2-135m", 30, lambda la: 2 if la < 8 else 16, 12, seed=1)
    table = sp.first_quarter(sp.probing_sparsity(dense_early), ["log2_k90"])
    assert table.iloc[0]["verdict"] == "against the paper"
    flat = noisy_rows("smollm2-135m", 30, lambda la: 4, 12, seed=2)
    row = sp.first_quarter(sp.probing_sparsity(flat), ["log2_k90"]).iloc[0]
    assert row["ci_low"] < 0 < row["ci_high"] and row["verdict"] == "inconclusive"


def test_the_interval_widens_with_fewer_features():
    def width(n_features):
        rows = noisy_rows("smollm2-135m", 30, lambda la: 4, n_features, seed=3)
        row = sp.first_quarter(sp.probing_sparsity(rows), ["log2_k90"]).iloc[0]
        return row["ci_high"] - row["ci_low"]

    assert width(3) > width(40)


def test_features_with_too_few_test_positives_can_be_left_out():
    rows = rows_for("m", 4, lambda layer: 2)
    rows["n_test_positive"] = rows["feature"].map({"a": 250, "b": 199, "c": 12})
    kept, dropped = sp.enough_test_positives(rows, 200)
    assert set(kept["feature"]) == {"a"} and dropped == 2 and len(kept) == len(rows) // 3
    none, dropped = sp.enough_test_positives(rows.drop(columns="n_test_positive"), 200)
    assert none.empty and dropped == 3  # rows that do not say are not counted as enough


def test_weights_are_asked_for_the_runs_not_their_hook_labels(tmp_path, monkeypatch):
    """--weights over a hook=sae run: the latents' label (model#sae) is no model to load; the
    weights are asked for the run, once (its model: tests/case_studies/test_weights.py)."""
    from analysis import superposition
    from tests.analysis.conftest import row, write_results

    rows = [row("tiny-pythia", "python", la, k, 0.5, list(range(k)), **extra)
            for la in (0, 1) for k in (1, 16) for extra in ({}, {"hook": "sae", "sae": "s"})]  # fmt: skip
    write_results(tmp_path / "run", rows)
    asked = []

    def weights(runs, path):
        asked.append(runs)
        return None  # as when the command fails: main stops there

    monkeypatch.setattr(superposition, "model_weights", weights)
    superposition.main([str(tmp_path / "run"), "--weights", "-o", str(tmp_path / "out")])
    assert asked == [[str(tmp_path / "run")]]


def test_weights_are_those_of_the_revision_probed(tmp_path, monkeypatch):
    """One revision in the report labels its rows by the plain name; the weights, which the
    case study labels by checkpoint (that revision's), are labelled as the rows are."""
    from tests.analysis.conftest import row, write_results

    rows = [row("tiny-pythia", "python", la, k, 0.5, list(range(k)), revision="step1")
            for la in (0, 1) for k in (1, 16)]  # fmt: skip
    write_results(tmp_path / "run", rows)
    asked = []

    def weights(runs, path):  # the case study labels a run's weights by its checkpoint
        asked.append(runs)
        return pd.DataFrame({"model": ["tiny-pythia@step1"] * 2, "layer": [0, 1],
                             "rel_depth": [0.0, 1.0], "out_interference": [1.0, 2.0],
                             "in_out_cosine": [0.1, 0.2], "out_effective_dims": [3.0, 4.0]})  # fmt: skip

    monkeypatch.setattr(sp, "model_weights", weights)
    assert sp.main([str(tmp_path / "run"), "--weights", "-o", str(tmp_path / "out")]) == 0
    assert asked == [[str(tmp_path / "run")]]
    quarter = pd.read_csv(tmp_path / "out" / "first_quarter.csv")
    assert set(quarter["model"]) == {"tiny-pythia"}


# tiny-pythia reshaped: 3 layers of 32 dims and 48 neurons (conf/model/tiny-pythia.yaml: 2, 64, 256)
RESHAPED = ["model.config.num_hidden_layers=3", "model.config.hidden_size=32",
            "model.config.intermediate_size=48"]  # fmt: skip


def test_weights_are_those_of_the_model_the_run_probed(tmp_path):
    """A run of tiny-pythia with model.config overrides and seed=3: its weights are the
    reshaped, seed-3 model's (3 layers, 48 neurons in 32 dims), not conf/model's default."""
    from probing.case_studies.weights import model_weight_stats
    from probing.models import load_model
    from tests.analysis.conftest import saved_run

    run = saved_run(tmp_path, "run", [*RESHAPED, "seed=3"], "random-seed3", n_layers=3)
    assert sp.main([str(run), "--weights", "-o", str(tmp_path / "out")]) == 0
    weights = pd.read_csv(tmp_path / "out" / "weights_by_layer.csv")
    assert weights["layer"].tolist() == [0, 1, 2]
    config = {"num_hidden_layers": 3, "hidden_size": 32, "intermediate_size": 48}
    probed = load_model(
        "t", "random_gpt_neox", config=config, device="cpu", dtype="float32", seed=3
    )
    expected = model_weight_stats(probed.bridge, "tiny-pythia")
    for stat in ("out_norm_mean", "in_norm_mean", "out_effective_dims", "out_interference"):
        assert np.allclose(weights[stat], expected[stat], rtol=1e-5), stat


def test_weights_are_those_of_the_seed_the_run_probed(tmp_path):
    """seed=3 alone (tiny-pythia's shapes): the weights are the seed-3 draw's, whose statistics
    differ from the seed-0 draw's that conf/model alone would give."""
    from probing.case_studies.weights import model_weights_table
    from tests.analysis.conftest import saved_run

    run = saved_run(tmp_path, "run", ["seed=3"], "random-seed3", n_layers=2)
    assert sp.main([str(run), "--weights", "-o", str(tmp_path / "out")]) == 0
    weights = pd.read_csv(tmp_path / "out" / "weights_by_layer.csv")
    seed3, seed0 = (model_weights_table(["tiny-pythia"], seed=s) for s in (3, 0))
    assert np.allclose(weights["out_norm_mean"], seed3["out_norm_mean"], rtol=1e-5)
    assert not np.allclose(weights["out_norm_mean"], seed0["out_norm_mean"], rtol=1e-5)


def test_one_layer_on_a_side_of_the_weights_gives_no_interval_and_no_verdict():
    """Weight statistics have one value a layer: with one layer in the first quarter (a 2- to
    4-layer model) the bootstrap has nothing to resample there, its interval is the difference
    itself, and any difference read "as the paper". Two layers a side do give an interval."""
    two = pd.DataFrame({"model": "m", "layer": [0, 1], "rel_depth": [0.0, 1.0],
                        "out_interference": [0.1011, 0.0993]})  # fmt: skip
    row = sp.first_quarter(two, ["out_interference"]).iloc[0]
    assert row["difference"] > 0 and np.isnan(row["ci_low"]) and np.isnan(row["ci_high"])
    assert row["verdict"] == "inconclusive"
    eight = pd.DataFrame({"model": "m", "layer": range(8), "rel_depth": np.arange(8) / 7,
                          "out_interference": [0.30, 0.31, 0.10, 0.11, 0.12, 0.10, 0.11, 0.12]})  # fmt: skip
    row = sp.first_quarter(eight, ["out_interference"]).iloc[0]
    assert row["ci_low"] > 0 and row["verdict"] == "as the paper"


def test_best_f1_of_a_layer_is_not_the_maximum_of_test_f1s():
    """best_f1 is the test F1 of the k validation chooses, not the largest of the k sweep's
    test F1s (which overstated a flat 0.7 by ~0.06)."""
    from tests.analysis.test_tables import noisy_flat_curves

    sparsity = sp.probing_sparsity(noisy_flat_curves())
    assert abs(sparsity["best_f1"].mean() - 0.7) < 0.015


def null_verdicts(n_layers: int, n_features: int, n_sims: int, n_boot: int, seed: int = 0):
    """The share of `n_sims` draws with no first-quarter difference at all (each layer's level
    and each feature's drawn alike at every depth, plus noise) that get a verdict other than
    "inconclusive": a 95% interval should leave it near 5%."""
    rng = np.random.default_rng(seed)
    verdicts = 0
    for sim in range(n_sims):
        layer = rng.normal(0, 1.0, n_layers)[:, None]
        feature = rng.normal(0, 0.5, n_features)[None, :]
        noise = rng.normal(0, 1.0, (n_layers, n_features)) if n_features > 1 else 0.0
        values = layer + feature + noise
        table = pd.DataFrame(
            [{"model": "m", "layer": la, "rel_depth": la / (n_layers - 1), "feature": f"f{f}",
              "collection": "", "x": values[la, f]}
             for la in range(n_layers) for f in range(n_features)]
        )  # fmt: skip
        if n_features == 1:  # one value a layer, as weight statistics have
            table = table.drop(columns=["feature", "collection"])
        row = sp.first_quarter(table, ["x"], n_boot=n_boot, seed=sim).iloc[0]
        verdicts += row["verdict"] != "inconclusive"
    return verdicts / n_sims


def test_with_one_value_a_layer_no_difference_rarely_gets_a_verdict():
    """8 layers (2 in the first quarter), one value each, no difference: the percentile bootstrap
    of two layers read a verdict on ~30% of draws; the interval holds its 95%."""
    assert null_verdicts(8, 1, n_sims=300, n_boot=200) <= 0.08


@pytest.mark.slow
def test_with_features_no_difference_rarely_gets_a_verdict():
    """6 layers (2 in the first quarter) x 20 features, no difference: ~10% got a verdict."""
    assert null_verdicts(6, 20, n_sims=300, n_boot=200, seed=1) <= 0.07
