"""The paper's plots as PNG files: F1 vs k, layer x feature heatmaps, sparsity vs scale, the best
single neurons with their 95% intervals, and a neuron's activation histogram by class.

Figures are built with matplotlib's object API (`Figure`, Agg canvas), never pyplot: no
display, no global state, so report building works on a headless node and in tests.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from analysis.models import model_info, order_models
from analysis.tables import k1_scores
from probing.summaries import best_rows, neuron_id

DPI = 110
MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # with tab20, tells up to 140 features apart

# Feature and model names are the user's: a "$" in one must print as a "$", not start
# matplotlib's mathtext (an unbalanced one crashed the report).
matplotlib.rcParams["text.parse_math"] = False


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def f1_vs_k(
    results: pd.DataFrame, model: str, feature: str, path: str | Path, method: str | None = None
) -> Path:
    """One line per layer: where F1 saturates in k says how sparse the feature is there."""
    rows = results[(results["model"] == model) & (results["feature"] == feature)]
    if method is not None:
        rows = rows[rows["method"] == method]
    if rows.empty:
        raise ValueError(f"no rows for {model} / {feature}")
    n_layers = model_info(model, results).n_layers
    fig = Figure(figsize=(5.2, 3.4))
    ax = fig.add_subplot()
    layers = sorted(rows["layer"].unique())
    colors = _viridis(len(layers))
    methods = sorted(rows["method"].unique())
    real = [m for m in methods if not str(m).endswith("+rotated")]
    styles = {m: "--" if m not in real else ("-", ":", "-.")[real.index(m) % 3] for m in methods}
    for color, layer in zip(colors, layers, strict=True):
        for m, curve in rows[rows["layer"] == layer].groupby("method"):
            curve = curve.sort_values("k")
            label = f"L{layer}" + (f" {m}" if len(methods) > 1 else "")
            style = styles[m]
            ax.plot(
                curve["k"], curve["f1"], style, marker="o", ms=3, lw=1.4, color=color, label=label
            )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k (neurons in the probe)")
    ax.set_ylabel("held-out F1")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(f"{model} / {feature} ({n_layers} layers)", fontsize=10)
    ax.legend(fontsize=7, ncol=2, loc="lower right", title="layer", title_fontsize=7)
    return _save(fig, path)


def k1_intervals(best: pd.DataFrame, path: str | Path, results: pd.DataFrame | None = None) -> Path:
    """The best single neuron's test F1 per feature and model, with its 95% interval (resampled
    test documents) as an error bar, so two features or two models are compared against their
    noise. `best` is analysis.tables.best_neurons(...) for one method; rows without an interval
    are drawn as points only."""
    return _save(k1_intervals_figure(best, results), path)


def k1_intervals_figure(best: pd.DataFrame, results: pd.DataFrame | None = None) -> Figure:
    if best.empty:
        raise ValueError("no best-neuron rows to plot")
    models = order_models(list(best["model"].unique()), results)
    features = sorted(best["feature"].unique())
    fig = Figure(figsize=(6.0, 0.8 + 0.24 * len(features) * len(models)))
    ax = fig.add_subplot()
    step = 0.8 / len(models)
    for m, (model, color) in enumerate(zip(models, _viridis(len(models)), strict=True)):
        rows = best[best["model"] == model]
        offset = (m - (len(models) - 1) / 2) * step
        y = np.array([features.index(f) for f in rows["feature"]]) + offset
        f1 = rows["f1_k1"].to_numpy(dtype=float)
        low, high = rows["f1_low"].to_numpy(dtype=float), rows["f1_high"].to_numpy(dtype=float)
        has = ~(np.isnan(low) | np.isnan(high))
        err = np.vstack([np.where(has, f1 - low, 0.0), np.where(has, high - f1, 0.0)])
        ax.errorbar(f1, y, xerr=np.clip(err, 0, None), fmt="o", ms=4, capsize=2, lw=1.2,
                    color=color, label=model)  # fmt: skip
    ax.set_yticks(range(len(features)), features, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("test F1 of the best single neuron (k=1), 95% interval")
    ax.grid(alpha=0.3, axis="x")
    if len(models) > 1:
        ax.legend(fontsize=7, loc="lower left")
    return fig


def ablation_effects(rows: pd.DataFrame, path: str | Path, value: str = "mean") -> Path:
    """Per ablated neuron: the loss change with the feature, without it, and for the median
    random neuron of its layer (probing.case_studies.ablate rows, one ablation value)."""
    rows = rows[rows["value"] == value] if (rows["value"] == value).any() else rows
    if rows.empty:
        raise ValueError("no ablation rows to plot")
    labels = [f"{r.model}\n{r.feature} {neuron_id(r.layer, r.neuron)}" for r in rows.itertuples()]
    fig = Figure(figsize=(max(4.0, 1.0 + 0.9 * len(rows)), 3.4))
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    bars = (("delta_pos", "with the feature", "#c0392b"), ("delta_neg", "without", "#2980b9"),
            ("random_delta_pos_median", "random neuron (median), with", "#7f8c8d"))  # fmt: skip
    for i, (column, label, color) in enumerate(bars):
        ax.bar(x + (i - 1) * 0.27, rows[column], 0.27, label=label, color=color)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel(f"loss change, {rows['value'].iloc[0]} ablation (nats)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def depth_profile(table: pd.DataFrame, columns: list[str], path: str | Path) -> Path:
    """One panel per statistic, against relative depth, a line per model; the first quarter of
    the depth (where the paper finds more superposition) is shaded."""
    if table.empty:
        raise ValueError("no layers to plot")
    fig = Figure(figsize=(3.6 * len(columns), 3.0))
    models = order_models(list(table["model"].unique()), None)
    for i, column in enumerate(columns):
        ax = fig.add_subplot(1, len(columns), i + 1)
        ax.axvspan(0, 0.25, color="#f5b041", alpha=0.2, lw=0)
        for model, color in zip(models, _viridis(len(models)), strict=True):
            rows = table[table["model"] == model].sort_values("rel_depth")
            ax.plot(rows["rel_depth"], rows[column], marker="o", ms=3, color=color, label=model)
        ax.set_xlabel("relative depth")
        ax.set_title(column, fontsize=9)
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7)
    return _save(fig, path)


def depth_columns(k1: pd.DataFrame) -> tuple[pd.Series, list[str]]:
    """Column index and labels for the heatmap: layers for one model, relative depth bins for
    several, so a 6-layer and a 32-layer model line up at the same fraction of depth."""
    if k1["model"].nunique() == 1:
        layers = sorted(k1["layer"].unique())
        index = {la: i for i, la in enumerate(layers)}
        return k1["layer"].map(index), [f"L{la}" for la in layers]
    n_bins = int(min(10, k1.groupby("model")["layer"].nunique().max()))
    column = np.minimum((k1["rel_depth"] * n_bins).astype(int), n_bins - 1)
    edges = np.linspace(0, 1, n_bins + 1)
    return column, [f"{a:.1f}-{b:.1f}" for a, b in zip(edges[:-1], edges[1:], strict=True)]


def layer_heatmap(results: pd.DataFrame, path: str | Path, method: str | None = None) -> Path:
    """k=1 F1 for every feature (rows) by depth (columns), one panel per model, smallest first:
    where in the network single neurons encode each feature."""
    rows = results if method is None else results[results["method"] == method]
    k1 = k1_scores(rows)
    if k1.empty:
        raise ValueError("no k=1 rows to draw")
    column, labels = depth_columns(k1)
    k1 = k1.assign(column=column.to_numpy())
    features = sorted(
        k1["feature"].unique(), key=lambda f: (k1.loc[k1["feature"] == f, "collection"].iloc[0], f)
    )
    models = order_models(list(k1["model"].unique()), results)
    width = 1.8 + (1.2 + 0.6 * len(labels)) * len(models)  # feature names, then panels
    fig = Figure(figsize=(width, 1.4 + 0.28 * len(features)))
    axes = fig.subplots(1, len(models), sharey=True, squeeze=False)[0]
    image = None
    for ax, model in zip(axes, models, strict=True):
        grid = np.full((len(features), len(labels)), np.nan)
        # a cell spanning several layers shows the one its validation F1 chooses (test F1)
        chosen = best_rows(k1[k1["model"] == model], ["feature", "column"])
        cells = chosen.set_index(["feature", "column"])["f1"]
        for (feature, col), f1 in cells.items():
            grid[features.index(feature), col] = f1
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        if grid.size <= 300:
            for (i, j), value in np.ndenumerate(grid):
                if not np.isnan(value):
                    ax.text(
                        j,
                        i,
                        f"{value:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if value < 0.6 else "black",
                    )
        ax.set_xticks(range(len(labels)), labels, rotation=90 if len(labels) > 6 else 0, fontsize=7)
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("layer" if len(models) == 1 else "relative depth", fontsize=8)
    axes[0].set_yticks(range(len(features)), features, fontsize=7)
    if image is not None:  # a model at least (zip is strict over the axes)
        fig.colorbar(image, ax=list(axes), label="F1 of the best single neuron (k=1)", shrink=0.9)
    return _save(fig, path)


def sparsity_vs_scale(table: pd.DataFrame, path: str | Path) -> Path:
    """Per feature, the smallest k reaching a fraction of max F1, across models ordered by size
    (the `sparsity` table's order): does a bigger model use fewer neurons for a feature?"""
    if table.empty:
        raise ValueError("empty sparsity table")
    models = list(dict.fromkeys(table["model"]))
    fraction = float(table["fraction"].iloc[0])
    features = sorted(table["feature"].unique())
    fig = Figure(figsize=(max(4.5, 1.3 * len(models) + 2.5), 3.6))
    ax = fig.add_subplot()
    offsets = np.linspace(-0.15, 0.15, len(features)) if len(features) > 1 else [0.0]
    for i, (offset, feature) in enumerate(zip(offsets, features, strict=True)):
        rows = table[table["feature"] == feature].groupby("model")["k_at_fraction"].min()
        rows = rows.reindex([m for m in models if m in rows.index])
        x = [models.index(m) + offset for m in rows.index]
        ax.plot(
            x,
            rows.to_numpy(),
            marker=MARKERS[i % len(MARKERS)],
            ms=4,
            lw=1,
            color=colormaps["tab20"](i % 20),
            label=feature,
        )
    ax.set_yscale("log", base=2)
    ax.set_xticks(range(len(models)), models, fontsize=8)
    ax.set_xlabel("model (smallest first)")
    ax.set_ylabel(f"smallest k with F1 >= {fraction:g} x max")
    ax.grid(alpha=0.3)
    ax.legend(
        fontsize=6,
        ncol=2 if len(features) > 8 else 1,
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
    )
    return _save(fig, path)


def activation_histogram(
    acts: np.ndarray, labels: np.ndarray, title: str, path: str | Path
) -> Path:
    """Activations of one neuron split by class: a monosemantic neuron separates the two."""
    acts = np.asarray(acts, dtype=float)
    labels = np.asarray(labels).astype(bool)
    fig = Figure(figsize=(4.6, 2.8))
    ax = fig.add_subplot()
    bins = np.histogram_bin_edges(acts, bins=40).tolist()
    ax.hist(
        acts[~labels],
        bins=bins,
        alpha=0.6,
        color="#7f7f7f",
        label=f"label 0 (n={int((~labels).sum())})",
    )
    ax.hist(
        acts[labels],
        bins=bins,
        alpha=0.6,
        color="#d62728",
        label=f"label 1 (n={int(labels.sum())})",
    )
    ax.set_xlabel("activation (mlp.hook_post)")
    ax.set_ylabel("examples")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def _viridis(n: int) -> list:
    return [colormaps["viridis"](v) for v in np.linspace(0.05, 0.9, max(n, 1))]
