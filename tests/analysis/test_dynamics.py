"""Scale dynamics: features built to emerge, split or stay are classified as such."""

from __future__ import annotations

import pandas as pd

from analysis.dynamics import classify, scale_dynamics


def rows(model: str, feature: str, k1: float, best: float, layer: int = 1) -> list[dict]:
    base = {"model": model, "feature": feature, "method": "mean_diff", "layer": layer}
    return [{**base, "k": 1, "f1": k1, "val_f1": k1}, {**base, "k": 16, "f1": best, "val_f1": best}]


def test_classify_rule():
    assert classify(0.5, 0.9, 0.9, 0.95) == "emerges"
    assert classify(0.5, 0.7, 0.9, 0.95) == "mixed"  # rose, but no dedicated neuron at the end
    assert classify(0.9, 0.6, 0.95, 0.94) == "splits"
    assert classify(0.9, 0.6, 0.95, 0.7) == "mixed"  # fell, and the feature itself got harder
    assert classify(0.8, 0.85, 0.9, 0.9) == "unchanged"


def test_models_are_ordered_by_size_not_by_name_or_row_order():
    table = pd.DataFrame(
        rows("pythia-410m", "python", 0.95, 0.97)  # the largest first in the rows
        + rows("pythia-70m", "python", 0.6, 0.9)
        + rows("pythia-160m", "python", 0.8, 0.93)
        + rows("pythia-70m", "french", 0.9, 0.95)
        + rows("pythia-410m", "french", 0.6, 0.94)
        + rows("pythia-70m", "digit", 0.7, 0.8)
        + rows("pythia-410m", "digit", 0.72, 0.8)
        + rows("pythia-70m", "only_small", 0.7, 0.8)
    )
    out = scale_dynamics(table).set_index("feature")
    assert out.loc["python", "models"] == ["pythia-70m", "pythia-160m", "pythia-410m"]
    assert out.loc["python", "k1_f1"] == [0.6, 0.8, 0.95]
    assert out["dynamics"].to_dict() == {
        "digit": "unchanged",
        "french": "splits",
        "python": "emerges",
    }  # a feature seen in one model has no dynamics


def test_rotation_controls_do_not_count():
    table = pd.DataFrame(
        rows("pythia-70m", "python", 0.6, 0.9)
        + rows("pythia-410m", "python", 0.95, 0.97)
        + [
            {**r, "method": "mean_diff+rotated", "f1": 0.99, "val_f1": 0.99}
            for r in rows("pythia-70m", "python", 0.6, 0.9)
        ]
    )
    assert scale_dynamics(table).iloc[0]["k1_f1"] == [0.6, 0.95]
