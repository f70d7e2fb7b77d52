"""The W&B names a no-code dashboard relies on: groups per sweep, key:value tags, summary keys,
and reading results back from W&B failing with one clear line when offline."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.aggregate import finalize
from probing.loggers import config_tags, summary_metrics, sweep_group, top_neurons
from probing.summaries import summarize
from tests.analysis.conftest import curve


def test_jobs_of_one_sweep_share_a_group(tmp_path):
    sweep = tmp_path / "multirun" / "2026-11-25" / "04-10-05"
    for job in ("0_a", "1_b"):
        (sweep / job).mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("{}")
    assert sweep_group(sweep / "0_a") == sweep_group(sweep / "1_b") == "sweep-2026-11-25_04-10-05"
    single = tmp_path / "outputs" / "2026-11-25" / "04-11-00_tiny"
    single.mkdir(parents=True)
    assert sweep_group(single) == "run-04-11-00_tiny"


def test_tags_name_model_feature_probe_and_layers():
    config = {
        "model": {"name": "pythia-70m"},
        "feature": {"name": "programming_language"},
        "probe": {"method": "mean_diff", "backend": "auto", "rotate": True},
        "layer": {"layers": [0, 3, -1]},
    }
    assert config_tags(config) == [  # the backend is tagged once known, never as "auto"
        "model:pythia-70m",
        "feature:programming_language",
        "probe:mean_diff",
        "hook:mlp_post",
        "layers:0,3,-1",
        "control:rotated",
    ]
    revision = {**config, "model": {"name": "pythia-70m", "revision": "step1000"}}
    assert "revision:step1000" in config_tags(revision)
    assert config_tags({"layer": {"layers": "quartiles"}}) == ["hook:mlp_post", "layers:quartiles"]


def test_summary_keys_are_metric_slash_feature():
    rows = curve("pythia-70m", "python", 0, {1: 0.5, 2: 0.6, 4: 0.7}, neuron=3)
    rows += curve("pythia-70m", "python", 2, {1: 0.8, 2: 0.9, 4: 1.0}, neuron=12)
    rows += curve("pythia-70m", "c", 2, {1: 0.1, 2: 0.2, 4: 0.9}, neuron=4)
    results = finalize(pd.DataFrame(rows))
    summary = summarize(results)

    got = summary_metrics(results, summary)

    assert got["f1_k1/python"] == 0.8
    assert got["f1_max/python"] == 1.0
    assert got["best_layer/python"] == 2
    assert got["best_neuron/python"] == "L2N12"
    assert got["k90/python"] == 2  # 0.9 >= 0.9 * 1.0 first at k=2
    assert got["k90/c"] == 4
    assert got["f1_k1_mean"] == pytest.approx(0.45)
    assert got["k90_median"] == 3.0
    assert got["d_mlp"] == 2048
    top = top_neurons(results)
    assert top["neuron_id"].tolist()[:2] == ["L2N12", "L0N3"]
    assert top["f1"].is_monotonic_decreasing


def test_reading_wandb_without_a_key_says_what_to_do(monkeypatch):
    from analysis.wandb_source import WandbSourceError, load_wandb_results

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("NETRC", "/nonexistent")
    monkeypatch.setenv("WANDB_CONFIG_DIR", "/nonexistent")
    with pytest.raises(WandbSourceError, match="pass run directories"):
        load_wandb_results("someone/probing")
