"""Weight statistics by depth (the weight side of superposition), on matrices whose answer is
known and on a bridge's every layer; the command analysis.superposition --weights runs."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from probing.case_studies import weights as sp
from probing.case_studies.weights import CONF_MODELS


def test_weight_stats_on_known_matrices():
    d_model, d_mlp = 8, 8
    eye = np.eye(d_model)
    orthogonal = sp.weight_stats(eye, eye)  # each neuron writes its own direction
    assert orthogonal["out_interference"] == pytest.approx(0.0)
    assert orthogonal["in_out_cosine"] == pytest.approx(1.0)
    assert orthogonal["out_effective_dims"] == pytest.approx(8.0)
    crowded = sp.weight_stats(eye, np.tile(eye[:1], (d_mlp, 1)))  # all write the same direction
    assert crowded["out_interference"] == pytest.approx(1.0)
    assert crowded["out_effective_dims"] == pytest.approx(1.0)
    assert crowded["in_out_cosine"] == pytest.approx(1 / d_mlp)


def test_model_weight_stats_reads_every_layer_of_a_bridge():
    from probing.models import load_model

    cfg = OmegaConf.to_container(OmegaConf.load(CONF_MODELS / "tiny-pythia.yaml"), resolve=True)
    model = load_model(**cfg)
    table = sp.model_weight_stats(model.bridge, "tiny-pythia")
    assert table["layer"].tolist() == [0, 1] and table["rel_depth"].tolist() == [0.0, 1.0]
    # random init: neurons nearly orthogonal in 64 dims, and W_out spans most of them
    assert (table["out_interference"] < 0.2).all() and (table["out_effective_dims"] > 30).all()


def test_the_command_refuses_a_model_without_a_config_in_one_line(tmp_path, capsys):
    assert sp.main(["no-such-model", "-o", str(tmp_path / "w.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no-such-model" in err and "\n" not in err
    assert not (tmp_path / "w.csv").exists()


def test_a_checkpoint_label_loads_that_revision(monkeypatch):
    """ "name@revision" (how the report and superposition label a checkpoint) loads that
    revision's weights, not the config's default revision under the checkpoint's name."""
    import probing.models

    load = probing.models.load_model
    asked = []

    def recording_load(**cfg):
        asked.append(cfg["revision"])
        return load(**{**cfg, "revision": None})  # tiny-pythia has no checkpoints to load

    monkeypatch.setattr(probing.models, "load_model", recording_load)
    table = sp.model_weights_table(["tiny-pythia@step1", "tiny-pythia"])
    assert asked == ["step1", None]
    assert set(table["model"]) == {"tiny-pythia@step1", "tiny-pythia"}
