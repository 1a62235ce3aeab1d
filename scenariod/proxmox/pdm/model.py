"""What PDM knows of its remotes: their configuration, and what each remote has, kept derived."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import TYPE_CHECKING, Any

from ... import generic, wire
from .. import prepares
from ..pbs.model import normalize_snapshot
from ..restserver import (
    GiB,
    fingerprint,
)
from .remote_client import is_live, remote_calls

if TYPE_CHECKING:
    from ...scenario.model import Scenario
    from ...state import StateStore
    from ...world import Call, World


KINDS = ("pve", "pbs")
REMOTE_FIELDS = ("id", "type", "nodes", "authid", "token", "web-url")
GUESTS = ("qemu", "lxc")
DEFAULT_REMOTE_VERSION = {
    "pve": {"version": "9.1.1", "release": "9.1", "repoid": "42db4a6cf"},
    "pbs": {"version": "4.1.0", "release": "4.1", "repoid": "7a3d0c1e"},
}


# --- remotes --------------------------------------------------------------------------------------


def remote_cfg(store: StateStore, rid: str) -> dict[str, Any] | None:
    value = store.get(("remotes", "remote", rid))
    return value if isinstance(value, dict) else None


def managed(store: StateStore, kind: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in store.items("/remotes/remote")
        if isinstance(r, dict) and (kind is None or r.get("type", "pve") == kind)
    ]


def normalize_remote(raw: dict[str, Any], rid: str) -> dict[str, Any]:
    cfg = {k: v for k, v in raw.items() if k in REMOTE_FIELDS and v is not None}
    cfg["id"] = rid
    cfg["type"] = str(cfg.get("type") or "pve")
    nodes = cfg.get("nodes") or []
    if isinstance(nodes, str):
        nodes = [nodes]
    cfg["nodes"] = [n if "hostname=" in n else f"hostname={n}" for n in (str(x) for x in nodes)]
    cfg.setdefault("authid", "root@pam")
    cfg.setdefault("token", "")
    if raw.get("live") is not None:  # the scenario's say on asking it live (remote_client.py); never shown
        cfg["live"] = raw["live"]
    return cfg


def live_remote(store: StateStore, rid: str) -> dict[str, Any] | None:
    """The remote's configuration when PDM asks it live (remote_client.is_live), else None."""
    cfg = remote_cfg(store, rid)
    return cfg if cfg is not None and is_live(cfg) else None


def live_cfg(call: Call) -> dict[str, Any] | None:
    """The path's remote when PDM asks it live; else None, once the objects the path names
    are found in the remote's declared state (a live remote's are found on the remote)."""
    cfg = live_remote(call.store, call.params["remote"])
    if cfg is not None:
        return cfg
    generic.check_ancestors(call.store, call.node, call.segments, call.params)
    return None


def node_host(entry: str) -> str:
    """`hostname=10.0.0.1:8006,fingerprint=...` -> `10.0.0.1`."""
    for part in entry.split(","):
        key, _, value = part.partition("=")
        if key == "hostname":
            host = value
            break
    else:
        host = entry
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def default_node_name(cfg: dict[str, Any] | None, rid: str) -> str:
    for entry in (cfg or {}).get("nodes") or []:
        host = node_host(entry)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host and host != "localhost":
                return host.split(".", 1)[0]
    return rid


def _unset(store: StateStore, path: tuple[str, ...]) -> None:
    """Remove the value at `path` but keep what is stored below it (declared remote data)."""
    if not store.has(path):
        return
    below = [(p, v) for p, v in store.walk(path) if p != "/" + "/".join(path)]
    store.delete(path)
    for p, v in below:
        store.set(p, v)


def sync_managed(store: StateStore) -> None:
    """`/pve/remotes/{id}` and `/pbs/remotes/{id}` exist exactly for the managed remotes."""
    wanted = {(r.get("type", "pve"), r["id"]) for r in managed(store)}
    for kind in KINDS:
        for rid in store.keys((kind, "remotes")):
            if (kind, rid) not in wanted:
                _unset(store, (kind, "remotes", rid))
    for kind, rid in wanted:
        if not store.has((kind, "remotes", rid)):
            store.set((kind, "remotes", rid), {"remote": rid})
        if live_remote(store, rid) is None:  # a live remote's views are its own answers
            build_remote(store, kind, rid)


# --- what a PVE remote has -----------------------------------------------------------------------


def resources_of(store: StateStore, rid: str) -> list[dict[str, Any]]:
    value = store.get(("pve", "remotes", rid, "resources"))
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def normalize_resource(item: dict[str, Any], default_node: str) -> dict[str, Any]:
    """A PVE `/cluster/resources` entry with every field a view needs."""
    kind = str(item.get("type") or ("qemu" if "vmid" in item else "node" if "node" in item else "storage"))
    out = dict(item)
    out["type"] = kind
    if kind in GUESTS:
        vmid = int(item["vmid"])
        running = item.get("status") == "running"
        maxmem = int(item.get("maxmem", 2 * GiB if kind == "qemu" else 512 * 1024**2))
        out.update(
            {
                "id": f"{kind}/{vmid}",
                "vmid": vmid,
                "node": str(item.get("node") or default_node),
                "name": str(item.get("name") or (f"VM {vmid}" if kind == "qemu" else f"CT{vmid}")),
                "status": "running" if running else str(item.get("status") or "stopped"),
                "template": int(bool(item.get("template", 0))),
                "maxcpu": item.get("maxcpu", item.get("cpus", 1)),
                "maxmem": maxmem,
                "maxdisk": int(item.get("maxdisk", 32 * GiB if kind == "qemu" else 8 * GiB)),
                "cpu": float(item.get("cpu", 0.02 if running else 0)),
                "mem": int(item.get("mem", maxmem // 3 if running else 0)),
                "disk": int(item.get("disk", 0)),
                "uptime": int(item.get("uptime", 86400 if running else 0)),
            }
        )
        for key in ("netin", "netout", "diskread", "diskwrite"):
            out[key] = int(item.get(key, 0))
        out.pop("cpus", None)
    elif kind == "node":
        online = item.get("status", "online") == "online"
        out.update(
            {
                "id": f"node/{item['node']}",
                "node": str(item["node"]),
                "status": str(item.get("status", "online")),
                "maxcpu": item.get("maxcpu", 8),
                "maxmem": int(item.get("maxmem", 64 * GiB)),
                "cpu": float(item.get("cpu", 0.05 if online else 0)),
                "mem": int(item.get("mem", 12 * GiB if online else 0)),
                "maxdisk": int(item.get("maxdisk", 100 * GiB)),
                "disk": int(item.get("disk", 14 * GiB)),
                "uptime": int(item.get("uptime", 1209600 if online else 0)),
                "level": str(item.get("level", "")),
                "cgroup-mode": int(item.get("cgroup-mode", 2)),
            }
        )
    elif kind == "storage":
        node = str(item.get("node") or default_node)
        out.update(
            {
                "id": f"storage/{node}/{item['storage']}",
                "node": node,
                "storage": str(item["storage"]),
                "status": str(item.get("status", "available")),
                "plugintype": str(item.get("plugintype", "dir")),
                "content": str(item.get("content", "images,rootdir")),
                "shared": int(item.get("shared", 0) or 0),
                "maxdisk": int(item.get("maxdisk", item.get("total", 500 * GiB))),
                "disk": int(item.get("disk", item.get("used", 120 * GiB))),
            }
        )
        out.pop("total", None)
        out.pop("used", None)
    return out


def build_remote(store: StateStore, kind: str, rid: str) -> None:
    if kind == "pve":
        _build_pve(store, rid)
    else:
        _build_pbs(store, rid)


def _build_pve(store: StateStore, rid: str) -> None:
    cfg = remote_cfg(store, rid)
    declared = resources_of(store, rid)
    by_id: dict[str, dict[str, Any]] = {}
    default_node = next((str(r["node"]) for r in declared if r.get("type") == "node" and r.get("node")), None)
    default_node = default_node or next(iter(store.keys(("pve", "remotes", rid, "nodes"))), None)
    default_node = default_node or default_node_name(cfg, rid)

    def add(item: dict[str, Any]) -> None:
        res = normalize_resource(item, default_node)
        by_id.setdefault(res["id"], res)

    for item in declared:
        add(item)
    for node in store.keys(("pve", "remotes", rid, "nodes")):
        seeded = store.get(("pve", "remotes", rid, "nodes", node))
        add({**(seeded if isinstance(seeded, dict) else {}), "type": "node", "node": node})
        for sid in store.keys(("pve", "remotes", rid, "nodes", node, "storage")):
            st = store.get(("pve", "remotes", rid, "nodes", node, "storage", sid))
            st = st if isinstance(st, dict) else {}
            add(
                {
                    **st,
                    "type": "storage",
                    "storage": sid,
                    "node": node,
                    "plugintype": st.get("type", "dir") if st.get("type") != "storage" else "dir",
                }
            )
    for kind in GUESTS:
        for vmid in store.keys(("pve", "remotes", rid, kind)):
            seeded = store.get(("pve", "remotes", rid, kind, vmid))
            seeded = seeded if isinstance(seeded, dict) else {}
            extra = {"maxcpu": seeded["cpus"]} if "cpus" in seeded else {}
            add({**seeded, **extra, "type": kind, "vmid": int(vmid)})
    nodes = {r["node"] for r in by_id.values() if r["type"] == "node"}
    for res in list(by_id.values()):
        if res["type"] != "node" and res.get("node") and res["node"] not in nodes:
            nodes.add(res["node"])
            add({"type": "node", "node": res["node"]})
    if not nodes:
        add({"type": "node", "node": default_node})
    order = {"node": 0, "qemu": 1, "lxc": 2, "storage": 3}
    resources = sorted(
        by_id.values(),
        key=lambda r: (order.get(r["type"], 9), str(r.get("node", "")), r.get("vmid", 0), str(r.get("storage", ""))),
    )
    store.set(("pve", "remotes", rid, "resources"), resources)
    derive_pve(store, rid)


def guest_item(res: dict[str, Any]) -> dict[str, Any]:
    """A guest as the remote's `/nodes/{node}/qemu|lxc` lists it, from its resource entry."""
    item = {
        "vmid": res["vmid"],
        "name": res["name"],
        "status": res["status"],
        "cpu": res["cpu"],
        "cpus": res["maxcpu"],
        "maxmem": res["maxmem"],
        "mem": res["mem"],
        "maxdisk": res["maxdisk"],
        "disk": res["disk"],
        "uptime": res["uptime"],
        "netin": res["netin"],
        "netout": res["netout"],
        "diskread": res["diskread"],
        "diskwrite": res["diskwrite"],
    }
    if res.get("template"):
        item["template"] = True
    if res.get("tags"):
        item["tags"] = res["tags"] if isinstance(res["tags"], str) else ";".join(res["tags"])
    if res.get("lock"):
        item["lock"] = res["lock"]
    if res["type"] == "qemu" and res["status"] == "running":
        item["pid"] = 10000 + int(res["vmid"]) % 50000
    if res["type"] == "lxc":
        item["maxswap"] = 512 * 1024**2
    return item


def derive_pve(store: StateStore, rid: str) -> None:
    """The per-remote collections (nodes, guests, storages) as the remote's own lists show them."""
    resources = resources_of(store, rid)
    base = ("pve", "remotes", rid)
    wanted: dict[tuple[str, ...], dict[str, Any]] = {}
    for res in resources:
        kind = res["type"]
        if kind == "node":
            item = {k: res[k] for k in ("node", "status", "cpu", "maxcpu", "mem", "maxmem", "uptime", "level")}
            item["ssl_fingerprint"] = fingerprint(0, f"{rid}/{res['node']}").upper()
            wanted[(*base, "nodes", res["node"])] = item
        elif kind in GUESTS:
            wanted[(*base, kind, str(res["vmid"]))] = guest_item(res)
        elif kind == "storage":
            total, used = res["maxdisk"], res["disk"]
            wanted[(*base, "nodes", res["node"], "storage", res["storage"])] = {
                "storage": res["storage"],
                "type": res["plugintype"],
                "content": res["content"],
                "active": res["status"] == "available",
                "enabled": True,
                "shared": bool(res["shared"]),
                "total": total,
                "used": used,
                "avail": total - used,
                "used_fraction": round(used / total, 6) if total else 0.0,
            }
    for kind in GUESTS:
        for vmid in store.keys((*base, kind)):
            if (*base, kind, vmid) not in wanted:
                store.delete((*base, kind, vmid))
    for node in store.keys((*base, "nodes")):
        if (*base, "nodes", node) not in wanted:
            store.delete((*base, "nodes", node))
            continue
        for sid in store.keys((*base, "nodes", node, "storage")):
            if (*base, "nodes", node, "storage", sid) not in wanted:
                store.delete((*base, "nodes", node, "storage", sid))
    for path, item in wanted.items():
        current = store.get(path)
        merged = {**(current if isinstance(current, dict) else {}), **item}
        if current != merged:
            store.set(path, merged)


async def live_resources(call: Call, cfg: dict[str, Any], max_age: float | None = None) -> list[dict[str, Any]]:
    """What a live PVE remote has, from its `/cluster/resources`, in the same terms as a declared one."""
    calls = remote_calls(call.world)
    items = await calls.get(cfg, "/cluster/resources", max_age=max_age)
    default = default_node_name(cfg, cfg["id"])
    return calls.view(
        (cfg["id"], "resources"),
        (items,),
        lambda: [
            normalize_resource(item, str(item.get("node") or default))
            for item in items or ()
            if isinstance(item, dict) and item.get("type") in ("node", *GUESTS, "storage")
        ],
    )


async def live_guest(call: Call, cfg: dict[str, Any], kind: str) -> dict[str, Any]:
    """A live remote's guest (its resource entry): where it runs, what it is."""
    vmid = int(call.params["vmid"])
    for res in await live_resources(call, cfg):
        if res["type"] == kind and res["vmid"] == vmid:
            return res
    raise wire.ApiError(500, wire.pdm_guest_missing(cfg["id"], vmid))


def _build_pbs(store: StateStore, rid: str) -> None:
    base = ("pbs", "remotes", rid)
    for ds in store.keys((*base, "datastore")):
        item = store.get((*base, "datastore", ds))
        item = dict(item) if isinstance(item, dict) else {}
        item.update({"datastore": ds, "name": ds})
        item.setdefault("path", f"/mnt/datastore/{ds}")
        store.set((*base, "datastore", ds), item)
    host = pbs_host(store, rid)
    for ds in store.keys((*base, "datastore")):
        snaps = store.get((*base, "datastore", ds, "snapshots"))
        if isinstance(snaps, list):
            store.set(
                (*base, "datastore", ds, "snapshots"),
                [_without_store(normalize_snapshot({**s, "store": ds}, 0, host)) for s in snaps if isinstance(s, dict)],
            )
    for name in dict.fromkeys((host, "localhost")):
        if not store.has((*base, "nodes", name)):
            store.set((*base, "nodes", name), {"node": name})


def _without_store(snap: dict[str, Any]) -> dict[str, Any]:
    snap.pop("store", None)
    return snap


def pbs_host(store: StateStore, rid: str) -> str:
    status = store.get(("pbs", "remotes", rid, "status"))
    if isinstance(status, dict) and status.get("hostname"):
        return str(status["hostname"])
    return default_node_name(remote_cfg(store, rid), rid)


def pbs_datastores(store: StateStore, rid: str) -> list[dict[str, Any]]:
    return [d for d in store.items(("pbs", "remotes", rid, "datastore")) if isinstance(d, dict)]


def datastore_usage(item: dict[str, Any], rid: str) -> tuple[int, int]:
    total = int(item.get("total", 4 * 1024 * GiB))
    digest = int(hashlib.sha256(f"{rid}/{item.get('name')}".encode()).hexdigest()[:4], 16) / 0xFFFF
    used = int(item.get("used", total * (0.2 + 0.4 * digest)))
    return total, used


def pbs_node(store: StateStore, rid: str) -> dict[str, Any]:
    status = store.get(("pbs", "remotes", rid, "status"))
    status = status if isinstance(status, dict) else {}
    memory = status.get("memory") or {}
    return {
        "name": pbs_host(store, rid),
        "cpu": float(status.get("cpu", 0.04)),
        "maxcpu": float((status.get("cpuinfo") or {}).get("cpus", 8)),
        "mem": int(memory.get("used", 3 * GiB)),
        "maxmem": int(memory.get("total", 16 * GiB)),
        "uptime": int(status.get("uptime", 1209600)),
    }


@prepares("pdm")
def prepare_pdm(world: World, scenario: Scenario) -> None:
    store = world.store
    for rid in store.keys("/remotes/remote"):
        store.set(("remotes", "remote", rid), normalize_remote(store.get(("remotes", "remote", rid)), rid))
    sync_managed(store)


def remote_version_of(store: StateStore, rid: str) -> dict[str, Any]:
    stored = store.get(("remotes", "remote", rid, "version"))
    if isinstance(stored, dict):
        return stored
    return DEFAULT_REMOTE_VERSION[(remote_cfg(store, rid) or {}).get("type", "pve")]


def remote_type(call: Call) -> str:
    return "pve" if call.node.path.startswith("/pve/") else "pbs"
