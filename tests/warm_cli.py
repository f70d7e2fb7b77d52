"""Run `python -m probing.run` for many argument lists in one warm interpreter.

Each cold `python -m probing.run` pays ~3 s of imports (torch, transformers, hydra) before it
reads its first argument; a test of a one-line error needs a fresh process only for its own
argv, environment and working directory. The driver below (run as a subprocess, so pytest's own
process never forks) imports the entry point once, then forks a child per case: the child sets
argv, cwd and env, sends stdout / stderr to files and exits with what the command exits with.

    results = run_many([Case(["model=tiny-pythia", "seed=abc"], cwd=tmp_path, env={...})])
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Case:
    args: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


def run_many(cases: list[Case], timeout: float = 600) -> list[Completed]:
    """Every case's exit code, stdout and stderr, as subprocess.run would give them."""
    spec = [{"args": c.args, "cwd": str(c.cwd), "env": c.env} for c in cases]
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve())],
        input=json.dumps(spec), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"the CLI driver failed: {proc.stderr[-3000:]}")
    return [Completed(**r) for r in json.loads(proc.stdout.splitlines()[-1])]


def _drive() -> None:
    cases = json.loads(sys.stdin.read())
    sys.path.insert(0, str(ROOT))
    import probing.run  # noqa: F401  (the imports every case shares, once)

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(cases):
            paths = [Path(tmp) / f"{i}.out", Path(tmp) / f"{i}.err"]
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    for fd, path in zip((1, 2), paths, strict=True):
                        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644), fd)
                    os.chdir(case["cwd"])
                    os.environ.update(case["env"])
                    sys.argv = ["probing/run.py", *case["args"]]
                    # as `python -m probing.run` runs it: Hydra finds conf/ from __main__'s file
                    runpy.run_module("probing.run", run_name="__main__", alter_sys=True)
                    code = 0
                except SystemExit as end:
                    code = end.code if isinstance(end.code, int) else (0 if end.code is None else 1)
                except BaseException:
                    traceback.print_exc()
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            text = [p.read_text() if p.exists() else "" for p in paths]
            out.append({"returncode": os.waitstatus_to_exitcode(status), "stdout": text[0],
                        "stderr": text[1]})  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    _drive()
