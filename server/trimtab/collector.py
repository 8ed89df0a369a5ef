"""Python's cyclic garbage collector, paused while a read or a build piles up short-lived
objects: a schema read makes hundreds of thousands of small objects (tree nodes, ranges,
builder values, pieces applied), and the collector's passes over them cost more than the
work itself on a large schema, while none of them outlives the work in a cycle that
matters. One collector per process: the caller that found it on turns it on again."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
