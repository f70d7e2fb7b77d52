"""One results table across run directories: every model, feature, layer, probe method and k.

A sweep is many jobs, each with its own results.jsonl, and a job that failed or was changed is
often rerun into a new directory. Reading them all would then count one measurement twice, so
rows are de-duplicated on what they measure (DEDUP_KEY): the row from the most recently written
file wins, and within one file the last row wins (a job that appended to its file again).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from probing.results import REQUIRED_COLUMNS, RESULTS_FILE, read_results

# What a row measures. Not the backend: torch and sklearn fit the same probe, so a rerun on
# another backend replaces the first. The revision is kept: checkpoints are different models.
DEDUP_KEY = ("model", "revision", "hook", "sae", "feature", "collection", "layer", "method", "k")
DEFAULT_HOOK = "mlp_post"


def result_files(*paths: str | Path) -> list[Path]:
    """Every results.jsonl under the given run directories (or the files themselves)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such run directory or results file")
        if p.is_dir():  # not the copies the W&B logger keeps in RUN_DIR/wandb/*/files/
            files.extend(f for f in p.rglob(RESULTS_FILE) if "wandb" not in f.relative_to(p).parts)
        else:
            files.append(p)
    return sorted(set(files))


def load_results(*paths: str | Path) -> pd.DataFrame:
    """The de-duplicated table of every row under `paths`, with `source` (its file) added.

    A model run at several revisions gets `model` = "name@revision" (its plain name stays in
    `model_name`), so plots never pool two checkpoints; otherwise `model_name` == `model`.
    """
    frames = []
    for order, f in enumerate(sorted(result_files(*paths), key=_written_at)):
        frame = read_results(f)
        if len(frame):
            frames.append(frame.assign(source=str(f), _file_order=order))
    if not frames:
        return pd.DataFrame(columns=[*REQUIRED_COLUMNS, "source", "model_name"])
    return finalize(pd.concat(frames, ignore_index=True))


def finalize(rows: pd.DataFrame) -> pd.DataFrame:
    """De-duplicate and label rows from any source (files or W&B); rows later in order win."""
    rows = rows.copy()
    n_before = len(rows)
    if "model_name" in rows:  # already labelled once: start again from the plain names
        rows["model"] = rows["model_name"]
    if "revision" not in rows:
        rows["revision"] = ""
    rows["revision"] = rows["revision"].fillna("").astype(str)
    rows["hook"] = rows["hook"].fillna(DEFAULT_HOOK) if "hook" in rows else DEFAULT_HOOK
    rows["sae"] = rows["sae"].fillna("") if "sae" in rows else ""  # which SAE's latents
    rows["_row_order"] = range(len(rows))
    order = [c for c in ("_file_order", "_row_order") if c in rows]
    rows = rows.sort_values(order).drop_duplicates(list(DEDUP_KEY), keep="last")
    rows = rows.drop(columns=order)
    rows["model_name"] = rows["model"]
    several = rows.groupby("model_name")["revision"].transform("nunique") > 1
    rows.loc[several, "model"] = (
        rows.loc[several, "model_name"] + "@" + rows.loc[several, "revision"]
    )
    other_hook = rows["hook"] != DEFAULT_HOOK  # "model#resid_post": its own model in every table
    rows.loc[other_hook, "model"] = (
        rows.loc[other_hook, "model"] + "#" + rows.loc[other_hook, "hook"]
    )
    # several SAEs of one model: "model#sae:<its name>" keeps them apart
    saes = rows["sae"].where(rows["sae"] != "")  # neuron rows have none: not counted
    several_saes = saes.groupby(rows["model_name"]).transform("nunique") > 1
    named = several_saes & (rows["sae"] != "")
    rows.loc[named, "model"] = rows.loc[named, "model"] + ":" + rows.loc[named, "sae"]
    rows["layer"] = rows["layer"].astype(int)
    rows["k"] = rows["k"].astype(int)
    rows["support"] = rows["support"].map(lambda s: [int(i) for i in s])
    rows = rows.sort_values(["model", "feature", "method", "layer", "k"]).reset_index(drop=True)
    rows.attrs["duplicates"] = n_before - len(rows)
    return rows


def _written_at(path: Path) -> tuple[float, str]:
    return path.stat().st_mtime, str(path)
