"""Tasks that run on PDM's remotes (UPIDs `REMOTE!UPID:...`), in each remote's own shapes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ... import wire
from ...clock import clock
from .. import handles
from ..restserver import (
    log_reply,
    page,
    status_class,
    task_filter,
    task_list_entry,
    task_status,
)
from .model import live_remote, managed, remote_type
from .remote_client import RemoteError, is_live, remote_calls
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


# --- every remote's tasks ----------------------------------------------------------------------------

# PDM's task cache keeps 7 days of tasks and asks each node for at most 5000 at a time
# (server/src/remote_tasks: KEEP_OLD_FILES x ROTATE_AFTER, MAX_TASKS_TO_FETCH).
KEPT_SECONDS = 7 * 24 * 3600
MAX_TASKS_TO_FETCH = 5000


def list_item(rid: str, upid: str, endtime: Any, status: Any) -> dict[str, Any] | None:
    """PDM's TaskListItem: what its cache keeps of a task (UPID, end, status), the rest read off
    the UPID; a PVE task has no `worker_id` there, a PBS one has its UPID's."""
    parsed = wire.parse_upid(upid)
    if parsed is None:
        return None
    item: dict[str, Any] = {
        "upid": f"{rid}!{upid}",
        "node": parsed["node"],
        "pid": parsed["pid"],
        "pstart": parsed["pstart"],
        "starttime": parsed["starttime"],
        "worker_type": parsed["type"],
        "user": parsed["user"],
    }
    if "task_no" in parsed and parsed["id"]:
        item["worker_id"] = parsed["id"]
    if endtime is not None:
        item["endtime"] = endtime
    if status is not None:
        item["status"] = status
    return item


def _declared_items(call: Call, rid: str) -> list[dict[str, Any]]:
    out = []
    for task in remote_tasks(call, rid):
        native = task.upid.partition("!")[2] or task.upid
        item = list_item(rid, native, task.endtime, None if task.running else task.exitstatus)
        if item is not None:
            out.append(item)
    return out


async def _live_items(call: Call, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """A live remote's tasks of the last 7 days, every node asked at once; a node or remote that
    does not answer adds none (PDM logs it and lists the others' tasks)."""
    ask = remote_calls(call.world)
    # the cutoff moves by the hour, so that the asked lists stay kept for `limits.remote_cache`
    since = int(clock(call.world)) // 3600 * 3600 - KEPT_SECONDS
    params: dict[str, Any] = {"since": since, "limit": MAX_TASKS_TO_FETCH}
    try:
        if cfg.get("type") == "pbs":
            nodes = ["localhost"]
        else:
            params["source"] = "all"  # PVE lists only finished tasks without it
            nodes = [str(n["node"]) for n in await ask.get(cfg, "/nodes") or () if isinstance(n, dict)]
    except RemoteError:
        return []
    answers = await asyncio.gather(
        *(ask.get(cfg, f"/nodes/{node}/tasks", params) for node in nodes), return_exceptions=True
    )
    out = []
    for answer in answers:
        if isinstance(answer, BaseException):
            if not isinstance(answer, RemoteError):
                raise answer
            continue
        for entry in answer or ():
            if isinstance(entry, dict) and isinstance(entry.get("upid"), str):
                item = list_item(cfg["id"], entry["upid"], entry.get("endtime"), entry.get("status"))
                if item is not None:
                    out.append(item)
    return out


async def _gathered(call: Call) -> list[dict[str, Any]]:
    """Every task of the remotes asked (one remote with `remote`), as PDM's task cache lists them
    (newest first), with the request's filters; live remotes are asked side by side."""
    wanted = call.args.get("remote")
    cfgs = [c for c in managed(call.store) if (wanted is None or c["id"] == wanted) and in_view(call, c["id"], None)]
    found = [_declared_items(call, c["id"]) for c in cfgs if not is_live(c)]
    found += await asyncio.gather(*(_live_items(call, c) for c in cfgs if is_live(c)))
    keep = task_filter(call.args)
    items = [
        item
        for group in found
        for item in group
        if keep(_item_state(item), item["starttime"], item["worker_type"], item["user"])
    ]
    items.sort(key=lambda item: item["upid"])
    items.sort(key=lambda item: item["starttime"], reverse=True)
    return items


def _item_state(item: dict[str, Any]) -> str:
    status = item.get("status")
    return "running" if status is None else status_class(str(status))


@handles("GET", "/remotes/tasks/list", ("pdm",))
async def all_remote_tasks(call: Call) -> wire.Reply:
    return page(await _gathered(call), call.args)


@handles("GET", "/remotes/tasks/statistics", ("pdm",))
async def task_statistics(call: Call) -> dict[str, Any]:
    """Counts of the finished tasks PDM's task list would give for the same filters (its
    `start`/`limit` too), by type and by remote."""
    by_type: dict[str, dict[str, int]] = {}
    by_remote: dict[str, dict[str, int]] = {}
    for item in page(await _gathered(call), call.args).data:
        state = _item_state(item)
        if state == "running":
            continue
        for table, key in ((by_type, item["worker_type"]), (by_remote, item["upid"].partition("!")[0])):
            counts = table.setdefault(key, {"ok": 0, "warning": 0, "error": 0, "unknown": 0})
            counts[state] += 1
    return {"by-type": by_type, "by-remote": by_remote}
