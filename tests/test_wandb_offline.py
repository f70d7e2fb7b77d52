"""Reading an offline W&B run file back: a damaged or cut-off file is an error, never other data.

The files here are framed as W&B frames them (a 7-byte header, 32 KiB blocks of records, each
with the crc32 of its type byte and data); tests/test_wandb_runs.py reads files W&B wrote.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from probing.wandb_offline import (
    BLOCK,
    FIRST,
    FULL,
    LAST,
    MIDDLE,
    OfflineRunError,
    read_offline_run,
)

BIG = "v" * (2 * BLOCK + 5000)  # a history value whose record spans three blocks


def record_bytes() -> list[bytes]:
    """A run record, two history rows (the second spanning blocks) and the exit record."""
    from wandb.proto import wandb_internal_pb2 as pb

    run, first, second, end = (pb.Record() for _ in range(4))
    run.run.run_id = "abc123"
    item = first.history.item.add()
    item.key, item.value_json = "f1", "0.41"
    item = second.history.item.add()
    item.key, item.value_json = "text", f'"{BIG}"'
    end.exit.exit_code = 0
    return [r.SerializeToString() for r in (run, first, second, end)]


def frame(payloads: list[bytes]) -> bytes:
    """A .wandb file holding `payloads`: records split at block ends, a block's last < 7 bytes
    zero padding."""
    out = bytearray(b":W&B\xe1\xbe\x00")
    for payload in payloads:
        first, rest = True, payload
        while True:
            left = BLOCK - len(out) % BLOCK
            if left < 7:
                out += bytes(left)
                continue
            chunk, rest = rest[: left - 7], rest[left - 7 :]
            kind = (FULL if not rest else FIRST) if first else (LAST if not rest else MIDDLE)
            crc = zlib.crc32(chunk, zlib.crc32(bytes([kind])))
            out += struct.pack("<IHB", crc, len(chunk), kind) + chunk
            first = False
            if not rest:
                break
    return bytes(out)


@pytest.fixture
def run_file(tmp_path) -> Path:
    path = tmp_path / "run-abc123.wandb"
    path.write_bytes(frame(record_bytes()))
    return path


def test_a_whole_file_reads_back(run_file):
    run = read_offline_run(run_file)
    assert (run.run_id, run.exit_code) == ("abc123", 0)
    assert run.history == [{"f1": 0.41}, {"text": BIG}]


def test_a_changed_byte_is_damage_not_another_value(run_file):
    """Was read as f1=0.47: the records' crc32 was never checked."""
    data = run_file.read_bytes()
    assert data.count(b"0.41") == 1
    run_file.write_bytes(data.replace(b"0.41", b"0.47"))
    with pytest.raises(OfflineRunError, match="crc32") as err:
        read_offline_run(run_file)
    assert str(run_file) in str(err.value) and len(str(err.value).splitlines()) == 1


@pytest.mark.parametrize("cut", [BLOCK + 100, 2 * BLOCK + 10])
def test_a_file_cut_inside_a_record_is_named(run_file, cut):
    """Was a run without its last rows and no exit code, as if the job were still running."""
    run_file.write_bytes(run_file.read_bytes()[:cut])
    with pytest.raises(OfflineRunError, match="cut off") as err:
        read_offline_run(run_file.parent)
    assert str(run_file) in str(err.value)


def test_a_fragment_without_its_first_part_is_damage(run_file):
    """A record's middle block read on its own (its FIRST fragment's type byte changed to FULL
    would fail the crc; here the file simply starts mid-record) is not a record."""
    data = run_file.read_bytes()
    start = BLOCK  # the second block begins with the MIDDLE fragment of the spanning record
    assert data[start + 6] == MIDDLE
    run_file.write_bytes(data[:7] + data[start:])
    with pytest.raises(OfflineRunError, match="out of order"):
        read_offline_run(run_file)


def test_a_record_zeroed_in_place_is_damage_not_padding(run_file):
    """A zeroed header mid-block was read as padding: the block's next records were skipped (a
    history row gone, the run read as if it had never logged it)."""
    data = bytearray(run_file.read_bytes())
    first_length = struct.unpack("<H", data[7 + 4 : 7 + 6])[
        0
    ]  # the run record, after the file's header
    header = 7 + 7 + first_length  # the FULL fragment holding f1=0.41
    length = struct.unpack("<H", data[header + 4 : header + 6])[0]
    assert data[header + 6] == FULL and b"0.41" in data[header + 7 : header + 7 + length]
    data[header : header + 7 + length] = bytes(7 + length)
    run_file.write_bytes(bytes(data))
    with pytest.raises(OfflineRunError, match="damaged"):
        read_offline_run(run_file)
