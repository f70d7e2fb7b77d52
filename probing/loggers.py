"""Experiment loggers. W&B runs offline unless the user gave an API key: a run never waits
on the network, and `wandb sync` uploads an offline run later."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)


class WandbLogger:
    """One W&B run per job; rows go to a Table, per-layer F1 to charts, the best to the summary.

    mode: "auto" (online when WANDB_API_KEY is set, else offline), "online", "offline", "disabled".
    """

    def __init__(
        self,
        project: str = "probing",
        entity: str | None = None,
        mode: str = "auto",
        group: str | None = None,
        tags: list[str] | None = None,
        init_timeout: float = 60.0,
    ) -> None:
        self.project = project
        self.entity = entity
        self.mode = mode
        self.group = group
        self.tags = list(tags or [])
        self.init_timeout = init_timeout
        self.run = None

    def resolved_mode(self) -> str:
        if self.mode != "auto":
            return self.mode
        return "online" if os.environ.get("WANDB_API_KEY") else "offline"

    def start(self, run_dir: str | Path, name: str, config: dict, tags: list[str] = ()) -> None:
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        mode = self.resolved_mode()
        kwargs = dict(
            project=self.project,
            entity=self.entity,
            name=name,
            group=self.group,
            tags=[*self.tags, *tags],
            config=config,
            dir=str(run_dir),
            reinit="finish_previous",
            settings=wandb.Settings(init_timeout=self.init_timeout, console="off"),
        )
        try:
            self.run = wandb.init(mode=mode, **kwargs)
        except Exception as err:  # a network failure must not cost the job its results
            if mode != "online":
                raise
            log.warning("W&B online init failed (%s); logging offline instead", err)
            self.run = wandb.init(mode="offline", **kwargs)
        self.run.define_metric("layer")
        self.run.define_metric("*", step_metric="layer")

    def log_layer(self, feature: str, layer: int, rows: list[dict]) -> None:
        """Per-layer charts against a "layer" axis: F1 of the best neuron and the best over k."""
        if self.run is None or not rows:
            return
        metrics = {"layer": layer, f"{feature}/f1_max": max(r["f1"] for r in rows)}
        metrics.update({f"{feature}/f1_k1": r["f1"] for r in rows if r["k"] == 1})
        self.run.log(metrics)

    def log_results(self, results: pd.DataFrame, summary: pd.DataFrame) -> None:
        if self.run is None:
            return
        import wandb

        table = results.assign(support=results["support"].map(lambda s: ",".join(map(str, s))))
        self.run.log({"results": wandb.Table(dataframe=table)})
        self.run.log({"best_neurons": wandb.Table(dataframe=summary)})
        for r in summary.itertuples():
            self.run.summary[f"{r.feature}/best_f1_k1"] = r.f1_k1
            self.run.summary[f"{r.feature}/best_layer"] = r.layer
            self.run.summary[f"{r.feature}/best_neuron"] = f"L{r.layer}N{r.neuron}"

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None


class NullLogger:
    """Logs nothing: for runs that only want results.jsonl."""

    def start(self, run_dir: str | Path, name: str, config: dict, tags: list[str] = ()) -> None:
        pass

    def log_layer(self, feature: str, layer: int, rows: list[dict]) -> None:
        pass

    def log_results(self, results: pd.DataFrame, summary: pd.DataFrame) -> None:
        pass

    def finish(self) -> None:
        pass
