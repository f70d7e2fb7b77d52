"""Experiment loggers. W&B runs offline unless the user gave an API key: a run never waits
on the network, and `wandb sync` uploads an offline run later.

Names are fixed so a dashboard of the scale sweep needs no code (README, "W&B dashboard"):
- id: a hash of the job's identity (sweep, model, revision, feature collection, probe, hook,
  layers, control), with resume: a requeued job continues its run instead of adding a second;
- the run starts before the model loads and ends failed (exit code 1) if the job fails;
- group: the sweep (the multirun directory), so one sweep's jobs sit together;
- tags, one per fact: model:<name>, feature:<collection>, probe:<method>, hook:<hook>,
  layers:<spec>, revision:<rev> (if set), control:rotated, and backend:<the backend used> once
  probing has run (never "auto");
- history, x axis "rel_depth" (0 first layer, 1 last, so models of any depth line up; "layer" is
  logged too): f1_k1/<feature> (the best single neuron) and f1_max/<feature>;
- summary: f1_k1/<feature>, f1_max/<feature>, best_layer/<feature>, best_neuron/<feature>
  ("L12N345"), k90/<feature> (smallest k reaching 90% of max F1 at the best layer), p_value/<feature>
  and significant/<feature> (the best neuron's permutation test, probing.summaries), and per run
  f1_k1_mean, f1_max_mean, k90_median, d_mlp, n_layers, n_params (where the model config has
  it), backend;
- tables: results (every row, so analysis can rebuild the table from W&B), best_neurons,
  top_neurons (the k=1 neuron of every layer).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from probing import summaries
from probing.config import Config

if TYPE_CHECKING:
    from wandb.sdk.wandb_run import Run

log = logging.getLogger(__name__)


def sweep_group(run_dir: str | Path) -> str:
    """The W&B group of a job: its Hydra sweep directory (which holds multirun.yaml), else the
    run directory itself, so a single run is a group of one."""
    run_dir = Path(run_dir).resolve()
    if (run_dir.parent / "multirun.yaml").exists():
        return "sweep-" + "_".join(run_dir.parent.parts[-2:])
    return "run-" + run_dir.name


def config_tags(config: dict) -> list[str]:
    """key:value tags from the job's config as a plain dict (`dataclasses.asdict` of its Config,
    as W&B gets it): filterable in the W&B UI without custom code. A key the dict lacks reads as
    the Config's default."""

    def get(*keys: str) -> Any:
        node: Any = config
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    layers = get("layer", "layers")
    layers = layers if isinstance(layers, str) else ",".join(map(str, layers or []))
    pairs = {
        "model": get("model", "name"),
        "feature": get("feature", "name"),
        "probe": get("probe", "method"),
        "hook": get("hook") or Config.hook,
        "layers": layers,
        "revision": get("model", "revision"),
    }
    tags = [f"{k}:{v}"[:64] for k, v in pairs.items() if v not in (None, "")]
    if get("probe", "rotate"):
        tags.append("control:rotated")
    return tags


def run_id(config: dict, group: str) -> str:
    """The W&B run id of a job: the same for a requeued job (same sweep, same config), different
    for any other job, so a resumed job continues its own run. `config` as for config_tags; the
    id must not change for the same config (a requeued job finds its run by it)."""
    model, feature, probe = (config.get(k) or {} for k in ("model", "feature", "probe"))
    hook = config.get("hook") or Config.hook
    identity = [group, model.get("name"), model.get("revision"), feature.get("name"),
                feature.get("params"), feature.get("only"), probe.get("method"), probe.get("ks"),
                bool(probe.get("rotate")), hook,
                (config.get("layer") or {}).get("layers"), config.get("seed")]  # fmt: skip
    if hook == "sae":  # two SAEs of one sweep: two runs
        identity.append(config.get("sae"))
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class WandbLogger:
    """One W&B run per job; rows go to Tables, per-layer F1 to charts, the best to the summary.

    mode: "auto" (online when WANDB_API_KEY is set, else offline), "online", "offline", "disabled".
    group: None groups runs per sweep (`sweep_group`); a string sets the group explicitly.
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
        self.run: Run | None = None
        self.n_layers: int | None = None

    def resolved_mode(self) -> str:
        if self.mode != "auto":
            return self.mode
        return "online" if os.environ.get("WANDB_API_KEY") else "offline"

    def start(self, run_dir: str | Path, name: str, config: dict, tags: Sequence[str] = ()) -> None:
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        mode = self.resolved_mode()
        group = self.group or sweep_group(run_dir)
        all_tags = list(dict.fromkeys([*self.tags, *tags, *config_tags(config)]))
        kwargs: dict[str, Any] = dict(
            id=run_id(config, group),
            resume="allow",
            project=self.project,
            entity=self.entity,
            name=name,
            group=group,
            job_type="probe",
            tags=all_tags,
            config={**config, "sweep": group},
            dir=str(run_dir),
            reinit="finish_previous",
            settings=wandb.Settings(init_timeout=self.init_timeout, console="off"),
        )
        try:
            # mode is the user's string (resolved_mode); wandb.init validates it
            self.run = wandb.init(mode=mode, **kwargs)  # type: ignore[arg-type]
        except Exception as err:  # a network failure must not cost the job its results
            if mode != "online":
                raise
            log.warning("W&B online init failed (%s); logging offline instead", err)
            self.run = wandb.init(mode="offline", **kwargs)
        self.run.define_metric("rel_depth")
        for prefix in ("f1_k1", "f1_max"):
            self.run.define_metric(f"{prefix}/*", step_metric="rel_depth")

    def describe_model(self, n_layers: int, d_mlp: int, n_params: int | None) -> None:
        """Facts a scale-sweep dashboard plots against: depth, width, size."""
        self.n_layers = n_layers
        if self.run is not None:
            facts = {"n_layers": n_layers, "d_mlp": d_mlp}
            if n_params:
                facts["n_params"] = int(n_params)
            self.run.summary.update(facts)

    def log_layer(self, feature: str, layer: int, rows: list[dict]) -> None:
        """Per-layer charts against relative depth: F1 of the best neuron and the best over k."""
        if self.run is None or not rows:
            return
        depth = layer / (self.n_layers - 1) if self.n_layers and self.n_layers > 1 else 0.0
        # the best k of the layer is the one validation chooses; its test F1 is charted
        best = max(rows, key=lambda r: (r.get("val_f1", r["f1"]), -r["k"]))
        metrics = {"layer": layer, "rel_depth": depth, f"f1_max/{feature}": best["f1"]}
        metrics.update({f"f1_k1/{feature}": r["f1"] for r in rows if r["k"] == 1})
        self.run.log(metrics)

    def log_results(self, results: pd.DataFrame, summary: pd.DataFrame) -> None:
        if self.run is None:
            return
        import wandb

        table = results.assign(support=results["support"].map(lambda s: ",".join(map(str, s))))
        best = summary.assign(
            neuron_id=[summaries.neuron_id(r.layer, r.neuron) for r in summary.itertuples()]
        )
        self.run.log(
            {
                "results": wandb.Table(dataframe=table),
                "best_neurons": wandb.Table(dataframe=best),
                "top_neurons": wandb.Table(dataframe=top_neurons(results)),
            }
        )
        self.run.summary.update(summary_metrics(results, summary))
        if "device" in results and results["device"].notna().any():  # known once the model ran
            self.run.config.update({"device": str(results["device"].dropna().iloc[0])})
        used = sorted(set(results["backend"].dropna())) if "backend" in results else []
        if used:  # the backend that ran, never "auto"
            self.run.summary["backend"] = ",".join(used)
            # Run.tags is annotated `tuple | None` but returns `run_tags or ()`
            tags = cast(tuple, self.run.tags)
            self.run.tags = tuple(dict.fromkeys([*tags, *(f"backend:{b}" for b in used)]))

    def finish(self, exit_code: int = 0) -> None:
        """End the run; a non-zero exit code marks it failed in W&B."""
        if self.run is not None:
            self.run.finish(exit_code=exit_code)
            self.run = None


def top_neurons(results: pd.DataFrame) -> pd.DataFrame:
    """The k=1 neuron of every layer and feature, best first on validation, named (layer,
    neuron)."""
    columns = ["model", "feature", "method", "layer", "neuron", "neuron_id", "f1", "val_f1"]
    top = summaries.top_neurons(results)
    return top[[c for c in columns if c in top] + ["precision", "recall"]].reset_index(drop=True)


def summary_metrics(results: pd.DataFrame, summary: pd.DataFrame) -> dict:
    """The run summary: per-feature keys "<metric>/<feature>" and per-run aggregates."""
    out: dict = {}
    k90 = []
    for r in summary.itertuples():
        _, k = summaries.k_at_fraction(results[results["feature"] == r.feature])
        k90.append(k)
        if r.significant is not None:  # runs with the permutation null
            out[f"p_value/{r.feature}"] = r.p_value
            out[f"significant/{r.feature}"] = bool(r.significant)
        out.update(
            {
                f"f1_k1/{r.feature}": r.f1_k1,
                f"f1_max/{r.feature}": r.best_f1,
                f"best_layer/{r.feature}": r.layer,
                f"best_neuron/{r.feature}": summaries.neuron_id(r.layer, r.neuron),
                f"k90/{r.feature}": k,
            }
        )
    if len(summary):
        out["f1_k1_mean"] = float(summary["f1_k1"].mean())
        out["f1_max_mean"] = float(summary["best_f1"].mean())
        out["k90_median"] = float(np.median(k90))
    if "d_mlp" in results and len(results):
        out["d_mlp"] = int(results["d_mlp"].max())
    return out


class NullLogger:
    """Logs nothing: for runs that only want results.jsonl."""

    def start(self, run_dir: str | Path, name: str, config: dict, tags: Sequence[str] = ()) -> None:
        pass

    def describe_model(self, n_layers: int, d_mlp: int, n_params: int | None) -> None:
        pass

    def log_layer(self, feature: str, layer: int, rows: list[dict]) -> None:
        pass

    def log_results(self, results: pd.DataFrame, summary: pd.DataFrame) -> None:
        pass

    def finish(self, exit_code: int = 0) -> None:
        pass
