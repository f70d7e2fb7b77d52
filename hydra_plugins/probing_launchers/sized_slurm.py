"""A SLURM launcher that gives each model of a sweep its own memory and time limit.

hydra-submitit-launcher submits a whole multirun as one job array sized by the base config, so a
Pythia scale sweep asks 64 GB and 20 hours for every job, the 70m ones included (they need
minutes): long requests wait longest in a queue and block backfill. Here the jobs are grouped by
the resources their own config asks for (`model.slurm.mem_gb`, `model.slurm.timeout_min`; the
launcher's values where a model has none), and each group is one job array of its own. All
arrays are submitted before any is waited on, and results come back in the sweep's order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
from omegaconf import OmegaConf

log = logging.getLogger(__name__)
SIZED = ("mem_gb", "timeout_min")


class SizedSlurmLauncher(SlurmLauncher):
    def job_resources(self, overrides: Sequence[str]) -> tuple[tuple[str, Any], ...]:
        """(mem_gb, timeout_min) this job's own config asks for."""
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        slurm = OmegaConf.select(cfg, "model.slurm", default=None) or {}
        return tuple((key, slurm.get(key) or self.params.get(key)) for key in SIZED)

    def _executor(self, resources: dict[str, Any]):
        import submitit

        params = {**self.params, **resources}
        init_keys = {"max_num_timeout", "submitit_folder"}
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR,
            folder=params["submitit_folder"],
            **(
                {"slurm_max_num_timeout": params["max_num_timeout"]}
                if "max_num_timeout" in params
                else {}
            ),
        )
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{
                key if key in base else f"{self._EXECUTOR}_{key}": value
                for key, value in params.items()
                if key not in init_keys
            }
        )
        return executor

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        assert self.config is not None and len(job_overrides) > 0
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        groups: dict[tuple, list[int]] = {}
        for i, overrides in enumerate(job_overrides):
            groups.setdefault(self.job_resources(overrides), []).append(i)
        submitted: dict[int, Any] = {}
        for resources, members in groups.items():
            sized = dict(resources)
            log.info(
                "job array of %d: %s GB, %s min",
                len(members),
                sized["mem_gb"],
                sized["timeout_min"],
            )
            params = []
            for i in members:
                idx = initial_job_idx + i
                log.info("\t#%d : %s", idx, " ".join(filter_overrides(job_overrides[i])))
                params.append((list(job_overrides[i]), "hydra.sweep.dir", idx,
                               f"job_id_for_{idx}", Singleton.get_state()))  # fmt: skip
            jobs = self._executor(sized).map_array(self, *zip(*params, strict=True))
            submitted.update(zip(members, jobs, strict=True))
        return [submitted[i].results()[0] for i in range(len(job_overrides))]
