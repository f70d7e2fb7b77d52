"""Hydra entry point: `python -m probing.run [overrides]`. Composes the config, validates it, then
hands it to run_experiment.

- A single run: errors a user can fix end in one line and exit 2; anything else is a bug and
  keeps its traceback.
- A multirun (`-m`): every job's config is validated before the first job starts (probing.multirun,
  a Hydra callback), a job that fails records why in its run directory and the sweep goes on, and
  the sweep ends with a summary and a non-zero exit when any job failed.
"""

from __future__ import annotations

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import probing.config  # noqa: F401  (registers the ${unique:} resolver of conf/config.yaml)
from probing.errors import user_message
from probing.experiment import run_experiment
from probing.multirun import clear_failure, record_failure

log = logging.getLogger("probing")
# A log file that cannot be written (a full disk under the run directory) must not print a
# traceback per log record before the run's own one-line error: logging drops the record.
logging.raiseExceptions = False


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    run_dir = hydra_cfg.runtime.output_dir
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    clear_failure(run_dir)
    try:
        summary = run_experiment(cfg, run_dir)
    except Exception as err:
        message = user_message(err)
        if multirun:  # record it and let the sweep go on; the sweep's summary reports it
            record_failure(run_dir, err, message)
            log.error("job failed: %s", message or err)
            return None
        if message is None:
            raise
        _log_to_files(message)  # the console shows it once, on stderr
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    # A scalar for Hydra sweepers to optimise: the best single neuron's *validation* F1 (an
    # optimiser that read test F1 would choose its settings on the test split).
    score = summary["val_f1_k1"] if len(summary) else None
    return float(score.max()) if score is not None and score.notna().any() else None


def _log_to_files(message: str) -> None:
    """An error record in the run's log file (Hydra's file handler) but not on the console,
    where the one-line `error:` on stderr already says it."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "%s", (message,), None)
    for handler in logging.getLogger().handlers + log.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def cli() -> None:
    """`python -m probing.run`: Hydra's own errors become one line (probing.cli_checks)."""
    from probing.cli_checks import precheck

    problem = precheck(sys.argv[1:])
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C: the stores and rows written so far are kept
        print(
            "error: interrupted; the same command resumes from the last finished chunk of "
            "activations (and, with the same hydra.run.dir, the last finished rows)",
            file=sys.stderr,
        )
        sys.exit(130)


if __name__ == "__main__":
    cli()
