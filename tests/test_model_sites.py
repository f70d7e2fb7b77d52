"""Extraction's torch hooks on the HF modules read what TransformerLens's hook points report.

The project's vocabulary is TransformerLens's (mlp.hook_post, hook_mlp_out, hook_attn_out,
hook_resid_post); extraction reads the same sites from the plain HF model (probing.model_sites),
which runs at the model's own speed. These tests pin the two paths equal: to float32 rounding,
and in bfloat16 to within the distance either path has from float32.
"""

from __future__ import annotations

import copy

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from probing.activations.extract import HOOKS
from probing.model_sites import find_sites, run_with_site_hooks
from probing.models import load_model
from tests.conftest import ROOT


def site_acts(model, tokens, hook):
    got = {}
    layers = list(range(model.n_layers))
    with torch.inference_mode():
        run_with_site_hooks(model.sites, tokens, hook, layers,
                            lambda layer, acts: got.__setitem__(layer, acts.float().clone()))  # fmt: skip
    return got


def bridge_acts(model, tokens, hook):
    names = {HOOKS[hook].format(layer=layer): layer for layer in range(model.n_layers)}
    with torch.inference_mode():
        _, cache = model.bridge.run_with_cache(tokens, names_filter=list(names))
    return {layer: cache[name].float() for name, layer in names.items()}


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def worst(a: dict, b: dict) -> float:
    return max(relative(a[layer], b[layer]) for layer in b)


@pytest.mark.parametrize("parallel", [True, False])
def test_random_gpt_neox_sites_equal_the_bridge_at_every_hook(parallel):
    """Pythia's architecture, both residual layouts, four layers: all hooks, all layers."""
    config = {"num_hidden_layers": 4, "use_parallel_residual": parallel}
    plain = load_model("neox", "random_gpt_neox", config=config, dtype="float32", device="cpu")
    bridged = load_model("neox", "random_gpt_neox", config=config, dtype="float32", device="cpu")
    assert plain.reader == "hf_hooks" and plain.d_mlp == 256 and plain.d_model == 64
    tokens = torch.randint(0, 256, (3, 20), generator=torch.Generator().manual_seed(0))
    for hook in HOOKS:
        ours, theirs = site_acts(plain, tokens, hook), bridge_acts(bridged, tokens, hook)
        assert ours[0].shape == theirs[0].shape, hook
        assert worst(ours, theirs) < 1e-5, hook


def test_layers_above_the_last_requested_are_never_run(tiny_model):
    ran = []
    top = tiny_model.sites.layers[1].layer
    handle = top.register_forward_hook(lambda *_: ran.append(1))
    try:
        got = {}
        with torch.inference_mode():
            run_with_site_hooks(tiny_model.sites, torch.zeros(1, 5, dtype=torch.long), "mlp_post",
                                [0], lambda layer, acts: got.__setitem__(layer, acts))  # fmt: skip
    finally:
        handle.remove()
    assert list(got) == [0] and got[0].shape == (1, 5, 256) and not ran
    assert not top._forward_hooks and not tiny_model.sites.layers[0].down_proj._forward_pre_hooks


def test_an_unknown_layout_has_no_sites_and_reads_through_the_bridge():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(4, 4)])
            self.config = type("Config", (), {"model_type": "llama"})()

    assert find_sites(Odd()) is None


def test_an_unverified_architecture_reads_through_the_bridge_even_if_its_layout_looks_known():
    """Granite has Llama's module names but scales each sub-block's output before adding it:
    the sites would read the wrong values, so only verified model types get them."""
    from transformers import GraniteConfig, GraniteForCausalLM

    config = GraniteConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=4, vocab_size=300,
                           residual_multiplier=0.5)  # fmt: skip
    assert find_sites(GraniteForCausalLM(config)) is None


def offline_model(name: str, dtype: str):
    spec = OmegaConf.to_container(OmegaConf.load(ROOT / f"conf/model/{name}.yaml"), resolve=True)
    return load_model(**{**spec, "dtype": dtype, "device": "cpu"})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smollm2-135m", "gemma3-270m"])
def test_offline_models_sites_equal_the_bridge(name):
    """SmolLM2 (Llama layout) and Gemma-3 (norms after each sub-block): in float32 the paths
    agree to rounding; in bfloat16 each is ~3-6% from float32 (measured) and they are no further
    from each other than twice that."""
    tokens = torch.randint(100, 5000, (2, 48), generator=torch.Generator().manual_seed(0))
    plain32 = offline_model(name, "float32")  # loaded once (a GGUF load costs ~30 s), then copied
    bridged32, plain16, bridged16 = (copy.deepcopy(plain32) for _ in range(3))
    for model in (plain16, bridged16):
        model.hf_model.to(torch.bfloat16)
        model.dtype = torch.bfloat16
    for hook in HOOKS:
        exact = site_acts(plain32, tokens, hook)
        assert worst(exact, bridge_acts(bridged32, tokens, hook)) < 1e-4, hook
        ours, theirs = site_acts(plain16, tokens, hook), bridge_acts(bridged16, tokens, hook)
        noise = max(worst(ours, exact), worst(theirs, exact))
        assert noise < 0.1, hook
        assert worst(ours, theirs) <= 2 * noise, hook
