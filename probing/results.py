"""Result rows: one per model x feature x layer x probe x k, appended to results.jsonl.

JSON lines because a run that dies keeps every row written before it, a multirun's jobs each
write their own file, and pandas reads them back in one call (`read_results`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from probing.probes.metrics import METRIC_NAMES

RESULTS_FILE = "results.jsonl"
METRICS = METRIC_NAMES
# Every row has these; a test checks the end-to-end run against this list.
REQUIRED_COLUMNS = (
    "model",
    "feature",
    "collection",
    "category",
    "layer",
    "method",
    "backend",
    "k",
    *METRICS,
    "support",
)


class ResultWriter:
    """Appends rows to RUN_DIR/results.jsonl, one flush per layer so a crash loses little."""

    def __init__(self, run_dir: str | Path, fresh: bool = True) -> None:
        """fresh: start the file anew, so a requeued job rewrites its rows instead of adding
        a second copy (its activations are reused from the store; only probing repeats)."""
        self.path = Path(run_dir) / RESULTS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            self.path.unlink(missing_ok=True)

    def write(self, rows: Iterable[dict]) -> None:
        with self.path.open("a") as f:
            for row in rows:
                missing = [c for c in REQUIRED_COLUMNS if c not in row]
                if missing:
                    raise ValueError(f"result row lacks {missing}")
                f.write(json.dumps(_jsonable(row)) + "\n")


def _jsonable(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if hasattr(value, "tolist"):
            value = value.tolist()
        if isinstance(value, float) and not math.isfinite(value):
            value = None  # JSON has no NaN; pandas reads None back as NaN
        out[key] = value
    return out


def read_results(*paths: str | Path) -> pd.DataFrame:
    """Rows of every results.jsonl under the given files or run directories, as one table."""
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.rglob(RESULTS_FILE)) if p.is_dir() else [p])
    frames = [pd.read_json(f, lines=True, precise_float=True) for f in files if f.stat().st_size]
    if not frames:
        return pd.DataFrame(columns=list(REQUIRED_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Per model and feature: the layer whose best single neuron (k=1) has the highest F1."""
    k1 = results[results["k"] == 1]
    if k1.empty:
        return pd.DataFrame(columns=["model", "feature", "layer", "neuron", "f1_k1", "best_f1"])
    best = k1.loc[k1.groupby(["model", "feature"])["f1"].idxmax()]
    best_any_k = results.groupby(["model", "feature"])["f1"].max().rename("best_f1")
    out = best.assign(neuron=best["support"].map(lambda s: int(s[0])), f1_k1=best["f1"])
    out = out[["model", "feature", "layer", "neuron", "f1_k1"]].join(
        best_any_k, on=["model", "feature"]
    )
    return out.sort_values(["model", "f1_k1"], ascending=[True, False]).reset_index(drop=True)


def format_summary(summary: pd.DataFrame) -> str:
    lines = [
        f"{'model':<16} {'feature':<28} {'layer':>5} {'neuron':>7} {'F1@k=1':>7} {'best F1':>8}"
    ]
    for r in summary.itertuples():
        lines.append(
            f"{r.model:<16} {r.feature:<28} {r.layer:>5} {r.neuron:>7} {r.f1_k1:>7.3f} {r.best_f1:>8.3f}"
        )
    return "\n".join(lines)
