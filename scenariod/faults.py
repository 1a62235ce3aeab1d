"""Faults: the failures real clusters produce, injected before routes and built-in behaviour."""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .scenario import Delay


def draw_delay(delay: "Delay", rng: random.Random | None) -> float:
    """Seconds to wait for a `delay`: fixed, uniform in [min, max], or log-normal capped at max."""
    r = rng or random
    if delay.kind == "fixed":
        return delay.seconds
    if delay.kind == "uniform":
        return r.uniform(delay.min, delay.max)
    value = delay.median * math.exp(delay.sigma * r.gauss(0.0, 1.0))
    return min(value, delay.max) if delay.max else value
