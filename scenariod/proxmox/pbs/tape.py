"""PBS tape lists as far as the caller may audit them (Tape.Audit on each item's ACL path).

PBS filters its tape configuration and media lists item by item: drives and changers by
/tape/device/NAME, media pools and the media in them by /tape/pool/NAME, tape backup jobs by
/tape/job/ID. The items themselves are what state holds (generic CRUD keeps them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import handles
from ..rest_privileges import allowed

if TYPE_CHECKING:
    from ...world import Call

# list path -> (the ACL path of one item, the item's field that names it there)
FILTERED = {
    "/config/changer": ("/tape/device", "name"),
    "/config/drive": ("/tape/device", "name"),
    "/tape/changer": ("/tape/device", "name"),
    "/tape/drive": ("/tape/device", "name"),
    "/config/media-pool": ("/tape/pool", "name"),
    "/tape/media/list": ("/tape/pool", "pool"),
    "/config/tape-backup-job": ("/tape/job", "id"),
    "/tape/backup": ("/tape/job", "id"),
}


def audited_items(call: Call) -> list[Any]:
    base, field = FILTERED[call.node.path]
    return [
        item
        for item in call.store.items(call.segments)
        if isinstance(item, dict) and allowed(call, f"{base}/{item.get(field)}", "Tape.Audit")
    ]


for _path in FILTERED:
    handles("GET", _path, ("pbs",))(audited_items)
