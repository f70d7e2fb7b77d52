"""Read an offline W&B run (`wandb/offline-run-*/run-<id>.wandb`) back, without the network.

What a job logged is then checkable, by a test or by a user before `wandb sync`: the run's id,
name, group and tags, its config, every history row, the summary and the exit code (0 finished,
non-zero failed). The file is W&B's transaction log: a 7-byte header, then 32 KiB blocks of
records (crc32, length, type; a record may span blocks), each a serialized wandb Record protobuf.
Every fragment's crc32 (of its type byte and data, as W&B writes it) is checked: a changed byte,
a file cut inside a record or fragments out of order raise OfflineRunError naming the file, since
a protobuf parses most damaged bytes into other values without complaint.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from probing.errors import UserError

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


class OfflineRunError(UserError, ValueError):
    """The file is not a whole W&B run log (damaged, cut off, or not one at all)."""


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


def records(path: str | Path) -> Iterator[bytes]:
    """The serialized records of a .wandb file, in order; OfflineRunError at the first damage."""
    data = Path(path).read_bytes()
    if len(data) < HEADER or data[:4] != b":W&B":
        raise OfflineRunError(f"{path} is not a W&B transaction log")
    pos, pending = HEADER, None  # pending: the fragments so far of a record spanning blocks
    while pos < len(data):
        left = BLOCK - (pos % BLOCK)
        # zero padding to the block's end; zeros followed by data in the block are damage
        if left < 7 or not any(data[pos : pos + left]):
            pos += left
            continue
        kind, chunk = _fragment(data, pos, path)
        if (kind in (FULL, FIRST)) != (pending is None) or kind not in (FULL, FIRST, MIDDLE, LAST):
            raise OfflineRunError(f"{path}: the record fragments at byte {pos} are out of order")
        pos += 7 + len(chunk)
        if kind == FULL:
            yield chunk
        elif kind == LAST:
            yield (pending or b"") + chunk
            pending = None
        else:  # FIRST or MIDDLE
            pending = (pending or b"") + chunk
    if pending is not None:
        raise OfflineRunError(f"{path} is cut off inside its last record")


def _fragment(data: bytes, pos: int, path: str | Path) -> tuple[int, bytes]:
    """(type, data) of the record fragment at `pos`, checked whole and against its crc32 (of the
    type byte and the data, as W&B writes it): a protobuf would parse damage as other values."""
    crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7].ljust(7, b"\0"))
    if pos + 7 + length > len(data):
        raise OfflineRunError(
            f"{path} is cut off inside the record at byte {pos}: W&B was still writing it, "
            "or the copy is incomplete"
        )
    chunk = data[pos + 7 : pos + 7 + length]
    if zlib.crc32(chunk, zlib.crc32(bytes([kind]))) != crc:
        raise OfflineRunError(
            f"{path}: the record at byte {pos} is damaged (its crc32 does not match): the "
            "file changed after W&B wrote it; read an undamaged copy"
        )
    return kind, chunk


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
            raise OfflineRunError(f"{path} holds {len(found)} .wandb files, not one")
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
