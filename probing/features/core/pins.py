"""The version pins of the text the built-in collections read: one registry file at an exact
version, with its SHA-256.

Data only, no I/O: the feature cache's key names these hashes (probing.features.core.build), and
probing.features.sources.pinned downloads, verifies and unpacks the files they name.
"""

from __future__ import annotations

from dataclasses import dataclass


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
