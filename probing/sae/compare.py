"""Neurons and SAE latents of one layer, side by side: for each feature the best single neuron
and the best single latent (each chosen on validation, scored on test, with its interval and
permutation p-value, and that adjusted by Benjamini-Hochberg over the layer's features), k90 of
each, and the cosine between the latent's decoder direction and the neuron's output weights (is
the latent that neuron, or a direction spread over many?)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from probing.summaries import best_rows, chance_columns, curve_k_at_fraction, with_significance

if TYPE_CHECKING:  # the report reads these tables without importing torch
    import torch

SAE_HOOK = "sae"
NEURON_HOOK = "mlp_post"
COSINE_FILE = "sae_cosines.jsonl"
KEYS = ["model", "feature", "layer"]
COLUMNS = [
    "model",
    "feature",
    "layer",
    "neuron",
    "neuron_f1",
    "neuron_f1_low",
    "neuron_f1_high",
    "neuron_p",
    "neuron_p_adjusted",
    "neuron_k90",
    "latent",
    "latent_f1",
    "latent_f1_low",
    "latent_f1_high",
    "latent_p",
    "latent_p_adjusted",
    "latent_k90",
    "decoder_cosine",
    "sae",
]


def best_units(rows: pd.DataFrame, keys: list[str] = KEYS) -> pd.DataFrame:
    """Per model x feature x layer (x sae, for latents): the best k=1 unit (validation), its
    test F1, interval, p-value (BH-adjusted over the features) and the layer's k90, read off the
    chosen unit's method's own k sweep. Rotation controls are left out: their k=1 "unit" is a
    direction of a random basis, not a neuron or a latent."""
    rows = rows[~rows["method"].astype(str).str.endswith("+rotated")]
    k1 = rows[rows["k"] == 1]
    if k1.empty:
        return pd.DataFrame()
    best = best_rows(k1, keys)
    best = best.assign(unit=best["support"].map(lambda s: int(s[0])), **chance_columns(best))
    best = with_significance(best, [key for key in keys if key != "feature"])
    # one method's curve: the first k where any of several methods gets there is a minimum
    # over methods taken on test
    by_curve = [*keys, "method"]
    k90 = {key: curve_k_at_fraction(curve) for key, curve in rows.groupby(by_curve, sort=False)}
    best["k90"] = [k90[tuple(key)] for key in best[by_curve].itertuples(index=False)]
    low = best["f1_ci_low"] if "f1_ci_low" in best else math.nan
    high = best["f1_ci_high"] if "f1_ci_high" in best else math.nan
    return best.assign(f1_low=low, f1_high=high)


def side_by_side(results: pd.DataFrame, cosines: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per model x feature x layer that has SAE latents: its best neuron and latent."""
    hooks = results["hook"].fillna(NEURON_HOOK) if "hook" in results else None
    if hooks is None or not (hooks == SAE_HOOK).any():
        return pd.DataFrame(columns=COLUMNS)
    by_sae = ["sae"] if "sae" in results else []  # two SAEs of a layer: a row each
    latents = best_units(results[hooks == SAE_HOOK], KEYS + by_sae)
    neurons = best_units(results[hooks == NEURON_HOOK])
    pick = ["unit", "f1", "f1_low", "f1_high", "p_value", "p_adjusted", "k90"]
    names = ["", "_f1", "_f1_low", "_f1_high", "_p", "_p_adjusted", "_k90"]
    out = latents[KEYS + pick + by_sae].rename(
        columns={p: f"latent{n}" for p, n in zip(pick, names, strict=True)}
    )
    if not neurons.empty:
        out = out.merge(
            neurons[KEYS + pick].rename(
                columns={p: f"neuron{n}" for p, n in zip(pick, names, strict=True)}
            ),
            on=KEYS,
            how="left",
        )
    out["decoder_cosine"] = math.nan
    if cosines is not None and len(cosines):
        on = KEYS + ["latent", "neuron"] + [c for c in by_sae if c in cosines]
        found = out.drop(columns="decoder_cosine").merge(
            cosines[on + ["decoder_cosine"]].drop_duplicates(on), on=on, how="left"
        )
        out = found
    for column in COLUMNS:
        if column not in out:
            out[column] = math.nan
    return out[COLUMNS].sort_values(["model", "layer", "feature", "sae"]).reset_index(drop=True)


def output_directions(
    decoder: torch.Tensor, site: str, down_weight: torch.Tensor | None
) -> torch.Tensor:
    """Each latent's direction in the residual stream [d_sae, d_model]: its decoder row, mapped
    through the down projection [d_model, d_mlp] when the SAE reads the neurons (mlp_post)."""
    decoder = decoder.float()
    if site == "mlp_post":
        if down_weight is None:
            raise ValueError("an SAE on mlp_post needs the down projection to reach the residual")
        return decoder @ down_weight.float().T
    return decoder


def decoder_cosines(
    directions: torch.Tensor, down_weight: torch.Tensor, pairs: list[tuple[int, int]]
) -> list[float]:
    """cos(latent direction, neuron's output weights W_down[:, n]) for each (latent, neuron)."""
    out = []
    for latent, neuron in pairs:
        a, b = directions[latent].double(), down_weight[:, neuron].double()
        denominator = float(a.norm() * b.norm())
        out.append(float(a @ b) / denominator if denominator > 0 else math.nan)
    return out


def format_side_by_side(table: pd.DataFrame) -> str:
    """The console table: neuron and latent of each feature, F1 with interval, p, k90, cosine."""

    def f1(r, unit):
        value = getattr(r, f"{unit}_f1")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return f"{'':>21}"
        low, high = getattr(r, f"{unit}_f1_low"), getattr(r, f"{unit}_f1_high")
        ci = "" if low is None or np.isnan(low) else f"{low:.2f}-{high:.2f}"
        return f"{value:>6.3f} {ci:>9} {_p(getattr(r, f'{unit}_p')):>5}"

    lines = [
        f"{'feature':<26} {'layer':>5} {'neuron':>7} {'F1':>6} {'95% CI':>9} {'p':>5} {'k90':>4}"
        f" {'latent':>7} {'F1':>6} {'95% CI':>9} {'p':>5} {'k90':>4} {'cos':>6}"
    ]
    for r in table.itertuples():
        neuron = "" if _missing(r.neuron) else int(r.neuron)
        k90n = "" if _missing(r.neuron_k90) else int(r.neuron_k90)
        cos = "" if _missing(r.decoder_cosine) else f"{r.decoder_cosine:+.3f}"
        lines.append(
            f"{r.feature:<26} {int(r.layer):>5} {neuron:>7} {f1(r, 'neuron')} {k90n:>4}"
            f" {int(r.latent):>7} {f1(r, 'latent')} {int(r.latent_k90):>4} {cos:>6}"
        )
    lines.append(
        "neuron and latent each chosen on validation at k=1, F1 on test; p: permutation p-value "
        "(unadjusted: neuron_p_adjusted / latent_p_adjusted correct it over the features); "
        "k90: smallest k reaching 90% of the best F1; cos: the latent's decoder direction vs the "
        "neuron's output weights"
    )
    return "\n".join(lines)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _p(value) -> str:
    return "" if _missing(value) else f"{value:.3f}"
