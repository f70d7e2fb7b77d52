"""Train a small top-k SAE on a model's activations, offline, and save it in SAELens's format.

No SAE for the offline models can be downloaded, so a user rehearses with one trained here:
token activations of the site are read with the same torch hooks as extraction (every real
token but the first, whose activations are outliers in most models) from the texts of built-in
feature collections (version-pinned sources, no network), and a top-k SAE (Gao et al. 2024:
ReLU of the k largest pre-activations, unit-norm decoder rows, b_dec at the data mean, the
encoder initialised as the decoder's transpose, Adam on the mean squared error) is fitted.

Why not SAELens's trainer: its runner trains on a TransformerLens 3 `HookedTransformer`, and
sae-lens cannot be installed beside this project's transformer-lens 4. The folder written is
SAELens's format (architecture "topk"), so `SAE.load_from_disk` reads it too.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from probing.model_sites import run_with_site_hooks
from probing.sae.saved import SAEConfig, save_sae, site_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSpec:
    """What to train: the site, the SAE's size and sparsity, the optimisation."""

    hook_name: str  # e.g. blocks.4.hook_resid_post
    d_sae: int
    k: int
    tokens: int = 400_000  # token activations read (a tenth held out to measure)
    epochs: int = 4
    batch_size: int = 2048
    lr: float = 4e-4
    seed: int = 0


def collect_activations(model, datasets, hook_name: str, n_tokens: int, batch_size: int = 16):
    """[n, d_in] float32 site activations of the datasets' real tokens (position 0 left out),
    sequences in a seeded random order, until `n_tokens`."""
    if model.sites is None:
        raise ValueError(f"{model.name}: its sites are not verified for torch hooks")
    site = site_of(hook_name)
    chunks: list[torch.Tensor] = []
    have = 0
    bar = tqdm(total=n_tokens, desc=f"reading {hook_name}", unit="tok")
    with torch.inference_mode():
        for dataset in datasets:
            order = np.random.default_rng(0).permutation(dataset.n_sequences)
            for start in range(0, len(order), batch_size):
                if have >= n_tokens:
                    break
                seqs = np.sort(order[start : start + batch_size])
                lengths = dataset.lengths[seqs]
                tokens = torch.from_numpy(dataset.tokens[seqs, : int(lengths.max())]).long()
                real = torch.arange(tokens.shape[1])[None, :] < torch.from_numpy(lengths)[:, None]
                real[:, 0] = False

                def read(layer, acts, _real=real):
                    chunks.append(acts[_real.to(acts.device)].float().cpu())

                run_with_site_hooks(
                    model.sites, tokens.to(model.device), site.hook, [site.layer], read
                )
                have += len(chunks[-1])
                bar.update(len(chunks[-1]))
    bar.close()
    return torch.cat(chunks)[:n_tokens]


def train_topk(acts: torch.Tensor, spec: TrainSpec, progress: bool = True):
    """Fit a top-k SAE to `acts` [n, d_in]; returns (weights, report) where the report has
    the held-out fraction of variance unexplained (fvu) and the share of dead latents."""
    generator = torch.Generator().manual_seed(spec.seed)
    perm = torch.randperm(len(acts), generator=generator)
    n_eval = max(1, len(acts) // 10)
    held_out, train = acts[perm[:n_eval]], acts[perm[n_eval:]]
    d_in = acts.shape[1]
    W_dec = torch.randn(spec.d_sae, d_in, generator=generator)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    params = {
        "W_enc": W_dec.T.clone().contiguous().requires_grad_(),
        "b_enc": torch.zeros(spec.d_sae, requires_grad=True),
        "W_dec": W_dec.requires_grad_(),
        "b_dec": train.mean(0).clone().requires_grad_(),
    }
    optimizer = torch.optim.Adam(params.values(), lr=spec.lr)
    steps = spec.epochs * math.ceil(len(train) / spec.batch_size)
    fired = torch.zeros(spec.d_sae, dtype=torch.bool)
    bar = tqdm(total=steps, desc=f"training {spec.d_sae} latents, k={spec.k}", disable=not progress)
    t0 = time.perf_counter()
    for _ in range(spec.epochs):
        order = torch.randperm(len(train), generator=generator)
        for start in range(0, len(train), spec.batch_size):
            x = train[order[start : start + spec.batch_size]]
            latents = _encode(x, params, spec.k)
            fired |= (latents > 0).any(0)
            loss = ((latents @ params["W_dec"] + params["b_dec"] - x) ** 2).sum(-1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():  # unit-norm decoder rows: the latents carry the scale
                params["W_dec"] /= params["W_dec"].norm(dim=1, keepdim=True)
            bar.update()
    bar.close()
    with torch.no_grad():
        recon = _encode(held_out, params, spec.k) @ params["W_dec"] + params["b_dec"]
        fvu = float(((recon - held_out) ** 2).sum() / ((held_out - held_out.mean(0)) ** 2).sum())
    weights = {name: p.detach() for name, p in params.items()}
    report = {
        "fvu": fvu,
        "dead_fraction": float((~fired).float().mean()),
        "train_tokens": len(train),
        "steps": steps,
        "seconds": time.perf_counter() - t0,
    }
    return weights, report


def _encode(x: torch.Tensor, params: dict, k: int) -> torch.Tensor:
    """SAELens's top-k encode with apply_b_dec_to_input: the k largest pre-activations, ReLU'd."""
    pre = (x - params["b_dec"]) @ params["W_enc"] + params["b_enc"]
    values, indices = pre.topk(k, dim=-1, sorted=False)
    return torch.zeros_like(pre).scatter(-1, indices, values.relu())


def train_sae(model, datasets, spec: TrainSpec, out: str | Path, sources: list[str]) -> dict:
    """Read, train, save: the folder holds an SAELens "topk" SAE of `model` at the site."""
    site_of(spec.hook_name)  # an unknown site fails before the model runs
    torch.manual_seed(spec.seed)
    acts = collect_activations(model, datasets, spec.hook_name, spec.tokens)
    log.info("%d token activations of %s read", len(acts), spec.hook_name)
    weights, report = train_topk(acts, spec)
    cfg = SAEConfig(
        architecture="topk",
        d_in=acts.shape[1],
        d_sae=spec.d_sae,
        hook_name=spec.hook_name,
        model_name=model.name,
        apply_b_dec_to_input=True,
        normalize_activations="none",
        k=spec.k,
        rescale_acts_by_decoder_norm=False,
    )
    metadata = {
        "dataset_path": "+".join(sources),
        "context_size": int(max(d.tokens.shape[1] for d in datasets)),
        "training_tokens": report["train_tokens"] * spec.epochs,
        "trained_by": "probing.sae.train",
        "fvu_held_out": report["fvu"],
        "dead_fraction": report["dead_fraction"],
    }
    save_sae(out, cfg, weights, metadata)
    return {**report, "tokens_read": len(acts), "out": str(out)}
