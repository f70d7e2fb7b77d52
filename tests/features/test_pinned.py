"""Pinned sources: the exact registry bytes or an error, never whatever a machine happens to hold."""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
import zipfile
from dataclasses import replace

import pytest

from probing.features import FeatureDataError
from probing.features.sources import pinned


def make_tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture()
def registry(tmp_path, monkeypatch):
    """A local stand-in for a registry: `download` copies the served bytes with a subprocess,
    as pip or npm would; the sources folder is empty."""
    served = tmp_path / "served"
    served.mkdir()
    monkeypatch.setenv("PROBING_SOURCES", str(tmp_path / "sources"))

    def command(artefact, into):
        src = served / artefact.filename
        code = f"import shutil,sys; shutil.copy({str(src)!r}, {into!r})"
        return [
            sys.executable,
            "-c",
            code if src.exists() else "import sys; sys.exit('404 Not Found')",
        ]

    monkeypatch.setattr(pinned, "_download_command", command)
    return served


def artefact(data: bytes, **kw) -> pinned.Artefact:
    base = pinned.Artefact(
        key="demo", registry="pypi", package="demo", version="1.0", kind="sdist",
        filename="demo-1.0.tar.gz", sha256=hashlib.sha256(data).hexdigest(), licence="MIT",
        include=("demo-1.0/src/*.py",),
    )  # fmt: skip
    return replace(base, **kw)


@pytest.fixture()
def demo(registry, monkeypatch):
    data = make_tgz({"demo-1.0/src/a.py": b"x = 1\n", "demo-1.0/README": b"skip me\n"})
    (registry / "demo-1.0.tar.gz").write_bytes(data)
    art = artefact(data)
    monkeypatch.setitem(pinned.ARTEFACTS, "demo", art)
    return art


def test_download_verify_unpack_only_the_included_members(demo):
    folder = pinned.unpacked("demo")
    assert (folder / "demo-1.0/src/a.py").read_bytes() == b"x = 1\n"
    assert not (folder / "demo-1.0/README").exists()
    path = folder / "demo-1.0/src/a.py"
    assert pinned.provenance(path) == "demo==1.0:demo-1.0/src/a.py"
    assert pinned.locate(pinned.provenance(path)) == path


def test_other_bytes_under_the_pinned_name_are_refused_and_not_kept(demo, registry, monkeypatch):
    monkeypatch.setitem(pinned.ARTEFACTS, "demo", replace(demo, sha256="0" * 64))
    with pytest.raises(FeatureDataError, match=r"not the pinned 000000000000.*nothing was kept"):
        pinned.archive("demo")
    assert not (pinned.sources_dir() / demo.filename).exists()


def test_a_damaged_local_copy_is_refused(demo):
    pinned.archive("demo")
    (pinned.sources_dir() / demo.filename).write_bytes(b"truncated")
    with pytest.raises(
        FeatureDataError, match=r"not the pinned pypi demo==1.0.*probing.features fetch"
    ):
        pinned.archive("demo")


def test_unreachable_registry_is_one_line_naming_the_file_to_copy(registry, monkeypatch):
    monkeypatch.setitem(pinned.ARTEFACTS, "demo", artefact(b"never served"))
    with pytest.raises(FeatureDataError) as err:
        pinned.unpacked("demo")
    message = str(err.value)
    assert "\n" not in message and "404 Not Found" in message
    assert "python -m probing.features fetch" in message and "demo-1.0.tar.gz" in message


def test_a_sources_folder_that_is_a_file_is_one_line_naming_probing_sources(
    demo, tmp_path, monkeypatch
):
    """PROBING_SOURCES naming a file was mkdir's FileExistsError traceback (fetch, or any run
    whose collection reads a pinned source)."""
    (tmp_path / "a_file").write_text("mine")
    monkeypatch.setenv("PROBING_SOURCES", str(tmp_path / "a_file"))
    with pytest.raises(FeatureDataError) as err:
        pinned.unpacked("demo")
    message = str(err.value)
    assert "\n" not in message and "PROBING_SOURCES" in message
    assert f"{tmp_path / 'a_file'} is a file" in message
    assert (tmp_path / "a_file").read_text() == "mine"


def test_changed_pin_unpacks_again(demo, registry, monkeypatch):
    pinned.unpacked("demo")
    data = make_tgz({"demo-1.0/src/a.py": b"x = 2\n"})
    (registry / "demo-1.0.tar.gz").write_bytes(data)
    (pinned.sources_dir() / "demo-1.0.tar.gz").unlink()
    monkeypatch.setitem(pinned.ARTEFACTS, "demo", artefact(data))
    assert (pinned.unpacked("demo") / "demo-1.0/src/a.py").read_bytes() == b"x = 2\n"


def test_member_escaping_the_folder_is_refused(registry, monkeypatch):
    data = make_tgz({"demo-1.0/src/../../../evil.py": b"boom\n"})
    (registry / "demo-1.0.tar.gz").write_bytes(data)
    monkeypatch.setitem(pinned.ARTEFACTS, "demo", artefact(data, include=("*",)))
    with pytest.raises(FeatureDataError, match="unsafe member name"):
        pinned.unpacked("demo")
    assert not (pinned.sources_dir().parent / "evil.py").exists()


def test_wheels_are_read_as_zip(registry, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pkg/locale/de/LC_MESSAGES/x.mo", b"mo")
        zf.writestr("pkg/other.txt", b"no")
    data = buf.getvalue()
    (registry / "demo-1.0-py3-none-any.whl").write_bytes(data)
    art = artefact(data, kind="wheel", filename="demo-1.0-py3-none-any.whl",
                   include=("pkg/locale/*",))  # fmt: skip
    monkeypatch.setitem(pinned.ARTEFACTS, "demo", art)
    folder = pinned.unpacked("demo")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == [pinned.MARKER, "pkg/locale/de/LC_MESSAGES/x.mo"]


def test_every_built_in_collection_names_only_pinned_sources():
    from probing.features import COLLECTIONS

    built_in = [
        c for c in COLLECTIONS.values() if c.category != "custom" and "hf" not in c.defaults
    ]
    assert len(built_in) == 10
    for c in built_in:
        assert c.artefacts or c.packages, c.name
        assert set(c.artefacts) <= set(pinned.ARTEFACTS)
        assert all("==" in p for p in c.packages)
        assert "/usr/" not in c.source, c.name
