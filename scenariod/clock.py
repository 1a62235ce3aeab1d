"""The world clock: wall time as one World sees it.

The control API (`/_scenariod/clock`) moves a World's clock forward, so tickets, account
expiry and everything else that ages can be tested without waiting. Whatever ages reads
this clock, never `time.time()` directly.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .world import World


def clock(world: World) -> float:
    """Wall time as `world` sees it: now plus the offset the control API gave it."""
    return time.time() + world.clock_offset
