"""Tasks that run on PDM's remotes (UPIDs `REMOTE!UPID:...`), in each remote's own shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ... import wire
from .. import handles
from ..restserver import (
    filter_tasks,
    log_reply,
    page,
    state_class,
    task_list_entry,
    task_status,
)
from .model import live_remote, remote_type
from .remote_client import remote_calls
from .resources import in_view

if TYPE_CHECKING:
    from ...tasks import Task
    from ...world import Call

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


def _upid_path(call: Call, cfg: dict[str, Any]) -> str:
    """`/nodes/{node}/tasks/{upid}` on the remote, for PDM's `REMOTE!UPID` (or the bare UPID)."""
    upid = call.params["upid"]
    upid = upid.split("!", 1)[1] if upid.startswith(f"{cfg['id']}!") else upid
    parts = upid.split(":")
    if len(parts) < 3 or parts[0] != "UPID":
        raise wire.ApiError(400, wire.rest_task_missing(upid))
    return f"/nodes/{parts[1]}/tasks/{upid}"


async def _live_task_list(call: Call, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """The remote's own task lists: of the node asked, else of each of its nodes (PVE), as PDM gathers them."""
    ask = remote_calls(call.world)
    node = call.args.get("node")
    if node:
        nodes = [str(node)]
    elif remote_type(call) == "pbs":
        nodes = ["localhost"]
    else:
        nodes = [str(n["node"]) for n in await ask.get(cfg, "/nodes") or () if isinstance(n, dict)]
    out: list[dict[str, Any]] = []
    for name in nodes:
        out.extend(await ask.get(cfg, f"/nodes/{name}/tasks", max_age=0) or ())
    return out


@handles("GET", "/pve/remotes/{remote}/tasks", ("pdm",))
@handles("GET", "/pbs/remotes/{remote}/tasks", ("pdm",))
def list_remote_tasks(call: Call) -> Any:
    cfg = live_remote(call.store, call.params["remote"])
    if cfg is not None:
        return _live_task_list(call, cfg)
    tasks = remote_tasks(call, call.params["remote"])
    node = call.args.get("node")
    if node:
        tasks = [t for t in tasks if t.node == node]
    if remote_type(call) == "pve":
        return [t.list_entry() for t in tasks]
    return [task_list_entry(t) for t in tasks]


@handles("GET", "/pve/remotes/{remote}/tasks/{upid}", ("pdm",), finds_own_objects=True)
@handles("GET", "/pbs/remotes/{remote}/tasks/{upid}", ("pdm",), finds_own_objects=True)
def remote_task_index(call: Call) -> list[dict[str, str]]:
    if live_remote(call.store, call.params["remote"]) is None:
        _remote_task(call)
    return [{"subdir": "log"}, {"subdir": "status"}]


@handles("GET", "/pve/remotes/{remote}/tasks/{upid}/status", ("pdm",), finds_own_objects=True)
@handles("GET", "/pbs/remotes/{remote}/tasks/{upid}/status", ("pdm",), finds_own_objects=True)
def remote_task_status(call: Call) -> Any:
    cfg = live_remote(call.store, call.params["remote"])
    if cfg is not None:
        return remote_calls(call.world).get(cfg, _upid_path(call, cfg) + "/status", max_age=0)
    task = _remote_task(call)
    return task.status() if remote_type(call) == "pve" else task_status(task)


@handles("GET", "/pve/remotes/{remote}/tasks/{upid}/log", ("pdm",), finds_own_objects=True)
@handles("GET", "/pbs/remotes/{remote}/tasks/{upid}/log", ("pdm",), finds_own_objects=True)
def remote_task_log(call: Call) -> Any:
    cfg = live_remote(call.store, call.params["remote"])
    if cfg is not None:
        asked = {k: call.args[k] for k in ("start", "limit", "download") if call.args.get(k) is not None}
        return remote_calls(call.world).reply(cfg, _upid_path(call, cfg) + "/log", asked)
    task = _remote_task(call)
    if remote_type(call) == "pbs":
        return log_reply(task, call.args)
    lines = task.lines()
    start = int(call.args.get("start", 0) or 0)
    limit = int(call.args.get("limit", 50) if call.args.get("limit") is not None else 50)
    chosen = lines[start:] if limit == 0 else lines[start : start + limit]
    return wire.Reply([{"n": start + i + 1, "t": line} for i, line in enumerate(chosen)], {"total": len(lines)})


@handles("DELETE", "/pve/remotes/{remote}/tasks/{upid}", ("pdm",), finds_own_objects=True)
@handles("DELETE", "/pbs/remotes/{remote}/tasks/{upid}", ("pdm",), finds_own_objects=True)
def stop_remote_task(call: Call) -> Any:
    cfg = live_remote(call.store, call.params["remote"])
    if cfg is not None:
        return remote_calls(call.world).send(cfg, "DELETE", _upid_path(call, cfg))
    call.world.tasks.stop(_remote_task(call).upid)
    return None


@handles("GET", "/remotes/tasks/list", ("pdm",))
def all_remote_tasks(call: Call) -> wire.Reply:
    tasks = remote_tasks(call, call.args.get("remote"))
    tasks = [t for t in filter_tasks(tasks, call.args) if in_view(call, t.remote or "", None)]
    return page([task_list_entry(t) for t in tasks], call.args)


@handles("GET", "/remotes/tasks/statistics", ("pdm",))
def task_statistics(call: Call) -> dict[str, Any]:
    tasks = filter_tasks(remote_tasks(call, call.args.get("remote")), call.args)
    by_type: dict[str, dict[str, int]] = {}
    by_remote: dict[str, dict[str, int]] = {}
    for task in tasks:
        state = state_class(task)
        if state == "running":
            continue
        for table, key in ((by_type, task.type), (by_remote, task.remote or "")):
            counts = table.setdefault(key, {"ok": 0, "warning": 0, "error": 0, "unknown": 0})
            counts[state] += 1
    return {"by-type": by_type, "by-remote": by_remote}
