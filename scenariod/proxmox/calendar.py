"""Calendar events (`pve-calendar-event`, systemd's subset) and the next time one fires.

PVE's backup jobs answer `next-run` computed from their `schedule` as pve-manager does
(Proxmox::RS::CalendarEvent->compute_next_event from now; PVE::API2::Backup's index), and
clients rely on it (community.proxmox's proxmox_backup_info reads `next-run` of every job);
PBS answers it the same way for garbage collection and its sync, verify and prune jobs.
The grammar is proxmox-time's: `[WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:]MINUTE[:SECOND]`, each
value `*`, `N`, `A..B`, a comma list of those, or with `/STEP`; a lone value is the minute;
the shorthands minutely, hourly, daily, weekly, monthly, yearly, annually, quarterly and
semiannually. Times are the node's (UTC here). A schedule this does not read has no next run,
as pve-manager leaves `next-run` out when the event has none.
"""

from __future__ import annotations

import datetime as dt
import re

_SHORTHANDS = {
    "minutely": "*:*:00",
    "hourly": "*:00:00",
    "daily": "00:00:00",
    "weekly": "mon 00:00:00",
    "monthly": "*-*-01 00:00:00",
    "yearly": "*-01-01 00:00:00",
    "annually": "*-01-01 00:00:00",
    "quarterly": "*-01,04,07,10-01 00:00:00",
    "semiannually": "*-01,07-01 00:00:00",
}
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {name: i for i, name in enumerate(_DAYS)} | {
    full: i for i, full in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}
_HORIZON_DAYS = 366 * 8  # a 29 February on a Monday recurs within 28 years; these schedules do far sooner


class _Unreadable(ValueError):
    """Not a calendar event this module reads."""


def _values(spec: str, low: int, high: int) -> frozenset[int]:
    """One component (`*`, `5`, `1..5`, `*/15`, `0/15`, `1,3,5`) as the set of values it allows."""
    out: set[int] = set()
    for part in spec.split(","):
        match = re.fullmatch(r"(\*|\d+)(?:\.\.(\d+))?(?:/(\d+))?", part)
        if not match:
            raise _Unreadable(spec)
        start = low if match[1] == "*" else int(match[1])
        end = int(match[2]) if match[2] else (high if match[1] == "*" or match[3] else start)
        step = int(match[3]) if match[3] else 1
        if step < 1 or not low <= start <= high or end > high:
            raise _Unreadable(spec)
        out.update(range(start, end + 1, step))
    return frozenset(out)


def _weekdays(spec: str) -> frozenset[int]:
    out: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.partition("..")
        if first not in _DAY_NAMES or (last and last not in _DAY_NAMES):
            raise _Unreadable(spec)
        a, b = _DAY_NAMES[first], _DAY_NAMES[last or first]
        out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(out)


def next_event(schedule: str, after: float) -> int | None:
    """The first time (epoch seconds) after `after` that `schedule` fires, or None."""
    words = _SHORTHANDS.get(schedule.strip().lower(), schedule.strip().lower()).split()
    try:
        weekdays = frozenset(range(7))
        if words and words[0][0].isalpha():
            weekdays = _weekdays(words.pop(0))
        years, months, days = None, frozenset(range(1, 13)), frozenset(range(1, 32))
        if words and "-" in words[0]:
            date = words.pop(0).split("-")
            if len(date) == 3:
                years = _values(date.pop(0), 1970, 9999)
            if len(date) != 2:
                raise _Unreadable(schedule)
            months, days = _values(date[0], 1, 12), _values(date[1], 1, 31)
        clock = words.pop(0).split(":") if words else ["0", "0"]
        if words or len(clock) > 3:
            raise _Unreadable(schedule)
        if len(clock) == 1:
            clock = ["*", *clock]
        hours, minutes = _values(clock[0], 0, 23), _values(clock[1], 0, 59)
        seconds = _values(clock[2], 0, 59) if len(clock) == 3 else frozenset({0})
    except _Unreadable:
        return None
    times = sorted(h * 3600 + m * 60 + s for h in hours for m in minutes for s in seconds)
    start = dt.datetime.fromtimestamp(int(after), dt.UTC)
    day = start.date()
    for offset in range(_HORIZON_DAYS):
        today = day + dt.timedelta(days=offset)
        if (
            today.weekday() not in weekdays
            or today.month not in months
            or today.day not in days
            or (years is not None and today.year not in years)
        ):
            continue
        midnight = int(dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC).timestamp())
        for t in times:
            if midnight + t > after:
                return midnight + t
    return None
