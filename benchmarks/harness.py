"""One way to time things fairly, for every benchmark here.

A benchmark hands `compare` its sides (zero-argument callables). Each side is called once
untimed (a library's first call can cost seconds of set-up that a user pays once per process),
then the sides alternate for `repeats` rounds, the order reversed every other round so drift
in a shared machine's load falls on both. A side's figure is its fastest run (the least
disturbed); the spread (slowest / fastest - 1) says how noisy the round was. The record holds
the machine (CPU, bf16/AMX flags, torch threads, device), the load average before and after,
the code version, and is written as JSON under benchmarks/records/, from which
`python -m benchmarks.table` writes the README's performance table: no figure there is typed
by hand.

Why not pytest-benchmark or asv: both time one callable at a time (asv in a fresh environment
per commit), while every figure here is a ratio of two sides that must alternate in one
process, on one warm model; the harness is the ~100 lines that do exactly that.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RECORDS = Path(__file__).resolve().parent / "records"


@dataclass
class Timing:
    """Seconds of each timed run of one side, in the order they ran, and what its last run
    returned (so a benchmark need not run a side again for its output)."""

    runs: list[float]
    result: Any = field(default=None, repr=False, compare=False)

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def spread(self) -> float:
        return max(self.runs) / min(self.runs) - 1


@dataclass
class Record:
    """What one benchmark measured, where, and how it reads in the README."""

    benchmark: str  # the module, e.g. "extraction_overhead"
    key: str  # one record per key: the benchmark plus what it was run on
    title: str  # the README table's first column
    command: str  # how to rerun it
    headline: str  # the README's figure, formatted from the measurements
    sides: dict[str, dict[str, Any]] = field(default_factory=dict)  # best, spread, runs, ...
    ratios: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # sizes, F1 differences, ...
    machine: dict[str, Any] = field(default_factory=dict)
    when: str = ""


def _sync() -> None:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def compare(
    sides: dict[str, Callable[[], Any]], repeats: int = 3, warmup: int | dict[str, int] = 1
) -> dict[str, Timing]:
    """Warm each side, then alternate them `repeats` times; {side: Timing}. `warmup` may give
    a count per side (0 only for a side with no first-call cost that takes minutes a run)."""
    for name, fn in sides.items():
        for _ in range(warmup.get(name, 1) if isinstance(warmup, dict) else warmup):
            fn()
            _sync()
    runs: dict[str, list[float]] = {name: [] for name in sides}
    results: dict[str, Any] = {}
    order = list(sides)
    for round_ in range(repeats):
        for name in order if round_ % 2 == 0 else order[::-1]:
            _sync()
            start = time.perf_counter()
            results[name] = sides[name]()
            _sync()
            runs[name].append(time.perf_counter() - start)
    return {name: Timing(times, results.get(name)) for name, times in runs.items()}


def device_type() -> str:
    """Where torch computes by default here: "cuda" or "cpu" (part of a record's key)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_flags() -> dict[str, Any]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"cpu": platform.processor() or platform.machine()}
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])  # fmt: skip
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                  if line.startswith("model name")), platform.machine())  # fmt: skip
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
    }


def machine(device: Any = None) -> dict[str, Any]:
    """The facts a timing depends on; `device` a torch.device, or None for the CPU."""
    import torch

    from probing.provenance import code_version, device_description

    return {
        **cpu_flags(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": device_description(device if device is not None else torch.device("cpu")),
        "python": platform.python_version(),
        "code_version": code_version(),
    }


class Session:
    """Load average before and after a benchmark, and its record written at the end."""

    def __init__(self, benchmark: str, device: Any = None):
        self.benchmark = benchmark
        self.device = device
        self.load_before = os.getloadavg()

    def record(
        self,
        key: str,
        title: str,
        command: str,
        headline: str,
        timings: dict[str, Timing],
        ratios: dict[str, float],
        facts: dict[str, Any] | None = None,
        units: dict[str, float] | None = None,  # side -> work per run (tokens...) for a rate
        save: bool = True,
    ) -> Record:
        sides = {}
        for name, timing in timings.items():
            sides[name] = {"best_s": timing.best, "spread": timing.spread, "runs_s": timing.runs}
            if units and name in units:
                sides[name]["per_s"] = units[name] / timing.best
        record = Record(
            benchmark=self.benchmark,
            key=key,
            title=title,
            command=command,
            headline=headline,
            sides=sides,
            ratios=ratios,
            facts=facts or {},
            machine={
                **machine(self.device),
                "load_before": [round(x, 2) for x in self.load_before],
                "load_after": [round(x, 2) for x in os.getloadavg()],
            },
            when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
        print_record(record)
        if save:
            path = write_record(record)
            print(f"record: {path}")
        return record


def print_record(record: Record) -> None:
    m = record.machine
    print(f"machine: {m.get('cpu')} ({m.get('cores')} cores, avx512_bf16 "
          f"{m.get('avx512_bf16')}, amx {m.get('amx_bf16')}), {m.get('device')}, torch "
          f"{m.get('torch')} on {m.get('torch_threads')} threads; load "
          f"{m.get('load_before')} -> {m.get('load_after')}")  # fmt: skip
    for name, side in record.sides.items():
        rate = f"  {side['per_s']:12.0f} /s" if "per_s" in side else ""
        print(f"{name:>24}: {side['best_s']:9.3f} s best of {len(side['runs_s'])}, "
              f"spread {side['spread']:.0%}{rate}")  # fmt: skip
    for name, value in record.ratios.items():
        print(f"ratio {name}: {value:.2f}")
    print(f"headline: {record.headline}")


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-")


def write_record(record: Record, folder: Path = RECORDS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug(record.key)}.json"
    path.write_text(json.dumps(asdict(record), indent=1, sort_keys=True) + "\n")
    return path


def read_records(folder: Path = RECORDS) -> list[Record]:
    return [Record(**json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]
