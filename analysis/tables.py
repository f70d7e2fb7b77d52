"""Derived tables the plots and the report show: best neurons, sparsity, k=1 F1 by depth.

Each is a plain DataFrame so a user can print, filter or export it without the report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.models import model_info, order_models, relative_depth
from probing.results import baseline_medians, best_rows


def neuron_id(layer: int, neuron: int) -> str:
    """(layer, neuron) as TransformerLens-style "L12N345", the name used in every table."""
    return f"L{int(layer)}N{int(neuron)}"


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
    much of the feature one neuron carries. Layers and probes are chosen on validation F1 where
    the rows have it (probing.results.selection_column), and scored on test; f1_low / f1_high
    are the 95% bootstrap interval of f1_k1 (NaN for rows without one); f1_shuffled and
    f1_random the median F1 of that layer's label-shuffle and random-neuron refits at k=1 (NaN
    for runs without baselines).
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
        "f1_shuffled",
        "f1_random",
    ]
    rows = results if method is None else results[results["method"] == method]
    k1 = k1_scores(rows)
    if k1.empty:
        return pd.DataFrame(columns=columns)
    keys = ["model", "feature", "method"]
    best = best_rows(k1, keys).rename(columns={"f1": "f1_k1"})
    for side, column in (("low", "f1_ci_low"), ("high", "f1_ci_high")):
        best[f"f1_{side}"] = best[column] if column in best else float("nan")
    best = best.join(best_rows(rows, keys).set_index(keys)["f1"].rename("best_f1"), on=keys)
    best = best.assign(**baseline_medians(best))
    return best[columns].sort_values(["feature", "model", "method"]).reset_index(drop=True)


def smallest_k(ks: np.ndarray, f1: np.ndarray, fraction: float) -> int:
    """The smallest k whose F1 reaches `fraction` of the best F1 over all k."""
    order = np.argsort(ks)
    ks, f1 = np.asarray(ks)[order], np.nan_to_num(np.asarray(f1, dtype=float)[order])
    return int(ks[np.argmax(f1 >= fraction * f1.max())])


def densest_layer(rows: pd.DataFrame) -> int:
    """The layer with the highest F1 over k; ties (common: several layers reach 1.0) go to the
    highest mean F1 over the k sweep, the layer that carries the feature best overall."""
    by_layer = rows.groupby("layer")["f1"].agg(["max", "mean"])
    return int(by_layer.sort_values(["max", "mean"], ascending=False).index[0])


def sparsity(results: pd.DataFrame, fraction: float = 0.9) -> pd.DataFrame:
    """Per model, feature and method: how many neurons it takes to reach `fraction` of max F1.

    Measured at the layer that encodes the feature best (`densest_layer`), so a shallow, noisy
    layer does not decide it. Models are ordered smallest first.
    """
    columns = ["feature", "model", "method", "layer", "max_f1", "k_at_fraction", "fraction"]
    if results.empty:
        return pd.DataFrame(columns=columns)
    out = []
    for (model, feature, method), group in results.groupby(["model", "feature", "method"]):
        layer = densest_layer(group)
        layer_max = group.groupby("layer")["f1"].max()
        curve = group[group["layer"] == layer]
        k = smallest_k(curve["k"].to_numpy(), curve["f1"].to_numpy(), fraction)
        out.append((feature, model, method, layer, float(layer_max.max()), k, fraction))
    table = pd.DataFrame(out, columns=columns)
    rank = {m: i for i, m in enumerate(order_models(list(table["model"].unique()), results))}
    table = table.assign(_rank=table["model"].map(rank))
    return (
        table.sort_values(["feature", "method", "_rank"])
        .drop(columns="_rank")
        .reset_index(drop=True)
    )


def top_neurons(results: pd.DataFrame, per_feature: int = 5) -> pd.DataFrame:
    """The `per_feature` highest-F1 single neurons per model and feature, over all layers."""
    k1 = k1_scores(results).sort_values("f1", ascending=False)
    top = k1.groupby(["model", "feature", "method"], sort=False).head(per_feature)
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
    return (
        top[columns]
        .sort_values(["feature", "model", "f1"], ascending=[True, True, False])
        .reset_index(drop=True)
    )
