"""A whole client workflow as a load: create, start, snapshot, stop, destroy a VM through proxmoxer.

    .venv/bin/python benchmarks/workflow.py --port P [--concurrency 8] [--duration 5] [--vmid-base 10000]

Each worker thread has its own `ProxmoxAPI` (its own keep-alive HTTPS session, API token
auth) and loops over the workflow a real automation runs, each step waiting for its task
as a client does (polling `GET /nodes/{node}/tasks/{upid}/status` until `stopped`):

    POST   /nodes/pve1/qemu                  vmid, name, memory, cores, net0, scsi0=ceph-vm:4
    POST   /nodes/pve1/qemu/{vmid}/status/start
    POST   /nodes/pve1/qemu/{vmid}/snapshot  snapname=s1
    POST   /nodes/pve1/qemu/{vmid}/status/stop
    DELETE /nodes/pve1/qemu/{vmid}

A workflow counts as done only when every task ended with exitstatus OK; anything else
(an HTTP error, a failed task, a task still running after 30 s) counts as failed and the
first few errors are reported. Workers start no new workflow after --duration but finish
the one under way, and the rate is workflows over the time until the last one finished, so
the server's CPU time over the whole run divides by exactly the workflows it served.
Prints one line `BENCH_JSON {...}` (workflows, failures, requests, step latencies) as
benchmarks/wrk/bench.lua does, so benchmarks/run.py parses both alike. proxmoxer's
`https` backend speaks HTTPS only, so this row is always measured over HTTPS.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import warnings
from typing import Any

from proxmoxer import ProxmoxAPI

NODE = "pve1"
TASK_TIMEOUT_S = 30.0
TASK_POLL_S = 0.005  # between status polls of a task still running (tasks here usually end at once)
STEPS = ("create", "start", "snapshot", "stop", "destroy")


class Worker(threading.Thread):
    """One client looping over the workflow until `stop_at`, on VM ids of its own."""

    def __init__(self, args: argparse.Namespace, index: int, stop_at: float) -> None:
        super().__init__(daemon=True)
        tokenid, _, secret = args.token.partition("=")
        user, _, name = tokenid.partition("!")
        self.api = ProxmoxAPI(
            f"{args.host}:{args.port}", user=user, token_name=name, token_value=secret, verify_ssl=False, timeout=30
        )
        self.requests = 0
        session = self.api._store["session"]  # the one session proxmoxer sends with: count every exchange
        session.hooks["response"].append(self._count)
        self.stop_at = stop_at
        self.vmid = args.vmid_base + index * 100_000
        self.done = 0
        self.failed = 0
        self.errors: list[str] = []
        self.step_ms: dict[str, list[float]] = {s: [] for s in STEPS}
        self.workflow_ms: list[float] = []

    def _count(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self.requests += 1

    def wait(self, upid: str) -> None:
        """Poll the task's status until it has stopped; raise unless it ended OK."""
        tasks = self.api.nodes(NODE).tasks(upid)
        deadline = time.monotonic() + TASK_TIMEOUT_S
        while True:
            status = tasks.status.get()
            if status.get("status") == "stopped":
                if status.get("exitstatus") != "OK":
                    raise RuntimeError(f"task {upid} ended {status.get('exitstatus')!r}")
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"task {upid} still running after {TASK_TIMEOUT_S} s")
            time.sleep(TASK_POLL_S)

    def workflow(self, vmid: int) -> dict[str, float]:
        qemu = self.api.nodes(NODE).qemu
        vm = qemu(vmid)
        calls = {
            "create": lambda: qemu.post(
                vmid=vmid, name=f"bench-{vmid}", memory=512, cores=1, net0="virtio,bridge=vmbr0", scsi0="ceph-vm:4"
            ),
            "start": lambda: vm.status.start.post(),
            "snapshot": lambda: vm.snapshot.post(snapname="s1"),
            "stop": lambda: vm.status.stop.post(),
            "destroy": lambda: vm.delete(),
        }
        took: dict[str, float] = {}
        for step in STEPS:
            t0 = time.perf_counter()
            self.wait(calls[step]())
            took[step] = (time.perf_counter() - t0) * 1000
        return took

    def run(self) -> None:
        while time.perf_counter() < self.stop_at:
            self.vmid += 1
            t0 = time.perf_counter()
            try:
                took = self.workflow(self.vmid)
            except Exception as exc:  # any failure of any step: counted and reported, the loop goes on
                self.failed += 1
                if len(self.errors) < 5:
                    self.errors.append(f"vmid {self.vmid}: {exc}"[:300])
                continue
            self.done += 1
            self.workflow_ms.append((time.perf_counter() - t0) * 1000)
            for step, ms in took.items():
                self.step_ms[step].append(ms)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token", default="root@pam!ci=5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10", help="TOKENID=SECRET")
    p.add_argument("--concurrency", type=int, default=8, help="worker threads, each its own client (default 8)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds (default 5)")
    p.add_argument("--vmid-base", type=int, default=10_000, help="worker i uses ids from base + i*100000 + 1")
    args = p.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        p.error("the benchmark drives loopback servers only")
    warnings.filterwarnings("ignore")  # verify_ssl=False: urllib3 warns on every request otherwise
    t0 = time.perf_counter()
    workers = [Worker(args, i, t0 + args.duration) for i in range(args.concurrency)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(args.duration + TASK_TIMEOUT_S * len(STEPS) + 10)
    elapsed = time.perf_counter() - t0
    all_ms = [ms for w in workers for ms in w.workflow_ms]
    out = {
        "workflows": sum(w.done for w in workers),
        "failed": sum(w.failed for w in workers),
        "requests": sum(w.requests for w in workers),
        "duration_s": round(elapsed, 3),
        "client_cpu_s": round(time.process_time(), 3),  # this client's own CPU time, all threads
        "workflow_p50_ms": round(statistics.median(all_ms), 2) if all_ms else None,
        "workflow_p99_ms": round(percentile(all_ms, 99), 2) if all_ms else None,
        "step_p50_ms": {
            s: round(statistics.median(v), 2) if (v := [ms for w in workers for ms in w.step_ms[s]]) else None
            for s in STEPS
        },
        "errors": [e for w in workers for e in w.errors][:5],
    }
    print("BENCH_JSON " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
