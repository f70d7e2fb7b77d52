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
from typing import Any


class UserError(Exception):
    """Marker base of the errors a user can fix; its message is the one line shown."""


class ConfigError(UserError, ValueError):
    """An override names something that does not exist (a layer, a feature of a collection)."""


USER_ERRORS: tuple[type[Exception], ...] = (UserError,)


def user_errors() -> tuple[type[Exception], ...]:
    """What `except` catches as a user's error (USER_ERRORS)."""
    return USER_ERRORS


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


def below_least(args: Any, least: dict[str, int]) -> str | None:
    """The first command-line number under its smallest value (`least`, by argparse dest), as
    the one line to show ("--tokens 0 must be at least 100"), or None."""
    for name, smallest in least.items():
        if (value := getattr(args, name)) < smallest:
            return f"--{name.replace('_', '-')} {value} must be at least {smallest}"
    return None


def one_line_exit(err: BaseException) -> int:
    """A command's `except Exception`: user_message(err) printed as one line, exit status 2;
    an error with no message (a bug) is raised again, its traceback kept."""
    message = user_message(err)
    if message is None:
        raise err
    print(f"error: {message}", file=sys.stderr)
    return 2
