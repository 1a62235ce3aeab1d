"""The PBS datastore model: snapshots as PBS lists them, the views kept in sync, usage and garbage."""

from __future__ import annotations

import datetime
import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ... import generic, wire
from ...state import MISSING
from ..calendar import next_event as next_run
from ..restserver import GiB, KiB, MiB, TiB, truthy

if TYPE_CHECKING:
    from ...state import StateStore
    from ...world import Call, World

DEDUP_FACTOR = 3.0  # how much smaller the chunk store is than the sum of snapshot sizes
DEFAULT_TOTAL = 4 * TiB
BASE_USED = 20 * GiB
TYPE_ORDER = {"ct": 0, "host": 1, "vm": 2}
DEFAULT_FILES = {
    "vm": [
        ("qemu-server.conf.blob", 0.0),
        ("drive-scsi0.img.fidx", 1.0),
        ("index.json.blob", 0.0),
        ("client.log.blob", 0.0),
    ],
    "ct": [
        ("pct.conf.blob", 0.0),
        ("root.pxar.didx", 0.97),
        ("catalog.pcat1.didx", 0.03),
        ("index.json.blob", 0.0),
        ("client.log.blob", 0.0),
    ],
    "host": [("root.pxar.didx", 0.97), ("catalog.pcat1.didx", 0.03), ("index.json.blob", 0.0)],
}
DEFAULT_SIZE = {"vm": 32 * GiB, "ct": 4 * GiB, "host": 12 * GiB}
SNAPSHOT_FIELDS = (
    "backup-type",
    "backup-id",
    "backup-time",
    "comment",
    "verification",
    "fingerprint",
    "files",
    "size",
    "owner",
    "protected",
)
KEEP_OPTIONS = ("keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly")
KEEP_SELECTORS: dict[str, Callable[[int], str]] = {
    "keep-last": lambda t: str(t),
    "keep-hourly": lambda t: time.strftime("%Y/%m/%d/%H", time.gmtime(t)),
    "keep-daily": lambda t: time.strftime("%Y/%m/%d", time.gmtime(t)),
    "keep-weekly": lambda t: "{}/{:02d}".format(*datetime.datetime.fromtimestamp(t, datetime.UTC).isocalendar()[:2]),
    "keep-monthly": lambda t: time.strftime("%Y/%m", time.gmtime(t)),
    "keep-yearly": lambda t: time.strftime("%Y/", time.gmtime(t)),
}


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_time(value: Any) -> int:
    """A backup time: an epoch, or an RFC 3339 text as PBS prints them (`2025-01-10T02:00:00Z`)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return int(parsed.timestamp())


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n} B"


def group_name(snap: dict[str, Any]) -> str:
    return f"{snap['backup-type']}/{snap['backup-id']}"


def snapshot_name(snap: dict[str, Any]) -> str:
    return f"{group_name(snap)}/{rfc3339(snap['backup-time'])}"


def ns_prefix(ns: str) -> str:
    return "".join(f"ns/{part}/" for part in ns.split("/") if part)


def group_key(group: tuple[str, str]) -> tuple[Any, ...]:
    btype, bid = group
    return (TYPE_ORDER.get(btype, 9), 0 if bid.isdigit() else 1, int(bid) if bid.isdigit() else 0, bid)


# --- normalizing seeded and created values ---------------------------------------------------


def normalize_snapshot(raw: dict[str, Any], seed: int = 0, host: str = "pbs") -> dict[str, Any]:
    """A snapshot as PBS lists it: integer time, files as archive entries, a size, an owner."""
    snap = dict(raw)
    btype = str(snap.get("backup-type", "vm"))
    snap["backup-type"] = btype
    snap["backup-id"] = str(snap.get("backup-id", "100"))
    snap["backup-time"] = parse_time(snap.get("backup-time", 1700000000))
    total = snap.get("size")
    files = snap.get("files")
    if not files:
        digest = int(hashlib.sha256(f"{seed}:{snap['backup-id']}:{snap['backup-time']}".encode()).hexdigest()[:6], 16)
        total = int(total) if total is not None else int(DEFAULT_SIZE.get(btype, 8 * GiB) * (0.5 + digest / 0xFFFFFF))
        files = [
            {"filename": name, "crypt-mode": "none", "size": int(total * share) if share else 512 + digest % 4096}
            for name, share in DEFAULT_FILES.get(btype, DEFAULT_FILES["host"])
        ]
    else:
        files = [_archive(f) for f in files]
    snap["files"] = files
    if total is None:
        total = sum(int(f.get("size", 0)) for f in files)
    snap["size"] = int(total)
    snap["protected"] = truthy(snap.get("protected", False))
    snap.setdefault("owner", "root@pam")
    verification = snap.get("verification")
    if isinstance(verification, str):
        snap["verification"] = {"state": verification, "upid": _synthetic_upid(seed, snap, host)}
    return snap


def _archive(entry: Any) -> dict[str, Any]:
    if isinstance(entry, dict):
        out = {"filename": str(entry.get("filename", "index.json.blob")), "crypt-mode": entry.get("crypt-mode", "none")}
        if entry.get("size") is not None:
            out["size"] = int(entry["size"])
        return out
    return {"filename": str(entry), "crypt-mode": "none"}


def _synthetic_upid(seed: int, snap: dict[str, Any], host: str) -> str:
    """A plausible UPID of the verify task that checked a seeded snapshot (an hour after it)."""
    wid = f"{snap.get('store', 'store')}:{snapshot_name(snap)}"
    return wire.format_rest_server_upid(
        host, 700 + seed % 30000, 0x1B5F, 0, snap["backup-time"] + 3600, "verify_snapshot", wid, "root@pam"
    )


def snapshot_view(snap: dict[str, Any]) -> dict[str, Any]:
    """What the listing shows: no scenario-only keys (`ns`, `corrupt`)."""
    return {k: snap[k] for k in SNAPSHOT_FIELDS if k in snap}


# --- the datastore views ---------------------------------------------------------------------


def datastore_names(store: StateStore) -> list[str]:
    return store.keys("/config/datastore")


def config_of(store: StateStore, name: str) -> dict[str, Any]:
    value = store.get(("config", "datastore", name))
    return value if isinstance(value, dict) else {}


def snapshots(store: StateStore, name: str) -> list[dict[str, Any]]:
    value = store.get(("admin", "datastore", name, "snapshots"))
    return [s for s in value if isinstance(s, dict)] if isinstance(value, list) else []


def set_snapshots(store: StateStore, name: str, snaps: list[dict[str, Any]]) -> None:
    store.set(("admin", "datastore", name, "snapshots"), snaps)


def backend_type(cfg: dict[str, Any]) -> str:
    return "s3" if "type=s3" in str(cfg.get("backend") or "") else "filesystem"


def admin_item(cfg: dict[str, Any]) -> dict[str, Any]:
    """The `/admin/datastore` entry for a configured datastore."""
    item: dict[str, Any] = {
        "store": cfg["name"],
        "backend-type": backend_type(cfg),
        "mount-status": "mounted" if cfg.get("backing-device") else "nonremovable",
    }
    if cfg.get("comment"):
        item["comment"] = cfg["comment"]
    if cfg.get("maintenance-mode"):
        item["maintenance"] = cfg["maintenance-mode"]
    return item


def sync_datastores(store: StateStore) -> None:
    """Make `/admin/datastore` (and `/admin/gc`) list exactly the configured datastores."""
    for name in store.keys("/admin/datastore"):
        if store.get(("config", "datastore", name)) is MISSING:
            seeded = store.get(("admin", "datastore", name))
            seeded = seeded if isinstance(seeded, dict) else {}
            cfg = {"name": name, "path": f"/mnt/datastore/{name}"}
            if seeded.get("comment"):
                cfg["comment"] = seeded["comment"]
            store.set(("config", "datastore", name), cfg)
    names = datastore_names(store)
    for name in names:
        cfg = {**config_of(store, name), "name": name}
        cfg.setdefault("path", f"/mnt/datastore/{name}")
        if store.get(("config", "datastore", name)) != cfg:
            store.set(("config", "datastore", name), cfg)
        item = admin_item(cfg)
        if store.get(("admin", "datastore", name)) != item:
            store.set(("admin", "datastore", name), item)
        if store.get(("admin", "gc", name)) is MISSING:
            store.set(("admin", "gc", name), {"store": name})
    for stale in set(store.keys("/admin/gc")) - set(names):
        store.delete(("admin", "gc", stale))


def sync_jobs(store: StateStore) -> None:
    """`/admin/{sync,verify,prune}` show the jobs configured at `/config/{...}`."""
    for kind in ("sync", "verify", "prune"):
        configured = store.keys(("config", kind))
        for job_id in configured:
            cfg = store.get(("config", kind, job_id))
            current = store.get(("admin", kind, job_id))
            state = {
                k: v
                for k, v in (current if isinstance(current, dict) else {}).items()
                if k.startswith(("last-run", "next-run"))
            }
            store.set(("admin", kind, job_id), {**(cfg if isinstance(cfg, dict) else {}), **state, "id": job_id})
        for stale in set(store.keys(("admin", kind))) - set(configured):
            store.delete(("admin", kind, stale))


def sync_tape(store: StateStore) -> None:
    """`/tape/drive` and `/tape/changer` list the configured drives and changers."""
    for kind in ("drive", "changer"):
        configured = store.keys(("config", kind))
        for name in configured:
            cfg = store.get(("config", kind, name))
            current = store.get(("tape", kind, name))
            state = current if isinstance(current, dict) else {}
            item = {**state, **(cfg if isinstance(cfg, dict) else {}), "name": name}
            if kind == "drive":
                item = {
                    **item,
                    "vendor": state.get("vendor", "IBM"),
                    "model": state.get("model", "ULTRIUM-HH9"),
                    "serial": state.get("serial", "10WT000001"),
                }
                item.setdefault(kind, name)  # /tape/drive is keyed by {drive}
            store.set(("tape", kind, name), item)


def datastore_digest(store: StateStore) -> str:
    """The digest of datastore.cfg: one for every datastore, as PBS guards the whole file."""
    return generic.digest_of([config_of(store, name) for name in datastore_names(store)], "pbs")


def need_datastore(call: Call, name: str) -> dict[str, Any]:
    cfg = call.store.get(("config", "datastore", name))
    if not isinstance(cfg, dict):
        raise wire.ApiError(404, wire.pbs_datastore_missing(name))
    return cfg


def garbage(world: World, name: str) -> list[int]:
    """Bytes of pruned snapshots not yet collected, per datastore (world-private bookkeeping)."""
    hit = world.cache.get(("pbs.garbage", name))
    if hit is None:
        hit = world.cache[("pbs.garbage", name)] = (0, [0])
    return hit[1]


def usage(store: StateStore, name: str) -> dict[str, int]:
    """total/used/avail: as seeded at `/admin/datastore/{store}/status`, else from the snapshots."""
    seeded = store.get(("admin", "datastore", name, "status"))
    seeded = seeded if isinstance(seeded, dict) else {}
    total = int(seeded.get("total", DEFAULT_TOTAL))
    if "used" in seeded:
        used = int(seeded["used"])
    else:
        used = BASE_USED + int(sum(s.get("size", 0) for s in snapshots(store, name)) / DEDUP_FACTOR)
    used = min(used, total)
    avail = int(seeded.get("avail", total - used))
    return {"total": total, "used": used, "avail": avail}


GC_COUNTERS = (
    "index-file-count",
    "index-data-bytes",
    "disk-bytes",
    "disk-chunks",
    "removed-bytes",
    "removed-chunks",
    "pending-bytes",
    "pending-chunks",
    "removed-bad",
    "still-bad",
)
AVG_CHUNK = 2 * MiB + 300 * KiB


def gc_status(store: StateStore, name: str, now: float) -> dict[str, Any]:
    """`GET .../gc`: the last garbage collection, seeded at `/admin/datastore/{store}/gc` or computed."""
    seeded = store.get(("admin", "datastore", name, "gc"))
    seeded = seeded if isinstance(seeded, dict) else {}
    snaps = snapshots(store, name)
    data_bytes = int(sum(s.get("size", 0) for s in snaps))
    pinned = store.get(("admin", "datastore", name, "status"))
    disk = usage(store, name)["used"]
    if not (isinstance(pinned, dict) and "used" in pinned):
        disk -= BASE_USED  # the chunk store, without the system's share of the disk
    out: dict[str, Any] = {
        "store": name,
        "index-file-count": sum(1 for s in snaps for f in s.get("files", []) if f["filename"].endswith("idx")),
        "index-data-bytes": data_bytes,
        "disk-bytes": max(disk, 0),
        "disk-chunks": max(disk, 0) // AVG_CHUNK,
        "removed-bytes": 0,
        "removed-chunks": 0,
        "pending-bytes": 0,
        "pending-chunks": 0,
        "removed-bad": 0,
        "still-bad": 0,
    }
    schedule = config_of(store, name).get("gc-schedule")
    if schedule:
        out["schedule"] = schedule
        upcoming = next_run(str(schedule), now)
        if upcoming is not None:
            out["next-run"] = upcoming
    out.update(seeded)
    out["store"] = name
    return out


def gc_for_status(store: StateStore, name: str, now: float) -> dict[str, Any]:
    """The GarbageCollectionStatus embedded in status and usage answers (counters and upid)."""
    status = gc_status(store, name, now)
    return {k: status[k] for k in ("upid", *GC_COUNTERS) if k in status}
