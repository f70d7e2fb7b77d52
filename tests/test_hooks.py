"""hook=: what is probed (the MLP's neurons, or a residual-stream-wide vector), one store each."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from probing.activations.extract import HOOKS, extract_activations, hook_width, open_store
from probing.config import ConfigError, validate_config
from probing.experiment import run_experiment
from probing.features.core.dataset import FeatureDataset
from probing.models import load_model
from probing.results import read_results
from tests.conftest import ROOT, compose_cfg

SMALL = ["model=tiny-pythia", "feature=programming_language", "feature.params.n_per_class=20",
         "feature.params.seq_len=32", "feature.only=[python]", "probe.ks=[1,2]", "logger=none",
         "layer=list", "layer.layers=[1]"]  # fmt: skip


@pytest.fixture(scope="module")
def model():
    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / "conf/model/tiny-pythia.yaml"), resolve=True)
    return load_model(**cfg)


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_each_hook_stores_what_the_model_computes_there(model, tiny_bridge, hook, tmp_path):
    """Mean over a text's tokens of the hook's activations, as the bridge itself reports them
    (the store reads with torch hooks on the HF modules: another path to the same values)."""
    tokens = np.array([[5, 6, 7, 8, 9, 0], [10, 11, 12, 0, 0, 0]], np.int32)
    lengths = np.array([5, 3], np.int32)
    ds = FeatureDataset(
        name="demo", feature_names=["f"], tokens=tokens, lengths=lengths,
        example_seq=np.arange(2), example_pos=np.full(2, -1), labels=np.array([[1], [0]]),
        groups=np.arange(2), aggregation="mean",
    )  # fmt: skip
    store = open_store(tmp_path, model, ds, "float32", hook)
    extract_activations(model, ds, store, [1], progress=False)
    got = store.read(1)
    assert got.shape == (2, hook_width(model, hook))
    name = HOOKS[hook].format(layer=1)
    with torch.no_grad():
        for s in range(2):
            _, cache = tiny_bridge.bridge.run_with_cache(
                torch.from_numpy(tokens[s : s + 1, : lengths[s]]).long()
            )
            expected = cache[name][0].float().mean(0).numpy()
            assert np.allclose(got[s], expected, atol=1e-5), hook


def test_hooks_get_their_own_stores_and_rows_say_which(tmp_path):
    for hook in ("mlp_post", "resid_post"):
        run_experiment(compose_cfg(tmp_path, [*SMALL, f"hook={hook}"]), tmp_path / hook)
    stores = sorted((tmp_path / "cache" / "activations" / "tiny-pythia").glob("*.zarr"))
    assert len(stores) == 2
    post = read_results(tmp_path / "mlp_post")
    resid = read_results(tmp_path / "resid_post")
    assert set(post["hook"]) == {"mlp_post"} and set(resid["hook"]) == {"resid_post"}
    assert max(max(s) for s in resid["support"]) < 64  # d_model of tiny-pythia
    from analysis.aggregate import load_results

    both = load_results(tmp_path / "mlp_post", tmp_path / "resid_post")
    assert set(both["model"]) == {"tiny-pythia", "tiny-pythia#resid_post"}


def test_hook_is_validated_and_ks_are_checked_against_its_width(tmp_path):
    with pytest.raises(ConfigError, match="hook"):
        validate_config(compose_cfg(tmp_path, [*SMALL, "hook=mlp_pre"]))
    cfg = compose_cfg(tmp_path, [*SMALL, "hook=resid_post", "probe.ks=[1,100]"])
    validate_config(cfg)  # 100 <= d_mlp 256 passes the schema; the width (64) is checked at run
    with pytest.raises(ConfigError, match="probe.ks has \\[100\\]"):
        run_experiment(cfg, tmp_path / "run")


def test_a_multirun_over_seeds_and_hooks_fills_one_store_each(tmp_path):
    """`-m seed=0,1 hook=mlp_post,resid_post`: two random-model revisions (seeds) x two hooks are
    four jobs into four stores, and the rows say which revision and hook they measured."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PROBING_CACHE": str(tmp_path / "cache"), "WANDB_MODE": "disabled"}
    sweep = tmp_path / "sweep"
    done = subprocess.run(
        [sys.executable, "-m", "probing.run", "-m", "seed=0,1", "hook=mlp_post,resid_post",
         *[o for o in SMALL if not o.startswith("logger")], "logger=none", "progress=false",
         f"hydra.sweep.dir={sweep}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    stores = sorted((tmp_path / "cache" / "activations" / "tiny-pythia").glob("*.zarr"))
    assert len(stores) == 4
    rows = read_results(sweep)
    pairs = set(zip(rows["revision"], rows["hook"], strict=True))
    assert pairs == {(f"random-seed{s}", h) for s in (0, 1) for h in ("mlp_post", "resid_post")}
