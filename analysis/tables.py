"""Derived tables the plots and the report show: best neurons, sparsity, k=1 F1 by depth.

Each is a plain DataFrame so a user can print, filter or export it without the report.
"""

from __future__ import annotations

import pandas as pd

from analysis.models import model_info, order_models, relative_depth
from probing import summaries
from probing.summaries import (
    best_rows,
    chance_columns,
    curve_best_f1,
    k_at_fraction,
    neuron_id,
    smallest_k,
)

__all__ = ["best_neurons", "k1_scores", "neuron_id", "smallest_k", "sparsity", "top_neurons"]


def with_depth(results: pd.DataFrame) -> pd.DataFrame:
    """Adds n_layers and rel_depth (0 = first layer, 1 = last) per row."""
    n_layers = {m: model_info(m, results).n_layers for m in results["model"].unique()}
    out = results.assign(n_layers=results["model"].map(n_layers))
    out["rel_depth"] = [
        relative_depth(la, n) for la, n in zip(out["layer"], out["n_layers"], strict=True)
    ]
    return out


def k1_scores(results: pd.DataFrame) -> pd.DataFrame:
    """Every k=1 row (one neuron per model x feature x layer x method), with its neuron id."""
    k1 = with_depth(results[results["k"] == 1])
    neuron = k1["support"].map(lambda s: int(s[0]))
    return k1.assign(
        neuron=neuron,
        neuron_id=[neuron_id(la, n) for la, n in zip(k1["layer"], neuron, strict=True)],
    )


def best_neurons(results: pd.DataFrame, method: str | None = None) -> pd.DataFrame:
    """Per model, feature and method: the layer whose single best neuron (k=1) scores highest.

    best_f1 is the test F1 of the best probe over every k and layer, so f1_k1 / best_f1 says how
    much of the feature one neuron carries. Layers and probes are chosen on validation F1
    (probing.summaries) and scored on test; f1_low / f1_high are the 95% bootstrap interval of
    f1_k1; f1_null and p_value the permutation null's median F1 and p-value (its choice of layer
    included where null_chooses_layer, see summaries.with_chosen_nulls), p_adjusted and
    significant its Benjamini-Hochberg correction over the features of each run, f1_chance the
    F1 of calling everything positive, f1_random the median F1 of random neurons of the layer
    (NaN where the rows have none).
    """
    columns = [
        "feature",
        "collection",
        "model",
        "method",
        "layer",
        "rel_depth",
        "neuron",
        "neuron_id",
        "f1_k1",
        "f1_low",
        "f1_high",
        "best_f1",
        *summaries.CHANCE_COLUMNS,
    ]
    rows = results if method is None else results[results["method"] == method]
    k1 = k1_scores(rows)
    if k1.empty:
        return pd.DataFrame(columns=columns)
    keys = ["model", "feature", "method"]
    best = best_rows(k1, keys)
    best = summaries.with_chosen_nulls(best.assign(**chance_columns(best)), k1, keys)
    best = best.rename(columns={"f1": "f1_k1"})
    for side, column in (("low", "f1_ci_low"), ("high", "f1_ci_high")):
        best[f"f1_{side}"] = best[column] if column in best else float("nan")
    best = best.join(best_rows(rows, keys).set_index(keys)["f1"].rename("best_f1"), on=keys)
    best = summaries.with_significance(best)
    return best[columns].sort_values(["feature", "model", "method"]).reset_index(drop=True)


def sparsity(results: pd.DataFrame, fraction: float = 0.9) -> pd.DataFrame:
    """Per model, feature and method: how many neurons it takes to reach `fraction` of max F1.

    Measured at the layer that encodes the feature best, chosen on validation
    (probing.summaries.best_layer), on that layer's test F1 curve; max_f1 is that layer's best
    F1, the test F1 of the k validation chooses (the bar k90 is read against; not the largest
    test F1, which overstates it). Models are ordered smallest first.
    """
    columns = ["feature", "model", "method", "layer", "max_f1", "k_at_fraction", "fraction"]
    if results.empty:
        return pd.DataFrame(columns=columns)
    out = []
    for (model, feature, method), group in results.groupby(["model", "feature", "method"]):
        layer, k = k_at_fraction(group, fraction)
        layer_max = curve_best_f1(group[group["layer"] == layer])
        out.append((feature, model, method, layer, layer_max, k, fraction))
    table = pd.DataFrame(out, columns=columns)
    rank = {m: i for i, m in enumerate(order_models(list(table["model"].unique()), results))}
    table = table.assign(_rank=table["model"].map(rank))
    return (
        table.sort_values(["feature", "method", "_rank"])
        .drop(columns="_rank")
        .reset_index(drop=True)
    )


def top_neurons(results: pd.DataFrame, per_feature: int = 5) -> pd.DataFrame:
    """The `per_feature` best single neurons per model and feature over all layers: ordered by
    validation F1 (probing.summaries.top_neurons), test F1 shown."""
    top = with_depth(summaries.top_neurons(results, per_feature))
    columns = [
        "feature",
        "model",
        "method",
        "layer",
        "neuron",
        "neuron_id",
        "f1",
        "precision",
        "recall",
        "rel_depth",
    ]
    ordered = top.sort_values(["feature", "model"], kind="stable")  # best first within each
    return ordered[columns].reset_index(drop=True)
