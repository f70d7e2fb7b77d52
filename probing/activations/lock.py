"""A file lock next to an activation store, so concurrent jobs never run the same forward pass.

Jobs of one model and one feature dataset share one store (on a cluster, on the shared file
system). The first job to take the lock extracts; the others wait, then find the layers complete
and reuse them. `flock` locks belong to the open file, so a job that is killed (SIGKILL, scancel,
preemption) releases its lock with its process: there is never a stale lock to clean up.
On NFS, Linux emulates flock with POSIX byte-range locks; Lustre needs the `flock` mount option.

A waiting job polls, says every `report_s` who holds the lock and for how long it has waited, and
gives up after `timeout_s` with StoreLockTimeout (a job that hangs while holding the lock, e.g. a
deadlocked NCCL call, would otherwise keep every other job of the sweep waiting until its SLURM
time limit). A file system that cannot lock, or a lock file that cannot be created (read-only or
unwritable directory), ends in StoreLockUnsupported.
"""

from __future__ import annotations

import errno
import fcntl  # noqa: F401  (flock is called in probing.locks; tests replace fcntl.flock here)
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from probing import locks
from probing.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 12 * 3600.0  # extracting a 6.9B model on a busy cluster can take hours
DEFAULT_POLL_S = 2.0


class StoreLockTimeout(UserError, RuntimeError):
    """Another job held the store lock for longer than the waiter's timeout."""


class StoreLockUnsupported(UserError, RuntimeError):
    """The lock file cannot be created or locked where the store lives (file system or rights)."""


def lock_path(store_path: str | Path) -> Path:
    store_path = Path(store_path)
    return store_path.with_name(store_path.name + ".lock")


def holder() -> str:
    """Who holds a lock, for the message of the jobs waiting on it."""
    job = os.environ.get("SLURM_JOB_ID")
    return locks.this_process() + (f", SLURM job {job}" if job else "")


def _duration(seconds: float) -> str:
    """3725 -> '1h 2m', 75 -> '1m 15s', 4.2 -> '4.2s'."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {secs}s"


def _what_to_do(held_by: str) -> str:
    job = re.search(r"SLURM job (\S+?)(?:,|$| )", held_by)
    proc = re.search(r"pid (\d+) on (\S+?)(?:,|$| )", held_by)
    if job:
        step = f"check that job (squeue -j {job[1]}) and cancel it if it hangs (scancel {job[1]})"
    elif proc:
        step = f"check process {proc[1]} on {proc[2]} and kill it if it hangs"
    else:
        step = "find the process holding it (fuser -v on the lock file) and kill it if it hangs"
    return f"{step}, or wait longer by raising store.lock_timeout_min"


def _unsupported(path: Path, err: OSError, action: str) -> StoreLockUnsupported:
    code = errno.errorcode.get(err.errno, str(err.errno)) if err.errno else type(err).__name__
    reason = f"{code}: {err.strerror or err}"
    if action == "lock":
        cause = f"the file system at {path.parent} cannot lock {path.name} ({reason})"
        fix = (
            "mount Lustre with -o flock (NFS: without nolock), or point PROBING_CACHE at a "
            "local or lockable directory"
        )
    else:
        cause = f"cannot {action} lock file {path} ({reason})"
        fix = "make that directory writable, or point PROBING_CACHE at a writable directory"
    return StoreLockUnsupported(f"{cause}: {fix}")


def _open_lock_file(path: Path) -> IO[str]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _unsupported(path, err, "create the directory of") from err
    try:
        return open(path, "a+")
    except OSError as err:
        raise _unsupported(path, err, "create") from err


def _try_lock(f: IO[str], path: Path) -> bool:
    try:
        return locks.try_lock(f)
    except OSError as err:  # ENOLCK, EOPNOTSUPP, ENOSYS, EINVAL: no flock on this file system
        raise _unsupported(path, err, "lock") from err


def _wait_for_lock(
    f: IO[str], path: Path, timeout_s: float, poll_s: float, report_s: float
) -> None:
    t0 = time.monotonic()
    log.info("waiting for %s, held by %s", path, locks.read_holder(f))
    next_report = t0 + report_s
    while not _try_lock(f, path):
        now = time.monotonic()
        if now - t0 >= timeout_s:
            held_by = locks.read_holder(f)
            raise StoreLockTimeout(
                f"gave up on lock {path} after waiting {_duration(now - t0)}: held by {held_by}; "
                + _what_to_do(held_by)
            )
        if now >= next_report:
            log.warning(
                "still waiting for %s after %s, held by %s",
                path,
                _duration(now - t0),
                locks.read_holder(f),
            )
            next_report = now + report_s
        time.sleep(max(0.0, min(poll_s, t0 + timeout_s - now, next_report - now)))
    log.info("acquired %s after %s", path, _duration(time.monotonic() - t0))


@contextmanager
def store_lock(
    store_path: str | Path,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    poll_s: float = DEFAULT_POLL_S,
    report_s: float = 60.0,
) -> Iterator[None]:
    """Hold an exclusive lock on `store_path` for the duration of the block.

    Waits at most `timeout_s` for another holder (then StoreLockTimeout), polling every `poll_s`
    and logging the holder every `report_s`. Raises StoreLockUnsupported when the lock file cannot
    be created (unwritable or read-only directory) or the file system cannot lock it.
    """
    path = lock_path(store_path)
    with _open_lock_file(path) as f:
        if not _try_lock(f, path):
            _wait_for_lock(f, path, timeout_s, poll_s, report_s)
        try:
            locks.write_holder(f, f"{holder()}, since {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
            yield
        finally:
            locks.unlock(f)
