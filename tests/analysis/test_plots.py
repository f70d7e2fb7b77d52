"""Every plot writes a real PNG of sensible size; bad input is an error, not an empty file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from analysis import plots
from analysis.aggregate import finalize
from analysis.tables import sparsity


@pytest.fixture
def results(sweep_rows) -> pd.DataFrame:
    return finalize(pd.DataFrame(sweep_rows))


def check_png(path, min_bytes: int = 8_000) -> np.ndarray:
    assert path.exists()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > min_bytes
    image = imread(path)
    assert image.shape[0] > 150 and image.shape[1] > 250
    assert image[..., :3].std() > 0.05  # something drawn, not one flat colour
    return image


def test_f1_vs_k(results, tmp_path):
    check_png(plots.f1_vs_k(results, "pythia-70m", "python", tmp_path / "f1.png"))
    with pytest.raises(ValueError, match="no rows"):
        plots.f1_vs_k(results, "pythia-70m", "nothing", tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_layer_heatmap_one_and_several_models(results, tmp_path):
    both = check_png(plots.layer_heatmap(results, tmp_path / "both.png"))
    one = results[results["model"] == "pythia-70m"]
    single = check_png(plots.layer_heatmap(one, tmp_path / "one.png"))
    assert both.shape[1] > single.shape[1]  # one panel per model


def test_sparsity_vs_scale(results, tmp_path):
    check_png(plots.sparsity_vs_scale(sparsity(results), tmp_path / "sparsity.png"))
    with pytest.raises(ValueError, match="empty"):
        plots.sparsity_vs_scale(sparsity(results.iloc[:0]), tmp_path / "empty.png")


def test_activation_histogram(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(200) % 2
    acts = rng.normal(size=200) + 3 * labels
    check_png(plots.activation_histogram(acts, labels, "L1N2: python", tmp_path / "hist.png"))


def test_k1_intervals_draws_each_interval(tmp_path):
    """The error bar of each best neuron spans exactly its 95% interval; one without an
    interval is a bare point; an empty table is an error, not an empty file."""
    best = pd.DataFrame(
        {
            "feature": ["python", "c", "python"],
            "model": ["pythia-70m", "pythia-70m", "pythia-160m"],
            "f1_k1": [0.9, 0.5, 0.8],
            "f1_low": [0.85, float("nan"), 0.6],
            "f1_high": [0.95, float("nan"), 0.9],
        }
    )
    fig = plots.k1_intervals_figure(best)
    (ax,) = fig.axes
    spans = sorted(
        (round(float(seg[0][0]), 6), round(float(seg[1][0]), 6))
        for collection in ax.collections
        for seg in collection.get_segments()
    )
    assert spans == [(0.5, 0.5), (0.6, 0.9), (0.85, 0.95)]
    check_png(plots.k1_intervals(best, tmp_path / "ci.png"), min_bytes=4_000)
    with pytest.raises(ValueError, match="no best-neuron rows"):
        plots.k1_intervals(best.iloc[:0], tmp_path / "none.png")


def test_ablation_effects(tmp_path):
    rows = pd.DataFrame(
        {
            "model": ["smollm2-135m"] * 2,
            "feature": ["python", "python"],
            "layer": [5, 5],
            "neuron": [707, 707],
            "value": ["mean", "zero"],
            "delta_pos": [0.2, 0.3],
            "delta_neg": [0.01, 0.02],
            "random_delta_pos_median": [0.001, 0.002],
        }
    )
    check_png(plots.ablation_effects(rows, tmp_path / "a.png"), min_bytes=4_000)
    with pytest.raises(ValueError, match="no ablation rows"):
        plots.ablation_effects(rows.iloc[:0], tmp_path / "none.png")
