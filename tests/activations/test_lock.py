"""Two processes racing to build the same activation store: one extracts, the other waits and
reuses, and the store equals one built by a single process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from probing.activations import extract_activations, open_store
from probing.activations.lock import lock_path
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
