"""Worker tasks: the UPID a call answers with, and the task's status and log over time.

A task's effect on state (a started guest is running) is applied when the task ends OK,
not before, as on a real node. What a call holds from the request on (a created guest's
`lock: create` configuration) is let go by `on_failure` when the task ends otherwise.
Durations are multiplied by the scenario's `time_scale`; with 0 a task is finished before
its UPID is returned.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import wire

if TYPE_CHECKING:
    from .scenario.model import Scenario, TaskRule

DEFAULT_DURATION = 0.3
STOPPED_BY_USER = "interrupted by signal"


@dataclass(slots=True)
class TaskRequest:
    """What a behaviour returns for an operation Proxmox runs as a worker."""

    node: str
    type: str
    id: str
    user: str
    effect: Callable[[], Any] | None = None
    log: list[str] = field(default_factory=list)
    error: str | None = None  # the worker fails with this text (PVE refuses inside the worker)
    duration: float | None = None
    remote: str | None = None  # PDM: the task runs on this remote; its UPID reads `REMOTE!UPID:...`
    upid_format: str | None = None  # whose UPID format (pve, pbs, pdm); default: the scenario's service
    # Undoes what the call reserved at once (a guest's `lock: create` config) when the task fails.
    on_failure: Callable[[], Any] | None = None
    # A worker that talks to another server (a remote migration): run with a function that adds a
    # log line; the task ends when it returns (OK) or raises wire.ApiError (the error is its status).
    work: Callable[[Callable[[str], None]], Awaitable[None]] | None = None


@dataclass(slots=True)
class Task:
    """A worker task: what its UPID, status and log answer."""

    upid: str
    node: str
    pid: int
    pstart: int
    starttime: int
    type: str
    id: str
    user: str
    started: float  # monotonic
    duration: float
    log: list[tuple[float, str]]
    exitstatus: str
    effect: Callable[[], Any] | None
    endtime: int | None = None
    handle: asyncio.TimerHandle | asyncio.Future[None] | None = None
    remote: str | None = None
    on_failure: Callable[[], Any] | None = None

    @property
    def running(self) -> bool:
        return self.endtime is None

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "upid": self.upid,
            "node": self.node,
            "pid": self.pid,
            "pstart": self.pstart,
            "starttime": self.starttime,
            "type": self.type,
            "id": self.id,
            "user": self.user,
            "status": "running" if self.running else "stopped",
        }
        if not self.running:
            out["exitstatus"] = self.exitstatus
        return out

    def list_entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "upid": self.upid,
            "node": self.node,
            "pid": self.pid,
            "pstart": self.pstart,
            "starttime": self.starttime,
            "type": self.type,
            "id": self.id,
            "user": self.user,
        }
        if not self.running:
            out["status"] = self.exitstatus
            out["endtime"] = self.endtime
        return out

    def lines(self) -> list[str]:
        """The log lines written so far, ending with Proxmox's TASK line once stopped."""
        if self.running:
            elapsed = time.monotonic() - self.started
            return [line for at, line in self.log if at <= elapsed]
        out = [line for _, line in self.log]
        out.append("TASK OK" if self.exitstatus == "OK" else f"TASK ERROR: {self.exitstatus}")
        return out


class TaskRegistry:
    """The tasks of one world, newest first, bounded by `limits.tasks`."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._tasks: OrderedDict[str, Task] = OrderedDict()
        self._pids = itertools.count(1000 + scenario.seed % 50000)
        self._pstart = 0x1B5F + scenario.seed % 0xFFFF
        # PBS and PDM run every worker in one daemon: one PID, and a task number per worker.
        self._daemon_pid = 700 + scenario.seed % 30000
        self._task_no = itertools.count(0)

    def start(
        self,
        req: TaskRequest,
        rule: TaskRule | None = None,
        rule_log: list[tuple[float, str]] | None = None,
    ) -> str:
        """Start a worker task and return its UPID. A scenario `tasks` rule (`rule`) overrides
        the behaviour's duration, exit status and type, and its log lines (`rule_log`: the
        rule's templates rendered for this request, at unscaled times) replace the built-in ones."""
        scale = self.scenario.time_scale
        duration = DEFAULT_DURATION if req.duration is None else req.duration
        log: list[tuple[float, str]] = [(0.0, line) for line in req.log]
        exitstatus = "OK" if req.error is None else req.error
        task_type = req.type
        if rule is not None:
            if rule.duration is not None:
                duration = rule.duration
            if rule_log:  # a rule without log lines keeps the built-in ones
                log = [(at * scale, line) for at, line in rule_log]
            exitstatus = rule.exitstatus if req.error is None else req.error
            task_type = rule.type or task_type
        duration *= scale
        starttime = int(time.time())
        service = req.upid_format or self.scenario.service
        pid = self._daemon_pid if service in wire.REST_SERVER_SERVICES else next(self._pids)
        upid = wire.format_service_upid(
            service, req.node, pid, self._pstart, next(self._task_no), starttime, task_type, req.id, req.user
        )
        if req.remote:
            upid = f"{req.remote}!{upid}"
        task = Task(
            upid=upid,
            node=req.node,
            pid=pid,
            pstart=self._pstart,
            starttime=starttime,
            type=task_type,
            id=req.id,
            user=req.user,
            started=time.monotonic(),
            duration=duration,
            log=log,
            exitstatus=exitstatus,
            effect=req.effect,
            remote=req.remote,
            on_failure=req.on_failure,
        )
        self._remember(task)
        if req.work is not None and req.error is None:
            task.handle = asyncio.ensure_future(self._work(task, req.work))
        elif duration <= 0:
            self._finish(task)
        else:
            task.handle = asyncio.get_running_loop().call_later(duration, self._finish, task)
        return upid

    def _remember(self, task: Task) -> None:
        self._tasks[task.upid] = task
        self._tasks.move_to_end(task.upid, last=False)
        limit = self.scenario.limits.tasks
        while len(self._tasks) > limit:
            upid, old = self._tasks.popitem(last=True)
            if old.running:  # never forget a running task; keep it and stop trimming
                self._tasks[upid] = old
                break

    async def _work(self, task: Task, work: Callable[[Callable[[str], None]], Awaitable[None]]) -> None:
        def say(line: str) -> None:
            task.log.append((time.monotonic() - task.started, line))

        status = None
        try:
            await work(say)
        except wire.ApiError as err:
            status = err.message
        task.handle = None
        self._finish(task, status)

    def _finish(self, task: Task, exitstatus: str | None = None) -> None:
        if not task.running:
            return
        if exitstatus is not None:
            task.exitstatus = exitstatus
        if task.exitstatus == "OK" and task.effect is not None:
            try:
                task.effect()
            except wire.ApiError as err:  # the effect found the world changed under it
                task.exitstatus = err.message
        if task.exitstatus != "OK" and task.on_failure is not None:
            task.on_failure()
        task.endtime = int(time.time())
        task.handle = None

    def get(self, upid: str) -> Task | None:
        return self._tasks.get(upid)

    def stop(self, upid: str) -> bool:
        task = self._tasks.get(upid)
        if task is None:
            return False
        if task.handle is not None:
            task.handle.cancel()
        self._finish(task, STOPPED_BY_USER)
        return True

    def cancel_all(self) -> None:
        """On shutdown: no timer may outlive the loop."""
        for task in self._tasks.values():
            if task.handle is not None:
                task.handle.cancel()
                task.handle = None

    def __iter__(self):
        return iter(self._tasks.values())

    def __len__(self) -> int:
        return len(self._tasks)


def task_type_for(method: str, template: str) -> str:
    """The UPID type Proxmox writes for an operation (qmstart, vzcreate, ...)."""
    known = wire.TASK_TYPES.get((method, template))
    if known:
        return known
    segs = [s for s in template.split("/") if s]
    last = segs[-1] if segs else "task"
    if last.startswith("{"):
        last = segs[-2] if len(segs) > 1 else "task"
    if "qemu" in segs:
        return "qm" + last.replace("-", "")
    if "lxc" in segs:
        return "vz" + last.replace("-", "")
    return last.replace("-", "")
