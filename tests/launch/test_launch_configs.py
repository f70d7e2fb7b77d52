"""Launcher profiles, the paper-sweep experiment and its estimate, without a cluster."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from launch.estimate import dataset_size, estimate_job, expand, main, report
from probing.features import CATEGORIES, COLLECTIONS

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
PROFILES = sorted(p.stem for p in (CONF / "hydra" / "launcher").glob("*.yaml"))
PYTHIA = [
    "pythia-70m",
    "pythia-160m",
    "pythia-410m",
    "pythia-1b",
    "pythia-1.4b",
    "pythia-2.8b",
    "pythia-6.9b",
]


@pytest.fixture
def compose_cfg():
    def _compose(overrides: list[str]):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose("config", overrides=overrides, return_hydra_config=True)

    yield _compose
    GlobalHydra.instance().clear()


def launcher(cfg) -> dict:
    return OmegaConf.to_container(cfg.hydra.launcher, resolve=True)


def test_profiles_exist():
    assert {"local", "slurm", "slurm_cpu"} <= set(PROFILES)


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_composes_and_resolves(compose_cfg, profile):
    params = launcher(compose_cfg([f"hydra/launcher={profile}"]))
    if profile == "local":
        assert params["_target_"].endswith("BasicLauncher")
    else:
        assert params["_target_"].endswith("sized_slurm.SizedSlurmLauncher")  # one array per size
        assert params["additional_parameters"]["requeue"] is True
        assert params["max_num_timeout"] >= 1
        assert params["setup"] == [f"export OMP_NUM_THREADS={params['cpus_per_task']}"]


def test_slurm_profile_is_sized_by_the_model(compose_cfg):
    big = launcher(compose_cfg(["hydra/launcher=slurm", "model=pythia-6.9b"]))
    small = launcher(compose_cfg(["hydra/launcher=slurm", "model=pythia-70m"]))
    unsized = launcher(compose_cfg(["hydra/launcher=slurm", "model=smollm2-135m"]))
    assert (big["mem_gb"], big["timeout_min"], big["gpus_per_node"]) == (64, 1200, 1)
    assert (small["mem_gb"], small["timeout_min"]) == (16, 60)
    assert (unsized["mem_gb"], unsized["timeout_min"]) == (64, 240)  # the profile's defaults
    cpu = launcher(compose_cfg(["hydra/launcher=slurm_cpu", "model=tiny-pythia"]))
    assert cpu["gpus_per_node"] is None and cpu["mem_gb"] == 6


def test_partition_and_account_come_from_the_environment(compose_cfg, monkeypatch):
    assert launcher(compose_cfg(["hydra/launcher=slurm"]))["partition"] is None
    monkeypatch.setenv("PROBING_SLURM_PARTITION", "gpu-a100")
    monkeypatch.setenv("PROBING_SLURM_ACCOUNT", "lab42")
    params = launcher(compose_cfg(["hydra/launcher=slurm"]))
    assert (params["partition"], params["account"]) == ("gpu-a100", "lab42")


@pytest.mark.parametrize("model", PYTHIA)
def test_pythia_sizes_for_the_estimate(compose_cfg, model):
    cfg = compose_cfg([f"model={model}"])
    header = (CONF / "model" / f"{model}.yaml").read_text().splitlines()[0]
    assert f"{cfg.model.n_layers} layers, d_mlp {cfg.model.d_mlp}" in header
    assert 5e7 < cfg.model.n_params < 8e9


def test_paper_sweep_expands_to_every_pythia_and_collection():
    base, cfgs = expand(["experiment=paper_sweep"])
    pairs = {(c.model.name, c.feature.name) for c in cfgs}
    assert len(cfgs) == len(pairs) == 7 * len(CATEGORIES)
    assert {m for m, _ in pairs} == set(PYTHIA)
    assert {f for _, f in pairs} == set(CATEGORIES)  # the built-ins, not custom
    assert all(c.layer.layers == "all" for c in cfgs)
    # one array, one size: the base config's model, the largest, sizes it
    params = launcher(base)
    assert params["_target_"].endswith("SlurmLauncher") and params["gpus_per_node"] == 1
    assert (params["mem_gb"], params["timeout_min"]) == (64, 1200)


def test_offline_sweep_is_both_offline_models_by_every_collection_locally():
    base, cfgs = expand(["experiment=offline_sweep"])
    pairs = {(c.model.name, c.feature.name) for c in cfgs}
    assert len(cfgs) == len(pairs) == 2 * len(CATEGORIES)
    assert {m for m, _ in pairs} == {"smollm2-135m", "gemma3-270m"}
    assert all(c.layer.layers == "all" and c.logger._target_.endswith("NullLogger") for c in cfgs)
    assert "SlurmLauncher" not in launcher(base).get("_target_", "")


def test_command_line_sweep_replaces_the_experiments():
    _, cfgs = expand(["experiment=paper_sweep", "model=pythia-70m,pythia-1b", "feature=people"])
    assert sorted((c.model.name, c.feature.name) for c in cfgs) == [
        ("pythia-1b", "people"),
        ("pythia-70m", "people"),
    ]


@pytest.mark.parametrize("sweep", ["feature=glob(nomatch*)", "seed=range(0,0)"])
def test_a_sweep_of_no_jobs_is_one_line(sweep, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["model=tiny-pythia", sweep])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {sweep} selects no value: the sweep has no jobs"]


def test_an_estimate_with_a_bad_launcher_value_is_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["hydra/launcher=slurm", "model=tiny-pythia", "hydra.launcher.gpus_per_node=-2"])
    assert stop.value.code == 2  # it priced negative GPU-hours
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: invalid config: hydra.launcher.gpus_per_node=-2 must be >= 0"]


@pytest.mark.parametrize("key", ["n_layers", "d_mlp", "n_params"])
def test_an_estimate_of_a_model_without_its_size_is_one_line_before_the_table(key, capsys):
    """Was the job count printed, then a bare SystemExit message with exit status 1."""
    with pytest.raises(SystemExit) as stop:
        main(["model=pythia-70m", "feature=token_position", f"model.{key}=null"])
    assert stop.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        f"error: job pythia-70m / token_position: model.{key} is not set: add it to "
        f"conf/model/pythia-70m.yaml (or override model.{key}=...) to estimate it"
    ]


@pytest.mark.parametrize("value", ["nan", "abc"])
def test_an_estimate_with_a_model_slurm_request_not_a_number_is_one_line(value, capsys):
    """The launcher reads model.slurm.mem_gb through an interpolation: a value it cannot convert
    was OmegaConf's traceback (here and in `probing.run -m`, which shares launcher_problem)."""
    with pytest.raises(SystemExit) as stop:
        main(["hydra/launcher=slurm", "model=pythia-70m", f"model.slurm.mem_gb={value}"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: invalid config: hydra.launcher.mem_gb")
    assert "model.slurm.mem_gb" in err[0] and value in err[0]


@pytest.mark.parametrize(
    "name,params",
    [
        ("programming_language", {"n_per_class": 12, "seq_len": 48}),
        (
            "token_position",
            {"n_sequences": 40, "tokens_per_sequence": 8, "seq_len": 64, "lt": [8, 32], "ge": [48]},
        ),
        ("natural_language", {"n_per_class": 11, "seq_len": 32}),
    ],
)
def test_dataset_size_matches_a_real_build(tiny_model, name, params):
    from probing.features import build_feature_dataset

    ds = build_feature_dataset(name, tiny_model.tokenizer, **params)
    n_seq, n_examples, seq_len = dataset_size({**COLLECTIONS[name].defaults, **params})
    assert (n_seq, n_examples) == (ds.n_sequences, ds.n_examples)
    assert seq_len == ds.tokens.shape[1]


def test_estimate_counts_disk_from_examples_neurons_layers(compose_cfg):
    cfg = compose_cfg(["model=pythia-70m", "feature=token_position", "layer=all"])
    job = estimate_job(cfg)
    n_seq, n_examples, _ = dataset_size(OmegaConf.to_container(cfg.feature.params))
    assert job.store_bytes == n_examples * 2048 * 6 * 2  # float16
    assert 0 < job.forward_hours < job.forward_hours + job.probe_hours
    text = report([job, job])
    assert "pythia-70m" in text and "GPU-hours" in text


def test_estimate_prices_the_baselines_refits(compose_cfg):
    """The permutation null and random supports cost per refit: none without them, and in
    proportion to their count."""
    from launch.estimate import BASELINE_S_PER_EXAMPLE_NEURON_REFIT, PROBE_S_PER_EXAMPLE_NEURON

    base = ["model=pythia-70m", "feature=token_position", "layer=all"]
    none, default, double = (
        estimate_job(compose_cfg(base + extra))
        for extra in (
            ["baselines.permutations=0", "baselines.random_supports=0"],
            [],
            ["baselines.permutations=420", "baselines.random_supports=20"],
        )
    )
    per_refit = BASELINE_S_PER_EXAMPLE_NEURON_REFIT / PROBE_S_PER_EXAMPLE_NEURON
    assert default.probe_hours == pytest.approx(none.probe_hours * (1 + 220 * per_refit))
    assert double.probe_hours - none.probe_hours == pytest.approx(
        2 * (default.probe_hours - none.probe_hours)
    )
    assert none.forward_hours == default.forward_hours


def test_estimate_prices_an_sae_job_as_one_layer_of_neurons_and_latents(compose_cfg, tmp_path):
    import torch

    from probing.sae.saved import SAEConfig, save_sae

    cfg = SAEConfig("topk", 512, 4096, "blocks.3.hook_resid_post", "pythia-70m", True, "none",
                    32, False)  # fmt: skip
    weights = {"W_enc": torch.zeros(512, 4096), "b_enc": torch.zeros(4096),
               "W_dec": torch.zeros(4096, 512), "b_dec": torch.zeros(512)}  # fmt: skip
    folder = save_sae(tmp_path / "sae", cfg, weights)
    job = estimate_job(
        compose_cfg(
            ["model=pythia-70m", "feature=token_position", "hook=sae", f"sae.path={folder}"]
        )
    )
    assert (job.n_layers, job.d_mlp) == (1, 2048 + 4096)


@pytest.mark.slow  # composes and sizes the whole sweep (~20 s)
def test_sweep_script_estimates_and_submits_nothing_without_yes(tmp_path):
    out = subprocess.run(
        ["bash", "launch/sweep.sh"],
        cwd=ROOT,
        env={**os.environ, "PROBING_CACHE": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert f"{7 * len(CATEGORIES)} jobs" in out.stdout and "GPU-hours" in out.stdout
    assert "Nothing submitted" in out.stdout


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_estimate_help_prints_its_usage(flag, capsys):
    # Hydra's override parser read --help as an override: "LexerNoViableAltException: --help"
    main([flag])
    captured = capsys.readouterr()
    assert "python -m launch.estimate experiment=paper_sweep" in captured.out
    assert captured.err == ""
