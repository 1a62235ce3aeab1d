"""The scale benchmark: scenariod with 1,000 / 10,000 / 100,000 guests.

    .venv/bin/python benchmarks/scale.py                       # all three sizes
    .venv/bin/python benchmarks/scale.py --sizes 1000,10000 --rounds 1 --duration 2

For each size, tools/gen_scale.py writes a scenario (to a temporary folder, never to the
repository), and this script measures:
  - startup: spawn of `scenariod run FILE --no-tui --no-reload --http` to the first
    authenticated 200 on GET /nodes (median of --startup-runs; one run when a start takes
    longer than a minute), and RSS when ready;
  - finished tasks: the manifest's power calls (stop running guests, start stopped ones),
    made before the load so the task list is not empty;
  - throughput and latency of GET /cluster/resources, GET /nodes/{node}/qemu and a single
    guest's GET .../status/current, against a bare aiohttp server that answers each of
    these paths with the very bytes scenariod answered (fetched once, then pre-serialized):
    the ceiling for serving that body;
  - peak RSS (VmHWM) after the load.
Results: benchmarks/results/scale.json and scale.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import gen_scale  # noqa: E402
import harness  # noqa: E402
from harness import HERE, Load, ServerSpec, log, median, proc_status, start_server  # noqa: E402

RESOURCES_TARGET = 0.25  # at 10,000 guests, of the pre-serialized ceiling
START_TARGET_S = 5.0  # at 100,000 guests
RSS_TARGET_KIB = 1024 * 1024  # 1 GiB at 100,000 guests


def scenariod_env(cache: Path) -> dict[str, str]:
    env = {"SCENARIOD_CACHE": str(cache)}
    src = os.environ.get("BENCH_SCENARIOD_SRC")
    if src:
        env["PYTHONPATH"] = src
    return env


def flags() -> list[str]:
    env = {**os.environ, **({"PYTHONPATH": os.environ["BENCH_SCENARIOD_SRC"]} if os.environ.get("BENCH_SCENARIOD_SRC") else {})}
    helptext = subprocess.run([sys.executable, "-m", "scenariod", "run", "--help"], capture_output=True, text=True,
                              timeout=60, cwd=tempfile.gettempdir(), env=env).stdout
    return [f for f in ("--no-tui", "--no-reload") if f in helptext]


def bench_size(size: int, args: argparse.Namespace, workdir: Path, cache: Path, cert: Path, key: Path,
               run_flags: list[str]) -> dict[str, Any]:
    tls = args.transport == "https"
    t0 = time.perf_counter()
    path, manifest = gen_scale.write(size, args.nodes, workdir / "scenarios", seed=42, tasks=args.tasks,
                                     fmt=args.format)
    gen_s = time.perf_counter() - t0
    log(f"== {size} guests on {manifest['nodes']} nodes: {path.name}, {manifest['bytes'] / 1e6:.1f} MB "
        f"(generated in {gen_s:.1f} s)")
    spec = ServerSpec(
        "scenariod",
        lambda port, tls_: [sys.executable, "-m", "scenariod", "run", str(path), "--port", str(port), *run_flags,
                            *([] if tls_ else ["--http"])],
        lambda: scenariod_env(cache),
    )
    out: dict[str, Any] = {"guests": size, "nodes": manifest["nodes"], "file_mb": round(manifest["bytes"] / 1e6, 2),
                           "startup_runs_s": [], "idle_rss_kib": []}
    running = None
    for i in range(args.startup_runs):
        harness.wait_quiet(args.quiet_wait)
        try:
            running = start_server(spec, tls, workdir, timeout=args.startup_timeout)
        except RuntimeError as exc:
            log(f"    start failed: {str(exc).splitlines()[0]}")
            out["startup_error"] = str(exc).splitlines()[0]
            return out
        out["startup_runs_s"].append(round(running.ready_after, 3))
        out["idle_rss_kib"].append(proc_status(running.pid).get("VmRSS"))
        log(f"    startup {running.ready_after:.2f} s, RSS {out['idle_rss_kib'][-1] / 1024:.0f} MiB")
        last = i == args.startup_runs - 1 or running.ready_after > 60
        if last:
            break
        running.stop()
    out["startup_median_s"] = round(median(out["startup_runs_s"]), 3)
    out["idle_rss_kib"] = median(out["idle_rss_kib"])
    bare = None
    try:
        # finished tasks
        conn = harness.connection(running.port, tls, timeout=60)
        statuses: dict[str, int] = {}
        t0 = time.perf_counter()
        for call in manifest["task_calls"]:
            status, _ = harness.request(running.port, tls, "POST", call, "", conn=conn)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        out["task_calls"] = {"count": len(manifest["task_calls"]), "statuses": statuses,
                             "seconds": round(time.perf_counter() - t0, 3)}
        status, body = harness.request(running.port, tls, "GET", "/api2/json/cluster/tasks", conn=conn)
        out["cluster_tasks"] = {"status": status, "count": len(json.loads(body).get("data") or [])
                                if status == 200 else None}
        # the bodies, fetched once (the first /cluster/resources is the cold one: timed)
        node, vm = manifest["first_node"], manifest["first_qemu"]
        endpoints = {
            "resources": Load("GET /cluster/resources", "GET", "/api2/json/cluster/resources"),
            "node_qemu": Load(f"GET /nodes/{node}/qemu", "GET", f"/api2/json/nodes/{node}/qemu"),
            "guest": Load("GET one guest's status/current", "GET",
                          f"/api2/json/nodes/{vm['node']}/qemu/{vm['vmid']}/status/current"),
        }
        routes = []
        out["bodies"] = {}
        for key, load in endpoints.items():
            t0 = time.perf_counter()
            status, body = harness.request(running.port, tls, "GET", load.path, conn=conn)
            first_ms = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            status2, body2 = harness.request(running.port, tls, "GET", load.path, conn=conn)
            second_ms = (time.perf_counter() - t0) * 1000
            f = workdir / f"body-{size}-{key}.json"
            f.write_bytes(body)
            routes += ["--route", f"{load.path}={f}"]
            out["bodies"][key] = {"status": status, "bytes": len(body), "first_ms": round(first_ms, 2),
                                  "second_ms": round(second_ms, 2), "items": _count(body)}
        conn.close()
        bare_spec = ServerSpec(
            "ceiling",
            lambda port, tls_: [sys.executable, str(HERE / "bare_server.py"), "--port", str(port), *routes,
                                *(["--cert", str(cert), "--key", str(key)] if tls_ else [])],
        )
        bare = start_server(bare_spec, tls, workdir)
        out["ceiling_rss_kib"] = proc_status(bare.pid).get("VmRSS")
        servers = {"scenariod": running, "ceiling": bare}
        rounds: dict[str, dict[str, list[dict]]] = {n: {} for n in servers}
        for rnd in range(args.rounds):
            busy = harness.wait_quiet(args.quiet_wait)
            log(f"  round {rnd + 1}/{args.rounds} (other processes' CPU use before it: {busy:.0%})")
            for key, load in endpoints.items():
                order = list(servers) if rnd % 2 == 0 else list(reversed(servers))
                for name in order:
                    if args.warmup > 0:
                        harness.drive(args.driver, servers[name], load, args.connections, args.warmup)
                    r = harness.drive(args.driver, servers[name], load, args.connections, args.duration)
                    rounds[name].setdefault(key, []).append(r.as_dict())
                    log(f"    {name:<10} {load.name:<34} {r.rps:>9.1f} req/s  p50 {r.p50_ms:8.2f} ms  "
                        f"p99 {r.p99_ms:8.2f} ms{'  non-2xx ' + str(r.non2xx) if r.non2xx else ''}")
        out["loads"] = {}
        for key in endpoints:
            row: dict[str, Any] = {"name": endpoints[key].name}
            for name in servers:
                runs = rounds[name][key]
                row[name] = {m: round(median([r[m] for r in runs]), 3) for m in ("rps", "p50_ms", "p99_ms")}
                cpu = [r["cpu_us_per_req"] for r in runs if r.get("cpu_us_per_req")]
                row[name]["cpu_us_per_req"] = round(median(cpu), 1) if cpu else None
                row[name]["non2xx"] = sum(r["non2xx"] for r in runs)
                row[name]["rounds_rps"] = [r["rps"] for r in runs]
            row["ratio"] = round(row["scenariod"]["rps"] / row["ceiling"]["rps"], 3) if row["ceiling"]["rps"] else None
            sc, ce = row["scenariod"]["cpu_us_per_req"], row["ceiling"]["cpu_us_per_req"]
            row["cpu_ratio"] = round(ce / sc, 3) if sc and ce else None
            out["loads"][key] = row
        out["peak_rss_kib"] = proc_status(running.pid).get("VmHWM")
    finally:
        running.stop()
        if bare is not None:
            bare.stop()
    return out


def _count(body: bytes) -> int | None:
    try:
        data = json.loads(body).get("data")
    except (ValueError, AttributeError):
        return None
    return len(data) if isinstance(data, list) else None


def report(res: dict[str, Any]) -> tuple[dict[str, Any], str]:
    c = res["config"]
    md = [f"# scenariod scale benchmark ({c['started']})\n"]
    md.append(f"Driver **{c['driver']}**, {c['connections']} connections, {c['duration_s']} s per endpoint and "
              f"round, {c['rounds']} round(s) alternating scenariod and the ceiling (figures: medians), "
              f"scenarios written as {c.get('format', 'yaml').upper()}, "
              f"{c['transport'].upper()}; scenariod from {c['scenariod_src']}; {c['cpus']} CPUs, Python {c['python']}. "
              "The ceiling is a bare aiohttp server answering each path with the bytes scenariod answered "
              "(pre-serialized).\n")
    md.append("CPU µs/req: the server's CPU time during the run ÷ requests answered; CPU capacity ÷ ceiling: the "
              "ceiling's CPU µs/req ÷ scenariod's (robust to other processes on the machine).\n")
    md.append("| guests | nodes | file MB | startup s | RSS ready MiB | peak RSS MiB | finished tasks | "
              "first /cluster/resources ms |")
    md.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in res["sizes"]:
        if "startup_error" in s and not s.get("startup_runs_s"):
            md.append(f"| {s['guests']} | {s['nodes']} | {s['file_mb']} | failed: {s['startup_error']} | | | | |")
            continue
        peak = s.get("peak_rss_kib")
        md.append(f"| {s['guests']} | {s['nodes']} | {s['file_mb']} | {s.get('startup_median_s', 0):.2f} | "
                  f"{(s.get('idle_rss_kib') or 0) / 1024:.0f} | {(peak or 0) / 1024:.0f} | "
                  f"{(s.get('cluster_tasks') or {}).get('count', '—')} | "
                  f"{s.get('bodies', {}).get('resources', {}).get('first_ms', '—')} |")
    md.append("")
    md.append("| guests | endpoint | body KB | scenariod req/s | p50 ms | p99 ms | ceiling req/s | ceiling p50 ms | "
              "req/s ÷ ceiling | CPU µs/req | ceiling CPU µs/req | CPU capacity ÷ ceiling |")
    md.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in res["sizes"]:
        for key, row in (s.get("loads") or {}).items():
            sd, ce = row["scenariod"], row["ceiling"]
            kb = s["bodies"][key]["bytes"] / 1024
            md.append(f"| {s['guests']} | {row['name']} | {kb:.0f} | {sd['rps']:.0f} | {sd['p50_ms']:.2f} | "
                      f"{sd['p99_ms']:.2f} | {ce['rps']:.0f} | {ce['p50_ms']:.2f} | "
                      f"{'—' if row['ratio'] is None else format(row['ratio'], '.2f')} | "
                      f"{sd.get('cpu_us_per_req') or '—'} | {ce.get('cpu_us_per_req') or '—'} | "
                      f"{'—' if row.get('cpu_ratio') is None else format(row['cpu_ratio'], '.2f')} |")
    md.append("")
    targets = []
    by = {s["guests"]: s for s in res["sizes"]}
    if 10_000 in by and by[10_000].get("loads"):
        r = by[10_000]["loads"]["resources"]["ratio"]
        cr = by[10_000]["loads"]["resources"].get("cpu_ratio")
        targets.append(("10,000 guests: GET /cluster/resources ≥ 25% of the pre-serialized ceiling",
                        ("—" if r is None else f"{r:.0%}") + ("" if cr is None else f" (CPU capacity {cr:.0%})"),
                        "≥ 25%", None if r is None else r >= RESOURCES_TARGET))
    if 100_000 in by:
        s = by[100_000]
        st = s.get("startup_median_s")
        targets.append(("100,000 guests: startup", "failed" if st is None else f"{st:.2f} s", "< 5 s",
                        False if st is None else st < START_TARGET_S))
        peak = s.get("peak_rss_kib") or s.get("idle_rss_kib")
        targets.append(("100,000 guests: peak RSS", "—" if not peak else f"{peak / 1024:.0f} MiB", "< 1024 MiB",
                        None if not peak else peak < RSS_TARGET_KIB))
    sizes = sorted(k for k in by if by[k].get("loads"))
    if len(sizes) >= 2:
        lo, hi = by[sizes[0]]["loads"]["guest"]["scenariod"]["rps"], by[sizes[-1]]["loads"]["guest"]["scenariod"]["rps"]
        r = hi / lo if lo else None
        targets.append((f"single guest lookup at {sizes[-1]:,} ÷ at {sizes[0]:,} guests (independent of size: ≈ 1)",
                        "—" if r is None else f"{r:.2f}", "≈ 1 (≥ 0.8)", None if r is None else r >= 0.8))
    md.append("| target | measured | wanted | met |")
    md.append("|---|---:|---:|---|")
    for name, got, want, ok in targets:
        md.append(f"| {name} | {got} | {want} | {'yes' if ok else ('—' if ok is None else '**no**')} |")
    md.append("")
    md.append("Finished tasks are made by the manifest's power calls: the scenario format cannot seed past tasks.\n")
    res["targets"] = [{"target": n, "measured": g, "wanted": w, "met": ok} for n, g, w, ok in targets]
    return res, "\n".join(md)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--sizes", default="1000,10000,100000", help="guest counts (default 1000,10000,100000)")
    p.add_argument("--nodes", type=int, help="nodes for every size (default: 10, 50, 100 by size)")
    p.add_argument("--driver", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--transport", choices=("http", "https"), default="http")
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--startup-runs", type=int, default=3)
    p.add_argument("--startup-timeout", type=float, default=900.0, help="seconds to wait for a start (default 900)")
    p.add_argument("--tasks", type=int, default=200, help="finished tasks to make before the load (default 200)")
    p.add_argument("--format", choices=("yaml", "json"), default="yaml",
                   help="scenario files as YAML (default) or as JSON (also YAML; for a loader with a JSON fast path)")
    p.add_argument("--quiet-wait", type=float, default=60.0)
    p.add_argument("--keep", help="write the generated scenarios and bodies here and keep them")
    p.add_argument("--scenariod-src", help="measure the scenariod package in this folder instead of the installed one")
    p.add_argument("--out", default=str(HERE / "results"))
    args = p.parse_args()
    if args.driver == "auto":
        args.driver = "wrk" if harness.have_wrk() else "python"
    elif args.driver == "wrk" and not harness.have_wrk():
        log("wrk is not installed: apt-get install -y wrk, or use --driver python")
        return 2
    if args.scenariod_src:
        src = str(Path(args.scenariod_src).resolve())
        os.environ["BENCH_SCENARIOD_SRC"] = src
        sys.path.insert(0, src)
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="scenariod-scale-") as tmp:
        workdir = Path(args.keep) if args.keep else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        cache = workdir / "cache"
        os.environ["SCENARIOD_CACHE"] = str(cache)
        from scenariod.tls import ensure_certificate

        _ca, cert, key = ensure_certificate(harness.HOST)
        run_flags = flags()
        harness.precompile_scenariod({"PYTHONPATH": os.environ["BENCH_SCENARIOD_SRC"]}
                                     if os.environ.get("BENCH_SCENARIOD_SRC") else None)
        res: dict[str, Any] = {"config": {
            "started": datetime.datetime.now().isoformat(timespec="seconds"), "driver": args.driver,
            "connections": args.connections, "duration_s": args.duration, "rounds": args.rounds,
            "transport": args.transport, "cpus": harness.cpus(), "python": platform.python_version(),
            "format": args.format,
            "scenariod_src": args.scenariod_src or "installed", "scenariod_flags": run_flags,
            "loadavg_before": harness.loadavg(),
        }, "sizes": []}
        for size in sizes:
            res["sizes"].append(bench_size(size, args, workdir, cache, cert, key, run_flags))
            (out_dir / "scale.json").write_text(json.dumps(res, indent=1) + "\n")  # partial results survive
    res["loadavg_after"] = harness.loadavg()
    res, md = report(res)
    (out_dir / "scale.json").write_text(json.dumps(res, indent=1) + "\n")
    (out_dir / "scale.md").write_text(md)
    print(md)
    log(f"written: {out_dir / 'scale.json'}, {out_dir / 'scale.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
