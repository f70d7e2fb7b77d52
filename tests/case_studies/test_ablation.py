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

from probing.case_studies.ablation import Ablator, ablate_neuron, balanced_sequences
from tests.planted import marked_dataset, plant_mark_neuron, tiny_pythia

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model():
    return tiny_pythia()


@pytest.fixture(scope="module")
def dataset(model):
    return marked_dataset(model)


@pytest.fixture(scope="module")
def planted(model, dataset):
    with plant_mark_neuron(model, dataset) as where:
        yield where


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
    # no random neuron hurts MARK text as much, nor as specifically: the smallest p possible
    assert row["p_value"] == pytest.approx(1 / 11) and row["p_specific"] == pytest.approx(1 / 11)


def test_the_p_value_ranks_the_neuron_among_random_ones():
    from probing.permutation_test import p_value

    assert p_value(0.5, np.array([0.1, 0.6, 0.2, 0.7])) == pytest.approx(3 / 5)
    assert p_value(0.5, np.zeros(50)) == pytest.approx(1 / 51)
    assert np.isnan(p_value(0.5, np.array([])))


def test_every_neuron_above_the_validation_threshold_is_ablated_and_corrected():
    from probing.case_studies.ablate import best_k1, with_adjusted_p
    from tests.analysis.conftest import row as result_row

    rows = [
        result_row(feature=f, layer=la, f1=f1, val_f1=val, support=[la])
        for f, la, f1, val in (("a", 0, 0.95, 0.93), ("a", 1, 0.99, 0.5), ("b", 0, 0.97, 0.85),
                               ("c", 2, 0.8, 0.91))
    ]  # fmt: skip
    chosen = best_k1(pd.DataFrame(rows), None, 0, min_val_f1=0.9)
    assert chosen["feature"].tolist() == ["a", "c"] and chosen["layer"].tolist() == [0, 2]
    assert best_k1(pd.DataFrame(rows), ["b"], 0, min_val_f1=0.9)["feature"].tolist() == ["b"]
    ablated = pd.DataFrame(
        {
            "value": ["mean", "mean", "zero"],
            "p_value": [0.02, 0.04, 0.04],
            "p_specific": [0.01, 0.3, 0.02],
        }
    )
    out = with_adjusted_p(ablated)
    assert out["p_adjusted"].tolist() == pytest.approx([0.04, 0.04, 0.04])
    assert out["p_specific_adjusted"].tolist() == pytest.approx([0.02, 0.3, 0.02])
    assert out["significant"].all()


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
    among = np.arange(0, dataset.n_sequences, 2)
    seqs = balanced_sequences(dataset, "marked", 10, seed=1, among=among)
    assert set(seqs) <= set(among) and len(seqs) == min(10, len(among))


def test_cli_ablates_a_runs_best_neurons(tmp_path, monkeypatch, capsys):
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
         "probe.ks=[1,2]", "logger=none", "debug=fast", f"hydra.run.dir={run}"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    # the case studies' and the report's commands, in this process (their argparse entry points;
    # a cold interpreter each cost ~3 s of imports)
    import probing.case_studies.ablate as ablate_module
    from analysis.report import main as report
    from probing.case_studies.ablate import main as ablate
    from probing.case_studies.ablate import run_config
    from probing.case_studies.polysemantic import main as polysemantic
    from probing.splits import split_by_document

    monkeypatch.setenv("PROBING_CACHE", env["PROBING_CACHE"])
    monkeypatch.chdir(ROOT)
    measured = []  # (dataset, sequences) of each Ablator
    real_ablator = ablate_module.Ablator

    def recording(model, dataset, layer, sequences, *args):
        measured.append((dataset, sequences))
        return real_ablator(model, dataset, layer, sequences, *args)

    monkeypatch.setattr(ablate_module, "Ablator", recording)
    assert ablate([str(run), "--random", "3", "--max-sequences", "16", "--min-val-f1", "0"]) == 0
    probe = run_config(run).probe
    for (dataset, sequences), feature in zip(measured, ("python", "c"), strict=False):
        train, val, _ = split_by_document(
            dataset.label(feature), dataset.groups, probe.test_fraction, probe.val_fraction,
            probe.seed,
        )  # fmt: skip
        chosen_on = set(dataset.example_seq[np.concatenate([train, val])].tolist())
        assert len(sequences) and not chosen_on & set(sequences.tolist())  # test texts only
    rows = [json.loads(line) for line in (run / "ablation.jsonl").read_text().splitlines()]
    assert all(r["code_version"] and r["seed"] == 0 and "libraries" in r for r in rows)
    assert {(r["feature"], r["value"]) for r in rows} == {
        (f, v) for f in ("python", "c") for v in ("mean", "zero")
    }
    results = pd.read_json(run / "results.jsonl", lines=True)
    for r in rows:  # the neuron ablated is the run's k=1 neuron of that feature and layer
        supports = results[(results["feature"] == r["feature"]) & (results["k"] == 1)
                           & (results["layer"] == r["layer"])]["support"]  # fmt: skip
        assert [r["neuron"]] in supports.tolist()
        assert np.isfinite([r["delta_pos"], r["delta_neg"], r["random_delta_pos_median"]]).all()
    assert polysemantic([str(run), "--neurons", "2", "--top", "10"]) == 0
    contexts = json.loads((run / "neuron_contexts.json").read_text())["neurons"]
    assert len(contexts) in (1, 2) and all(len(c["top"]) == 10 for c in contexts.values())
    out = tmp_path / "r.html"
    assert report([str(run), "-o", str(out), "--cache", str(tmp_path / "cache")]) == 0
    html = out.read_text()
    assert "Ablation of the best single neurons" in html and 'id="ablation"' in html
    assert "Over a broad corpus" in html  # the neuron pages show the broad-corpus activations
    capsys.readouterr()
    assert ablate([str(tmp_path)]) == 2
    assert "not a probing run directory" in capsys.readouterr().err


def test_ablation_rows_of_another_hook_carry_its_label(tmp_path, monkeypatch):
    """Ablating residual-stream dimensions (a hook=resid_post run): the rows say so, as the
    report labels the run's rows (model#resid_post), so no table shows them as MLP neurons."""
    from probing.case_studies.ablate import main as ablate
    from tests.case_studies.test_polysemantic import RESID_POST_RUN
    from tests.conftest import run_as_hydra_would

    run = run_as_hydra_would(tmp_path, RESID_POST_RUN, tmp_path / "run")
    monkeypatch.setenv("PROBING_CACHE", str(tmp_path / "cache"))
    argv = [str(run), "--random", "2", "--max-sequences", "8", "--min-val-f1", "0"]
    assert ablate([*argv, "--values", "zero"]) == 0
    rows = [json.loads(line) for line in (run / "ablation.jsonl").read_text().splitlines()]
    assert rows and {r["model"] for r in rows} == {"tiny-pythia#resid_post"}


def test_a_run_of_a_relative_feature_path_is_ablated_from_another_directory(tmp_path, monkeypatch):
    """`feature.path=mine.jsonl` is relative to where the run was started (Hydra records it,
    hydra.runtime.cwd): ablating the run from anywhere else reads that file, not ./mine.jsonl."""
    from probing.case_studies.ablate import main as ablate

    data = tmp_path / "my data"
    data.mkdir()
    with open(data / "mine.jsonl", "w") as fh:
        for i in range(80):
            text = f"def f{i}(x):\n    return x * {i}" if i % 2 else f"We met {i} people."
            fh.write(json.dumps({"text": text, "is_code": i % 2, "group": f"d{i // 4}"}) + "\n")
    env = {"PROBING_CACHE": str(tmp_path / "cache"), "WANDB_MODE": "disabled",
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}  # fmt: skip
    run = tmp_path / "run"
    subprocess.run(
        [sys.executable, "-m", "probing.run", "model=tiny-pythia", "feature=custom/file",
         "feature.path=mine.jsonl", "probe.ks=[1]", "logger=none", "debug=fast",
         f"hydra.run.dir={run}"],
        cwd=data, env=env, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("PROBING_CACHE", env["PROBING_CACHE"])
    argv = [str(run), "--random", "2", "--max-sequences", "8", "--min-val-f1", "0"]
    assert ablate([*argv, "--values", "zero"]) == 0
    rows = [json.loads(line) for line in (run / "ablation.jsonl").read_text().splitlines()]
    assert [r["feature"] for r in rows] == ["is_code"]
