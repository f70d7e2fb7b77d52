import math

import pandas as pd
import pytest

from probing.results import REQUIRED_COLUMNS, ResultWriter, read_results, summarize


def row(feature, layer, k, f1, support):
    base = {c: 0.5 for c in REQUIRED_COLUMNS}
    base.update(
        model="m",
        feature=feature,
        collection="c",
        category="cat",
        layer=layer,
        method="mean_diff",
        backend="sklearn",
        k=k,
        f1=f1,
        support=support,
    )
    return base


def test_rows_round_trip_and_summary_picks_best_layer_at_k1(tmp_path):
    writer = ResultWriter(tmp_path / "run")
    writer.write([row("a", 0, 1, 0.6, [3]), row("a", 0, 2, 0.95, [3, 4])])
    writer.write([row("a", 1, 1, 0.8, [7]), row("a", 1, 2, 0.9, [7, 1])])
    writer.write([{**row("b", 0, 1, 0.7, [2]), "roc_auc": math.nan}])
    results = read_results(tmp_path)
    assert len(results) == 5 and list(results.loc[0, "support"]) == [3]
    assert pd.isna(results.loc[4, "roc_auc"])  # NaN survives as a missing value
    summary = summarize(results).set_index("feature")
    assert summary.loc["a", "layer"] == 1 and summary.loc["a", "neuron"] == 7
    assert summary.loc["a", "f1_k1"] == 0.8 and summary.loc["a", "best_f1"] == 0.95
    assert summary.loc["b", "neuron"] == 2


def test_row_without_required_columns_is_refused(tmp_path):
    with pytest.raises(ValueError, match="lacks"):
        ResultWriter(tmp_path).write([{"model": "m"}])


def test_a_rerun_job_rewrites_its_rows_instead_of_duplicating_them(tmp_path):
    ResultWriter(tmp_path).write([row("a", 0, 1, 0.6, [3])])
    ResultWriter(tmp_path).write([row("a", 0, 1, 0.6, [3])])  # the requeued job
    assert len(read_results(tmp_path)) == 1
