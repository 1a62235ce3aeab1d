"""CPU time per request of several scenariod source trees and the bare ceiling, in one run.

On a shared, loaded machine req/s ratios swing from run to run; the server's own CPU time per
answered request (user + system, /proc/PID/stat) moves much less, and comparing two versions
of scenariod in the same run, taking turns, cancels most of what the machine adds. This is
how a change to the hot path is judged before run.py reports the ratios.

    git archive COMMIT | tar -x -C /tmp/before          # a version to compare against
    .venv/bin/python benchmarks/cpu_compare.py bare /tmp/before .      # '.' = this checkout

Each SRC is a folder holding `scenariod/` and `scenarios/` (served as
`python -m scenariod run SRC/scenarios/two-node.yaml --http --no-tui --no-reload` with
PYTHONPATH=SRC); `bare` is benchmarks/bare_server.py, `bare-block` the same with --one-block.
All servers start first; then for
--rounds rounds, the order rotated, each gets GET /nodes (after 1 s of warm-up), POST /pools
with new pool ids, and DELETE /pools of the pools that POST made, for --duration s each
(wrk, 8 connections, server on CPU 0 and wrk on CPU 1). Printed: the median CPU µs per
request of each server and endpoint over the rounds, every round's figure, and req/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import harness
from harness import Load, ServerSpec

HERE = Path(__file__).resolve().parent


def spec(src: str, cache: Path) -> ServerSpec:
    if src in ("bare", "bare-block"):
        block = ["--one-block"] if src == "bare-block" else []
        argv = [sys.executable, str(HERE / "bare_server.py"), *block, "--port"]
        return ServerSpec(src, lambda p, t: [*argv, str(p)], auth_checked=False)
    root = Path(src).resolve()
    scenario = root / "scenarios" / "two-node.yaml"
    argv = [sys.executable, "-m", "scenariod", "run", str(scenario), "--no-tui", "--no-reload", "--http", "--port"]
    return ServerSpec(
        root.name or "scenariod",
        lambda p, t: [*argv, str(p)],
        lambda: {"SCENARIOD_CACHE": str(cache), "PYTHONPATH": str(root)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("srcs", nargs="+", metavar="SRC", help="`bare`, or a folder with scenariod/ and scenarios/")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--endpoints", default="nodes,post,delete", help="a subset of nodes,post,delete")
    args = parser.parse_args()
    if not harness.have_wrk():
        parser.error("wrk is needed (apt-get install -y wrk)")
    work = Path(tempfile.mkdtemp(prefix="cpu-compare-"))
    endpoints = args.endpoints.split(",")
    for src in args.srcs:
        if src != "bare":
            harness.precompile_scenariod({"PYTHONPATH": str(Path(src).resolve())})
    running: dict[str, harness.Running] = {}
    figures: dict[str, dict[str, list[tuple[float, float]]]] = {src: {} for src in args.srcs}
    try:
        for src in args.srcs:
            running[src] = harness.start_server(spec(src, work / "cache"), False, work)
        for rnd in range(args.rounds):
            order = args.srcs[rnd % len(args.srcs) :] + args.srcs[: rnd % len(args.srcs)]
            harness.log(f"round {rnd + 1}/{args.rounds}, load average {harness.loadavg()}")
            for src in order:
                server, out = running[src], figures[src]
                if "nodes" in endpoints:
                    nodes = Load("GET /nodes", "GET", "/api2/json/nodes")
                    harness.drive("wrk", server, nodes, 8, 1)
                    r = harness.drive("wrk", server, nodes, 8, args.duration)
                    out.setdefault("nodes", []).append((r.cpu_us_per_req or 0.0, r.rps))
                if "post" in endpoints:
                    prefix = f"cmp{rnd}x"
                    post = Load("POST /pools", "POST", "/api2/json/pools", f"poolid={prefix}{{n}}")
                    r = harness.drive("wrk", server, post, 8, args.duration)
                    out.setdefault("post", []).append((r.cpu_us_per_req or 0.0, r.rps))
                    if "delete" in endpoints:  # the pools the POST run made, in order
                        limit = max(r.requests - r.non2xx - 18, 1)
                        delete = Load("DELETE /pools", "DELETE", f"/api2/json/pools?poolid={prefix}{{n}}", None, limit)
                        d = harness.drive("wrk", server, delete, 8, args.duration)
                        out.setdefault("delete", []).append((d.cpu_us_per_req or 0.0, d.rps))
    finally:
        for server in running.values():
            server.stop()
    print(f"load average after: {harness.loadavg()}")
    for src in args.srcs:
        for endpoint, values in figures[src].items():
            cpu = [v[0] for v in values]
            rps = statistics.median(v[1] for v in values)
            print(f"{src:32} {endpoint:7} CPU µs/req {statistics.median(cpu):6.1f}  rounds {cpu}  req/s {rps:.0f}")


if __name__ == "__main__":
    main()
