"""Which code, libraries and machine produced a result: stamped on every row and run.

A table in a paper must be traceable to a commit. `code_version` is the package version plus,
when the package runs from a git checkout, the commit and a `.dirty` mark for uncommitted
changes to tracked files (PEP 440 local-version style: "0.1.0+g1a2b3c4d5e6f.dirty").
"""

from __future__ import annotations

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path

# the libraries whose versions decide a row's numbers
LIBRARIES = (
    "torch",
    "transformers",
    "transformer-lens",
    "scikit-learn",
    "numpy",
    "scipy",
    "zarr",
    "datasets",
)
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(PACKAGE_ROOT), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """'<version>[+g<commit>[.dirty]]': the commit only when running from a git checkout."""
    try:
        version = metadata.version("probing")
    except metadata.PackageNotFoundError:
        version = "unknown"
    if _git("rev-parse", "--show-toplevel") != str(PACKAGE_ROOT):
        return version  # an installed copy, not a checkout (or no git)
    commit = _git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return version
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return f"{version}+g{commit}" + (".dirty" if dirty else "")


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """{distribution: version} of LIBRARIES and Python; absent ones are left out."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device) -> str:
    """'cuda:0 (NVIDIA H200)' or 'cpu (AMD EPYC 7B13)': where the activations were computed."""
    device = str(device)
    if device.startswith("cuda"):
        import torch

        index = int(device.split(":")[1]) if ":" in device else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"{device} ({_cpu_name()})"


def provenance(device, seed: int, probe_seed: int) -> dict:
    """The fields every result row carries: code_version, libraries, device, seed, probe_seed."""
    return {
        "code_version": code_version(),
        "libraries": library_versions(),
        "device": device_description(device),
        "seed": int(seed),
        "probe_seed": int(probe_seed),
    }
