"""Superposition by depth: do early layers need more neurons per feature than later ones?

The paper's claim (Gurnee et al. 2023, sections 4-5): early layers represent features in
superposition, as sparse combinations of polysemantic neurons, and the first ~25% of layers do so
more than the rest. Two kinds of evidence, per layer:

- **probing sparsity** (from a run's rows, over every feature): `k90`, the smallest k whose test
  F1 reaches 0.9 of that layer's best F1 over k, and `gain_1_16`, F1 at k=16 minus F1 at k=1. A
  layer where single neurons suffice has k90 near 1 and a small gain; superposition shows as a
  larger k90 and a larger gain.
- **weight statistics** (from the model's MLP weights, TransformerLens W_in [d_model, d_mlp] and
  W_out [d_mlp, d_model]): `out_interference`, the mean |cosine| between the output weights of
  two neurons (sampled pairs): how crowded the neurons' write directions are in the residual
  stream; `in_out_cosine`, the mean cosine between a neuron's input and output weights; and
  `out_effective_dims`, the participation ratio of W_out's singular values (how many residual
  dimensions its neurons really span).

`first_quarter` states each as one number: its mean over the first 25% of layers (by relative
depth) minus its mean over the rest, and their ratio.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.tables import smallest_k, with_depth

QUARTER = 0.25


def probing_sparsity(results: pd.DataFrame, fraction: float = 0.9) -> pd.DataFrame:
    """Per model, layer and feature: k90 and gain_1_16 (see the module docstring), with the
    layer's relative depth. Rotation controls are left out."""
    rows = results[~results["method"].astype(str).str.endswith("+rotated")]
    if "collection" not in rows:
        rows = rows.assign(collection="")
    out = []
    for (model, layer, collection, feature, method), group in rows.groupby(
        ["model", "layer", "collection", "feature", "method"]
    ):
        f1 = group.set_index("k")["f1"].astype(float)
        gain = f1.get(16, np.nan) - f1.get(1, np.nan)
        k90 = smallest_k(group["k"].to_numpy(), group["f1"].to_numpy(), fraction)
        out.append((model, int(layer), collection, feature, method, k90, gain, float(f1.max())))
    columns = ["model", "layer", "collection", "feature", "method", "k90", "gain_1_16", "best_f1"]
    table = pd.DataFrame(out, columns=columns)
    return with_depth(table) if len(table) else table


def by_layer(sparsity: pd.DataFrame, keys: tuple[str, ...] = ("model",)) -> pd.DataFrame:
    """Per model (and any other `keys`, e.g. collection) and layer, over features: the median k90
    and the mean gain_1_16."""
    return (
        sparsity.groupby([*keys, "layer"])
        .agg(
            rel_depth=("rel_depth", "first"),
            k90_median=("k90", "median"),
            log2_k90_mean=("k90", lambda k: float(np.log2(k).mean())),
            gain_1_16=("gain_1_16", "mean"),
            n_features=("feature", "nunique"),
        )
        .reset_index()
    )


def weight_stats(W_in: np.ndarray, W_out: np.ndarray, pairs: int = 20000, seed: int = 0) -> dict:
    """One layer's statistics from W_in [d_model, d_mlp] and W_out [d_mlp, d_model]."""
    W_in, W_out = np.asarray(W_in, np.float64), np.asarray(W_out, np.float64)
    out_unit = W_out / np.maximum(np.linalg.norm(W_out, axis=1, keepdims=True), 1e-12)
    in_unit = W_in / np.maximum(np.linalg.norm(W_in, axis=0, keepdims=True), 1e-12)
    rng = np.random.default_rng(seed)
    d_mlp = W_out.shape[0]
    i, j = rng.integers(0, d_mlp, pairs), rng.integers(0, d_mlp, pairs)
    keep = i != j
    interference = np.abs((out_unit[i[keep]] * out_unit[j[keep]]).sum(1)).mean()
    s = np.linalg.svd(W_out, compute_uv=False)
    return {
        "out_interference": float(interference),
        "in_out_cosine": float((in_unit.T * out_unit).sum(1).mean()),
        "out_effective_dims": float(s.sum() ** 2 / (s**2).sum()),
        "out_norm_mean": float(np.linalg.norm(W_out, axis=1).mean()),
        "in_norm_mean": float(np.linalg.norm(W_in, axis=0).mean()),
    }


def model_weight_stats(bridge, name: str, seed: int = 0) -> pd.DataFrame:
    """weight_stats for every layer of a TransformerLens bridge (or HookedTransformer)."""
    W_in = bridge.W_in.detach().float().cpu().numpy()
    W_out = bridge.W_out.detach().float().cpu().numpy()
    n_layers = W_in.shape[0]
    rows = [
        {"model": name, "layer": layer, "rel_depth": layer / max(n_layers - 1, 1),
         **weight_stats(W_in[layer], W_out[layer], seed=seed)}
        for layer in range(n_layers)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def first_quarter(
    table: pd.DataFrame, columns: list[str], keys: tuple[str, ...] = ("model",)
) -> pd.DataFrame:
    """Per model (and any other `keys`) and column: mean over layers with relative depth < 0.25,
    over the rest, their difference and ratio: the paper's "early layers use more superposition"
    as numbers."""
    out = []
    for key, rows in table.groupby(list(keys)):
        early = rows["rel_depth"] < QUARTER
        if early.all() or not early.any():
            continue
        for column in columns:
            a, b = rows.loc[early, column].mean(), rows.loc[~early, column].mean()
            ratio = a / b if b else np.nan
            out.append((*key, column, int(early.sum()), float(a), float(b), float(a - b), ratio))
    return pd.DataFrame(
        out,
        columns=[
            *keys,
            "statistic",
            "early_layers",
            "first_quarter",
            "rest",
            "difference",
            "ratio",
        ],
    )


def model_weights_table(models: list[str], seed: int = 0) -> pd.DataFrame:
    """weight_stats of each named model (conf/model/<name>.yaml), loaded as the runs load it."""
    from omegaconf import OmegaConf

    from analysis.models import CONF_MODELS
    from probing.models import load_model

    frames = []
    for name in models:
        conf = CONF_MODELS / f"{name.split('@', 1)[0]}.yaml"
        cfg = OmegaConf.to_container(OmegaConf.load(conf), resolve=True)
        model = load_model(**cfg, seed=seed)
        frames.append(model_weight_stats(model.bridge, name, seed))
        del model
    return pd.concat(frames, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys
    from pathlib import Path

    from analysis import plots
    from analysis.aggregate import load_results

    parser = argparse.ArgumentParser(
        prog="python -m analysis.superposition", description=__doc__.split("\n")[0]
    )
    parser.add_argument("run_dirs", nargs="+")
    parser.add_argument("-o", "--out", default="superposition", help="folder for CSVs and plots")
    parser.add_argument("--weights", action="store_true", help="also the models' weight statistics")
    args = parser.parse_args(argv)
    results = load_results(*args.run_dirs)
    if results.empty:
        print("error: no result rows under the given directories", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    layers = by_layer(probing_sparsity(results))
    layers.to_csv(out / "sparsity_by_layer.csv", index=False)
    columns = ["log2_k90_mean", "gain_1_16"]
    plots.depth_profile(layers, columns, out / "sparsity_by_depth.png")
    summary = [first_quarter(layers, columns)]
    per_collection = first_quarter(
        by_layer(probing_sparsity(results), ("model", "collection")),
        columns,
        ("model", "collection"),
    )
    per_collection.to_csv(out / "first_quarter_by_collection.csv", index=False)
    if args.weights:
        weights = model_weights_table(sorted(results["model"].unique()))
        weights.to_csv(out / "weights_by_layer.csv", index=False)
        stats = ["out_interference", "in_out_cosine", "out_effective_dims"]
        plots.depth_profile(weights, stats, out / "weights_by_depth.png")
        summary.append(first_quarter(weights, stats))
    table = pd.concat(summary, ignore_index=True)
    table.to_csv(out / "first_quarter.csv", index=False)
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        print(table.round(4).to_string(index=False))
    print(f"written: {out}/ (sparsity_by_layer.csv, first_quarter.csv, "
          "first_quarter_by_collection.csv, plots)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
