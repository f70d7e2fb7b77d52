"""Write tests/data/sae_reference/: small SAEs saved, loaded and encoded by SAELens itself.

Why: probing reads SAEs saved in SAELens's format with its own loader (probing/sae/saved.py),
because sae-lens pins transformer-lens<4 and cannot be imported next to the transformer-lens 4
this project uses. This fixture is what SAELens's own code writes and computes, so a test in the
project's venv can check that its loader reads SAELens's files and that its encode agrees with
SAELens's `sae.encode`, without SAELens installed.

For each architecture ("standard", "topk" with k=4, "jumprelu"), tests/data/sae_reference/<arch>/
holds:
  cfg.json, sae_weights.safetensors   exactly as `sae.save_model(dir)` writes them
  inputs.npy   [64, d_in] float32      seeded random site activations
  latents.npy  [64, d_sae] float32     SAELens's `sae.encode(inputs)` of the SAE loaded back
                                       from the folder with `SAE.load_from_disk(dir)`

The SAEs are float32 with d_in=64 (the d_model of conf/model/tiny-pythia.yaml, so that
metadata.hook_name "blocks.1.hook_resid_post" of model "tiny-pythia" has the right width) and
d_sae=48; their weights are random but seeded, with nonzero b_enc and b_dec, a positive
jumprelu threshold that gates off some latents with positive pre-activation, and
apply_b_dec_to_input True for standard and jumprelu, False for topk. normalize_activations is
SAELens's default "none". The script asserts that no pre-activation sits within MARGIN of a
decision boundary (0, the threshold, or the top-k cut), so the latents are robust to float
rounding differences between implementations. Running it again writes byte-identical files.

Run it in a separate virtualenv with SAELens (never in the project's .venv):

    python3.11 -m venv /tmp/saeref
    /tmp/saeref/bin/pip install torch==2.13.0          # the CPU build
    /tmp/saeref/bin/pip install sae-lens==6.54.12 torch==2.13.0
    /tmp/saeref/bin/python scripts/sae_reference.py    # from the repository root

(That resolved transformer-lens 3.9.0, transformers 5.25.0, safetensors 0.8.0, numpy 2.4.6.)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import sae_lens
import torch
from sae_lens import (
    SAE,
    JumpReLUSAE,
    JumpReLUSAEConfig,
    StandardSAE,
    StandardSAEConfig,
    TopKSAE,
    TopKSAEConfig,
)
from sae_lens.saes.sae import SAEMetadata
from safetensors.torch import load_file

SAE_LENS_VERSION = "6.54.12"
OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "sae_reference"
D_IN = 64  # tiny-pythia's hidden_size (conf/model/tiny-pythia.yaml)
D_SAE = 48
K = 4
N_INPUTS = 64
MARGIN = 1e-4  # the least distance of any pre-activation from a decision boundary
METADATA = {"model_name": "tiny-pythia", "hook_name": "blocks.1.hook_resid_post"}


def build(arch: str, seed: int) -> SAE:
    """An SAELens SAE of `arch` with seeded random weights."""
    meta = SAEMetadata(**METADATA)
    common = {"d_in": D_IN, "d_sae": D_SAE, "dtype": "float32", "device": "cpu"}
    if arch == "standard":
        sae: SAE = StandardSAE(
            StandardSAEConfig(**common, apply_b_dec_to_input=True, metadata=meta)
        )
    elif arch == "topk":
        sae = TopKSAE(TopKSAEConfig(**common, k=K, apply_b_dec_to_input=False, metadata=meta))
    elif arch == "jumprelu":
        sae = JumpReLUSAE(JumpReLUSAEConfig(**common, apply_b_dec_to_input=True, metadata=meta))
    else:
        raise ValueError(arch)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(D_IN, D_SAE, generator=g) / D_IN**0.5)
        # a separate decoder (not W_enc.T), rows of uneven norm
        w_dec = torch.randn(D_SAE, D_IN, generator=g) / D_IN**0.5
        sae.W_dec.copy_(w_dec * (0.5 + torch.rand(D_SAE, 1, generator=g)))
        sae.b_dec.copy_(0.5 * torch.randn(D_IN, generator=g))
        sae.b_enc.copy_(0.3 * torch.randn(D_SAE, generator=g) - 0.1)
        if arch == "jumprelu":
            sae.threshold.copy_(0.05 + 0.6 * torch.rand(D_SAE, generator=g))
    return sae


@torch.no_grad()
def boundary_margin(sae: SAE, x: torch.Tensor) -> float:
    """The least distance of a pre-activation from where a latent switches on or off."""
    pre = sae.process_sae_in(x) @ sae.W_enc + sae.b_enc
    if isinstance(sae, TopKSAE):  # the top-k cut, and the ReLU at 0 of the k kept
        top = pre.topk(K + 1, dim=-1).values
        return float(
            torch.minimum(top[:, :K].abs().min(-1).values, top[:, K - 1] - top[:, K]).min()
        )
    dist = pre.abs()  # the ReLU at 0
    if isinstance(sae, JumpReLUSAE):
        dist = torch.minimum(dist, (pre - sae.threshold).abs())
    return float(dist.min())


def main() -> None:
    assert sae_lens.__version__ == SAE_LENS_VERSION, sae_lens.__version__
    torch.use_deterministic_algorithms(True)
    for seed, arch in enumerate(["standard", "topk", "jumprelu"]):
        folder = OUT / arch
        if folder.exists():
            shutil.rmtree(folder)
        sae = build(arch, seed)
        sae.save_model(folder)

        g = torch.Generator().manual_seed(100 + seed)
        x = 1.5 * torch.randn(N_INPUTS, D_IN, generator=g)
        loaded = SAE.load_from_disk(folder)
        assert type(loaded) is type(sae), (type(loaded), type(sae))
        with torch.no_grad():
            latents = loaded.encode(x)
            assert torch.equal(latents, sae.encode(x)), f"{arch}: encode differs after round trip"
        for name, tensor in sae.state_dict().items():
            assert torch.equal(tensor, loaded.state_dict()[name]), f"{arch}: {name} differs"
        margin = boundary_margin(loaded, x)
        assert margin > MARGIN, f"{arch}: a pre-activation is {margin:.2e} from a boundary"

        np.save(folder / "inputs.npy", x.numpy().astype(np.float32))
        np.save(folder / "latents.npy", latents.numpy().astype(np.float32))

        weights = load_file(folder / "sae_weights.safetensors")
        active = (latents > 0).float()
        line = (
            f"{arch}: weights {sorted(weights)}, active per input {active.sum(-1).mean():.1f}"
            f"/{D_SAE}, latents ever active {int((active.sum(0) > 0).sum())}, "
            f"boundary margin {margin:.3g}"
        )
        if isinstance(loaded, JumpReLUSAE):
            with torch.no_grad():
                pre = loaded.process_sae_in(x) @ loaded.W_enc + loaded.b_enc
            gated = ((pre > 0) & (pre <= loaded.threshold)).float().mean()
            line += f", positive pre-activations gated off {gated:.1%}"
        print(line)
    print(json.dumps(json.loads((OUT / "jumprelu" / "cfg.json").read_text()), indent=2))


if __name__ == "__main__":
    main()
