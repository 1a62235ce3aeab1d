"""PDM's views over all managed remotes: resource lists, status counts, subscriptions, top entities."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ... import wire
from ...clock import clock
from .. import handles
from ..rest_privileges import allowed
from ..restserver import (
    truthy,
)
from .model import GUESTS, datastore_usage, live_resources, managed, pbs_datastores, pbs_node, resources_of
from .pve_remotes import pve_resource_view
from .remote_client import RemoteError, is_live, remote_calls

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


# (remote config, its PDM Resource entries, the error that kept them from PDM or None)
Row = tuple[dict[str, Any], list[dict[str, Any]], str | None]
T = TypeVar("T")


def _pve_entries(rid: str, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    entries = []
    for res in resources:
        view = pve_resource_view(rid, res)
        view["type"] = _PDM_TYPES.get(res["type"], f"pve-{res['type']}")
        entries.append(view)
    return entries


def _declared_row(store: StateStore, cfg: dict[str, Any]) -> Row:
    rid = cfg["id"]
    if cfg.get("type", "pve") == "pve":
        return cfg, _pve_entries(rid, resources_of(store, rid)), None
    return cfg, _pbs_resource_views(store, rid), None


async def _live_pbs_entries(call: Call, cfg: dict[str, Any], max_age: float | None) -> list[dict[str, Any]]:
    """A live PBS as PDM lists it: its node status, then each datastore's usage with its config."""
    ask, rid = remote_calls(call.world), cfg["id"]
    status, configs, usage = await asyncio.gather(
        ask.get(cfg, "/nodes/localhost/status", max_age=max_age),
        ask.get(cfg, "/config/datastore", max_age=max_age),
        ask.get(cfg, "/status/datastore-usage", max_age=max_age),
    )
    return ask.view((rid, "pbs-entries"), (status, configs, usage), lambda: _pbs_entries(rid, status, configs, usage))


def _pbs_entries(rid: str, status: dict[str, Any], configs: Any, usage: Any) -> list[dict[str, Any]]:
    memory = status.get("memory") or {}
    out: list[dict[str, Any]] = [
        {
            "type": "pbs-node",
            "id": f"remote/{rid}/node/localhost",  # PBS has no API for its node name: PDM says localhost
            "name": "localhost",
            "cpu": float(status.get("cpu") or 0),
            "maxcpu": float((status.get("cpuinfo") or {}).get("cpus") or 0),
            "mem": int(memory.get("used") or 0),
            "maxmem": int(memory.get("total") or 0),
            "uptime": int(status.get("uptime") or 0),
        }
    ]
    by_name = {str(c.get("name")): c for c in configs or () if isinstance(c, dict)}
    for item in usage or ():
        total, used = int(item.get("total") or 0), int(item.get("used") or 0)
        store_cfg = by_name.get(str(item.get("store")), {})
        entry: dict[str, Any] = {
            "type": "pbs-datastore",
            "id": f"remote/{rid}/datastore/{item.get('store')}",
            "name": item.get("store"),
            "maxdisk": total,
            "disk": used,
            "usage": used / total if total else 0.0,
        }
        if "type=s3" in str(store_cfg.get("backend") or ""):
            entry["backend-type"] = "s3"
        if store_cfg.get("maintenance-mode"):
            entry["maintenance"] = store_cfg["maintenance-mode"]
        if store_cfg.get("backing-device"):
            entry["backing-device"] = store_cfg["backing-device"]
        out.append(entry)
    return out


async def _live_row(call: Call, cfg: dict[str, Any], max_age: float | None) -> Row:
    try:
        if cfg.get("type", "pve") == "pve":
            resources = await live_resources(call, cfg, max_age)
            entries = remote_calls(call.world).view(
                (cfg["id"], "entries"), (resources,), lambda: _pve_entries(cfg["id"], resources)
            )
            return cfg, entries, None
        return cfg, await _live_pbs_entries(call, cfg, max_age), None
    except RemoteError as err:  # PDM lists the remote with the root cause and no resources
        return cfg, [], err.cause
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # answers not of the remote's shape
        return cfg, [], wire.pdm_bad_api(f"{type(exc).__name__}: {exc}")


def over_remotes(call: Call, build: Callable[[Call, list[Row]], T]) -> T | Awaitable[T]:
    """`build`'s answer over a Row per managed remote; live remotes are asked all at once (a
    coroutine then, for the pipeline to await), each within its own timeout. Only the remotes
    the caller may audit (Resource.Audit on /resource/REMOTE) count, as in every PDM view."""
    cfgs = audited(call, managed(call.store))
    if not any(is_live(cfg) for cfg in cfgs):
        return build(call, [_declared_row(call.store, cfg) for cfg in cfgs])
    return _over_live(call, cfgs, build)


async def _over_live(call: Call, cfgs: list[dict[str, Any]], build: Callable[[Call, list[Row]], T]) -> T:
    max_age = call.args.get("max-age")
    max_age = float(max_age) if max_age is not None else None

    async def row(cfg: dict[str, Any]) -> Row:
        return await _live_row(call, cfg, max_age) if is_live(cfg) else _declared_row(call.store, cfg)

    return build(call, list(await asyncio.gather(*(row(cfg) for cfg in cfgs))))


def audited(call: Call, cfgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The remotes the caller may see."""
    return [cfg for cfg in cfgs if allowed(call, f"/resource/{cfg['id']}", "Resource.Audit")]


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
def resources_list(call: Call) -> Any:
    return over_remotes(call, _encoded_list)


def _encoded_list(call: Call, rows: list[Row]) -> Any:
    """The list, encoded once for as long as every remote's entries are the ones kept."""
    if not any(is_live(cfg) for cfg, _entries, _error in rows):
        return _list(call, rows)
    name = ("/resources/list", call.store.generation, tuple(sorted((k, str(v)) for k, v in call.args.items())))
    return remote_calls(call.world).view(
        name, tuple(entries for _cfg, entries, _error in rows), lambda: wire.Encoded(_list(call, rows))
    )


def _list(call: Call, rows: list[Row]) -> list[dict[str, Any]]:
    wanted = call.args.get("resource-type")
    search = str(call.args.get("search") or "")
    filtered = bool(wanted or search or call.args.get("view"))
    out = []
    for cfg, entries, error in rows:
        rid = cfg["id"]
        if not in_view(call, rid, None):
            continue
        if error is not None:
            out.append({"remote": rid, "error": error})
            continue
        chosen = (
            [
                e
                for e in entries
                if (not wanted or _RESOURCE_TYPE.get(e["type"]) == wanted)
                and (not search or _search_ok(search, rid, e))
                and in_view(call, rid, e)
            ]
            if filtered
            else entries  # the whole list: nothing to look at entry by entry
        )
        entry: dict[str, Any] = {"remote": rid}
        if chosen:  # PDM leaves an empty list out
            entry["resources"] = chosen
        out.append(entry)
    return out


@handles("GET", "/resources/status", ("pdm",))
def resources_status(call: Call) -> Any:
    return over_remotes(call, _status)


def _status(call: Call, rows: list[Row]) -> dict[str, Any]:
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
    failed: list[dict[str, Any]] = []
    for cfg, entries, error in rows:
        if not in_view(call, cfg["id"], None):
            continue
        if error is not None:
            failed.append({"name": cfg["id"], "error": error, "remote_type": cfg.get("type", "pve")})
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
    status: dict[str, Any] = {
        "remotes": remotes,
        "failed_remotes": len(failed),
        "pve_nodes": pve_nodes,
        "qemu": guests["qemu"],
        "lxc": guests["lxc"],
        "storages": storages,
        "sdn_zones": {"available": 0, "error": 0, "unknown": 0},
        "pbs_nodes": pbs_nodes,
        "pbs_datastores": datastores,
    }
    if failed:
        status["failed_remotes_list"] = failed
    return status


@handles("GET", "/resources/subscription", ("pdm",))
def resources_subscription(call: Call) -> Any:
    return over_remotes(call, _subscription)


def _subscription(call: Call, rows: list[Row]) -> list[dict[str, Any]]:
    out = []
    for cfg, entries, _error in rows:
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
def top_entities(call: Call) -> Any:
    return over_remotes(call, _top)


def _top(call: Call, rows: list[Row]) -> dict[str, Any]:
    guests, nodes = [], []
    for cfg, entries, _error in rows:
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


@handles("GET", "/config/views", ("pdm",))
def list_views(call: Call) -> list[dict[str, Any]]:
    """The views the caller may audit (Resource.Audit on /view/ID)."""
    return [
        v
        for v in call.store.items(call.segments)
        if isinstance(v, dict) and allowed(call, f"/view/{v.get('id')}", "Resource.Audit")
    ]
