"""A file lock next to an activation store, so concurrent jobs never run the same forward pass.

Jobs of one model and one feature dataset share one store (on a cluster, on the shared file
system). The first job to take the lock extracts; the others wait, then find the layers complete
and reuse them. `flock` locks belong to the open file, so a job that is killed (SIGKILL, scancel,
preemption) releases its lock with its process: there is never a stale lock to clean up.
On NFS, Linux emulates flock with POSIX byte-range locks; Lustre needs the `flock` mount option.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


def lock_path(store_path: str | Path) -> Path:
    store_path = Path(store_path)
    return store_path.with_name(store_path.name + ".lock")


def holder() -> str:
    """Who holds a lock, for the message of the jobs waiting on it."""
    job = os.environ.get("SLURM_JOB_ID")
    return f"pid {os.getpid()} on {socket.gethostname()}" + (f", SLURM job {job}" if job else "")


@contextmanager
def store_lock(store_path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on `store_path` (blocking) for the duration of the block."""
    path = lock_path(store_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            log.info("waiting for %s, held by %s", path, f.read().strip() or "another process")
            t0 = time.perf_counter()
            fcntl.flock(f, fcntl.LOCK_EX)
            log.info("acquired %s after %.1fs", path, time.perf_counter() - t0)
        try:
            f.seek(0)
            f.truncate()
            f.write(holder() + "\n")
            f.flush()
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
