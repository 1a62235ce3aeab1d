"""Pausing the cyclic garbage collector while building large structures.

Loading and seeding a scenario of 100,000 guests creates millions of containers, none of
them in reference cycles. Every few hundred new containers the collector would run, and
its full collections walk the whole, growing heap: work that cannot free anything here,
and a large share of the start-up time. Reference counting still frees what is dropped.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["gc_paused"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block; the collector's former state after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
