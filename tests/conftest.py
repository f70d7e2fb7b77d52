"""Shared fixtures: a tiny random GPT-NeoX and small synthetic datasets, no download."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from probing.features.core.dataset import FeatureDataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def shared_model_copies():
    """One folder of dense GGUF copies for every test and the runs they start (inherited
    through the environment), though each test has caches of its own: a GGUF load costs 16-52 s,
    a copy 0.2-2 s (probing/gguf_copies.py; tests/test_gguf_copies.py checks both ways)."""
    folder = os.environ.setdefault(
        "PROBING_MODELS", str(ROOT / ".cache" / "probing-test" / "models")
    )
    yield folder


def debug_overrides(overrides) -> list[str]:
    """debug=fast (19 permutations, 5 random supports) unless the test sets the baselines or
    the debug group itself: the null's cost is most of a tiny run's, and few tests are about it."""
    chosen = any(str(o).lstrip("+~").startswith(("baselines", "debug")) for o in overrides)
    return [] if chosen else ["debug=fast"]


def compose_cfg(tmp_path, overrides):
    """The project's config with `overrides`, its caches under tmp_path, no progress bars."""
    overrides = [f"paths.cache={tmp_path / 'cache'}", "progress=false", *overrides]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*debug_overrides(overrides), *overrides])
    GlobalHydra.instance().clear()
    return cfg


def run_as_hydra_would(tmp_path, overrides, run_dir: Path) -> Path:
    """run_experiment into `run_dir` with its config saved where Hydra saves it
    (.hydra/config.yaml), which the case studies read back."""
    from omegaconf import OmegaConf

    from probing.experiment import run_experiment

    cfg = compose_cfg(tmp_path, overrides)
    run_experiment(cfg, run_dir)
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    return run_dir


@pytest.fixture(scope="session")
def tiny_model():
    from probing.models import load_model

    return load_model("tiny-pythia", "random_gpt_neox", dtype="float32", device="cpu", seed=0)


@pytest.fixture(scope="session")
def tiny_bridge():
    """The same tiny model loaded again, for tests that use the TransformerLens bridge: booting
    it wraps the HF modules, which would switch the shared tiny_model's reader."""
    from probing.models import load_model

    model = load_model("tiny-pythia", "random_gpt_neox", dtype="float32", device="cpu", seed=0)
    model.bridge  # noqa: B018 - boot it
    return model


def make_dataset(aggregation: str = "mean", n_seq: int = 40, seq_len: int = 24, seed: int = 0):
    """Random byte tokens; for "token" three probed positions per sequence."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(6, seq_len + 1, n_seq)
    tokens = rng.integers(0, 256, (n_seq, seq_len))
    if aggregation == "token":
        example_seq = np.repeat(np.arange(n_seq), 3)
        example_pos = np.concatenate([rng.choice(n, 3, replace=False) for n in lengths])
    else:
        example_seq, example_pos = np.arange(n_seq), -np.ones(n_seq)
    n_ex = len(example_seq)
    return FeatureDataset(
        name=f"synthetic_{aggregation}",
        feature_names=["a", "b"],
        tokens=tokens,
        lengths=lengths,
        example_seq=example_seq,
        example_pos=example_pos,
        labels=rng.integers(0, 2, (n_ex, 2)),
        groups=example_seq,
        aggregation=aggregation,
    )


@pytest.fixture
def synthetic_dataset():
    return make_dataset
