"""The errors a user can cause and fix (a bad override, a missing model, a stale or damaged
store, a full disk), and the one line that says what to do about each.

A leaf: it imports nothing of probing, so validating a config never imports torch or the model
code. Each user error subclasses `UserError` where it is defined (beside its usual base class,
`class SplitError(UserError, ValueError)`), so `user_message` and `USER_ERRORS` know them all
without importing their modules. The entry point prints `user_message(err)` and exits 2 for
these; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import sys


class UserError(Exception):
    """Marker base of the errors a user can fix; its message is the one line shown."""


class ConfigError(UserError, ValueError):
    """An override names something that does not exist (a layer, a feature of a collection)."""


def user_errors() -> tuple[type[Exception], ...]:
    """What `except` catches as a user's error: UserError, and FeatureDataError
    (probing.features.registry), the one that does not subclass it yet. That module is never
    imported from here: an error of its class exists only once it is loaded, so it is looked
    up among the loaded modules (`except user_errors()` evaluates when an error is raised)."""
    registry = sys.modules.get("probing.features.registry")
    return (UserError, registry.FeatureDataError) if registry is not None else (UserError,)


def __getattr__(name: str) -> tuple[type[Exception], ...]:
    """`USER_ERRORS`, as `user_errors()` gives it when read (prefer `except user_errors()`)."""
    if name == "USER_ERRORS":
        return user_errors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    if isinstance(err, user_errors()):
        return str(err)
    if isinstance(err, OSError) and err.errno in _DISK_ERRORS:
        where = err.filename or "a file"
        return (
            f"cannot write {where}: {_DISK_ERRORS[err.errno]}; free space or point "
            "PROBING_CACHE (caches) / hydra.run.dir (results) at a writable directory, then rerun "
            "(finished work is kept)"
        )
    return None
