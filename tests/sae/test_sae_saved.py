"""SAEs in SAELens's saved format: loading, encoding, and every way a folder can be unusable."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from probing.probes import SparseProbe
from probing.sae import SAEError, check_against_model, load_sae, read_config, resolve_sae_folder
from probing.sae.saved import SAEConfig, SAESite, save_sae, site_of

D_IN, D_SAE, PLANTED = 16, 32, 5


def sae_config(**changes) -> SAEConfig:
    base = dict(
        architecture="standard",
        d_in=D_IN,
        d_sae=D_SAE,
        hook_name="blocks.1.hook_resid_post",
        model_name="tiny-pythia",
        apply_b_dec_to_input=True,
        normalize_activations="none",
        k=None,
        rescale_acts_by_decoder_norm=False,
    )
    return SAEConfig(**{**base, **changes})


def random_weights(seed=0, threshold=False):
    g = torch.Generator().manual_seed(seed)
    w = {
        "W_enc": torch.randn(D_IN, D_SAE, generator=g) / D_IN**0.5,
        "b_enc": torch.randn(D_SAE, generator=g) * 0.1,
        "W_dec": torch.randn(D_SAE, D_IN, generator=g) / D_IN**0.5,
        "b_dec": torch.randn(D_IN, generator=g) * 0.1,
    }
    if threshold:
        w["threshold"] = torch.rand(D_SAE, generator=g) * 0.3
    return w


def planted_folder(tmp_path, direction):
    """An SAE whose latent PLANTED reads exactly `direction` (unit), the others random."""
    w = random_weights()
    w["W_enc"][:, PLANTED] = direction
    w["b_enc"][PLANTED] = 0.0
    w["b_dec"][:] = 0.0
    return save_sae(tmp_path / "sae", sae_config(), w)


def test_a_planted_latent_is_found_at_k1(tmp_path):
    rng = np.random.default_rng(0)
    direction = torch.from_numpy(rng.normal(size=D_IN)).float()
    direction /= direction.norm()
    sae = load_sae(planted_folder(tmp_path, direction))
    y = rng.integers(0, 2, 1200)
    x = rng.normal(size=(1200, D_IN)) * 0.5 + 3.0 * y[:, None] * direction.numpy()[None]
    latents = sae.encode(torch.from_numpy(x)).numpy()
    train, test = np.arange(800), np.arange(800, 1200)
    probe = SparseProbe(k=1, method="mean_diff").fit(latents[train], y[train])
    assert probe.support_.tolist() == [PLANTED]
    predicted = probe.predict(latents[test])
    tp = ((predicted == 1) & (y[test] == 1)).sum()
    f1 = 2 * tp / (predicted.sum() + y[test].sum())
    assert f1 >= 0.95


def test_encode_by_architecture(tmp_path):
    x = torch.randn(50, D_IN)
    w = random_weights(1, threshold=True)
    standard = load_sae(save_sae(tmp_path / "s", sae_config(), w))
    pre = (x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]
    torch.testing.assert_close(standard.encode(x), pre.relu())
    topk = load_sae(save_sae(tmp_path / "t", sae_config(architecture="topk", k=3), w))
    acts = topk.encode(x)
    assert ((acts > 0).sum(-1) <= 3).all() and ((acts > 0).sum(-1) >= 1).any()
    top3 = pre.topk(3, dim=-1).values.relu()
    torch.testing.assert_close(acts.sort(-1, descending=True).values[:, :3], top3)
    jump = load_sae(save_sae(tmp_path / "j", sae_config(architecture="jumprelu"), w))
    gated = jump.encode(x)
    assert ((gated > 0) == (pre > w["threshold"]) & (pre > 0)).all()
    assert (gated > 0).sum() < (pre > 0).sum()  # the thresholds gate some positive latents off
    no_bias = load_sae(save_sae(tmp_path / "n", sae_config(apply_b_dec_to_input=False), w))
    torch.testing.assert_close(no_bias.encode(x), (x @ w["W_enc"] + w["b_enc"]).relu())


def test_the_digest_follows_the_weights(tmp_path):
    a = load_sae(save_sae(tmp_path / "a", sae_config(), random_weights(0)))
    b = load_sae(save_sae(tmp_path / "b", sae_config(), random_weights(1)))
    again = load_sae(save_sae(tmp_path / "c", sae_config(), random_weights(0)))
    assert a.digest != b.digest and a.digest == again.digest


def test_pre_6_folders_read(tmp_path):
    folder = save_sae(tmp_path / "old", sae_config(architecture="topk", k=4), random_weights())
    new = json.loads((folder / "cfg.json").read_text())
    old = {k: v for k, v in new.items() if k not in ("metadata", "architecture", "k")}
    old.update(hook_point="blocks.0.hook_mlp_out", model_name="tiny-pythia", activation_fn="topk")
    old["activation_fn_kwargs"] = {"k": 4}
    (folder / "cfg.json").write_text(json.dumps(old))
    cfg = read_config(folder)
    assert (cfg.architecture, cfg.k, cfg.hook_name) == ("topk", 4, "blocks.0.hook_mlp_out")


def test_sites():
    assert site_of("blocks.3.mlp.hook_post") == SAESite("mlp_post", 3)
    assert site_of("blocks.2.hook_mlp_out") == SAESite("mlp_out", 2)
    assert site_of("blocks.4.hook_resid_pre") == SAESite("resid_post", 3)
    for bad in ("blocks.0.hook_resid_pre", "blocks.2.attn.hook_z", "hook_embed", ""):
        with pytest.raises(SAEError):
            site_of(bad)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "sae_weights.safetensors").unlink(), "no sae_weights.safetensors"),
        (lambda f: (f / "cfg.json").write_text("{not json"), "not readable JSON"),
        (lambda f: _edit(f, architecture="gated"), "architecture 'gated' is not supported"),
        (lambda f: _edit(f, d_sae=99), "W_enc has shape"),
        (lambda f: _edit(f, architecture="topk", k=0), "needs k in 1..d_sae"),
        (lambda f: _edit(f, normalize_activations="expected_average_only_in"), "not supported"),
        (lambda f: _edit_meta(f, hook_name="blocks.1.attn.hook_z"), "not a site probing reads"),
        (lambda f: (f / "sae_weights.safetensors").write_bytes(b"garbage"), "not a readable"),
        (lambda f: _edit(f, d_sae=True), "d_sae must be a positive integer"),
        (lambda f: _edit(f, architecture="topk", k=True), "needs k in 1..d_sae"),
        (lambda f: _edit(f, apply_b_dec_to_input="false"), "apply_b_dec_to_input must be true or"),
        (lambda f: _edit_meta(f, model_name=["pythia-70m"]), "model_name must be a string"),
        (lambda f: _edit(f, activation_fn="topk", activation_fn_kwargs=[4]), "must be an object"),
        (lambda f: _damage_weight(f, "W_enc", float("nan")), "W_enc has non-finite values"),
        (lambda f: _damage_weight(f, "b_dec", float("inf")), "b_dec has non-finite values"),
    ],
)
def test_unusable_folders_say_why(tmp_path, damage, message):
    folder = save_sae(tmp_path / "sae", sae_config(), random_weights())
    damage(folder)
    with pytest.raises(SAEError, match=message):
        load_sae(folder)


def test_a_folder_that_is_not_an_sae(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SAEError, match="not an SAE in SAELens's saved format"):
        load_sae(tmp_path)
    with pytest.raises(SAEError, match="is not a folder"):
        load_sae(tmp_path / "missing")


def test_checks_against_the_model():
    cfg = sae_config(model_name="EleutherAI/pythia-70m")
    check_against_model(cfg, "pythia-70m", "EleutherAI/pythia-70m", D_IN)
    with pytest.raises(SAEError, match="trained on 'EleutherAI/pythia-70m', not 'smollm2-135m'"):
        check_against_model(cfg, "smollm2-135m", None, D_IN)
    with pytest.raises(SAEError, match="d_in is 16 but blocks.1.hook_resid_post"):
        check_against_model(cfg, "pythia-70m", None, 512)


def test_hub_sources(tmp_path, monkeypatch):
    with pytest.raises(SAEError, match="registry name"):
        resolve_sae_folder(None, "gpt2-small-res-jb", "blocks.8.hook_resid_pre")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(SAEError, match="not in the local Hugging Face cache"):
        resolve_sae_folder(None, "someone/saes", "layer_1")
    # the same repo in the cache's own layout: refs/main -> snapshots/<commit>/<id>/
    repo = tmp_path / "hub" / "models--someone--saes"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    save_sae(repo / "snapshots" / commit / "layer_1", sae_config(), random_weights())
    folder = resolve_sae_folder(None, "someone/saes", "layer_1")
    assert load_sae(folder).cfg.d_sae == D_SAE


def _edit(folder, **changes):
    cfg = json.loads((folder / "cfg.json").read_text())
    (folder / "cfg.json").write_text(json.dumps({**cfg, **changes}))


def _edit_meta(folder, **changes):
    cfg = json.loads((folder / "cfg.json").read_text())
    cfg["metadata"].update(changes)
    (folder / "cfg.json").write_text(json.dumps(cfg))


def _damage_weight(folder, name, value):
    from safetensors.torch import load_file, save_file

    weights = load_file(folder / "sae_weights.safetensors")
    weights[name].view(-1)[0] = value
    save_file(weights, folder / "sae_weights.safetensors")


REFERENCE = __import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "sae_reference"


@pytest.mark.parametrize("architecture", ["standard", "topk", "jumprelu"])
def test_encode_agrees_with_saelens(architecture):
    """Folders SAELens 6.54.12 saved, with the latents its own encode computed
    (scripts/sae_reference.py): ours reads the files and computes the same latents."""
    folder = REFERENCE / architecture
    sae = load_sae(folder)
    assert sae.cfg.architecture == architecture
    assert (sae.cfg.model_name, sae.cfg.hook_name) == ("tiny-pythia", "blocks.1.hook_resid_post")
    expected = np.load(folder / "latents.npy")
    latents = sae.encode(torch.from_numpy(np.load(folder / "inputs.npy"))).numpy()
    assert (latents > 0).any() and (expected > 0).any()
    assert ((latents > 0) == (expected > 0)).all()  # the same latents fire
    np.testing.assert_allclose(latents, expected, rtol=1e-5, atol=1e-5)
