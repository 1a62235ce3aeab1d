"""What PBS and PDM share as proxmox-rest-server daemons (both run every worker inside one API daemon).

- the node: one host, reachable as its own name and as `localhost` (`/nodes` lists the host);
  workers started at `/nodes/localhost/...` run on the host, and their UPIDs name it;
- users and API tokens as those daemons list them (booleans, `tokenid` = `USER@REALM!NAME`);
- the task API: UPIDs with a task number and systemd-escaped worker ids, task lists with
  `worker_type`/`worker_id`, task status with `user` and `tokenid` apart, task logs that
  count lines from 1;
- the node's RRD series.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .. import generic, wire
from ..clock import clock
from ..state import MISSING
from ..tasks import TaskRequest
from . import falls_back, handles, prepares
from .auth import active_until, create_user, forget_user_secrets
from .rest_privileges import allowed

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


def is_node(store: StateStore, name: str) -> bool:
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
    normalize_users(store)


@falls_back("/nodes/{node}/", REST, ("POST", "PUT", "DELETE"))  # a GET never starts a worker
def on_host(call: Call) -> Any:
    """Node workers with no behaviour of their own (apt update, service restarts, disk setup, ...)."""
    result = generic.handle(call)
    if call.op.returns_upid and isinstance(result, TaskRequest):
        if result.node == "localhost":
            result.node = hostname(call.store)
        if not result.id:
            result.id = str(call.params.get("service") or call.args.get("disk") or call.args.get("name") or "")
    return result


def normalize_users(store: StateStore) -> None:
    """Users and tokens as PBS and PDM list them: real booleans, no PVE-only fields."""
    for userid in store.keys("/access/users"):
        user = store.get(("access", "users", userid))
        if not isinstance(user, dict):
            continue
        clean = {k: v for k, v in user.items() if k not in ("groups", "keys", "realm-type", "tokens") and v is not None}
        clean["userid"] = userid
        clean["enable"] = truthy(clean.get("enable", True))
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
        "enable": truthy(fields.get("enable", True)),
        "expire": int(fields.get("expire", 0) or 0),
    }
    if fields.get("comment") not in (None, ""):
        item["comment"] = fields["comment"]
    return item


def authid_active(world: World, authid: str) -> bool:
    """CachedUserInfo's is_active_auth_id: the user exists, enabled and unexpired, and so does
    the token where `authid` names one."""
    userid, bang, name = authid.partition("!")
    return clock(world) < active_until(world, userid, name if bang else None)


def truthy(value: Any) -> bool:
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
    normalize_users(call.store)
    return None


# Where removing a user or token removes its ACL entries too: proxmox-access-control's delete_user
# and delete_token (PDM) call delete_authid; PBS 3.2's own user API left them in acl.cfg.
ACL_FOLLOWS_AUTHID = ("pdm",)


@handles("DELETE", "/access/users/{userid}", REST)
def delete_rest_user(call: Call) -> Any:
    """The user goes with its tokens, their secrets and, where the product removes them, the ACL
    entries of the user and of each token."""
    answer = generic.handle(call)
    userid = call.params["userid"]
    forget_user_secrets(call.world, userid)
    drop_acl_entries(call, lambda ugid: ugid == userid or ugid.startswith(userid + "!"))
    return answer


def drop_acl_entries(call: Call, gone: Callable[[str], bool]) -> None:
    """delete_authid: every user entry whose auth id `gone` names (where ACL_FOLLOWS_AUTHID)."""
    entries = call.store.get("/access/acl")
    if call.scenario.service in ACL_FOLLOWS_AUTHID and isinstance(entries, list):
        kept = [e for e in entries if not (e.get("ugid_type") == "user" and gone(str(e.get("ugid"))))]
        if len(kept) != len(entries):
            call.store.set("/access/acl", kept)


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
    drop_acl_entries(call, f"{userid}!{name}".__eq__)
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


def state_class(task: Task) -> str:
    return "running" if task.running else status_class(task.exitstatus)


def status_class(status: str) -> str:
    """proxmox-rest-server's TaskStateType of a finished task's status."""
    if status == "OK":
        return "ok"
    if status.startswith("WARNINGS"):
        return "warning"
    return "unknown" if status == "unknown" else "error"


def task_filter(args: dict[str, Any]) -> Callable[[str, int, str, str], bool]:
    """The filters of proxmox-rest-server's task lists (`typefilter`/`userfilter` match parts),
    as a test of a task's (state class, starttime, type, user): for Tasks and for list entries."""
    running = bool(args.get("running"))
    errors = bool(args.get("errors"))
    since, until = args.get("since"), args.get("until")
    since, until = int(since) if since is not None else None, int(until) if until is not None else None
    typefilter, userfilter = args.get("typefilter"), args.get("userfilter")
    statusfilter = args.get("statusfilter")
    if isinstance(statusfilter, str):
        statusfilter = [s for s in statusfilter.split(",") if s]

    def keep(state: str, starttime: int, kind: str, user: str) -> bool:
        if running and state != "running" or errors and state in ("running", "ok"):
            return False
        if since is not None and starttime < since or until is not None and starttime > until:
            return False
        if typefilter and str(typefilter) not in kind or userfilter and str(userfilter) not in user:
            return False
        return not statusfilter or state in statusfilter

    return keep


def filter_tasks(tasks: Iterable[Task], args: dict[str, Any]) -> list[Task]:
    keep, store = task_filter(args), args.get("store")
    return [
        task
        for task in tasks
        if keep(state_class(task), task.starttime, task.type, task.user)
        and not (store and not (task.id == store or task.id.startswith(f"{store}:")))
    ]


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


def _own(task: Task, authid: str | None) -> bool:
    """A task the caller started, itself or through one of its tokens."""
    return authid is None or task.user == authid or task.user.partition("!")[0] == authid


def sees_all_tasks(call: Call) -> bool:
    """Sys.Audit on /system/tasks (System.Audit on PDM) shows everyone's tasks; else one's own."""
    return allowed(call, "/system/tasks", "Sys.Audit" if call.scenario.service == "pbs" else "System.Audit")


def _node_task(call: Call) -> Task:
    upid = call.params["upid"]
    task = call.world.tasks.get(upid)
    if task is None or task.remote is not None or call.params["node"] not in (task.node, "localhost"):
        parsed = wire.parse_upid(upid)
        if parsed is None:
            raise wire.ApiError(400, wire.rest_bad_upid(upid))
        raise wire.ApiError(400, wire.rest_task_missing(upid))
    if not _own(task, call.user) and not sees_all_tasks(call):
        raise wire.ApiError(400, wire.REST_TASK_NOT_YOURS)
    return task


@handles("GET", "/nodes/{node}/tasks", REST)
def node_tasks(call: Call) -> wire.Reply:
    node = call.params["node"]
    if not is_node(call.store, node):
        raise wire.missing_object("/nodes", node, call.params)
    tasks = filter_tasks(local_tasks(call), call.args)
    if not sees_all_tasks(call):
        tasks = [t for t in tasks if _own(t, call.user)]
    return page([task_list_entry(t) for t in tasks], call.args)


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
    task = _node_task(call)
    modify = "Sys.Modify" if call.scenario.service == "pbs" else "System.Modify"
    if not _own(task, call.user) and not allowed(call, "/system/tasks", modify):
        raise wire.ApiError(400, wire.REST_TASK_NOT_YOURS)
    call.world.tasks.stop(task.upid)
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
        user=call.actor,
        effect=effect,
        log=list(log or []),
        error=error,
    )


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
