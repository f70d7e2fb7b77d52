"""Write the README's performance table from the committed benchmark records.

    python -m benchmarks.table            # rewrite the table in README.md
    python -m benchmarks.table --check    # exit 1 if README.md is not what the records say

Each record under benchmarks/records/ (written by benchmarks.harness) is one row: what was
measured, the figure formatted from the measurements when they were taken, the machine and its
load, and the command that measures it again. The table sits between two marker comments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.harness import RECORDS, Record, read_records

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- benchmarks:begin (python -m benchmarks.table writes this table) -->"
END = "<!-- benchmarks:end -->"


def machine_cell(record: Record) -> str:
    m = record.machine
    bf16 = "AMX bf16" if m.get("amx_bf16") else "avx512_bf16" if m.get("avx512_bf16") else "no bf16"
    device = m.get("device", "")
    where = device if not str(device).startswith("cpu") else f"{m.get('cores')}-core CPU ({bf16})"
    load = m.get("load_before", ["?"])[0]
    return (f"{where}, torch {m.get('torch_threads')} threads, load {load}, {record.when}, "
            f"`{m.get('code_version', '?')}`")  # fmt: skip


def render(records: list[Record]) -> str:
    lines = [
        BEGIN,
        "| what | measured (warm, alternated, fastest of n) | where, when | to measure again |",
        "|---|---|---|---|",
    ]
    for record in sorted(records, key=lambda r: (r.benchmark, r.key)):
        cells = [record.title, record.headline, machine_cell(record), f"`{record.command.strip()}`"]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    lines.append(END)
    return "\n".join(lines)


def replace_table(text: str, table: str) -> str:
    if BEGIN not in text or END not in text:
        raise SystemExit(f"README.md has no {BEGIN!r} ... {END!r} block to fill")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + table + tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check README.md is current")
    parser.add_argument("--records", type=Path, default=RECORDS)
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args()
    text = args.readme.read_text()
    new = replace_table(text, render(read_records(args.records)))
    if args.check:
        if new != text:
            sys.exit(f"{args.readme}: the performance table is stale: python -m benchmarks.table")
        return
    args.readme.write_text(new)
    print(f"{args.readme}: {len(read_records(args.records))} benchmark rows")


if __name__ == "__main__":
    main()
