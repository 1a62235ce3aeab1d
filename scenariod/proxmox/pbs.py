"""Proxmox Backup Server behaviours, and what PBS and PDM share as proxmox-rest-server daemons.

Shared by PBS and PDM (both run every worker inside one API daemon):
- the node: one host, reachable as its own name and as `localhost` (`/nodes` lists the host);
- users and API tokens as those daemons list them (booleans, `tokenid` = `USER@REALM!NAME`);
- the task API: UPIDs with a task number and systemd-escaped worker ids, task lists with
  `worker_type`/`worker_id`, task status with `user` and `tokenid` apart, task logs that
  count lines from 1.

PBS itself: datastores whose configuration (`/config/datastore`) and admin view
(`/admin/datastore`) always agree, backup snapshots seeded per datastore as a list at
`/admin/datastore/{store}/snapshots` from which groups, counts, usage and prune results are
computed, garbage collection, prune and verify as worker tasks whose effects land in state.
"""

from __future__ import annotations

import datetime
import hashlib
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .. import generic, wire
from ..state import MISSING
from ..tasks import TaskRequest
from . import handles, prepares
from .auth import clock, create_user

if TYPE_CHECKING:
    from ..scenario.model import Scenario
    from ..state import StateStore
    from ..tasks import Task
    from ..world import Call, World

REST = ("pbs", "pdm")
KiB, MiB, GiB, TiB = 1024, 1024**2, 1024**3, 1024**4

DEFAULT_HOSTNAME = {"pbs": "pbs", "pdm": "pdm"}
DEFAULT_NODE = {
    "maxcpu": 8,
    "cpu": 0.03,
    "maxmem": 16 * GiB,
    "mem": 3 * GiB,
    "maxdisk": 64 * GiB,
    "disk": 9 * GiB,
    "uptime": 1209600,
}
KERNEL = {
    "sysname": "Linux",
    "release": "6.14.8-2-pve",
    "machine": "x86_64",
    "version": "#1 SMP PREEMPT_DYNAMIC PMX 6.14.8-2 (2025-07-22T10:04Z)",
}


# =============================================================================================
# proxmox-rest-server: host, users, tokens, tasks (PBS and PDM)
# =============================================================================================


def hostname(store: StateStore) -> str:
    """The daemon's host name: the first seeded node that is not `localhost`."""
    for key in store.keys("/nodes"):
        if key != "localhost":
            return key
    return "localhost"


def alias_localhost(store: StateStore, host: str) -> None:
    """`/nodes/localhost` is the host itself: one subtree reached by both names.

    State seeded under either name is merged (the host's wins); from then on a write through
    one name is read through the other, as on a real PBS or PDM.
    """
    if host != "localhost":
        store.alias(("nodes", "localhost"), ("nodes", host))


def _is_node(store: StateStore, name: str) -> bool:
    return name == "localhost" or name == hostname(store)


def fingerprint(seed: int, name: str) -> str:
    digest = hashlib.sha256(f"{seed}:{name}:cert".encode()).digest()
    return ":".join(f"{b:02x}" for b in digest)


@prepares(*REST)
def prepare_rest_server(world: World, scenario: Scenario) -> None:
    store = world.store
    if not [k for k in store.keys("/nodes") if k != "localhost"]:
        # The host goes first (`generic.first_node` names the node of generic workers);
        # whatever was seeded under `localhost` follows it and is merged into it below.
        seeded = list(store.walk("/nodes/localhost"))
        store.delete(("nodes", "localhost"))
        store.set(("nodes", DEFAULT_HOSTNAME[scenario.service]), {"node": DEFAULT_HOSTNAME[scenario.service]})
        for path, value in seeded:
            store.set(path, value)
    host = hostname(store)
    item = store.get(("nodes", host))
    store.set(("nodes", host), {**DEFAULT_NODE, **(item if isinstance(item, dict) else {}), "node": host})
    alias_localhost(store, host)
    _normalize_users(store)
    _register_host_workers(scenario)


_HOST_WORKERS_DONE: set[tuple[str, str]] = set()


def _register_host_workers(scenario: Scenario) -> None:
    """Workers started at `/nodes/localhost/...` run on the host: their UPIDs name it.

    Registered once per API description, for the node-scoped operations that answer a UPID
    and have no behaviour of their own (apt update, service restarts, disk setup, ...).
    """
    from . import handler_for

    api = scenario.api
    key = (scenario.service, api.version)
    if key in _HOST_WORKERS_DONE:
        return
    _HOST_WORKERS_DONE.add(key)
    for node, op in api.operations():
        if (
            op.returns_upid
            and node.path.startswith("/nodes/{node}/")
            and handler_for(scenario.service, op.method, node.path) is None
        ):
            handles(op.method, node.path, (scenario.service,))(on_host)


def on_host(call: Call) -> Any:
    result = generic.handle(call)
    if isinstance(result, TaskRequest):
        if result.node == "localhost":
            result.node = hostname(call.store)
        if not result.id:
            result.id = str(call.params.get("service") or call.args.get("disk") or call.args.get("name") or "")
    return result


def _normalize_users(store: StateStore) -> None:
    """Users and tokens as PBS and PDM list them: real booleans, no PVE-only fields."""
    for userid in store.keys("/access/users"):
        user = store.get(("access", "users", userid))
        if not isinstance(user, dict):
            continue
        clean = {k: v for k, v in user.items() if k not in ("groups", "keys", "realm-type", "tokens") and v is not None}
        clean["userid"] = userid
        clean["enable"] = _truthy(clean.get("enable", True))
        clean["expire"] = int(clean.get("expire", 0) or 0)
        store.set(("access", "users", userid), clean)
        for name in store.keys(("access", "users", userid, "token")):
            store.set(
                ("access", "users", userid, "token", name),
                _token_item(userid, name, store.get(("access", "users", userid, "token", name))),
            )


def _token_item(userid: str, name: str, fields: Any) -> dict[str, Any]:
    fields = fields if isinstance(fields, dict) else {}
    item: dict[str, Any] = {
        "tokenid": f"{userid}!{name}",
        "token-name": name,
        "enable": _truthy(fields.get("enable", True)),
        "expire": int(fields.get("expire", 0) or 0),
    }
    if fields.get("comment") not in (None, ""):
        item["comment"] = fields["comment"]
    return item


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() not in ("0", "false", "no", "off", "")
    return bool(value)


# --- the host ----------------------------------------------------------------------------------


@handles("GET", "/nodes", REST)
def list_nodes(call: Call) -> list[dict[str, Any]]:
    return [{"node": hostname(call.store)}]


@handles("GET", "/ping", REST)
def ping(call: Call) -> Any:
    return {"pong": True} if call.scenario.service == "pbs" else "pong"


def _release(call: Call) -> dict[str, Any]:
    stored = call.store.get("/version")
    if isinstance(stored, dict):
        return stored
    parts = call.scenario.api.version.split(".")
    version = ".".join((parts + ["0", "0"])[:3])
    repoid = hashlib.sha1(f"{call.scenario.service}-{version}".encode()).hexdigest()[:8]
    return {"version": version, "release": ".".join(parts[:2]), "repoid": repoid}


@handles("GET", "/version", REST)
def version(call: Call) -> dict[str, Any]:
    return _release(call)


@handles("GET", "/nodes/{node}/status", REST)
def node_status(call: Call) -> dict[str, Any]:
    name = call.params["node"]
    stored = call.store.get(("nodes", name, "status"))
    if isinstance(stored, dict):
        return stored
    node = call.store.get(("nodes", name))
    node = node if isinstance(node, dict) else DEFAULT_NODE
    maxmem, mem = int(node.get("maxmem", 0)), int(node.get("mem", 0))
    maxdisk, disk = int(node.get("maxdisk", 0)), int(node.get("disk", 0))
    cpus = int(node.get("maxcpu", 1))
    return {
        "uptime": int(node.get("uptime", 0)),
        "cpu": float(node.get("cpu", 0)),
        "wait": 0.0,
        "loadavg": [0.12, 0.09, 0.08],
        "cpuinfo": {"cpus": cpus, "sockets": 1, "model": node.get("cpu-model", "QEMU Virtual CPU version 2.5+")},
        "memory": {"total": maxmem, "used": mem, "free": maxmem - mem},
        "swap": {"total": 8 * GiB, "used": 0, "free": 8 * GiB},
        "root": {"total": maxdisk, "used": disk, "avail": maxdisk - disk},
        "kversion": f"Linux {KERNEL['release']} {KERNEL['version']}",
        "current-kernel": dict(KERNEL),
        "boot-info": {"mode": "efi", "secureboot": False},
        "info": {"fingerprint": fingerprint(call.scenario.seed, hostname(call.store))},
    }


# --- users and tokens ----------------------------------------------------------------------------


@handles("POST", "/access/users", REST)
def create_rest_user(call: Call) -> None:
    create_user(call)
    _normalize_users(call.store)
    return None


@handles("GET", "/access/users", REST)
def list_users(call: Call) -> list[dict[str, Any]]:
    out = []
    for user in call.store.items("/access/users"):
        if not isinstance(user, dict):
            continue
        item = dict(user)
        if call.args.get("include_tokens"):
            item["tokens"] = [
                {k: v for k, v in t.items() if k != "token-name"}
                for t in call.store.items(("access", "users", user["userid"], "token"))
            ]
        out.append(item)
    return out


def _token_path(call: Call) -> tuple[str, str, tuple[str, ...]]:
    userid, name = call.params["userid"], call.params["token-name"]
    return userid, name, ("access", "users", userid, "token", name)


@handles("GET", "/access/users/{userid}/token/{token-name}", REST)
def read_token(call: Call) -> dict[str, Any]:
    userid, name, path = _token_path(call)
    item = call.store.get(path)
    if not isinstance(item, dict):
        raise wire.ApiError(404, wire.rest_token_missing(userid, name))
    return {k: v for k, v in item.items() if k != "token-name"}


@handles("POST", "/access/users/{userid}/token/{token-name}", REST)
def create_token(call: Call) -> dict[str, Any]:
    userid, name, path = _token_path(call)
    if call.store.get(path) is not MISSING:
        raise wire.ApiError(400, wire.rest_token_exists(userid, name))
    call.store.set(path, _token_item(userid, name, call.args))
    secret = str(uuid.uuid4())
    call.world.secrets["tokens"][f"{userid}!{name}"] = secret
    return {"tokenid": f"{userid}!{name}", "value": secret}


@handles("PUT", "/access/users/{userid}/token/{token-name}", REST)
def update_token(call: Call) -> None:
    userid, name, path = _token_path(call)
    item = call.store.get(path)
    if not isinstance(item, dict):
        raise wire.ApiError(404, wire.rest_token_missing(userid, name))
    fields = {k: v for k, v in call.args.items() if k in ("comment", "enable", "expire")}
    call.store.set(path, _token_item(userid, name, {**item, **fields}))
    return None


@handles("DELETE", "/access/users/{userid}/token/{token-name}", REST)
def delete_token(call: Call) -> None:
    userid, name, path = _token_path(call)
    if call.store.get(path) is MISSING:
        raise wire.ApiError(404, wire.rest_token_missing(userid, name))
    call.store.delete(path)
    call.world.secrets["tokens"].pop(f"{userid}!{name}", None)
    return None


# --- tasks ---------------------------------------------------------------------------------------
# proxmox-rest-server's task API (PBS and PDM); proxmox/tasks.py answers PVE's.


def task_list_entry(task: Task) -> dict[str, Any]:
    """A proxmox-rest-server TaskListItem."""
    out: dict[str, Any] = {
        "upid": task.upid,
        "node": task.node,
        "pid": task.pid,
        "pstart": task.pstart,
        "starttime": task.starttime,
        "worker_type": task.type,
        "user": task.user,
    }
    if task.id:
        out["worker_id"] = task.id
    if not task.running:
        out["endtime"] = task.endtime
        out["status"] = task.exitstatus
    return out


def task_status(task: Task) -> dict[str, Any]:
    userid, bang, tokenname = task.user.partition("!")
    out: dict[str, Any] = {
        "upid": task.upid,
        "node": task.node,
        "pid": task.pid,
        "pstart": task.pstart,
        "starttime": task.starttime,
        "type": task.type,
        "id": task.id,
        "user": userid,
        "status": "running" if task.running else "stopped",
    }
    if bang:
        out["tokenid"] = tokenname
    if not task.running:
        out["exitstatus"] = task.exitstatus
        out["endtime"] = task.endtime
    return out


def _state_class(task: Task) -> str:
    if task.running:
        return "running"
    if task.exitstatus == "OK":
        return "ok"
    if task.exitstatus.startswith("WARNINGS"):
        return "warning"
    return "error"


def filter_tasks(tasks: Iterable[Task], args: dict[str, Any]) -> list[Task]:
    """The filters of proxmox-rest-server's task lists (`typefilter`/`userfilter` match parts)."""
    running = bool(args.get("running"))
    errors = bool(args.get("errors"))
    since, until = args.get("since"), args.get("until")
    typefilter, userfilter = args.get("typefilter"), args.get("userfilter")
    store = args.get("store")
    statusfilter = args.get("statusfilter")
    if isinstance(statusfilter, str):
        statusfilter = [s for s in statusfilter.split(",") if s]
    out = []
    for task in tasks:
        state = _state_class(task)
        if running and state != "running" or errors and state in ("running", "ok"):
            continue
        if since is not None and task.starttime < int(since) or until is not None and task.starttime > int(until):
            continue
        if typefilter and str(typefilter) not in task.type:
            continue
        if userfilter and str(userfilter) not in task.user:
            continue
        if store and not (task.id == store or task.id.startswith(f"{store}:")):
            continue
        if statusfilter and state not in statusfilter:
            continue
        out.append(task)
    return out


def page(items: list[Any], args: dict[str, Any]) -> wire.Reply:
    start = int(args.get("start", 0) or 0)
    limit = int(args.get("limit", 50) if args.get("limit") is not None else 50)
    chosen = items[start:] if limit == 0 else items[start : start + limit]
    return wire.Reply(chosen, {"total": len(items)})


def log_reply(task: Task, args: dict[str, Any]) -> wire.Reply:
    """Task log lines as proxmox-rest-server reads them: `n` counts from 1, lines from `start`."""
    lines = task.lines()
    start = int(args.get("start", 0) or 0)
    limit = int(args.get("limit", 50) if args.get("limit") is not None else 50)
    chosen = [(n, line) for n, line in enumerate(lines, start=1) if n >= start]
    if limit:
        chosen = chosen[:limit]
    extra: dict[str, Any] = {"total": len(lines)}
    if args.get("test-status"):
        extra["active"] = task.running
    return wire.Reply([{"n": n, "t": line} for n, line in chosen], extra)


def local_tasks(call: Call) -> list[Task]:
    return [t for t in call.world.tasks if t.remote is None]


def _node_task(call: Call) -> Task:
    upid = call.params["upid"]
    task = call.world.tasks.get(upid)
    if task is None or task.remote is not None or call.params["node"] not in (task.node, "localhost"):
        parsed = wire.parse_upid(upid)
        if parsed is None:
            raise wire.ApiError(400, wire.rest_bad_upid(upid))
        raise wire.ApiError(400, wire.rest_task_missing(upid))
    return task


@handles("GET", "/nodes/{node}/tasks", REST)
def node_tasks(call: Call) -> wire.Reply:
    node = call.params["node"]
    if not _is_node(call.store, node):
        raise wire.missing_object("/nodes", node, call.params)
    return page([task_list_entry(t) for t in filter_tasks(local_tasks(call), call.args)], call.args)


@handles("GET", "/nodes/{node}/tasks/{upid}", REST, finds_own_objects=True)
def task_index(call: Call) -> list[dict[str, str]]:
    _node_task(call)
    return [{"subdir": "log"}, {"subdir": "status"}]


@handles("GET", "/nodes/{node}/tasks/{upid}/status", REST, finds_own_objects=True)
def node_task_status(call: Call) -> dict[str, Any]:
    return task_status(_node_task(call))


@handles("GET", "/nodes/{node}/tasks/{upid}/log", REST, finds_own_objects=True)
def node_task_log(call: Call) -> wire.Reply:
    return log_reply(_node_task(call), call.args)


@handles("DELETE", "/nodes/{node}/tasks/{upid}", REST, finds_own_objects=True)
def stop_node_task(call: Call) -> None:
    call.world.tasks.stop(_node_task(call).upid)
    return None


def own_upid(world: World, effect: Callable[[], Any]) -> str | None:
    """The UPID of the task running `effect` (an effect learns its own task's UPID)."""
    for task in world.tasks:
        if task.effect is effect:
            return task.upid
    return None


def worker(
    call: Call,
    task_type: str,
    worker_id: str,
    effect: Callable[[], Any] | None = None,
    log: list[str] | None = None,
    error: str | None = None,
) -> TaskRequest:
    """A worker task on this daemon's host, started by the caller."""
    return TaskRequest(
        node=hostname(call.store),
        type=task_type,
        id=worker_id,
        user=call.user or "root@pam",
        effect=effect,
        log=list(log or []),
        error=error,
    )


# =============================================================================================
# PBS: datastores
# =============================================================================================

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
_KEEP_SELECTORS: dict[str, Callable[[int], str]] = {
    "keep-last": lambda t: str(t),
    "keep-hourly": lambda t: time.strftime("%Y/%m/%d/%H", time.gmtime(t)),
    "keep-daily": lambda t: time.strftime("%Y/%m/%d", time.gmtime(t)),
    "keep-weekly": lambda t: "{0}/{1:02d}".format(*datetime.datetime.fromtimestamp(t, datetime.UTC).isocalendar()[:2]),
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


def _ns_prefix(ns: str) -> str:
    return "".join(f"ns/{part}/" for part in ns.split("/") if part)


def _group_key(group: tuple[str, str]) -> tuple[Any, ...]:
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
    snap["protected"] = _truthy(snap.get("protected", False))
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


def _backend_type(cfg: dict[str, Any]) -> str:
    return "s3" if "type=s3" in str(cfg.get("backend") or "") else "filesystem"


def admin_item(cfg: dict[str, Any]) -> dict[str, Any]:
    """The `/admin/datastore` entry for a configured datastore."""
    item: dict[str, Any] = {
        "store": cfg["name"],
        "backend-type": _backend_type(cfg),
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


def _digest(store: StateStore) -> str:
    """The digest of datastore.cfg: one for every datastore, as PBS guards the whole file."""
    return generic.digest_of([config_of(store, name) for name in datastore_names(store)], "pbs")


def _need_datastore(call: Call, name: str) -> dict[str, Any]:
    cfg = call.store.get(("config", "datastore", name))
    if not isinstance(cfg, dict):
        raise wire.ApiError(404, wire.pbs_datastore_missing(name))
    return cfg


def _garbage(world: World, name: str) -> list[int]:
    """Bytes of pruned snapshots not yet collected, per datastore (world-private bookkeeping)."""
    hit = world.cache.get(("pbs.garbage", name))
    if hit is None:
        hit = world.cache[("pbs.garbage", name)] = (0, [0])
    return hit[1]


# --- /config/datastore ---------------------------------------------------------------------------


@handles("GET", "/config/datastore", ("pbs",))
def list_datastore_configs(call: Call) -> wire.Reply:
    return wire.Reply([config_of(call.store, n) for n in datastore_names(call.store)], {"digest": _digest(call.store)})


@handles("GET", "/config/datastore/{name}", ("pbs",))
def read_datastore_config(call: Call) -> wire.Reply:
    return wire.Reply(_need_datastore(call, call.params["name"]), {"digest": _digest(call.store)})


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
    cfg = dict(_need_datastore(call, name))
    digest = call.args.get("digest")
    if digest and digest != _digest(call.store):
        raise wire.DIGEST_MISMATCH
    for key in KEEP_OPTIONS + ("prune-schedule",):
        if key in call.args:
            raise wire.parameter_error({key: "datastore prune settings have been replaced by prune jobs"})
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
    _need_datastore(call, name)
    digest = call.args.get("digest")
    if digest and digest != _digest(call.store):
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
    return [admin_item({**config_of(call.store, n), "name": n}) for n in datastore_names(call.store)]


def _snaps_in_ns(call: Call, store_name: str) -> list[dict[str, Any]]:
    ns = str(call.args.get("ns") or "")
    return [s for s in snapshots(call.store, store_name) if str(s.get("ns") or "") == ns]


@handles("GET", "/admin/datastore/{store}/snapshots", ("pbs",))
def list_snapshots(call: Call) -> list[dict[str, Any]]:
    btype, bid = call.args.get("backup-type"), call.args.get("backup-id")
    owners = _group_owners(call.store, call.params["store"])
    out = []
    for snap in _snaps_in_ns(call, call.params["store"]):
        if btype and snap["backup-type"] != btype or bid and snap["backup-id"] != str(bid):
            continue
        view = snapshot_view(snap)
        owner = owners.get((snap["backup-type"], snap["backup-id"]))
        if owner:
            view["owner"] = owner
        out.append(view)
    return out


def _seeded_groups(store: StateStore, name: str) -> list[dict[str, Any]]:
    value = store.get(("admin", "datastore", name, "groups"))
    return [g for g in value if isinstance(g, dict)] if isinstance(value, list) else []


def _group_owners(store: StateStore, name: str) -> dict[tuple[str, str], str]:
    return {
        (str(g.get("backup-type")), str(g.get("backup-id"))): g["owner"]
        for g in _seeded_groups(store, name)
        if g.get("owner")
    }


def compute_groups(store: StateStore, name: str, snaps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seeded = {(str(g.get("backup-type")), str(g.get("backup-id"))): g for g in _seeded_groups(store, name)}
    by_group: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for snap in snaps:
        by_group.setdefault((snap["backup-type"], snap["backup-id"]), []).append(snap)
    out = []
    for key in sorted(by_group, key=_group_key):
        members = by_group[key]
        last = max(members, key=lambda s: s["backup-time"])
        extra = seeded.get(key, {})
        item: dict[str, Any] = {
            "backup-type": key[0],
            "backup-id": key[1],
            "last-backup": last["backup-time"],
            "backup-count": len(members),
            "files": [f["filename"] for f in last.get("files", [])],
            "owner": extra.get("owner") or last.get("owner", "root@pam"),
        }
        if extra.get("comment"):
            item["comment"] = str(extra["comment"]).split("\n", 1)[0]
        out.append(item)
    return out


@handles("GET", "/admin/datastore/{store}/groups", ("pbs",))
def list_groups(call: Call) -> list[dict[str, Any]]:
    return compute_groups(call.store, call.params["store"], _snaps_in_ns(call, call.params["store"]))


def _find_snapshot(call: Call, name: str) -> dict[str, Any]:
    btype, bid = call.args.get("backup-type"), str(call.args.get("backup-id"))
    btime = int(call.args.get("backup-time", 0))
    ns = str(call.args.get("ns") or "")
    for snap in snapshots(call.store, name):
        if (snap["backup-type"], snap["backup-id"], snap["backup-time"]) == (btype, bid, btime) and str(
            snap.get("ns") or ""
        ) == ns:
            return snap
    raise wire.ApiError(404, wire.pbs_snapshot_missing(f"{_ns_prefix(ns)}{btype}/{bid}/{rfc3339(btime)}"))


def _replace_snapshot(call: Call, name: str, old: dict[str, Any], new: dict[str, Any] | None) -> None:
    snaps = [s for s in snapshots(call.store, name) if s is not old]
    if new is not None:
        index = snapshots(call.store, name).index(old)
        snaps.insert(index, new)
    set_snapshots(call.store, name, snaps)


@handles("DELETE", "/admin/datastore/{store}/snapshots", ("pbs",))
def delete_snapshot(call: Call) -> None:
    name = call.params["store"]
    snap = _find_snapshot(call, name)
    if snap.get("protected"):
        raise wire.ApiError(400, wire.pbs_snapshot_protected(snapshot_name(snap)))
    _replace_snapshot(call, name, snap, None)
    _garbage(call.world, name)[0] += int(snap.get("size", 0) / DEDUP_FACTOR)
    return None


@handles("DELETE", "/admin/datastore/{store}/groups", ("pbs",))
def delete_group(call: Call) -> dict[str, Any]:
    name = call.params["store"]
    btype, bid = call.args.get("backup-type"), str(call.args.get("backup-id"))
    ns = str(call.args.get("ns") or "")
    snaps = snapshots(call.store, name)
    members = [s for s in snaps if (s["backup-type"], s["backup-id"]) == (btype, bid) and str(s.get("ns") or "") == ns]
    if not members:
        raise wire.ApiError(404, wire.pbs_group_missing(f"{_ns_prefix(ns)}{btype}/{bid}"))
    removed = [s for s in members if not s.get("protected")]
    set_snapshots(call.store, name, [s for s in snaps if s not in removed])
    _garbage(call.world, name)[0] += int(sum(s.get("size", 0) for s in removed) / DEDUP_FACTOR)
    if len(removed) < len(members):
        raise wire.ApiError(400, wire.pbs_group_partially_deleted(f"{btype}/{bid}"))
    return {"protected-snapshots": 0, "removed-groups": 1, "removed-snapshots": len(removed)}


@handles("GET", "/admin/datastore/{store}/files", ("pbs",))
def list_files(call: Call) -> list[dict[str, Any]]:
    return list(_find_snapshot(call, call.params["store"]).get("files", []))


@handles("GET", "/admin/datastore/{store}/protected", ("pbs",))
def get_protected(call: Call) -> bool:
    return bool(_find_snapshot(call, call.params["store"]).get("protected"))


@handles("PUT", "/admin/datastore/{store}/protected", ("pbs",))
def set_protected(call: Call) -> None:
    name = call.params["store"]
    snap = _find_snapshot(call, name)
    _replace_snapshot(call, name, snap, {**snap, "protected": _truthy(call.args.get("protected"))})
    return None


@handles("GET", "/admin/datastore/{store}/notes", ("pbs",))
def get_notes(call: Call) -> str:
    snap = _find_snapshot(call, call.params["store"])
    return str(snap.get("notes", snap.get("comment", "")))


@handles("PUT", "/admin/datastore/{store}/notes", ("pbs",))
def set_notes(call: Call) -> None:
    name = call.params["store"]
    snap = _find_snapshot(call, name)
    notes = str(call.args.get("notes", ""))
    new = {**snap, "notes": notes}
    if notes.strip():
        new["comment"] = notes.split("\n", 1)[0]
    else:
        new.pop("comment", None)
    _replace_snapshot(call, name, snap, new)
    return None


def _group_entry(call: Call, name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    btype, bid = str(call.args.get("backup-type")), str(call.args.get("backup-id"))
    groups = _seeded_groups(call.store, name)
    for entry in groups:
        if (str(entry.get("backup-type")), str(entry.get("backup-id"))) == (btype, bid):
            return groups, entry
    if not any((s["backup-type"], s["backup-id"]) == (btype, bid) for s in snapshots(call.store, name)):
        raise wire.ApiError(404, wire.pbs_group_missing(f"{btype}/{bid}"))
    entry = {"backup-type": btype, "backup-id": bid}
    groups.append(entry)
    return groups, entry


@handles("GET", "/admin/datastore/{store}/group-notes", ("pbs",))
def get_group_notes(call: Call) -> str:
    _, entry = _group_entry(call, call.params["store"])
    return str(entry.get("comment", ""))


@handles("PUT", "/admin/datastore/{store}/group-notes", ("pbs",))
def set_group_notes(call: Call) -> None:
    name = call.params["store"]
    groups, entry = _group_entry(call, name)
    entry["comment"] = str(call.args.get("notes", ""))
    call.store.set(("admin", "datastore", name, "groups"), groups)
    return None


@handles("POST", "/admin/datastore/{store}/change-owner", ("pbs",))
def change_owner(call: Call) -> None:
    name = call.params["store"]
    groups, entry = _group_entry(call, name)
    entry["owner"] = str(call.args.get("new-owner"))
    call.store.set(("admin", "datastore", name, "groups"), groups)
    return None


# --- namespaces -----------------------------------------------------------------------------------


def _namespaces(store: StateStore, name: str) -> list[dict[str, Any]]:
    seeded = store.get(("admin", "datastore", name, "namespace"))
    out: dict[str, dict[str, Any]] = {"": {"ns": ""}}
    for entry in seeded if isinstance(seeded, list) else []:
        if isinstance(entry, dict) and "ns" in entry:
            out[str(entry["ns"])] = dict(entry)
    for snap in snapshots(store, name):
        ns = str(snap.get("ns") or "")
        parts = [p for p in ns.split("/") if p]
        for i in range(1, len(parts) + 1):
            out.setdefault("/".join(parts[:i]), {"ns": "/".join(parts[:i])})
    return [out[k] for k in sorted(out)]


@handles("GET", "/admin/datastore/{store}/namespace", ("pbs",))
def list_namespaces(call: Call) -> list[dict[str, Any]]:
    parent = str(call.args.get("parent") or "")
    depth = call.args.get("max-depth")
    out = []
    for entry in _namespaces(call.store, call.params["store"]):
        ns = entry["ns"]
        if parent and not (ns == parent or ns.startswith(parent + "/")):
            continue
        level = len([p for p in ns.split("/") if p]) - len([p for p in parent.split("/") if p])
        if depth is not None and level > int(depth):
            continue
        out.append(entry)
    return out


@handles("POST", "/admin/datastore/{store}/namespace", ("pbs",))
def create_namespace(call: Call) -> str:
    name = call.params["store"]
    parent = str(call.args.get("parent") or "")
    ns = f"{parent}/{call.args['name']}" if parent else str(call.args["name"])
    known = _namespaces(call.store, name)
    if any(e["ns"] == ns for e in known):
        raise wire.ApiError(400, wire.pbs_namespace_exists(ns))
    if parent and not any(e["ns"] == parent for e in known):
        raise wire.ApiError(400, wire.pbs_namespace_missing(parent))
    call.store.set(("admin", "datastore", name, "namespace"), [e for e in known if e["ns"]] + [{"ns": ns}])
    return ns


@handles("DELETE", "/admin/datastore/{store}/namespace", ("pbs",))
def delete_namespace(call: Call) -> None:
    name = call.params["store"]
    ns = str(call.args.get("ns") or "")
    known = _namespaces(call.store, name)
    if not ns or not any(e["ns"] == ns for e in known):
        raise wire.ApiError(400, wire.pbs_namespace_missing(ns))
    inside = lambda other: other == ns or other.startswith(ns + "/")  # noqa: E731
    snaps = snapshots(call.store, name)
    contained = [s for s in snaps if inside(str(s.get("ns") or ""))]
    if contained and not call.args.get("delete-groups"):
        raise wire.ApiError(400, wire.pbs_namespace_not_empty(ns))
    set_snapshots(call.store, name, [s for s in snaps if s not in contained])
    call.store.set(("admin", "datastore", name, "namespace"), [e for e in known if e["ns"] and not inside(e["ns"])])
    return None


# --- status and usage --------------------------------------------------------------------------


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


def gc_status(store: StateStore, name: str) -> dict[str, Any]:
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
        out["next-run"] = _next_midnight(time.time())
    out.update(seeded)
    out["store"] = name
    return out


def _next_midnight(now: float) -> int:
    return (int(now) // 86400 + 1) * 86400


def _gc_for_status(store: StateStore, name: str) -> dict[str, Any]:
    """The GarbageCollectionStatus embedded in status and usage answers (counters and upid)."""
    status = gc_status(store, name)
    return {k: status[k] for k in ("upid", *GC_COUNTERS) if k in status}


@handles("GET", "/admin/datastore/{store}/status", ("pbs",))
def datastore_status(call: Call) -> dict[str, Any]:
    name = call.params["store"]
    out: dict[str, Any] = {**usage(call.store, name), "backend-type": _backend_type(config_of(call.store, name))}
    if call.args.get("verbose"):
        groups: dict[str, set[tuple[str, str]]] = {}
        snaps: dict[str, int] = {}
        for snap in snapshots(call.store, name):
            kind = snap["backup-type"] if snap["backup-type"] in ("vm", "ct", "host") else "other"
            groups.setdefault(kind, set()).add((str(snap.get("ns") or ""), snap["backup-id"]))
            snaps[kind] = snaps.get(kind, 0) + 1
        out["counts"] = {k: {"groups": len(groups[k]), "snapshots": snaps[k]} for k in groups}
        out["gc-status"] = _gc_for_status(call.store, name)
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
            "backend-type": _backend_type(cfg),
            "mount-status": "mounted" if cfg.get("backing-device") else "nonremovable",
            "gc-status": _gc_for_status(call.store, name),
        }
        growth = (history[-1] - history[0]) / (len(history) - 1) if len(history) > 1 else 0
        if growth > 0:
            entry["estimated-full-date"] = now + int((1.0 - history[-1]) / growth * delta)
        out.append(entry)
    return out


RRD_RESOLUTION = {"hour": 60, "day": 1800, "week": 10800, "month": 43200, "year": 604800, "decade": 6048000}


def rrd_points(
    timeframe: str, now: float, seed: str, sample: Callable[[float], dict[str, Any]], count: int = 70
) -> list[dict[str, Any]]:
    """`count` data points ending now, at the time frame's resolution, gently varying per `seed`."""
    step = RRD_RESOLUTION.get(timeframe, 60)
    end = int(now) // step * step
    phase = int(hashlib.sha256(seed.encode()).hexdigest()[:4], 16) / 0xFFFF
    out = []
    for i in range(count):
        wave = 0.85 + 0.15 * ((i * 0.37 + phase) % 1.0)
        out.append({"time": end - (count - 1 - i) * step, **sample(wave)})
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


@handles("GET", "/nodes/{node}/rrd", REST)
def node_rrd(call: Call) -> list[dict[str, Any]]:
    node = call.store.get(("nodes", call.params["node"]))
    node = node if isinstance(node, dict) else DEFAULT_NODE
    return rrd_points(
        str(call.args.get("timeframe", "hour")),
        clock(call.world),
        call.params["node"],
        lambda w: {
            "cpu": round(float(node.get("cpu", 0.03)) * w, 4),
            "iowait": round(0.002 * w, 4),
            "memtotal": int(node.get("maxmem", 0)),
            "memused": int(int(node.get("mem", 0)) * w),
            "swaptotal": 8 * GiB,
            "swapused": 0,
            "netin": int(2 * MiB * w),
            "netout": int(1 * MiB * w),
            "loadavg": round(0.15 * w, 3),
            "total": int(node.get("maxdisk", 0)),
            "used": int(node.get("disk", 0)),
            "read_ios": int(20 * w),
            "read_bytes": int(4 * MiB * w),
            "write_ios": int(30 * w),
            "write_bytes": int(6 * MiB * w),
            "io_ticks": round(0.01 * w, 4),
        },
    )


# --- garbage collection ------------------------------------------------------------------------------


@handles("GET", "/admin/datastore/{store}/gc", ("pbs",))
def read_gc(call: Call) -> dict[str, Any]:
    return gc_status(call.store, call.params["store"])


@handles("GET", "/admin/gc", ("pbs",))
def list_gc_jobs(call: Call) -> list[dict[str, Any]]:
    wanted = call.args.get("store")
    return [gc_status(call.store, n) for n in datastore_names(call.store) if not wanted or n == wanted]


@handles("GET", "/admin/gc/{store}", ("pbs",))
def read_gc_job(call: Call) -> list[dict[str, Any]]:
    name = call.params["store"]
    _need_datastore(call, name)
    return [gc_status(call.store, name)]


@handles("POST", "/admin/datastore/{store}/gc", ("pbs",))
def start_gc(call: Call) -> TaskRequest:
    name = call.params["store"]
    world, store = call.world, call.store
    before = gc_status(store, name)
    garbage = _garbage(world, name)[0]
    started = time.time()
    files = before["index-file-count"]
    disk = int(before["disk-bytes"])
    removed = min(garbage, disk)
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
                "last-run-endtime": int(time.time()),
                "duration": max(int(time.time() - started), 1),
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
        _garbage(world, name)[0] = 0

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
        select = _KEEP_SELECTORS[option]
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
        _garbage(world, name)[0] += int(sum(s.get("size", 0) for s in gone) / DEDUP_FACTOR)

    return effect


@handles("POST", "/admin/datastore/{store}/prune", ("pbs",))
def prune_group(call: Call) -> Any:
    name = call.params["store"]
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
    for key in sorted(groups, key=lambda k: (k[0], *_group_key(k[1:]))):
        marks, lines = _prune_group(call, name, groups[key], keep)
        log.append(f"Pruning group {_ns_prefix(key[0])}{key[1]}/{key[2]}")
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
        raise wire.ApiError(400, "parameter verification errors - backup-type and backup-id are needed")
    chosen = []
    for snap in snapshots(call.store, name):
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
        task_type, worker_id = "verify_snapshot", f"{name}:{_ns_prefix(ns)}{snapshot_name(chosen[0])}"
    elif bid is not None:
        task_type, worker_id = "verify_group", f"{name}:{_ns_prefix(ns)}{btype}/{bid}"
    else:
        task_type, worker_id = "verify", f"{name}:{ns}" if ns else name
    ignore_verified = call.args.get("ignore-verified", True)
    todo = [s for s in chosen if not (ignore_verified and (s.get("verification") or {}).get("state") == "ok")]
    failed = [s for s in todo if s.get("corrupt")]
    log = [f"verify datastore {name}" if task_type == "verify" else f"verify {worker_id}"]
    for snap in todo:
        log.append(f"  verify {name}:{_ns_prefix(str(snap.get('ns') or ''))}{snapshot_name(snap)}")
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
    kind = call.node.path.rsplit("/", 1)[-1]
    wanted = call.args.get("store")
    out = []
    for item in call.store.items(("admin", kind)):
        if not isinstance(item, dict) or wanted and item.get("store") != wanted:
            continue
        entry = dict(item)
        if entry.get("schedule"):
            entry.setdefault("next-run", _next_midnight(time.time()))
        out.append(entry)
    return out
