"""Profile scenariod's hot path under load with py-spy (pip install py-spy).

    .venv/bin/python benchmarks/profile.py                      # GET /nodes, /cluster/resources, dns leaf
    .venv/bin/python benchmarks/profile.py --endpoint nodes --seconds 10 --https
    .venv/bin/python benchmarks/profile.py --scenario /tmp/scale/scale-10000.yaml --path /api2/json/cluster/resources
    .venv/bin/python benchmarks/profile.py --name post --method POST --path /api2/json/pools --body 'poolid=p{n}'

For each endpoint: starts scenariod (two-node, or --scenario), drives it with wrk (or the
Python load generator), attaches `py-spy record` (non-blocking, by function) for --seconds,
then does the same with the bare aiohttp ceiling, and writes to benchmarks/results/:
  profile-NAME.speedscope.json   the samples (open in speedscope)
  profile-NAME.txt               shares of samples per module and function, inclusive and self
  profile-NAME-vs-bare.txt       self time per function in µs per request (its share of the
                                 busy samples × the server's measured CPU µs per request),
                                 scenariod against the ceiling: what scenariod adds, function
                                 by function
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import HERE, ROOT, Load, ServerSpec, log, start_server  # noqa: E402

ENDPOINTS = {
    "nodes": "/api2/json/nodes",
    "resources": "/api2/json/cluster/resources",
    "leaf": "/api2/json/nodes/pve1/dns",
}
# The write path, as benchmarks/run.py drives it ({n}: wrk's counter, so every pool is new).
WRITES = {
    "post": ("POST", "/api2/json/pools", "poolid=prof{n}"),
}


def _bucket(frame: str) -> str:
    """A frame "func (file:line)" -> a coarse owner: scenariod.module, aiohttp, asyncio, ..."""
    if "(" not in frame:
        return frame
    path = "/" + frame[frame.rfind("(") + 1 :].split(":")[0].rstrip(")")
    if "/scenariod/" in path:
        return "scenariod." + path.split("/scenariod/")[-1].removesuffix(".py").replace("/", ".")
    for name in (
        "aiohttp",
        "multidict",
        "yarl",
        "asyncio",
        "ssl",
        "orjson",
        "jmespath",
        "logging",
        "selectors",
        "http",
        "json",
        "urllib",
        "enum",
        "typing",
        "dataclasses",
        "watchfiles",
        "uvloop",
    ):
        if f"/{name}/" in path or path.endswith(f"/{name}.py"):
            return name
    return Path(path).name


def summarize(collapsed: Path, top: int = 40) -> str:
    """Inclusive and self shares per function, and self share per owner, from collapsed stacks."""
    inclusive: collections.Counter[str] = collections.Counter()
    self_: collections.Counter[str] = collections.Counter()
    owners: collections.Counter[str] = collections.Counter()
    total = 0
    idle = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        leaf = frames[-1]
        if "select (selectors.py" in leaf or "poll (selectors.py" in leaf or leaf.startswith("select ("):
            idle += n
        self_[leaf] += n
        owners[_bucket(leaf)] += n
        for f in set(frames):
            inclusive[f] += n
    if not total:
        return "no samples\n"
    out = [f"{total} samples; waiting in select/epoll (idle): {idle / total:.1%}", "", "self time by owner (module):"]
    for name, n in owners.most_common(20):
        out.append(f"  {n / total:6.1%}  {name}")
    out += ["", f"inclusive time, top {top} functions:"]
    for name, n in inclusive.most_common(top):
        out.append(f"  {n / total:6.1%}  {name}")
    out += ["", f"self time, top {top} functions:"]
    for name, n in self_.most_common(top):
        out.append(f"  {n / total:6.1%}  {name}")
    return "\n".join(out) + "\n"


def per_request_us(collapsed: Path, cpu_us: float) -> dict[str, float]:
    """Self time per function in µs per request: its share of busy samples × CPU µs/request."""
    self_: collections.Counter[str] = collections.Counter()
    busy = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        leaf = stack.split(";")[-1]
        if leaf.startswith(("EpollSelector.select", "select (")):
            continue  # waiting, not working
        n = int(count)
        busy += n
        self_[re.sub(r":\d+\)$", ")", leaf)] += n
    return {k: v / busy * cpu_us for k, v in self_.items()} if busy else {}


def compare(name: str, scen: tuple[Path, float], bare: tuple[Path, float], top: int = 30) -> str:
    a, b = per_request_us(*scen), per_request_us(*bare)
    rows = sorted(
        ((a.get(k, 0.0) - b.get(k, 0.0), a.get(k, 0.0), b.get(k, 0.0), k) for k in set(a) | set(b)), reverse=True
    )
    out = [
        f"# {name}: where scenariod's time per request goes, against the bare ceiling",
        f"CPU per request: scenariod {scen[1]:.1f} µs, bare {bare[1]:.1f} µs (difference {scen[1] - bare[1]:.1f} µs)",
        "",
        "   extra   scenariod    bare  function (self time, µs per request)",
    ]
    for d, x, y, k in rows[:top]:
        out.append(f"  {d:+6.1f}    {x:8.1f} {y:7.1f}  {k}")
    own = sum(v for k, v in a.items() if "scenariod/" in k)
    out += ["", f"scenariod's own functions: {own:.1f} µs per request; the rest is aiohttp, asyncio and the kernel."]
    return "\n".join(out) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    p.add_argument("--endpoint", action="append", choices=sorted([*ENDPOINTS, *WRITES]), help="default: the three GETs")
    p.add_argument("--path", help="profile this path instead (with --name)")
    p.add_argument("--method", default="GET", help="with --path: the method (default GET)")
    p.add_argument("--body", help="with --path: a form body; {n} is replaced by a counter")
    p.add_argument("--name", default="custom")
    p.add_argument("--scenario", default=str(ROOT / "scenarios" / "two-node.yaml"))
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rate", type=int, default=400, help="py-spy samples per second (default 400)")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--https", action="store_true")
    p.add_argument("--no-bare", action="store_true", help="do not profile the bare ceiling for comparison")
    p.add_argument("--lines", action="store_true", help="by line instead of by function")
    p.add_argument("--driver", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--scenariod-src")
    p.add_argument("--out", default=str(HERE / "results"))
    args = p.parse_args()
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        log("py-spy is not installed: pip install py-spy")
        return 2
    driver = args.driver if args.driver != "auto" else ("wrk" if harness.have_wrk() else "python")
    env: dict[str, str] = {}
    if args.scenariod_src:
        env["PYTHONPATH"] = str(Path(args.scenariod_src).resolve())
        sys.path.insert(0, env["PYTHONPATH"])
    if args.path:
        targets = [Load(args.name, args.method.upper(), args.path, args.body)]
    else:
        targets = [
            Load(e, *WRITES[e]) if e in WRITES else Load(e, "GET", ENDPOINTS[e]) for e in (args.endpoint or ENDPOINTS)
        ]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="scenariod-profile-") as tmp:
        workdir = Path(tmp)
        env["SCENARIOD_CACHE"] = os.environ["SCENARIOD_CACHE"] = str(workdir / "cache")
        helptext = subprocess.run(
            [sys.executable, "-m", "scenariod", "run", "--help"],
            capture_output=True,
            text=True,
            cwd=tmp,
            env={**os.environ, **env},
            timeout=60,
        ).stdout
        flags = [f for f in ("--no-tui", "--no-reload") if f in helptext]
        harness.precompile_scenariod({"PYTHONPATH": env["PYTHONPATH"]} if "PYTHONPATH" in env else None)
        from scenariod.tls import ensure_certificate

        _ca, cert, key = ensure_certificate(harness.HOST)
        specs = {
            "scenariod": ServerSpec(
                "scenariod",
                lambda port, tls: [
                    sys.executable,
                    "-m",
                    "scenariod",
                    "run",
                    args.scenario,
                    "--port",
                    str(port),
                    *flags,
                    *([] if tls else ["--http"]),
                ],
                lambda: env,
            )
        }
        if not args.no_bare:
            specs["bare"] = ServerSpec(
                "bare",
                lambda port, tls: [
                    sys.executable,
                    str(HERE / "bare_server.py"),
                    "--port",
                    str(port),
                    *(["--cert", str(cert), "--key", str(key)] if tls else []),
                ],
            )
        for load in targets:
            name = load.name
            recorded: dict[str, tuple[Path, float]] = {}
            for who, spec in specs.items():
                tag = f"{'bare-' if who == 'bare' else ''}{name}{'-https' if args.https else ''}"
                collapsed, r = record(pyspy, spec, load, tag, args, driver, workdir, out_dir)
                head = (
                    f"# {'bare ceiling' if who == 'bare' else 'scenariod'} {name}: {load.method} {load.path}"
                    f"{' ' + load.body if load.body else ''}, {driver}, "
                    f"{args.connections} connections, {'HTTPS' if args.https else 'HTTP'}; under py-spy: "
                    f"{r.rps if r else '?'} req/s, p50 {r.p50_ms if r else '?'} ms, "
                    f"server CPU {r.cpu_us_per_req if r else '?'} µs/req\n"
                )
                text = head + summarize(collapsed)
                (out_dir / f"profile-{tag}.txt").write_text(text)
                if who == "scenariod":
                    print(text)
                if r is not None and r.cpu_us_per_req:
                    recorded[who] = (collapsed, r.cpu_us_per_req)
            if "scenariod" in recorded and "bare" in recorded:
                text = compare(name, recorded["scenariod"], recorded["bare"])
                (out_dir / f"profile-{name}{'-https' if args.https else ''}-vs-bare.txt").write_text(text)
                print(text)
    return 0


def record(
    pyspy: str,
    spec: ServerSpec,
    load: Load,
    tag: str,
    args: argparse.Namespace,
    driver: str,
    workdir: Path,
    out_dir: Path,
) -> tuple[Path, harness.LoadResult | None]:
    running = start_server(spec, args.https, workdir, timeout=900)
    try:
        result: dict = {}
        # the load runs a little longer than the recording, on the other core
        t = threading.Thread(
            target=lambda: result.update(r=harness.drive(driver, running, load, args.connections, args.seconds + 3))
        )
        t.start()
        collapsed = out_dir / f"profile-{tag}.collapsed.txt"
        speedscope = out_dir / f"profile-{tag}.speedscope.json"
        threading.Event().wait(1.0)
        # two recorders at once (--nonblocking: they read memory without pausing the server)
        common = [
            "record",
            "--pid",
            str(running.pid),
            "--duration",
            str(int(args.seconds)),
            "--rate",
            str(args.rate),
            "--nonblocking",
            *([] if args.lines else ["--function"]),
        ]
        recorders = [
            subprocess.Popen(
                [pyspy, *common, "--format", "raw", "--output", str(collapsed)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            ),
            subprocess.Popen(
                [pyspy, *common, "--format", "speedscope", "--output", str(speedscope)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            ),
        ]
        for rec in recorders:
            _, err = rec.communicate(timeout=args.seconds + 60)
            if rec.returncode:
                log(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
        t.join(args.seconds + 60)
        return collapsed, result.get("r")
    finally:
        running.stop()


if __name__ == "__main__":
    sys.exit(main())
