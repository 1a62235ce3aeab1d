"""PDM's views over all managed remotes: resource lists, status counts, subscriptions, top entities."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ... import wire
from ...clock import clock
from .. import handles
from ..restserver import (
    truthy,
)
from .model import GUESTS, datastore_usage, managed, pbs_datastores, pbs_node, resources_of
from .pve_remotes import pve_resource_view

if TYPE_CHECKING:
    from ...state import StateStore
    from ...world import Call

# --- resource views over all remotes --------------------------------------------------------------


def _pbs_resource_views(store: StateStore, rid: str) -> list[dict[str, Any]]:
    node = pbs_node(store, rid)
    out: list[dict[str, Any]] = [{"type": "pbs-node", "id": f"remote/{rid}/node/{node['name']}", **node}]
    for ds in pbs_datastores(store, rid):
        total, used = datastore_usage(ds, rid)
        entry: dict[str, Any] = {
            "type": "pbs-datastore",
            "id": f"remote/{rid}/datastore/{ds['name']}",
            "name": ds["name"],
            "maxdisk": total,
            "disk": used,
            "usage": round(used / total, 6) if total else 0.0,
            "backend-type": "s3" if "type=s3" in str(ds.get("backend") or "") else "filesystem",
        }
        if ds.get("maintenance-mode"):
            entry["maintenance"] = ds["maintenance-mode"]
        if ds.get("backing-device"):
            entry["backing-device"] = ds["backing-device"]
        out.append(entry)
    return out


_PDM_TYPES = {
    "qemu": "pve-qemu",
    "lxc": "pve-lxc",
    "node": "pve-node",
    "storage": "pve-storage",
    "network": "pve-network",
    "sdn": "pve-network",
}
_RESOURCE_TYPE = {
    "pve-qemu": "qemu",
    "pve-lxc": "lxc",
    "pve-node": "node",
    "pbs-node": "node",
    "pve-storage": "storage",
    "pve-network": "network",
    "pbs-datastore": "datastore",
}


def all_resources(store: StateStore) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(remote config, its PDM Resource entries) for every managed remote."""
    out = []
    for cfg in managed(store):
        rid = cfg["id"]
        if cfg.get("type", "pve") == "pve":
            entries = []
            for res in resources_of(store, rid):
                view = pve_resource_view(rid, res)
                view["type"] = _PDM_TYPES.get(res["type"], f"pve-{res['type']}")
                entries.append(view)
        else:
            entries = _pbs_resource_views(store, rid)
        out.append((cfg, entries))
    return out


def _view_filters(call: Call) -> dict[str, Any] | None:
    view = call.args.get("view")
    if not view:
        return None
    cfg = call.store.get(("config", "views", str(view)))
    if not isinstance(cfg, dict):
        raise wire.ApiError(404, wire.pdm_view_missing(view))
    return cfg


def _matches_filter(rule: str, rid: str, entry: dict[str, Any] | None) -> bool:
    kind, _, value = str(rule).partition(":")
    if kind == "remote":
        return rid == value
    if entry is None:
        return True
    if kind == "resource-type":
        return _RESOURCE_TYPE.get(entry["type"], entry["type"]) == value
    if kind == "resource-id":
        return entry.get("id") == value
    if kind == "tag":
        return value in (entry.get("tags") or [])
    if kind == "resource-pool":
        return entry.get("pool") == value
    return False


def in_view(call: Call, rid: str, entry: dict[str, Any] | None) -> bool:
    cfg = _view_filters(call)
    if cfg is None:
        return True
    include = [r for r in _as_list(cfg.get("include")) if r]
    exclude = [r for r in _as_list(cfg.get("exclude")) if r]
    if not (truthy(cfg.get("include-all")) or any(_matches_filter(r, rid, entry) for r in include)):
        return False
    if entry is None:  # a remote is only out when a rule excludes the whole remote
        return not any(str(r).startswith("remote:") and _matches_filter(r, rid, None) for r in exclude)
    return not any(_matches_filter(r, rid, entry) for r in exclude)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [v for v in str(value).split(",")]


def _search_ok(search: str, rid: str, entry: dict[str, Any]) -> bool:
    for term in search.split():
        key, sep, value = term.partition(":")
        if sep:
            have = {
                "type": _RESOURCE_TYPE.get(entry["type"], entry["type"]),
                "remote": rid,
                "status": str(entry.get("status", "")),
                "name": str(entry.get("name", entry.get("node", ""))),
                "id": str(entry.get("id", "")),
                "template": str(bool(entry.get("template"))).lower(),
            }.get(key)
            if have is None or value.lower() not in have.lower():
                return False
        elif not any(term.lower() in str(entry.get(f, "")).lower() for f in ("id", "name", "node", "storage", "vmid")):
            return False
    return True


@handles("GET", "/resources/list", ("pdm",))
def resources_list(call: Call) -> list[dict[str, Any]]:
    wanted = call.args.get("resource-type")
    search = str(call.args.get("search") or "")
    out = []
    for cfg, entries in all_resources(call.store):
        rid = cfg["id"]
        if not in_view(call, rid, None):
            continue
        chosen = [
            e
            for e in entries
            if (not wanted or _RESOURCE_TYPE.get(e["type"]) == wanted)
            and (not search or _search_ok(search, rid, e))
            and in_view(call, rid, e)
        ]
        entry: dict[str, Any] = {"remote": rid}
        if chosen:  # PDM leaves an empty list out
            entry["resources"] = chosen
        out.append(entry)
    return out


@handles("GET", "/resources/status", ("pdm",))
def resources_status(call: Call) -> dict[str, Any]:
    guests = {k: {"running": 0, "stopped": 0, "template": 0, "unknown": 0} for k in GUESTS}
    pve_nodes = {"online": 0, "offline": 0, "unknown": 0}
    pbs_nodes = {"online": 0, "offline": 0, "unknown": 0}
    storages = {"available": 0, "unknown": 0}
    datastores: dict[str, int] = {
        "online": 0,
        "under_maintenance": 0,
        "high_usage": 0,
        "unknown": 0,
        "removable": 0,
        "s3_backend": 0,
    }
    remotes = 0
    for cfg, entries in all_resources(call.store):
        if not in_view(call, cfg["id"], None):
            continue
        remotes += 1
        for e in entries:
            if not in_view(call, cfg["id"], e):
                continue
            kind = e["type"]
            if kind in ("pve-qemu", "pve-lxc"):
                counts = guests[kind[4:]]
                if e.get("template"):
                    counts["template"] += 1
                elif e["status"] in ("running", "stopped"):
                    counts[e["status"]] += 1
                else:
                    counts["unknown"] += 1
            elif kind == "pve-node":
                pve_nodes[e["status"] if e["status"] in pve_nodes else "unknown"] += 1
            elif kind == "pbs-node":
                pbs_nodes["online" if e["uptime"] > 0 else "offline"] += 1
            elif kind == "pve-storage":
                storages["available" if e["status"] == "available" else "unknown"] += 1
            elif kind == "pbs-datastore":
                datastores["under_maintenance" if e.get("maintenance") else "online"] += 1
                datastores["high_usage"] += int(e["usage"] > 0.8)
                datastores["removable"] += int(bool(e.get("backing-device")))
                datastores["s3_backend"] += int(e.get("backend-type") == "s3")
    return {
        "remotes": remotes,
        "failed_remotes": 0,
        "pve_nodes": pve_nodes,
        "qemu": guests["qemu"],
        "lxc": guests["lxc"],
        "storages": storages,
        "sdn_zones": {"available": 0, "error": 0, "unknown": 0},
        "pbs_nodes": pbs_nodes,
        "pbs_datastores": datastores,
    }


@handles("GET", "/resources/subscription", ("pdm",))
def resources_subscription(call: Call) -> list[dict[str, Any]]:
    out = []
    for cfg, entries in all_resources(call.store):
        if not in_view(call, cfg["id"], None):
            continue
        nodes = [e for e in entries if e["type"] in ("pve-node", "pbs-node")]
        levels = {}
        for e in nodes:
            name = e.get("node") or e.get("name")
            level = e.get("level", "")
            levels[name] = {"level": level, "status": "active" if level else "notfound"}
        active = [n for n in levels.values() if n["level"]]
        state = "active" if nodes and len(active) == len(levels) else "mixed" if active else "none"
        entry: dict[str, Any] = {"remote": cfg["id"], "state": state}
        if call.args.get("verbose"):
            entry["node-status"] = levels
        out.append(entry)
    return out


def _rrd(value: float, seed: str) -> dict[str, Any]:
    wobble = int(hashlib.sha256(seed.encode()).hexdigest()[:4], 16) / 0xFFFF
    return {
        "start": 0,
        "resolution": 60,
        "data": [round(value * (0.9 + 0.2 * ((i * wobble) % 1)), 4) for i in range(10)],
    }


@handles("GET", "/resources/top-entities", ("pdm",))
def top_entities(call: Call) -> dict[str, Any]:
    guests, nodes = [], []
    for cfg, entries in all_resources(call.store):
        rid = cfg["id"]
        for e in entries:
            if not in_view(call, rid, e):
                continue
            if e["type"] in ("pve-qemu", "pve-lxc") and e["status"] == "running":
                guests.append((rid, e))
            elif e["type"] == "pve-node":
                nodes.append((rid, e))
    top = lambda items, key: sorted(items, key=lambda p: p[1].get(key, 0), reverse=True)[:10]  # noqa: E731
    entity = lambda rid, e, v: {"remote": rid, "resource": e, "rrd-data": _rrd(v, e["id"])}  # noqa: E731
    return {
        "guest-cpu": [entity(rid, e, e["cpu"]) for rid, e in top(guests, "cpu")],
        "node-cpu": [entity(rid, e, e["cpu"]) for rid, e in top(nodes, "cpu")],
        "node-memory": [entity(rid, e, e["mem"] / e["maxmem"] if e["maxmem"] else 0) for rid, e in top(nodes, "mem")],
    }


@handles("GET", "/remotes/metric-collection/status", ("pdm",))
def metric_collection_status(call: Call) -> list[dict[str, Any]]:
    now = int(clock(call.world))
    return [{"remote": r["id"], "last-collection": now - 30} for r in managed(call.store)]
