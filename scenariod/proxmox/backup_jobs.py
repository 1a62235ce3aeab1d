"""PVE backup jobs (`/cluster/backup`): each listed with its `next-run`, as pve-manager lists them.

PVE::API2::Backup's index computes `next-run` from the job's `schedule` and the current time
(vzdump jobs are cluster-wide, so it does not look for a last run); the stored job never holds
it. A seeded `next-run` is kept: scenario authors stay in control.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..clock import clock
from . import handles
from .calendar import next_event

if TYPE_CHECKING:
    from ..world import Call


@handles("GET", "/cluster/backup")
def list_backup_jobs(call: Call) -> list[dict[str, Any]]:
    now = clock(call.world)
    out = []
    for job in call.store.items("/cluster/backup"):
        if not isinstance(job, dict):
            continue
        entry = dict(job)
        schedule = entry.get("schedule")
        if isinstance(schedule, str) and "next-run" not in entry:
            when = next_event(schedule, now)
            if when is not None:
                entry["next-run"] = when
        out.append(entry)
    return out
