"""Weight statistics by depth (the weight side of superposition), on matrices whose answer is
known and on a bridge's every layer; the command analysis.superposition --weights runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from probing.case_studies import weights as sp
from probing.case_studies.weights import CONF_MODELS


def test_weight_stats_on_known_matrices():
    d_model, d_mlp = 8, 8
    eye = np.eye(d_model)
    orthogonal = sp.weight_stats(eye, eye)  # each neuron writes its own direction
    assert orthogonal["out_interference"] == pytest.approx(0.0)
    assert orthogonal["in_out_cosine"] == pytest.approx(1.0)
    assert orthogonal["out_effective_dims"] == pytest.approx(8.0)
    crowded = sp.weight_stats(eye, np.tile(eye[:1], (d_mlp, 1)))  # all write the same direction
    assert crowded["out_interference"] == pytest.approx(1.0)
    assert crowded["out_effective_dims"] == pytest.approx(1.0)
    assert crowded["in_out_cosine"] == pytest.approx(1 / d_mlp)


def test_effective_dims_is_the_participation_ratio_of_the_write_vectors_second_moments():
    """Singular values 2 and 1: C = W_out^T W_out has eigenvalues 4 and 1, participation ratio
    (4 + 1)^2 / (16 + 1) = 1.47; the same ratio of the singular values themselves, (2 + 1)^2 / 5 =
    1.8, overstates the spread (an earlier version computed it)."""
    W_out = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    stats = sp.weight_stats(np.eye(2, 3), W_out)
    assert stats["out_effective_dims"] == pytest.approx(25 / 17)


def test_model_weight_stats_reads_every_layer_of_a_bridge():
    from probing.models import load_model

    cfg = OmegaConf.to_container(OmegaConf.load(CONF_MODELS / "tiny-pythia.yaml"), resolve=True)
    model = load_model(**cfg)
    table = sp.model_weight_stats(model.bridge, "tiny-pythia")
    assert table["layer"].tolist() == [0, 1] and table["rel_depth"].tolist() == [0.0, 1.0]
    # random init: neurons nearly orthogonal in 64 dims, and W_out spans most of them
    assert (table["out_interference"] < 0.2).all() and (table["out_effective_dims"] > 30).all()


def test_the_command_refuses_a_model_without_a_config_in_one_line(tmp_path, capsys):
    assert sp.main(["no-such-model", "-o", str(tmp_path / "w.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no-such-model" in err and "\n" not in err
    assert not (tmp_path / "w.csv").exists()


def test_a_checkpoint_label_loads_that_revision(monkeypatch):
    """ "name@revision" (how the report and superposition label a checkpoint) loads that
    revision's weights, not the config's default revision under the checkpoint's name."""
    import probing.models

    load = probing.models.load_model
    asked = []

    def recording_load(**cfg):
        asked.append((cfg["revision"], cfg["copies"]))
        return load(**{**cfg, "revision": None})  # tiny-pythia has no checkpoints to load

    monkeypatch.setattr(probing.models, "load_model", recording_load)
    monkeypatch.setenv("PROBING_MODELS", "/copies")
    table = sp.model_weights_table(["tiny-pythia@step1", "tiny-pythia"])
    # and a GGUF-packaged model would load from the dense copy the runs keep
    assert asked == [("step1", Path("/copies")), (None, Path("/copies"))]
    assert set(table["model"]) == {"tiny-pythia@step1", "tiny-pythia"}


# -- the models runs probed (--runs: what analysis.superposition --weights asks for) -----------


def test_a_run_is_one_checkpoint_at_the_revision_its_rows_were_probed_at(tmp_path):
    """A hook=sae run's rows (neurons and latents) are one model, "name@revision" as the report
    labels it, loaded at that revision, not the config's (null) default."""
    from tests.analysis.conftest import saved_run

    run = saved_run(tmp_path, "run", [], "step1", n_layers=2)
    (run / "results.jsonl").write_text(
        (run / "results.jsonl").read_text().replace('"k": 16', '"k": 16, "hook": "sae"')
    )
    models = sp.runs_models([run])
    assert list(models) == ["tiny-pythia@step1"]
    assert models["tiny-pythia@step1"]["revision"] == "step1"
    assert models["tiny-pythia@step1"]["config"]["hidden_size"] == 64


def test_runs_that_differ_only_where_weights_do_not_are_one_model(tmp_path):
    from tests.analysis.conftest import saved_run

    a = saved_run(tmp_path, "a", ["model.device=cpu"], "random-seed0", n_layers=2)
    b = saved_run(tmp_path, "b", ["model.batch_size=4"], "random-seed0", n_layers=2)
    models = sp.runs_models([a, b])
    assert list(models) == ["tiny-pythia@random-seed0"]
    assert "device" not in models["tiny-pythia@random-seed0"]  # loaded where this machine can


def test_two_models_under_one_name_are_refused_in_one_line(tmp_path, capsys):
    """Same name and revision, other shapes: their rows are pooled as one model, so no weights
    are given for either."""
    from tests.analysis.conftest import saved_run

    a = saved_run(tmp_path, "a", [], "random-seed0", n_layers=2)
    b = saved_run(tmp_path, "b", ["model.config.hidden_size=32"], "random-seed0", n_layers=2)
    out = tmp_path / "w.csv"
    assert sp.main(["--runs", str(a), str(b), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert str(a) in err and str(b) in err
    assert "model.config.hidden_size" in err and "tiny-pythia@random-seed0" in err
    assert not out.exists()


def test_a_run_without_its_config_falls_back_to_conf_model_with_a_warning(tmp_path, caplog):
    """No readable .hydra/config.yaml (missing, or not YAML): conf/model/<name>.yaml, at the
    seed the rows record, and a warning that says the weights may not be the probed model's."""
    from tests.analysis.conftest import saved_run

    lost = saved_run(tmp_path, "lost", ["seed=3"], "random-seed3", n_layers=2, seed=3)
    (lost / ".hydra" / "config.yaml").unlink()
    broken = saved_run(tmp_path, "broken", ["seed=5"], "random-seed5", n_layers=2, seed=5)
    (broken / ".hydra" / "config.yaml").write_text("model: [unclosed\n")
    with caplog.at_level("WARNING"):
        models = sp.runs_models([lost, broken])
    assert models["tiny-pythia@random-seed3"]["seed"] == 3
    assert models["tiny-pythia@random-seed5"]["seed"] == 5
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 2 and all("no readable .hydra/config.yaml" in w for w in warned)
    assert str(lost) in warned[0] and "conf/model/tiny-pythia.yaml" in warned[0]


def test_a_recorded_config_wins_over_a_run_that_lost_its_own(tmp_path, caplog):
    """Two runs of one checkpoint, one without its config: the other's config is the model
    (conf/model's shapes would be a guess), and no warning is needed."""
    from tests.analysis.conftest import saved_run

    kept = saved_run(tmp_path, "kept", ["model.config.hidden_size=32"], "random-seed0", 2)
    lost = saved_run(tmp_path, "lost", ["model.config.hidden_size=32"], "random-seed0", 2)
    (lost / ".hydra" / "config.yaml").unlink()
    with caplog.at_level("WARNING"):
        models = sp.runs_models([lost, kept])
    assert models["tiny-pythia@random-seed0"]["config"]["hidden_size"] == 32
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_a_run_without_config_or_conf_model_is_refused(tmp_path, capsys):
    from tests.analysis.conftest import row, write_results

    write_results(tmp_path / "run", [row("my-own-model", "python", 0, 1, 0.5)])
    assert sp.main(["--runs", str(tmp_path / "run"), "-o", str(tmp_path / "w.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "conf/model/my-own-model.yaml" in err and "\n" not in err


def test_the_dtype_is_the_one_the_run_probed(tmp_path):
    """model.dtype=float16 is kept; "auto" on a GPU was bfloat16, wherever the weights load now."""
    from tests.analysis.conftest import saved_run

    half = saved_run(tmp_path, "half", ["model.dtype=float16"], "random-seed0", 2)
    gpu = saved_run(tmp_path, "gpu", ["model.dtype=auto"], "random-seed1", 2,
                    device="cuda:0 (NVIDIA H100)")  # fmt: skip
    cpu = saved_run(tmp_path, "cpu", ["model.dtype=auto"], "random-seed2", 2, device="cpu (x)")
    models = sp.runs_models([half, gpu, cpu])
    dtypes = {name: spec["dtype"] for name, spec in models.items()}
    assert dtypes == {"tiny-pythia@random-seed0": "float16",
                      "tiny-pythia@random-seed1": "bfloat16",
                      "tiny-pythia@random-seed2": "auto"}  # fmt: skip


def test_the_command_takes_models_or_runs(tmp_path, capsys):
    assert sp.main(["-o", str(tmp_path / "w.csv")]) == 2
    assert capsys.readouterr().err.startswith("error: name models")
    assert sp.main(["tiny-pythia", "--runs", str(tmp_path), "-o", str(tmp_path / "w.csv")]) == 2
