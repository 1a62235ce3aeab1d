"""PBS maintenance workers: garbage collection, prune and verify (effects land in state), and job status."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ... import wire
from ...clock import clock
from ...tasks import TaskRequest
from .. import handles
from ..calendar import next_event as next_run
from ..rest_privileges import allowed
from ..restserver import own_upid, worker
from .contents import group_access, group_id, group_owners, listing_owner, owns
from .model import (
    AVG_CHUNK,
    DEDUP_FACTOR,
    KEEP_OPTIONS,
    KEEP_SELECTORS,
    datastore_names,
    garbage,
    gc_status,
    group_key,
    human_bytes,
    need_datastore,
    ns_prefix,
    rfc3339,
    set_snapshots,
    snapshot_name,
    snapshots,
)

if TYPE_CHECKING:
    from ...world import Call

# --- garbage collection ------------------------------------------------------------------------------


@handles("GET", "/admin/datastore/{store}/gc", ("pbs",))
def read_gc(call: Call) -> dict[str, Any]:
    return gc_status(call.store, call.params["store"], clock(call.world))


@handles("GET", "/admin/gc", ("pbs",))
def list_gc_jobs(call: Call) -> list[dict[str, Any]]:
    """Every store's GC the caller may see (Datastore.Audit or .Modify on it)."""
    wanted, now = call.args.get("store"), clock(call.world)
    return [
        gc_status(call.store, n, now)
        for n in datastore_names(call.store)
        if (not wanted or n == wanted) and allowed(call, f"/datastore/{n}", "Datastore.Audit", "Datastore.Modify")
    ]


@handles("GET", "/admin/gc/{store}", ("pbs",))
def read_gc_job(call: Call) -> list[dict[str, Any]]:
    name = call.params["store"]
    need_datastore(call, name)
    return [gc_status(call.store, name, clock(call.world))]


@handles("POST", "/admin/datastore/{store}/gc", ("pbs",))
def start_gc(call: Call) -> TaskRequest:
    name = call.params["store"]
    world, store = call.world, call.store
    before = gc_status(store, name, clock(world))
    pending = garbage(world, name)[0]
    started = clock(world)
    files = before["index-file-count"]
    disk = int(before["disk-bytes"])
    removed = min(pending, disk)
    chunks = max(disk - removed, 0) // AVG_CHUNK
    data = int(before["index-data-bytes"])

    def effect() -> None:
        upid = own_upid(world, effect)
        current = store.get(("admin", "datastore", name, "gc"))
        current = dict(current) if isinstance(current, dict) else {}
        current.update(
            {
                "index-file-count": files,
                "index-data-bytes": data,
                "disk-bytes": max(disk - removed, 0),
                "disk-chunks": chunks,
                "removed-bytes": removed,
                "removed-chunks": removed // AVG_CHUNK,
                "pending-bytes": 0,
                "pending-chunks": 0,
                "removed-bad": 0,
                "still-bad": 0,
                "last-run-state": "ok",
                "last-run-endtime": int(clock(world)),
                "duration": max(int(clock(world) - started), 1),
            }
        )
        if upid:
            current["upid"] = upid
        store.set(("admin", "datastore", name, "gc"), current)
        seeded = store.get(("admin", "datastore", name, "status"))
        if isinstance(seeded, dict) and "used" in seeded:
            store.set(
                ("admin", "datastore", name, "status"),
                {
                    **seeded,
                    "used": max(int(seeded["used"]) - removed, 0),
                    **({"avail": int(seeded["avail"]) + removed} if "avail" in seeded else {}),
                },
            )
        garbage(world, name)[0] = 0

    dedup = data / max(disk - removed, 1)
    log = [
        f"starting garbage collection on store {name}",
        "Start GC phase1 (mark used chunks)",
        f"marked 100% ({files} of {files} index files)",
        "Start GC phase2 (sweep unused chunks)",
        f"processed 100% ({chunks + removed // AVG_CHUNK} chunks)",
        f"Removed garbage: {human_bytes(removed)}",
        f"Removed chunks: {removed // AVG_CHUNK}",
        f"Original data usage: {human_bytes(data)}",
        f"On-Disk usage: {human_bytes(disk - removed)} ({(disk - removed) / max(data, 1) * 100:.2f}%)",
        f"On-Disk chunks: {chunks}",
        f"Deduplication factor: {dedup:.2f}",
        f"Average chunk size: {human_bytes(AVG_CHUNK)}",
    ]
    return worker(call, "garbage_collection", name, effect, log)


# --- prune ---------------------------------------------------------------------------------------------


def prune_marks(snaps: list[dict[str, Any]], keep: dict[str, int]) -> list[tuple[dict[str, Any], str]]:
    """PBS's prune selection over one group: (snapshot, keep|remove|protected), newest first.

    Each keep-* option keeps the newest snapshot of each of the N most recent periods (hour,
    day, ISO week, month, year; `keep-last`: each snapshot) not already covered by an
    option before it; protected snapshots are always kept. Periods are in UTC.
    """
    ordered = sorted(snaps, key=lambda s: s["backup-time"], reverse=True)
    mark: dict[int, str] = {}
    for option in KEEP_OPTIONS:
        count = keep.get(option)
        if not count:
            continue
        select = KEEP_SELECTORS[option]
        already = {select(s["backup-time"]) for s in ordered if mark.get(id(s)) == "keep"}
        included: set[str] = set()
        for snap in ordered:
            if id(snap) in mark:
                continue
            if snap.get("protected"):
                mark[id(snap)] = "protected"
                continue
            period = select(snap["backup-time"])
            if period in already:
                continue
            if period not in included:
                if len(included) >= count:
                    break
                included.add(period)
                mark[id(snap)] = "keep"
            else:
                mark[id(snap)] = "remove"
    out = []
    for snap in ordered:
        out.append((snap, "protected" if snap.get("protected") else mark.get(id(snap), "remove")))
    return out


def _keep_options(args: dict[str, Any]) -> dict[str, int]:
    return {k: int(args[k]) for k in KEEP_OPTIONS if args.get(k) is not None}


def _keep_text(keep: dict[str, int]) -> str:
    return " ".join(f"--{k} {v}" for k, v in keep.items()) or "--keep-all"


def _prune_group(
    call: Call, name: str, members: list[dict[str, Any]], keep: dict[str, int]
) -> tuple[list[tuple[dict[str, Any], str]], list[str]]:
    marks = (
        [(s, "keep") for s in sorted(members, key=lambda s: s["backup-time"], reverse=True)]
        if not keep
        else prune_marks(members, keep)
    )
    lines = [
        f"{snapshot_name(s)} {'keep' if m == 'keep' else 'remove' if m == 'remove' else 'keep (protected)'}"
        for s, m in marks
    ]
    return marks, lines


def _remover(call: Call, name: str, doomed: list[dict[str, Any]]) -> Callable[[], None]:
    store, world = call.store, call.world
    ids = {(s["backup-type"], s["backup-id"], s["backup-time"], str(s.get("ns") or "")) for s in doomed}

    def effect() -> None:
        snaps = snapshots(store, name)
        gone = [s for s in snaps if (s["backup-type"], s["backup-id"], s["backup-time"], str(s.get("ns") or "")) in ids]
        set_snapshots(store, name, [s for s in snaps if s not in gone])
        garbage(world, name)[0] += int(sum(s.get("size", 0) for s in gone) / DEDUP_FACTOR)

    return effect


@handles("POST", "/admin/datastore/{store}/prune", ("pbs",))
def prune_group(call: Call) -> Any:
    name = call.params["store"]
    group_access(call, name, "Datastore.Modify", "Datastore.Prune")
    btype, bid = call.args["backup-type"], str(call.args["backup-id"])
    ns = str(call.args.get("ns") or "")
    members = [
        s
        for s in snapshots(call.store, name)
        if (s["backup-type"], s["backup-id"]) == (btype, bid) and str(s.get("ns") or "") == ns
    ]
    keep = _keep_options(call.args)
    marks, lines = _prune_group(call, name, members, keep)
    dry_run = bool(call.args.get("dry-run"))
    doomed = [s for s, m in marks if m == "remove"]
    effect = None if dry_run or not doomed else _remover(call, name, doomed)
    result = [
        {
            "backup-type": s["backup-type"],
            "backup-id": s["backup-id"],
            "backup-time": s["backup-time"],
            "keep": m != "remove",
            "protected": bool(s.get("protected")),
        }
        for s, m in marks
    ]
    if call.args.get("use-task"):
        log = [
            f"retention options: {_keep_text(keep)}",
            f'Starting prune on {wire.pbs_store_and_ns(name, ns)} group "{btype}/{bid}"',
            *lines,
        ]
        worker_id = f"{name}:{ns}:{btype}/{bid}" if ns else f"{name}:{btype}/{bid}"
        return worker(call, "prune", worker_id, effect, log)
    if effect is not None:
        effect()
    return result


@handles("POST", "/admin/datastore/{store}/prune-datastore", ("pbs",))
def prune_datastore(call: Call) -> TaskRequest:
    name = call.params["store"]
    ns = str(call.args.get("ns") or "")
    depth = call.args.get("max-depth")
    keep = _keep_options(call.args)
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for snap in snapshots(call.store, name):
        sns = str(snap.get("ns") or "")
        if ns and not (sns == ns or sns.startswith(ns + "/")):
            continue
        level = len([p for p in sns.split("/") if p]) - len([p for p in ns.split("/") if p])
        if depth is not None and level > int(depth):
            continue
        groups.setdefault((sns, snap["backup-type"], snap["backup-id"]), []).append(snap)
    log = [
        f"Starting datastore prune on {wire.pbs_store_and_ns(name, ns)}, "
        f"{'dry-run' if call.args.get('dry-run') else 'live'} run",
        f"retention options: {_keep_text(keep)}",
    ]
    doomed: list[dict[str, Any]] = []
    for key in sorted(groups, key=lambda k: (k[0], *group_key(k[1:]))):
        marks, lines = _prune_group(call, name, groups[key], keep)
        log.append(f"Pruning group {ns_prefix(key[0])}{key[1]}/{key[2]}")
        log.extend(lines)
        doomed.extend(s for s, m in marks if m == "remove")
    effect = None if call.args.get("dry-run") or not doomed else _remover(call, name, doomed)
    return worker(call, "prune", f"{name}:{ns}" if ns else name, effect, log)


# --- verify -----------------------------------------------------------------------------------------


@handles("POST", "/admin/datastore/{store}/verify", ("pbs",))
def verify(call: Call) -> TaskRequest:
    name = call.params["store"]
    btype, bid, btime = call.args.get("backup-type"), call.args.get("backup-id"), call.args.get("backup-time")
    ns = str(call.args.get("ns") or "")
    if btime is not None and (btype is None or bid is None) or bid is not None and btype is None:
        raise wire.ApiError(400, wire.PBS_VERIFY_NEEDS_GROUP)
    # Datastore.Verify verifies anything; Datastore.Backup only the caller's own groups
    only = listing_owner(call, name, "Datastore.Verify")
    if only is not None and bid is not None:
        group_access(call, name, "Datastore.Verify", "Datastore.Backup")
    owners = group_owners(call.store, name)
    chosen = []
    for snap in snapshots(call.store, name):
        if only is not None and not owns(owners.get(group_id(snap)) or str(snap.get("owner") or "root@pam"), only):
            continue
        sns = str(snap.get("ns") or "")
        if ns and not (sns == ns or sns.startswith(ns + "/")):
            continue
        if btype and snap["backup-type"] != btype or bid is not None and snap["backup-id"] != str(bid):
            continue
        if btime is not None and snap["backup-time"] != int(btime):
            continue
        chosen.append(snap)
    if btime is not None:
        if not chosen:
            raise wire.ApiError(404, wire.pbs_snapshot_missing(f"{btype}/{bid}/{rfc3339(int(btime))}"))
        task_type, worker_id = "verify_snapshot", f"{name}:{ns_prefix(ns)}{snapshot_name(chosen[0])}"
    elif bid is not None:
        task_type, worker_id = "verify_group", f"{name}:{ns_prefix(ns)}{btype}/{bid}"
    else:
        task_type, worker_id = "verify", f"{name}:{ns}" if ns else name
    ignore_verified = call.args.get("ignore-verified", True)
    todo = [s for s in chosen if not (ignore_verified and (s.get("verification") or {}).get("state") == "ok")]
    failed = [s for s in todo if s.get("corrupt")]
    log = [f"verify datastore {name}" if task_type == "verify" else f"verify {worker_id}"]
    for snap in todo:
        log.append(f"  verify {name}:{ns_prefix(str(snap.get('ns') or ''))}{snapshot_name(snap)}")
        for archive in snap.get("files", []):
            log.append(f"    check {archive['filename']}")
        if snap.get("corrupt"):
            log.append(f"    verify of {archive['filename'] if snap.get('files') else 'index.json.blob'} failed")
    for snap in chosen:
        if snap not in todo:
            log.append(f"  SKIPPED: verify {name}:{snapshot_name(snap)} (recently verified)")
    if failed:
        log.append("Failed to verify the following snapshots/groups:")
        log.extend(f"\t{snapshot_name(s)}" for s in failed)
    store, world = call.store, call.world
    keys = {
        (s["backup-type"], s["backup-id"], s["backup-time"], str(s.get("ns") or "")): bool(s.get("corrupt"))
        for s in todo
    }

    def effect() -> None:
        upid = own_upid(world, effect) or ""
        updated = []
        for snap in snapshots(store, name):
            key = (snap["backup-type"], snap["backup-id"], snap["backup-time"], str(snap.get("ns") or ""))
            if key in keys:
                snap = {**snap, "verification": {"state": "failed" if keys[key] else "ok", "upid": upid}}
            updated.append(snap)
        set_snapshots(store, name, updated)
        if failed:
            # The results are recorded, and then the worker ends in error (as PBS's does).
            raise wire.ApiError(500, wire.PBS_VERIFY_FAILED)

    return worker(call, task_type, worker_id, effect, log)


# --- job status views ---------------------------------------------------------------------------------


@handles("GET", "/admin/sync", ("pbs",))
@handles("GET", "/admin/verify", ("pbs",))
@handles("GET", "/admin/prune", ("pbs",))
def list_job_status(call: Call) -> list[dict[str, Any]]:
    """The jobs of a kind with their next run from their schedule, those the caller may see."""
    kind = call.node.path.rsplit("/", 1)[-1]
    wanted, now = call.args.get("store"), clock(call.world)
    out = []
    for item in call.store.items(("admin", kind)):
        if not isinstance(item, dict) or wanted and item.get("store") != wanted or not job_visible(call, kind, item):
            continue
        entry = dict(item)
        if entry.get("schedule") and "next-run" not in entry:
            upcoming = next_run(str(entry["schedule"]), now)
            if upcoming is not None:
                entry["next-run"] = upcoming
        out.append(entry)
    return out


JOB_PRIVS = {"sync": (), "verify": ("Datastore.Verify",), "prune": ("Datastore.Modify",)}


def job_visible(call: Call, kind: str, job: dict[str, Any]) -> bool:
    """As PBS limits job lists: to jobs on stores the caller may audit (or verify, or modify),
    and for sync jobs whose remote it may audit too."""
    if not allowed(call, f"/datastore/{job.get('store')}", "Datastore.Audit", *JOB_PRIVS[kind]):
        return False
    return kind != "sync" or not job.get("remote") or allowed(call, f"/remote/{job['remote']}", "Remote.Audit")


def _configured_jobs(call: Call) -> list[dict[str, Any]]:
    kind = call.node.path.rsplit("/", 1)[-1]
    return [j for j in call.store.items(call.segments) if isinstance(j, dict) and job_visible(call, kind, j)]


for _kind in JOB_PRIVS:
    handles("GET", f"/config/{_kind}", ("pbs",))(_configured_jobs)


@handles("GET", "/config/remote", ("pbs",))
def list_remotes(call: Call) -> list[dict[str, Any]]:
    """Remotes the caller may audit (Remote.Audit on /remote/NAME), without their passwords."""
    return [
        {k: v for k, v in r.items() if k != "password"}
        for r in call.store.items(call.segments)
        if isinstance(r, dict) and allowed(call, f"/remote/{r.get('name')}", "Remote.Audit")
    ]
