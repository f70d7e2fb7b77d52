"""Read an offline W&B run (`wandb/offline-run-*/run-<id>.wandb`) back, without the network.

What a job logged is then checkable, by a test or by a user before `wandb sync`: the run's id,
name, group and tags, its config, every history row, the summary and the exit code (0 finished,
non-zero failed). The file is W&B's transaction log: a 7-byte header, then 32 KiB blocks of
records (crc32, length, type; a record may span blocks), each a serialized wandb Record protobuf.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    run_id: str = ""
    name: str = ""
    group: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    exit_code: int | None = None
    resumed: bool = False


def records(path: str | Path):
    """The serialized records of a .wandb file, in order."""
    data = Path(path).read_bytes()
    if len(data) < HEADER or data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B transaction log")
    pos, pending = HEADER, b""
    while pos + 7 <= len(data):
        left = BLOCK - (pos % BLOCK)
        if left < 7:  # the rest of a block too small for a header is padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
            pending = b""
        elif kind == 0 and length == 0:
            pos += BLOCK - (pos % BLOCK) if pos % BLOCK else 0  # zero padding to the block end


def _value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_offline_run(path: str | Path) -> OfflineRun:
    """The run logged in `path` (a .wandb file, or the offline-run-* folder holding one)."""
    from wandb.proto import wandb_internal_pb2 as pb

    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.wandb"))
        if len(found) != 1:  # a run killed before W&B wrote it, or a folder that is not a run's
            raise ValueError(f"{path} holds {len(found)} .wandb files, not one")
        path = found[0]
    run = OfflineRun()
    for raw in records(path):
        # wandb_internal_pb2 star-imports the generated module of the installed protobuf's
        # version (wandb.proto.v5/v6/...), which mypy does not follow
        record = pb.Record()  # type: ignore[attr-defined]
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.run_id, run.name, run.group = r.run_id, r.display_name, r.run_group
            run.tags = list(r.tags)
            run.resumed = run.resumed or bool(r.resumed)
            for item in r.config.update:
                run.config[item.key] = _value(item.value_json)
        elif kind == "config":
            for item in record.config.update:
                run.config[item.key] = _value(item.value_json)
        elif kind == "history":
            run.history.append(
                {i.key or "/".join(i.nested_key): _value(i.value_json) for i in record.history.item}
            )
        elif kind == "summary":
            for item in record.summary.update:
                run.summary[item.key or "/".join(item.nested_key)] = _value(item.value_json)
        elif kind == "exit":
            run.exit_code = int(record.exit.exit_code)
    return run
