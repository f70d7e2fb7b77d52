"""Neurons beside latents (probing.sae.compare): one row per SAE, never one pooled over SAEs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from probing.sae.compare import side_by_side
from tests.analysis.conftest import row


def rows_of(hook: str, unit: int, f1: float, val_f1: float, sae: str | None = None) -> list[dict]:
    """Layer 1's python curve (k = 1, 2) of one hook; the k=1 support is `unit`."""
    extra = {"hook": hook, **({"sae": sae} if sae else {})}
    return [
        row("tiny-pythia", "python", 1, k, f1 if k == 1 else 1.0, [unit] if k == 1 else [0, 1],
            val_f1=val_f1, **extra)
        for k in (1, 2)
    ]  # fmt: skip


def test_two_saes_of_one_layer_get_a_row_each_with_their_own_cosine():
    results = pd.DataFrame(
        rows_of("mlp_post", 5, 0.6, 0.6)
        + rows_of("sae", 3, 0.9, 0.9, sae="wide")
        + rows_of("sae", 3, 0.4, 0.5, sae="narrow")
    )
    cosines = pd.DataFrame(
        [
            {
                "model": "tiny-pythia",
                "feature": "python",
                "layer": 1,
                "latent": 3,
                "neuron": 5,
                "decoder_cosine": cosine,
                "sae": sae,
            }
            for sae, cosine in (("narrow", -0.2), ("wide", 0.8))
        ]  # fmt: skip
    )
    table = side_by_side(results, cosines).set_index("sae")
    assert sorted(table.index) == ["narrow", "wide"]  # the narrow SAE is not dropped
    assert table.loc["wide", "latent_f1"] == pytest.approx(0.9)
    assert table.loc["narrow", "latent_f1"] == pytest.approx(0.4)
    assert table.loc["narrow", "decoder_cosine"] == pytest.approx(-0.2)  # its own, not wide's
    assert (table["neuron"] == 5).all() and (table["neuron_f1"] == 0.6).all()


def test_the_best_neuron_is_a_neuron_and_its_k90_one_methods_curve():
    """A rotation control's k=1 "unit" is a direction of a random basis, not a neuron: it is
    never the layer's best neuron (it was, on its higher validation F1), and k90 is read off the
    chosen method's own curve, not the first k where any of several methods' test F1 gets there
    (a minimum over methods taken on test)."""
    plain = [
        row("tiny-pythia", "python", 1, k, f1, [5] if k == 1 else list(range(k)),
            val_f1=f1, hook="mlp_post")
        for k, f1 in ((1, 0.5), (2, 0.6), (4, 0.9))
    ]  # fmt: skip
    rotated = [
        row("tiny-pythia", "python", 1, k, f1, [9] if k == 1 else list(range(k)),
            val_f1=f1, hook="mlp_post", method="mean_diff+rotated")
        for k, f1 in ((1, 0.85), (2, 0.85), (4, 0.85))
    ]  # fmt: skip
    other = [
        row("tiny-pythia", "python", 1, k, f1, [7] if k == 1 else list(range(k)),
            val_f1=f1, hook="mlp_post", method="f_stat")
        for k, f1 in ((1, 0.4), (2, 0.85), (4, 0.86))
    ]  # fmt: skip
    results = pd.DataFrame(plain + rotated + other + rows_of("sae", 3, 0.9, 0.9, sae="wide"))
    table = side_by_side(results).iloc[0]
    assert table["neuron"] == 5 and table["neuron_f1"] == pytest.approx(0.5)
    # mean_diff's own curve: 0.9 * 0.9 first reached at k=4 (f_stat's 0.85 at k=2 is another's)
    assert table["neuron_k90"] == 4


def test_p_values_beside_each_unit_come_adjusted_over_the_layers_features():
    """40 features where neither neurons nor latents carry anything: their permutation p-values
    are uniform, so some fall at or below 0.05 by chance (5 of 40 latents, 3 neurons here); the table says
    which survive Benjamini-Hochberg over the layer's features (none), as best_units computes."""
    rng = np.random.default_rng(0)
    rows = []
    for feature in range(40):
        for hook, extra in (("mlp_post", {}), ("sae", {"sae": "wide"})):
            p = float((1 + rng.integers(0, 200)) / 201)
            rows.append(row("tiny-pythia", f"f{feature}", 1, 1, 0.5, [3], val_f1=0.5,
                            p_value=p, hook=hook, **extra))  # fmt: skip
    table = side_by_side(pd.DataFrame(rows))
    assert (table["latent_p"] <= 0.05).sum() >= 1  # what an unadjusted p shows
    assert (table["latent_p_adjusted"] <= 0.05).sum() == 0
    assert (table["neuron_p_adjusted"] <= 0.05).sum() == 0
    assert (table["latent_p_adjusted"] >= table["latent_p"]).all()
