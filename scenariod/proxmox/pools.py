"""PVE resource pools: membership kept as user.cfg keeps it, members shown as a real node shows them.

A pool item (`/pools/ID`) holds its members the way Proxmox's user.cfg does: `vms` (VMIDs)
and `storage` (storage IDs); a guest's list item carries `pool` (what `/cluster/resources`
shows). Seeded guests with `pool:` and seeded pools with `members`, `vms` or `storage` are
reconciled once at start. Reads leave the membership keys out and list `members` with the
guests' and storages' current figures, as PVE::API2::Pool does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import wire
from ..state import MISSING
from . import handles, prepares
from .access import Viewer, filters_list
from .cluster import find_guest, resources

if TYPE_CHECKING:
    from ..scenario.model import Scenario
    from ..state import StateStore
    from ..world import Call, World

_MEMBERSHIP = ("vms", "storage", "members")


def _ids(value: Any) -> list[str]:
    """A member list as Proxmox's split_list reads it (list, or a string split on , ; and spaces)."""
    if value in (None, ""):
        return []
    items = value if isinstance(value, list) else str(value).replace(";", ",").replace(" ", ",").split(",")
    return [str(v).strip() for v in items if str(v).strip()]


@prepares("pve")
def seed_pools(world: World, scenario: Scenario) -> None:
    """Membership from both sides of the seed: pools naming members, guests naming their pool."""
    store = world.store
    pools: dict[str, dict[str, Any]] = {}
    for poolid, item in zip(store.keys("/pools"), store.items("/pools"), strict=True):
        if not isinstance(item, dict):
            continue
        vms, storage = _ids(item.get("vms")), _ids(item.get("storage"))
        for member in item.get("members") or []:
            if isinstance(member, dict) and member.get("type") == "storage":
                storage.append(str(member.get("storage")))
            elif isinstance(member, dict) and member.get("vmid") is not None:
                vms.append(str(member["vmid"]))
        pools[poolid] = {**{k: v for k, v in item.items() if k not in _MEMBERSHIP}, "vms": vms, "storage": storage}
    for node in store.keys("/nodes"):
        for kind in ("qemu", "lxc"):
            for vmid, item in zip(store.keys(("nodes", node, kind)), store.items(("nodes", node, kind)), strict=True):
                pool = item.get("pool") if isinstance(item, dict) else None
                if pool:
                    entry = pools.setdefault(str(pool), {"poolid": str(pool), "vms": [], "storage": []})
                    if vmid not in entry["vms"]:
                        entry["vms"].append(vmid)
    for poolid, entry in pools.items():
        entry["vms"] = sorted(set(entry["vms"]))
        entry["storage"] = sorted(set(entry["storage"]))
        store.set(("pools", poolid), entry)
        for vmid in entry["vms"]:
            _set_guest_pool(store, vmid, poolid)


def _set_guest_pool(store: StateStore, vmid: Any, poolid: str | None) -> None:
    where = find_guest(store, vmid)
    if where is None:
        return
    path = ("nodes", where[0], where[1], str(vmid))
    item = dict(store.get(path))
    if poolid:
        item["pool"] = poolid
    else:
        item.pop("pool", None)
    store.set(path, item)


def _pool(store: StateStore, poolid: str, failed: str | None = None) -> dict[str, Any]:
    item = store.get(("pools", poolid))
    if not isinstance(item, dict):
        error = wire.missing_object("/pools", poolid, {})
        raise wire.ApiError(error.status, f"{failed}: {error.message}" if failed else error.message)
    return item


def add_guest(store: StateStore, poolid: str, vmid: int) -> None:
    """A new guest created or cloned with `pool=` (the caller checked the pool exists)."""
    item = _pool(store, poolid)
    vms = _ids(item.get("vms"))
    if str(vmid) not in vms:
        store.set(("pools", poolid), {**item, "vms": [*vms, str(vmid)]})
    _set_guest_pool(store, vmid, poolid)


def drop_guest(store: StateStore, vmid: int) -> None:
    """A purged guest leaves every pool."""
    for poolid, item in zip(store.keys("/pools"), store.items("/pools"), strict=True):
        vms = _ids(item.get("vms")) if isinstance(item, dict) else []
        if str(vmid) in vms:
            store.set(("pools", poolid), {**item, "vms": [v for v in vms if v != str(vmid)]})


def check_pool(store: StateStore, poolid: str) -> None:
    """A create or clone naming a pool that does not exist is refused before the worker starts."""
    _pool(store, poolid)


# --- the API ---------------------------------------------------------------------------------


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _MEMBERSHIP}


def _members(call: Call, item: dict[str, Any], wanted: str | None) -> list[dict[str, Any]]:
    everything = call.world.cached("resources-by-id", lambda: {r["id"]: r for r in resources(call.store)})
    members = []
    for vmid in sorted(_ids(item.get("vms"))):  # Perl's `sort keys`: string order
        where = find_guest(call.store, vmid)
        if where is None or wanted not in (None, where[1]):
            continue
        entry = dict(everything.get(f"{where[1]}/{vmid}") or {})
        entry.pop("pool", None)
        entry["id"] = f"{where[1]}/{vmid}"
        members.append(entry)
    if wanted in (None, "storage"):
        nodes = call.store.keys("/nodes")
        for sid in sorted(_ids(item.get("storage"))):
            cfg = call.store.get(("storage", sid))
            if not isinstance(cfg, dict):
                continue
            allowed = _ids(cfg.get("nodes")) or nodes
            node = next((n for n in nodes if n in allowed), nodes[0] if nodes else "")
            entry = everything.get(f"storage/{node}/{sid}")
            if entry:
                members.append(dict(entry))
    return members


def _pool_info(call: Call, poolid: str) -> dict[str, Any]:
    item = _pool(call.store, poolid)
    return {**_public(item), "poolid": poolid, "members": _members(call, item, call.args.get("type"))}


@handles("GET", "/pools", stable=True)
def list_pools(call: Call) -> list[dict[str, Any]]:
    poolid = call.args.get("poolid")
    if poolid:
        return [_pool_info(call, str(poolid))]
    return [
        {**_public(item), "poolid": key}
        for key, item in zip(call.store.keys("/pools"), call.store.items("/pools"), strict=True)
    ]


@filters_list("/pools")
def visible_pools(view: Viewer, items: list[Any]) -> list[Any]:
    """Pools with Pool.Audit; the one pool asked for with `poolid` shows regardless (pve-manager
    checks it without acting on the result)."""
    if view.args.get("poolid"):
        return items
    return [p for p in items if isinstance(p, dict) and view.can(f"/pool/{p.get('poolid')}", "Pool.Audit")]


@handles("GET", "/pools/{poolid}", stable=True)
def read_pool(call: Call) -> dict[str, Any]:
    return _pool_info(call, call.params["poolid"])


@handles("PUT", "/pools")
@handles("PUT", "/pools/{poolid}")
def update_pool(call: Call) -> None:
    """Add or (with `delete`) remove members; a guest in another pool moves only with `allow-move`."""
    store = call.store
    poolid = str(call.params.get("poolid") or call.args["poolid"])
    failed = wire.POOL_UPDATE_FAILED
    item = dict(_pool(store, poolid, failed))
    vms, storages = _ids(item.get("vms")), _ids(item.get("storage"))
    delete = bool(call.args.get("delete"))
    moves: list[tuple[str, str]] = []  # (vmid, pool it leaves)
    for vmid in _ids(call.args.get("vms")):
        if delete:
            if vmid not in vms:
                raise wire.ApiError(500, f"{failed}: VM {vmid} is not a pool member")
            vms.remove(vmid)
            continue
        if vmid in vms:
            raise wire.ApiError(500, f"{failed}: VM {vmid} is already a pool member")
        current = _pool_of(store, vmid)
        if current is not None:
            if not call.args.get("allow-move"):
                raise wire.ApiError(
                    500, f"{failed}: VM {vmid} belongs already to pool '{current}' and 'allow-move' is not set"
                )
            moves.append((vmid, current))
        vms.append(vmid)
    for sid in _ids(call.args.get("storage")):
        if delete:
            if sid not in storages:
                raise wire.ApiError(500, f"{failed}: Storage '{sid}' is not a pool member")
            storages.remove(sid)
        elif sid in storages:
            raise wire.ApiError(500, f"{failed}: Storage '{sid}' is already a pool member")
        else:
            storages.append(sid)
    for vmid, old in moves:
        left = _pool(store, old)
        store.set(("pools", old), {**left, "vms": [v for v in _ids(left.get("vms")) if v != vmid]})
    if call.args.get("comment") is not None:
        item["comment"] = call.args["comment"]
    store.set(("pools", poolid), {**item, "vms": vms, "storage": storages})
    for vmid in _ids(call.args.get("vms")):
        _set_guest_pool(store, vmid, None if delete else poolid)
    return None


def _pool_of(store: StateStore, vmid: str) -> str | None:
    for poolid, item in zip(store.keys("/pools"), store.items("/pools"), strict=True):
        if isinstance(item, dict) and vmid in _ids(item.get("vms")):
            return poolid
    return None


@handles("DELETE", "/pools")
@handles("DELETE", "/pools/{poolid}")
def delete_pool(call: Call) -> None:
    """Only an empty pool goes (destroyed guests and removed storages do not count)."""
    store = call.store
    poolid = str(call.params.get("poolid") or call.args["poolid"])
    failed = wire.POOL_DELETE_FAILED
    item = _pool(store, poolid, failed)
    for vmid in sorted(_ids(item.get("vms"))):
        if find_guest(store, vmid) is not None:
            raise wire.ApiError(500, f"{failed}: pool '{poolid}' is not empty (contains VM {vmid})")
    for sid in sorted(_ids(item.get("storage"))):
        if store.get(("storage", sid)) is not MISSING:
            raise wire.ApiError(500, f"{failed}: pool '{poolid}' is not empty (contains storage '{sid}')")
    store.delete(("pools", poolid))
    return None
