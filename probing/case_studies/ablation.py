"""Ablation: does the model need a neuron where its feature is present, and only there?

The paper checks a "dedicated" neuron by setting it to its mean activation (or to zero) and
measuring the model's next-token loss: a neuron that encodes a context such as "this is Python"
should raise the loss on Python text when ablated, barely change it elsewhere, and matter more
than a random neuron of the same layer does.

Where the loss is read:
- sequence-level features (a text is Python or not): every next-token prediction of the text,
  the texts split by the feature's label;
- token-level features (this token is a noun): the prediction made at each example's token, the
  examples split by their label.
The mean a neuron is set to is its mean over every real token of the texts measured, positive and
negative alike, from the unablated pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from probing.activations.store import HOOKS
from probing.features.core.dataset import FeatureDataset
from probing.permutation_test import p_value

VALUES = ("mean", "zero")


@dataclass
class LossSplit:
    """Mean next-token loss (nats) where the feature is present (pos) and absent (neg)."""

    pos: float
    neg: float
    n_pos: int
    n_neg: int


def _token_mask(dataset: FeatureDataset, seqs: np.ndarray, width: int) -> np.ndarray:
    """[len(seqs), width - 1] True at each prediction of a real next token."""
    lengths = dataset.lengths[seqs]
    return np.arange(width - 1)[None, :] < (lengths[:, None] - 1)


def _loss_weights(dataset: FeatureDataset, feature: str, seqs: np.ndarray, width: int):
    """(pos, neg) weights [len(seqs), width - 1] over next-token predictions: which predictions
    count where the feature is present and where it is absent (see the module docstring)."""
    real = _token_mask(dataset, seqs, width)
    pos = np.zeros(real.shape, np.float64)
    neg = np.zeros(real.shape, np.float64)
    start, stop = dataset.examples_of(int(seqs[0]), int(seqs[-1]) + 1)
    inside = np.isin(dataset.example_seq[start:stop], seqs)  # seqs need not be contiguous
    labels = dataset.label(feature)[start:stop][inside]
    ex_seq = np.searchsorted(seqs, dataset.example_seq[start:stop][inside])  # row in the batch
    if dataset.aggregation == "token":
        ex_pos = dataset.example_pos[start:stop][inside]
        keep = ex_pos < width - 1  # the last token predicts nothing inside the window
        rows, cols, lab = ex_seq[keep], ex_pos[keep], labels[keep]
        keep = real[rows, cols]
        np.add.at(pos, (rows[keep & (lab == 1)], cols[keep & (lab == 1)]), 1.0)
        np.add.at(neg, (rows[keep & (lab == 0)], cols[keep & (lab == 0)]), 1.0)
    else:
        seq_label = np.zeros(len(seqs), np.int8)
        seq_label[ex_seq] = labels
        pos[seq_label == 1] = real[seq_label == 1]
        neg[seq_label == 0] = real[seq_label == 0]
    return pos, neg


class Ablator:
    """Runs `dataset`'s texts through `model` with chosen neurons of one layer overwritten.

    The sequences are fixed once (`sequences`), so every ablation of a layer is scored on the
    same predictions and their differences are paired.
    """

    def __init__(self, model, dataset: FeatureDataset, layer: int, sequences: np.ndarray,
                 batch_size: int = 16, hook: str = "mlp_post"):  # fmt: skip
        if not 0 <= layer < model.n_layers:
            raise ValueError(f"layer {layer} is not in 0..{model.n_layers - 1}")
        self.model, self.dataset, self.layer = model, dataset, layer
        self.sequences = np.sort(np.asarray(sequences))
        self.batch_size = batch_size
        self.hook_name = HOOKS[hook].format(layer=layer)
        self.width = model.d_mlp if hook == "mlp_post" else model.d_model
        self._mean: np.ndarray | None = None
        self._clean: list[np.ndarray] | None = None

    def _batches(self):
        for i in range(0, len(self.sequences), self.batch_size):
            seqs = self.sequences[i : i + self.batch_size]
            width = int(self.dataset.lengths[seqs].max())
            tokens = torch.from_numpy(self.dataset.tokens[seqs, :width]).long()
            yield seqs, width, tokens.to(self.model.device)

    @torch.no_grad()
    def token_losses(self, neurons: list[int] | None = None, value: str = "mean") -> list:
        """Per batch, [batch, width - 1] next-token losses with `neurons` set to `value` (None:
        the unablated model). The first call also measures each neuron's mean activation."""
        if value not in VALUES:
            raise ValueError(f"value must be one of {VALUES}, got {value!r}")
        if neurons is not None and self._mean is None:
            self.token_losses(None)
        idx = torch.as_tensor(neurons or [], dtype=torch.long, device=self.model.device)
        sums = torch.zeros(self.width, dtype=torch.float64)
        count = 0
        out = []
        for seqs, width, tokens in self._batches():
            lengths = self.dataset.lengths[seqs]
            real = torch.from_numpy(np.arange(width)[None, :] < lengths[:, None]).to(tokens.device)

            def hook(acts, hook, _real=real):
                nonlocal sums, count
                if neurons is None:
                    sums += (acts.double() * _real[..., None]).sum((0, 1)).cpu()
                    count += int(_real.sum())
                    return acts
                acts = acts.clone()
                fill = 0.0 if value == "zero" else torch.as_tensor(self._mean[idx.cpu()])
                acts[..., idx] = torch.as_tensor(fill, dtype=acts.dtype, device=acts.device)
                return acts

            logits = self.model.bridge.run_with_hooks(tokens, fwd_hooks=[(self.hook_name, hook)])
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            nll = -logp.gather(-1, tokens[:, 1:, None]).squeeze(-1)
            out.append(nll.cpu().numpy().astype(np.float64))
        if neurons is None:
            self._mean = (sums / max(count, 1)).numpy()
            self._clean = out
        return out

    def split(self, feature: str, losses: list) -> LossSplit:
        """The mean loss where `feature` is present and where it is absent."""
        tot_pos = tot_neg = n_pos = n_neg = 0.0
        for (seqs, width, _), nll in zip(self._batches(), losses, strict=True):
            pos, neg = _loss_weights(self.dataset, feature, seqs, width)
            tot_pos, n_pos = tot_pos + (nll * pos).sum(), n_pos + pos.sum()
            tot_neg, n_neg = tot_neg + (nll * neg).sum(), n_neg + neg.sum()
        return LossSplit(
            pos=float(tot_pos / n_pos) if n_pos else float("nan"),
            neg=float(tot_neg / n_neg) if n_neg else float("nan"),
            n_pos=int(n_pos),
            n_neg=int(n_neg),
        )

    @property
    def mean_activation(self) -> np.ndarray:
        if self._mean is None:
            self.token_losses(None)
        assert self._mean is not None  # token_losses(None) set it
        return self._mean

    def clean(self, feature: str) -> LossSplit:
        if self._clean is None:
            self.token_losses(None)
        assert self._clean is not None  # token_losses(None) set it
        return self.split(feature, self._clean)


def ablate_neuron(
    ablator: Ablator,
    feature: str,
    neuron: int,
    value: str = "mean",
    n_random: int = 50,
    seed: int = 0,
) -> dict:
    """One row: the loss change on positive and negative text when `neuron` is set to `value`,
    beside the same for `n_random` other neurons of its layer (seeded, the neuron excluded).

    `p_value`: is the neuron's harm to text with the feature (delta_pos) larger than a random
    neuron's of the same layer? `p_specific`: is its harm to text with the feature *beyond* its
    harm to text without it (delta_pos - delta_neg) larger than a random neuron's? Both rank the
    neuron among the random ones, so their smallest value is 1 / (n_random + 1)."""
    clean = ablator.clean(feature)
    hit = ablator.split(feature, ablator.token_losses([neuron], value))
    rng = np.random.default_rng(seed)
    others = np.setdiff1d(np.arange(ablator.width), [neuron])
    chosen = rng.choice(others, size=min(n_random, len(others)), replace=False)
    pos_deltas: list[float] = []
    neg_deltas: list[float] = []
    for other in chosen:
        split = ablator.split(feature, ablator.token_losses([int(other)], value))
        pos_deltas.append(split.pos - clean.pos)
        neg_deltas.append(split.neg - clean.neg)
    random_pos, random_neg = np.asarray(pos_deltas), np.asarray(neg_deltas)
    delta_pos, delta_neg = hit.pos - clean.pos, hit.neg - clean.neg
    return {
        "feature": feature,
        "layer": ablator.layer,
        "neuron": int(neuron),
        "value": value,
        "loss_pos": clean.pos,
        "loss_neg": clean.neg,
        "delta_pos": delta_pos,
        "delta_neg": delta_neg,
        "random_delta_pos_median": float(np.median(random_pos)) if len(random_pos) else np.nan,
        "random_delta_neg_median": float(np.median(random_neg)) if len(random_neg) else np.nan,
        # the share of random neurons whose ablation hurts positive text at least as much
        "random_at_least": float((random_pos >= delta_pos).mean()) if len(random_pos) else np.nan,
        "n_random": int(len(random_pos)),
        "p_value": p_value(delta_pos, random_pos),
        "p_specific": p_value(delta_pos - delta_neg, random_pos - random_neg),
        "n_pos_tokens": clean.n_pos,
        "n_neg_tokens": clean.n_neg,
        "mean_activation": float(ablator.mean_activation[neuron]),
    }


def balanced_sequences(
    dataset: FeatureDataset,
    feature: str,
    max_sequences: int,
    seed: int = 0,
    among: np.ndarray | None = None,
) -> np.ndarray:
    """Up to max_sequences sequences (of `among` where given: the test documents', so the texts
    that measure a neuron are not those it was chosen on), half with the feature present (a
    positive text, or a text holding a positive example) and half without, seeded."""
    labels = dataset.label(feature)
    has = np.zeros(dataset.n_sequences, bool)
    has[dataset.example_seq[labels == 1]] = True
    allowed = np.ones(dataset.n_sequences, bool)
    if among is not None:
        allowed[:] = False
        allowed[np.asarray(among, dtype=np.int64)] = True
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(has & allowed), np.flatnonzero(~has & allowed)
    if dataset.aggregation == "token":  # positives and negatives are read in the same texts
        return np.sort(rng.permutation(np.flatnonzero(allowed))[:max_sequences])
    half = max_sequences // 2
    take_pos = rng.permutation(pos)[: max(half, max_sequences - len(neg))]
    take_neg = rng.permutation(neg)[: max_sequences - len(take_pos)]
    return np.sort(np.concatenate([take_pos, take_neg]))
