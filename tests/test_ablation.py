"""Ablation on tiny-pythia with planted neurons whose effect is known in advance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from probing.ablation import Ablator, ablate_neuron, balanced_sequences
from probing.features.dataset import FeatureDataset
from probing.models import load_model

ROOT = Path(__file__).resolve().parents[1]
MARK = "#"


@pytest.fixture(scope="module")
def model():
    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / "conf/model/tiny-pythia.yaml"), resolve=True)
    return load_model(**cfg)


def mlp(model, layer: int):
    return model.bridge.original_model.gpt_neox.layers[layer].mlp


def texts(n: int, seed: int = 0) -> pd.DataFrame:
    """Half the texts are sprinkled with MARK (the feature), half have none."""
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


@pytest.fixture(scope="module")
def dataset(model):
    return FeatureDataset.from_pandas(texts(40), model.tokenizer, seq_len=64)


@pytest.fixture(scope="module")
def planted(model, dataset):
    """Neuron 7 of layer 0 made to fire only at MARK tokens and to predict the space that follows
    MARK; neuron 11 made silent (its output weights zero). Restored afterwards."""
    layer, hot, silent = 0, 7, 11
    block = mlp(model, layer)
    saved = {n: p.detach().clone() for n, p in block.named_parameters()}
    tokens = torch.from_numpy(dataset.tokens).long()
    captured = {}

    def grab(acts, hook):
        captured["x"] = acts.detach()
        return acts

    with torch.no_grad():
        model.bridge.run_with_hooks(tokens, fwd_hooks=[("blocks.0.mlp.hook_in", grab)])
        x = captured["x"].reshape(-1, captured["x"].shape[-1])
        real = (np.arange(tokens.shape[1])[None] < dataset.lengths[:, None]).reshape(-1)
        mark_id = model.tokenizer.encode(MARK, add_special_tokens=False)[0]
        is_mark = (tokens.reshape(-1) == mark_id).numpy() & real
        direction = x[is_mark].mean(0) - x[~is_mark & real].mean(0)
        direction /= direction.norm()
        score = x @ direction
        cut = (score[is_mark].min() + score[~is_mark & real].max()) / 2
        block.dense_h_to_4h.weight[hot] = 40 * direction
        block.dense_h_to_4h.bias[hot] = -40 * cut
        # what it writes raises the logit of the token that always follows MARK (a space), so
        # the model now predicts it better where MARK is, and loses that when it is ablated
        space = model.tokenizer.encode(" ", add_special_tokens=False)[0]
        unembed = model.bridge.W_U[:, space]
        block.dense_4h_to_h.weight[:, hot] = 0.5 * unembed / unembed.norm()
        block.dense_4h_to_h.weight[:, silent] = 0.0
    yield layer, hot, silent
    with torch.no_grad():
        for n, p in block.named_parameters():
            p.copy_(saved[n])


def test_clean_loss_is_the_models_cross_entropy(model, dataset):
    seqs = np.arange(6)
    ablator = Ablator(model, dataset, 0, seqs, batch_size=4)
    losses = np.concatenate([b.ravel() for b in ablator.token_losses(None)])
    expected = []
    with torch.no_grad():
        for s in seqs:
            ids = torch.from_numpy(dataset.tokens[s, : dataset.lengths[s]]).long()[None]
            logits = model.bridge(ids)
            ce = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="none")
            expected.extend(ce.tolist())
    split = ablator.split("marked", ablator.token_losses(None))
    assert np.isclose(
        (split.pos * split.n_pos + split.neg * split.n_neg) / (split.n_pos + split.n_neg),
        np.mean(expected),
        atol=1e-5,
    )
    assert split.n_pos + split.n_neg == len(expected)
    assert len(losses) >= len(expected)


def test_planted_neuron_matters_on_its_feature_and_beats_random_neurons(model, dataset, planted):
    layer, hot, _ = planted
    ablator = Ablator(model, dataset, layer, balanced_sequences(dataset, "marked", 40), 8)
    row = ablate_neuron(ablator, "marked", hot, "zero", n_random=10)
    assert row["delta_pos"] > 0.05  # the model relied on it where MARK is
    assert abs(row["delta_neg"]) < 0.1 * row["delta_pos"]  # and it is silent elsewhere
    assert row["random_at_least"] == 0.0 and row["n_random"] == 10
    assert row["delta_pos"] > 10 * abs(row["random_delta_pos_median"])


def test_a_neuron_with_no_output_changes_nothing(model, dataset, planted):
    layer, _, silent = planted
    ablator = Ablator(model, dataset, layer, np.arange(10), 8)
    for value in ("mean", "zero"):
        row = ablate_neuron(ablator, "marked", silent, value, n_random=2)
        assert abs(row["delta_pos"]) < 1e-5 and abs(row["delta_neg"]) < 1e-5


def test_mean_ablation_uses_the_mean_over_real_tokens(model, dataset, planted):
    layer, hot, _ = planted
    ablator = Ablator(model, dataset, layer, np.arange(12), 8)
    seen = []

    def grab(acts, hook):
        seen.append(acts[..., hot].detach())
        return acts

    with torch.no_grad():
        for s in range(12):
            ids = torch.from_numpy(dataset.tokens[s, : dataset.lengths[s]]).long()[None]
            model.bridge.run_with_hooks(ids, fwd_hooks=[("blocks.0.mlp.hook_post", grab)])
    expected = torch.cat([a.ravel() for a in seen]).double().mean().item()
    assert ablator.mean_activation[hot] == pytest.approx(expected, rel=1e-4)


def test_balanced_sequences_take_both_sides(dataset):
    seqs = balanced_sequences(dataset, "marked", 10, seed=1)
    labels = dataset.label("marked")[seqs]
    assert len(seqs) == 10 and labels.sum() == 5 and (np.diff(seqs) > 0).all()


def test_cli_ablates_a_runs_best_neurons(tmp_path):
    """End to end: probe tiny-pythia, then ablate its best k=1 neurons from the run directory."""
    env = {
        "PROBING_CACHE": str(tmp_path / "cache"),
        "WANDB_MODE": "disabled",
        "PATH": "/usr/bin:/bin",
    }
    run = tmp_path / "run"
    subprocess.run(
        [sys.executable, "-m", "probing.run", "model=tiny-pythia", "feature=programming_language",
         "feature.params.n_per_class=24", "feature.params.seq_len=32", "feature.only=[python,c]",
         "probe.ks=[1,2]", "logger=none", "progress=false", f"hydra.run.dir={run}"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "probing.ablate", str(run), "--random", "3", "--max-sequences", "16"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (run / "ablation.jsonl").read_text().splitlines()]
    assert {(r["feature"], r["value"]) for r in rows} == {
        (f, v) for f in ("python", "c") for v in ("mean", "zero")
    }
    results = pd.read_json(run / "results.jsonl", lines=True)
    for r in rows:  # the neuron ablated is the run's k=1 neuron of that feature and layer
        supports = results[(results["feature"] == r["feature"]) & (results["k"] == 1)
                           & (results["layer"] == r["layer"])]["support"]  # fmt: skip
        assert [r["neuron"]] in supports.tolist()
        assert np.isfinite([r["delta_pos"], r["delta_neg"], r["random_delta_pos_median"]]).all()
    report = subprocess.run(
        [sys.executable, "-m", "analysis.report", str(run), "-o", str(tmp_path / "r.html"),
         "--cache", str(tmp_path / "cache")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "r.html").read_text()
    assert "Ablation of the best single neurons" in html and 'id="ablation"' in html
    bad = subprocess.run(
        [sys.executable, "-m", "probing.ablate", str(tmp_path)], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "not a probing run directory" in bad.stderr
