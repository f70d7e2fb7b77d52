"""What a run found, from its rows: the one place that decides what "best" means.

Every "best" (layer, neuron, k, the layer k90 is read at, the order of a top-neuron list) is
chosen on the validation split and reported on the test split, so a table's F1 is an unbiased
estimate, not the maximum of many noisy numbers. Rows without a validation F1 (older runs,
probe.val_fraction=0) fall back to test F1, and the tables say so in `selected_on`.

Significance: each best single neuron carries its permutation p-value (probing.probes.baselines),
taken against the null of the whole choice: on each permutation the layer is chosen again as it
was on the real labels (chosen_null). p-values are adjusted by Benjamini-Hochberg over the
features of one run (model, revision, hook, collection, method), and a feature whose adjusted
p-value is above ALPHA is marked not significant.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from probing.permutation_test import p_value

log = logging.getLogger(__name__)

SPARSITY_FRACTION = 0.9  # k90: the smallest k reaching this fraction of the best F1
ALPHA = 0.05  # the false discovery rate of `significant`
# the features of one run (those present), over which p-values are corrected
RUN_KEYS = ["model", "revision", "hook", "collection", "method"]


def neuron_id(layer: int, neuron: int) -> str:
    """(layer, neuron) as "L12N345", the name used in every table, plot and log."""
    return f"L{int(layer)}N{int(neuron)}"


def selection_column(rows: pd.DataFrame) -> str:
    """What chooses: validation F1 where the rows have it, else test F1 (with a warning)."""
    if "val_f1" in rows and rows["val_f1"].notna().any():
        return "val_f1"
    if len(rows):
        log.warning("these rows have no validation F1: 'best' is chosen on test F1 (biased up)")
    return "f1"


def best_rows(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group of `keys`, the row with the best selection score (ties: the shallower layer,
    then the smaller k)."""
    select = selection_column(rows)
    ordered = rows.assign(_score=rows[select].fillna(-1.0)).sort_values(
        ["_score", "layer", "k"], ascending=[False, True, True]
    )
    return ordered.drop_duplicates(keys).drop(columns="_score")


def best_layer(rows: pd.DataFrame) -> int:
    """The layer that carries a feature best over the k sweep: the highest selection F1 at any
    k, ties (several layers at 1.0 are common) to the higher mean over k, then the shallower."""
    select = selection_column(rows)
    by_layer = rows.groupby("layer")[select].agg(["max", "mean"]).fillna(-1.0).reset_index()
    ordered = by_layer.sort_values(["max", "mean", "layer"], ascending=[False, False, True])
    return int(ordered["layer"].iloc[0])


def smallest_k(ks, f1, fraction: float = SPARSITY_FRACTION) -> int:
    """The smallest k whose F1 reaches `fraction` of the best F1 over all k (of this curve)."""
    order = np.argsort(ks)
    ks, f1 = np.asarray(ks)[order], np.nan_to_num(np.asarray(f1, dtype=float)[order])
    return int(ks[np.argmax(f1 >= fraction * f1.max())])


def curve_best_f1(curve: pd.DataFrame) -> float:
    """The best F1 of one layer's k sweep: the test F1 of the k that validation chooses (ties to
    the smaller k), not the largest test F1, which overstates it; the largest test F1 only where
    the rows have no validation F1."""
    curve = curve.sort_values("k")
    f1 = curve["f1"].to_numpy(dtype=float)
    if "val_f1" in curve and curve["val_f1"].notna().any():
        return float(f1[int(np.nanargmax(curve["val_f1"].to_numpy(dtype=float)))])
    return float(np.nanmax(f1))


def curve_k_at_fraction(curve: pd.DataFrame, fraction: float = SPARSITY_FRACTION) -> int:
    """k90 of one layer's k sweep: the smallest k whose test F1 reaches `fraction` of the test F1
    of the k that validation chooses (curve_best_f1), so no maximum over test F1 sets the bar."""
    curve = curve.sort_values("k")
    f1 = curve["f1"].to_numpy(dtype=float)
    reference = curve_best_f1(curve)
    reached = np.nan_to_num(f1) >= fraction * reference
    return int(curve["k"].to_numpy()[np.argmax(reached)] if reached.any() else curve["k"].max())


def k_at_fraction(rows: pd.DataFrame, fraction: float = SPARSITY_FRACTION) -> tuple[int, int]:
    """(layer, k90) of one model x feature x method: the layer chosen on validation
    (best_layer), k90 read off that layer's test F1 curve (curve_k_at_fraction)."""
    layer = best_layer(rows)
    return layer, curve_k_at_fraction(rows[rows["layer"] == layer], fraction)


def benjamini_hochberg(p_values) -> np.ndarray:
    """BH-adjusted p-values (NaN stays NaN): reject where adjusted <= the FDR level."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not len(ok):
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    scaled = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


def _median_of_lists(values: pd.Series) -> pd.Series:
    return values.map(
        lambda v: float(np.median(v)) if isinstance(v, list | np.ndarray) and len(v) else math.nan
    )


def _column(rows: pd.DataFrame, name: str) -> pd.Series:
    return rows[name] if name in rows else pd.Series([math.nan] * len(rows), rows.index)


def chance_columns(rows: pd.DataFrame) -> dict[str, pd.Series]:
    """f1_null (median permutation-null F1), p_value, f1_chance (all positive) and f1_random
    (median F1 of random neurons) of each row; NaN for rows without baselines."""
    return {
        "f1_null": _median_of_lists(_column(rows, "null_f1")),
        "p_value": _column(rows, "p_value").astype(float),
        "f1_chance": _column(rows, "chance_f1").astype(float),
        "f1_random": _median_of_lists(_column(rows, "random_f1")),
    }


def chosen_null(candidates: pd.DataFrame) -> np.ndarray | None:
    """The permutation null of the F1 that best_rows reports for one group's k=1 rows (one row a
    layer): on each permutation, the null test F1 of the row that the same choice (highest
    selection F1, ties to the shallower layer) makes on that permutation's labels. A layer's own
    null leaves the choice out, and the choice favours layers whose probe scores high on val and
    test alike by chance (one fit is scored on both), so its p-value is too small.

    Every layer draws the same permutations (baselines.draw: keyed by seed, feature, k and
    repeat, not layer), so the null's draw r is one relabelling seen by every layer. None where
    the rows cannot give it: no null, a null without `null_val_f1` while choosing on val (rows
    from before it was recorded), or rows whose permutations differ (probe seeds, counts)."""
    select = selection_column(candidates)
    scores = "null_val_f1" if select == "val_f1" else "null_f1"
    if "null_f1" not in candidates or scores not in candidates:
        return None
    if "probe_seed" in candidates and candidates["probe_seed"].nunique(dropna=False) > 1:
        return None
    ordered = candidates.sort_values(["layer", "k"], kind="stable")
    tests, chosen = ordered["null_f1"].tolist(), ordered[scores].tolist()
    lists = [v for v in tests + chosen if isinstance(v, list | np.ndarray)]
    if len(lists) < 2 * len(ordered) or len({len(v) for v in lists}) != 1 or not len(lists[0]):
        return None
    score = np.nan_to_num(np.array(chosen, dtype=float), nan=-1.0)
    pick = np.argmax(score, axis=0)  # the first maximum: the shallower layer
    return np.array(tests, dtype=float)[pick, np.arange(score.shape[1])]


def with_chosen_nulls(best: pd.DataFrame, k1: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """f1_null and p_value of each best row from chosen_null over its group's k=1 rows, and
    `null_chooses_layer` (True; False where the rows could not give it and the chosen layer's own
    null stands in, with a warning; None without a null)."""
    nulls = {
        key if isinstance(key, tuple) else (key,): chosen_null(group)
        for key, group in k1.groupby(keys, sort=False, dropna=False)
    }
    f1_null, p, chooses = best["f1_null"].copy(), best["p_value"].copy(), []
    for index, row in best.iterrows():
        null = nulls[tuple(row[key] for key in keys)]
        if null is not None:
            f1_null[index], p[index] = float(np.median(null)), p_value(row["f1"], null)
        chooses.append(null is not None if not math.isnan(p[index]) else None)
    own = [f for f, c in zip(best["feature"], chooses, strict=True) if c is False]
    if own:
        log.warning(
            "p-values of %s are their chosen layer's own, which leaves out the choice of layer "
            "and may be too small: their rows have no null_val_f1 (made before it was recorded) "
            "or nulls drawn with different probe seeds",
            ", ".join(sorted(set(own))),
        )
    chooses_layer = pd.Series(chooses, index=best.index, dtype=object)  # True/False/None
    return best.assign(f1_null=f1_null, p_value=p, null_chooses_layer=chooses_layer)


def with_significance(best: pd.DataFrame, keys: list[str] | None = None) -> pd.DataFrame:
    """`p_adjusted` (BH over the features of each group of `keys`, default one run) and
    `significant` (adjusted p <= ALPHA; None without a p-value)."""
    keys = [k for k in (keys or RUN_KEYS) if k in best]
    adjusted = pd.Series(np.nan, index=best.index)
    if len(best):
        groups = (
            best.groupby(keys, sort=False, dropna=False).groups.values() if keys else [best.index]
        )
        for index in groups:
            adjusted[index] = benjamini_hochberg(best.loc[index, "p_value"].to_numpy())
    significant = (adjusted <= ALPHA).astype(object).where(adjusted.notna(), None)
    return best.assign(p_adjusted=adjusted, significant=significant)


# what chance gives beside a best neuron, in every table that shows one (its p-value counts the
# choice of layer where null_chooses_layer)
CHANCE_COLUMNS = [
    "f1_null",
    "p_value",
    "p_adjusted",
    "significant",
    "null_chooses_layer",
    "f1_chance",
    "f1_random",
]
SUMMARY_COLUMNS = [
    "model",
    "feature",
    "layer",
    "neuron",
    "f1_k1",
    "f1_low",
    "f1_high",
    "best_f1",
    "val_f1_k1",
    *CHANCE_COLUMNS,
    "selected_on",
]


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Per model and feature: the layer whose single neuron (k=1) scores highest on validation,
    its test F1 with the 95% bootstrap interval, the test F1 of the best probe at any k (chosen
    on validation too), and beside them the permutation null's median and p-value (of the whole
    choice, layer included: with_chosen_nulls; adjusted over the run's features), chance F1 and
    random neurons' median F1 (NaN where the run had none)."""
    k1 = results[results["k"] == 1]
    if k1.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    # an SAE job's rows hold its latents and its layer's neurons: each gets its own best
    hooks = "hook" in results and results["hook"].fillna("mlp_post").nunique() > 1
    keys = ["model", "hook", "feature"] if hooks else ["model", "feature"]
    if hooks:
        results = results.assign(hook=results["hook"].fillna("mlp_post"))
        k1 = results[results["k"] == 1]
    best = best_rows(k1, keys)
    best_any_k = best_rows(results, keys).set_index(keys)["f1"].rename("best_f1")
    out = best.assign(
        neuron=best["support"].map(lambda s: int(s[0])),
        f1_k1=best["f1"],
        f1_low=_column(best, "f1_ci_low"),
        f1_high=_column(best, "f1_ci_high"),
        val_f1_k1=_column(best, "val_f1"),
        selected_on=selection_column(k1),
        **chance_columns(best),
    ).join(best_any_k, on=keys)
    out = with_significance(with_chosen_nulls(out, k1, keys))
    out = out[SUMMARY_COLUMNS + (["hook"] if hooks else [])]
    order = ["model", "hook", "f1_k1"] if hooks else ["model", "f1_k1"]
    out = out.sort_values(order, ascending=[True] * (len(order) - 1) + [False])
    return out.reset_index(drop=True)


def format_summary(summary: pd.DataFrame) -> str:
    """The console table of `summarize`; a feature not significant after correction says so."""
    if summary.empty:  # a header over nothing reads as "no neuron found"
        return "no k=1 probe among the rows: this table of single neurons needs 1 in probe.ks"
    lines = [
        f"{'model':<16} {'feature':<28} {'layer':>5} {'neuron':>7} {'F1@k=1':>7} "
        f"{'95% CI':>13} {'best F1':>8} {'null':>6} {'p':>7} {'chance':>6} {'random':>6}"
    ]

    def num(value: float, width: int, digits: int = 3) -> str:
        return f" {'':>{width}}" if math.isnan(value) else f" {value:>{width}.{digits}f}"

    for r in summary.itertuples():
        model = r.model if getattr(r, "hook", "mlp_post") == "mlp_post" else f"{r.model}#{r.hook}"
        ci = "" if math.isnan(r.f1_low) else f"{r.f1_low:.2f}-{r.f1_high:.2f}"
        p = "" if math.isnan(r.p_value) else f"{r.p_value:.3f}"
        if getattr(r, "null_chooses_layer", None) is False:
            p = f"{p}*"
        mark = "" if math.isnan(r.p_value) or r.significant else "  not significant"
        lines.append(
            f"{model:<16} {r.feature:<28} {r.layer:>5} {r.neuron:>7} {r.f1_k1:>7.3f} "
            f"{ci:>13} {r.best_f1:>8.3f}{num(r.f1_null, 6)} {p:>7}{num(r.f1_chance, 6)}"
            f"{num(r.f1_random, 6)}{mark}"
        )
    if summary["p_value"].notna().any():
        lines.append(
            "layer and neuron chosen on validation, F1 on test; null: median test F1 of the same "
            "pipeline, its choice of layer included, on labels permuted by document; p: its "
            "permutation p-value (not "
            f"significant: Benjamini-Hochberg adjusted p > {ALPHA} over the run's features); "
            "chance: F1 of calling every example positive; random: median F1 of a random neuron"
        )
    if "null_chooses_layer" in summary and (summary["null_chooses_layer"] == False).any():  # noqa: E712
        lines.append(
            "p*: the chosen layer's own null (rows without null_val_f1): it leaves out the "
            "choice of layer, so it may be too small"
        )
    if (summary["selected_on"] == "f1").any():
        lines.append("no validation split: layers and neurons were chosen on test F1 (biased up)")
    return "\n".join(lines)


def top_neurons(results: pd.DataFrame, per_feature: int | None = None) -> pd.DataFrame:
    """The k=1 neuron of every layer per model x feature x method, best first on validation
    (test F1 beside it), named (layer, neuron); `per_feature` keeps that many of each."""
    k1 = results[results["k"] == 1]
    select = selection_column(k1)
    k1 = k1.assign(_score=k1[select].fillna(-1.0)).sort_values(
        ["_score", "layer"], ascending=[False, True]
    )
    if per_feature is not None:
        k1 = k1.groupby(["model", "feature", "method"], sort=False).head(per_feature)
    neuron = k1["support"].map(lambda s: int(s[0]))
    return k1.drop(columns="_score").assign(
        neuron=neuron,
        neuron_id=[neuron_id(la, n) for la, n in zip(k1["layer"], neuron, strict=True)],
    )
