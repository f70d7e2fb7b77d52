"""Two processes racing to build the same activation store: one extracts, the other waits and
reuses, and the store equals one built by a single process. The lock itself: a bounded wait that
names the holder, and one clear error where the file system cannot lock."""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from probing.activations import extract_activations, lock, open_store
from probing.activations.lock import (
    StoreLockTimeout,
    StoreLockUnsupported,
    lock_path,
    store_lock,
)
from tests.conftest import make_dataset

ROOT = Path(__file__).resolve().parents[2]
N_SEQ = 400

CHILD = """
import json, logging, sys, time
from pathlib import Path
from probing.activations import extract_activations, open_store
from probing.models import load_model
from tests.conftest import make_dataset

logging.basicConfig(level=logging.INFO)
root, out = Path(sys.argv[1]), Path(sys.argv[2])
model = load_model("tiny-pythia", "random_gpt_neox", dtype="float32", device="cpu", seed=0)
ds = make_dataset("token", n_seq={n_seq})
store = open_store(root, model, ds, "float32")
(out.parent / (out.name + ".ready")).touch()
while not (out.parent / "go").exists():  # a barrier: both children reach the store together
    time.sleep(0.01)
computed = extract_activations(model, ds, store, [0, 1], batch_size=8, chunk_sequences=16,
                               progress=False)
out.write_text(json.dumps(computed))
"""


def _start(root: Path, out: Path) -> subprocess.Popen:
    code = CHILD.format(n_seq=N_SEQ)
    return subprocess.Popen(
        [sys.executable, "-c", code, str(root), str(out)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow  # two fresh interpreters import torch: ~50 s on 2 cores
def test_racing_processes_extract_once_and_agree(tiny_model, tmp_path):
    ds = make_dataset("token", n_seq=N_SEQ)
    shared = tmp_path / "shared"
    path = open_store(shared, tiny_model, ds, "float32").path
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    children = [_start(shared, out) for out in outs]
    deadline = time.time() + 180
    while not all((o.parent / (o.name + ".ready")).exists() for o in outs):
        assert time.time() < deadline, "children did not start"
        assert all(c.poll() is None for c in children), children[0].stderr.read()
        time.sleep(0.1)
    (tmp_path / "go").touch()
    logs = [c.communicate(timeout=300)[1] for c in children]
    assert [c.returncode for c in children] == [0, 0], logs
    computed = sorted(json.loads(o.read_text()) for o in outs)
    assert computed == [[], [0, 1]], f"expected exactly one extraction, got {computed}"
    assert lock_path(path).exists()
    waiter = logs[[json.loads(o.read_text()) for o in outs].index([])]
    assert "waiting for" in waiter and "extracted by another job" in waiter, waiter

    reference = open_store(tmp_path / "single", tiny_model, ds, "float32")
    extract_activations(
        tiny_model, ds, reference, [0, 1], batch_size=8, chunk_sequences=16, progress=False
    )
    shared_store = open_store(shared, tiny_model, ds, "float32")
    for layer in (0, 1):
        np.testing.assert_allclose(shared_store.read(layer), reference.read(layer), atol=1e-6)


def test_concurrent_creation_keeps_one_store(tiny_model, tmp_path):
    """A store created by another process between the check and the create is reused, not lost."""
    ds = make_dataset("mean")
    first = open_store(tmp_path, tiny_model, ds)
    extract_activations(tiny_model, ds, first, [1], progress=False)
    second = open_store(tmp_path, tiny_model, ds)
    second._create()  # what a job losing the race does: its rename fails, the store survives
    assert second.is_complete(1)
    assert not list(tmp_path.rglob("*.tmp-*"))


HOLDER = "pid 4242 on node7, SLURM job 98765, since 2025-01-01 12:00:00 UTC"


@pytest.fixture
def held(tmp_path):
    """The lock of tmp_path/store held by another open file (flock conflicts across opens)."""
    path = lock_path(tmp_path / "store")
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        f.write(HOLDER + "\n")
        f.flush()
        yield f


def test_uncontended_lock_records_its_holder(tmp_path):
    with store_lock(tmp_path / "sub" / "store", timeout_s=0):
        line = lock_path(tmp_path / "sub" / "store").read_text()
    assert line.startswith(f"pid {os.getpid()} on ") and ", since " in line


def test_bounded_wait_times_out_naming_the_holder(tmp_path, held):
    t0 = time.monotonic()
    with pytest.raises(StoreLockTimeout) as info:
        with store_lock(tmp_path / "store", timeout_s=0.3, poll_s=0.02):
            pytest.fail("acquired a lock that another open file holds")
    waited = time.monotonic() - t0
    message = str(info.value)
    assert 0.3 <= waited < 2, waited
    assert "\n" not in message and str(lock_path(tmp_path / "store")) in message
    assert f"held by {HOLDER}" in message
    assert "squeue -j 98765" in message and "scancel 98765" in message
    assert "store.lock_timeout_min" in message


def test_waiter_reports_the_holder_then_acquires_when_released(tmp_path, held, caplog):
    caplog.set_level(logging.INFO, logger="probing.activations.lock")
    release = threading.Timer(0.35, fcntl.flock, (held, fcntl.LOCK_UN))
    release.start()
    try:
        with store_lock(tmp_path / "store", timeout_s=10, poll_s=0.01, report_s=0.1):
            ours = lock_path(tmp_path / "store").read_text()
    finally:
        release.cancel()
    reports = [r for r in caplog.records if r.getMessage().startswith("still waiting for")]
    assert len(reports) >= 2, caplog.text
    assert all(r.levelno == logging.WARNING and HOLDER in r.getMessage() for r in reports)
    assert "s, held by" in reports[-1].getMessage()  # how long we have waited
    assert ours.startswith(f"pid {os.getpid()} on ")
    assert "acquired" in caplog.records[-1].getMessage()


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL])
def test_file_system_without_locks_is_one_clear_error(tmp_path, monkeypatch, code):
    def no_locks(f, op):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(lock.fcntl, "flock", no_locks)
    with pytest.raises(StoreLockUnsupported) as info:
        with store_lock(tmp_path / "store", timeout_s=10):
            pytest.fail("entered the block without a lock")
    message = str(info.value)
    assert f"{tmp_path} cannot lock store.lock ({errno.errorcode[code]}:" in message
    assert "-o flock" in message and "PROBING_CACHE" in message and "\n" not in message


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS])
def test_unwritable_lock_file_is_one_clear_error(tmp_path, monkeypatch, code):
    def refuse(path, mode="r", *args, **kwargs):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(lock, "open", refuse, raising=False)
    with pytest.raises(
        StoreLockUnsupported, match=f"cannot create lock file {tmp_path}/store.lock"
    ):
        with store_lock(tmp_path / "store"):
            pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory_is_one_clear_error(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(StoreLockUnsupported, match="PROBING_CACHE at a writable directory"):
            with store_lock(tmp_path / "cache" / "store"):
                pass
    finally:
        tmp_path.chmod(0o700)


def test_lock_directory_blocked_by_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "cache").write_text("a file where the cache directory should be")
    with pytest.raises(
        StoreLockUnsupported, match=f"cannot create the directory of lock file {tmp_path}/cache"
    ):
        with store_lock(tmp_path / "cache" / "store"):
            pass
