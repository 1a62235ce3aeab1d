"""Proxmox Datacenter Manager behaviours: the remotes it manages and the views it builds over them.

A real PDM asks its remotes; the mock reads what the scenario declares each remote has:

- `/remotes/remote`: the managed remotes (`id`, `type` pve|pbs, `nodes`, `authid`, `token`).
  Adding one through the API (POST) makes it managed; deleting it forgets it (its declared
  data stays, so adding it again shows the same resources).
- `/pve/remotes/{id}/resources`: what a PVE remote has, as PVE's `/cluster/resources` lists
  it (entries of type node, qemu, lxc, storage with node, vmid, name, status, cpu, maxmem...).
  Items seeded at `/pve/remotes/{id}/nodes`, `/qemu`, `/lxc` and
  `/nodes/{node}/storage` are merged in, so either spelling works. Every per-remote view
  (nodes, guests, guest status and config, cluster status, storage) is derived from it, and
  guest operations (start, stop, shutdown, migrate, ...) run as tasks on the remote (UPIDs
  `REMOTE!UPID:...` in the remote's own format) whose effects change it.
- `/pbs/remotes/{id}/datastore`: what a PBS remote has (items keyed by `datastore`, with
  optional `total`/`used` bytes), its snapshots at `.../datastore/{ds}/snapshots` and its
  node at `/pbs/remotes/{id}/status`.
- `/resources/list`, `/resources/status`, `/resources/subscription`,
  `/resources/top-entities` and `/remotes/tasks/...` are computed over the managed remotes.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import generic, wire
from ..tasks import TaskRequest
from . import handles, pbs, prepares
from .pbs import _truthy

if TYPE_CHECKING:
    from ..scenario.model import Scenario
    from ..state import StateStore
    from ..tasks import Task
    from ..world import Call, World

GiB = 1024**3
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
    return cfg


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


def _default_node_name(cfg: dict[str, Any] | None, rid: str) -> str:
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
        build_remote(store, kind, rid)


# --- what a PVE remote has -----------------------------------------------------------------------


def _resources(store: StateStore, rid: str) -> list[dict[str, Any]]:
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
    declared = _resources(store, rid)
    by_id: dict[str, dict[str, Any]] = {}
    default_node = next((str(r["node"]) for r in declared if r.get("type") == "node" and r.get("node")), None)
    default_node = default_node or next(iter(store.keys(("pve", "remotes", rid, "nodes"))), None)
    default_node = default_node or _default_node_name(cfg, rid)

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


def derive_pve(store: StateStore, rid: str) -> None:
    """The per-remote collections (nodes, guests, storages) as the remote's own lists show them."""
    resources = _resources(store, rid)
    base = ("pve", "remotes", rid)
    wanted: dict[tuple[str, ...], dict[str, Any]] = {}
    for res in resources:
        kind = res["type"]
        if kind == "node":
            item = {k: res[k] for k in ("node", "status", "cpu", "maxcpu", "mem", "maxmem", "uptime", "level")}
            item["ssl_fingerprint"] = pbs.fingerprint(0, f"{rid}/{res['node']}").upper()
            wanted[(*base, "nodes", res["node"])] = item
        elif kind in GUESTS:
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
            if kind == "qemu" and res["status"] == "running":
                item["pid"] = 10000 + int(res["vmid"]) % 50000
            if kind == "lxc":
                item["maxswap"] = 512 * 1024**2
            wanted[(*base, kind, str(res["vmid"]))] = item
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


def _build_pbs(store: StateStore, rid: str) -> None:
    base = ("pbs", "remotes", rid)
    for ds in store.keys((*base, "datastore")):
        item = store.get((*base, "datastore", ds))
        item = dict(item) if isinstance(item, dict) else {}
        item.update({"datastore": ds, "name": ds})
        item.setdefault("path", f"/mnt/datastore/{ds}")
        store.set((*base, "datastore", ds), item)
    host = _pbs_host(store, rid)
    for ds in store.keys((*base, "datastore")):
        snaps = store.get((*base, "datastore", ds, "snapshots"))
        if isinstance(snaps, list):
            store.set(
                (*base, "datastore", ds, "snapshots"),
                [
                    _without_store(pbs.normalize_snapshot({**s, "store": ds}, 0, host))
                    for s in snaps
                    if isinstance(s, dict)
                ],
            )
    for name in dict.fromkeys((host, "localhost")):
        if not store.has((*base, "nodes", name)):
            store.set((*base, "nodes", name), {"node": name})


def _without_store(snap: dict[str, Any]) -> dict[str, Any]:
    snap.pop("store", None)
    return snap


def _pbs_host(store: StateStore, rid: str) -> str:
    status = store.get(("pbs", "remotes", rid, "status"))
    if isinstance(status, dict) and status.get("hostname"):
        return str(status["hostname"])
    return _default_node_name(remote_cfg(store, rid), rid)


def _pbs_datastores(store: StateStore, rid: str) -> list[dict[str, Any]]:
    return [d for d in store.items(("pbs", "remotes", rid, "datastore")) if isinstance(d, dict)]


def _datastore_usage(item: dict[str, Any], rid: str) -> tuple[int, int]:
    total = int(item.get("total", 4 * 1024 * GiB))
    digest = int(hashlib.sha256(f"{rid}/{item.get('name')}".encode()).hexdigest()[:4], 16) / 0xFFFF
    used = int(item.get("used", total * (0.2 + 0.4 * digest)))
    return total, used


def _pbs_node(store: StateStore, rid: str) -> dict[str, Any]:
    status = store.get(("pbs", "remotes", rid, "status"))
    status = status if isinstance(status, dict) else {}
    memory = status.get("memory") or {}
    return {
        "name": _pbs_host(store, rid),
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


# --- remote configuration --------------------------------------------------------------------------


def _public(cfg: dict[str, Any]) -> dict[str, Any]:
    """A remote as PDM shows it: the token secret is never sent back."""
    return {**{k: v for k, v in cfg.items() if k in REMOTE_FIELDS}, "token": ""}


@handles("GET", "/remotes/remote", ("pdm",))
def list_remotes(call: Call) -> list[dict[str, Any]]:
    return [_public(r) for r in managed(call.store)]


@handles("POST", "/remotes/remote", ("pdm",))
def add_remote(call: Call) -> None:
    rid = str(call.args["id"])
    if remote_cfg(call.store, rid) is not None:
        raise wire.parameter_error({"id": wire.pdm_remote_exists(rid)})
    cfg = normalize_remote(call.args, rid)
    call.store.set(("remotes", "remote", rid), cfg)
    sync_managed(call.store)
    return None


@handles("PUT", "/remotes/remote/{id}", ("pdm",))
def update_remote(call: Call) -> None:
    rid = call.params["id"]
    cfg = dict(remote_cfg(call.store, rid) or {})
    deleted = call.args.get("delete") or []
    for key in [deleted] if isinstance(deleted, str) else deleted:
        if key in ("web-url",):
            cfg.pop(key, None)
    for key, value in call.args.items():
        if key in REMOTE_FIELDS and key not in ("id", "type"):
            cfg[key] = value
    call.store.set(("remotes", "remote", rid), normalize_remote(cfg, rid))
    sync_managed(call.store)
    return None


@handles("DELETE", "/remotes/remote/{id}", ("pdm",))
def remove_remote(call: Call) -> None:
    call.store.delete(("remotes", "remote", call.params["id"]))
    sync_managed(call.store)
    return None


@handles("GET", "/remotes/remote/{id}/config", ("pdm",))
def remote_config(call: Call) -> dict[str, Any]:
    return _public(remote_cfg(call.store, call.params["id"]) or {})


@handles("GET", "/remotes/remote/{id}/version", ("pdm",))
def remote_version(call: Call) -> dict[str, Any]:
    rid = call.params["id"]
    stored = call.store.get(("remotes", "remote", rid, "version"))
    if isinstance(stored, dict):
        return stored
    return dict(DEFAULT_REMOTE_VERSION[(remote_cfg(call.store, rid) or {}).get("type", "pve")])


@handles("GET", "/pve/remotes", ("pdm",))
def pve_remotes(call: Call) -> list[dict[str, Any]]:
    return [{"remote": r["id"]} for r in managed(call.store, "pve")]


@handles("GET", "/pbs/remotes", ("pdm",))
def pbs_remotes(call: Call) -> list[dict[str, Any]]:
    return [{"remote": r["id"]} for r in managed(call.store, "pbs")]


# --- PVE remote views ------------------------------------------------------------------------------

_KIND_FILTER = {"vm": ("qemu", "lxc"), "storage": ("storage",), "node": ("node",), "sdn": ("sdn", "network")}


def _global_id(rid: str, res: dict[str, Any]) -> str:
    kind = res["type"]
    if kind in GUESTS:
        return f"remote/{rid}/guest/{res['vmid']}"
    if kind == "node":
        return f"remote/{rid}/node/{res['node']}"
    if kind == "storage":
        return f"remote/{rid}/storage/{res['node']}/{res['storage']}"
    return f"remote/{rid}/{res.get('id', kind)}"


def pve_resource_view(rid: str, res: dict[str, Any]) -> dict[str, Any]:
    """A PDM PveResource (tagged with `type`: qemu, lxc, node, storage)."""
    kind = res["type"]
    gid = _global_id(rid, res)
    if kind in GUESTS:
        out = {
            "type": kind,
            "id": gid,
            "vmid": res["vmid"],
            "node": res["node"],
            "name": res["name"],
            "status": res["status"],
            "cpu": float(res["cpu"]),
            "maxcpu": float(res["maxcpu"]),
            "mem": res["mem"],
            "maxmem": res["maxmem"],
            "disk": res["disk"],
            "maxdisk": res["maxdisk"],
            "uptime": res["uptime"],
            "template": bool(res.get("template")),
            "pool": str(res.get("pool") or ""),
        }
        tags = res.get("tags")
        if tags:
            out["tags"] = tags if isinstance(tags, list) else [t for t in str(tags).replace(",", ";").split(";") if t]
        return out
    if kind == "node":
        return {
            "type": "node",
            "id": gid,
            "node": res["node"],
            "status": res["status"],
            "cpu": float(res["cpu"]),
            "maxcpu": float(res["maxcpu"]),
            "mem": res["mem"],
            "maxmem": res["maxmem"],
            "uptime": res["uptime"],
            "level": res.get("level", ""),
            "cgroup-mode": res.get("cgroup-mode", 2),
        }
    if kind == "storage":
        return {
            "type": "storage",
            "id": gid,
            "storage": res["storage"],
            "node": res["node"],
            "status": res["status"],
            "disk": res["disk"],
            "maxdisk": res["maxdisk"],
        }
    return {**res, "id": gid}


@handles("GET", "/pve/remotes/{remote}/resources", ("pdm",))
def remote_resources(call: Call) -> list[dict[str, Any]]:
    rid = call.params["remote"]
    kinds = _KIND_FILTER.get(str(call.args.get("kind") or ""), None)
    return [pve_resource_view(rid, r) for r in _resources(call.store, rid) if kinds is None or r["type"] in kinds]


def _guests(call: Call, kind: str) -> list[dict[str, Any]]:
    rid = call.params["remote"]
    node = call.args.get("node")
    out = []
    for res in _resources(call.store, rid):
        if res["type"] != kind or node and res["node"] != node:
            continue
        item = call.store.get(("pve", "remotes", rid, kind, str(res["vmid"])))
        if isinstance(item, dict):
            out.append(item)
    return out


@handles("GET", "/pve/remotes/{remote}/qemu", ("pdm",))
def remote_qemu(call: Call) -> list[dict[str, Any]]:
    return _guests(call, "qemu")


@handles("GET", "/pve/remotes/{remote}/lxc", ("pdm",))
def remote_lxc(call: Call) -> list[dict[str, Any]]:
    return _guests(call, "lxc")


def _guest(call: Call, kind: str) -> dict[str, Any]:
    rid, vmid = call.params["remote"], int(call.params["vmid"])
    for res in _resources(call.store, rid):
        if res["type"] == kind and res["vmid"] == vmid:
            node = call.args.get("node")
            if node and node != res["node"]:
                raise wire.guest_config_missing(node, vmid, kind)
            return res
    raise wire.ApiError(500, wire.pdm_guest_missing(rid, vmid))


def _guest_status(call: Call, kind: str) -> dict[str, Any]:
    res = _guest(call, kind)
    running = res["status"] == "running"
    out: dict[str, Any] = {
        "vmid": res["vmid"],
        "name": res["name"],
        "status": res["status"],
        "cpu": res["cpu"],
        "cpus": res["maxcpu"],
        "mem": res["mem"],
        "maxmem": res["maxmem"],
        "disk": res["disk"],
        "maxdisk": res["maxdisk"],
        "uptime": res["uptime"],
        "netin": res["netin"],
        "netout": res["netout"],
        "diskread": res["diskread"],
        "diskwrite": res["diskwrite"],
        "ha": {"managed": 0},
    }
    if kind == "qemu":
        out["qmpstatus"] = res["status"]
        out["agent"] = False
        if running:
            out["pid"] = 10000 + res["vmid"] % 50000
            out["running-machine"] = "pc-q35-10.0+pve1"
            out["running-qemu"] = "10.0.2"
    else:
        out["type"] = "lxc"
        out["maxswap"] = 512 * 1024**2
    if res.get("template"):
        out["template"] = True
    if res.get("lock"):
        out["lock"] = res["lock"]
    return out


@handles("GET", "/pve/remotes/{remote}/qemu/{vmid}/status", ("pdm",))
def remote_qemu_status(call: Call) -> dict[str, Any]:
    return _guest_status(call, "qemu")


@handles("GET", "/pve/remotes/{remote}/lxc/{vmid}/status", ("pdm",))
def remote_lxc_status(call: Call) -> dict[str, Any]:
    return _guest_status(call, "lxc")


def _guest_config(call: Call, kind: str) -> dict[str, Any]:
    res = _guest(call, kind)
    stored = call.store.get(("pve", "remotes", call.params["remote"], kind, str(res["vmid"]), "config"))
    if isinstance(stored, dict):
        cfg = dict(stored)
    elif kind == "qemu":
        cfg = {
            "name": res["name"],
            "cores": int(res["maxcpu"]),
            "sockets": 1,
            "memory": str(res["maxmem"] // 1024**2),
            "ostype": "l26",
            "scsihw": "virtio-scsi-single",
            "boot": "order=scsi0;net0",
            "scsi0": f"local-lvm:vm-{res['vmid']}-disk-0,size={max(res['maxdisk'] // GiB, 1)}G",
            "net0": f"virtio=BC:24:11:{res['vmid'] // 256 % 256:02X}:{res['vmid'] % 256:02X}:01,bridge=vmbr0",
        }
    else:
        cfg = {
            "hostname": res["name"],
            "cores": int(res["maxcpu"]),
            "memory": res["maxmem"] // 1024**2,
            "swap": 512,
            "ostype": "debian",
            "arch": "amd64",
            "rootfs": f"local-lvm:vm-{res['vmid']}-disk-0,size={max(res['maxdisk'] // GiB, 1)}G",
            "net0": "name=eth0,bridge=vmbr0,ip=dhcp",
        }
    if res.get("template"):
        cfg["template"] = True
    cfg["digest"] = generic.digest_of(cfg, "pve")  # the remote PVE's file: its SHA-1
    return cfg


@handles("GET", "/pve/remotes/{remote}/qemu/{vmid}/config", ("pdm",))
def remote_qemu_config(call: Call) -> dict[str, Any]:
    return _guest_config(call, "qemu")


@handles("GET", "/pve/remotes/{remote}/lxc/{vmid}/config", ("pdm",))
def remote_lxc_config(call: Call) -> dict[str, Any]:
    return _guest_config(call, "lxc")


@handles("GET", "/pve/remotes/{remote}/cluster-status", ("pdm",))
def remote_cluster_status(call: Call) -> list[dict[str, Any]]:
    rid = call.params["remote"]
    stored = call.store.get(("pve", "remotes", rid, "cluster-status"))
    if isinstance(stored, list):
        return stored
    nodes = [r for r in _resources(call.store, rid) if r["type"] == "node"]
    out: list[dict[str, Any]] = []
    if len(nodes) > 1:
        online = sum(1 for n in nodes if n["status"] == "online")
        out.append(
            {
                "type": "cluster",
                "id": "cluster",
                "name": rid,
                "nodes": len(nodes),
                "quorate": online * 2 > len(nodes),
                "version": len(nodes) + 1,
            }
        )
    for i, node in enumerate(nodes):
        out.append(
            {
                "type": "node",
                "id": f"node/{node['node']}",
                "name": node["node"],
                "nodeid": i + 1,
                "online": node["status"] == "online",
                "local": i == 0,
                "level": node.get("level", ""),
                "ip": f"192.0.2.{10 + i}",
            }
        )
    return out


@handles("GET", "/pve/remotes/{remote}/nodes/{node}/status", ("pdm",))
def remote_node_status(call: Call) -> dict[str, Any]:
    rid, name = call.params["remote"], call.params["node"]
    stored = call.store.get(("pve", "remotes", rid, "nodes", name, "status"))
    if isinstance(stored, dict):
        return stored
    node = next((r for r in _resources(call.store, rid) if r["type"] == "node" and r["node"] == name), None)
    if node is None or node["status"] != "online":
        raise wire.ApiError(595, "no route to host")
    version = remote_version_of(call.store, rid)
    maxmem, mem, cpus = node["maxmem"], node["mem"], int(node["maxcpu"])
    return {
        "uptime": node["uptime"],
        "cpu": node["cpu"],
        "wait": 0.0,
        "idle": 0,
        "loadavg": ["0.21", "0.18", "0.15"],
        "cpuinfo": {
            "cpus": cpus,
            "cores": max(cpus // 2, 1),
            "sockets": 1,
            "model": "AMD EPYC 7302P 16-Core Processor",
            "mhz": "3000.000",
            "hvm": "1",
            "flags": "fpu vme de pse",
            "user_hz": 100,
        },
        "memory": {"total": maxmem, "used": mem, "free": maxmem - mem, "available": maxmem - mem},
        "swap": {"total": 8 * GiB, "used": 0, "free": 8 * GiB},
        "rootfs": {
            "total": node["maxdisk"],
            "used": node["disk"],
            "free": node["maxdisk"] - node["disk"],
            "avail": node["maxdisk"] - node["disk"],
        },
        "ksm": {"shared": 0},
        "kversion": f"Linux {pbs.KERNEL['release']} {pbs.KERNEL['version']}",
        "pveversion": f"pve-manager/{version['version']}/{version['repoid']}",
        "current-kernel": dict(pbs.KERNEL),
        "boot-info": {"mode": "efi", "secureboot": 0},
    }


def remote_version_of(store: StateStore, rid: str) -> dict[str, Any]:
    stored = store.get(("remotes", "remote", rid, "version"))
    if isinstance(stored, dict):
        return stored
    return DEFAULT_REMOTE_VERSION[(remote_cfg(store, rid) or {}).get("type", "pve")]


# --- PBS remote views ------------------------------------------------------------------------------


@handles("GET", "/pbs/remotes/{remote}/datastore", ("pdm",))
def remote_datastores(call: Call) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in d.items() if k not in ("datastore", "total", "used")}
        for d in _pbs_datastores(call.store, call.params["remote"])
    ]


@handles("GET", "/pbs/remotes/{remote}/datastore/{datastore}/snapshots", ("pdm",))
def remote_snapshots(call: Call) -> list[dict[str, Any]]:
    snaps = call.store.get(
        ("pbs", "remotes", call.params["remote"], "datastore", call.params["datastore"], "snapshots")
    )
    ns = str(call.args.get("ns") or "")
    return [
        pbs.snapshot_view(s)
        for s in (snaps if isinstance(snaps, list) else [])
        if isinstance(s, dict) and str(s.get("ns") or "") == ns
    ]


@handles("GET", "/pbs/remotes/{remote}/datastore/{datastore}/namespaces", ("pdm",))
def remote_namespaces(call: Call) -> list[dict[str, Any]]:
    snaps = call.store.get(
        ("pbs", "remotes", call.params["remote"], "datastore", call.params["datastore"], "snapshots")
    )
    found = {""} | {
        str(s.get("ns")) for s in (snaps if isinstance(snaps, list) else []) if isinstance(s, dict) and s.get("ns")
    }
    return [{"ns": ns} for ns in sorted(found)]


@handles("GET", "/pbs/remotes/{remote}/status", ("pdm",))
def remote_pbs_status(call: Call) -> dict[str, Any]:
    rid = call.params["remote"]
    stored = call.store.get(("pbs", "remotes", rid, "status"))
    node = _pbs_node(call.store, rid)
    out = {
        "uptime": node["uptime"],
        "cpu": node["cpu"],
        "wait": 0.0,
        "loadavg": [0.08, 0.07, 0.05],
        "cpuinfo": {"cpus": int(node["maxcpu"]), "sockets": 1, "model": "Intel(R) Xeon(R) E-2336 CPU @ 2.90GHz"},
        "memory": {"total": node["maxmem"], "used": node["mem"], "free": node["maxmem"] - node["mem"]},
        "swap": {"total": 8 * GiB, "used": 0, "free": 8 * GiB},
        "root": {"total": 64 * GiB, "used": 9 * GiB, "avail": 55 * GiB},
        "kversion": f"Linux {pbs.KERNEL['release']} {pbs.KERNEL['version']}",
        "current-kernel": dict(pbs.KERNEL),
        "boot-info": {"mode": "efi", "secureboot": False},
        "info": {"fingerprint": pbs.fingerprint(0, f"{rid}/{node['name']}")},
    }
    if isinstance(stored, dict):
        out.update({k: v for k, v in stored.items() if k != "hostname"})
    return out


# --- remote tasks ------------------------------------------------------------------------------------


def remote_tasks(call: Call, rid: str | None = None) -> list[Task]:
    return [t for t in call.world.tasks if t.remote is not None and (rid is None or t.remote == rid)]


def _remote_task(call: Call) -> Task:
    rid, upid = call.params["remote"], call.params["upid"]
    key = upid if upid.startswith(f"{rid}!") else f"{rid}!{upid}"
    task = call.world.tasks.get(key)
    if task is None:
        raise wire.ApiError(400, wire.rest_task_missing(upid))
    return task


def pve_task_entry(task: Task) -> dict[str, Any]:
    out: dict[str, Any] = {
        "upid": task.upid,
        "node": task.node,
        "pid": task.pid,
        "pstart": task.pstart,
        "starttime": task.starttime,
        "type": task.type,
        "id": task.id,
        "user": task.user,
    }
    if not task.running:
        out["status"] = task.exitstatus
        out["endtime"] = task.endtime
    return out


def pve_task_status(task: Task) -> dict[str, Any]:
    out = {
        "upid": task.upid,
        "node": task.node,
        "pid": task.pid,
        "pstart": task.pstart,
        "starttime": task.starttime,
        "type": task.type,
        "id": task.id,
        "user": task.user,
        "status": "running" if task.running else "stopped",
    }
    if not task.running:
        out["exitstatus"] = task.exitstatus
    return out


def _remote_type(call: Call) -> str:
    return "pve" if call.node.path.startswith("/pve/") else "pbs"


@handles("GET", "/pve/remotes/{remote}/tasks", ("pdm",))
@handles("GET", "/pbs/remotes/{remote}/tasks", ("pdm",))
def list_remote_tasks(call: Call) -> list[dict[str, Any]]:
    tasks = remote_tasks(call, call.params["remote"])
    node = call.args.get("node")
    if node:
        tasks = [t for t in tasks if t.node == node]
    if _remote_type(call) == "pve":
        return [pve_task_entry(t) for t in tasks]
    return [pbs.task_list_entry(t) for t in tasks]


@handles("GET", "/pve/remotes/{remote}/tasks/{upid}", ("pdm",), finds_own_objects=True)
@handles("GET", "/pbs/remotes/{remote}/tasks/{upid}", ("pdm",), finds_own_objects=True)
def remote_task_index(call: Call) -> list[dict[str, str]]:
    _remote_task(call)
    return [{"subdir": "log"}, {"subdir": "status"}]


@handles("GET", "/pve/remotes/{remote}/tasks/{upid}/status", ("pdm",), finds_own_objects=True)
@handles("GET", "/pbs/remotes/{remote}/tasks/{upid}/status", ("pdm",), finds_own_objects=True)
def remote_task_status(call: Call) -> dict[str, Any]:
    task = _remote_task(call)
    return pve_task_status(task) if _remote_type(call) == "pve" else pbs.task_status(task)


@handles("GET", "/pve/remotes/{remote}/tasks/{upid}/log", ("pdm",), finds_own_objects=True)
@handles("GET", "/pbs/remotes/{remote}/tasks/{upid}/log", ("pdm",), finds_own_objects=True)
def remote_task_log(call: Call) -> wire.Reply:
    task = _remote_task(call)
    if _remote_type(call) == "pbs":
        return pbs.log_reply(task, call.args)
    lines = task.lines()
    start = int(call.args.get("start", 0) or 0)
    limit = int(call.args.get("limit", 50) if call.args.get("limit") is not None else 50)
    chosen = lines[start:] if limit == 0 else lines[start : start + limit]
    return wire.Reply([{"n": start + i + 1, "t": line} for i, line in enumerate(chosen)], {"total": len(lines)})


@handles("DELETE", "/pve/remotes/{remote}/tasks/{upid}", ("pdm",), finds_own_objects=True)
@handles("DELETE", "/pbs/remotes/{remote}/tasks/{upid}", ("pdm",), finds_own_objects=True)
def stop_remote_task(call: Call) -> None:
    call.world.tasks.stop(_remote_task(call).upid)
    return None


@handles("GET", "/remotes/tasks/list", ("pdm",))
def all_remote_tasks(call: Call) -> wire.Reply:
    tasks = remote_tasks(call, call.args.get("remote"))
    tasks = [t for t in pbs.filter_tasks(tasks, call.args) if _in_view(call, t.remote or "", None)]
    return pbs.page([pbs.task_list_entry(t) for t in tasks], call.args)


@handles("GET", "/remotes/tasks/statistics", ("pdm",))
def task_statistics(call: Call) -> dict[str, Any]:
    tasks = pbs.filter_tasks(remote_tasks(call, call.args.get("remote")), call.args)
    by_type: dict[str, dict[str, int]] = {}
    by_remote: dict[str, dict[str, int]] = {}
    for task in tasks:
        state = pbs._state_class(task)
        if state == "running":
            continue
        for table, key in ((by_type, task.type), (by_remote, task.remote or "")):
            counts = table.setdefault(key, {"ok": 0, "warning": 0, "error": 0, "unknown": 0})
            counts[state] += 1
    return {"by-type": by_type, "by-remote": by_remote}


# --- remote operations as tasks on the remote --------------------------------------------------------


def _set_resource(store: StateStore, rid: str, kind: str, vmid: int, **changes: Any) -> None:
    resources = _resources(store, rid)
    for i, res in enumerate(resources):
        if res["type"] == kind and res["vmid"] == vmid:
            resources[i] = normalize_resource({**res, **changes}, res["node"])
    store.set(("pve", "remotes", rid, "resources"), resources)
    derive_pve(store, rid)


def _remote_request(
    call: Call,
    node: str,
    task_type: str,
    task_id: str,
    effect: Callable[[], Any] | None = None,
    error: str | None = None,
) -> TaskRequest:
    rid = call.params["remote"]
    cfg = remote_cfg(call.store, rid) or {}
    return TaskRequest(
        node=node,
        type=task_type,
        id=task_id,
        user=str(cfg.get("authid") or "root@pam"),
        effect=effect,
        error=error,
        remote=rid,
        upid_format=cfg.get("type", "pve"),
    )


_POWER = {
    # (kind, action): (task type, status the guest ends in, refusal when already there)
    ("qemu", "start"): ("qmstart", "running", "VM {vmid} already running"),
    ("qemu", "stop"): ("qmstop", "stopped", None),
    ("qemu", "shutdown"): ("qmshutdown", "stopped", None),
    ("qemu", "resume"): ("qmresume", "running", None),
    ("lxc", "start"): ("vzstart", "running", "CT {vmid} already running"),
    ("lxc", "stop"): ("vzstop", "stopped", None),
    ("lxc", "shutdown"): ("vzshutdown", "stopped", None),
}


def _power(kind: str, action: str) -> Callable[[Call], TaskRequest]:
    task_type, target, refusal = _POWER[(kind, action)]

    def handler(call: Call) -> TaskRequest:
        res = _guest(call, kind)
        rid, vmid, store = call.params["remote"], res["vmid"], call.store
        error = None
        if refusal and res["status"] == target:
            error = refusal.format(vmid=vmid)
        elif action in ("stop", "shutdown") and res["status"] != "running":
            error = f"{'VM' if kind == 'qemu' else 'CT'} {vmid} not running"

        def effect() -> None:
            if target == "running":
                _set_resource(store, rid, kind, vmid, status="running", uptime=1, cpu=0.05, mem=res["maxmem"] // 3)
            else:
                _set_resource(store, rid, kind, vmid, status="stopped", uptime=0, cpu=0, mem=0)

        return _remote_request(call, res["node"], task_type, str(vmid), effect, error)

    return handler


for _kind, _action in _POWER:
    handles("POST", f"/pve/remotes/{{remote}}/{_kind}/{{vmid}}/{_action}", ("pdm",))(_power(_kind, _action))


def _migrate(kind: str) -> Callable[[Call], TaskRequest]:
    def handler(call: Call) -> TaskRequest:
        res = _guest(call, kind)
        rid, vmid, store = call.params["remote"], res["vmid"], call.store
        target = str(call.args["target"])
        nodes = {r["node"] for r in _resources(store, rid) if r["type"] == "node"}
        if target not in nodes:
            raise wire.ApiError(400, f"no such cluster node '{target}'")
        if target == res["node"]:
            raise wire.ApiError(400, "target is local node.")

        def effect() -> None:
            _set_resource(store, rid, kind, vmid, node=target)

        return _remote_request(call, res["node"], "qmigrate" if kind == "qemu" else "vzmigrate", str(vmid), effect)

    return handler


def _remote_migrate(kind: str) -> Callable[[Call], TaskRequest]:
    def handler(call: Call) -> TaskRequest:
        res = _guest(call, kind)
        rid, vmid, store = call.params["remote"], res["vmid"], call.store
        target = str(call.args["target"])
        target_cfg = remote_cfg(store, target)
        if target_cfg is None or target_cfg.get("type", "pve") != "pve":
            raise wire.ApiError(404, wire.pdm_remote_missing(target))
        new_vmid = int(call.args.get("target-vmid") or vmid)
        remove = bool(call.args.get("delete"))

        def effect() -> None:
            nodes = [r["node"] for r in _resources(store, target) if r["type"] == "node"]
            moved = {k: v for k, v in res.items() if k != "id"}
            moved.update(vmid=new_vmid, node=nodes[0] if nodes else _default_node_name(target_cfg, target))
            target_resources = [
                r for r in _resources(store, target) if not (r["type"] == kind and r["vmid"] == new_vmid)
            ]
            target_resources.append(normalize_resource(moved, moved["node"]))
            store.set(("pve", "remotes", target, "resources"), target_resources)
            derive_pve(store, target)
            if remove:
                store.set(
                    ("pve", "remotes", rid, "resources"),
                    [r for r in _resources(store, rid) if not (r["type"] == kind and r["vmid"] == vmid)],
                )
                derive_pve(store, rid)
            else:
                _set_resource(store, rid, kind, vmid, status="stopped", uptime=0, cpu=0, mem=0)

        return _remote_request(call, res["node"], "qmigrate" if kind == "qemu" else "vzmigrate", str(vmid), effect)

    return handler


for _kind in GUESTS:
    handles("POST", f"/pve/remotes/{{remote}}/{_kind}/{{vmid}}/migrate", ("pdm",))(_migrate(_kind))
    handles("POST", f"/pve/remotes/{{remote}}/{_kind}/{{vmid}}/remote-migrate", ("pdm",))(_remote_migrate(_kind))


def remote_task(call: Call) -> Any:
    """Any other remote operation that runs as a task: generic behaviour, on the remote."""
    result = generic.handle(call)
    if not isinstance(result, TaskRequest):
        return result
    rid = call.params["remote"]
    node = call.params.get("node") or str(call.args.get("node") or "")
    if node == "localhost" and _remote_type(call) == "pbs":
        node = _pbs_host(call.store, rid)  # the remote writes its own host name into its UPIDs
    if not node:
        vmid = call.params.get("vmid")
        kind = "qemu" if "/qemu/" in call.node.path else "lxc"
        guest = (
            next((r for r in _resources(call.store, rid) if r["type"] == kind and str(r["vmid"]) == str(vmid)), None)
            if vmid
            else None
        )
        node = (
            guest["node"]
            if guest
            else (
                _pbs_host(call.store, rid)
                if _remote_type(call) == "pbs"
                else _default_node_name(remote_cfg(call.store, rid), rid)
            )
        )
    task_type = result.type
    if call.method == "DELETE" and task_type.endswith("snapshot"):
        task_type = task_type[:2] + "delsnapshot"
    request = _remote_request(call, node, task_type, result.id or str(call.params.get("vmid", "")), result.effect)
    return request


# The remaining worker operations on remotes (PDM answers them with the remote's UPID).
REMOTE_TASKS = (
    ("POST", "/pbs/remotes/{remote}/nodes/{node}/apt/update"),
    ("POST", "/pve/remotes/{remote}/nodes/{node}/apt/update"),
    ("POST", "/pve/remotes/{remote}/qemu/{vmid}/snapshot"),
    ("DELETE", "/pve/remotes/{remote}/qemu/{vmid}/snapshot/{snapname}"),
    ("POST", "/pve/remotes/{remote}/qemu/{vmid}/snapshot/{snapname}/rollback"),
    ("POST", "/pve/remotes/{remote}/lxc/{vmid}/snapshot"),
    ("DELETE", "/pve/remotes/{remote}/lxc/{vmid}/snapshot/{snapname}"),
    ("POST", "/pve/remotes/{remote}/lxc/{vmid}/snapshot/{snapname}/rollback"),
)
for _method, _template in REMOTE_TASKS:
    handles(_method, _template, ("pdm",))(remote_task)


# --- resource views over all remotes --------------------------------------------------------------


def _pbs_resource_views(store: StateStore, rid: str) -> list[dict[str, Any]]:
    node = _pbs_node(store, rid)
    out: list[dict[str, Any]] = [{"type": "pbs-node", "id": f"remote/{rid}/node/{node['name']}", **node}]
    for ds in _pbs_datastores(store, rid):
        total, used = _datastore_usage(ds, rid)
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
            for res in _resources(store, rid):
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
        raise wire.ApiError(404, f"no such view '{view}'")
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


def _in_view(call: Call, rid: str, entry: dict[str, Any] | None) -> bool:
    cfg = _view_filters(call)
    if cfg is None:
        return True
    include = [r for r in _as_list(cfg.get("include")) if r]
    exclude = [r for r in _as_list(cfg.get("exclude")) if r]
    if not (_truthy(cfg.get("include-all")) or any(_matches_filter(r, rid, entry) for r in include)):
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
        if not _in_view(call, rid, None):
            continue
        chosen = [
            e
            for e in entries
            if (not wanted or _RESOURCE_TYPE.get(e["type"]) == wanted)
            and (not search or _search_ok(search, rid, e))
            and _in_view(call, rid, e)
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
        if not _in_view(call, cfg["id"], None):
            continue
        remotes += 1
        for e in entries:
            if not _in_view(call, cfg["id"], e):
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
        if not _in_view(call, cfg["id"], None):
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
            if not _in_view(call, rid, e):
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
    from .auth import clock

    now = int(clock(call.world))
    return [{"remote": r["id"], "last-collection": now - 30} for r in managed(call.store)]
