"""Issue 14's figures: `scenariod run --workers 2` against one worker, and a fleet's start-up.

    .venv/bin/python benchmarks/workers.py                       # both parts, ~4 minutes
    .venv/bin/python benchmarks/workers.py --part throughput     # --workers 1 vs 2 on a two-file lab
    .venv/bin/python benchmarks/workers.py --part fleet          # 50 clusters x 200 guests + 2 PBS + PDM

Throughput: two copies of scenarios/two-node.yaml, each with a port of its own (`listen`),
are served by `scenariod run --workers 1 A B` (one process) and by `--workers 2 A B` (a
parent and two workers, one file each), both started first and idle while the other is
measured; the modes take turns, round after round, and each figure is the median over
rounds. A measured run drives both listeners at once with one wrk per listener (one
thread, --connections each, `GET /api2/json/nodes` with the API token, plain HTTP). No
process is pinned: the servers need both cores in the two-worker mode, and so does the load
generator, which is why its CPU time is reported beside the servers'.

Fleet: `scenariod fleet OUT --clusters 50 --nodes-per-cluster 4 --guests-per-cluster 200
--pbs 2 --pdm` (53 files), served by `scenariod run --workers N --no-tui --no-reload
OUT/*.yaml` (HTTPS, as written); start-up is the time from spawning the parent until every
listener has answered `GET /` (any HTTP status), polled every 50 ms. "First start": no memo
of any file in the cache (scenariod/cache.py; the cache folder keeps its CA and
certificate, as on any machine after its first run); "warm start": the memos the first
start wrote. Each file's own cost is measured too: one VE cluster, one PBS and the PDM
started alone (`scenariod run FILE`), first and warm.

Writes benchmarks/results/workers.json and workers.md.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import HOST, ROOT, Load, log, median  # noqa: E402

TWO_NODE = ROOT / "scenarios" / "two-node.yaml"
THROUGHPUT_TARGET = 1.6
FLEET_TARGET_S = 30.0
FLEET_ARGS = {"clusters": 50, "nodes_per_cluster": 4, "guests_per_cluster": 200, "pbs": 2}
MODES = (1, 2)


# --- processes -------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """pid and every process below it (the workers of `--workers N`), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_of(pids: list[int]) -> float:
    return sum(harness.cpu_seconds(p) or 0.0 for p in pids)


def rss_mib(pids: list[int]) -> float:
    return sum(harness.proc_status(p).get("VmRSS", 0) for p in pids) / 1024


class Served:
    """One `scenariod run` (with its workers), started here and stopped here, by pid."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        out = open(log_path, "wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=str(log_path.parent)
        )
        out.close()

    def pids(self) -> list[int]:
        return descendants(self.proc.pid)

    def stop(self) -> None:
        pids = self.pids()
        harness.stop_process(self.proc, grace=15.0)
        for pid in pids[1:]:  # a worker its parent failed to stop
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    def check(self) -> None:
        if self.proc.poll() is not None:
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"scenariod exited with {self.proc.returncode}; {self.log_path}:\n{tail}")


def answers(port: int, tls: bool, path: str, want_200: bool, timeout: float = 2.0) -> bool:
    """Does the listener answer `path` (with a 200 if `want_200`)?"""
    try:
        status, _ = harness.request(port, tls, "GET", path, timeout=timeout)
    except (OSError, http.client.HTTPException):
        return False
    return status == 200 or not want_200


def wait_listeners(
    served: Served, ports: list[int], tls: bool, path: str, want_200: bool, timeout: float, poll: float
) -> dict[int, float]:
    """Seconds from spawn until each port answered; polls the ones still silent every `poll` s."""
    ready: dict[int, float] = {}
    deadline = served.started + timeout
    while len(ready) < len(ports):
        served.check()
        if time.perf_counter() > deadline:
            missing = sorted(set(ports) - set(ready))
            raise RuntimeError(f"not answering after {timeout} s: ports {missing[:10]} ({len(missing)} in all)")
        for port in ports:
            if port not in ready and answers(port, tls, path, want_200):
                ready[port] = time.perf_counter() - served.started
        time.sleep(poll)
    return ready


def free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def scenariod_run(files: list[Path], workers: int, http: bool) -> list[str]:
    return [
        sys.executable,
        "-m",
        "scenariod",
        "run",
        "--workers",
        str(workers),
        "--no-tui",
        "--no-reload",
        *(["--http"] if http else []),
        *map(str, files),
    ]


# --- part 1: throughput, one worker against two -----------------------------------------------


def lab_files(folder: Path, ports: list[int]) -> list[Path]:
    """Two copies of two-node.yaml, each its own name and port."""
    folder.mkdir(parents=True, exist_ok=True)
    text = TWO_NODE.read_text()
    out = []
    for letter, port in zip("ab", ports, strict=True):
        body = re.sub(r"(?m)^name: .*$", f"name: two-node-{letter}", text)
        body = re.sub(r"(?m)^listen:.*\n", "", body) + f"\nlisten: {{port: {port}}}\n"
        path = folder / f"two-node-{letter}.yaml"
        path.write_text(body)
        out.append(path)
    return out


def load_both(ports: list[int], load: Load, connections: int, duration: float) -> dict[str, Any]:
    """One wrk per listener, all at once; the figures summed, and the load generators' CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = []
    for port in ports:
        argv, env = harness.wrk_command(f"http://{HOST}:{port}", load, connections, duration)
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    raws = []
    for proc in procs:
        out, _ = proc.communicate(timeout=duration + 60)
        raws.append(harness.bench_json(out, f"wrk (exit {proc.returncode})"))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    per = [r["requests"] / (r["duration_us"] / 1e6) for r in raws]
    return {
        "rps": round(sum(per), 1),
        "rps_per_listener": [round(x, 1) for x in per],
        "requests": sum(r["requests"] for r in raws),
        "non2xx": sum(r["status_errors"] for r in raws),
        "socket_errors": sum(r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"] for r in raws),
        "p50_ms": round(median([r["p50_us"] / 1000 for r in raws]), 3),
        "p99_ms": round(max(r["p99_us"] / 1000 for r in raws), 3),
        "client_cpu_s": round(
            (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3
        ),  # the wrk processes just reaped (nothing else is reaped meanwhile)
    }


def bench_throughput(workdir: Path, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    load = Load("GET /nodes (token)", "GET", args.path)
    served: dict[int, Served] = {}
    ports: dict[int, list[int]] = {}
    runs: dict[int, list[dict[str, Any]]] = {m: [] for m in MODES}
    all_ports = free_ports(2 * len(MODES))
    try:
        for i, mode in enumerate(MODES):
            ports[mode] = all_ports[2 * i : 2 * i + 2]
            files = lab_files(workdir / f"lab-w{mode}", ports[mode])
            served[mode] = Served(scenariod_run(files, mode, http=True), env, workdir / f"lab-w{mode}.log")
        for mode in MODES:
            wait_listeners(served[mode], ports[mode], False, args.path, True, 120.0, 0.05)
            log(f"  --workers {mode}: {len(served[mode].pids())} process(es), ports {ports[mode]}")
        for rnd in range(args.rounds):
            busy = harness.wait_quiet(args.quiet_wait)
            la = harness.loadavg()
            log(f"  round {rnd + 1}/{args.rounds} (other processes' CPU use before it: {busy:.0%}, load {la})")
            order = list(MODES) if rnd % 2 == 0 else list(reversed(MODES))
            for mode in order:
                served[mode].check()
                pids = served[mode].pids()
                if args.warmup > 0:
                    load_both(ports[mode], load, args.connections, args.warmup)
                cpu0, parent0 = cpu_of(pids), cpu_of(pids[:1])
                r = load_both(ports[mode], load, args.connections, args.duration)
                r["server_cpu_s"] = round(cpu_of(pids) - cpu0, 3)
                # with workers, the parent relays every request's log line: its share on its own
                r["parent_cpu_s"] = round(cpu_of(pids[:1]) - parent0, 3) if len(pids) > 1 else 0.0
                r["server_processes"] = len(pids)
                r["busy_before"] = round(busy, 3)
                r["loadavg"] = la
                runs[mode].append(r)
                log(
                    f"    --workers {mode}: {r['rps']:>8.0f} req/s {r['rps_per_listener']}  server CPU "
                    f"{r['server_cpu_s']} s (parent {r['parent_cpu_s']} s), wrk CPU {r['client_cpu_s']} s"
                    + (f"  non-2xx {r['non2xx']}" if r["non2xx"] else "")
                )
    finally:
        for s in served.values():
            s.stop()
    out: dict[str, Any] = {"path": args.path, "connections_per_listener": args.connections, "modes": {}}
    for mode, rs in runs.items():
        if not rs:
            continue
        out["modes"][str(mode)] = {
            "rps": median([r["rps"] for r in rs]),
            "rounds_rps": [r["rps"] for r in rs],
            "server_cpu_s": median([r["server_cpu_s"] for r in rs]),
            "parent_cpu_s": median([r["parent_cpu_s"] for r in rs]),
            "client_cpu_s": median([r["client_cpu_s"] for r in rs]),
            "server_cpu_us_per_req": round(median([r["server_cpu_s"] / r["requests"] * 1e6 for r in rs]), 1),
            "client_cpu_us_per_req": round(median([r["client_cpu_s"] / r["requests"] * 1e6 for r in rs]), 1),
            "non2xx": sum(r["non2xx"] for r in rs),
            "socket_errors": sum(r["socket_errors"] for r in rs),
            "p50_ms": median([r["p50_ms"] for r in rs]),
            "p99_ms": median([r["p99_ms"] for r in rs]),
            "server_processes": rs[0]["server_processes"],
            "runs": rs,
        }
    one, two = out["modes"].get("1"), out["modes"].get("2")
    if one and two:
        out["ratio"] = round(two["rps"] / one["rps"], 3)
        out["ratio_per_round"] = [
            round(b["rps"] / a["rps"], 3) for a, b in zip(runs[1], runs[2], strict=False) if a["rps"]
        ]
    return out


# --- part 2: a fleet's start-up ----------------------------------------------------------------


def fleet_base_port() -> int:
    """A base port whose 53 listeners (BASE+i, BASE+500+j, BASE+999) are all free, below the
    ephemeral range (32768-), where a client connection's source port could take one."""
    for base in range(21000, 32000, 1000):
        wanted = [base + i for i in range(FLEET_ARGS["clusters"])]
        wanted += [base + 500 + j for j in range(FLEET_ARGS["pbs"])] + [base + 999]
        if all(port_free(p) for p in wanted):
            return base
    raise RuntimeError("no free port range for the fleet")


def listen_port(path: Path) -> int:
    m = re.search(r"(?m)^listen:\s*\{port:\s*(\d+)", path.read_text())
    if not m:
        raise RuntimeError(f"{path}: no `listen: {{port: N}}` line")
    return int(m.group(1))


def pdm_resources(port: int, calls: int = 3) -> dict[str, Any]:
    """Log in to the PDM as root@pam (ticket) and time `GET /resources/list` `calls` times:
    the first right after start-up (nothing cached yet), then again (a live PDM's per-remote cache)."""
    conn = harness.connection(port, True, timeout=30.0)
    try:
        conn.request(
            "POST",
            "/api2/json/access/ticket",
            body="username=root%40pam&password=secret",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            return {"error": f"login: HTTP {resp.status} {body[:200]!r}"}
        ticket = json.loads(body)["data"]["ticket"]
        out: dict[str, Any] = {"ms": [], "status": [], "entries": []}
        for _ in range(calls):
            t0 = time.perf_counter()
            conn.request("GET", "/api2/json/resources/list", headers={"Cookie": f"PDMAuthCookie={ticket}"})
            resp = conn.getresponse()
            body = resp.read()
            out["ms"].append(round((time.perf_counter() - t0) * 1000, 1))
            out["status"].append(resp.status)
            try:
                data = json.loads(body).get("data") or []
                out["entries"].append(sum(len(r.get("resources", [])) for r in data if isinstance(r, dict)))
            except (ValueError, AttributeError):
                out["entries"].append(None)
        return out
    except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
        return {"error": repr(exc)}
    finally:
        conn.close()


def start_fleet(files: list[Path], workers: int, env: dict[str, str], log_path: Path, poll: float) -> dict[str, Any]:
    ports = [listen_port(f) for f in files]
    served = Served(scenariod_run(files, workers, http=False), env, log_path)
    try:
        ready = wait_listeners(served, ports, True, "/", False, 600.0, poll)
        pids = served.pids()
        out: dict[str, Any] = {
            "all_answer_s": round(max(ready.values()), 3),
            "first_answers_s": round(min(ready.values()), 3),
            "processes": len(pids),
            "rss_mib": round(rss_mib(pids), 1),
            "cpu_s": round(cpu_of(pids), 2),
            "per_file_s": {f.name: round(ready[p], 3) for f, p in zip(files, ports, strict=True)},
        }
        pdm = [p for f, p in zip(files, ports, strict=True) if f.name == "pdm.yaml"]
        if pdm and len(files) > 1:
            out["pdm_resources"] = pdm_resources(pdm[0])
    finally:
        served.stop()
        # the next start binds the same ports: wait until every one of them is free again
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(port_free(p) for p in ports):
            time.sleep(0.2)
    return out


def bench_fleet(workdir: Path, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    fleet = workdir / "fleet"
    base = fleet_base_port()
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "scenariod",
            "fleet",
            str(fleet),
            "--clusters",
            str(FLEET_ARGS["clusters"]),
            "--nodes-per-cluster",
            str(FLEET_ARGS["nodes_per_cluster"]),
            "--guests-per-cluster",
            str(FLEET_ARGS["guests_per_cluster"]),
            "--pbs",
            str(FLEET_ARGS["pbs"]),
            "--pdm",
            "--base-port",
            str(base),
        ],
        check=True,
        capture_output=True,
        env=env,
        cwd=str(workdir),
        timeout=600,
    )
    generated = time.perf_counter() - t0
    files = sorted(fleet.glob("*.yaml"))
    size = sum(f.stat().st_size for f in files)
    log(f"  fleet: {len(files)} files, {size / 2**20:.1f} MiB, written in {generated:.1f} s (base port {base})")
    memos = Path(env["SCENARIOD_CACHE"]) / "scenarios"
    out: dict[str, Any] = {
        "files": len(files),
        "bytes": size,
        "generate_s": round(generated, 2),
        "command": "scenariod fleet OUT --clusters 50 --nodes-per-cluster 4 --guests-per-cluster 200 --pbs 2 --pdm",
        "workers": {},
        "single_files": {},
    }
    for workers in args.fleet_workers:
        res: dict[str, Any] = {"first": [], "warm": []}
        for kind in ["first"] * args.fleet_first_runs + ["warm"] * args.fleet_warm_runs:
            if kind == "first":
                shutil.rmtree(memos, ignore_errors=True)
            busy = harness.wait_quiet(args.quiet_wait)
            la = harness.loadavg()
            r = start_fleet(files, workers, env, workdir / f"fleet-w{workers}.log", args.poll)
            r["busy_before"], r["loadavg"] = round(busy, 3), la
            res[kind].append(r)
            log(
                f"    --workers {workers}, {kind} start: every listener answers after {r['all_answer_s']:.2f} s "
                f"(first after {r['first_answers_s']:.2f} s), {r['processes']} processes, RSS {r['rss_mib']:.0f} MiB, "
                f"CPU {r['cpu_s']} s; load {la}; PDM /resources/list: {r.get('pdm_resources')}"
            )
        for kind in ("first", "warm"):
            if res[kind]:
                res[f"{kind}_s"] = median([r["all_answer_s"] for r in res[kind]])
        out["workers"][str(workers)] = res
    # each kind of file alone: what one file costs, first and warm
    picks = [f for f in files if f.name in ("ve-01.yaml", "pbs-01.yaml", "pdm.yaml")]
    for f in picks:
        shutil.rmtree(memos, ignore_errors=True)
        single: dict[str, Any] = {}
        for kind in ("first", "warm"):
            harness.wait_quiet(args.quiet_wait)
            r = start_fleet([f], 1, env, workdir / f"single-{f.stem}.log", 0.01)
            single[f"{kind}_s"] = r["all_answer_s"]
            single[f"{kind}_cpu_s"] = r["cpu_s"]
            single[f"{kind}_rss_mib"] = r["rss_mib"]
        single["bytes"] = f.stat().st_size
        out["single_files"][f.name] = single
        log(f"    {f.name} alone: first {single['first_s']:.2f} s, warm {single['warm_s']:.2f} s")
    return out


# --- report ------------------------------------------------------------------------------------


def report(res: dict[str, Any]) -> str:
    c = res["config"]
    md = [f"# scenariod --workers and fleet start-up ({c['started']})\n"]
    md.append(
        f"{c['cpus']} CPUs, Python {c['python']}; load average before {c['loadavg_before']}, after "
        f"{res.get('loadavg_after')}. Command: `{c['command']}`. PYTHONUNBUFFERED in the servers' "
        f"environment: {c.get('PYTHONUNBUFFERED') or 'unset'}.\n"
    )
    tp = res.get("throughput")
    if tp:
        md.append("## Throughput: `--workers 2` against one worker, two-file lab, same run\n")
        md.append(
            f"Two copies of scenarios/two-node.yaml, each on its own port, served by `scenariod run --workers N "
            f"--http --no-tui --no-reload A B`; both listeners driven at once by one wrk each (1 thread, "
            f"{tp['connections_per_listener']} connections, `GET {tp['path']}` with the API token), "
            f"{c['duration_s']} s per run after {c['warmup_s']} s of warm-up, {c['rounds']} rounds with the modes "
            "taking turns, medians. Nothing pinned. Server CPU: all the mode's processes (parent and workers), "
            "from /proc, and the parent's alone (it relays the workers' request log lines); wrk CPU: the two wrk "
            "processes (getrusage).\n"
        )
        md.append(
            "| mode | processes | req/s | per round | p50 ms | p99 ms | non-2xx | server CPU s | of which parent s "
            "| server CPU µs/req | wrk CPU s | wrk CPU µs/req |"
        )
        md.append("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for mode, m in tp["modes"].items():
            md.append(
                f"| --workers {mode} | {m['server_processes']} | {m['rps']:.0f} | "
                f"{', '.join(f'{x:.0f}' for x in m['rounds_rps'])} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
                f"{m['non2xx']} | {m['server_cpu_s']:.2f} | {m['parent_cpu_s']:.2f} | "
                f"{m['server_cpu_us_per_req']:.0f} | "
                f"{m['client_cpu_s']:.2f} | {m['client_cpu_us_per_req']:.0f} |"
            )
        md.append("")
        loads = [r["loadavg"][0] for m in tp["modes"].values() for r in m["runs"] if r.get("loadavg")]
        if loads:
            md.append(f"1-minute load average at the start of each round: {min(loads)}–{max(loads)}.\n")
        if "ratio" in tp:
            md.append(
                f"**--workers 2 ÷ --workers 1: {tp['ratio']:.2f}** (per round: "
                f"{', '.join(f'{x:.2f}' for x in tp['ratio_per_round'])}); target ≥ {THROUGHPUT_TARGET}.\n"
            )
    fl = res.get("fleet")
    if fl:
        md.append("## Fleet start-up: 50 clusters × 200 guests + 2 PBS + PDM\n")
        md.append(
            f"`{fl['command']}`: {fl['files']} files, {fl['bytes'] / 2**20:.1f} MiB of YAML (written in "
            f"{fl['generate_s']} s). Served by `scenariod run --workers N --no-tui --no-reload OUT/*.yaml` "
            "(HTTPS); start-up = spawn of the parent until every listener has answered `GET /`, polled every "
            f"{c['poll_s'] * 1000:.0f} ms. First start: no memo of any file in scenariod's cache; warm: the memos "
            "the first start wrote. RSS and CPU: all processes, when the last listener answered.\n"
        )
        md.append(
            "| workers | start | runs, s (every listener answers) | median s | first listener s | RSS MiB | CPU s "
            "| load average |"
        )
        md.append("|---:|---|---|---:|---:|---:|---:|---|")
        for workers, w in fl["workers"].items():
            for kind in ("first", "warm"):
                rs = w.get(kind) or []
                if not rs:
                    continue
                runs = ", ".join(format(r["all_answer_s"], ".2f") for r in rs)
                md.append(
                    f"| {workers} | {kind} | {runs} | "
                    f"{w[f'{kind}_s']:.2f} | {median([r['first_answers_s'] for r in rs]):.2f} | "
                    f"{median([r['rss_mib'] for r in rs]):.0f} | {median([r['cpu_s'] for r in rs]):.1f} | "
                    f"{'; '.join(str(r['loadavg']) for r in rs)} |"
                )
        md.append("")
        w2 = fl["workers"].get("2", {})
        for kind in ("first", "warm"):
            if f"{kind}_s" in w2:
                got = w2[f"{kind}_s"]
                md.append(
                    f"- `--workers 2`, {kind} start: **{got:.1f} s** (target ≤ {FLEET_TARGET_S:.0f} s: "
                    f"{'met' if got <= FLEET_TARGET_S else '**not met**'})"
                )
        pdm = [
            (workers, kind, r["pdm_resources"])
            for workers, w in fl["workers"].items()
            for kind in ("first", "warm")
            for r in w.get(kind) or []
            if r.get("pdm_resources")
        ]
        if pdm:
            md.append(
                "\nPDM `GET /resources/list` (root@pam ticket) right after each start, three calls in a row "
                "(issue 14: ≤ 2 s cold, ≤ 50 ms warm). A PDM that reads its remotes live fetches them on the "
                "first call and answers the next ones from its per-remote cache; a PDM that answers from its "
                "declared copy of the remotes does the same work on every call.\n"
            )
            md.append("| workers | start | ms per call | HTTP status | resources in the answer |")
            md.append("|---:|---|---|---|---|")
            for workers, kind, r in pdm:
                if "error" in r:
                    md.append(f"| {workers} | {kind} | {r['error']} | | |")
                else:
                    md.append(f"| {workers} | {kind} | {r['ms']} | {r['status']} | {r['entries']} |")
        if fl["single_files"]:
            md.append("\nOne file alone (`scenariod run FILE`, one process), spawn to `GET /` answered:\n")
            md.append("| file | KiB | first start s | warm start s | RSS MiB (warm) |")
            md.append("|---|---:|---:|---:|---:|")
            for name, s in fl["single_files"].items():
                md.append(
                    f"| {name} | {s['bytes'] / 1024:.0f} | {s['first_s']:.2f} | {s['warm_s']:.2f} | "
                    f"{s['warm_rss_mib']:.0f} |"
                )
        md.append("")
    return "\n".join(md)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    p.add_argument("--part", choices=("all", "throughput", "fleet"), default="all")
    p.add_argument("--rounds", type=int, default=5, help="throughput rounds, the modes taking turns (default 5)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per throughput run (default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds before each run (default 1)")
    p.add_argument("--connections", type=int, default=8, help="connections per listener (default 8)")
    p.add_argument("--path", default="/api2/json/nodes", help="the GET path of the throughput runs")
    p.add_argument("--fleet-workers", default="2,1", help="worker counts of the fleet starts (default 2,1)")
    p.add_argument("--fleet-first-runs", type=int, default=2, help="first starts per worker count (default 2)")
    p.add_argument("--fleet-warm-runs", type=int, default=3, help="warm starts per worker count (default 3)")
    p.add_argument("--poll", type=float, default=0.05, help="seconds between polls of silent listeners")
    p.add_argument("--quiet-wait", type=float, default=30.0, help="wait up to this long for idle CPUs before a run")
    p.add_argument("--out", default=str(harness.HERE / "results"))
    p.add_argument("--name", default="workers", help="results file stem (default workers)")
    args = p.parse_args()
    args.fleet_workers = [int(x) for x in args.fleet_workers.split(",") if x.strip()]
    if not harness.have_wrk() and args.part in ("all", "throughput"):
        log("wrk is not installed: apt-get install -y wrk")
        return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="scenariod-workers-") as tmp:
        workdir = Path(tmp)
        env = {**os.environ, "SCENARIOD_CACHE": str(workdir / "cache")}
        compiled = harness.precompile_scenariod()
        log(f"bytecode written for {compiled}")
        res: dict[str, Any] = {
            "config": {
                "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "command": " ".join(["benchmarks/workers.py", *sys.argv[1:]]),
                "cpus": harness.cpus(),
                "python": platform.python_version(),
                "loadavg_before": harness.loadavg(),
                "rounds": args.rounds,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "poll_s": args.poll,
                "PYTHONUNBUFFERED": os.environ.get("PYTHONUNBUFFERED"),  # inherited by the servers, as set here
            }
        }
        if args.part in ("all", "throughput"):
            log("== throughput: --workers 1 against --workers 2, two-file lab")
            res["throughput"] = bench_throughput(workdir, env, args)
        if args.part in ("all", "fleet"):
            log("== fleet start-up")
            res["fleet"] = bench_fleet(workdir, env, args)
    res["loadavg_after"] = harness.loadavg()
    harness.write_results(out_dir, args.name, res, report(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
