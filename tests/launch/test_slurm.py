"""The SLURM fan-out, end to end, on a real single-node cluster started by the test itself
(launch/slurm_test_cluster.sh: installs slurm-wlm and munge if missing; needs root).

1. A multirun through `hydra/launcher=slurm_cpu` over two models (tiny-pythia and the real
   offline SmolLM2-135M) and two feature collections is one job array whose four jobs each write
   their results.
2. A job interrupted mid-extraction reruns, resumes from the store's last finished chunk, and
   leaves arrays equal to those of an uninterrupted run. Two interrupts: `scontrol requeue`
   (SLURM kills the job, as a preemption or node failure does, and queues it again), and USR2,
   the signal SLURM sends `signal_delay_s` before a time limit (`--signal=USR2@...`): submitit
   catches it, checkpoints the launcher's job and requeues it itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from probing.features import COLLECTIONS
from probing.results import REQUIRED_COLUMNS, read_results

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "launch" / "slurm_test_cluster.sh"
TEST_CONF = Path(__file__).resolve().parent / "conf"
JOB_NAME = "probing-test"
COMMON = [
    f"hydra.searchpath=[file://{TEST_CONF}]",
    "logger=none",
    "progress=false",
    "probe.backend=sklearn",
    "probe.ks=[1,2]",
]
# A 4-layer tiny-pythia over 400 sequences in chunks of 32: slow enough (~12 s of extraction
# on one core) to kill the job after its first chunks and before its last.
# Sized so that extraction outlasts SLURM's SIGTERM-to-SIGKILL grace after the first chunk
# (reading the HF modules directly made the 256-wide model finish within it).
KILL_RUN = [
    "model=tiny-pythia",
    "model.config.hidden_size=512",
    "model.config.num_hidden_layers=4",
    "model.config.intermediate_size=2048",
    "feature=programming_language",
    "feature.params.n_per_class=80",
    "feature.params.seq_len=128",
    "store.chunk_sequences=32",
    "layer=all",
]


def _cluster(action: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(CLUSTER), action], capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def slurm_cluster():
    if os.geteuid() != 0:
        pytest.skip("the single-node test cluster needs root (apt-get, munged, slurmd)")
    was_running = "slurmctld: running" in _cluster("status").stdout
    started = _cluster("start")
    assert started.returncode == 0, started.stderr
    yield
    subprocess.run(["scancel", "--name", JOB_NAME], check=False)
    if not was_running:  # leave a cluster that someone else started as it was
        stopped = _cluster("stop")
        assert stopped.returncode == 0, stopped.stderr


def _job_ids() -> list[str]:
    out = subprocess.run(
        ["squeue", "-h", "-n", JOB_NAME, "-o", "%i %T %r"], capture_output=True, text=True
    ).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _start(overrides: list[str], cache: Path, sweep_dir: Path, launcher: str = "slurm_cpu"):
    env = {**os.environ, "PROBING_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "probing.run",
        "-m",
        f"hydra/launcher={launcher}",
        f"hydra.sweep.dir={sweep_dir}",
        *COMMON,
        *overrides,
    ]
    if launcher != "local":
        cmd.append(f"hydra.launcher.name={JOB_NAME}")
    log = open(sweep_dir.parent / f"{sweep_dir.name}.log", "w")  # noqa: SIM115 (closed by wait)
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log


def _job_logs(sweep_dir: Path, tail: int | None = 3000) -> str:
    """The jobs' submitit logs; the last `tail` characters of each (None: all of them)."""
    return "\n".join(
        f"--- {p}\n{p.read_text()[-tail if tail else 0 :]}"
        for p in sorted(sweep_dir.glob(".submitit/*/*_log.*"))
    )


def _wait(proc: subprocess.Popen, log, sweep_dir: Path, timeout_s: float, slurm: bool = True):
    """Wait for the launcher. Without accounting, submitit cannot tell that a job died without
    a result and would wait forever: fail as soon as the queue is empty and the launcher is not."""
    deadline = time.time() + timeout_s
    empty_since = None
    while proc.poll() is None:
        if time.time() > deadline:
            proc.kill()
            pytest.fail(f"launcher still waiting after {timeout_s}s\n{_job_logs(sweep_dir)}")
        if slurm and not _job_ids():
            empty_since = empty_since or time.time()
            if time.time() - empty_since > 30:
                proc.kill()
                pytest.fail(f"jobs ended without results\n{_job_logs(sweep_dir)}")
        else:
            empty_since = None
        time.sleep(1)
    log.close()
    text = Path(log.name).read_text()
    assert proc.returncode == 0, text[-5000:] + _job_logs(sweep_dir)
    return text


def test_multirun_two_models_two_features_is_one_job_array(slurm_cluster, tmp_path):
    sweep = tmp_path / "multirun"
    proc, log = _start(
        [
            "model=tiny-pythia,smollm2-135m",
            "feature=programming_language_small,natural_language_small",
            "layer=middle",
        ],
        tmp_path / "cache",
        sweep,
    )
    _wait(proc, log, sweep, timeout_s=420)

    scripts = list(sweep.glob(".submitit/*/*_submission.sh"))
    assert len(scripts) == 1, "one sbatch submission: a job array"
    script = scripts[0].read_text()
    assert "#SBATCH --array=0-3%" in script and "#SBATCH --requeue" in script
    assert "export OMP_NUM_THREADS=1" in script and f"{sys.executable} -u -m submitit" in script
    assert len(list(sweep.glob(".submitit/*/*_result.pkl"))) == 4

    results = read_results(sweep)
    assert set(REQUIRED_COLUMNS) <= set(results.columns)
    jobs = results.groupby(["model", "collection"])
    assert sorted(jobs.groups) == [
        (m, c)
        for m in ("smollm2-135m", "tiny-pythia")
        for c in ("natural_language", "programming_language")
    ]
    for (model, collection), rows in jobs:
        middle = {"smollm2-135m": 15, "tiny-pythia": 1}[model]
        assert set(rows.layer) == {middle}, (model, collection)
        assert set(rows.k) == {1, 2}
        assert rows.f1.between(0, 1).all()
        n_features = len(COLLECTIONS[collection].features)
        assert rows.feature.nunique() == n_features
    stores = sorted((tmp_path / "cache" / "activations").glob("*/*.zarr"))
    assert len(stores) == 4
    for store in stores:
        layers = [a for a in zarr.open_group(store, mode="r").array_values()]
        assert len(layers) == 1 and layers[0].attrs["complete"]


def test_each_model_size_is_its_own_array_with_its_own_limits(slurm_cluster, tmp_path):
    """Two jobs whose models ask for different time limits and memory: two sbatch submissions,
    each with its job's own --time and --mem (hydra_plugins/probing_launchers/sized_slurm.py), both finish."""
    sweep = tmp_path / "multirun"
    proc, log = _start(
        [
            "model=tiny-pythia",
            "+model.slurm.timeout_min=5,9",
            "feature=programming_language_small",
            "layer=middle",
        ],
        tmp_path / "cache",
        sweep,
    )
    _wait(proc, log, sweep, timeout_s=420)
    scripts = [p.read_text() for p in sweep.glob(".submitit/*/*_submission.sh")]
    assert len(scripts) == 2, "one array per size"
    times = sorted(re.search(r"#SBATCH --time=(\d+)", s).group(1) for s in scripts)
    assert times == ["5", "9"]
    assert all("#SBATCH --mem=6GB" in s for s in scripts)  # slurm_cpu's default: no model block
    assert len(list(sweep.glob(".submitit/*/*_result.pkl"))) == 2
    assert read_results(sweep)["model"].nunique() == 1 and len(read_results(sweep))


def _progress(cache: Path, layer: int) -> int:
    """n_seq_done of `layer` in the (single) store under `cache`, 0 if not written yet."""
    for meta in cache.glob(f"activations/*/*.zarr/layer_{layer}/zarr.json"):
        try:
            return int(json.loads(meta.read_text())["attributes"]["n_seq_done"])
        except (ValueError, KeyError):  # caught mid-write: ask again
            return 0
    return 0


def _release(job: str) -> None:
    """SLURM holds a requeued job for ~2 minutes (BeginTime); start it now instead."""
    for _ in range(60):
        out = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%T %r"], capture_output=True, text=True
        ).stdout
        if "PENDING" in out:
            subprocess.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], check=True)
            return
        time.sleep(0.5)
    pytest.fail(f"requeued job {job} never went back to PENDING")


INTERRUPTS = {
    "killed": ["scontrol", "requeue"],  # SIGTERM, SIGKILL, back in the queue
    "usr2": ["scancel", "--signal=USR2"],  # what a time limit sends; the job requeues itself
}


@pytest.mark.parametrize("interrupt", sorted(INTERRUPTS))
def test_interrupted_job_requeues_resumes_and_matches_uninterrupted_run(
    slurm_cluster, tmp_path, interrupt
):
    n_seq, chunk = 80 * len(COLLECTIONS["programming_language"].features), 32  # 400
    # The uninterrupted reference runs in-process (the `local` profile) alongside the SLURM job.
    ref_proc, ref_log = _start(KILL_RUN, tmp_path / "ref", tmp_path / "ref_run", launcher="local")
    sweep, cache = tmp_path / "multirun", tmp_path / "cache"
    proc, log = _start(KILL_RUN, cache, sweep)

    deadline = time.time() + 240
    while (done := _progress(cache, 3)) < chunk:
        assert proc.poll() is None and time.time() < deadline, _job_logs(sweep)
        time.sleep(0.1)
    assert done < n_seq, "extraction finished before the interrupt: make it slower"
    (job,) = _job_ids()
    subprocess.run([*INTERRUPTS[interrupt], job], check=True)
    _release(job)
    _wait(proc, log, sweep, timeout_s=300)
    _wait(ref_proc, ref_log, tmp_path / "ref_run", timeout_s=300, slurm=False)

    job_log = _job_logs(sweep, tail=None)
    starts = re.findall(r"submitit INFO \(.*\) - Starting with JobEnvironment", job_log)
    assert len(starts) == 2, "the job ran twice: interrupted, then requeued"
    if interrupt == "usr2":
        assert "Caught signal SIGUSR2" in job_log and "Calling checkpoint method" in job_log
    resumed = re.search(r"resuming at sequence (\d+) of (\d+)", job_log)
    assert resumed, job_log
    start = int(resumed.group(1))
    assert chunk <= start < n_seq and start % chunk == 0 and int(resumed.group(2)) == n_seq
    assert read_results(sweep).layer.nunique() == 4

    (killed,) = cache.glob("activations/*/*.zarr")
    (reference,) = (tmp_path / "ref").glob("activations/*/*.zarr")
    assert killed.name == reference.name  # same model, same dataset content
    a, b = zarr.open_group(killed, mode="r"), zarr.open_group(reference, mode="r")
    for layer in range(4):
        x, y = a[f"layer_{layer}"], b[f"layer_{layer}"]
        assert x.attrs["complete"] and x.attrs["n_seq_done"] == n_seq
        np.testing.assert_array_equal(x[:], y[:])
