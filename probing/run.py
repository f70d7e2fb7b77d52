"""Hydra entry point: `python -m probing.run [overrides]`. Composes the config, then hands it to
run_experiment; errors a user can fix end in one line instead of a traceback."""

from __future__ import annotations

import logging
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from probing.errors import USER_ERRORS
from probing.experiment import run_experiment

log = logging.getLogger("probing")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    try:
        summary = run_experiment(cfg, HydraConfig.get().runtime.output_dir)
    except USER_ERRORS as err:
        log.error("%s: %s", type(err).__name__, err)
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    # The best held-out F1 of a single neuron: a scalar for Hydra sweepers to optimise.
    return float(summary["f1_k1"].max()) if len(summary) else None


if __name__ == "__main__":
    main()
