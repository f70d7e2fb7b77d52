"""Read a hook's activations from a plain Hugging Face model with torch forward hooks.

The TransformerLens bridge puts a Python hook point on every component, which slows a forward
pass (`python -m benchmarks.extraction_overhead --bridge`: the README's table has the figures).
Extraction needs four sites only, so it hooks the HF modules themselves and keeps TransformerLens's hook *names* and
conventions as the vocabulary (a test pins both paths equal on GPT-NeoX, Llama and Gemma-3):

- mlp_post  (`blocks.L.mlp.hook_post`): the input of the MLP's down projection, the neurons;
- mlp_out   (`blocks.L.hook_mlp_out`): what the MLP adds to the residual stream (after
  Gemma's post-feed-forward norm);
- attn_out  (`blocks.L.hook_attn_out`): what attention adds (after Gemma's post-attention norm);
- resid_post (`blocks.L.hook_resid_post`): the decoder layer's output.

Only architectures whose layers are known to add exactly these outputs to the residual stream
are read this way (VERIFIED_MODEL_TYPES); any other (Granite scales each sub-block's output,
OLMo-2 and GLM-4 name their post-norms otherwise, Gemma-3n stacks AltUp streams...) returns None
from `find_sites`, and extraction reads it through the bridge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

# HF `model_type`s whose layout the sites below read as TransformerLens does: the three pinned
# equal to the bridge by tests/test_model_sites.py (gpt_neox, llama, gemma3_text) and the ones
# built of the same decoder layer (mistral, qwen2: Llama's; gemma2, gemma3: Gemma-3's).
VERIFIED_MODEL_TYPES = frozenset(
    {"gpt_neox", "llama", "mistral", "qwen2", "gemma2", "gemma3", "gemma3_text"}
)
# The down projection of each known MLP (its input is the neurons).
_DOWN_PROJECTIONS = ("down_proj", "dense_4h_to_h", "fc2", "c_proj")
# Norms applied to a sub-block's output before it joins the residual stream (Gemma 2/3).
_POST_MLP_NORMS = ("post_feedforward_layernorm",)
_POST_ATTN_NORMS = ("post_attention_layernorm",)
_ATTENTIONS = ("self_attn", "attention", "attn")


@dataclass(frozen=True)
class LayerSites:
    """The modules of one decoder layer that carry the four hooks."""

    layer: nn.Module
    down_proj: nn.Module
    mlp_out: nn.Module
    attn_out: nn.Module


@dataclass(frozen=True)
class ModelSites:
    """Where to call the model and where each layer's hooks sit."""

    base: nn.Module  # the decoder stack without the LM head
    layers: list[LayerSites]
    d_mlp: int
    d_model: int


class _StopForward(Exception):
    """Raised after the last requested layer: the layers above it are never run."""


def find_sites(hf_model: nn.Module) -> ModelSites | None:
    """The hook sites of a decoder-only HF model, or None where the layout is not verified."""
    config = getattr(hf_model, "config", None)
    if getattr(config, "model_type", None) not in VERIFIED_MODEL_TYPES:
        return None
    base = getattr(hf_model, "base_model", hf_model)
    blocks = _first_attr(base, ("layers", "h"))
    if not isinstance(blocks, nn.ModuleList) or not len(blocks):
        return None
    layers = []
    for block in blocks:
        mlp = getattr(block, "mlp", None)
        down = _first_attr(mlp, _DOWN_PROJECTIONS) if mlp is not None else None
        attention = _first_attr(block, _ATTENTIONS)
        if mlp is None or down is None or attention is None:
            return None
        post_attn = _first_attr(block, _POST_ATTN_NORMS) if _is_sandwich(block) else None
        post_mlp = _first_attr(block, _POST_MLP_NORMS)
        layers.append(LayerSites(block, down, post_mlp or mlp, post_attn or attention))
    d_mlp = _in_features(layers[0].down_proj)
    d_model = _out_features(layers[0].down_proj)
    if d_mlp is None or d_model is None:
        return None
    return ModelSites(base, layers, d_mlp, d_model)


def _is_sandwich(block: nn.Module) -> bool:
    """Gemma's layers norm each sub-block's output; Llama's `post_attention_layernorm` is the
    MLP's *input* norm, which the presence of a pre-feed-forward norm tells apart."""
    return hasattr(block, "pre_feedforward_layernorm")


def _first_attr(module: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        found = getattr(module, name, None)
        if found is not None:
            return found
    return None


def _in_features(module: nn.Module) -> int | None:
    if isinstance(module, nn.Linear):
        return module.in_features
    weight = getattr(module, "weight", None)  # GPT-2's Conv1D: weight [in, out]
    return int(weight.shape[0]) if weight is not None and weight.ndim == 2 else None


def _out_features(module: nn.Module) -> int | None:
    if isinstance(module, nn.Linear):
        return module.out_features
    weight = getattr(module, "weight", None)
    return int(weight.shape[1]) if weight is not None and weight.ndim == 2 else None


def _output_tensor(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def run_with_site_hooks(
    sites: ModelSites,
    tokens: torch.Tensor,
    hook: str,
    layers: list[int],
    read: Callable[[int, torch.Tensor], None],
) -> None:
    """Run `tokens` up to max(layers) and hand `read(layer, acts [batch, pos, width])` each
    requested layer's activations at `hook`; nothing above the last layer is computed."""
    handles = []
    last = max(layers)

    def reads_input(layer):
        def pre_hook(module, args):
            read(layer, args[0])  # returns None: the module's input stays as it is

        return pre_hook

    def reads_output(layer):
        def hook(module, args, output):
            read(layer, _output_tensor(output))

        return hook

    if hook not in ("mlp_post", "mlp_out", "attn_out", "resid_post"):
        raise ValueError(f"unknown hook {hook!r}")
    try:
        for layer in layers:
            site = sites.layers[layer]
            if hook == "mlp_post":
                handles.append(site.down_proj.register_forward_pre_hook(reads_input(layer)))
            else:
                module = {"mlp_out": site.mlp_out, "attn_out": site.attn_out}.get(hook, site.layer)
                handles.append(module.register_forward_hook(reads_output(layer)))
        forward_through(sites, tokens, last)
    finally:
        for handle in handles:
            handle.remove()


def forward_through(sites: ModelSites, tokens: torch.Tensor, last_layer: int) -> None:
    """The model's own forward pass up to and including `last_layer`, nothing above it (no
    later layers, final norm or LM head): extraction's floor."""

    def stop(module, args, output):
        raise _StopForward

    handle = sites.layers[last_layer].layer.register_forward_hook(stop)
    try:
        sites.base(input_ids=tokens, use_cache=False)
    except _StopForward:
        pass
    finally:
        handle.remove()


def output_weights(sites: ModelSites, layer: int) -> torch.Tensor:
    """The down projection of `layer` as [d_model, d_mlp] (column n: neuron n's output weights),
    float32 on the CPU; GPT-2's Conv1D stores it transposed."""
    down = sites.layers[layer].down_proj
    weight = torch.as_tensor(down.weight).detach().float().cpu()
    return weight if isinstance(down, nn.Linear) else weight.T
