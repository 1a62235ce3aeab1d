"""PDM's views of a PVE remote: resources, guests and their status and config, cluster and node status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ... import generic, wire
from .. import handles
from ..restserver import (
    KERNEL,
    GiB,
)
from .model import GUESTS, guest_item, live_cfg, live_guest, live_resources, remote_version_of, resources_of
from .remote_client import remote_calls

if TYPE_CHECKING:
    from ...world import Call

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


@handles("GET", "/pve/remotes/{remote}/resources", ("pdm",), finds_own_objects=True)
def remote_resources(call: Call) -> Any:
    cfg = live_cfg(call)
    if cfg is not None:
        return _live_resources(call, cfg)
    rid = call.params["remote"]
    kinds = _KIND_FILTER.get(str(call.args.get("kind") or ""), None)
    return [pve_resource_view(rid, r) for r in resources_of(call.store, rid) if kinds is None or r["type"] in kinds]


async def _live_resources(call: Call, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    kinds = _KIND_FILTER.get(str(call.args.get("kind") or ""), None)
    return [
        pve_resource_view(cfg["id"], r) for r in await live_resources(call, cfg) if kinds is None or r["type"] in kinds
    ]


def _guests(call: Call, kind: str) -> Any:
    cfg = live_cfg(call)
    if cfg is not None:
        return _live_guests(call, cfg, kind)
    rid = call.params["remote"]
    node = call.args.get("node")
    out = []
    for res in resources_of(call.store, rid):
        if res["type"] != kind or node and res["node"] != node:
            continue
        item = call.store.get(("pve", "remotes", rid, kind, str(res["vmid"])))
        if isinstance(item, dict):
            out.append(item)
    return out


async def _live_guests(call: Call, cfg: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    node = call.args.get("node")
    return [
        guest_item(res)
        for res in await live_resources(call, cfg)
        if res["type"] == kind and not (node and res["node"] != node)
    ]


@handles("GET", "/pve/remotes/{remote}/qemu", ("pdm",), finds_own_objects=True)
def remote_qemu(call: Call) -> Any:
    return _guests(call, "qemu")


@handles("GET", "/pve/remotes/{remote}/lxc", ("pdm",), finds_own_objects=True)
def remote_lxc(call: Call) -> Any:
    return _guests(call, "lxc")


async def _ask_guest(
    call: Call, cfg: dict[str, Any], kind: str, what: str, params: dict[str, Any] | None = None
) -> Any:
    """A live guest's own answer (`status/current`, `config`), asked on the node it runs on."""
    res = await live_guest(call, cfg, kind)
    node = str(call.args.get("node") or res["node"])
    return await remote_calls(call.world).get(cfg, f"/nodes/{node}/{kind}/{res['vmid']}/{what}", params)


def _config_params(call: Call) -> dict[str, Any] | None:
    """PDM's `state`: `active` is the config in force (`current=1` on the remote), `pending` with changes."""
    params = {"current": 1} if call.args.get("state") == "active" else {}
    if call.args.get("snapshot"):
        params["snapshot"] = call.args["snapshot"]
    return params or None


def remote_guest(call: Call, kind: str) -> dict[str, Any]:
    rid, vmid = call.params["remote"], int(call.params["vmid"])
    for res in resources_of(call.store, rid):
        if res["type"] == kind and res["vmid"] == vmid:
            node = call.args.get("node")
            if node and node != res["node"]:
                raise wire.guest_config_missing(node, vmid, kind)
            return res
    raise wire.ApiError(500, wire.pdm_guest_missing(rid, vmid))


def _guest_status(call: Call, kind: str) -> dict[str, Any]:
    res = remote_guest(call, kind)
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


@handles("GET", "/pve/remotes/{remote}/qemu/{vmid}/status", ("pdm",), finds_own_objects=True)
def remote_qemu_status(call: Call) -> Any:
    cfg = live_cfg(call)
    return _guest_status(call, "qemu") if cfg is None else _ask_guest(call, cfg, "qemu", "status/current")


@handles("GET", "/pve/remotes/{remote}/lxc/{vmid}/status", ("pdm",), finds_own_objects=True)
def remote_lxc_status(call: Call) -> Any:
    cfg = live_cfg(call)
    return _guest_status(call, "lxc") if cfg is None else _ask_guest(call, cfg, "lxc", "status/current")


def _guest_config(call: Call, kind: str) -> dict[str, Any]:
    res = remote_guest(call, kind)
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


@handles("GET", "/pve/remotes/{remote}/qemu/{vmid}/config", ("pdm",), finds_own_objects=True)
def remote_qemu_config(call: Call) -> Any:
    cfg = live_cfg(call)
    return _guest_config(call, "qemu") if cfg is None else _ask_guest(call, cfg, "qemu", "config", _config_params(call))


@handles("GET", "/pve/remotes/{remote}/lxc/{vmid}/config", ("pdm",), finds_own_objects=True)
def remote_lxc_config(call: Call) -> Any:
    cfg = live_cfg(call)
    return _guest_config(call, "lxc") if cfg is None else _ask_guest(call, cfg, "lxc", "config", _config_params(call))


@handles("GET", "/pve/remotes/{remote}/cluster-status", ("pdm",), finds_own_objects=True)
def remote_cluster_status(call: Call) -> Any:
    cfg = live_cfg(call)
    if cfg is not None:
        return remote_calls(call.world).get(cfg, "/cluster/status")
    rid = call.params["remote"]
    stored = call.store.get(("pve", "remotes", rid, "cluster-status"))
    if isinstance(stored, list):
        return stored
    nodes = [r for r in resources_of(call.store, rid) if r["type"] == "node"]
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


@handles("GET", "/pve/remotes/{remote}/nodes/{node}/status", ("pdm",), finds_own_objects=True)
def remote_node_status(call: Call) -> Any:
    cfg = live_cfg(call)
    if cfg is not None:
        return remote_calls(call.world).get(cfg, f"/nodes/{call.params['node']}/status")
    rid, name = call.params["remote"], call.params["node"]
    stored = call.store.get(("pve", "remotes", rid, "nodes", name, "status"))
    if isinstance(stored, dict):
        return stored
    node = next((r for r in resources_of(call.store, rid) if r["type"] == "node" and r["node"] == name), None)
    if node is None or node["status"] != "online":
        raise wire.ApiError(595, wire.NO_ROUTE_TO_HOST)
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
        "kversion": f"Linux {KERNEL['release']} {KERNEL['version']}",
        "pveversion": f"pve-manager/{version['version']}/{version['repoid']}",
        "current-kernel": dict(KERNEL),
        "boot-info": {"mode": "efi", "secureboot": 0},
    }
