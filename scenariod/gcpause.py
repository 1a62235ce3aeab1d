"""The cyclic garbage collector: paused while building large structures, kept off them while serving.

Loading and seeding a scenario of 100,000 guests creates millions of containers, none of
them in reference cycles. Every few hundred new containers the collector would run, and
its full collections walk the whole, growing heap: work that cannot free anything here,
and a large share of the start-up time. Reference counting still frees what is dropped.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["gc_paused", "release_built", "serve_built"]


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


def serve_built() -> None:
    """Serve with what start-up built (scenario, API description, seeded state) outside the
    collector's walks (`gc.freeze`): its full collections then walk what serving makes, not the
    structures that live as long as the scenario. Reference counting still frees them."""
    gc.freeze()
    gc.enable()


def release_built() -> None:
    """Before what start-up built is dropped (a reset, a reload), hand it back to the collector
    (`gc.unfreeze`): its reference cycles (a World and its bound methods, the API trie) are
    then freed by the next full collection instead of living on."""
    gc.unfreeze()
