"""probing.locks: the one flock primitive of the store lock and the run directory's claim."""

from __future__ import annotations

import os

from probing import locks


def test_a_lock_held_by_one_open_file_refuses_another_until_released(tmp_path):
    path = tmp_path / "x.lock"
    with open(path, "a+") as first, open(path, "a+") as second:
        assert locks.try_lock(first)
        locks.write_holder(first, "pid 1 on node7")
        assert not locks.try_lock(second)
        assert locks.read_holder(second) == "pid 1 on node7"
        locks.unlock(first)
        assert locks.try_lock(second)


def test_an_empty_lock_file_names_another_process(tmp_path):
    with open(tmp_path / "x.lock", "a+") as f:
        assert locks.read_holder(f) == "another process"
    assert locks.this_process().startswith(f"pid {os.getpid()} on ")
