"""python -m probing.sae train: a top-k SAE fitted offline, written in SAELens's format."""

from __future__ import annotations

import json
import shlex

import pytest
import torch

from probing.sae import load_sae
from probing.sae.__main__ import main
from probing.sae.train import TrainSpec, train_topk
from tests.conftest import ROOT


@pytest.fixture
def one_thread():
    """Tiny products: a second intra-op thread only waits (18 s vs 0.4 s on a busy 2-core host)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_train_topk_recovers_a_sparse_dictionary(one_thread):
    """Data made of 2 of 24 atoms per row: a 24-latent, k=2 SAE explains most of it, and far
    more than a random one (the untrained initialisation)."""
    g = torch.Generator().manual_seed(0)
    atoms = torch.randn(24, 32, generator=g)
    atoms /= atoms.norm(dim=1, keepdim=True)
    picks = torch.rand(3000, 24, generator=g).argsort(1)[:, :2]  # 2 distinct atoms a row
    x = (atoms[picks] * (1 + torch.rand(3000, 2, 1, generator=g))).sum(1)
    spec = TrainSpec("blocks.0.hook_resid_post", d_sae=24, k=2, epochs=20, batch_size=256,
                     lr=3e-3)  # fmt: skip
    _, report = train_topk(x, spec, progress=False)
    _, untrained = train_topk(x, TrainSpec(**{**spec.__dict__, "epochs": 0}), progress=False)
    assert report["fvu"] < 0.25 < untrained["fvu"]
    assert report["dead_fraction"] < 0.2


def test_cli_trains_and_saves_an_sae_probing_reads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PROBING_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(ROOT)
    out = tmp_path / "sae"
    args = ["train", "model=tiny-pythia", "--site", "blocks.1.hook_mlp_out", "--d-sae", "96",
            "--k", "8", "--tokens", "6000", "--collections", "programming_language",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    report = json.loads(printed.split("\nSAE written")[0])
    # the command it suggests probes the SAE's own model (without model=, smollm2-135m's run
    # refuses it: "the SAE was trained on 'tiny-pythia'")
    hint = shlex.split(printed.split("probe it with: ")[1])
    assert hint[:3] == ["python", "-m", "probing.run"] and "model=tiny-pythia" in hint
    assert f"sae.path={out}" in hint
    assert report["tokens_read"] == 6000 and 0 < report["fvu"] < 1
    sae = load_sae(out)
    assert (sae.cfg.architecture, sae.cfg.k, sae.cfg.d_in, sae.cfg.d_sae) == ("topk", 8, 64, 96)
    assert (sae.cfg.model_name, sae.cfg.hook_name) == ("tiny-pythia", "blocks.1.hook_mlp_out")
    meta = json.loads((out / "cfg.json").read_text())["metadata"]
    assert meta["dataset_path"] == "programming_language" and meta["fvu_held_out"] < 1
    # an existing folder is never overwritten; an unknown site fails before the model loads
    assert main(args) == 2
    assert "not empty" in capsys.readouterr().err
    assert main([*args[:3], "blocks.1.attn.hook_z", *args[4:-1], str(tmp_path / "x")]) == 2
    assert "not a site probing reads" in capsys.readouterr().err


@pytest.mark.parametrize(
    "odd, message",
    [
        (["--tokens", "0"], "--tokens 0 must be at least 100"),
        (["--tokens", "1"], "--tokens 1 must be at least 100"),  # trained an SAE of NaN b_dec
        (["--batch-size", "0"], "--batch-size 0 must be at least 1"),
        (["--epochs", "-1"], "--epochs -1 must be at least 0"),
        (["--lr", "nan"], "--lr nan must be a positive number"),
        (["--lr", "-0.1"], "--lr -0.1 must be a positive number"),
        (["--out", "a_file"], "a_file is a file or not empty"),
        (["--out", "a_file/sae"], "a part of the path is a file"),  # found after training
        (["--collections", "no_such"], "--collections no_such: no such collection"),
        # an override after --collections is read as a collection name
        (["--collections", "text_source", "model.dtype=float32"], "overrides go before"),
    ],
)
def test_cli_refuses_odd_arguments_in_one_line_before_the_model_loads(
    odd, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("not an SAE folder")
    monkeypatch.setattr("probing.sae.__main__._train", lambda *a: pytest.fail("it trained"))
    args = ["train", "model=tiny-pythia", "--site", "blocks.1.hook_mlp_out", "--d-sae", "16",
            "--k", "4", "--out", str(tmp_path / "sae"), *odd]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert (tmp_path / "a_file").read_text() == "not an SAE folder"


@pytest.mark.parametrize(
    "override, message", [("model=nope", "model"), ("probe.kss=1", "probe.kss")]
)
def test_cli_refuses_a_bad_override_in_one_line(override, message, tmp_path, capsys):
    args = ["train", override, "--site", "blocks.1.hook_mlp_out", "--d-sae", "16", "--k", "4",
            "--out", str(tmp_path / "sae")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: invalid config: ") and message in err and "\n" not in err
    assert not (tmp_path / "sae").exists()


@pytest.mark.slow
def test_smollm2_latents_beside_neurons(tmp_path, monkeypatch, capsys):
    """SmolLM2: a small SAE trained here, then its latents probed beside layer 4's neurons."""
    from probing.experiment import run_experiment
    from probing.results import read_results
    from tests.conftest import compose_cfg

    monkeypatch.setenv("PROBING_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(ROOT)
    out = tmp_path / "sae"
    assert main(["train", "model=smollm2-135m", "--site", "blocks.4.hook_resid_post",
                 "--d-sae", "1152", "--k", "16", "--tokens", "30000", "--epochs", "2",
                 "--collections", "programming_language", "--out", str(out)]) == 0  # fmt: skip
    cfg = compose_cfg(tmp_path, ["model=smollm2-135m", "hook=sae", f"sae.path={out}",
                                 "logger=none", "baselines.permutations=20"])  # fmt: skip
    run_experiment(cfg, tmp_path / "run")
    rows = read_results(tmp_path / "run")
    assert set(rows["hook"]) == {"mlp_post", "sae"} and set(rows["layer"]) == {4}
    latents = rows[(rows["hook"] == "sae") & (rows["k"] == 1)]
    assert latents["support"].map(lambda s: s[0]).max() < 1152
    assert (tmp_path / "run" / "sae_cosines.jsonl").is_file()
    assert "neurons and SAE latents, layer 4" in capsys.readouterr().out
