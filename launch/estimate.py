"""What a sweep will cost, printed before anything is submitted: jobs, GPU-hours, and the disk its
activation stores take, per model.

    python -m launch.estimate experiment=paper_sweep
    python -m launch.estimate model=pythia-70m,pythia-1b 'feature=glob(*)'

Takes the overrides `python -m probing.run -m` takes and expands them as Hydra's basic sweeper
will (the experiment's `hydra.sweeper.params` included), one job per combination. Sizes come from
the model configs (n_layers, d_mlp, n_params) and each feature collection's parameters; times come
from the throughput assumptions below. They are assumptions, not measurements of your cluster:
run one job, compare, and scale.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from probing.config import Config, validate_config
from probing.errors import ConfigError
from probing.multirun import job_overrides, launcher_problem, no_jobs_problem

CONF = Path(__file__).resolve().parents[1] / "conf"

# Forward pass: an A100's dense bf16 peak (312 TFLOP/s) at 25% utilisation, since batches of
# 128-token sequences with hooks do not saturate it. An H100 is roughly twice as fast. Assumed.
FORWARD_FLOPS_PER_S = 312e12 * 0.25
# Loading: reading bf16 weights at 0.5 GB/s from a shared file system, plus interpreter start.
LOAD_BYTES_PER_S = 0.5e9
STARTUP_S = 60.0
# Probing one (layer, feature) over the paper's k list, mean_diff, torch backend, document
# bootstrap: 2.3e-8 s per (example x neuron) on 2 CPU cores (1800 examples x 2048 neurons, 18 ks,
# 4 features a layer; `python -m launch.probe_costs`), 4.5e-7 before the batched solver. Kept at
# 5e-8, and used as-is for GPU nodes (8 cores, or the GPU backend): an upper bound, not a guess.
PROBE_S_PER_EXAMPLE_NEURON = 5e-8
# The permutation null and random-support refits (`baselines`), per (example x neuron) and per
# refit at one k: 1.6e-10 on the same machine and data (200 permutations + 20 random supports at
# k=1 added 3.5e-8, 1.5x the probing itself); kept at 4e-10.
BASELINE_S_PER_EXAMPLE_NEURON_REFIT = 4e-10


@dataclass
class Job:
    model: str
    collection: str
    n_layers: int
    d_mlp: int
    n_examples: int
    forward_hours: float  # loading and the forward pass, on the GPU
    probe_hours: float  # probing and its baselines, an upper bound (PROBE_S_PER_EXAMPLE_NEURON)
    store_bytes: float  # the activation store this job fills (shared with same-dataset jobs)
    store_key: tuple[str, str]
    timeout_min: (
        float | None
    )  # what the job asks SLURM for (hydra_plugins/probing_launchers/sized_slurm.py)
    mem_gb: float | None


def dataset_size(params: Mapping[str, Any]) -> tuple[int, int, int]:
    """(sequences, examples, seq_len) a collection builds from its parameters: an upper bound,
    since a builder may find less text than asked for.

    Sequence-level collections take n_per_class for each class (the list parameter: languages,
    genres); token-level ones take n_sequences with tokens_per_sequence probed tokens each.
    A ValueError for collections sized otherwise (see built_size).
    """
    seq_len = int(params.get("seq_len", 128))
    if "n_sequences" in params:
        n_seq = int(params["n_sequences"])
    elif "n_per_class" in params:
        classes = [v for v in params.values() if isinstance(v, Sequence) and not isinstance(v, str)]
        n_seq = int(params["n_per_class"]) * max((len(c) for c in classes), default=2)
    else:
        raise ValueError(f"cannot size a collection with parameters {sorted(params)}")
    n_examples = n_seq * int(params.get("tokens_per_sequence", 1))
    return n_seq, n_examples, seq_len


@cache
def _stand_in_tokenizer() -> Any:
    from probing.models import load_model

    return load_model("tiny-pythia", "random_gpt_neox", device="cpu", dtype="float32").tokenizer


def built_size(name: str, params: dict, cache_dir: str) -> tuple[int, int, int]:
    """Sizes of a collection whose parameters do not say (e.g. people: every person found), by
    building it with tiny-pythia's byte-level tokenizer: offline, and cached for the next time."""
    from probing.features import build_feature_dataset

    ds = build_feature_dataset(name, _stand_in_tokenizer(), cache_dir=cache_dir, **params)
    return ds.n_sequences, ds.n_examples, int(ds.tokens.shape[1])


def n_layers_probed(cfg: Config, n_layers: int) -> int:
    from probing.experiment import resolve_layers

    return len(resolve_layers(cfg.layer.layers, n_layers))


def sae_width(cfg: Config) -> int:
    """d_sae of a hook=sae job's SAE (0, with a warning, where its folder is not at hand)."""
    from probing.sae import SAEError, read_config, resolve_sae_folder

    spec = cfg.sae
    try:
        folder = resolve_sae_folder(spec.path, spec.release, spec.id)
        return read_config(folder).d_sae
    except SAEError as err:
        print(f"warning: {err}; its latents are not priced", file=sys.stderr)
        return 0


def check_sizes(cfg: Config) -> None:
    """A ConfigError where the model config lacks a size the estimate multiplies by (optional
    for a run, which reads them from the model)."""
    model = cfg.model
    sizes = {"n_layers": model.n_layers, "d_mlp": model.d_mlp, "n_params": model.n_params}
    for key, value in sizes.items():
        if value is None:
            raise ConfigError(
                f"model.{key} is not set: add it to conf/model/{model.name}.yaml (or override "
                f"model.{key}=...) to estimate it"
            )


def estimate_job(job: Config | DictConfig, base: DictConfig | None = None) -> Job:
    """One job's size and time (a composed config is validated first); `base` (the multirun's
    base config, with its `hydra` node) holds the launcher."""
    if base is None:
        base = job if isinstance(job, DictConfig) else DictConfig({})
    cfg = job if isinstance(job, Config) else validate_config(job)
    check_sizes(cfg)
    model = cfg.model
    assert model.n_layers and model.d_mlp and model.n_params  # for mypy: checked just above
    params = asdict(cfg.feature)["params"]
    try:
        n_seq, n_examples, seq_len = dataset_size(params)
    except ValueError:
        n_seq, n_examples, seq_len = built_size(cfg.feature.name, params, cfg.paths.features)
    n_layers = n_layers_probed(cfg, model.n_layers)
    d_mlp, n_params = model.d_mlp, model.n_params
    if cfg.hook == "sae":  # one layer: its neurons and the SAE's latents
        n_layers, d_mlp = 1, d_mlp + sae_width(cfg)
    # 2 FLOPs per parameter per token; the forward pass stops at the last probed layer, which for
    # layer=all is every layer (the unembedding is skipped, a few % of the parameters).
    forward_s = 2 * n_params * n_seq * seq_len / FORWARD_FLOPS_PER_S
    load_s = STARTUP_S + 2 * n_params / LOAD_BYTES_PER_S
    n_features = _n_features(cfg)
    refits = (cfg.baselines.permutations + cfg.baselines.random_supports) * len(
        set(cfg.baselines.ks) & set(cfg.probe.ks or cfg.baselines.ks)
    )
    per_example_neuron = PROBE_S_PER_EXAMPLE_NEURON + BASELINE_S_PER_EXAMPLE_NEURON_REFIT * refits
    probe_s = per_example_neuron * n_examples * d_mlp * n_layers * n_features
    gpus = int(OmegaConf.select(base, "hydra.launcher.gpus_per_node", default=1) or 1)
    itemsize = np.dtype(cfg.store.dtype).itemsize
    # a job's own model's slurm block, else the launcher's value: what SizedSlurmLauncher asks
    slurm = model.slurm
    timeout = (slurm.timeout_min if slurm else None) or OmegaConf.select(
        base, "hydra.launcher.timeout_min", default=None
    )
    mem = (slurm.mem_gb if slurm else None) or OmegaConf.select(
        base, "hydra.launcher.mem_gb", default=None
    )
    return Job(
        model=model.name,
        collection=cfg.feature.name,
        n_layers=n_layers,
        d_mlp=d_mlp,
        n_examples=n_examples,
        forward_hours=gpus * (load_s + forward_s) / 3600,
        probe_hours=gpus * probe_s / 3600,
        store_bytes=n_examples * d_mlp * n_layers * itemsize,
        store_key=(model.name, cfg.feature.name),
        timeout_min=float(timeout) if timeout is not None else None,
        mem_gb=float(mem) if mem is not None else None,
    )


def _n_features(cfg: Config) -> int:
    """Binary features in the collection (one-vs-rest over its classes), or those in feature.only."""
    if cfg.feature.only:
        return len(cfg.feature.only)
    from probing.features import COLLECTIONS

    return len(COLLECTIONS[cfg.feature.name].features)


def expand(overrides: list[str]) -> tuple[DictConfig, list[DictConfig]]:
    """The base config (it sizes the job array) and one composed config per job, as
    `python -m probing.run -m OVERRIDES` would launch them."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
        fixed = [  # a parsed override always has its input line (Hydra types it optional)
            o.input_line
            for o in parser.parse_overrides(overrides)
            if not o.is_sweep_override() and o.input_line is not None
        ]
        base = compose("config", overrides=fixed, return_hydra_config=True)
        params = dict(OmegaConf.select(base, "hydra.sweeper.params") or {})
        sweep = job_overrides(parser, params, overrides)
        if not sweep:
            raise ValueError(no_jobs_problem(parser, params, overrides))
        jobs = [compose("config", overrides=fixed + job) for job in sweep]
    GlobalHydra.instance().clear()
    return base, jobs


def validate_jobs(cfgs: list[DictConfig]) -> list[Config]:
    """Every job's config, validated as probing.run validates it: nothing bad gets priced or
    submitted. Exits 2 with one line per bad job."""
    problems, configs = [], []
    for cfg in cfgs:
        try:
            configs.append(validate_config(cfg))
            check_sizes(configs[-1])
        except ConfigError as err:
            problems.append(f"error: job {cfg.model.name} / {cfg.feature.name}: {err}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        raise SystemExit(2)
    return configs


def report(jobs: list[Job]) -> str:
    by_model: dict[str, list[Job]] = {}
    for job in jobs:
        by_model.setdefault(job.model, []).append(job)
    lines = [
        f"{'model':<14}{'jobs':>5}{'layers':>7}{'d_mlp':>7}{'examples':>10}{'activations':>13}"
        f"{'forward h':>11}{'probe h <=':>12}{'longest job':>13}{'requests':>18}",
    ]
    stores: dict[tuple[str, str], float] = {}
    for model, group in by_model.items():
        model_stores = {j.store_key: j.store_bytes for j in group}
        stores.update(model_stores)
        longest = max(j.forward_hours + j.probe_hours for j in group)
        lines.append(
            f"{model:<14}{len(group):>5}{max(j.n_layers for j in group):>7}{group[0].d_mlp:>7}"
            f"{sum(j.n_examples for j in group):>10}{_gb(sum(model_stores.values())):>13}"
            f"{sum(j.forward_hours for j in group):>11.1f}"
            f"{sum(j.probe_hours for j in group):>12.1f}{longest * 60:>9.0f} min"
            f"{_request(group[0]):>18}"
        )
    forward = sum(j.forward_hours for j in jobs)
    probe = sum(j.probe_hours for j in jobs)
    lines.append(
        f"{'total':<14}{len(jobs):>5}{'':>24}{_gb(sum(stores.values())):>13}"
        f"{forward:>11.1f}{probe:>12.1f}"
    )
    lines.append(
        f"GPU-hours: {forward + probe:.1f} at most (forward {forward:.1f} + probing "
        f"{probe:.1f}); activations on the shared file system: {_gb(sum(stores.values()))}"
    )
    slow = [
        j for j in jobs if j.timeout_min and (j.forward_hours + j.probe_hours) * 60 > j.timeout_min
    ]
    if slow:
        lines.append(
            f"{len(slow)} job(s) may outlast hydra.launcher.timeout_min: raise it (model.slurm."
            "timeout_min); a requeued job resumes where it stopped"
        )
    lines.append(
        "Assumed: the forward pass at 25% of an A100's bf16 peak, weights read at 0.5 GB/s; "
        "probing and its baselines at rates measured on 2 CPU cores (upper bounds; "
        "`python -m launch.probe_costs` measures them here); dataset sizes upper bounds."
    )
    return "\n".join(lines)


def _request(job: Job) -> str:
    """What each job of the model asks SLURM for: memory and time limit."""
    mem = f"{job.mem_gb:g} GB" if job.mem_gb else "? GB"
    time = f"{job.timeout_min:g} min" if job.timeout_min else "? min"
    return f"{mem}, {time}"


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB"


def cli() -> None:
    """The `probing-estimate` console script."""
    main(sys.argv[1:])


def main(argv: list[str]) -> None:
    from probing.cli_checks import hydra_error_line

    if any(a in ("-h", "--help") for a in argv):  # else Hydra's parser reads it as an override
        print(__doc__.strip())
        return
    try:
        base, cfgs = expand([a for a in argv if a not in ("-m", "--multirun")])
    except Exception as err:  # Hydra's own: a typo'd key, an unknown group member
        print(f"error: {hydra_error_line(err)}", file=sys.stderr)
        raise SystemExit(2) from None
    problem = launcher_problem(base)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(2)
    configs = validate_jobs(cfgs)
    launcher = OmegaConf.select(base, "hydra.launcher._target_", default="") or ""
    print(
        f"{len(cfgs)} jobs ({len({c.feature.name for c in cfgs})} feature collections), "
        f"launcher {launcher.rsplit('.', 1)[-1]}; each model's jobs request its own memory and "
        "time limit (requests)"
    )
    print(report([estimate_job(c, base) for c in configs]))


if __name__ == "__main__":
    main(sys.argv[1:])
