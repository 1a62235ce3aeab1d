"""Durations as scenario authors write them (`250ms`, `2s`, `1m30s`, or bare seconds).

Read at load time (delays, task durations, ticket lifetimes) and by the control API's clock.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .diagnostics import fmt

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION_PART = re.compile(r"\s*(" + _NUM + r")\s*(ms|s|m|h|d)\s*")
_BARE_NUMBER = re.compile(r"\s*(" + _NUM + r")\s*")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds in a duration: `250ms`, `2s`, `1.5s`, `1m`, `2h`, `1d`, `1m30s` (parts add up),
    or a bare number (int, float or numeric string) of seconds. Raises ValueError with the
    author message (`` `soon` is not a duration; write 250ms, 2s or 1m ``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value >= 0 and math.isfinite(value):
            return float(value)
    elif isinstance(value, str):
        m = _BARE_NUMBER.fullmatch(value)
        if m:
            return float(m.group(1))
        total, pos, n = 0.0, 0, len(value)
        while pos < n:
            m = _DURATION_PART.match(value, pos)
            if m is None:
                break
            total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
            pos = m.end()
        else:
            if n:
                return total
    raise ValueError(f"`{fmt(value)}` is not a duration; write 250ms, 2s or 1m")


# --- templates --------------------------------------------------------------------------------
