"""Result rows: one per model x feature x layer x probe x k, appended to results.jsonl.

JSON lines because a run that dies keeps every row written before it and a multirun's jobs each
write their own file; `read_results` reads them back, skipping (and naming) any damaged line.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from probing import locks
from probing.errors import UserError
from probing.jsonl import good_objects
from probing.probes.metrics import METRIC_NAMES
from probing.row_schema import REQUIRED_COLUMNS, row_problem

log = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"
METRICS = METRIC_NAMES


class RunDirBusy(UserError, RuntimeError):
    """Another live process is writing results into the same run directory."""


class ResultWriter:
    """Appends rows to RUN_DIR/results.jsonl in whole blocks, and resumes a rerun job.

    - The run directory is claimed with a lock for as long as the writer lives: a second process
      that lands in the same directory (two runs started in the same second with a fixed
      hydra.run.dir) stops with RunDirBusy instead of mixing or deleting the first one's rows.
    - A block (one layer x feature) is written with one call and fsync'ed, so a crash leaves whole
      blocks; a half-written last line (a full disk, a kill) is cut off on the next open.
    - Rows carry `run_key` (what determines their values); a rerun of the same job (a SLURM requeue)
      keeps every finished block and `done(layer, feature)` tells it what to skip. Rows of another
      configuration in the same file are an error, not a mix.
    """

    def __init__(
        self, run_dir: str | Path, run_key: str | None = None, rows_per_block: int | None = None
    ) -> None:
        """Claims the run directory now; with `run_key`, also resumes (see `resume`)."""
        self.path = Path(run_dir) / RESULTS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run_key = ""
        self._claim = _claim(self.path.parent)
        self._done: set[tuple[int, str, str]] = set()
        if run_key is not None:
            self.resume(run_key, rows_per_block)

    def resume(self, run_key: str, rows_per_block: int | dict[str, int] | None = None) -> None:
        """Keep the finished blocks of an earlier attempt of this job (`done` lists them).

        A block (layer x feature x hook: an SAE job writes its latents' and its neurons' rows) is
        finished when it has `rows_per_block` rows (one per k; a dict: per hook; None: any).
        A block with a row lost (a damaged line) is dropped from the file and redone, so a
        rerun never reports success with a row missing.
        """
        self.run_key = run_key
        if not self.path.exists():
            return
        _cut_partial_line(self.path)
        rows, n_lines = [], 0
        with self.path.open("rb") as f:
            n_lines = sum(1 for line in f if line.strip())
        for row in iter_rows(self.path):
            if row.get("run_key", "") != run_key:
                self.close()
                raise RunDirBusy(
                    f"{self.path} holds results of another configuration (run_key "
                    f"{row.get('run_key')!r}, this run {run_key!r}): give this run its own "
                    "directory (hydra.run.dir=...; probe_table(..., run_dir=...) from Python)"
                )
            rows.append(row)
        counts: dict[tuple[int, str, str], int] = {}
        for row in rows:
            counts[_block(row)] = counts.get(_block(row), 0) + 1

        def finished(key: tuple[int, str, str], n: int) -> bool:
            if isinstance(rows_per_block, dict):
                return n == rows_per_block.get(key[2])
            return rows_per_block is None or n == rows_per_block

        self._done = {key for key, n in counts.items() if finished(key, n)}
        keep = [r for r in rows if _block(r) in self._done]
        if len(keep) != n_lines:
            log.warning(
                "%s: %d damaged or incomplete rows; their blocks will be probed again",
                self.path,
                n_lines - len(keep),
            )
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))
            os.replace(tmp, self.path)

    def done(self, layer: int, feature: str, hook: str = "mlp_post") -> bool:
        """True when a previous attempt of this job already wrote this block."""
        return (int(layer), str(feature), hook) in self._done

    def write(self, rows: Iterable[dict]) -> None:
        lines = []
        for row in rows:
            row = _jsonable({**row, "run_key": self.run_key})
            problem = row_problem(row)
            if problem:  # a bug: the pipeline must never write what a reader would refuse
                raise ValueError(f"result row {problem}")
            lines.append(json.dumps(row) + "\n")
        with self.path.open("a") as f:
            f.write("".join(lines))
            f.flush()
            os.fsync(f.fileno())
        self._done.update(_block(r) for r in map(json.loads, lines))

    def close(self) -> None:
        if self._claim is not None:
            self._claim.close()  # releases the flock
            self._claim = None

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _block(row: dict) -> tuple[int, str, str]:
    return int(row["layer"]), str(row["feature"]), str(row.get("hook") or "mlp_post")


def _claim(run_dir: Path):
    """An exclusive flock on RUN_DIR/.writer.lock, held open; RunDirBusy if another holds it."""
    f = open(run_dir / ".writer.lock", "a+")
    try:
        taken = locks.try_lock(f)
    except OSError:  # a file system without locks: the unique run directory name still holds
        return f
    if not taken:
        who = locks.read_holder(f)
        f.close()
        raise RunDirBusy(
            f"run directory {run_dir} is being written by {who}: give this run its own "
            "hydra.run.dir"
        )
    locks.write_holder(f, locks.this_process())
    return f


def _cut_partial_line(path: Path) -> None:
    """Drop a last line that lacks its newline (a write cut short), with a warning."""
    with path.open("rb+") as f:
        data = f.read()
        if not data or data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        log.warning("%s: dropping a half-written last line (%d bytes)", path, len(data) - keep)
        f.truncate(keep)


def _jsonable(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if hasattr(value, "tolist"):
            value = value.tolist()
        if isinstance(value, float) and not math.isfinite(value):
            value = None  # JSON has no NaN; pandas reads None back as NaN
        out[key] = value
    return out


def iter_rows(path: Path, skipped: list | None = None) -> Iterator[dict]:
    """The good rows of one results file; a bad line (not JSON, or not a valid row: see
    probing.row_schema) is skipped with a warning naming file:line, and appended to `skipped`."""
    return good_objects(path, row_problem, "results line", skipped)


def read_results(*paths: str | Path) -> pd.DataFrame:
    """Rows of every results.jsonl under the given files or run directories, as one table."""
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.rglob(RESULTS_FILE)) if p.is_dir() else [p])
    skipped: list[str] = []
    rows = [row for f in files if f.stat().st_size for row in iter_rows(f, skipped)]
    if skipped:
        log.warning("%d bad results lines skipped (first: %s)", len(skipped), skipped[0])
    if not rows:
        return pd.DataFrame(columns=list(REQUIRED_COLUMNS))
    frame = pd.DataFrame.from_records(rows)
    frame = frame.astype({c: float for c in METRICS if c in frame})
    frame.attrs["skipped_rows"] = len(skipped)
    return frame
