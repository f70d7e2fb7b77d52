"""Reading the .jsonl files that jobs append to (results, ablations, decoder cosines).

A killed job can leave a half-written last line and a user can edit a file by hand: a bad line
costs that line, with a warning naming file:line, never the whole file or the report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def good_objects(
    path: str | Path,
    problem: Callable[[dict], str | None] = lambda row: None,
    what: str = "line",
    skipped: list[str] | None = None,
) -> Iterator[dict]:
    """The JSON objects of the file's lines for which `problem` finds nothing; every other line
    (not JSON, not UTF-8, not an object, or a problem) is skipped with a warning calling it a
    bad `what`, and its file:line appended to `skipped`."""
    with Path(path).open("rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row: Any = json.loads(line)
                why = problem(row) if isinstance(row, dict) else "not a JSON object"
            except ValueError as err:  # not JSON, or not UTF-8
                why = str(err)
            if why:
                log.warning("%s:%d: skipping a bad %s (%s)", path, number, what, why)
                if skipped is not None:
                    skipped.append(f"{path}:{number}")
                continue
            yield row


def lacking(keys: tuple[str, ...]) -> Callable[[dict], str | None]:
    """A `problem` for good_objects: which of `keys` a row lacks."""

    def problem(row: dict) -> str | None:
        missing = [key for key in keys if key not in row]
        return f"it lacks {missing}" if missing else None

    return problem
