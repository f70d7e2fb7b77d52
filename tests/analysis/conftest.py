"""Hand-written results.jsonl files and a tiny activation cache: known inputs, known tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from probing.activations import ActivationStore, store_path
from probing.features.core.dataset import FeatureDataset
from probing.features.core.export import export_feature_dataset
from probing.models import byte_level_tokenizer

METRICS = ("precision", "recall", "accuracy", "balanced_accuracy", "mcc", "roc_auc", "pr_auc")


def row(model="pythia-70m", feature="python", layer=0, k=1, f1=0.5, support=None, **extra):
    """One result row with every required column; metrics other than F1 are F1 itself."""
    out = {
        "model": model,
        "revision": "main",
        "feature": feature,
        "collection": "programming_language",
        "category": "programming_language",
        "layer": layer,
        "method": "mean_diff",
        "backend": "sklearn",
        "k": k,
        "f1": f1,
        **{m: f1 for m in METRICS},
        "support": support if support is not None else list(range(k)),
        "n_train": 32,
        "n_test": 8,
        "positive_fraction": 0.5,
        "d_mlp": 2048,
    }
    out.update(extra)
    return out


def write_results(run_dir: Path, rows: list[dict]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "results.jsonl"
    with path.open("a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


def saved_run(
    tmp_path, name: str, overrides: list[str], revision: str, n_layers: int, **extra
) -> Path:
    """A run directory as Hydra leaves it: rows of `n_layers` layers beside the composed
    config (.hydra/config.yaml) of `overrides`."""
    from omegaconf import OmegaConf

    from tests.conftest import compose_cfg

    rows = [row("tiny-pythia", "python", la, k, 0.5, list(range(k)), revision=revision, **extra)
            for la in range(n_layers) for k in (1, 16)]  # fmt: skip
    run = tmp_path / name
    write_results(run, rows)
    (run / ".hydra").mkdir()
    cfg = compose_cfg(tmp_path, ["model=tiny-pythia", *overrides])
    (run / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    return run


def curve(
    model: str, feature: str, layer: int, f1s: dict[int, float], neuron: int = 0
) -> list[dict]:
    """Rows for one layer's k sweep; the k=1 support is `neuron`."""
    return [
        row(model, feature, layer, k, f1, support=[neuron] if k == 1 else list(range(k)))
        for k, f1 in f1s.items()
    ]


@pytest.fixture
def sweep_rows() -> list[dict]:
    """Two models, two features, two layers each, ks 1, 2, 4, 8 with known curves."""
    rows = []
    for model, scale in (("pythia-160m", 1.0), ("pythia-70m", 0.8)):
        rows += curve(model, "python", 0, {1: 0.4 * scale, 2: 0.5, 4: 0.6, 8: 0.7}, neuron=3)
        rows += curve(model, "python", 5, {1: 0.9 * scale, 2: 0.92, 4: 0.95, 8: 1.0}, neuron=345)
        rows += curve(model, "c", 0, {1: 0.2, 2: 0.3, 4: 0.8, 8: 0.85}, neuron=7)
        rows += curve(model, "c", 5, {1: 0.1, 2: 0.2, 4: 0.3, 8: 0.4}, neuron=9)
    return rows


@pytest.fixture
def token_cache(tmp_path) -> tuple[Path, FeatureDataset, np.ndarray, np.ndarray]:
    """PROBING_CACHE with one feature dataset ("python", token-level) and a tiny-pythia store
    whose layer 1 neuron 2 activation equals the example index (so the top example is known),
    and neuron 3 its negative.
    Returns the cache, the dataset, the activations and the text as letters [n_seq, seq_len]."""
    cache = tmp_path / "cache"
    rng = np.random.default_rng(0)
    n_seq, seq_len = 6, 40
    letters = rng.choice(list("abcdefghijklmnopqrstuvwxyz"), (n_seq, seq_len))
    tokenizer = byte_level_tokenizer()  # tiny-pythia's: a letter is one token
    tokens = np.array([tokenizer.convert_tokens_to_ids(list(seq)) for seq in letters])
    example_seq = np.repeat(np.arange(n_seq), 2)
    example_pos = np.tile([5, 30], n_seq)
    labels = (np.arange(len(example_seq)) % 2)[:, None]
    dataset = FeatureDataset(
        name="programming_language",
        feature_names=["python"],
        tokens=tokens,
        lengths=np.full(n_seq, seq_len),
        example_seq=example_seq,
        example_pos=example_pos,
        labels=labels,
        groups=example_seq,
        aggregation="token",
    )
    # written as build_feature_dataset writes a cache entry: an exported dataset folder
    export_feature_dataset(dataset, cache / "features" / "programming_language-test", tokenizer)
    n_ex, d_mlp = dataset.n_examples, 4
    metadata = {
        "model": "tiny-pythia",
        "revision": "main",
        "model_config_hash": "0" * 16,
        "model_dtype": "float32",
        "dataset": dataset.name,
        "dataset_hash": dataset.content_hash(),
        "hook": "blocks.{layer}.mlp.hook_post",
        "reader": "hf_hooks",
        "aggregation": "token",
        "dtype": "float32",
        "d_mlp": d_mlp,
        "n_examples": n_ex,
        "n_sequences": n_seq,
    }
    store = ActivationStore(store_path(cache / "activations", metadata), metadata)
    acts = rng.normal(size=(n_ex, d_mlp)).astype(np.float32)
    acts[:, 2] = np.arange(n_ex)
    acts[:, 3] = -np.arange(n_ex)  # lower on label 1 (odd examples): encodes it negatively
    store.write(1, 0, acts, n_seq_done=n_seq)
    store.mark_complete(1)
    return cache, dataset, acts, letters


@pytest.fixture
def report_run(tmp_path, token_cache) -> tuple[Path, Path]:
    """A run directory with two models (tiny-pythia's neuron page has a store, pythia-70m's
    does not) and the cache; returns (run_dir, cache)."""
    cache = token_cache[0]
    tiny = dict(n_train=10, n_test=2)
    rows = []
    for layer, (f1_k1, neuron) in enumerate(((0.3, 0), (0.8, 2))):
        for k, f1 in {1: f1_k1, 2: f1_k1 + 0.05, 4: f1_k1 + 0.1}.items():
            support = [neuron] if k == 1 else list(range(k))
            rows.append(row("tiny-pythia", "python", layer, k, f1, support, **tiny))
    for layer in range(6):
        rows += curve(
            "pythia-70m", "python", layer, {1: 0.9 - 0.1 * layer, 4: 0.95 - 0.1 * layer}, neuron=7
        )
        rows += curve("pythia-70m", "c", layer, {1: 0.5, 4: 0.9}, neuron=layer)
    run_dir = tmp_path / "multirun"
    write_results(run_dir / "0_tiny", rows[:6])
    write_results(run_dir / "1_pythia", rows[6:])
    return run_dir, cache
