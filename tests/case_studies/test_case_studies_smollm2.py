"""The case-study commands on a real model, SmolLM2-135M, each checked against a computation
made here without them: a neuron with no output weights, the model's own activations, all pairs
of its weight vectors. (tiny-pythia's planted neurons test them fast: test_ablation.py and
tests/analysis/.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

SIZE = ["feature.params.n_per_class=40"]  # the dataset the run probed, rebuilt from the cache


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Python vs JavaScript on layers 4-5 of SmolLM2: a real run whose best neurons the commands
    read (the forward pass stops after layer 5, so it takes a minute)."""
    tmp = tmp_path_factory.mktemp("smollm2_cases")
    env = {**os.environ, "PROBING_CACHE": str(tmp / "cache"), "WANDB_MODE": "disabled"}
    run_dir = tmp / "run"
    subprocess.run(
        [sys.executable, "-m", "probing.run", "model=smollm2-135m", "feature=programming_language",
         *SIZE, "feature.only=[python,javascript]", "layer=list", "layer.layers=[4,5]",
         "probe.ks=[1,2,4]", "logger=none", "progress=false", f"hydra.run.dir={run_dir}"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    return run_dir, env, tmp / "cache"


@pytest.fixture(scope="module")
def smollm2():
    from omegaconf import OmegaConf

    from probing.models import load_model

    spec = OmegaConf.to_container(OmegaConf.load(ROOT / "conf/model/smollm2-135m.yaml"))
    return load_model(**spec)


def command(env, *args, timeout=900):
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_ablation_cli_agrees_with_the_api_and_a_neuron_without_output_changes_nothing(run, smollm2):
    from probing.case_studies.ablate import run_config, test_sequences
    from probing.case_studies.ablation import Ablator, ablate_neuron, balanced_sequences
    from probing.features import build_feature_dataset

    run_dir, env, cache = run
    command(env, "probing.ablate", str(run_dir), "--features", "python", "--values", "zero",
            "--random", "2", "--max-sequences", "8")  # fmt: skip
    (row,) = [json.loads(line) for line in (run_dir / "ablation.jsonl").read_text().splitlines()]
    assert row["feature"] == "python" and row["layer"] in (4, 5) and row["n_random"] == 2

    dataset = build_feature_dataset("programming_language", smollm2.tokenizer,
                                    cache_dir=cache / "features", n_per_class=40)  # fmt: skip
    # the command measures on the run's test documents (the neuron was chosen on the others)
    held_out = test_sequences(run_config(run_dir), dataset, smollm2.tokenizer, ["python"])
    seqs = balanced_sequences(dataset, "python", 8, 0, held_out["python"])
    ablator = Ablator(smollm2, dataset, row["layer"], seqs, 8)
    assert ablator.clean("python").pos == pytest.approx(row["loss_pos"], rel=1e-5)
    hit = ablate_neuron(ablator, "python", row["neuron"], "zero", n_random=0)
    assert hit["delta_pos"] == pytest.approx(row["delta_pos"], abs=1e-5)

    # known input: with its output weights zeroed, a neuron's value cannot reach the loss
    down = smollm2.bridge.original_model.model.layers[row["layer"]].mlp.down_proj.weight
    saved = down[:, row["neuron"]].detach().clone()
    with torch.no_grad():
        down[:, row["neuron"]] = 0
    try:
        silent = Ablator(smollm2, dataset, row["layer"], ablator.sequences, 8)
        dead = ablate_neuron(silent, "python", row["neuron"], "zero", n_random=0)
    finally:
        with torch.no_grad():
            down[:, row["neuron"]] = saved
    assert dead["delta_pos"] == pytest.approx(0.0, abs=1e-6)
    assert dead["delta_neg"] == pytest.approx(0.0, abs=1e-6)


def test_polysemantic_top_activations_are_the_models_own(run, smollm2):
    from probing.case_studies.polysemantic import broad_corpus

    run_dir, env, cache = run
    command(env, "probing.case_studies.polysemantic", str(run_dir), "--neurons", "1", "--top", "5")
    contexts = json.loads((run_dir / "neuron_contexts.json").read_text())
    assert contexts["model"] == "smollm2-135m"
    ((name, neuron),) = contexts["neurons"].items()
    layer, index = (int(x) for x in name[1:].split("N"))
    corpus = broad_corpus(smollm2.tokenizer, cache / "features")
    values = [hit["activation"] for hit in neuron["top"]]
    assert values == sorted(values, reverse=True) and len(values) == 5
    for hit in neuron["top"][:2]:  # recomputed on that window alone
        seq = hit["sequence"]
        ids = torch.from_numpy(corpus.tokens[seq, : corpus.lengths[seq]]).long()[None]
        _, cache_ = smollm2.bridge.run_with_cache(ids, names_filter=f"blocks.{layer}.mlp.hook_post")
        act = cache_[f"blocks.{layer}.mlp.hook_post"][0, hit["position"], index].float().item()
        # within a few steps of the model's dtype: bfloat16 (dtype=auto on a CPU with AMX or
        # avx512_bf16) rounds a batch of one and a batch of many differently
        tolerance = max(1e-3, 4 * torch.finfo(smollm2.dtype).eps)
        assert act == pytest.approx(hit["activation"], rel=tolerance, abs=tolerance)
        assert corpus.sources[seq] == hit["source"]
    assert neuron["distinct_tokens"] >= 1 and 0 < neuron["top_token_share"] <= 1


def test_superposition_weight_statistics_match_all_pairs(run, smollm2, tmp_path):
    run_dir, env, _ = run
    command(env, "analysis.superposition", str(run_dir), "--weights", "-o", str(tmp_path))
    layers = pd.read_csv(tmp_path / "sparsity_by_layer.csv")
    assert sorted(layers["layer"]) == [4, 5]
    weights = pd.read_csv(tmp_path / "weights_by_layer.csv")
    assert sorted(weights["layer"]) == list(range(30))
    quarter = pd.read_csv(tmp_path / "first_quarter.csv")
    # layers 4-5 are both in the first quarter, so only the weights have a "rest" to compare
    assert set(quarter["statistic"]) == {"out_interference", "in_out_cosine", "out_effective_dims"}
    assert (quarter["model"] == "smollm2-135m").all() and (quarter["early_layers"] == 8).all()
    # the sampled mean |cos| between output weight vectors against every pair of layer 0's
    W = smollm2.bridge.W_out[0].detach().float().numpy()
    unit = W / np.linalg.norm(W, axis=1, keepdims=True)
    cos = np.abs(unit @ unit.T)[np.triu_indices(len(unit), 1)]
    sampled = weights.set_index("layer").loc[0, "out_interference"]
    assert sampled == pytest.approx(cos.mean(), rel=0.03)
