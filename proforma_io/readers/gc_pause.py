"""Pausing Python's cyclic garbage collector while a reader builds many long-lived objects.

A reader allocates millions of small objects that all stay alive until it returns; every few
thousand allocations the collector scans them again for cycles it cannot find, which costs a
third of the reading time of a large export. Objects freed meanwhile are still freed at once by
reference counting; only cycles wait for the collector, and the readers make none.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the collector for the block; the last block to leave restores its state."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
