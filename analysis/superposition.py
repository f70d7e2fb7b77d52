"""Superposition by depth: do early layers need more neurons per feature than later ones?

The paper's claim (Gurnee et al. 2023, sections 4-5): early layers represent features in
superposition, as sparse combinations of polysemantic neurons, and the first ~25% of layers do so
more than the rest. Two kinds of evidence, per layer:

- **probing sparsity** (from a run's rows, over every feature): `k90`, the smallest k whose test
  F1 reaches 0.9 of that layer's best F1 over k (the test F1 of the k validation chooses), and `gain_1_16`, F1 at k=16 minus F1 at k=1. A
  layer where single neurons suffice has k90 near 1 and a small gain; superposition shows as a
  larger k90 and a larger gain.
- **weight statistics** (from the model's MLP weights: `out_interference`, how crowded the
  neurons' write directions are; `in_out_cosine`; `out_effective_dims`): a case study that loads
  the models, probing.case_studies.weights, writes them to weights_by_layer.csv; `--weights` runs
  it (`python -m probing.case_studies.weights --runs ...`, in its own process) on the runs whose
  rows are read, so each model is loaded from its run's own config (overrides and seed as
  probed), and reads that file.

`first_quarter` states each as one number: its mean over the first 25% of layers (by relative
depth) minus its mean over the rest, and their ratio, with a 95% interval of the difference that
takes both layers and features (for probing statistics) as sampled units: a Welch t interval
over the layers' means, widened by a bootstrap of features (_interval_of_difference), so a claim
holds only where the interval excludes zero. `verdict` compares it with the paper's
direction (early layers need more neurons, and their neurons write more crowded directions):
"as the paper", "against the paper" (the interval excludes the paper's direction), or
"inconclusive" (the interval spans zero, or there is none: each part needs two layers). With
the two or three layers a small model's first quarter has, the interval is wide by necessity.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis.tables import with_depth
from probing.case_study_outputs import WEIGHTS_FILE
from probing.summaries import curve_best_f1, curve_k_at_fraction

QUARTER = 0.25
N_BOOT = 2000
# +1: the paper expects a larger value in the first quarter (more superposition early)
PAPER_DIRECTION = {
    "log2_k90": 1,
    "log2_k90_mean": 1,
    "k90_median": 1,
    "gain_1_16": 1,
    "out_interference": 1,
}


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
        k90 = curve_k_at_fraction(group, fraction)
        best = curve_best_f1(group)  # the test F1 of the k validation chooses
        out.append((model, int(layer), collection, feature, method, k90, np.log2(k90), gain, best))
    columns = ["model", "layer", "collection", "feature", "method", "k90", "log2_k90", "gain_1_16",
               "best_f1"]  # fmt: skip
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


def first_quarter(
    table: pd.DataFrame,
    columns: list[str],
    keys: tuple[str, ...] = ("model",),
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Per model (and any other `keys`) and column: the mean over layers with relative depth
    < 0.25 and over the rest, their difference with a 95% interval, the ratio, and the
    verdict against the paper's direction (module docstring).

    `table` has one row per layer (weight statistics, by_layer), or one per layer and feature
    (probing_sparsity): then a layer's value is its mean over features, and the interval counts
    the draw of features as well as of layers (_interval_of_difference)."""
    out = []
    for key, rows in table.groupby(list(keys)):
        key = key if isinstance(key, tuple) else (key,)
        early_layers = sorted(rows.loc[rows["rel_depth"] < QUARTER, "layer"].unique())
        rest_layers = sorted(rows.loc[rows["rel_depth"] >= QUARTER, "layer"].unique())
        if not early_layers or not rest_layers:
            continue
        for column in columns:
            grid = _layer_by_feature(rows, column, [*early_layers, *rest_layers])
            early, rest = grid[: len(early_layers)], grid[len(early_layers) :]
            a, b = _part_mean(early), _part_mean(rest)
            low, high = _interval_of_difference(early, rest, n_boot, seed)
            out.append((*key, column, len(early_layers), grid.shape[1], a, b, a - b, low, high,
                        a / b if b else np.nan, _verdict(column, low, high)))  # fmt: skip
    return pd.DataFrame(
        out,
        columns=[*keys, "statistic", "early_layers", "n_features", "first_quarter", "rest",
                 "difference", "ci_low", "ci_high", "ratio", "verdict"],
    )  # fmt: skip


def _layer_by_feature(rows: pd.DataFrame, column: str, layers: list) -> np.ndarray:
    """[layers, features] values of `column` (NaN where missing); one column without features."""
    if "feature" not in rows:
        return rows.groupby("layer")[column].mean().reindex(layers).to_numpy()[:, None]
    names = rows["collection"].astype(str) + "/" + rows["feature"].astype(str)
    if "collection" not in rows:
        names = rows["feature"].astype(str)
    wide = rows.assign(_name=names).pivot_table(
        index="layer", columns="_name", values=column, aggfunc="mean"
    )
    return wide.reindex(layers).to_numpy(dtype=float)


def _part_mean(grid: np.ndarray) -> float:
    """Mean over layers of each layer's mean over features."""
    return float(np.nanmean(np.nanmean(grid, axis=1)))


def _interval_of_difference(early: np.ndarray, rest: np.ndarray, n_boot: int, seed: int):
    """95% interval of first quarter minus rest, layers and features each a sampled unit.

    Layers: a Welch t interval on the layers' means over features (each part's layers a sample
    of its layers; a feature's own level is common to both parts and cancels). A percentile
    bootstrap of layers within a part has two or three layers to draw from in a small model
    (the first quarter of 6 or 12 layers): its spread understates the mean's by (n - 1) / n and
    its percentiles are a normal's, not a t's with n - 1 degrees of freedom, so with one value a
    layer it read "as the paper" or "against" on 21-30% of draws with no difference at all.
    Features: the variance of the difference over draws of features (the same draw for both
    parts), layers held, adds how much the features chosen move it. The t quantile takes the
    Welch degrees of freedom. None (NaN) where a part has one layer: nothing to resample."""
    if min(len(early), len(rest)) < 2:
        return np.nan, np.nan
    difference = _part_mean(early) - _part_mean(rest)
    with warnings.catch_warnings():  # a layer or draw of only missing values is dropped
        warnings.simplefilter("ignore", RuntimeWarning)
        e, r = np.nanmean(early, axis=1), np.nanmean(rest, axis=1)
        e, r = e[np.isfinite(e)], r[np.isfinite(r)]
        if min(len(e), len(r)) < 2:
            return np.nan, np.nan
        v_e, v_r = e.var(ddof=1) / len(e), r.var(ddof=1) / len(r)
        feature_var = 0.0
        n_features = early.shape[1]
        if n_features > 1:
            rng = np.random.default_rng(seed)
            diffs = np.empty(n_boot)
            for b in range(n_boot):
                features = rng.integers(0, n_features, n_features)
                diffs[b] = _part_mean(early[:, features]) - _part_mean(rest[:, features])
            diffs = diffs[np.isfinite(diffs)]
            feature_var = float(diffs.var(ddof=1)) if len(diffs) > 1 else 0.0
    layer_var = v_e + v_r
    se = float(np.sqrt(layer_var + feature_var))
    if layer_var > 0:
        df = layer_var**2 / (v_e**2 / (len(e) - 1) + v_r**2 / (len(r) - 1))
    else:  # every layer of each part alike: the features alone vary
        df = max(n_features - 1, 1)
    half = float(stats.t.ppf(0.975, df)) * se
    return float(difference - half), float(difference + half)


def _verdict(column: str, low: float, high: float) -> str:
    direction = PAPER_DIRECTION.get(column)
    if not np.isfinite(low) or low <= 0 <= high:
        return "inconclusive"
    higher_early = low > 0
    if direction is None:
        return "higher early" if higher_early else "lower early"
    return "as the paper" if higher_early == (direction > 0) else "against the paper"


def enough_test_positives(results: pd.DataFrame, minimum: int) -> tuple[pd.DataFrame, int]:
    """The rows of features whose test split has at least `minimum` positives (at every layer:
    the split is the feature's, the same at each layer), and how many model x feature pairs went.
    Rows without the count (older runs) are left out."""
    if "n_test_positive" not in results:
        return results.iloc[:0], int(results.groupby(["model", "feature"]).ngroups)
    counts = results.groupby(["model", "feature"])["n_test_positive"].min()
    keep = counts[counts >= minimum].index
    mask = results.set_index(["model", "feature"]).index.isin(keep)
    return results[mask], int(len(counts) - len(keep))


def checkpoints(results: pd.DataFrame) -> dict[str, str]:
    """{model label (less "#hook"): its checkpoint, "name@revision", as the weights case study
    names a run's model}: a label carries its revision only when the report holds several, but
    the weights are those of the revision that was probed, not the config's default."""
    out = {}
    revisions = results.get("revision", pd.Series("", index=results.index)).fillna("")
    pairs = pd.DataFrame({"model": results["model"], "revision": revisions}).drop_duplicates()
    for label, revision in zip(pairs["model"], pairs["revision"], strict=True):
        label = str(label).split("#")[0]
        if "@" in label or not revision:
            out[label] = label
        else:
            out[label] = f"{label}@{revision}"
    return out


def model_weights(run_dirs: list[str], path: Path) -> pd.DataFrame | None:
    """The weight statistics of the models `run_dirs` probed, each loaded from its run's config,
    labelled by checkpoint ("name@revision"), from the case study that loads them (run as a
    command, so analysis never loads a model); None, with its one-line error shown, when it
    fails."""
    command = [sys.executable, "-m", "probing.case_studies.weights", "--runs", *run_dirs]
    if subprocess.run([*command, "-o", str(path)]).returncode != 0:
        return None
    return pd.read_csv(path)


def run_dirs(results: pd.DataFrame) -> list[str]:
    """The run directories of `results`' rows (each row's results.jsonl's folder)."""
    return sorted({str(Path(source).parent) for source in results["source"]})


def main(argv: list[str] | None = None) -> int:
    import argparse

    from analysis import plots
    from analysis.aggregate import load_results

    parser = argparse.ArgumentParser(
        prog="python -m analysis.superposition", description=__doc__.split("\n")[0]
    )
    parser.add_argument("run_dirs", nargs="+")
    parser.add_argument("-o", "--out", default="superposition", help="folder for CSVs and plots")
    parser.add_argument("--weights", action="store_true", help="also the models' weight statistics")
    parser.add_argument("--min-test-positives", type=int, default=0, metavar="N",
                        help="only features with at least N positive test examples")  # fmt: skip
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"error: -o {out} is a file: name a folder for the CSVs and plots", file=sys.stderr)
        return 2
    try:
        results = load_results(*args.run_dirs)
    except FileNotFoundError as err:  # a run directory that is not there
        print(f"error: {err}", file=sys.stderr)
        return 2
    if results.empty:
        print("error: no result rows under the given directories", file=sys.stderr)
        return 2
    if args.min_test_positives:
        results, dropped = enough_test_positives(results, args.min_test_positives)
        print(f"{dropped} model x feature pairs with fewer than {args.min_test_positives} test "
              f"positives left out; {len(results)} rows remain")  # fmt: skip
        if results.empty:
            print("error: no feature has that many test positives", file=sys.stderr)
            return 2
    out.mkdir(parents=True, exist_ok=True)
    sparsity = probing_sparsity(results)
    layers = by_layer(sparsity)
    layers.to_csv(out / "sparsity_by_layer.csv", index=False)
    plots.depth_profile(layers, ["log2_k90_mean", "gain_1_16"], out / "sparsity_by_depth.png")
    columns = ["log2_k90", "gain_1_16"]  # per feature: the interval counts the features' draw
    summary = [first_quarter(sparsity, columns)]
    per_collection = first_quarter(sparsity, columns, ("model", "collection"))
    per_collection.to_csv(out / "first_quarter_by_collection.csv", index=False)
    if args.weights:
        to_load = checkpoints(results)
        weights = model_weights(run_dirs(results), out / WEIGHTS_FILE)
        if weights is None:
            return 2
        labels = {name: label for label, name in to_load.items()}
        weights["model"] = weights["model"].astype(str).map(lambda name: labels.get(name, name))
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
