"""What `python -m probing.run` refuses before Hydra starts (probing.cli_checks)."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf, open_dict

from probing.cli_checks import CONF, precheck

RUN = ["model=tiny-pythia", "logger=none", "feature=token_position"]


def saved_run(run_dir, overrides: list[str]) -> None:
    """A finished run as Hydra leaves it: the job's config (no `hydra` key) and a row."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("config", overrides=overrides, return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()
    with open_dict(cfg):
        del cfg["hydra"]
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    (run_dir / "results.jsonl").write_text('{"run_key": "x"}\n')


def test_a_run_directory_holding_another_configurations_results_is_refused_before_hydra_rewrites_it(
    tmp_path,
):
    # Hydra rewrites .hydra/ before the job can refuse the directory: the finished run's
    # saved config (what ablation reads back) would then describe the refused one
    saved_run(tmp_path, RUN)
    problem = precheck([*RUN, "hook=mlp_out", f"hydra.run.dir={tmp_path}"])
    assert problem is not None and "another configuration" in problem
    assert "hook" in problem and str(tmp_path) in problem


def test_the_same_configuration_may_resume_in_its_run_directory(tmp_path):
    saved_run(tmp_path, RUN)
    assert precheck([*RUN, f"hydra.run.dir={tmp_path}"]) is None


def test_a_run_directory_without_rows_may_be_reused(tmp_path):
    saved_run(tmp_path, RUN)
    (tmp_path / "results.jsonl").write_text("")  # the earlier try failed before any row
    assert precheck([*RUN, "hook=mlp_out", f"hydra.run.dir={tmp_path}"]) is None


def test_an_experiment_that_sweeps_needs_multirun():
    # without -m Hydra ignores hydra.sweeper.params: one job of the default model and feature
    # ran, and exited 0, instead of the sweep
    problem = precheck(["experiment=offline_sweep"])
    assert problem is not None and "add -m" in problem and "model" in problem
    assert precheck(["-m", "experiment=offline_sweep"]) is None


def test_an_option_between_overrides_is_one_line_naming_it():
    # argparse printed Hydra's dozen-line usage block ending in "unrecognized arguments"
    problem = precheck(["model=tiny-pythia", "-m", "feature=token_position,surface_text"])
    assert problem is not None and problem.startswith("-m comes between overrides")
    assert "feature=token_position,surface_text" in problem
    problem = precheck(["--no-such-option", "model=tiny-pythia"])
    assert problem is not None and "unknown option --no-such-option" in problem
    assert precheck(["-m", "model=tiny-pythia", "feature=token_position,surface_text"]) is None


def test_a_run_resumed_with_settings_that_do_not_change_its_rows_is_not_refused(tmp_path):
    # the progress bar, the logger or the cache's folder leave every row as it was
    saved_run(tmp_path, RUN)
    resumed = [*RUN, "progress=false", "logger=wandb", f"hydra.run.dir={tmp_path}"]
    assert precheck(resumed) is None
    problem = precheck([*RUN, "progress=false", "probe.C=2", f"hydra.run.dir={tmp_path}"])
    assert problem is not None and "probe.C" in problem and "progress" not in problem
