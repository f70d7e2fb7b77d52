"""The allocator's thresholds: raised once per process, and really in effect (glibc only)."""

import ctypes
import platform
import subprocess
import sys
import textwrap

import pytest

from probing import allocator

PROBE = textwrap.dedent(
    """
    import ctypes, ctypes.util
    from probing.allocator import keep_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena ordblks smblks hblks hblkhd "
                    "usmblks fsmblks uordblks fordblks keepcost").split()]

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]

    def mapped_by(size):
        before = libc.mallinfo2().hblkhd
        block = libc.malloc(size)
        grew = libc.mallinfo2().hblkhd - before
        libc.free(block)
        return grew

    print(mapped_by(64 << 20), keep_freed_memory(), keep_freed_memory(), mapped_by(64 << 20))
    """
)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_a_large_block_comes_from_the_heap_once_thresholds_are_raised():
    """In a fresh process: 64 MB is mapped on its own under glibc's defaults (and unmapped when
    freed), and comes from the heap after keep_freed_memory."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(out[0]) >= 64 << 20  # glibc's default: a mapping of its own
    assert out[1:] == ["True", "True", "0"]  # raised (once), then no new mapping


def test_without_a_c_library_nothing_changes(monkeypatch):
    def no_library(*args, **kwargs):
        raise OSError("no libc")

    monkeypatch.setattr(allocator, "_tuned", False)
    monkeypatch.setattr(ctypes, "CDLL", no_library)
    assert allocator.keep_freed_memory() is False
