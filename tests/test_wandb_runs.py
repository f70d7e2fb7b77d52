"""W&B runs a dashboard can trust, checked by reading the offline run files back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from probing.experiment import run_experiment
from probing.loggers import run_id
from probing.wandb_offline import read_offline_run
from tests.conftest import compose_cfg

SMALL = ["model=tiny-pythia", "feature=programming_language", "feature.params.n_per_class=20",
         "feature.params.seq_len=32", "feature.only=[python,c]", "probe.ks=[1,2]",
         "logger=wandb", "logger.mode=offline", "probe.backend=auto"]  # fmt: skip


def offline_runs(run_dir: Path, wait_s: float = 30.0):
    """The offline runs of a run directory, read once W&B's service has written them whole: it
    flushes the .wandb file a moment after `finish()` returns (on a busy host a read right
    away found no run id, or a cut record)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            runs = [read_offline_run(p) for p in sorted((run_dir / "wandb").glob("offline-run-*"))]
            if all(r.run_id and r.exit_code is not None for r in runs):
                return runs
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def test_a_job_logs_one_run_with_depth_backend_and_one_tag_per_fact(tmp_path):
    run_dir = tmp_path / "run"
    run_experiment(compose_cfg(tmp_path, SMALL), run_dir)
    (run,) = offline_runs(run_dir)
    assert run.exit_code == 0
    assert run.name == "tiny-pythia/programming_language/mean_diff"
    keys = [t.split(":", 1)[0] for t in run.tags]
    assert len(keys) == len(set(keys)) and all(":" in t for t in run.tags)  # one tag per fact
    assert {"model:tiny-pythia", "feature:programming_language", "hook:mlp_post"} <= set(run.tags)
    backends = [t for t in run.tags if t.startswith("backend:")]
    assert backends and "backend:auto" not in backends  # the backend that ran
    assert run.summary["backend"] in ("sklearn", "torch", "cuml")
    assert run.summary["n_layers"] == 2 and run.summary["d_mlp"] == 256
    depths = sorted({row["rel_depth"] for row in run.history if "rel_depth" in row})
    assert depths == [0.0, 1.0]  # tiny-pythia's two layers, first and last
    assert any("f1_k1/python" in row for row in run.history)
    from probing.provenance import code_version

    assert run.config["provenance"]["code_version"] == code_version()  # the code that ran
    assert "torch" in run.config["provenance"]["libraries"]
    assert run.config["device"].startswith("cpu")
    assert "p_value/python" in run.summary and "significant/python" in run.summary


def test_a_requeued_job_continues_its_run(tmp_path):
    run_dir = tmp_path / "run"
    cfg = compose_cfg(tmp_path, SMALL)
    run_experiment(cfg, run_dir)
    run_experiment(cfg, run_dir)  # the same job again in the same directory: a requeue
    runs = offline_runs(run_dir)
    assert len(runs) == 2 and len({r.run_id for r in runs}) == 1  # one W&B run, resumed
    other = compose_cfg(tmp_path, [*SMALL, "hook=resid_post"])
    assert run_id(dict(other), "g") != run_id(dict(cfg), "g")
    sae_a, sae_b = (
        OmegaConf.to_container(compose_cfg(tmp_path, [*SMALL, "hook=sae", f"sae.path={p}"]))
        for p in ("/saes/a", "/saes/b")
    )
    assert run_id(sae_a, "g") != run_id(sae_b, "g")  # two SAEs of one sweep: two runs


def test_a_job_that_fails_while_loading_has_a_run_marked_failed(tmp_path, monkeypatch):
    import probing.experiment as experiment

    def broken(**_):
        raise RuntimeError("the node lost its GPU")

    monkeypatch.setattr(experiment, "load_model", broken)
    run_dir = tmp_path / "run"
    with pytest.raises(RuntimeError, match="lost its GPU"):
        run_experiment(compose_cfg(tmp_path, SMALL), run_dir)
    (run,) = offline_runs(run_dir)
    assert run.exit_code == 1 and run.name.startswith("tiny-pythia/")


@pytest.mark.parametrize("n_files", [0, 2])
def test_an_offline_folder_without_exactly_one_run_file_is_named(tmp_path, n_files):
    folder = tmp_path / "offline-run-x"
    folder.mkdir()
    for i in range(n_files):
        (folder / f"run-{i}.wandb").write_bytes(b":W&B\x00\x00\x00")
    with pytest.raises(ValueError, match=f"{folder} holds {n_files} .wandb files, not one"):
        read_offline_run(folder)
