"""Model facts have one home, conf/model/*.yaml."""

from __future__ import annotations

from pathlib import Path

from analysis.models import known_models, model_info

CONF_MODELS = Path(__file__).resolve().parents[2] / "conf" / "model"


def test_every_model_config_states_its_size_and_analysis_reads_it():
    known = known_models()
    assert set(known) == {p.stem for p in CONF_MODELS.glob("*.yaml")}
    assert all(info.params for info in known.values())  # every config says n_params
    assert known["pythia-6.9b"].n_layers == 32 and known["pythia-6.9b"].d_mlp == 16384
    assert model_info("smollm2-135m@main#resid_post") == model_info("smollm2-135m").__class__(
        "smollm2-135m@main#resid_post", 30, 1536, 134_515_008
    )


def test_tiny_pythias_stated_size_is_what_loads(tiny_model):
    info = known_models()["tiny-pythia"]
    assert (info.n_layers, info.d_mlp) == (tiny_model.n_layers, tiny_model.d_mlp)
    assert info.params == sum(p.numel() for p in tiny_model.hf_model.parameters())


def test_a_model_config_that_is_no_mapping_states_nothing(tmp_path, monkeypatch):
    """A user's conf/model/<name>.yaml holding a list (a slip of indentation): the report orders
    that model by what its rows say; before, an AttributeError ended the report."""
    import analysis.models as models
    from analysis.neurons import load_tokenizer

    (tmp_path / "listed.yaml").write_text("- name: listed\n- n_layers: 2\n")
    monkeypatch.setattr(models, "CONF_MODELS", tmp_path)
    models._configured.cache_clear()
    assert models._configured("listed") == {}
    monkeypatch.setattr("analysis.neurons.CONF_MODELS", tmp_path)
    load_tokenizer.cache_clear()
    assert load_tokenizer("listed") is None  # token ids on its pages, no traceback
    models._configured.cache_clear()
    load_tokenizer.cache_clear()
