"""The flock primitive: an exclusive lock on an open file, and who holds it.

`flock` locks belong to the open file, so a process that dies (SIGKILL, scancel, preemption)
releases its lock with it: there is never a stale lock to clean up. Callers open the lock file
and decide what a held lock or a file system without locks means for them: a store's lock
waits (probing.activations.lock), a run directory's claim refuses (probing.results).
A leaf: it imports nothing of probing.
"""

from __future__ import annotations

import fcntl
import os
import socket
from typing import IO


def try_lock(f: IO[str]) -> bool:
    """Take the exclusive lock on `f` without waiting: False when another open file holds it.
    Any other OSError (ENOLCK, EOPNOTSUPP, ENOSYS, EINVAL: no flock here) is the caller's."""
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def unlock(f: IO[str]) -> None:
    fcntl.flock(f, fcntl.LOCK_UN)


def this_process() -> str:
    """'pid 4242 on node7'."""
    return f"pid {os.getpid()} on {socket.gethostname()}"


def read_holder(f: IO[str]) -> str:
    """The holder line the lock's owner wrote into the file (`write_holder`)."""
    f.seek(0)
    return f.readline().strip() or "another process"


def write_holder(f: IO[str], holder: str) -> None:
    """Replace the file's content with one line naming the holder (we hold the lock)."""
    f.seek(0)
    f.truncate()
    f.write(f"{holder}\n")
    f.flush()
