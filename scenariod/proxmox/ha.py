"""PVE HA resources: the service ids a real cluster accepts, and the guests they must name.

Generic CRUD already stores `/cluster/ha/resources` items keyed by `sid`; what it cannot know
is what pve-ha-manager checks and derives, so these handlers do that and hand the rest back
to generic CRUD:

- a service id is `vm:100` or `ct:200`; a bare `100` names the guest of that id, whatever its
  type (`parse_sid`); anything else is refused with Proxmox's wording;
- the guest must exist in the cluster and be of the type the sid says;
- one resource per sid; deleting one that is not HA managed is refused;
- the item is stored under its full sid with its `type`, so listings filter by `type=`, and
  the cluster views (`/cluster/resources` `hastate`, `/cluster/ha/status/current`) follow.

This module is the worked example of ARCHITECTURE.md's "Adding a behaviour".
"""

from __future__ import annotations

from typing import Any

from .. import generic, wire
from ..world import Call
from . import handles
from .cluster import find_guest

RESOURCES = "/cluster/ha/resources"


def parse_sid(call: Call, raw: Any) -> tuple[str, str, str]:
    """(sid, type, vmid) as PVE::HA::Config::parse_sid reads a service id."""
    text = str(raw)
    if text.isdigit():
        found = find_guest(call.store, text)
        if found is None:
            raise wire.ha_vmid_unknown(text)
        kind = next(t for t, guest_kind in wire.HA_TYPES.items() if guest_kind == found[1])
        return f"{kind}:{text}", kind, text
    kind, sep, name = text.partition(":")
    if not sep or not kind or not name or any(c.isspace() for c in text):
        raise wire.ha_sid_unparsable(text)
    return text, kind, name


def _guest_must_exist(call: Call, sid: str, kind: str, vmid: str) -> None:
    """PVEVM/PVECT->exists: the guest is in the cluster's VM list, with the sid's type."""
    found = find_guest(call.store, vmid)
    if found is None:
        raise wire.ha_guest_missing(sid)
    if wire.HA_TYPES.get(kind) != found[1]:
        raise wire.ha_guest_wrong_type(sid, vmid)


@handles("GET", RESOURCES, stable=True)
def list_resources(call: Call) -> Any:
    """Every resource with its config (the returns schema names only `sid`); `type=` filters."""
    wanted = call.args.get("type")
    items = call.store.items(RESOURCES)
    return [item for item in items if not wanted or item.get("type") == wanted]


@handles("POST", RESOURCES)
def create_resource(call: Call) -> Any:
    sid, kind, vmid = parse_sid(call, call.args.get("sid"))
    if kind not in wire.HA_TYPES:
        raise wire.ha_sid_unparsable(sid)
    _guest_must_exist(call, sid, kind, vmid)
    if call.store.has((*call.segments, sid)):
        raise wire.ha_already_defined(sid)
    call.args = {**call.args, "sid": sid, "type": kind}
    return generic.handle(call)


def _on_item(call: Call) -> str:
    """Point the call at the item of the full sid (`100` -> `vm:100`); its sid."""
    sid, _, _ = parse_sid(call, call.params["sid"])
    call.params = {**call.params, "sid": sid}
    call.segments = [*call.segments[:-1], sid]
    call.args = {**call.args, "sid": sid}
    return sid


@handles("GET", RESOURCES + "/{sid}", finds_own_objects=True, stable=True)
def read_resource(call: Call) -> Any:
    _on_item(call)
    return generic.handle(call)


@handles("PUT", RESOURCES + "/{sid}", finds_own_objects=True)
def update_resource(call: Call) -> Any:
    _on_item(call)
    return generic.handle(call)


@handles("DELETE", RESOURCES + "/{sid}", finds_own_objects=True)
def delete_resource(call: Call) -> Any:
    sid = _on_item(call)
    if not call.store.has(call.segments):
        raise wire.ha_not_managed(sid)
    return generic.handle(call)
