"""The scenariod benchmark: scenariod against a bare aiohttp ceiling and two peers, one run.

    .venv/bin/python benchmarks/run.py                  # everything, ~6 minutes on 2 cores
    .venv/bin/python benchmarks/run.py --quick          # 2 s per endpoint, 3 startups
    .venv/bin/python benchmarks/run.py --servers scenariod,bare --transports http

Starts, one at a time on this machine (loopback only):
  scenariod    `scenariod run scenarios/two-node.yaml --no-tui --no-reload [--http]`
  bare         benchmarks/bare_server.py: aiohttp answering a fixed {"data": []} (the ceiling)
  bare-block   the same with --one-block: answering as scenariod does (scenariod/answer.py)
  fakepve      from PyPI, in benchmarks/.peers-venv (benchmarks/peer_fakepve.py starts it)
  proxmox-sdk  from PyPI, its mock mode: `uvicorn proxmox_sdk.mock_main:app` (the app its
               `proxmox-sdk-mock` command serves), in benchmarks/.peers-venv
and drives each with the same load (wrk, or benchmarks/loadgen.py with --driver python)
on the same transport (plain HTTP, then HTTPS with one shared certificate), endpoint by
endpoint; then a whole client workflow through proxmoxer (create, start, snapshot, stop,
destroy a VM; benchmarks/workflow.py) against scenariod, fakepve and a bare ceiling over
HTTPS; then measures startup to the first authenticated 200, peak RSS, and scenariod's
hot-reload latency. Results: benchmarks/results/latest.json and latest.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import (  # noqa: E402
    HERE,
    ROOT,
    TOKEN_ID,
    TOKEN_SECRET,
    Load,
    LoadResult,
    ServerSpec,
    log,
    median,
    proc_status,
    start_server,
)

SCENARIO = ROOT / "scenarios" / "two-node.yaml"
SERVERS = ("scenariod", "bare", "bare-block", "fakepve", "proxmox-sdk")
PEERS = ("fakepve", "proxmox-sdk")

# The endpoints. {n} is the load generator's counter: unique pool ids for POST, and the
# DELETE run removes the pools the POST run created, in the same order.
ENDPOINTS = {
    "nodes": Load("GET /nodes (token)", "GET", "/api2/json/nodes"),
    "resources": Load("GET /cluster/resources", "GET", "/api2/json/cluster/resources"),
    "leaf": Load("GET /nodes/pve1/dns (generic leaf)", "GET", "/api2/json/nodes/pve1/dns"),
    "post": Load("POST /pools (create)", "POST", "/api2/json/pools", body="poolid=bench{n}"),
    "delete": Load("DELETE /pools (remove)", "DELETE", "/api2/json/pools?poolid=bench{n}"),
}
TARGETS = {"nodes": 0.75, "leaf": 0.6, "resources": 0.6, "post": 0.6, "delete": 0.6}
STARTUP_TARGET = 1.3
RSS_TARGET = 1.5
RELOAD_TARGET_MS = 300.0


# --- the servers -----------------------------------------------------------------------------


def scenariod_env() -> dict[str, str]:
    """PYTHONPATH for --scenariod-src (a checkout or snapshot to measure instead of the installed one)."""
    src = os.environ.get("BENCH_SCENARIOD_SRC")
    return {"PYTHONPATH": src} if src else {}


def scenariod_flags() -> list[str]:
    """`--no-tui --no-reload` when this scenariod has them."""
    helptext = subprocess.run(
        [sys.executable, "-m", "scenariod", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tempfile.gettempdir(),
        env={**os.environ, **scenariod_env()},
    ).stdout
    return [f for f in ("--no-tui", "--no-reload") if f in helptext]


def make_specs(
    workdir: Path, cert: Path, key: Path, cache: Path, flags: list[str], scenario: Path = SCENARIO
) -> dict[str, ServerSpec]:
    peers_py = str(harness.peers_python())
    tls_args = ["--cert", str(cert), "--key", str(key)]
    counter = iter(range(1_000_000))

    def scenariod_argv(port: int, tls: bool) -> list[str]:
        return [
            sys.executable,
            "-m",
            "scenariod",
            "run",
            str(scenario),
            "--port",
            str(port),
            *flags,
            *([] if tls else ["--http"]),
        ]

    def bare_argv(port: int, tls: bool) -> list[str]:
        return [sys.executable, str(HERE / "bare_server.py"), "--port", str(port), *(tls_args if tls else [])]

    def fakepve_argv(port: int, tls: bool) -> list[str]:
        return [
            peers_py,
            str(HERE / "peer_fakepve.py"),
            "--port",
            str(port),
            "--token",
            f"{TOKEN_ID}={TOKEN_SECRET}",
            *(tls_args if tls else []),
        ]

    def sdk_argv(port: int, tls: bool) -> list[str]:
        ssl_args = ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)] if tls else []
        return [
            peers_py,
            "-m",
            "uvicorn",
            "proxmox_sdk.mock_main:app",
            "--host",
            harness.HOST,
            "--port",
            str(port),
            *ssl_args,
        ]

    def sdk_env() -> dict[str, str]:
        return {
            "OTEL_SDK_DISABLED": "true",  # no telemetry export, ever
            "PROXMOX_MOCK_DATA_PATH": str(workdir / "no-mock-data.json"),  # not /etc/proxmox-sdk/...
            "PROXMOX_MOCK_STATE_PATH": str(workdir / f"sdk-state-{next(counter)}.sqlite3"),  # fresh state
        }

    return {
        "scenariod": ServerSpec(
            "scenariod",
            scenariod_argv,
            lambda: {"SCENARIOD_CACHE": str(cache), **scenariod_env()},
            note=f"scenariod run scenarios/{scenario.name} {' '.join(flags)} [--http]",
        ),
        "bare": ServerSpec(
            "bare",
            bare_argv,
            auth_checked=False,
            note='benchmarks/bare_server.py: aiohttp web.Server, fixed {"data": []}',
        ),
        "bare-block": ServerSpec(
            "bare-block",
            lambda port, tls: [*bare_argv(port, tls), "--one-block"],
            auth_checked=False,
            note="benchmarks/bare_server.py --one-block: the same, answering as scenariod does (scenariod/answer.py), "
            "the like-for-like ceiling; the targets divide by bare",
        ),
        "fakepve": ServerSpec(
            "fakepve",
            fakepve_argv,
            note=f"fakepve {harness.PEER_PACKAGES['fakepve']} via benchmarks/peer_fakepve.py "
            "(FakePve API; API token in FakePve.apitokens)",
        ),
        "proxmox-sdk": ServerSpec(
            "proxmox-sdk",
            sdk_argv,
            sdk_env,
            post_form=False,
            auth_checked=False,
            note=f"proxmox-sdk {harness.PEER_PACKAGES['proxmox-sdk']} mock: uvicorn "
            "proxmox_sdk.mock_main:app (no auth; no {data} envelope; POST params "
            "in the query)",
        ),
    }


def load_for(spec: ServerSpec, key: str, limit: int = 0) -> Load:
    load = ENDPOINTS[key]
    if key == "post" and not spec.post_form:
        return Load(load.name, "POST", "/api2/json/pools?poolid=bench{n}", None)
    if key == "delete":
        return Load(load.name, load.method, load.path, load.body, limit)
    return load


# --- one server under load -------------------------------------------------------------------


def note_load(args: argparse.Namespace, phase: str, busy: float) -> None:
    """Remember the machine's load at the start of a round (the report prints the range)."""
    args.load_log.append({"phase": phase, "loadavg": harness.loadavg(), "busy_before": round(busy, 3)})


def probe(running: harness.Running, spec: ServerSpec) -> dict[str, Any]:
    """One request per endpoint before the load: what each server answers (status, a sample)."""
    out: dict[str, Any] = {}
    for key in ("nodes", "resources", "leaf"):
        status, body = harness.request(running.port, running.tls, "GET", ENDPOINTS[key].path)
        out[key] = {"status": status, "sample": body[:160].decode("utf-8", "replace")}
    post = load_for(spec, "post")
    status, body = harness.request(
        running.port,
        running.tls,
        "POST",
        post.path.replace("{n}", "probe"),
        post.body.replace("{n}", "probe") if post.body else None,
    )
    out["post"] = {"status": status, "sample": body[:160].decode("utf-8", "replace")}
    status, body = harness.request(
        running.port, running.tls, "DELETE", ENDPOINTS["delete"].path.replace("{n}", "probe")
    )
    out["delete"] = {"status": status, "sample": body[:160].decode("utf-8", "replace")}
    status, _ = harness.request(
        running.port,
        running.tls,
        "GET",
        "/api2/json/nodes",
        headers={"Authorization": "PVEAPIToken=root@pam!ci=wrong-secret"},
    )
    out["wrong_token_status"] = status
    return out


def _line(name: str, load: Load, r: LoadResult, extra: str = "") -> None:
    log(
        f"    {name:<12} {load.name:<36} {r.rps:>9.1f} req/s  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms"
        f"{'  non-2xx ' + str(r.non2xx) if r.non2xx else ''}{extra}"
    )


def _aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over the rounds (and the rounds themselves)."""
    out: dict[str, Any] = {}
    for key in ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "cpu_us_per_req"):
        vals = [r[key] for r in runs if r.get(key) is not None]
        out[key] = round(median(vals), 3) if vals else None
    out["non2xx"] = sum(r["non2xx"] for r in runs)
    out["socket_errors"] = sum(r["socket_errors"] for r in runs)
    out["requests"] = sum(r["requests"] for r in runs)
    out["rounds_rps"] = [r["rps"] for r in runs]
    if len(runs) > 1 and out["rps"]:
        out["spread"] = round((max(out["rounds_rps"]) - min(out["rounds_rps"])) / out["rps"], 3)
    return out


def bench_transport(
    specs: dict[str, ServerSpec], servers: list[str], tls: bool, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """All servers up (idle but one), the load moved from one to the next, round after round.

    Each load run targets one server while the others sit idle, and the order rotates from
    round to round, so a disturbance on the machine (another process) falls on all servers
    alike instead of on whichever happened to run then. Figures are medians over rounds.
    """
    running: dict[str, harness.Running] = {}
    out: dict[str, Any] = {name: {"loads": {}, "rounds": {}} for name in servers}
    try:
        for name in servers:
            running[name] = start_server(specs[name], tls, workdir)
            out[name]["idle_rss_kib"] = proc_status(running[name].pid).get("VmRSS")
            out[name]["probe"] = probe(running[name], specs[name])
        # Reads first, all rounds, on the state the servers started with; then the writes
        # (a peer that removes slowly keeps the pools it did not remove, and they would
        # weigh on its later reads).
        for rnd in range(args.rounds):
            busy = harness.wait_quiet(args.quiet_wait)
            note_load(args, f"reads {'https' if tls else 'http'} round {rnd + 1}", busy)
            log(f"  reads, round {rnd + 1}/{args.rounds} (other processes' CPU use before it: {busy:.0%})")
            order = servers[rnd % len(servers) :] + servers[: rnd % len(servers)]
            for key in ("nodes", "resources", "leaf"):
                for name in order:
                    load = load_for(specs[name], key)
                    if args.warmup > 0:
                        harness.drive(args.driver, running[name], load, args.connections, args.warmup)
                    r = harness.drive(args.driver, running[name], load, args.connections, args.duration)
                    out[name]["rounds"].setdefault(key, []).append(r.as_dict())
                    _line(name, load, r)
        for rnd in range(args.rounds):
            busy = harness.wait_quiet(args.quiet_wait)
            note_load(args, f"writes {'https' if tls else 'http'} round {rnd + 1}", busy)
            log(f"  writes, round {rnd + 1}/{args.rounds} (other processes' CPU use before it: {busy:.0%})")
            order = servers[rnd % len(servers) :] + servers[: rnd % len(servers)]
            for name in order:
                prefix = f"r{rnd}b"
                post = load_for(specs[name], "post")
                post = Load(
                    post.name,
                    post.method,
                    post.path.replace("bench", prefix),
                    post.body.replace("bench", prefix) if post.body else None,
                )
                r = harness.drive(args.driver, running[name], post, args.connections, args.duration)
                out[name]["rounds"].setdefault("post", []).append(r.as_dict())
                _line(name, post, r)
                # Remove what the POST run created, in order; stop short of the last few,
                # which may have been in flight when the POST run ended.
                limit = max(r.requests - r.non2xx - 2 * args.connections - 2, 1)
                delete = load_for(specs[name], "delete", limit)
                delete = Load(delete.name, delete.method, delete.path.replace("bench", prefix), None, limit)
                d = harness.drive(args.driver, running[name], delete, args.connections, args.duration)
                out[name]["rounds"].setdefault("delete", []).append({**d.as_dict(), "available": limit})
                _line(name, delete, d, f"  ({d.requests} of {limit} pools)")
        for name in servers:
            peak = proc_status(running[name].pid)
            out[name]["peak_rss_kib"] = peak.get("VmHWM")
            out[name]["rss_after_kib"] = peak.get("VmRSS")
            for key, runs in out[name]["rounds"].items():
                out[name]["loads"][key] = _aggregate(runs)
    finally:
        for r in running.values():
            r.stop()
    return out


# --- a whole client workflow -------------------------------------------------------------------

WORKFLOW_NAME = "proxmoxer: create, start, snapshot, stop, destroy a VM"
WORKFLOW_SERVERS = ("scenariod", "fakepve", "bare")
# The bare ceiling for the workflow: every write answers a UPID, every GET (the task status
# polls) a finished task, so proxmoxer's calls all succeed and only the client and aiohttp work.
WORKFLOW_UPID = "UPID:pve1:00001000:00001B5F:6B0C5DD2:qmcreate:100:root@pam!ci:"
WORKFLOW_STATUS = {"status": "stopped", "exitstatus": "OK", "upid": WORKFLOW_UPID, "node": "pve1"}


def workflow_specs(specs: dict[str, ServerSpec], workdir: Path, flags: list[str], cert: Path, key: Path):
    """The servers of the workflow row: scenariod on a copy of its scenario whose tasks finish at
    once (`time_scale: 0`, as fakepve's tasks do: its guests start and stop in 0 s), fakepve as it
    is, and the bare server answering what the workflow's calls expect."""
    text = SCENARIO.read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith("time_scale:")]
    instant = workdir / f"{SCENARIO.stem}-instant-tasks.yaml"
    instant.write_text("\n".join(lines) + "\ntime_scale: 0\n")
    upid = workdir / "workflow-upid.json"
    upid.write_text(json.dumps({"data": WORKFLOW_UPID}))
    status = workdir / "workflow-status.json"
    status.write_text(json.dumps({"data": WORKFLOW_STATUS}))
    out = {
        "scenariod": make_specs(workdir, cert, key, Path(os.environ["SCENARIOD_CACHE"]), flags, instant)["scenariod"],
        "fakepve": specs["fakepve"],
        "bare": ServerSpec(
            "bare",
            lambda port, tls: [
                sys.executable,
                str(HERE / "bare_server.py"),
                "--port",
                str(port),
                "--cert",
                str(cert),
                "--key",
                str(key),
                "--body-file",
                str(status),
                "--write-body-file",
                str(upid),
            ],
            auth_checked=False,
        ),
    }
    out["scenariod"].note = f"scenarios/{SCENARIO.name} with time_scale: 0 (tasks finish at once, as fakepve's)"
    out["bare"].note = "bare_server.py answering every write with a UPID and every GET with a finished task (OK)"
    return out


def _per_workflow_ms(runs: list[dict[str, Any]], key: str) -> float | None:
    """Median over runs of CPU seconds (`key`) per workflow served, in ms."""
    vals = [r[key] / r["workflows"] * 1000 for r in runs if r.get(key) is not None and r["workflows"]]
    return round(median(vals), 2) if vals else None


def bench_workflow(specs: dict[str, ServerSpec], names: list[str], workdir: Path, args: argparse.Namespace):
    """The workflow, round after round with the servers taking turns (HTTPS: proxmoxer's only transport)."""
    running: dict[str, harness.Running] = {}
    rounds: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    base = iter(range(100_000, 1_000_000_000, 1_000_000))  # fresh VM ids for every run
    try:
        for name in names:
            running[name] = start_server(specs[name], True, workdir)
        for rnd in range(args.rounds):
            busy = harness.wait_quiet(args.quiet_wait)
            note_load(args, f"workflow round {rnd + 1}", busy)
            log(f"  workflow, round {rnd + 1}/{args.rounds} (other processes' CPU use before it: {busy:.0%})")
            for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
                if args.warmup > 0:
                    harness.drive_workflow(running[name], args.workflow_concurrency, args.warmup, next(base))
                r = harness.drive_workflow(running[name], args.workflow_concurrency, args.workflow_duration, next(base))
                r["loadavg"] = harness.loadavg()
                rounds[name].append(r)
                log(
                    f"    {name:<12} {r['wps']:>7.1f} workflows/s  {r['failed']} failed  "
                    f"{r['requests'] / max(r['workflows'] + r['failed'], 1):.1f} req/workflow  "
                    f"server CPU {r['server_cpu_s']} s, client CPU {r['client_cpu_s']} s"
                    + (f"  errors: {r['errors'][:2]}" if r["errors"] else "")
                )
    finally:
        for r in running.values():
            r.stop()
    out: dict[str, Any] = {}
    for name, runs in rounds.items():
        if not runs:
            continue
        out[name] = {
            "wps": median([r["wps"] for r in runs]),
            "rounds_wps": [r["wps"] for r in runs],
            "workflows": sum(r["workflows"] for r in runs),
            "failed": sum(r["failed"] for r in runs),
            "requests_per_workflow": round(
                sum(r["requests"] for r in runs) / max(sum(r["workflows"] + r["failed"] for r in runs), 1), 2
            ),
            "p50_ms": median([r["workflow_p50_ms"] for r in runs if r["workflow_p50_ms"] is not None]),
            "server_cpu_ms_per_workflow": _per_workflow_ms(runs, "server_cpu_s"),
            "client_cpu_ms_per_workflow": _per_workflow_ms(runs, "client_cpu_s"),
            "errors": [e for r in runs for e in r["errors"]][:5],
            "loadavg": [r["loadavg"] for r in runs],
        }
    return out


# --- startup, reload --------------------------------------------------------------------------


FIRST_START_RUNS = 3


def bench_startup(
    specs: dict[str, ServerSpec], names: list[str], tls: bool, workdir: Path, runs: int, quiet_wait: float
) -> dict[str, Any]:
    """Spawn to first authenticated 200, `runs` times per server, the servers taking turns.

    scenariod is also started `FIRST_START_RUNS` times with no memo of its file in the cache
    (scenariod/cache.py), as the first start of an unseen or edited file, which also parses
    the YAML, checks the schema and writes the memo: `first_start_s` is their median.
    """
    times: dict[str, list[float]] = {n: [] for n in names}
    rss: dict[str, list[float]] = {n: [] for n in names}
    cold: dict[str, list[float]] = {}
    harness.wait_quiet(quiet_wait)
    for name in names:
        if not name.startswith("scenariod"):
            continue
        memos = Path(specs[name].env().get("SCENARIOD_CACHE", "")) / "scenarios"
        for _ in range(FIRST_START_RUNS):
            shutil.rmtree(memos, ignore_errors=True)
            running = start_server(specs[name], tls, workdir)
            cold.setdefault(name, []).append(running.ready_after)
            running.stop()
            time.sleep(0.2)
    for i in range(runs):
        harness.wait_quiet(quiet_wait)
        for name in names[i % len(names) :] + names[: i % len(names)]:
            running = start_server(specs[name], tls, workdir)
            try:
                times[name].append(running.ready_after)
                rss[name].append(proc_status(running.pid).get("VmRSS"))
            finally:
                running.stop()
            time.sleep(0.2)
    return {
        name: {
            "runs_s": [round(t, 4) for t in times[name]],
            "median_s": round(median(times[name]), 4),
            "idle_rss_kib_median": median(rss[name]),
            **({"first_start_s": round(median(cold[name]), 4)} if name in cold else {}),
        }
        for name in names
    }


RELOAD_ROUTE = """
routes:
  - when: GET /version
    respond: {{data: {{version: "{value}", release: "9.1", repoid: "bench"}}}}
"""


def bench_reload(specs_factory, workdir: Path, runs: int, flags: list[str]) -> dict[str, Any]:
    """Save a changed route answer; time until the new answer is served (scenariod, HTTP)."""
    if "--no-reload" not in flags:
        return {"skipped": "this scenariod has no hot reload (no --no-reload flag)"}
    scenario = workdir / "reload-two-node.yaml"
    base = SCENARIO.read_text()

    def write(value: str) -> None:
        with open(scenario, "w") as f:
            f.write(base + RELOAD_ROUTE.format(value=value))

    write("bench-0")
    # the reload run watches its file: same command without --no-reload
    spec = specs_factory(scenario, [f for f in flags if f != "--no-reload"])["scenariod"]
    running = start_server(spec, False, workdir, wait_path="/api2/json/version")
    samples: list[float | None] = []
    try:
        conn = harness.connection(running.port, False, timeout=2.0)
        for i in range(1, runs + 1):
            time.sleep(0.4)  # let the watcher settle after the previous save
            want = f"bench-{i}".encode()
            t0 = time.perf_counter()
            write(f"bench-{i}")
            deadline = t0 + 5.0
            got = None
            while time.perf_counter() < deadline:
                try:
                    _, body = harness.request(running.port, False, "GET", "/api2/json/version", conn=conn)
                except (OSError, harness.http.client.HTTPException):
                    conn.close()
                    conn = harness.connection(running.port, False, timeout=2.0)
                    continue
                if want in body:
                    got = (time.perf_counter() - t0) * 1000
                    break
                time.sleep(0.002)
            samples.append(round(got, 2) if got is not None else None)
        conn.close()
    finally:
        running.stop()
    done = [s for s in samples if s is not None]
    return {
        "runs_ms": samples,
        "median_ms": round(median(done), 2) if done else None,
        "timeouts": len(samples) - len(done),
    }


# --- the report ------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def fmt_ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


GET_KEYS = ("nodes", "resources", "leaf")


def pool_bare_gets(res: dict[str, Any]) -> None:
    """The bare server answers every GET alike, so its GET runs (all endpoints, all rounds)
    are pooled into one ceiling per transport: three times the runs, a steadier figure."""
    for tr in res["load"].values():
        bare = tr.get("bare")
        if not bare or "rounds" not in bare:
            continue
        runs = [r for key in GET_KEYS for r in bare["rounds"].get(key, [])]
        if not runs:
            continue
        pooled = _aggregate(runs)
        bare.setdefault("per_endpoint", {})
        for key in GET_KEYS:
            if key in bare["loads"]:
                bare["per_endpoint"][key] = bare["loads"][key]
                bare["loads"][key] = {**pooled, "pooled": True}


def build_report(res: dict[str, Any]) -> tuple[dict[str, Any], str]:
    pool_bare_gets(res)
    servers = res["config"]["servers"]
    md: list[str] = []
    md.append(f"# scenariod benchmark ({res['config']['started']})\n")
    c = res["config"]
    md.append(
        f"Driver **{c['driver']}**, {c['connections']} connections, {c['duration_s']} s per endpoint "
        f"and round, {c['rounds']} round(s) with the servers taking turns (figures: medians over rounds; "
        f"spread: (max − min) / median of req/s), {c['warmup_s']} s warm-up before each GET run; scenariod "
        f"from {c['scenariod_src']}; server pinned to CPU {harness.SERVER_CPU} and load "
        f"generator to CPU {harness.CLIENT_CPU}; {c['cpus']} CPUs, Python {c['python']}, "
        f"load average before {c['loadavg_before']}, after {res.get('loadavg_after')}"
        + (
            f"; 1-minute load average at the start of each round: {min(ll)}–{max(ll)}"
            if (ll := [e["loadavg"][0] for e in res.get("load_log", []) if e.get("loadavg")])
            else ""
        )
        + ".\n"
    )
    if c["driver"] == "python":
        md.append(
            "**Driver: the Python load generator.** It costs about as much CPU per request as the servers, so "
            "the fast servers (the ceiling first) are capped by the client and their ratios come out too "
            "high; judge the targets with wrk (`apt-get install -y wrk`, or `--install-wrk`).\n"
        )
    md.append(
        "The ceiling for the three GETs is the bare server's median over all its GET runs (every endpoint, "
        "every round): it answers them all alike, and pooling steadies the figure the targets divide by.\n"
    )
    md.append(
        "CPU µs/req: the server process's CPU time (user + system, /proc/PID/stat) during the run divided "
        "by the requests answered; CPU capacity ÷ bare = bare's CPU µs/req ÷ this server's: the throughput "
        "ratio a saturated single-core server would show, and much less disturbed by other processes on "
        "the machine than req/s.\n"
    )
    md.append("Servers:\n")
    for name in servers:
        md.append(f"- **{name}**: {res['notes'][name]}")
    md.append("")
    targets: list[tuple[str, str, str, bool | None]] = []
    for transport in c["transports"]:
        if transport not in res["load"]:
            continue  # --workflow-only
        tr = res["load"][transport]
        md.append(f"## Throughput and latency, {transport.upper()}\n")
        md.append(
            "| endpoint | server | req/s | p50 ms | p99 ms | non-2xx | req/s ÷ bare | p50 ÷ bare | p99 ÷ bare "
            "| req/s spread | CPU µs/req | CPU capacity ÷ bare |"
        )
        md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for key, load in ENDPOINTS.items():
            bare = tr.get("bare", {}).get("loads", {}).get(key)
            for name in servers:
                r = tr.get(name, {}).get("loads", {}).get(key)
                if r is None:
                    continue
                md.append(
                    f"| {load.name} | {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                    f"{r['non2xx']} | {fmt_ratio(ratio(r['rps'], bare and bare['rps']))} | "
                    f"{fmt_ratio(ratio(r['p50_ms'], bare and bare['p50_ms']))} | "
                    f"{fmt_ratio(ratio(r['p99_ms'], bare and bare['p99_ms']))} | "
                    f"{'—' if r.get('spread') is None else format(r['spread'], '.0%')} | "
                    f"{'—' if r.get('cpu_us_per_req') is None else format(r['cpu_us_per_req'], '.0f')} | "
                    f"{fmt_ratio(ratio(bare and bare.get('cpu_us_per_req'), r.get('cpu_us_per_req')))} |"
                )
        md.append("")
        # scenariod against the ceiling and each peer
        others = [s for s in servers if s != "scenariod"]
        if "scenariod" in tr and others:
            md.append(
                f"### scenariod as a ratio to each, {transport.upper()} "
                "(req/s: higher is better; latency: lower is better)\n"
            )
            head = (
                "| endpoint | "
                + " | ".join(f"req/s ÷ {o}" for o in others)
                + " | "
                + " | ".join(f"p50 ÷ {o}" for o in others)
                + " | "
                + " | ".join(f"p99 ÷ {o}" for o in others)
                + " |"
            )
            md.append(head)
            md.append("|---|" + "---:|" * (3 * len(others)))
            ratios = res.setdefault("ratios", {}).setdefault(transport, {})
            for key, load in ENDPOINTS.items():
                s = tr["scenariod"]["loads"].get(key)
                if s is None:
                    continue
                row = {}
                for o in others:
                    orr = tr.get(o, {}).get("loads", {}).get(key)
                    row[o] = {m: ratio(s[m], orr and orr[m]) for m in ("rps", "p50_ms", "p99_ms")}
                ratios[key] = row
                cells = (
                    [fmt_ratio(row[o]["rps"]) for o in others]
                    + [fmt_ratio(row[o]["p50_ms"]) for o in others]
                    + [fmt_ratio(row[o]["p99_ms"]) for o in others]
                )
                md.append(f"| {load.name} | " + " | ".join(cells) + " |")
            md.append("")
            for key, want in TARGETS.items():
                got = ratios.get(key, {}).get("bare", {}).get("rps")
                bare_l = tr.get("bare", {}).get("loads", {}).get(key) or {}
                cap = ratio(bare_l.get("cpu_us_per_req"), tr["scenariod"]["loads"].get(key, {}).get("cpu_us_per_req"))
                targets.append(
                    (
                        f"{ENDPOINTS[key].name} ≥ {want} × bare, {transport.upper()}",
                        f"{fmt_ratio(got)} (CPU capacity {fmt_ratio(cap)})",
                        f"≥ {want}",
                        None if got is None else got >= want,
                    )
                )
        # probes: what each server answered
        md.append(f"<details><summary>What each server answered ({transport.upper()})</summary>\n")
        md.append("| server | GET /nodes | /cluster/resources | dns leaf | POST | DELETE | wrong token |")
        md.append("|---|---|---|---|---|---|---|")
        for name in servers:
            p = tr.get(name, {}).get("probe")
            if p:
                md.append(
                    f"| {name} | {p['nodes']['status']} | {p['resources']['status']} | {p['leaf']['status']} | "
                    f"{p['post']['status']} | {p['delete']['status']} | {p['wrong_token_status']} |"
                )
        md.append("\n</details>\n")

    wf = res.get("workflow")
    if wf:
        report_workflow(res, wf, md)
    if res["startup"]:
        md.append("## Startup and memory\n")
        md.append(
            "Startup: spawn to the first 200 on `GET /api2/json/nodes` with the API token, polled every 5 ms, "
            f"median of {c['startup_runs']}. First start: the median of {FIRST_START_RUNS} more starts of scenariod, "
            "each with no memo of the file in its cache, as for a new or edited file (the YAML is parsed, the schema "
            "checked and the memo written; scenariod/cache.py). Peak RSS: VmHWM after the load runs above.\n"
        )
        md.append(
            "| transport | server | startup s (median) | ÷ bare | first start s | ÷ bare | idle RSS MiB | peak RSS MiB "
            "| peak ÷ bare |"
        )
        md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for transport in c["transports"]:
        st = res["startup"].get(transport, {})
        tr = res["load"].get(transport, {})
        bare_st = st.get("bare", {}).get("median_s")
        bare_peak = tr.get("bare", {}).get("peak_rss_kib")
        for name in servers:
            s = st.get(name)
            if not s:
                continue
            peak = tr.get(name, {}).get("peak_rss_kib")
            idle = s.get("idle_rss_kib_median")
            first = s.get("first_start_s")
            first_cells = f"{first:.3f} | {fmt_ratio(ratio(first, bare_st))}" if first is not None else " | "
            md.append(
                f"| {transport.upper()} | {name} | {s['median_s']:.3f} | {fmt_ratio(ratio(s['median_s'], bare_st))} | "
                f"{first_cells} | {idle / 1024 if idle else 0:.1f} | {peak / 1024 if peak else 0:.1f} | "
                f"{fmt_ratio(ratio(peak, bare_peak))} |"
            )
            if name == "scenariod":
                r = ratio(s["median_s"], bare_st)
                targets.append(
                    (
                        f"startup ≤ {STARTUP_TARGET} × bare, {transport.upper()}",
                        fmt_ratio(r),
                        f"≤ {STARTUP_TARGET}",
                        None if r is None else r <= STARTUP_TARGET,
                    )
                )
                if first is not None:
                    r = ratio(first, bare_st)
                    targets.append(
                        (
                            f"first start of an unseen file ≤ {STARTUP_TARGET} × bare, {transport.upper()}",
                            fmt_ratio(r),
                            f"≤ {STARTUP_TARGET}",
                            None if r is None else r <= STARTUP_TARGET,
                        )
                    )
                r = ratio(peak, bare_peak)
                targets.append(
                    (
                        f"peak RSS ≤ {RSS_TARGET} × bare, {transport.upper()}",
                        fmt_ratio(r),
                        f"≤ {RSS_TARGET}",
                        None if r is None else r <= RSS_TARGET,
                    )
                )
        extra = st.get("scenariod (reload on)")
        if extra:
            first = extra.get("first_start_s")
            first_cells = f"{first:.3f} | {fmt_ratio(ratio(first, bare_st))}" if first is not None else " | "
            md.append(
                f"| {transport.upper()} | scenariod, watching (no --no-reload) | {extra['median_s']:.3f} | "
                f"{fmt_ratio(ratio(extra['median_s'], bare_st))} | {first_cells} | "
                f"{(extra.get('idle_rss_kib_median') or 0) / 1024:.1f} | | |"
            )
    md.append("")
    rl = res.get("reload")
    if rl:
        md.append("## Hot reload (scenariod)\n")
        if "skipped" in rl:
            md.append(f"Skipped: {rl['skipped']}\n")
        else:
            md.append(
                "Save of a changed route answer (`GET /version`) to the new answer served, polled every 2 ms "
                f"over HTTP: runs {rl['runs_ms']} ms, **median {rl['median_ms']} ms**, "
                f"{rl['timeouts']} timed out (5 s).\n"
            )
            m = rl.get("median_ms")
            targets.append(
                (
                    f"hot reload median < {RELOAD_TARGET_MS:.0f} ms",
                    "—" if m is None else f"{m:.0f} ms",
                    f"< {RELOAD_TARGET_MS:.0f} ms",
                    None if m is None else m < RELOAD_TARGET_MS,
                )
            )
    md.append("## Targets\n")
    md.append("| target | measured | wanted | met |")
    md.append("|---|---:|---:|---|")
    for name, got, want, ok in targets:
        md.append(f"| {name} | {got} | {want} | {'yes' if ok else ('—' if ok is None else '**no**')} |")
    res["targets"] = [{"target": n, "measured": g, "wanted": w, "met": ok} for n, g, w, ok in targets]
    md.append("")
    return res, "\n".join(md)


def report_workflow(res: dict[str, Any], wf: dict[str, Any], md: list[str]) -> None:
    """The proxmoxer workflow table: workflows/s against fakepve and the bare ceiling."""
    cfg = res["config"]["workflow"]
    md.append("## A whole client workflow through proxmoxer, HTTPS\n")
    md.append(
        f"{WORKFLOW_NAME}, each step waiting for its task (`GET .../tasks/{{upid}}/status` until stopped, "
        f"exit status OK) as a client does: benchmarks/workflow.py, {cfg['concurrency']} proxmoxer clients "
        f"(threads, one keep-alive session each) on the load generator's core, {cfg['duration_s']} s per run, "
        f"median over {res['config']['rounds']} round(s). Server CPU ms/workflow: the server's CPU time over the "
        "run divided by the workflows served; capacity ÷ fakepve: fakepve's CPU ms/workflow ÷ this server's "
        "(the workflow rate each would reach with a core to itself and a client that cost nothing). The "
        "client (proxmoxer on requests, in Python) costs more CPU per request than any of these servers, "
        "so the req/s-style figure (workflows/s) is capped by the client; the CPU columns show the servers.\n"
    )
    for name, note in res.get("notes_workflow", {}).items():
        md.append(f"- **{name}**: {note}")
    md.append("")
    md.append(
        "| server | workflows/s | ÷ fakepve | ÷ bare | failed | requests/workflow | workflow p50 ms "
        "| server CPU ms/workflow | capacity ÷ fakepve | capacity ÷ bare | client CPU ms/workflow |"
    )
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    fk, bare = wf.get("fakepve", {}), wf.get("bare", {})
    for name, r in wf.items():
        md.append(
            f"| {name} | {r['wps']:.1f} | {fmt_ratio(ratio(r['wps'], fk.get('wps')))} | "
            f"{fmt_ratio(ratio(r['wps'], bare.get('wps')))} | {r['failed']} | {r['requests_per_workflow']} | "
            f"{r['p50_ms'] or 0:.1f} | {r['server_cpu_ms_per_workflow']} | "
            f"{fmt_ratio(ratio(fk.get('server_cpu_ms_per_workflow'), r['server_cpu_ms_per_workflow']))} | "
            f"{fmt_ratio(ratio(bare.get('server_cpu_ms_per_workflow'), r['server_cpu_ms_per_workflow']))} | "
            f"{r['client_cpu_ms_per_workflow']} |"
        )
        if r["errors"]:
            md.append(f"|  | errors: {'; '.join(r['errors'][:2])} |")
    md.append("")


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    p.add_argument(
        "--driver",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk (apt-get install -y wrk) or the Python one; auto: wrk if installed",
    )
    p.add_argument(
        "--install-wrk",
        action="store_true",
        help="if wrk is missing, install it first (apt-get install -y wrk; needs root)",
    )
    p.add_argument("--duration", type=float, default=3.0, help="seconds per endpoint and round (default 3)")
    p.add_argument("--rounds", type=int, default=3, help="rounds over all servers; figures are medians (default 3)")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each round, wait up to this many seconds for other processes to leave the CPUs "
        "(default 60; 0: do not wait)",
    )
    p.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds before each GET endpoint (default 1)")
    p.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    p.add_argument("--servers", default=",".join(SERVERS), help=f"subset of {','.join(SERVERS)}")
    p.add_argument("--transports", default="http,https", help="http, https or both (default both)")
    p.add_argument("--startup-runs", type=int, default=5)
    p.add_argument("--reload-runs", type=int, default=9)
    p.add_argument("--skip-load", action="store_true", help="only startup, RSS and reload (and the workflow)")
    p.add_argument("--workflow-duration", type=float, default=5.0, help="seconds per workflow run (default 5)")
    p.add_argument(
        "--workflow-concurrency", type=int, default=4, help="proxmoxer clients (threads) in the workflow (default 4)"
    )
    p.add_argument("--no-workflow", action="store_true", help="skip the proxmoxer workflow row")
    p.add_argument("--workflow-only", action="store_true", help="only the proxmoxer workflow row")
    p.add_argument(
        "--quick", action="store_true", help="1 round, 2 s per endpoint, 0.5 s warm-up, 3 startups, 5 reloads"
    )
    p.add_argument("--out", default=str(HERE / "results"), help="folder for latest.json and latest.md")
    p.add_argument(
        "--scenariod-src",
        help="measure the scenariod package in this folder (a checkout or a "
        "`git archive` snapshot) instead of the installed one; its scenarios/ is used too",
    )
    p.add_argument("--report", metavar="JSON", help="only rebuild latest.md (and the ratios) from a results JSON")
    args = p.parse_args()
    args.load_log = []
    if args.report:
        res = json.loads(Path(args.report).read_text())
        for tr in res.get("load", {}).values():  # undo an earlier pooling, then pool again
            for srv in tr.values():
                for key, val in (srv.get("per_endpoint") or {}).items():
                    srv["loads"][key] = val
        res.pop("ratios", None)
        res, md = build_report(res)
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        harness.write_results(out_dir, "latest", res, md)
        return 0
    global SCENARIO
    if args.scenariod_src:
        src = Path(args.scenariod_src).resolve()
        os.environ["BENCH_SCENARIOD_SRC"] = str(src)
        sys.path.insert(0, str(src))
        if (src / "scenarios" / SCENARIO.name).exists():
            SCENARIO = src / "scenarios" / SCENARIO.name
    if args.quick:
        args.rounds, args.duration, args.warmup, args.startup_runs, args.reload_runs = 1, 2.0, 0.5, 3, 5
        args.workflow_duration = 3.0
    if args.install_wrk and not harness.have_wrk():
        harness.install_wrk()
    if args.driver == "auto":
        args.driver = "wrk" if harness.have_wrk() else "python"
        if args.driver == "python":
            log("wrk not found: using the Python load generator (apt-get install -y wrk for the reference figures)")
    elif args.driver == "wrk" and not harness.have_wrk():
        log("wrk is not installed: apt-get install -y wrk, or use --driver python")
        return 2
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in servers:
        if s not in SERVERS:
            p.error(f"unknown server {s!r}")
    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    if any(t not in ("http", "https") for t in transports):
        p.error("--transports takes http and/or https")
    if any(s in PEERS for s in servers):
        harness.ensure_peers_venv()

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="scenariod-bench-") as tmp:
        workdir = Path(tmp)
        cache = workdir / "cache"
        os.environ["SCENARIOD_CACHE"] = str(cache)
        from scenariod.tls import ensure_certificate  # one certificate for every server

        _ca, cert, key = ensure_certificate(harness.HOST)
        flags = scenariod_flags()
        compiled = harness.precompile_scenariod(scenariod_env())
        log(f"bytecode written for {compiled}")

        def specs_for(scenario: Path = SCENARIO, f: list[str] = flags) -> dict[str, ServerSpec]:
            return make_specs(workdir, cert, key, cache, f, scenario)

        specs = specs_for()
        res: dict[str, Any] = {
            "config": {
                "started": datetime.datetime.now().isoformat(timespec="seconds"),
                "driver": args.driver,
                "connections": args.connections,
                "duration_s": args.duration,
                "rounds": args.rounds,
                "warmup_s": args.warmup,
                "servers": servers,
                "transports": transports,
                "startup_runs": args.startup_runs,
                "reload_runs": args.reload_runs,
                "cpus": harness.cpus(),
                "python": platform.python_version(),
                "loadavg_before": harness.loadavg(),
                "scenario": str(SCENARIO),
                "scenariod_flags": flags,
                "scenariod_src": args.scenariod_src or "installed",
                "peers": harness.PEER_PACKAGES,
            },
            "notes": {name: specs[name].note for name in servers},
            "load": {},
            "startup": {},
        }
        if not args.skip_load and not args.workflow_only:
            for transport in transports:
                log(f"== load over {transport.upper()}: {', '.join(servers)}")
                res["load"][transport] = bench_transport(specs, servers, transport == "https", workdir, args)
        wf_names = [s for s in WORKFLOW_SERVERS if s in servers]
        if "scenariod" in wf_names and not args.no_workflow:
            log(f"== workflow through proxmoxer over HTTPS: {', '.join(wf_names)}")
            res["config"]["workflow"] = {
                "concurrency": args.workflow_concurrency,
                "duration_s": args.workflow_duration,
                "servers": wf_names,
            }
            wf_specs = workflow_specs(specs, workdir, flags, cert, key)
            res["notes_workflow"] = {n: wf_specs[n].note for n in wf_names}
            res["workflow"] = bench_workflow(wf_specs, wf_names, workdir, args)
        if args.workflow_only:
            transports = []
        for transport in transports:
            log(f"== startup over {transport.upper()}: {', '.join(servers)} ({args.startup_runs} runs each)")
            startup_specs = dict(specs)
            names = list(servers)
            if "scenariod" in servers and "--no-reload" in flags:
                startup_specs["scenariod (reload on)"] = specs_for(SCENARIO, [f for f in flags if f != "--no-reload"])[
                    "scenariod"
                ]
                names.append("scenariod (reload on)")
            res["startup"][transport] = bench_startup(
                startup_specs, names, transport == "https", workdir, args.startup_runs, args.quiet_wait
            )
            for name in names:
                log(f"    {name:<22} median {res['startup'][transport][name]['median_s']:.3f} s")
        if "scenariod" in servers and args.reload_runs > 0 and not args.workflow_only:
            log(f"== hot reload: scenariod ({args.reload_runs} saves)")
            res["reload"] = bench_reload(lambda sc, f: specs_for(sc, f), workdir, args.reload_runs, flags)
            log(f"    {res['reload']}")
    res["loadavg_after"] = harness.loadavg()
    res["load_log"] = args.load_log
    res, md = build_report(res)
    harness.write_results(out_dir, "latest", res, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
