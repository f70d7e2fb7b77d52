"""A multirun that a bad input never half-runs and a failed job never stops.

- Before the first job starts (or is submitted to SLURM), every job's config is composed and
  validated (`SweepReport.on_multirun_start`): a typo in one of 70 jobs costs seconds, and
  nothing is launched.
- A job that fails anyway (a missing model, a corrupt store, a bug) writes `failure.json` in its
  run directory and returns; the other jobs go on (`record_failure`, called by probing.run).
- When the sweep ends, `SweepReport.on_multirun_end` lists the failed jobs with their errors and
  exits 1 if there were any, so a script or CI sees the failure.

SweepReport is a Hydra callback (conf/config.yaml, `hydra.callbacks`); it runs in the process that
launches the sweep, the SLURM login node included.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

log = logging.getLogger(__name__)

FAILURE_FILE = "failure.json"


def job_overrides(parser: OverridesParser, sweep_params: dict, overrides: Sequence[str]):
    """One list of overrides per job, as Hydra's basic sweeper expands them: the experiment's
    `hydra.sweeper.params` first, then the command line (later keys replace earlier ones)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    lines = [f"{k}={v}" for k, v in (sweep_params or {}).items()] + list(overrides)
    batches = BasicSweeper.split_arguments(parser.parse_overrides(lines), None)
    return [list(job) for job in batches[0]]


def no_jobs_problem(parser: OverridesParser, sweep_params: dict, overrides: Sequence[str]) -> str:
    """Why a sweep expands to no jobs, in one line: the sweeps that select no value (a
    `glob(...)` matching no group member, `range(0,0)`)."""
    lines = [f"{k}={v}" for k, v in (sweep_params or {}).items()] + list(overrides)
    empty = [line for line in lines if not job_overrides(parser, {}, [line])]
    return f"{', '.join(empty) or 'the sweep'} selects no value: the sweep has no jobs"


# The smallest value of each SLURM request (its type is the launcher's structured config's): sbatch
# refuses less once the sweep has begun, and a negative GPU count prices negative GPU-hours.
LAUNCHER_MINIMA = {"gpus_per_node": 0, "tasks_per_node": 1, "nodes": 1, "cpus_per_task": 1,
                   "mem_gb": 1, "timeout_min": 1, "array_parallelism": 1}  # fmt: skip


def launcher_problem(config: DictConfig) -> str | None:
    """The multirun's launcher request sbatch would refuse, in one line, or None."""
    launcher = OmegaConf.select(config, "hydra.launcher", default=None) or {}
    for key, low in LAUNCHER_MINIMA.items():
        try:
            value = launcher.get(key)
        except OmegaConfBaseException as err:  # an interpolation (model.slurm.*) of a non-number
            first = str(err).splitlines()[0]  # the rest is OmegaConf's full_key / object_type
            return f"invalid config: hydra.launcher.{key}: {first}; make it a whole number"
        if value is not None and value < low:
            bound = "> 0" if low else ">= 0"  # the counts are ints
            return f"invalid config: hydra.launcher.{key}={value} must be {bound}"
    return None


def record_failure(run_dir: str | Path, err: BaseException, message: str | None) -> Path:
    """Write why a job failed into its run directory (the sweep's summary reads it)."""
    path = Path(run_dir) / FAILURE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "error": type(err).__name__,
        "message": message or str(err),
        "user_error": message is not None,
        "traceback": "".join(traceback.format_exception(err)),
    }
    path.write_text(json.dumps(record, indent=1))
    return path


def clear_failure(run_dir: str | Path) -> None:
    """A rerun job (a requeue) starts without its previous attempt's failure."""
    (Path(run_dir) / FAILURE_FILE).unlink(missing_ok=True)


def sweep_failures(sweep_dir: str | Path) -> list[tuple[Path, dict]]:
    """(run directory, failure record) of every failed job under a sweep directory."""
    found = []
    for path in sorted(Path(sweep_dir).glob(f"*/{FAILURE_FILE}")):
        try:
            found.append((path.parent, json.loads(path.read_text())))
        except (OSError, ValueError):
            found.append((path.parent, {"error": "?", "message": f"unreadable {path}"}))
    return found


class SweepReport(Callback):
    """Validates every job before a multirun starts, and reports failed jobs when it ends."""

    def __init__(self) -> None:
        # the failure records in the sweep directory before this sweep, by their _stamp
        self._earlier: dict[Path, tuple[int, int] | None] = {}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.core.global_hydra import GlobalHydra

        # Another sweep into the same sweep directory may have left failures of its own jobs:
        # the summary reports only the records this sweep's jobs write (a rerun job clears its
        # old one, and a new record is a new file).
        sweep_dir = Path(str(config.hydra.sweep.dir))
        self._earlier = {p: _stamp(p) for p in sweep_dir.glob(f"*/{FAILURE_FILE}")}
        problem = launcher_problem(config)
        if problem:  # before a job is submitted
            print(f"error: {problem}", file=sys.stderr)
            sys.exit(2)
        sweeper = str(OmegaConf.select(config, "hydra.sweeper._target_", default=""))
        if not sweeper.endswith("BasicSweeper"):
            return  # another sweeper chooses its jobs as it goes: each job validates itself
        loader = GlobalHydra.instance().config_loader()
        # to_container is typed for any node; the task is a list of strings, params a mapping
        overrides = cast(
            list[str], OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
        )
        params = OmegaConf.select(config, "hydra.sweeper.params")
        params = cast(dict, OmegaConf.to_container(params, resolve=False)) if params else {}
        parser = OverridesParser.create(config_loader=loader)
        jobs = job_overrides(parser, params, overrides)
        if not jobs:  # Hydra would launch nothing and exit 0
            print(f"error: {no_jobs_problem(parser, params, overrides)}", file=sys.stderr)
            sys.exit(2)
        problems = []
        for job in jobs:
            message = _job_problem(loader, config, job)
            if message:
                problems.append(f"job {' '.join(job) or '(base)'}: {message}")
        if problems:
            for line in problems:
                print(f"error: {line}", file=sys.stderr)
            print(
                f"error: {len(problems)} of {len(jobs)} jobs have an invalid config; "
                "nothing was launched",
                file=sys.stderr,
            )
            sys.exit(2)
        log.info("validated the configs of %d jobs", len(jobs))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        failures = [
            (run_dir, rec)
            for run_dir, rec in sweep_failures(sweep_dir)
            if _stamp(run_dir / FAILURE_FILE) != self._earlier.get(run_dir / FAILURE_FILE)
        ]
        if not failures:
            return
        lines = [f"{len(failures)} job(s) of the sweep in {sweep_dir} failed:"]
        lines += [f"  {run_dir.name}: {rec.get('message')}" for run_dir, rec in failures]
        lines.append(f"(tracebacks in each job's {FAILURE_FILE}; rerun to resume the others' work)")
        print("\n".join(lines), file=sys.stderr)
        sys.exit(1)


def _stamp(path: Path) -> tuple[int, int] | None:
    """(inode, modification time) of a file, None if it is not there: a rewritten or new failure
    record has another stamp than the one seen before the sweep."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _job_problem(loader, config: DictConfig, job: list[str]) -> str | None:
    """Why a job's config is invalid, in one line, or None."""
    from probing.config import validate_config
    from probing.errors import ConfigError

    try:
        job_cfg = loader.load_sweep_config(config, job)
    except Exception as err:  # Hydra's own composition errors (an unknown group member...)
        return str(err).strip().splitlines()[0]
    try:
        validate_config(job_cfg)
    except ConfigError as err:
        return str(err)
    return None
