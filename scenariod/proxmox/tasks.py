"""PVE's task views: node and cluster task lists, a task's status and log, stopping a task.

PBS and PDM answer the same paths in proxmox-rest-server's shapes: proxmox/restserver.py
registers theirs (the registry refuses one operation claimed twice for a service).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import wire
from . import handles
from .access import viewer

if TYPE_CHECKING:
    from ..tasks import Task
    from ..world import Call


def _task(call: Call) -> Task:
    task = call.world.tasks.get(call.params["upid"])
    if task is None or task.node != call.params["node"]:
        raise wire.ApiError(500, wire.PVE_TASK_MISSING)
    return task


@handles("GET", "/nodes/{node}/tasks")
def node_tasks(call: Call) -> wire.Reply:
    args = call.args
    node = call.params["node"]
    vmid = args.get("vmid")
    typefilter = args.get("typefilter")
    userfilter = args.get("userfilter")
    # PVE reads `archive` by default; tasks finish in under a second here, so a client
    # polling the list right after its call could miss a running task: default to all.
    source = args.get("source", "all")
    errors_only = bool(args.get("errors"))
    since, until = args.get("since"), args.get("until")
    statusfilter = {s for s in str(args.get("statusfilter") or "").split(",") if s}
    view = viewer(call)  # the caller's own tasks, or all with Sys.Audit on the node
    who = None if view is None or view.can(f"/nodes/{node}", "Sys.Audit") else view.who
    out = []
    for task in call.world.tasks:
        if task.node != node:
            continue
        if who is not None and who not in (task.user, task.user.partition("!")[0]):
            continue  # a token sees its own tasks, a user its own and its tokens'
        if source == "active" and not task.running or source == "archive" and task.running:
            continue
        if vmid is not None and task.id != str(vmid):
            continue
        if typefilter and task.type != typefilter:
            continue
        if userfilter and userfilter not in task.user:
            continue
        if errors_only and (task.running or task.exitstatus == "OK"):
            continue
        if since is not None and task.starttime < int(since) or until is not None and task.starttime > int(until):
            continue
        if statusfilter and _status_class(task) not in statusfilter:
            continue
        out.append(task.list_entry())
    start = int(args.get("start", 0) or 0)
    limit = int(args.get("limit", 50) or 50)
    return wire.Reply(out[start : start + limit], {"total": len(out)})


def _status_class(task: Task) -> str:
    if task.running:
        return "active"
    if task.exitstatus == "OK":
        return "ok"
    return "warning" if task.exitstatus.startswith("WARNINGS") else "error"


@handles("GET", "/cluster/tasks")
def cluster_tasks(call: Call) -> list[dict[str, Any]]:
    """Every task with Sys.Audit on `/`; otherwise the caller's own (a user's tokens' included)."""
    view = viewer(call)
    if view is None or view.can("/", "Sys.Audit"):
        return [task.list_entry() for task in call.world.tasks]
    return [task.list_entry() for task in call.world.tasks if task.user.partition("!")[0] == view.who]


@handles("GET", "/nodes/{node}/tasks/{upid}", finds_own_objects=True)
def task_index(call: Call) -> list[dict[str, str]]:
    _task(call)
    return [{"name": "log"}, {"name": "status"}]


@handles("GET", "/nodes/{node}/tasks/{upid}/status", finds_own_objects=True)
def task_status(call: Call) -> dict[str, Any]:
    return _task(call).status()


@handles("GET", "/nodes/{node}/tasks/{upid}/log", finds_own_objects=True)
def task_log(call: Call) -> wire.Reply:
    lines = _task(call).lines()
    start = int(call.args.get("start", 0) or 0)
    limit = int(call.args.get("limit", 50) or 50)
    page = [{"n": i + 1, "t": line} for i, line in enumerate(lines[start : start + limit], start=start)]
    return wire.Reply(page, {"total": len(lines)})


@handles("DELETE", "/nodes/{node}/tasks/{upid}", finds_own_objects=True)
def stop_task(call: Call) -> None:
    call.world.tasks.stop(_task(call).upid)
    return None
