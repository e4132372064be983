"""Keeping freed memory for reuse: glibc malloc's two thresholds, set once per process.

A training step allocates the same large arrays again and again: columns, outputs, gradients (LeNet-5 at batch 64:
a few MB of arrays above 128 kB each step). glibc's malloc gives a block that large its own mapping from the
operating system and hands it back when the block is freed, unless an earlier free of a large block has raised
its threshold; it adapts, so whether it does depends on what the process did before. When it does not, every step
touches fresh pages, and each first touch is a page fault that zero-fills 4 kB.

Setting the thresholds lets a training step reuse the pages of the last one (docs/performance.md#memory).

keep_freed_memory() raises the threshold for a block's own mapping to MMAP_THRESHOLD and keeps up to
TRIM_THRESHOLD of free memory at the top of the heap, glibc's own ceiling and its ratio of the two. The cost: up to
that much memory freed by the program stays with the process for reuse instead of going back to the system.
The command line, the benchmarks and DataParallel's worker processes call it; a script can call it first thing.
"""
import ctypes
import functools
import sys

MMAP_THRESHOLD = 32 << 20   # bytes: blocks above this still get their own mapping (glibc's cap when it adapts)
TRIM_THRESHOLD = 64 << 20   # bytes of free memory kept at the top of the heap (twice the above, as glibc's rule)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # mallopt's parameter numbers, from glibc's malloc.h


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks up to MMAP_THRESHOLD for reuse (see the module's docstring).

    Returns True if set; False where there is no glibc mallopt to ask (macOS, Windows, musl), where it does nothing.
    Once per process: later calls return the first one's answer.
    """
    return sys.platform.startswith("linux") and _mallopt()


def _mallopt():
    try:
        mallopt = ctypes.CDLL(None).mallopt   # the C library this interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
