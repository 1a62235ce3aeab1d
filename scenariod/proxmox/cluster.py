"""PVE cluster views computed from state, so that every view agrees with every other.

A scenario seeds nodes, storages, guests and pools; this module fills what a real
cluster would have around them (a node when none is seeded, per-node storage status)
and computes `/cluster/resources`, `/cluster/status`, `/cluster/nextid`,
`/nodes/{node}/status` and `/version` from the same state. Computed views are cached
per state generation, so an unchanged cluster costs a dict lookup.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .. import wire
from ..state import MISSING
from . import handles, prepares
from .access import Viewer, filters_list

if TYPE_CHECKING:
    from ..scenario.model import Scenario
    from ..state import StateStore
    from ..world import Call, World

GiB = 1024**3

DEFAULT_NODE = {
    "status": "online",
    "level": "",
    "maxcpu": 8,
    "cpu": 0.02,
    "maxmem": 32 * GiB,
    "mem": 6 * GiB,
    "maxdisk": 100 * GiB,
    "disk": 12 * GiB,
    "uptime": 864000,
}

DEFAULT_STORAGES = [
    {"storage": "local", "type": "dir", "path": "/var/lib/vz", "content": "iso,vztmpl,backup,import", "shared": 0},
    {
        "storage": "local-lvm",
        "type": "lvmthin",
        "vgname": "pve",
        "thinpool": "data",
        "content": "rootdir,images",
        "shared": 0,
    },
]


GUEST_TYPES = ("qemu", "lxc")


# --- filling in a plausible cluster -----------------------------------------------------------


@prepares("pve")
def default_cluster(world: World, scenario: Scenario) -> None:
    store = world.store
    if not store.keys("/nodes"):
        store.set(("nodes", "pve"), {"node": "pve"})
    for index, name in enumerate(store.keys("/nodes"), start=1):
        item = store.get(("nodes", name))
        filled = {**DEFAULT_NODE, **item, "node": name}
        filled.setdefault("id", f"node/{name}")
        filled.setdefault("type", "node")
        filled.setdefault("nodeid", index)
        filled.setdefault("ssl_fingerprint", _fingerprint(scenario.seed, name))
        if filled["status"] != "online":
            for key in ("cpu", "mem", "uptime"):
                filled[key] = 0
        store.set(("nodes", name), filled)
    if not store.keys("/storage") and "/storage" not in scenario.state:
        for item in DEFAULT_STORAGES:
            store.set(("storage", str(item["storage"])), dict(item))
    sync_node_storage(store)


def sync_node_storage(store: StateStore) -> None:
    """Each node lists the storages configured for it (`nodes` restricts), with usage."""
    storages = store.items("/storage")
    for node in store.keys("/nodes"):
        for cfg in storages:
            sid = cfg.get("storage")
            allowed = str(cfg.get("nodes") or "")
            if allowed and node not in allowed.split(","):
                continue
            path = ("nodes", node, "storage", sid)
            current = store.get(path)
            if current is MISSING or "total" not in current:  # unseeded, or made as a parent of seeded content
                total = int(cfg.get("total", 100 * GiB))
                used = int(cfg.get("used", total // 5))
                current = {
                    "total": total,
                    "used": used,
                    "avail": total - used,
                    **({} if current is MISSING else current),
                }
            item = {
                **current,
                "storage": sid,
                "type": cfg.get("type", "dir"),
                "content": cfg.get("content", "images"),
                "shared": int(cfg.get("shared", 0) or 0),
                "enabled": 0 if cfg.get("disable") else 1,
                "active": 0 if cfg.get("disable") else 1,
            }
            if item["total"]:
                item["used_fraction"] = round(item["used"] / item["total"], 6)
            store.set(path, item)


def _fingerprint(seed: int, name: str) -> str:
    import hashlib

    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return ":".join(f"{b:02X}" for b in digest)


# --- walking the cluster --------------------------------------------------------------------


def guests(store: StateStore) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(node, type, list item) for every guest in the cluster."""
    for node in store.keys("/nodes"):
        for kind in GUEST_TYPES:
            for item in store.items(("nodes", node, kind)):
                yield node, kind, item


def find_guest(store: StateStore, vmid: Any) -> tuple[str, str] | None:
    key = str(vmid)
    for node in store.keys("/nodes"):
        for kind in GUEST_TYPES:
            if store.has(("nodes", node, kind, key)):
                return node, kind
    return None


# --- views ----------------------------------------------------------------------------------


def resources(store: StateStore) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # HA-managed guests show their requested HA state (`vm:100` -> guest 100)
    hastate = {
        str(ha.get("sid", "")).partition(":")[2]: ha.get("state", "started")
        for ha in store.items("/cluster/ha/resources")
    }
    for node in store.items("/nodes"):
        name = node["node"]
        online = node.get("status") == "online"
        out.append(
            {
                "id": f"node/{name}",
                "type": "node",
                "node": name,
                "status": node.get("status", "online"),
                "cpu": node.get("cpu", 0),
                "maxcpu": node.get("maxcpu", 0),
                "mem": node.get("mem", 0),
                "maxmem": node.get("maxmem", 0),
                "disk": node.get("disk", 0),
                "maxdisk": node.get("maxdisk", 0),
                "uptime": node.get("uptime", 0) if online else 0,
                "level": node.get("level", ""),
                "cgroup-mode": 2,
            }
        )
    for node, kind, item in guests(store):
        vmid = item.get("vmid")
        entry = {
            "id": f"{kind}/{vmid}",
            "type": kind,
            "node": node,
            "vmid": vmid,
            "name": item.get("name", f"{'VM' if kind == 'qemu' else 'CT'} {vmid}"),
            "status": item.get("status", "stopped"),
            "template": int(item.get("template", 0) or 0),
            "cpu": item.get("cpu", 0),
            "maxcpu": item.get("cpus", item.get("maxcpu", 1)),
            "mem": item.get("mem", 0),
            "maxmem": item.get("maxmem", 0),
            "disk": item.get("disk", 0),
            "maxdisk": item.get("maxdisk", 0),
            "uptime": item.get("uptime", 0),
            "netin": item.get("netin", 0),
            "netout": item.get("netout", 0),
            "diskread": item.get("diskread", 0),
            "diskwrite": item.get("diskwrite", 0),
        }
        for optional in ("pool", "tags", "lock", "hastate"):
            if item.get(optional) not in (None, ""):
                entry[optional] = item[optional]
        if str(vmid) in hastate:
            entry["hastate"] = hastate[str(vmid)]
        out.append(entry)
    for node in store.keys("/nodes"):
        for st in store.items(("nodes", node, "storage")):
            sid = st.get("storage")
            out.append(
                {
                    "id": f"storage/{node}/{sid}",
                    "type": "storage",
                    "node": node,
                    "storage": sid,
                    "status": "available" if st.get("active", 1) else "unknown",
                    "plugintype": st.get("type", "dir"),
                    "content": st.get("content", ""),
                    "shared": st.get("shared", 0),
                    "disk": st.get("used", 0),
                    "maxdisk": st.get("total", 0),
                }
            )
    for pool in store.items("/pools"):
        out.append({"id": f"/pool/{pool.get('poolid')}", "type": "pool", "pool": pool.get("poolid")})
    return out


_RESOURCE_TYPES = {
    "vm": ("qemu", "lxc"),
    "storage": ("storage",),
    "node": ("node",),
    "pool": ("pool",),
    "sdn": ("sdn",),
}


@handles("GET", "/cluster/resources", stable=True)
def cluster_resources(call: Call) -> Any:
    wanted = call.args.get("type")
    world = call.world
    everything = world.cached("resources", lambda: wire.Encoded(resources(call.store)))
    if not wanted:
        return everything
    kinds = _RESOURCE_TYPES.get(str(wanted), (str(wanted),))
    return world.cached(("resources", wanted), lambda: wire.Encoded([r for r in everything.data if r["type"] in kinds]))


# What extract_node_stats leaves out for a caller without Sys.Audit on the node.
_NODE_STATS = frozenset({"uptime", "cpu", "mem", "disk", "maxcpu", "maxmem", "maxdisk"})


def _node_entry(view: Viewer, entry: dict[str, Any]) -> dict[str, Any]:
    """Every node is listed; its load and sizes only with Sys.Audit on it."""
    if view.can(f"/nodes/{entry.get('node')}", "Sys.Audit"):
        return entry
    return {k: v for k, v in entry.items() if k not in _NODE_STATS}


@filters_list("/nodes")
def visible_nodes(view: Viewer, items: list[Any]) -> list[Any]:
    return [_node_entry(view, n) if isinstance(n, dict) else n for n in items]


@filters_list("/cluster/resources")
def visible_resources(view: Viewer, items: list[Any]) -> list[Any]:
    """pve-manager's resources: guests with VM.Audit (their `pool` only with Pool.Audit on it),
    storages with Datastore.Audit, pools with Pool.Audit, SDN zones with SDN.Audit, every node."""
    out = []
    for entry in items:
        kind = entry.get("type")
        if kind in ("qemu", "lxc"):
            if not view.can(f"/vms/{entry.get('vmid')}", "VM.Audit"):
                continue
            pool = entry.get("pool")
            if pool is not None and not view.can(f"/pool/{pool}", "Pool.Audit"):
                entry = {k: v for k, v in entry.items() if k != "pool"}
        elif kind == "storage":
            if not view.can(f"/storage/{entry.get('storage')}", "Datastore.Audit"):
                continue
        elif kind == "pool":
            if not view.can(f"/pool/{entry.get('pool')}", "Pool.Audit"):
                continue
        elif kind == "sdn":
            if not view.can(f"/sdn/zones/{entry.get('sdn')}", "SDN.Audit"):
                continue
        elif kind == "node":
            entry = _node_entry(view, entry)
        out.append(entry)
    return out


@filters_list("/cluster/replication")
@filters_list("/nodes/{node}/replication")
def visible_replication(view: Viewer, items: list[Any]) -> list[Any]:
    """Jobs of guests the caller may audit (the guest is `guest`, or the job id's `VMID-N`)."""
    return [
        j
        for j in items
        if isinstance(j, dict)
        and view.can(f"/vms/{j.get('guest') or str(j.get('id', '')).partition('-')[0]}", "VM.Audit")
    ]


@filters_list("/cluster/log")
def visible_log(view: Viewer, items: list[Any]) -> list[Any]:
    """The whole cluster log with Sys.Syslog on `/`; otherwise the caller's own entries."""
    if view.can("/", "Sys.Syslog"):
        return items
    return [e for e in items if isinstance(e, dict) and e.get("user") == view.who]


@handles("GET", "/cluster/status", stable=True)
def cluster_status(call: Call) -> Any:
    stored = call.store.get("/cluster/status")
    if stored is not MISSING:
        return stored
    nodes = call.store.items("/nodes")
    out: list[dict[str, Any]] = []
    if len(nodes) > 1:
        online = sum(1 for n in nodes if n.get("status") == "online")
        out.append(
            {
                "id": "cluster",
                "type": "cluster",
                "name": call.scenario.name,
                "nodes": len(nodes),
                "quorate": int(online * 2 > len(nodes)),
                "version": len(nodes) + 1,
            }
        )
    for i, n in enumerate(nodes):
        out.append(
            {
                "id": f"node/{n['node']}",
                "type": "node",
                "name": n["node"],
                "nodeid": n.get("nodeid", i + 1),
                "online": int(n.get("status") == "online"),
                "local": int(i == 0),
                "level": n.get("level", ""),
                "ip": n.get("ip", f"192.0.2.{10 + i}"),
            }
        )
    return out


@handles("GET", "/cluster/nextid", stable=True)
def cluster_nextid(call: Call) -> Any:
    taken = call.world.cached(
        "vmids", lambda: {int(item["vmid"]) for _, _, item in guests(call.store) if str(item.get("vmid", "")).isdigit()}
    )
    asked = call.args.get("vmid")
    if asked is not None:
        if int(asked) in taken:
            raise wire.ApiError(400, wire.vmid_taken(asked))
        return str(asked)
    vmid = 100
    while vmid in taken:
        vmid += 1
    return str(vmid)


@handles("GET", "/version", stable=True)
def version(call: Call) -> Any:
    stored = call.store.get("/version")
    if stored is not MISSING:
        return stored
    # The release served (an `api:` pin, else the newest) says what it reports: bundled facts.
    api = call.scenario.api
    return {
        "version": api.facts["version"],
        "release": api.version,
        "repoid": api.facts["repoid"],
        "console": "xtermjs",
    }


@handles("GET", "/nodes/{node}/status", stable=True)
def node_status(call: Call) -> Any:
    name = call.params["node"]
    stored = call.store.get(("nodes", name, "status"))
    if stored is not MISSING:
        return stored
    node = call.store.get(("nodes", name))
    if node.get("status") != "online":
        raise wire.ApiError(595, wire.NO_ROUTE_TO_HOST)
    maxmem, mem = int(node.get("maxmem", 0)), int(node.get("mem", 0))
    maxdisk, disk = int(node.get("maxdisk", 0)), int(node.get("disk", 0))
    cpus = int(node.get("maxcpu", 1))
    release = version(call)
    kernel, build = call.scenario.api.facts["kernel"]
    return {
        "uptime": node.get("uptime", 0),
        "cpu": node.get("cpu", 0),
        "wait": 0.0,
        "loadavg": ["0.10", "0.12", "0.09"],
        "idle": 0,
        "cpuinfo": {
            "cpus": cpus,
            "cores": max(1, cpus // 2),
            "sockets": 1,
            "model": "QEMU Virtual CPU",
            "mhz": "2400.000",
            "hvm": "1",
            "flags": "fpu vme de pse",
            "user_hz": 100,
        },
        "memory": {"total": maxmem, "used": mem, "free": maxmem - mem, "available": maxmem - mem},
        "swap": {"total": 8 * GiB, "used": 0, "free": 8 * GiB},
        "rootfs": {"total": maxdisk, "used": disk, "free": maxdisk - disk, "avail": maxdisk - disk},
        "ksm": {"shared": 0},
        "kversion": f"Linux {kernel} {build} x86_64",
        "pveversion": f"pve-manager/{release.get('version', '0')}/{release.get('repoid', '0')}",
        "current-kernel": {
            "sysname": "Linux",
            "release": kernel,
            "machine": "x86_64",
            "version": build,
        },
        "boot-info": {"mode": "efi", "secureboot": 0},
    }


@handles("GET", "/cluster/backup-info/not-backed-up", stable=True)
def not_backed_up(call: Call) -> Any:
    """The guests no backup job includes (PVE::API2::BackupInfo): every guest that exists, less
    those a job takes by `all` (minus `exclude`, within its `node`), `vmid` or `pool`."""
    store = call.store
    stored = store.get("/cluster/backup-info/not-backed-up")
    if stored is not MISSING:
        return stored
    jobs = [j for j in store.items("/cluster/backup") if j.get("type", "vzdump") == "vzdump"]
    out = []
    for node, kind, item in guests(store):
        vmid = str(item.get("vmid"))
        if not any(_job_includes(store, job, node, vmid, item) for job in jobs):
            out.append({"type": kind, "vmid": int(vmid), "name": item.get("name", "")})
    return sorted(out, key=lambda e: e["vmid"])


def _job_includes(store: StateStore, job: dict[str, Any], node: str, vmid: str, item: dict[str, Any]) -> bool:
    if job.get("node") and job["node"] != node:
        return False
    if int(job.get("all", 0) or 0):
        return vmid not in _id_list(job.get("exclude"))
    if vmid in _id_list(job.get("vmid")):
        return True
    pool = job.get("pool")
    if not pool:
        return False
    members = store.get(("pools", str(pool)))
    listed = members.get("members", []) if isinstance(members, dict) else []
    return item.get("pool") == pool or any(str(m.get("vmid")) == vmid for m in listed if isinstance(m, dict))


def _id_list(value: Any) -> set[str]:
    return {v.strip() for v in str(value or "").replace(";", ",").split(",") if v.strip()}
