"""The snapshot benchmark (issue 13): copy a 10,000-guest scenariod, then start the copy.

    .venv/bin/python benchmarks/snapshot.py                     # 10,000 guests, HTTPS, the defaults
    .venv/bin/python benchmarks/snapshot.py --guests 1000 --snapshot-args "--concurrency 4 --rate 1000"

tools/gen_scale.py writes the scenario (JSON, to a temporary folder); `scenariod run` serves it
over HTTPS; `scenariod snapshot URL -k --token ... --service pve --format json -o copy.json
--no-progress` copies it, run as a child process whose GETs are timed (a wrapper around the
client's `get`: the figures are the CLI's own code path). Measured: wall time, paths read,
requests/s, the CPU time of the snapshot process and of the server during the copy, each
request's latency (p50/p90/p99/max), the load average before and after (the machine is
shared), and the copy's start-up: spawn of `scenariod run copy.json` to the first
authenticated 200, first with no memo of the file in the cache, then with it. A spot check:
the copy lists as many guests in /cluster/resources as the source.
Targets: the snapshot within 60 s; the copy's start-up within the start-up target (5 s).
Results: benchmarks/results/snapshot-10k.json and .md (--name).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
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
from harness import HERE, ServerSpec, cpu_seconds, loadavg, log, start_server  # noqa: E402

SNAPSHOT_TARGET_S = 60.0
START_TARGET_S = 5.0

# The child: the CLI as a user runs it, each GET timed and the times written to argv[1].
DRIVER = """
import sys, time
from scenariod import cli, snapshot
times = []
get = snapshot.Client.get
async def timed(self, path):
    t = time.perf_counter()
    try:
        return await get(self, path)
    finally:
        times.append(time.perf_counter() - t)
snapshot.Client.get = timed
code = cli.main(sys.argv[2:])
open(sys.argv[1], "w").write("\\n".join(f"{t:.6f}" for t in times))
sys.exit(code)
"""


def scenariod_spec(name: str, path: Path, cache: Path) -> ServerSpec:
    return ServerSpec(
        name,
        lambda port, tls: [
            sys.executable,
            "-m",
            "scenariod",
            "run",
            str(path),
            "--no-tui",
            "--no-reload",
            "--port",
            str(port),
            *([] if tls else ["--http"]),
        ],
        env=lambda: {"SCENARIOD_CACHE": str(cache)},
    )


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


def guests_listed(port: int) -> int:
    status, body = harness.request(port, True, "GET", "/api2/json/cluster/resources?type=vm", timeout=60)
    return len(json.loads(body)["data"]) if status == 200 else -1


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    path, manifest = gen_scale.write(args.guests, None, workdir / "scenarios", fmt="json")
    log(f"== {args.guests} guests on {manifest['nodes']} nodes: {path.name}, {manifest['bytes'] / 1e6:.1f} MB")
    out: dict[str, Any] = {"guests": args.guests, "nodes": manifest["nodes"]}
    source = start_server(scenariod_spec("source", path, workdir / "cache"), True, workdir, pinned=False)
    copy = workdir / "copy.json"
    times_file = workdir / "times.txt"
    argv = [
        "snapshot",
        source.url,
        "-k",
        "--token",
        f"{harness.TOKEN_ID}={harness.TOKEN_SECRET}",
        "--service",
        "pve",
        "--format",
        "json",
        "-o",
        str(copy),
        "--no-progress",
        *shlex.split(args.snapshot_args),
    ]
    out["command"] = "scenariod " + shlex.join(argv).replace(str(workdir), "$TMP")
    try:
        out["load_before"] = loadavg()
        server_cpu = cpu_seconds(source.pid) or 0.0
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(times_file), *argv],
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(workdir),
        )
        _, status, usage = os.wait4(proc.pid, 0)
        out["wall_s"] = round(time.perf_counter() - started, 1)
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = proc.stderr.read() if proc.stderr else ""
        out["server_cpu_s"] = round((cpu_seconds(source.pid) or 0.0) - server_cpu, 1)
        out["client_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 1)
        out["load_after"] = loadavg()
        if proc.returncode != 0:
            raise RuntimeError(f"snapshot exited {proc.returncode}:\n{stderr}")
        out["summary"] = stderr.strip().splitlines()[-1].replace(str(workdir), "$TMP")
        times = sorted(float(t) for t in times_file.read_text().split())
        out["requests"] = len(times)
        out["requests_per_s"] = round(len(times) / out["wall_s"])
        out["latency_ms"] = {
            p: round(percentile(times, q) * 1000, 2) for p, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
        }
        out["latency_ms"]["max"] = round(times[-1] * 1000, 1)
        out["copy_mb"] = round(copy.stat().st_size / 1e6, 1)
        out["source_guests"] = guests_listed(source.port)
    finally:
        source.stop()
    for label in ("first_start_s", "start_s"):  # no memo of the copy yet, then with it
        running = start_server(scenariod_spec("copy", copy, workdir / "cache"), True, workdir, pinned=False)
        out[label] = round(running.ready_after or 0.0, 2)
        if label == "start_s":
            out["copy_guests"] = guests_listed(running.port)
        running.stop()
    return out


def markdown(res: dict[str, Any]) -> str:
    r = res["result"]
    lat = r["latency_ms"]
    rows = [
        ("snapshot wall time", f"{r['wall_s']} s", f"≤ {SNAPSHOT_TARGET_S:.0f} s", r["wall_s"] <= SNAPSHOT_TARGET_S),
        ("copy start-up (memo)", f"{r['start_s']} s", f"≤ {START_TARGET_S:.0f} s", r["start_s"] <= START_TARGET_S),
        (
            "copy first start (no memo)",
            f"{r['first_start_s']} s",
            f"≤ {START_TARGET_S:.0f} s",
            r["first_start_s"] <= START_TARGET_S,
        ),
        (
            "guests listed, copy = source",
            f"{r['copy_guests']} / {r['source_guests']}",
            "equal",
            r["copy_guests"] == r["source_guests"],
        ),
    ]
    return "\n".join(
        [
            f"# scenariod snapshot benchmark ({res['when']})",
            "",
            f"{r['guests']} guests on {r['nodes']} nodes (tools/gen_scale.py, JSON), served over HTTPS by "
            f"`scenariod run`; {res['cpus']} CPUs, Python {res['python']}. The machine is shared: load average "
            f"{' / '.join(map(str, r['load_before']))} before, "
            f"{' / '.join(map(str, r['load_after']))} after (1, 5, 15 min).",
            "",
            f"Command: `{r['command']}`",
            "",
            f"Result: {r['summary']}",
            "",
            "| wall s | requests | requests/s | client CPU s | server CPU s | p50 ms | p90 ms | p99 ms | max ms "
            "| copy MB | copy first start s | copy start s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {r['wall_s']} | {r['requests']} | {r['requests_per_s']} | {r['client_cpu_s']} | {r['server_cpu_s']} "
            f"| {lat['p50']} | {lat['p90']} | {lat['p99']} | {lat['max']} | {r['copy_mb']} | {r['first_start_s']} "
            f"| {r['start_s']} |",
            "",
            "| target | measured | wanted | met |",
            "|---|---:|---:|---|",
            *(f"| {name} | {got} | {want} | {'yes' if ok else '**no**'} |" for name, got, want, ok in rows),
            "",
        ]
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__)
    p.add_argument("--guests", type=int, default=10_000)
    p.add_argument("--snapshot-args", default="", help="more arguments for `scenariod snapshot` (quoted)")
    p.add_argument("--name", default="snapshot-10k", help="results file name under benchmarks/results/")
    args = p.parse_args()
    harness.precompile_scenariod()  # PYTHONDONTWRITEBYTECODE: else every start compiles scenariod
    with tempfile.TemporaryDirectory(prefix="scenariod-snapshot-") as tmp:
        result = run(args, Path(tmp))
    res = {
        "when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpus": harness.cpus(),
        "python": platform.python_version(),
        "result": result,
    }
    harness.write_results(HERE / "results", args.name, res, markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
