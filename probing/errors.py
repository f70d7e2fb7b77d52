"""The errors a user can cause and fix (a bad override, a missing model, a stale or damaged
store, a full disk), and the one line that says what to do about each.

The entry point prints `user_message(err)` and exits 2 for these; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import errno

from probing.activations.extract import ActivationRangeError
from probing.activations.lock import StoreLockTimeout, StoreLockUnsupported
from probing.activations.store import StoreCorruptError, StoreMismatchError
from probing.features.core.errors import FeatureDataError
from probing.models import ModelLoadError
from probing.results import RunDirBusy
from probing.sae.saved import SAEError
from probing.splits import SplitError


class ConfigError(ValueError):
    """An override names something that does not exist (a layer, a feature of a collection)."""


USER_ERRORS: tuple[type[Exception], ...] = (
    ActivationRangeError,
    ConfigError,
    FeatureDataError,
    ModelLoadError,
    RunDirBusy,
    SAEError,
    SplitError,
    StoreCorruptError,
    StoreLockTimeout,
    StoreLockUnsupported,
    StoreMismatchError,
)

# File-system errors a user fixes by freeing space or choosing another directory.
_DISK_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
}


def user_message(err: BaseException) -> str | None:
    """One line for an error the user can fix, else None (a bug: keep the traceback)."""
    if isinstance(err, USER_ERRORS):
        return str(err)
    if isinstance(err, OSError) and err.errno in _DISK_ERRORS:
        where = err.filename or "a file"
        return (
            f"cannot write {where}: {_DISK_ERRORS[err.errno]}; free space or point "
            "PROBING_CACHE (caches) / hydra.run.dir (results) at a writable directory, then rerun "
            "(finished work is kept)"
        )
    return None
