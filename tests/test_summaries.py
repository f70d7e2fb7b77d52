"""Every "best" is chosen on validation and reported on test, by every table; significance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.aggregate import finalize
from analysis.dynamics import scale_dynamics
from analysis.tables import best_neurons, sparsity
from analysis.tables import top_neurons as report_top_neurons
from probing.case_studies.ablate import best_k1
from probing.loggers import summary_metrics
from probing.loggers import top_neurons as wandb_top_neurons
from probing.summaries import benjamini_hochberg, format_summary, summarize, with_significance
from tests.analysis.conftest import row

KS = (1, 2, 4, 8)


def layer_rows(model, feature, layer, test, val, neuron, **extra):
    """One layer's k sweep with test F1 `test[k]` and validation F1 `val[k]`."""
    return [
        row(
            model,
            feature,
            layer,
            k,
            test[i],
            support=[neuron] if k == 1 else list(range(k)),
            val_f1=val[i],
            **extra,
        )
        for i, k in enumerate(KS)
    ]


@pytest.fixture
def lucky_on_test() -> pd.DataFrame:
    """Layer 1 is lucky on test (high test F1, poor validation F1); layer 2 is the one
    validation chooses. A table that picks on test picks layer 1."""
    rows = []
    for model in ("pythia-70m", "pythia-160m"):
        rows += layer_rows(
            model, "python", 1, (0.95, 0.96, 0.97, 0.98), (0.5, 0.55, 0.6, 0.6), neuron=11
        )
        rows += layer_rows(
            model, "python", 2, (0.7, 0.8, 0.9, 0.92), (0.9, 0.92, 0.95, 0.96), neuron=22
        )
    return finalize(pd.DataFrame(rows))


def test_no_table_picks_on_test(lucky_on_test):
    results = lucky_on_test
    summary = summarize(results)
    assert set(summary["layer"]) == {2} and set(summary["neuron"]) == {22}
    assert set(summary["f1_k1"]) == {0.7}  # reported on test
    assert set(summary["best_f1"]) == {0.92}  # the best k of the validation-chosen layer
    assert set(summary["selected_on"]) == {"val_f1"}

    best = best_neurons(results)
    assert set(best["layer"]) == {2} and set(best["best_f1"]) == {0.92}

    table = sparsity(results, fraction=0.9)
    assert set(table["layer"]) == {2}
    assert set(table["k_at_fraction"]) == {4}  # 0.9 * 0.92 first reached at k=4 on test

    one_model = results[results["model"] == "pythia-70m"]
    metrics = summary_metrics(one_model, summarize(one_model))
    assert metrics["best_layer/python"] == 2 and metrics["k90/python"] == 4

    assert wandb_top_neurons(one_model).iloc[0]["layer"] == 2
    assert set(report_top_neurons(results, per_feature=1)["layer"]) == {2}
    assert best_k1(one_model, None, 0)["layer"].tolist() == [2]

    dynamics = scale_dynamics(results)
    assert dynamics.iloc[0]["k1_f1"] == [0.7, 0.7]


def test_rows_without_validation_fall_back_to_test_and_say_so(lucky_on_test):
    results = lucky_on_test.drop(columns="val_f1")
    summary = summarize(results)
    assert set(summary["layer"]) == {1} and set(summary["selected_on"]) == {"f1"}
    assert "chosen on test F1" in format_summary(summary)


def test_benjamini_hochberg_matches_the_step_up_rule():
    p = np.array([0.01, 0.04, 0.03, 0.2, np.nan])
    adjusted = benjamini_hochberg(p)
    # sorted 0.01, 0.03, 0.04, 0.2: p * 4 / rank = 0.04, 0.06, 0.053, 0.2, then step-up minima
    assert adjusted[:4] == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert np.isnan(adjusted[4])
    assert (adjusted[:4] >= p[:4]).all()
    one_strong = benjamini_hochberg([0.005] + [0.6] * 9)
    assert one_strong[0] == pytest.approx(0.05)


def test_a_feature_that_is_not_significant_after_correction_is_marked():
    rows = []
    for feature, p, f1 in (("strong", 0.005, 0.9), ("weak", 0.04, 0.45), ("none", 0.5, 0.3)):
        rows += layer_rows(
            "m",
            feature,
            0,
            (f1, f1, f1, f1),
            (f1, f1, f1, f1),
            neuron=1,
            p_value=p,
            null_f1=[0.3] * 10,
            chance_f1=0.33,
        )
    summary = summarize(finalize(pd.DataFrame(rows))).set_index("feature")
    assert summary.loc["strong", "significant"]
    # weak: 0.04 alone would pass 0.05; among 3 features BH gives 0.06
    assert summary.loc["weak", "p_adjusted"] == pytest.approx(0.06)
    assert not summary.loc["weak", "significant"] and not summary.loc["none", "significant"]
    text = format_summary(summary.reset_index())
    assert text.count("not significant") == 3  # two rows and the legend
    assert summary.loc["strong", "f1_null"] == 0.3 and summary.loc["strong", "f1_chance"] == 0.33


def test_significance_is_corrected_per_run_not_across_runs():
    best = pd.DataFrame(
        {"model": ["a", "a", "b"], "collection": "x", "method": "m", "p_value": [0.03, 0.5, 0.03]}
    )
    out = with_significance(best)
    assert out["p_adjusted"].tolist() == pytest.approx([0.06, 0.5, 0.03])
    assert out["significant"].tolist() == [False, False, True]


def test_k90_is_measured_against_the_k_validation_chooses():
    """Test F1 peaks at k=8 by luck; validation prefers k=4. The bar for k90 is 0.9 of the
    chosen k's test F1 (0.7), first reached at k=4, not 0.9 of the lucky 1.0 (k=8)."""
    from probing.summaries import curve_k_at_fraction

    curve = pd.DataFrame(
        layer_rows("m", "f", 0, (0.5, 0.6, 0.7, 1.0), (0.5, 0.6, 0.9, 0.7), neuron=1)
    )
    assert curve_k_at_fraction(curve, 0.9) == 4
    assert curve_k_at_fraction(curve.drop(columns="val_f1"), 0.9) == 8  # no validation


def test_a_run_without_k1_says_why_its_single_neuron_table_is_empty():
    """A header over no rows read as "no neuron found" when probe.ks simply had no 1."""
    rows = pd.DataFrame(
        [row("m", "f", layer, k, 0.8, support=list(range(k)), val_f1=0.7) for layer in (0, 1)
         for k in (2, 4)]
    )  # fmt: skip
    summary = summarize(rows)
    assert summary.empty
    assert "needs 1 in probe.ks" in format_summary(summary)
