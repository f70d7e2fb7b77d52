"""The reliability suite: a careless user and a hostile cluster never get a wrong number.

Every case ends in exit 0 with correct results, or exit 2 with one line, never a traceback:
- seeded fuzz of overrides (good and bad values, known by construction) against the schema;
- bad inputs on the command line, each refused in one line before any model loads;
- seeded fuzz of corrupted activation-store files: detected, re-extracted, identical values;
- a job killed in the middle of probing resumes without recomputing or duplicating rows;
- a multirun validates every job first, and one failed job never stops the others.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

import probing.experiment
from probing.activations import extract_activations, open_store
from probing.config import validate_config
from probing.errors import ConfigError, user_message
from probing.experiment import run_experiment
from probing.results import read_results
from tests.conftest import debug_overrides, make_dataset
from tests.warm_cli import Case, run_many

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["feature.params.n_per_class=30", "feature.params.seq_len=32", "progress=false"]


def compose_cfg(overrides: list[str], hydra: bool = False):
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            overrides = [*debug_overrides(overrides), *overrides]
            return compose("config", overrides=overrides, return_hydra_config=hydra)
    finally:
        GlobalHydra.instance().clear()


# -- the schema, fuzzed -------------------------------------------------------------------------

GOOD = {
    "probe.C": ["0.5", "2"],
    "probe.ks": ["[1,2]", "[4,256]"],
    "store.dtype": ["float16", "float32"],
    "model.batch_size": ["1", "8"],
    "store.chunk_sequences": ["1", "64", "auto"],
    "layer.layers": ["[0]", "[-1]", "[0,1]"],
    "seed": ["0", "3"],
    "probe.test_fraction": ["0.1", "0.5"],
    "probe.method": ["mean_diff", "f_stat", "optimal"],
    "probe.backend": ["auto", "sklearn", "torch"],
    "model.device": ["auto", "cpu"],
    "feature.only": ["[python]", "[c,cpp]"],
}
BAD = {
    "probe.C": ["0", "-1", "abc", "nan"],
    "probe.ks": ["[1,100000]", "[0]", "[]", "[a]", "[1,1]"],
    "store.dtype": ["int8", "bfloat16", "float64"],
    "model.batch_size": ["0", "-3", "1.5"],
    "store.chunk_sequences": ["0", "abc"],
    "layer.layers": ["[]", "[2]", "[-3]", "first"],
    "seed": ["abc", "-1"],
    "probe.test_fraction": ["0", "1", "1.5"],
    "probe.method": ["foo", "meandiff"],
    "probe.backend": ["gpu"],
    "model.device": ["tpu"] + ([] if torch.cuda.is_available() else ["cuda"]),
    "feature.only": ["[pyton]"],
    "+prob.ks": ["[1]"],
    "+model.batchsize": ["4"],
}
# What the message must name for a bad value of each key (default: the key's last part).
NAMED = {"+prob.ks": "unknown key prob ", "+model.batchsize": "unknown key model.batchsize"}


@pytest.mark.parametrize("trial", range(40))
def test_fuzzed_overrides_are_refused_exactly_when_a_value_is_bad(trial):
    rng = random.Random(trial)
    keys = rng.sample(sorted(set(GOOD) | set(BAD)), rng.randint(1, 3))
    overrides, bad_keys = [], []
    for key in keys:
        use_bad = key not in GOOD or (key in BAD and rng.random() < 0.5)
        value = rng.choice(BAD[key] if use_bad else GOOD[key])
        overrides.append(f"{key}={value}")
        if use_bad:
            bad_keys.append(NAMED.get(key, key.split(".")[-1]))
    cfg = compose_cfg(["model=tiny-pythia", "layer=list", *overrides])
    if not bad_keys:
        validate_config(cfg)
        return
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    message = str(info.value)
    assert "\n" not in message
    for named in bad_keys:  # every bad key is named (an unknown key by its path)
        assert named in message, (overrides, message)


def test_unique_run_directories():
    """Two runs started in the same second shared outputs/<date>/<time>_<model>_<feature>."""
    a, b = (compose_cfg(["model=tiny-pythia"], hydra=True) for _ in range(2))
    dir_a, dir_b = str(a.hydra.run.dir), str(b.hydra.run.dir)
    assert dir_a != dir_b and dir_a.split("_")[1:] == dir_b.split("_")[1:]
    assert str(a.hydra.run.dir) == dir_a  # fixed once resolved
    assert str(a.hydra.sweep.dir) != str(b.hydra.sweep.dir)


def test_full_disk_and_unwritable_paths_are_one_line():
    full = user_message(OSError(errno.ENOSPC, "No space left on device", "/o/results.jsonl"))
    assert full is not None and "/o/results.jsonl" in full and "disk is full" in full
    assert "\n" not in full
    assert user_message(PermissionError(errno.EACCES, "denied", "/x")) is not None
    assert user_message(KeyError("a bug")) is None  # a bug keeps its traceback


def test_a_cache_folder_that_is_a_file_is_one_line(tmp_path):
    # paths.activations=FILE: mkdir's FileExistsError was no user error, so a traceback
    from probing.experiment import check_writable

    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError) as info:
        check_writable(tmp_path / "file")
    message = user_message(info.value)
    assert message is not None and str(tmp_path / "file") in message and "is a file" in message


# -- the command line ---------------------------------------------------------------------------


def run_cli(args: list[str], tmp_path: Path, cache: Path | None = None, timeout: int = 300):
    env = {**os.environ, "PROBING_CACHE": str(cache or tmp_path / "cache"), "WANDB_MODE": "offline"}
    return subprocess.run(
        [sys.executable, "-m", "probing.run", *args, *debug_overrides(args)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_error(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(lines) == 1, proc.stderr
    return lines[0]


BAD_INPUTS = [
    ("store.dtype=int8", "store.dtype='int8'"),
    ("store.dtype=bfloat16", "store.dtype='bfloat16'"),
    ("+prob.ks=[1]", "unknown key prob"),
    ("probe.ks=[1,100000]", "100000"),
    ("model.batch_size=0", "model.batch_size=0"),
    ("seed=abc", "seed='abc'"),
]
HYDRA_ERRORS = [
    (["probe.kss=[1]"], "Could not override 'probe.kss'"),
    (["model=nonexist"], "Could not find 'model/nonexist' (available: gemma3-270m"),
    (["model=tiny-pythia,smollm2-135m"], "add -m"),
    (["feature=token_position", "feature.params.n_sequences=0"], "must be >= 1"),
    (["feature=token_position", "feature.params.lt=[a]"], "must be an int"),
]
NO_JOBS = ["feature=glob(nomatch*)", "seed=range(0,0)"]  # sweeps that select no value
BAD_LAUNCHER = {  # what sbatch would refuse after the sweep began, or take (gpus=0 on a GPU job)
    "hydra.launcher.timeout_min=0": "hydra.launcher.timeout_min=0 must be > 0",
    "hydra.launcher.gpus_per_node=-1": "hydra.launcher.gpus_per_node=-1 must be >= 0",
    "hydra.launcher.mem_gb=0": "hydra.launcher.mem_gb=0 must be > 0",
}


@pytest.fixture(scope="module")
def one_line_runs(tmp_path_factory):
    """Every command-line case below, each in its own directory and process, run by one warm
    driver (tests/warm_cli.py): {key: (completed process, its directory)}."""
    cases = {}
    for override, _ in BAD_INPUTS:
        cases[("bad", override)] = ["model=tiny-pythia", "logger=none", override]
    for args, _ in HYDRA_ERRORS:
        cases[("hydra", " ".join(args))] = ["logger=none", *args]
    for sweep in NO_JOBS:
        cases[("nojobs", sweep)] = ["-m", "model=tiny-pythia", "logger=none", sweep]
    for bad in BAD_LAUNCHER:
        cases[("launcher", bad)] = ["-m", "hydra/launcher=slurm_cpu", "model=tiny-pythia", bad]
    cases[("cache",)] = ["model=tiny-pythia", "feature=token_position", "logger=none"]
    dirs = {key: tmp_path_factory.mktemp("cli") for key in cases}
    cache = {key: d / "cache" for key, d in dirs.items()}
    (dirs[("cache",)] / "file").write_text("a file where the cache directory should be")
    cache[("cache",)] = dirs[("cache",)] / "file" / "cache"
    dirs[("rundir",)] = tmp_path_factory.mktemp("cli")
    (dirs[("rundir",)] / "file").write_text("x")
    cases[("rundir",)] = ["model=tiny-pythia", f"hydra.run.dir={dirs[('rundir',)]}/file/run"]
    cache[("rundir",)] = dirs[("rundir",)] / "cache"
    runs = run_many(
        [
            Case([*args, *debug_overrides(args)], dirs[key], cli_env(cache[key]))
            for key, args in cases.items()
        ]
    )
    return {key: (run, dirs[key]) for key, run in zip(cases, runs, strict=True)}


def cli_env(cache: Path) -> dict[str, str]:
    return {"PROBING_CACHE": str(cache), "WANDB_MODE": "offline"}


@pytest.mark.parametrize("override,expected", BAD_INPUTS)
def test_bad_inputs_end_in_one_line_before_the_model_loads(one_line_runs, override, expected):
    proc, folder = one_line_runs[("bad", override)]
    assert expected in one_line_error(proc)
    assert not (folder / "cache").exists()  # nothing built, nothing loaded


def test_an_unwritable_cache_is_one_line(one_line_runs):
    proc, _ = one_line_runs[("cache",)]
    assert "PROBING_CACHE" in one_line_error(proc)


# -- the activation store, fuzzed ---------------------------------------------------------------


def _chunks(store, layer):
    found = (store.path / f"layer_{layer}" / "c").glob("*/0")
    return sorted((p for p in found if p.is_file()), key=lambda p: int(p.parent.name))


def corrupt(store, layer: int, rng: random.Random) -> str:
    chunks = [c for c in _chunks(store, layer) if c.is_file()]
    meta = store.path / f"layer_{layer}" / "zarr.json"
    kind = rng.choice(
        [
            "delete",
            "truncate",
            "flip",
            "swap",
            "garbage",
            "dtype",
            "shape",
            "meta",
            "blocks",
            "attrs",
        ]
    )
    target = rng.choice(chunks)
    data = target.read_bytes()
    if kind == "delete":
        target.unlink()
    elif kind == "truncate":
        target.write_bytes(data[: rng.randrange(len(data))])
    elif kind == "flip":
        buf = bytearray(data)
        for i in rng.sample(range(8, len(buf)), 3):
            buf[i] ^= 0xFF
        target.write_bytes(bytes(buf))
    elif kind == "swap":
        other = rng.choice([c for c in chunks if c != target])
        target.write_bytes(other.read_bytes())
    elif kind == "garbage":
        target.write_bytes(rng.randbytes(len(data)))
    elif kind == "dtype":
        meta.write_text(meta.read_text().replace('"float16"', '"int16"'))
    elif kind == "shape":
        meta.write_text(meta.read_text().replace('"shape": [', '"shape": [1', 1))
    elif kind in ("blocks", "attrs"):
        doc = json.loads(meta.read_text())
        attrs = doc["attributes"]
        if kind == "blocks":  # a malformed, a shortened or a shifted block record
            blocks = attrs["blocks"]
            blocks[0] = rng.choice([[0, 60], blocks[0][:4], [b + 1 for b in blocks[0]]])
        else:  # a progress or a mark that is not what it claims
            attrs.update(rng.choice([{"n_seq_done": "abc"}, {"complete": "no"}, {"blocks": "x"}]))
        meta.write_text(json.dumps(doc))
    else:
        meta.write_text("{")
    return kind


@pytest.mark.parametrize("trial", range(24))
def test_fuzzed_store_damage_is_detected_and_re_extracted_exactly(tiny_model, tmp_path, trial):
    rng = random.Random(trial)
    ds = make_dataset(rng.choice(["mean", "token"]), n_seq=40)
    reference = open_store(tmp_path / "ref", tiny_model, ds, "float16")
    # Several chunk files per layer; with 5 or 13 rows per chunk, blocks straddle them, so a
    # rewrite after damage must not decode a broken neighbour.
    reference.chunk_examples = rng.choice([5, 8, 13])
    extract_activations(tiny_model, ds, reference, [0, 1], chunk_sequences=8, progress=False)
    shutil.copytree(reference.path, tmp_path / "copy.zarr")
    store = open_store(tmp_path / "ref", tiny_model, ds, "float16")
    store.path = tmp_path / "copy.zarr"
    store.chunk_examples = reference.chunk_examples
    store.group = store._open()
    layer = rng.choice([0, 1])
    kind = corrupt(store, layer, rng)
    chunk_sequences = rng.choice([8, 12])  # a rerun may use another chunk size
    redone = extract_activations(
        tiny_model, ds, store, [0, 1], chunk_sequences=chunk_sequences, progress=False
    )
    # A harmless edit (a progress string on a verified layer) may leave nothing to redo.
    assert redone == [layer] or (kind == "attrs" and redone == []), kind
    for each in (0, 1):  # float16 values of a random model: batches may differ in their padding
        np.testing.assert_allclose(store.read(each), reference.read(each), atol=2e-3, err_msg=kind)


# -- a job killed in the middle of probing ------------------------------------------------------


def test_a_requeued_job_resumes_probing_without_recomputing_or_duplicating(tmp_path, monkeypatch):
    overrides = [
        f"paths.cache={tmp_path / 'cache'}",
        "model=tiny-pythia",
        "feature=programming_language",
        "logger=none",
        "probe.ks=[1,2,4]",
        "probe.backend=sklearn",
        *SMALL,
    ]
    cfg = compose_cfg(overrides)
    whole = read_results(_run(cfg, tmp_path / "whole"))
    n_blocks = whole.groupby(["layer", "feature"]).ngroups

    n_features = whole["feature"].nunique()
    real = probing.experiment.probe_layer  # probes every pending feature of one layer
    calls = {"n": 0, "blocks": 0}

    def dies_in_layer_2(X, labels, splits, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # scancel, preemption, a time limit
        return real(X, labels, splits, *args, **kwargs)

    monkeypatch.setattr(probing.experiment, "probe_layer", dies_in_layer_2)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, tmp_path / "requeued")
    assert len(read_results(tmp_path / "requeued")) == n_features * 3  # layer 1's blocks

    def counts_blocks(X, labels, splits, *args, **kwargs):
        calls["blocks"] += len(splits)
        return real(X, labels, splits, *args, **kwargs)

    monkeypatch.setattr(probing.experiment, "probe_layer", counts_blocks)
    run_experiment(cfg, tmp_path / "requeued")
    assert calls["blocks"] == n_blocks - n_features  # only the blocks that were not written
    resumed = read_results(tmp_path / "requeued")
    key = ["layer", "feature", "k"]
    assert not resumed.duplicated(key).any() and len(resumed) == len(whole)
    merged = whole.merge(resumed, on=key, suffixes=("", "_resumed"))
    np.testing.assert_allclose(merged["f1"], merged["f1_resumed"])


def _run(cfg, run_dir):
    run_experiment(cfg, run_dir)
    return run_dir


# -- multiruns ----------------------------------------------------------------------------------


# one layer of token_position at k=1: a job of a few seconds
SMALL_JOB = [
    "feature=token_position",
    "feature.params.n_sequences=60",
    "logger=none",
    "layer=list",
    "layer.layers=[0]",
    "probe.ks=[1]",
    "progress=false",
]


def test_a_multirun_with_a_bad_job_launches_nothing(tmp_path):
    proc = run_cli(
        ["-m", "model=tiny-pythia", "logger=none", "probe.C=1,-1", f"hydra.sweep.dir={tmp_path}/s"],
        tmp_path,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "probe.C=-1 must be > 0" in proc.stderr and "nothing was launched" in proc.stderr
    assert not list((tmp_path / "s").glob("*/results.jsonl"))


def test_one_failed_job_does_not_stop_the_sweep(tmp_path, monkeypatch):
    """pythia-70m cannot load offline with an empty HF cache: its job fails, the tiny-pythia job
    after it still runs, and the sweep ends with a summary naming the failure and exit 1."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    proc = run_cli(
        [
            "-m",
            "model=pythia-70m,tiny-pythia",
            *SMALL_JOB,
            f"hydra.sweep.dir={tmp_path}/s",
        ],
        tmp_path,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "1 job(s) of the sweep" in proc.stderr and "0_pythia-70m_token_position" in proc.stderr
    assert "Traceback" not in proc.stderr
    failed = tmp_path / "s" / "0_pythia-70m_token_position" / "failure.json"
    assert failed.exists() and "Hugging Face cache" in failed.read_text()
    results = read_results(tmp_path / "s")
    assert set(results["model"]) == {"tiny-pythia"} and len(results) == 3


def test_an_earlier_sweeps_failure_in_the_same_sweep_dir_is_not_this_sweeps(tmp_path):
    """A second sweep into a sweep directory where another sweep's job failed: its summary
    lists only its own jobs, and it succeeded (exit 0)."""
    stale = tmp_path / "s" / "0_pythia-70m_token_position"
    stale.mkdir(parents=True)
    (stale / "failure.json").write_text(json.dumps({"error": "X", "message": "an old failure"}))
    sweep = ["-m", "model=tiny-pythia", *SMALL_JOB, f"hydra.sweep.dir={tmp_path}/s"]
    proc = run_cli(sweep, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "an old failure" not in proc.stderr and "failed" not in proc.stderr
    assert (stale / "failure.json").exists()  # the other sweep's record is left as it was


@pytest.mark.parametrize("args,expected", HYDRA_ERRORS)
def test_hydra_errors_and_bad_feature_params_are_one_line(one_line_runs, args, expected):
    proc, _ = one_line_runs[("hydra", " ".join(args))]
    assert expected in one_line_error(proc)


@pytest.mark.parametrize("sweep", NO_JOBS)
def test_a_sweep_of_no_jobs_is_one_line(one_line_runs, sweep):
    """Hydra would launch nothing and exit 0: a glob(...) that matches no collection is a typo."""
    proc, folder = one_line_runs[("nojobs", sweep)]
    assert one_line_error(proc) == f"error: {sweep} selects no value: the sweep has no jobs"
    assert not list(folder.glob("multirun/*/*/*"))


@pytest.mark.parametrize("bad", BAD_LAUNCHER)
def test_a_bad_launcher_value_is_one_line_and_submits_nothing(one_line_runs, bad):
    proc, folder = one_line_runs[("launcher", bad)]
    assert one_line_error(proc) == f"error: invalid config: {BAD_LAUNCHER[bad]}"
    assert not list(folder.glob("multirun/*/.submitit"))


def test_an_unwritable_run_directory_is_one_line(one_line_runs):
    proc, _ = one_line_runs[("rundir",)]
    assert "is a file" in one_line_error(proc)


def test_a_log_file_on_a_full_disk_prints_no_traceback_per_record(capsys):
    """Hydra logs to RUN_DIR/run.log; on a full disk each record's write fails. The run must
    end in its one error line, not a 'Logging error' traceback per record before it."""
    import logging

    import probing.run  # noqa: F401  (sets how logging treats a failing handler)

    class FullDisk(logging.Handler):
        def emit(self, record):
            try:
                raise OSError(errno.ENOSPC, "No space left on device")
            except OSError:
                self.handleError(record)

    logger = logging.getLogger("probing.test_full_disk")
    handler = FullDisk()
    logger.addHandler(handler)
    try:
        for _ in range(5):
            logger.warning("a record")
    finally:
        logger.removeHandler(handler)
    assert "Logging error" not in capsys.readouterr().err
