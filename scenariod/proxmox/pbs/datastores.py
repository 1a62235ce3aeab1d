"""PBS datastores: `/config/datastore` and `/admin/datastore` always agree; status, usage and RRD."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ... import generic, wire
from ...clock import clock
from ...state import MISSING
from ...tasks import TaskRequest
from .. import handles, prepares
from ..rest_privileges import allowed, any_below
from ..restserver import MiB, hostname, rrd_points, worker
from .contents import NS_PRIVS
from .model import (
    KEEP_OPTIONS,
    admin_item,
    backend_type,
    config_of,
    datastore_digest,
    datastore_names,
    gc_for_status,
    need_datastore,
    normalize_snapshot,
    set_snapshots,
    snapshots,
    sync_datastores,
    sync_jobs,
    sync_tape,
    usage,
)

if TYPE_CHECKING:
    from ...scenario.model import Scenario
    from ...state import StateStore
    from ...world import Call, World


@prepares("pbs")
def prepare_pbs(world: World, scenario: Scenario) -> None:
    store = world.store
    sync_tape(store)
    sync_datastores(store)
    for name in datastore_names(store):
        snaps = [
            normalize_snapshot({**s, "store": name}, scenario.seed, hostname(store)) for s in snapshots(store, name)
        ]
        for snap in snaps:
            snap.pop("store", None)
        set_snapshots(store, name, snaps)
    sync_jobs(store)


# --- /config/datastore ---------------------------------------------------------------------------


# What shows a store in the lists (PBS: Datastore.Audit or .Backup on it); NS_PRIVS on one of its
# namespaces still shows its name.
SEES_STORE = ("Datastore.Audit", "Datastore.Backup")


@handles("GET", "/config/datastore", ("pbs",))
def list_datastore_configs(call: Call) -> wire.Reply:
    seen = [n for n in datastore_names(call.store) if allowed(call, f"/datastore/{n}", "Datastore.Audit")]
    return wire.Reply([config_of(call.store, n) for n in seen], {"digest": datastore_digest(call.store)})


@handles("GET", "/config/datastore/{name}", ("pbs",))
def read_datastore_config(call: Call) -> wire.Reply:
    return wire.Reply(need_datastore(call, call.params["name"]), {"digest": datastore_digest(call.store)})


@handles("POST", "/config/datastore", ("pbs",))
def create_datastore(call: Call) -> TaskRequest:
    name = str(call.args["name"])
    if call.store.get(("config", "datastore", name)) is not MISSING:
        raise wire.parameter_error({"name": wire.pbs_datastore_exists(name)})
    cfg = {k: v for k, v in call.args.items() if k not in KEEP_OPTIONS and k != "prune-schedule"}
    path = str(cfg.get("path") or f"/mnt/datastore/{name}")
    cfg["path"] = path
    prune_job = None
    if call.args.get("prune-schedule"):
        job_id = f"default-{name}-{uuid.uuid4().hex[:13]}"[:32]
        prune_job = {
            "id": job_id,
            "store": name,
            "schedule": call.args["prune-schedule"],
            **{k: call.args[k] for k in KEEP_OPTIONS if k in call.args},
        }
    store = call.store

    def effect() -> None:
        if store.get(("config", "datastore", name)) is not MISSING:
            raise wire.ApiError(400, wire.pbs_datastore_exists(name))
        store.set(("config", "datastore", name), cfg)
        sync_datastores(store)
        if not isinstance(store.get(("admin", "datastore", name, "snapshots")), list):
            set_snapshots(store, name, [])
        if prune_job is not None:
            store.set(("config", "prune", prune_job["id"]), prune_job)
            sync_jobs(store)

    log = [f"Chunkstore create: {p}%" for p in (1, 25, 50, 75, 100)] if not call.args.get("reuse-datastore") else []
    log.insert(0, f"creating datastore '{name}' on '{path}'")
    return worker(call, "create-datastore", name, effect, log)


@handles("PUT", "/config/datastore/{name}", ("pbs",))
def update_datastore(call: Call) -> None:
    name = call.params["name"]
    cfg = dict(need_datastore(call, name))
    digest = call.args.get("digest")
    if digest and digest != datastore_digest(call.store):
        raise wire.DIGEST_MISMATCH
    for key in KEEP_OPTIONS + ("prune-schedule",):
        if key in call.args:
            raise wire.parameter_error({key: wire.PBS_PRUNE_SETTINGS_MOVED})
    deleted = call.args.get("delete") or []
    if isinstance(deleted, str):
        deleted = [d for d in deleted.split(",") if d]
    for key in deleted:
        cfg.pop(key, None)
    for key, value in call.args.items():
        if key in ("name", "delete", "digest"):
            continue
        if key == "comment" and not str(value).strip():
            cfg.pop("comment", None)
            continue
        cfg[key] = value
    call.store.set(("config", "datastore", name), cfg)
    sync_datastores(call.store)
    return None


@handles("DELETE", "/config/datastore/{name}", ("pbs",))
def delete_datastore(call: Call) -> TaskRequest:
    name = call.params["name"]
    need_datastore(call, name)
    digest = call.args.get("digest")
    if digest and digest != datastore_digest(call.store):
        raise wire.DIGEST_MISMATCH
    store, keep_jobs = call.store, bool(call.args.get("keep-job-configs"))

    def effect() -> None:
        store.delete(("config", "datastore", name))
        store.delete(("admin", "datastore", name))
        if not keep_jobs:
            for kind in ("sync", "verify", "prune"):
                for job_id in store.keys(("config", kind)):
                    job = store.get(("config", kind, job_id))
                    if isinstance(job, dict) and name in (job.get("store"), job.get("remote-store")):
                        store.delete(("config", kind, job_id))
        sync_datastores(store)
        sync_jobs(store)

    log = [f"Deleting datastore '{name}'"]
    if call.args.get("destroy-data"):
        log.append(f"Removing datastore contents of '{name}'")
    return worker(call, "delete-datastore", name, effect, log)


def _after(sync: Callable[[StateStore], None]) -> Callable[[Call], Any]:
    def handler(call: Call) -> Any:
        result = generic.handle(call)
        sync(call.store)
        return result

    return handler


for _kind in ("sync", "verify", "prune"):
    handles("POST", f"/config/{_kind}", ("pbs",))(_after(sync_jobs))
    handles("PUT", f"/config/{_kind}/{{id}}", ("pbs",))(_after(sync_jobs))
    handles("DELETE", f"/config/{_kind}/{{id}}", ("pbs",))(_after(sync_jobs))


# --- /admin/datastore ------------------------------------------------------------------------------


@handles("GET", "/admin/datastore", ("pbs",))
def list_datastores(call: Call) -> list[dict[str, Any]]:
    """The stores the caller may see: Datastore.Audit or .Backup on one, or any privilege on a
    namespace of it (then without its comment), as PBS lists them."""
    out = []
    for name in datastore_names(call.store):
        item = admin_item({**config_of(call.store, name), "name": name})
        if not allowed(call, f"/datastore/{name}", *SEES_STORE):
            if not any_below(call, f"/datastore/{name}", *NS_PRIVS):
                continue
            item.pop("comment", None)
        out.append(item)
    return out


@handles("GET", "/admin/datastore/{store}/status", ("pbs",), finds_own_objects=True)
def datastore_status(call: Call) -> dict[str, Any]:
    name = call.params["store"]
    if not allowed(call, f"/datastore/{name}", *SEES_STORE) and not any_below(call, f"/datastore/{name}", *NS_PRIVS):
        raise wire.ApiError(403, wire.REST_PERMISSION_FAILED)  # before the store's existence shows
    generic.check_ancestors(call.store, call.node, call.segments, call.params)
    out: dict[str, Any] = {**usage(call.store, name), "backend-type": backend_type(config_of(call.store, name))}
    if call.args.get("verbose"):
        groups: dict[str, set[tuple[str, str]]] = {}
        snaps: dict[str, int] = {}
        for snap in snapshots(call.store, name):
            kind = snap["backup-type"] if snap["backup-type"] in ("vm", "ct", "host") else "other"
            groups.setdefault(kind, set()).add((str(snap.get("ns") or ""), snap["backup-id"]))
            snaps[kind] = snaps.get(kind, 0) + 1
        out["counts"] = {k: {"groups": len(groups[k]), "snapshots": snaps[k]} for k in groups}
        out["gc-status"] = gc_for_status(call.store, name, clock(call.world))
    return out


def _history(used: int, total: int, seed: str, points: int = 30) -> list[float]:
    """A month of daily usage fractions growing gently to today's (deterministic per store)."""
    if not total:
        return [0.0] * points
    now = used / total
    wobble = int(hashlib.sha256(seed.encode()).hexdigest()[:4], 16) / 0xFFFF
    start = max(now * (0.85 + 0.1 * wobble), 0.0)
    return [round(start + (now - start) * i / (points - 1), 6) for i in range(points)]


@handles("GET", "/status/datastore-usage", ("pbs",))
def datastore_usage(call: Call) -> list[dict[str, Any]]:
    out = []
    now = int(clock(call.world))
    for name in datastore_names(call.store):
        if not allowed(call, f"/datastore/{name}", *SEES_STORE):
            if any_below(call, f"/datastore/{name}", *NS_PRIVS):
                out.append({"store": name})  # PBS's empty entry: a store seen through a namespace only
            continue
        cfg = config_of(call.store, name)
        use = usage(call.store, name)
        history = _history(use["used"], use["total"], f"{call.scenario.seed}:{name}")
        delta = 86400
        entry: dict[str, Any] = {
            "store": name,
            **use,
            "history": history,
            "history-start": now - delta * len(history),
            "history-delta": delta,
            "backend-type": backend_type(cfg),
            "mount-status": "mounted" if cfg.get("backing-device") else "nonremovable",
            "gc-status": gc_for_status(call.store, name, now),
        }
        growth = (history[-1] - history[0]) / (len(history) - 1) if len(history) > 1 else 0
        if growth > 0:
            entry["estimated-full-date"] = now + int((1.0 - history[-1]) / growth * delta)
        out.append(entry)
    return out


@handles("GET", "/admin/datastore/{store}/rrd", ("pbs",))
def datastore_rrd(call: Call) -> list[dict[str, Any]]:
    name = call.params["store"]
    use = usage(call.store, name)
    return rrd_points(
        str(call.args.get("timeframe", "hour")),
        clock(call.world),
        name,
        lambda w: {
            "total": use["total"],
            "used": int(use["used"] * (0.98 + 0.02 * w)),
            "available": use["avail"],
            "read_ios": int(120 * w),
            "read_bytes": int(48 * MiB * w),
            "write_ios": int(80 * w),
            "write_bytes": int(32 * MiB * w),
            "io_ticks": round(0.05 * w, 4),
        },
    )
