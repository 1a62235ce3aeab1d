"""RRD time series (`rrddata`) of nodes, guests and storages that move with the world's clock.

PVE keeps one round-robin archive per timeframe (70 points, a fixed step each) and answers
the points up to now. Each point is a function of (seed, series, instant), so the same
instant always answers the same value, a later request has newer points, and a world whose
clock the control API moved forward shows a later window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..clock import clock
from . import handles

if TYPE_CHECKING:
    from ..world import Call

GiB = 1024**3
# Seconds per point for each timeframe; 70 points each.
RRD_STEPS = {"hour": 60, "day": 1800, "week": 10800, "month": 43200, "year": 604800}
RRD_POINTS = 70


def wave(seed: int, key: str, t: int) -> float:
    """A value in [0, 1) for (series, instant): the same instant always the same value."""
    digest = hashlib.blake2b(f"{seed}:{key}:{t}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") / 2**32


Point = Callable[[int, float], dict[str, Any]]


def series(call: Call, key: str, point: Point) -> list[dict[str, Any]]:
    """The archive's points for the request's timeframe, the newest at the current step."""
    step = RRD_STEPS.get(str(call.args.get("timeframe", "hour")), 60)
    last = int(clock(call.world)) // step * step
    seed = call.scenario.seed
    return [
        {"time": t, **point(t, wave(seed, key, t))} for t in range(last - (RRD_POINTS - 1) * step, last + step, step)
    ]


def _item(call: Call, *path: str) -> dict[str, Any]:
    value = call.store.get(path)
    return value if isinstance(value, dict) else {}


@handles("GET", "/nodes/{node}/rrddata")
def node_rrddata(call: Call) -> Any:
    name = call.params["node"]
    node = _item(call, "nodes", name)
    maxcpu = int(node.get("maxcpu", 8))
    memtotal = int(node.get("maxmem", 32 * GiB))
    roottotal = int(node.get("maxdisk", 100 * GiB))

    def point(t: int, w: float) -> dict[str, Any]:
        return {
            "cpu": round(0.02 + 0.1 * w, 6),
            "maxcpu": maxcpu,
            "iowait": round(0.002 * w, 6),
            "loadavg": round(0.1 + maxcpu * 0.05 * w, 2),
            "memtotal": memtotal,
            "memused": int(memtotal * (0.2 + 0.1 * w)),
            "swaptotal": 8 * GiB,
            "swapused": 0,
            "roottotal": roottotal,
            "rootused": int(roottotal * 0.12),
            "netin": round(2000 + 50000 * w, 2),
            "netout": round(1000 + 20000 * w, 2),
        }

    return series(call, name, point)


@handles("GET", "/nodes/{node}/qemu/{vmid}/rrddata")
@handles("GET", "/nodes/{node}/lxc/{vmid}/rrddata")
def guest_rrddata(call: Call) -> Any:
    """A running guest's load; a stopped guest's archive holds its sizes and no activity."""
    kind = "qemu" if "/qemu/" in call.node.path else "lxc"
    name, vmid = call.params["node"], call.params["vmid"]
    item = _item(call, "nodes", name, kind, vmid)
    running = item.get("status") == "running"
    maxcpu = int(item.get("cpus", item.get("maxcpu", 1)) or 1)
    maxmem = int(item.get("maxmem", 2 * GiB) or 2 * GiB)
    maxdisk = int(item.get("maxdisk", 32 * GiB) or 32 * GiB)

    def point(t: int, w: float) -> dict[str, Any]:
        busy = w if running else 0.0
        return {
            "cpu": round(0.05 * busy, 6),
            "maxcpu": maxcpu,
            "mem": int(maxmem * (0.3 + 0.2 * busy)) if running else 0,
            "maxmem": maxmem,
            "disk": 0 if kind == "qemu" else int(maxdisk * 0.2),
            "maxdisk": maxdisk,
            "netin": round(500 + 20000 * busy, 2) if running else 0,
            "netout": round(300 + 8000 * busy, 2) if running else 0,
            "diskread": round(4096 * 50 * busy, 2),
            "diskwrite": round(4096 * 30 * busy, 2),
        }

    return series(call, f"{kind}/{vmid}", point)


@handles("GET", "/nodes/{node}/storage/{storage}/rrddata")
def storage_rrddata(call: Call) -> Any:
    name, sid = call.params["node"], call.params["storage"]
    status = _item(call, "nodes", name, "storage", sid)
    total = int(status.get("total", 100 * GiB) or 0)
    used = int(status.get("used", 0) or 0)
    return series(call, f"storage/{name}/{sid}", lambda t, w: {"total": total, "used": used})
