"""Keep the C allocator from returning a CPU forward pass's memory to the system after each layer.

glibc's malloc serves blocks of 128 kB and more by mmap, or trims the heap's free top once it
exceeds a threshold; a decoder layer's temporaries (SmolLM2's batch of 16: 6-9 MB each) are then
unmapped when freed and faulted in again, page by page, by the next layer. On the CPU that
costs a third of the forward pass: SmolLM2 bfloat16 on 2 cores ran 1.5x faster with the
thresholds raised (1.93 -> 1.23 s median for the same batches, measured; loading a second model
in the process had the same effect, by moving glibc's adaptive threshold). The thresholds are
raised once, before the first forward pass; freed memory then stays in the process for the next
batch (its peak is the forward pass's, as before). Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap, not a fresh mapping each time (glibc's own adaptive
# threshold stops at 32 MB, below a 6.9B model's MLP activations of a batch); a glibc that
# refuses it gets its largest, 32 MB.
MMAP_THRESHOLDS = (1 << 30, 32 << 20)
TRIM_THRESHOLD = (1 << 31) - 1  # free memory at the heap's top is kept (mallopt takes an int)

_tuned = False


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds, once per process; True if they were set now or
    before, False where the C library is not glibc."""
    global _tuned
    if _tuned:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mapped = any(mallopt(M_MMAP_THRESHOLD, size) for size in MMAP_THRESHOLDS)
    _tuned = mapped and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not _tuned:
        log.debug("mallopt refused the thresholds; the allocator keeps its defaults")
    return _tuned
