"""The C allocator (glibc's), where big schemas make its memory stick.

Python objects above 512 bytes (statement texts, file contents, a big dict's table) come
from malloc. glibc keeps what is freed inside its heaps, counted as the process's memory,
and raises its mmap threshold after the first big block is freed, so later ones come from
the heaps too. At 10,000 tables that is tens of MB of a run's peak (docs/benchmarks.md).
On another C library these do nothing.
"""

from __future__ import annotations

import functools
from typing import Any

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


@functools.cache
def _glibc() -> Any:
    """The C library when it has glibc's malloc_trim and mallopt, else None."""
    import ctypes  # here: not for every command's start-up
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def give_back() -> None:
    """Return the heaps' free pages to the system (``malloc_trim``): a few ms."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def steady() -> None:
    """Keep the mmap and trim thresholds where they start (128 KiB), for a long-lived
    process (the language server): big blocks are then mapped and unmapped on their own
    instead of fragmenting the heaps once freed."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)
        libc.mallopt(M_TRIM_THRESHOLD, 128 * 1024)
