"""hook=sae end to end on tiny-pythia: latents beside the neurons of their layer, the same
splits and nulls, a store of their own, and bad SAEs refused in one line before extraction."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from probing.config import validate_config
from probing.errors import ConfigError
from probing.experiment import run_experiment
from probing.results import read_results
from probing.sae.saved import SAEConfig, SAEError, save_sae
from tests.conftest import ROOT, compose_cfg, run_as_hydra_would

D_MLP, D_SAE, PLANTED = 256, 64, 7
RUN = [
    "model=tiny-pythia",
    "feature=programming_language",
    "feature.params.n_per_class=30",
    "feature.params.seq_len=32",
    "logger=none",
    "probe.ks=[1,2,4]",
    "baselines.permutations=20",
    "baselines.random_supports=5",
]


def mlp_post_sae(folder, neuron: int | None = None, seed: int = 0, model_name="tiny-pythia"):
    """An SAE on layer 1's neurons; with `neuron`, latent PLANTED is that neuron plus 10 (so
    its ReLU never clips) and its decoder direction is that neuron's axis."""
    g = torch.Generator().manual_seed(seed)
    w = {
        "W_enc": torch.randn(D_MLP, D_SAE, generator=g) * 0.01,
        "b_enc": torch.zeros(D_SAE),
        "W_dec": torch.randn(D_SAE, D_MLP, generator=g),
        "b_dec": torch.zeros(D_MLP),
    }
    if neuron is not None:
        w["W_enc"][:, PLANTED] = 0.0
        w["W_enc"][neuron, PLANTED] = 1.0
        w["b_enc"][PLANTED] = 10.0
        w["W_dec"][PLANTED] = 0.0
        w["W_dec"][PLANTED, neuron] = 1.0
    cfg = SAEConfig("standard", D_MLP, D_SAE, "blocks.1.mlp.hook_post", model_name, False,
                    "none", None, False)  # fmt: skip
    return save_sae(folder, cfg, w)


def test_latents_beside_neurons(tmp_path, capsys):
    first = mlp_post_sae(tmp_path / "random_sae")
    run_experiment(compose_cfg(tmp_path, [*RUN, "hook=sae", f"sae.path={first}"]), tmp_path / "a")
    rows = read_results(tmp_path / "a")
    assert set(rows["hook"]) == {"mlp_post", "sae"}
    assert set(rows["layer"]) == {1}  # the SAE's layer only, whatever the layer group says
    assert len(rows) == 2 * 5 * 3  # (neurons, latents) x 5 languages x 3 ks
    latents = rows[rows["hook"] == "sae"]
    assert latents["support"].map(max).max() < D_SAE
    k1 = latents[latents["k"] == 1]
    assert k1["null_f1"].notna().all() and k1["p_value"].notna().all()  # the same nulls
    assert latents["sae_digest"].nunique() == 1
    out = capsys.readouterr().out
    assert "neurons and SAE latents, layer 1" in out and "tiny-pythia#sae" in out

    # plant the best python neuron as a latent: found at k=1, same F1, decoder cosine 1
    k1 = rows[(rows["hook"] == "mlp_post") & (rows["k"] == 1) & (rows["feature"] == "python")]
    neuron = int(k1.sort_values("val_f1", ascending=False)["support"].iloc[0][0])
    planted = mlp_post_sae(tmp_path / "planted_sae", neuron)
    run_experiment(compose_cfg(tmp_path, [*RUN, "hook=sae", f"sae.path={planted}"]), tmp_path / "b")
    table = _side_by_side(tmp_path / "b")
    python = table[table["feature"] == "python"].iloc[0]
    assert (python["neuron"], python["latent"]) == (neuron, PLANTED)
    assert abs(python["latent_f1"] - python["neuron_f1"]) < 0.02
    assert python["decoder_cosine"] == pytest.approx(1.0, abs=1e-5)
    cosines = [json.loads(line) for line in (tmp_path / "b" / "sae_cosines.jsonl").open()]
    assert {c["feature"] for c in cosines} == set(table["feature"])

    # the report shows them side by side, the cosine beside the planted latent
    from analysis.report import main as report

    out = tmp_path / "report.html"
    assert report([str(tmp_path / "b"), "-o", str(out), "--cache", str(tmp_path / "cache")]) == 0
    page = out.read_text()
    assert "Neurons and SAE latents" in page and "decoder_cosine" in page
    assert "tiny-pythia#sae" in page  # the latents are their own "model" in the other tables
    assert "tiny-pythia#sae:" not in page  # one SAE of the model: no SAE name in the label

    # another SAE, another store; the neurons' store is shared
    stores = sorted(p.name for p in (tmp_path / "cache" / "activations" / "tiny-pythia").iterdir())
    assert len([s for s in stores if s.endswith(".zarr")]) == 3


def _side_by_side(run_dir):
    import pandas as pd

    from probing.sae.compare import side_by_side

    cosines = pd.read_json(run_dir / "sae_cosines.jsonl", lines=True)
    return side_by_side(read_results(run_dir), cosines)


def test_a_rerun_resumes_both_hooks(tmp_path):
    sae = mlp_post_sae(tmp_path / "sae")
    cfg = compose_cfg(tmp_path, [*RUN, "hook=sae", f"sae.path={sae}", "feature.only=[python]"])
    run_experiment(cfg, tmp_path / "run")
    before = (tmp_path / "run" / "results.jsonl").read_text()
    run_experiment(cfg, tmp_path / "run")  # a requeued job: every block is done, nothing rewritten
    assert (tmp_path / "run" / "results.jsonl").read_text() == before


def test_an_sae_of_another_model_fails_after_loading_before_extraction(tmp_path):
    # resid_post's width (d_model) is known only once the model loads: still before extraction
    g = torch.Generator().manual_seed(0)
    cfg = SAEConfig("standard", 32, 16, "blocks.0.hook_resid_post", "tiny-pythia", True, "none",
                    None, False)  # fmt: skip
    w = {"W_enc": torch.randn(32, 16, generator=g), "b_enc": torch.zeros(16),
         "W_dec": torch.randn(16, 32, generator=g), "b_dec": torch.zeros(32)}  # fmt: skip
    folder = save_sae(tmp_path / "narrow", cfg, w)
    with pytest.raises(SAEError, match="d_in is 32 but blocks.0.hook_resid_post of tiny-pythia"):
        run_experiment(compose_cfg(tmp_path, [*RUN, "hook=sae", f"sae.path={folder}"]), tmp_path)
    assert not (tmp_path / "cache" / "activations").exists() or not any(
        (tmp_path / "cache" / "activations").rglob("*.zarr")
    )


def test_cli_refuses_bad_saes_in_one_line(tmp_path):
    other = mlp_post_sae(tmp_path / "other_model", model_name="pythia-70m")
    (tmp_path / "empty").mkdir()
    env = {**os.environ, "PROBING_CACHE": str(tmp_path / "cache")}
    # the SAE of another model is refused by the config check, before the model loads (in this
    # process: the CLI's one-line path is the same as for the folder below)
    with pytest.raises(ConfigError, match="the SAE was trained on 'pythia-70m', not 'tiny-pythia'"):
        validate_config(compose_cfg(tmp_path, [*RUN, "hook=sae", f"sae.path={other}"]))
    cases = {str(tmp_path / "empty"): "is not an SAE in SAELens's saved format"}
    for path, message in cases.items():
        proc = subprocess.run(
            [sys.executable, "-m", "probing.run", *RUN, "hook=sae", f"sae.path={path}"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr[-2000:]
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0], proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "cache" / "activations").exists()  # refused before any extraction
    good = mlp_post_sae(tmp_path / "good")
    proc = subprocess.run(
        [sys.executable, "-m", "probing.run", *RUN, "hook=sae", f"sae.path={good}",
         f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "neurons and SAE latents, layer 1" in proc.stdout
    assert (tmp_path / "run" / "sae_cosines.jsonl").is_file()


def test_the_case_studies_of_an_sae_run_read_its_neurons(tmp_path, monkeypatch, capsys):
    """ablate and polysemantic on a hook=sae run: the SAE's latents are not units of the model,
    so the neurons probed beside them (hook mlp_post, the same layer) are what they read."""
    from probing.case_studies.ablate import main as ablate
    from probing.case_studies.polysemantic import main as polysemantic

    sae = mlp_post_sae(tmp_path / "sae")
    run = run_as_hydra_would(tmp_path, [*RUN, "hook=sae", f"sae.path={sae}"], tmp_path / "run")
    monkeypatch.setenv("PROBING_CACHE", str(tmp_path / "cache"))
    argv = [str(run), "--random", "2", "--max-sequences", "8", "--min-val-f1", "0"]
    assert ablate([*argv, "--values", "zero"]) == 0, capsys.readouterr().err
    rows = read_results(run)
    neurons = rows[(rows["hook"] == "mlp_post") & (rows["k"] == 1)]
    for r in map(json.loads, (run / "ablation.jsonl").read_text().splitlines()):
        supports = neurons[neurons["feature"] == r["feature"]]["support"].tolist()
        assert [r["neuron"]] in supports  # a neuron of the run, never a latent's index
    assert polysemantic([str(run), "--neurons", "2", "--top", "5"]) == 0
    assert json.loads((run / "neuron_contexts.json").read_text())["model"] == "tiny-pythia"
