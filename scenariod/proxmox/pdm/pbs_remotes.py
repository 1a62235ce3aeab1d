"""PDM's views of a PBS remote: datastores, snapshots, namespaces, node status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import handles
from ..pbs.model import snapshot_view
from ..restserver import (
    KERNEL,
    GiB,
    fingerprint,
)
from .model import live_cfg, pbs_datastores, pbs_node
from .remote_client import remote_calls

if TYPE_CHECKING:
    from ...world import Call

# --- PBS remote views ------------------------------------------------------------------------------


@handles("GET", "/pbs/remotes/{remote}/datastore", ("pdm",), finds_own_objects=True)
def remote_datastores(call: Call) -> Any:
    cfg = live_cfg(call)
    if cfg is not None:
        return remote_calls(call.world).get(cfg, "/config/datastore")
    return [
        {k: v for k, v in d.items() if k not in ("datastore", "total", "used")}
        for d in pbs_datastores(call.store, call.params["remote"])
    ]


@handles("GET", "/pbs/remotes/{remote}/datastore/{datastore}/snapshots", ("pdm",), finds_own_objects=True)
def remote_snapshots(call: Call) -> Any:
    cfg = live_cfg(call)
    if cfg is not None:
        asked = {"ns": call.args["ns"]} if call.args.get("ns") else None
        return remote_calls(call.world).get(cfg, f"/admin/datastore/{call.params['datastore']}/snapshots", asked)
    snaps = call.store.get(
        ("pbs", "remotes", call.params["remote"], "datastore", call.params["datastore"], "snapshots")
    )
    ns = str(call.args.get("ns") or "")
    return [
        snapshot_view(s)
        for s in (snaps if isinstance(snaps, list) else [])
        if isinstance(s, dict) and str(s.get("ns") or "") == ns
    ]


@handles("GET", "/pbs/remotes/{remote}/datastore/{datastore}/namespaces", ("pdm",), finds_own_objects=True)
def remote_namespaces(call: Call) -> Any:
    cfg = live_cfg(call)
    if cfg is not None:
        return remote_calls(call.world).get(cfg, f"/admin/datastore/{call.params['datastore']}/namespace")
    snaps = call.store.get(
        ("pbs", "remotes", call.params["remote"], "datastore", call.params["datastore"], "snapshots")
    )
    found = {""} | {
        str(s.get("ns")) for s in (snaps if isinstance(snaps, list) else []) if isinstance(s, dict) and s.get("ns")
    }
    return [{"ns": ns} for ns in sorted(found)]


@handles("GET", "/pbs/remotes/{remote}/status", ("pdm",), finds_own_objects=True)
def remote_pbs_status(call: Call) -> Any:
    cfg = live_cfg(call)
    if cfg is not None:
        return remote_calls(call.world).get(cfg, "/nodes/localhost/status")
    rid = call.params["remote"]
    stored = call.store.get(("pbs", "remotes", rid, "status"))
    node = pbs_node(call.store, rid)
    out = {
        "uptime": node["uptime"],
        "cpu": node["cpu"],
        "wait": 0.0,
        "loadavg": [0.08, 0.07, 0.05],
        "cpuinfo": {"cpus": int(node["maxcpu"]), "sockets": 1, "model": "Intel(R) Xeon(R) E-2336 CPU @ 2.90GHz"},
        "memory": {"total": node["maxmem"], "used": node["mem"], "free": node["maxmem"] - node["mem"]},
        "swap": {"total": 8 * GiB, "used": 0, "free": 8 * GiB},
        "root": {"total": 64 * GiB, "used": 9 * GiB, "avail": 55 * GiB},
        "kversion": f"Linux {KERNEL['release']} {KERNEL['version']}",
        "current-kernel": dict(KERNEL),
        "boot-info": {"mode": "efi", "secureboot": False},
        "info": {"fingerprint": fingerprint(0, f"{rid}/{node['name']}")},
    }
    if isinstance(stored, dict):
        out.update({k: v for k, v in stored.items() if k != "hostname"})
    return out
