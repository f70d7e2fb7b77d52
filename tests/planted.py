"""A neuron whose job is known in advance, planted in tiny-pythia: the case studies' known input.

Neuron 7 of layer 0 is made to fire only at MARK tokens and to raise the logit of the space that
always follows MARK in `marked_texts`, so the model now relies on it there and nowhere else;
neuron 11 is made silent (its output weights zero). `plant_mark_neuron` restores the weights.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf

from probing.features.core.dataset import FeatureDataset
from probing.models import load_model

ROOT = Path(__file__).resolve().parents[1]
MARK = "#"
LAYER, HOT, SILENT = 0, 7, 11


def tiny_pythia():
    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / "conf/model/tiny-pythia.yaml"), resolve=True)
    return load_model(**cfg)


def marked_texts(n: int, seed: int = 0) -> pd.DataFrame:
    """Half the texts are sprinkled with MARK (the feature `marked`), half have none."""
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa"]
    rows = []
    for i in range(n):
        parts = list(rng.choice(words, 12))
        if i % 2:
            for j in rng.choice(len(parts), 4, replace=False):
                parts[j] = MARK
        rows.append({"text": " ".join(parts), "marked": i % 2, "group": f"d{i}"})
    return pd.DataFrame(rows)


def marked_dataset(model, n: int = 40) -> FeatureDataset:
    return FeatureDataset.from_pandas(marked_texts(n), model.tokenizer, seq_len=64)


@contextmanager
def plant_mark_neuron(model, dataset: FeatureDataset):
    """Yields (layer, hot neuron, silent neuron) with the weights planted; restores them after."""
    block = model.bridge.original_model.gpt_neox.layers[LAYER].mlp
    saved = {n: p.detach().clone() for n, p in block.named_parameters()}
    tokens = torch.from_numpy(dataset.tokens).long()
    captured = {}

    def grab(acts, hook):
        captured["x"] = acts.detach()
        return acts

    with torch.no_grad():
        model.bridge.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{LAYER}.mlp.hook_in", grab)])
        x = captured["x"].reshape(-1, captured["x"].shape[-1])
        real = (np.arange(tokens.shape[1])[None] < dataset.lengths[:, None]).reshape(-1)
        mark_id = model.tokenizer.encode(MARK, add_special_tokens=False)[0]
        is_mark = (tokens.reshape(-1) == mark_id).numpy() & real
        direction = x[is_mark].mean(0) - x[~is_mark & real].mean(0)
        direction /= direction.norm()
        score = x @ direction
        cut = (score[is_mark].min() + score[~is_mark & real].max()) / 2
        block.dense_h_to_4h.weight[HOT] = 40 * direction
        block.dense_h_to_4h.bias[HOT] = -40 * cut
        space = model.tokenizer.encode(" ", add_special_tokens=False)[0]
        unembed = model.bridge.W_U[:, space]
        block.dense_4h_to_h.weight[:, HOT] = 0.5 * unembed / unembed.norm()
        block.dense_4h_to_h.weight[:, SILENT] = 0.0
    try:
        yield LAYER, HOT, SILENT
    finally:
        with torch.no_grad():
            for n, p in block.named_parameters():
                p.copy_(saved[n])
