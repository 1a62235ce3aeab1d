"""When a PBS schedule next fires: proxmox-time's calendar events (systemd.time's subset).

PBS answers `next-run` for garbage collection and for sync, verify and prune jobs from their
`schedule`, a calendar event such as `daily`, `sat 03:00`, `mon..fri 08:00`, `*:0/15` or
`sat *-1..7 00:00`. Times are UTC here (the scenario's host runs in UTC). A schedule that does
not parse has no next run (PBS would have refused it when the job was written).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KEYWORDS = {
    "minutely": "*:*",
    "hourly": "*:00",
    "daily": "00:00",
    "weekly": "mon 00:00",
    "monthly": "*-*-01 00:00",
    "yearly": "*-01-01 00:00",
    "annually": "*-01-01 00:00",
    "quarterly": "*-01,04,07,10-01 00:00",
    "semiannually": "*-01,07-01 00:00",
}
_HORIZON_DAYS = 4 * 366  # a 29 February on a Monday, at worst


class BadSchedule(ValueError):
    """Not a calendar event proxmox-time reads."""


def _values(spec: str, low: int, high: int, names: tuple[str, ...] = ()) -> set[int]:
    """One field: `*`, numbers or names, `a..b` ranges, `a/step` repetitions, comma lists."""

    def number(text: str) -> int:
        text = text.strip().lower()
        for i, name in enumerate(names):
            if text[:3] == name:
                return i
        if not text.isdigit():
            raise BadSchedule(spec)
        return int(text)

    out: set[int] = set()
    for item in spec.split(","):
        base, _, step = item.partition("/")
        if base == "*":
            first, last = low, high
        elif ".." in base:
            a, _, b = base.partition("..")
            first, last = number(a), number(b)
        else:
            first = number(base)
            last = high if step else first
        stride = int(step) if step.isdigit() and int(step) > 0 else 1
        if step and not step.isdigit():
            raise BadSchedule(spec)
        out.update(range(first, last + 1, stride))
    if not out or min(out) < low or max(out) > high:
        raise BadSchedule(spec)
    return out


class CalendarEvent:
    """A parsed schedule: the weekdays, months, days, hours and minutes it fires on."""

    def __init__(self, text: str) -> None:
        words = KEYWORDS.get(text.strip().lower(), text).split()
        if not words:
            raise BadSchedule(text)
        self.weekdays = set(range(7))
        self.months, self.days = set(range(1, 13)), set(range(1, 32))
        self.hours, self.minutes = {0}, {0}
        if words[0][:3].lower() in WEEKDAYS and ":" not in words[0]:
            self.weekdays = set()
            for part in words.pop(0).split(","):
                self.weekdays |= _values(part, 0, 6, WEEKDAYS)
        for word in words:
            if ":" in word:
                hour, _, rest = word.partition(":")
                self.hours = _values(hour, 0, 23)
                self.minutes = _values(rest.partition(":")[0], 0, 59)
            elif "-" in word:
                parts = word.split("-")
                if len(parts) == 3:
                    parts = parts[1:]  # the year: any
                if len(parts) != 2:
                    raise BadSchedule(text)
                self.months = _values(parts[0], 1, 12)
                self.days = _values(parts[1], 1, 31)
            else:
                raise BadSchedule(text)

    def next_after(self, now: float) -> int | None:
        """The first firing strictly after `now` (epoch seconds), or None within four years."""
        start = dt.datetime.fromtimestamp(int(now), dt.UTC).replace(second=0) + dt.timedelta(minutes=1)
        day = start.date()
        for offset in range(_HORIZON_DAYS):
            date = day + dt.timedelta(days=offset)
            if date.weekday() not in self.weekdays or date.month not in self.months or date.day not in self.days:
                continue
            for hour, minute in _times(self.hours, self.minutes):
                at = dt.datetime(date.year, date.month, date.day, hour, minute, tzinfo=dt.UTC)
                if at >= start:
                    return int(at.timestamp())
        return None


def _times(hours: Iterable[int], minutes: Iterable[int]) -> list[tuple[int, int]]:
    return sorted((h, m) for h in hours for m in minutes)


def next_run(schedule: str, now: float) -> int | None:
    """`next-run` of a job or GC with this schedule, seen at `now`; None if it does not parse."""
    try:
        return CalendarEvent(schedule).next_after(now)
    except BadSchedule:
        return None
