"""The scale benchmark: scenariod with 1,000 / 10,000 / 100,000 guests.

    .venv/bin/python benchmarks/scale.py                       # all three sizes
    .venv/bin/python benchmarks/scale.py --sizes 1000,10000 --rounds 1 --duration 2

For each size, tools/gen_scale.py writes a scenario (to a temporary folder, never to the
repository), and this script measures:
  - startup: spawn of `scenariod run FILE --no-tui --no-reload --http` to the first
    authenticated 200 on GET /nodes (median of --startup-runs; one run when a start takes
    longer than a minute), and RSS when ready. The runs use the scenario as JSON (--format;
    JSON is YAML too, and scenariod reads it fastest); the same scenario as YAML, as people
    write it, is started too (--yaml-startup-runs) and reported beside it;
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
import shutil
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
    env = {
        **os.environ,
        **({"PYTHONPATH": os.environ["BENCH_SCENARIOD_SRC"]} if os.environ.get("BENCH_SCENARIOD_SRC") else {}),
    }
    helptext = subprocess.run(
        [sys.executable, "-m", "scenariod", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tempfile.gettempdir(),
        env=env,
    ).stdout
    return [f for f in ("--no-tui", "--no-reload") if f in helptext]


def scenariod_spec(path: Path, cache: Path, run_flags: list[str]) -> ServerSpec:
    return ServerSpec(
        "scenariod",
        lambda port, tls_: [
            sys.executable,
            "-m",
            "scenariod",
            "run",
            str(path),
            "--port",
            str(port),
            *run_flags,
            *([] if tls_ else ["--http"]),
        ],
        lambda: scenariod_env(cache),
    )


def measure_startups(
    spec: ServerSpec, runs: int, args: argparse.Namespace, workdir: Path, out: dict[str, Any], prefix: str = ""
) -> harness.Running | None:
    """Start the server `runs` times (once when a start takes over a minute); record the start
    times, RSS and peak RSS when ready under `prefix`-named keys; the last server is left running
    (None when a start failed: `{prefix}startup_error` says why).

    The first start finds no memo of the file in the cache (scenariod/cache.py), as the first
    start of a new or edited file: `first_start_s`; the median is over the starts after it.
    """
    tls = args.transport == "https"
    shutil.rmtree(Path(spec.env()["SCENARIOD_CACHE"]) / "scenarios", ignore_errors=True)
    times: list[float] = []
    rss: list[int] = []
    hwm: list[int] = []
    running = None
    for i in range(runs):
        harness.wait_quiet(args.quiet_wait)
        try:
            running = start_server(spec, tls, workdir, timeout=args.startup_timeout)
        except RuntimeError as exc:
            log(f"    start failed: {str(exc).splitlines()[0]}")
            out[f"{prefix}startup_error"] = str(exc).splitlines()[0]
            return None
        status = proc_status(running.pid)
        times.append(round(running.ready_after, 3))
        rss.append(status.get("VmRSS"))
        hwm.append(status.get("VmHWM"))
        log(
            f"    {prefix.rstrip('_') + ' ' if prefix else ''}startup {running.ready_after:.2f} s, "
            f"RSS {rss[-1] / 1024:.0f} MiB (peak {hwm[-1] / 1024:.0f} MiB)"
        )
        if i == runs - 1 or running.ready_after > 60:
            break
        running.stop()
    out[f"{prefix}startup_runs_s"] = times
    out[f"{prefix}first_start_s"] = times[0]
    out[f"{prefix}startup_median_s"] = round(median(times[1:] or times), 3)
    out[f"{prefix}idle_rss_kib"] = median(rss)
    out[f"{prefix}ready_hwm_kib"] = max(hwm)
    return running


def bench_size(
    size: int, args: argparse.Namespace, workdir: Path, cache: Path, cert: Path, key: Path, run_flags: list[str]
) -> dict[str, Any]:
    tls = args.transport == "https"
    t0 = time.perf_counter()
    path, manifest = gen_scale.write(
        size, args.nodes, workdir / "scenarios", seed=42, tasks=args.tasks, fmt=args.format
    )
    gen_s = time.perf_counter() - t0
    log(
        f"== {size} guests on {manifest['nodes']} nodes: {path.name}, {manifest['bytes'] / 1e6:.1f} MB "
        f"(generated in {gen_s:.1f} s)"
    )
    out: dict[str, Any] = {"guests": size, "nodes": manifest["nodes"], "file_mb": round(manifest["bytes"] / 1e6, 2)}
    if args.format != "yaml" and args.yaml_startup_runs > 0:
        # the same scenario as YAML, as people write it: its start-up too, honestly
        yaml_path, yaml_manifest = gen_scale.write(
            size, args.nodes, workdir / "scenarios", seed=42, tasks=args.tasks, fmt="yaml"
        )
        out["yaml_file_mb"] = round(yaml_manifest["bytes"] / 1e6, 2)
        started = measure_startups(
            scenariod_spec(yaml_path, cache, run_flags), args.yaml_startup_runs, args, workdir, out, prefix="yaml_"
        )
        if started is not None:
            started.stop()
    running = measure_startups(scenariod_spec(path, cache, run_flags), args.startup_runs, args, workdir, out)
    if running is None:
        return out
    bare = None
    try:
        # finished tasks
        conn = harness.connection(running.port, tls, timeout=60)
        statuses: dict[str, int] = {}
        t0 = time.perf_counter()
        for call in manifest["task_calls"]:
            status, _ = harness.request(running.port, tls, "POST", call, "", conn=conn)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        out["task_calls"] = {
            "count": len(manifest["task_calls"]),
            "statuses": statuses,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        status, body = harness.request(running.port, tls, "GET", "/api2/json/cluster/tasks", conn=conn)
        out["cluster_tasks"] = {
            "status": status,
            "count": len(json.loads(body).get("data") or []) if status == 200 else None,
        }
        # the bodies, fetched once (the first /cluster/resources is the cold one: timed)
        node, vm = manifest["first_node"], manifest["first_qemu"]
        endpoints = {
            "resources": Load("GET /cluster/resources", "GET", "/api2/json/cluster/resources"),
            "node_qemu": Load(f"GET /nodes/{node}/qemu", "GET", f"/api2/json/nodes/{node}/qemu"),
            "guest": Load(
                "GET one guest's status/current",
                "GET",
                f"/api2/json/nodes/{vm['node']}/qemu/{vm['vmid']}/status/current",
            ),
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
            out["bodies"][key] = {
                "status": status,
                "bytes": len(body),
                "first_ms": round(first_ms, 2),
                "second_ms": round(second_ms, 2),
                "items": _count(body),
            }
        conn.close()
        bare_spec = ServerSpec(
            "ceiling",
            lambda port, tls_: [
                sys.executable,
                str(HERE / "bare_server.py"),
                "--port",
                str(port),
                *routes,
                *(["--cert", str(cert), "--key", str(key)] if tls_ else []),
            ],
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
                    log(
                        f"    {name:<10} {load.name:<34} {r.rps:>9.1f} req/s  p50 {r.p50_ms:8.2f} ms  "
                        f"p99 {r.p99_ms:8.2f} ms{'  non-2xx ' + str(r.non2xx) if r.non2xx else ''}"
                    )
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


def _mib(kib: int | None) -> str:
    return "—" if not kib else f"{kib / 1024:.0f}"


def _first_cell(s: dict[str, Any], prefix: str = "") -> str:
    first = s.get(f"{prefix}first_start_s")
    return "—" if first is None else f"{first:.2f}"


def _startup_cell(s: dict[str, Any], prefix: str = "") -> str:
    if s.get(f"{prefix}startup_median_s") is not None:
        return f"{s[f'{prefix}startup_median_s']:.2f}"
    return f"failed: {s[f'{prefix}startup_error']}" if s.get(f"{prefix}startup_error") else "—"


def report(res: dict[str, Any]) -> tuple[dict[str, Any], str]:
    c = res["config"]
    fmt = c.get("format", "yaml").upper()
    md = [f"# scenariod scale benchmark ({c['started']})\n"]
    md.append(
        f"Driver **{c['driver']}**, {c['connections']} connections, {c['duration_s']} s per endpoint and "
        f"round, {c['rounds']} round(s) alternating scenariod and the ceiling (figures: medians), "
        f"scenarios written as {fmt}, "
        f"{c['transport'].upper()}; scenariod from {c['scenariod_src']}; {c['cpus']} CPUs, Python {c['python']}. "
        "The ceiling is a bare aiohttp server answering each path with the bytes scenariod answered "
        "(pre-serialized).\n"
    )
    md.append(
        "CPU µs/req: the server's CPU time during the run ÷ requests answered; CPU capacity ÷ ceiling: the "
        "ceiling's CPU µs/req ÷ scenariod's (robust to other processes on the machine).\n"
    )
    md.append(
        "Startup: spawn to the first authenticated 200, median of the starts after the first; first start: "
        "the first, with no memo of the file in the cache (a new or edited file: the schema is checked and "
        "the memo written, scenariod/cache.py).\n"
    )
    md.append(
        "| guests | nodes | file MB | startup s | first start s | RSS ready MiB | peak RSS MiB | finished tasks | "
        "first /cluster/resources ms | startup (YAML) s | first start (YAML) s | peak RSS at start (YAML) MiB |"
    )
    md.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in res["sizes"]:
        if fmt == "YAML":
            yaml_cells = f"{_startup_cell(s)} | {_first_cell(s)} | {_mib(s.get('ready_hwm_kib'))}"
        else:
            yaml_cells = (
                f"{_startup_cell(s, 'yaml_')} | {_first_cell(s, 'yaml_')} | {_mib(s.get('yaml_ready_hwm_kib'))}"
            )
        if "startup_error" in s and not s.get("startup_runs_s"):
            md.append(
                f"| {s['guests']} | {s['nodes']} | {s['file_mb']} | failed: {s['startup_error']} | | | | | | "
                f"{yaml_cells} |"
            )
            continue
        md.append(
            f"| {s['guests']} | {s['nodes']} | {s['file_mb']} | {_startup_cell(s)} | {_first_cell(s)} | "
            f"{_mib(s.get('idle_rss_kib'))} | {_mib(s.get('peak_rss_kib'))} | "
            f"{(s.get('cluster_tasks') or {}).get('count', '—')} | "
            f"{s.get('bodies', {}).get('resources', {}).get('first_ms', '—')} | {yaml_cells} |"
        )
    md.append("")
    md.append(
        "| guests | endpoint | body KB | scenariod req/s | p50 ms | p99 ms | ceiling req/s | ceiling p50 ms | "
        "req/s ÷ ceiling | CPU µs/req | ceiling CPU µs/req | CPU capacity ÷ ceiling |"
    )
    md.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in res["sizes"]:
        for key, row in (s.get("loads") or {}).items():
            sd, ce = row["scenariod"], row["ceiling"]
            kb = s["bodies"][key]["bytes"] / 1024
            md.append(
                f"| {s['guests']} | {row['name']} | {kb:.0f} | {sd['rps']:.0f} | {sd['p50_ms']:.2f} | "
                f"{sd['p99_ms']:.2f} | {ce['rps']:.0f} | {ce['p50_ms']:.2f} | "
                f"{'—' if row['ratio'] is None else format(row['ratio'], '.2f')} | "
                f"{sd.get('cpu_us_per_req') or '—'} | {ce.get('cpu_us_per_req') or '—'} | "
                f"{'—' if row.get('cpu_ratio') is None else format(row['cpu_ratio'], '.2f')} |"
            )
    md.append("")
    targets = []
    by = {s["guests"]: s for s in res["sizes"]}
    if 10_000 in by and by[10_000].get("loads"):
        r = by[10_000]["loads"]["resources"]["ratio"]
        cr = by[10_000]["loads"]["resources"].get("cpu_ratio")
        targets.append(
            (
                "10,000 guests: GET /cluster/resources ≥ 25% of the pre-serialized ceiling",
                ("—" if r is None else f"{r:.0%}") + ("" if cr is None else f" (CPU capacity {cr:.0%})"),
                "≥ 25%",
                None if r is None else r >= RESOURCES_TARGET,
            )
        )
    if 100_000 in by:
        s = by[100_000]
        starts = [(fmt, "")] + ([("YAML", "yaml_")] if fmt != "YAML" and "yaml_file_mb" in s else [])
        for label, prefix in starts:
            st = s.get(f"{prefix}startup_median_s")
            targets.append(
                (
                    f"100,000 guests: startup ({label})",
                    "failed" if st is None else f"{st:.2f} s",
                    "< 5 s",
                    False if st is None else st < START_TARGET_S,
                )
            )
            first = s.get(f"{prefix}first_start_s")
            if first is not None:
                targets.append(
                    (
                        f"100,000 guests: first start of the file ({label})",
                        f"{first:.2f} s",
                        "< 5 s",
                        first < START_TARGET_S,
                    )
                )
        peak = s.get("peak_rss_kib") or s.get("idle_rss_kib")
        targets.append(
            (
                f"100,000 guests: peak RSS ({fmt})",
                "—" if not peak else f"{peak / 1024:.0f} MiB",
                "< 1024 MiB",
                None if not peak else peak < RSS_TARGET_KIB,
            )
        )
        if fmt != "YAML" and s.get("yaml_ready_hwm_kib"):
            peak = s["yaml_ready_hwm_kib"]
            targets.append(
                (
                    "100,000 guests: peak RSS at start (YAML)",
                    f"{peak / 1024:.0f} MiB",
                    "< 1024 MiB",
                    peak < RSS_TARGET_KIB,
                )
            )
    sizes = sorted(k for k in by if by[k].get("loads"))
    if len(sizes) >= 2:
        lo, hi = by[sizes[0]]["loads"]["guest"]["scenariod"]["rps"], by[sizes[-1]]["loads"]["guest"]["scenariod"]["rps"]
        r = hi / lo if lo else None
        targets.append(
            (
                f"single guest lookup at {sizes[-1]:,} ÷ at {sizes[0]:,} guests (independent of size: ≈ 1)",
                "—" if r is None else f"{r:.2f}",
                "≈ 1 (≥ 0.8)",
                None if r is None else r >= 0.8,
            )
        )
    md.append("| target | measured | wanted | met |")
    md.append("|---|---:|---:|---|")
    for name, got, want, ok in targets:
        md.append(f"| {name} | {got} | {want} | {'yes' if ok else ('—' if ok is None else '**no**')} |")
    md.append("")
    md.append("Finished tasks are made by the manifest's power calls: the scenario format cannot seed past tasks.\n")
    res["targets"] = [{"target": n, "measured": g, "wanted": w, "met": ok} for n, g, w, ok in targets]
    return res, "\n".join(md)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
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
    p.add_argument(
        "--format",
        choices=("json", "yaml"),
        default="json",
        help="scenario files for the runs: JSON (default; JSON is YAML too, and loads fastest) or YAML",
    )
    p.add_argument(
        "--yaml-startup-runs",
        type=int,
        default=2,
        help="with --format json, also time this many starts of the same scenario as YAML "
        "(default 2: a first start and one with the memo)",
    )
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
        harness.precompile_scenariod(
            {"PYTHONPATH": os.environ["BENCH_SCENARIOD_SRC"]} if os.environ.get("BENCH_SCENARIOD_SRC") else None
        )
        res: dict[str, Any] = {
            "config": {
                "started": datetime.datetime.now().isoformat(timespec="seconds"),
                "driver": args.driver,
                "connections": args.connections,
                "duration_s": args.duration,
                "rounds": args.rounds,
                "transport": args.transport,
                "cpus": harness.cpus(),
                "python": platform.python_version(),
                "format": args.format,
                "scenariod_src": args.scenariod_src or "installed",
                "scenariod_flags": run_flags,
                "loadavg_before": harness.loadavg(),
            },
            "sizes": [],
        }
        for size in sizes:
            res["sizes"].append(bench_size(size, args, workdir, cache, cert, key, run_flags))
            (out_dir / "scale.json").write_text(json.dumps(res, indent=1) + "\n")  # partial results survive
    res["loadavg_after"] = harness.loadavg()
    res, md = report(res)
    harness.write_results(out_dir, "scale", res, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
