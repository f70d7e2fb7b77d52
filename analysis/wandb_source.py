"""Results from a W&B project (online only): the same table `load_results` builds from disk.

Each run of the W&B logger logs every result row as its "results" Table, so the rows come back
as they were written (supports as lists again). Offline, or without a key,
this fails with one line saying what to do instead of a traceback from deep inside wandb.
"""

from __future__ import annotations

import pandas as pd

from analysis.aggregate import finalize


class WandbSourceError(RuntimeError):
    """W&B could not be read; the message says what to do."""


def load_wandb_results(
    project: str, group: str | None = None, tags: list[str] | None = None
) -> pd.DataFrame:
    """Rows of every run in "entity/project" (optionally one group / sweep, or runs with all
    `tags`), de-duplicated like local runs: a later run replaces an earlier one."""
    try:
        import wandb

        api = wandb.Api(timeout=30)
        filters: dict = {}
        if group:
            filters["group"] = group
        if tags:
            filters["tags"] = {"$all": list(tags)}
        runs = sorted(api.runs(project, filters=filters or None), key=lambda r: r.created_at)
    except Exception as err:
        raise WandbSourceError(
            f"cannot read W&B project {project!r} ({type(err).__name__}: {err}); W&B needs the "
            "network and a key (wandb login, or WANDB_API_KEY); offline, pass run directories "
            "instead (python -m analysis.report RUN_DIR...)"
        ) from None
    frames = []
    for order, run in enumerate(runs):
        frame = _run_rows(run)
        if frame is not None and len(frame):
            frames.append(frame.assign(source="wandb:" + "/".join(run.path), _file_order=order))
    if not frames:
        raise WandbSourceError(f"no probing results in W&B project {project!r} (filters {filters})")
    return finalize(pd.concat(frames, ignore_index=True))


def _run_rows(run) -> pd.DataFrame | None:
    """The run's "results" Table (logged by probing.loggers.WandbLogger), supports as lists."""
    for artifact in run.logged_artifacts():
        if artifact.type == "run_table" and artifact.name.split(":")[0].endswith("-results"):
            table = artifact.get("results").get_dataframe()
            return table.assign(
                support=table["support"].map(lambda s: [int(i) for i in str(s).split(",") if i])
            )
    return None
