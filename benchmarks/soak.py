"""Soak: a million mixed requests on loopback; memory must level off once warm.

    .venv/bin/python benchmarks/soak.py                      # 1,000,000 requests (~10 minutes)
    .venv/bin/python benchmarks/soak.py --requests 100000    # a quick pass

Starts `scenariod run scenarios/two-node.yaml --http --no-tui --no-reload --log-format json`
(log lines to /dev/null) and sends, interleaved over the whole run, per million requests:
20,000 sessions (`X-Scenariod-Session`, each used a few times in a row, so the session limit
keeps evicting), 200,000 distinct query strings (each a new journal entry and replay key),
2,000 bodies of 1 MB (written to the journal clipped), 10,000 logins with a password, and
plain reads for the rest. Every response is read; `/health` is timed every 10,000 requests.
The server's RSS (VmRSS from /proc) is sampled every tenth of the run; the figure that matters
is the growth from the end of the warm-up (the first `--warmup` fraction, default 0.2) to
the end: the bounds (journal entries and bytes, clipped bodies, sessions, replay memory, task
lists) must keep it within 10%. Bounded in time (`--max-seconds`); every process started here
is stopped here, by its own pid. Writes benchmarks/results/soak.json and soak.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
AUTH = {"Authorization": "PVEAPIToken=root@pam!ci=5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10"}  # two-node.yaml's
READS = ("/version", "/nodes", "/cluster/resources", "/nodes/pve1/qemu", "/nodes/pve2/lxc", "/pools")
BIG = "x" * 1_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def request_for(i: int, total: int) -> tuple[str, str, dict[str, str], Any]:
    """The i-th request of the mix: (method, path, headers, form data or None); spread evenly."""
    scale = total / 1_000_000
    if i % 500 == 7 and i // 500 < 2_000 * scale:  # 1 MB bodies
        return "PUT", "/nodes/pve1/qemu/100/config", AUTH, {"description": BIG}
    if i % 100 == 3:  # logins with a password
        return "POST", "/access/ticket", {}, {"username": "root@pam", "password": "secret"}
    if i % 5 == 1:  # distinct query strings
        return "GET", f"/nodes/pve1/tasks?start={i}&limit=5", AUTH, None
    if i % 10 == 2:  # sessions: 20,000 ids per million, five requests each in a row
        sid = f"soak-{i // 50}"
        return "GET", READS[i % len(READS)], {**AUTH, "X-Scenariod-Session": sid}, None
    return "GET", READS[i % len(READS)], AUTH, None


async def drive(url: str, pid: int, total: int, concurrency: int, deadline: float) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    samples: list[dict[str, Any]] = []
    health_ms: list[float] = []
    counter = iter(range(total))
    done = 0
    started = time.monotonic()
    step = max(total // 10, 1)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:

        async def worker() -> None:
            nonlocal done
            for i in counter:
                if time.monotonic() > deadline:
                    return
                method, path, headers, data = request_for(i, total)
                async with http.request(method, "/api2/json" + path, headers=headers, data=data) as r:
                    await r.read()
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                done += 1
                n = done  # this request's number: other workers count on while this one awaits
                if n % step == 0:
                    samples.append(
                        {"requests": n, "seconds": round(time.monotonic() - started, 1), "rss_kib": rss_kib(pid)}
                    )
                    last = samples[-1]
                    line = f"  {n:>9,} requests  {last['seconds']:>7.1f} s  RSS {last['rss_kib'] / 1024:.1f} MiB"
                    print(line, file=sys.stderr, flush=True)
                if n % 10_000 == 0:
                    t = time.perf_counter()
                    async with http.get("/health") as h:
                        await h.read()
                    health_ms.append((time.perf_counter() - t) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "requests": done,
        "seconds": round(time.monotonic() - started, 1),
        "statuses": dict(sorted(statuses.items())),
        "samples": samples,
        "health_ms_max": round(max(health_ms), 1) if health_ms else None,
        "health_checks": len(health_ms),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=1_000_000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--warmup", type=float, default=0.2, help="fraction of the run before the baseline RSS")
    p.add_argument("--max-seconds", type=float, default=3600)
    p.add_argument("--out", default=str(RESULTS / "soak"), help="results file stem (.json and .md)")
    args = p.parse_args()

    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "scenariod",
        "run",
        str(ROOT / "scenarios/two-node.yaml"),
        "--http",
        "--no-tui",
        "--no-reload",
        "--log-format",
        "json",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                    break
            except OSError:
                time.sleep(0.1)
        print(
            f"soak: {args.requests:,} requests, {args.concurrency} at once, against pid {server.pid}", file=sys.stderr
        )
        run = asyncio.run(drive(url, server.pid, args.requests, args.concurrency, time.monotonic() + args.max_seconds))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    samples = run["samples"]
    warm = next((s for s in samples if s["requests"] >= args.warmup * args.requests), None)
    end = samples[-1] if samples else None
    growth = (end["rss_kib"] / warm["rss_kib"] - 1) * 100 if warm and end else None
    result = {
        "command": " ".join(["benchmarks/soak.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **run,
        "rate": round(run["requests"] / run["seconds"]) if run["seconds"] else None,
        "rss_warm_mib": round(warm["rss_kib"] / 1024, 1) if warm else None,
        "rss_end_mib": round(end["rss_kib"] / 1024, 1) if end else None,
        "rss_growth_after_warmup_pct": round(growth, 1) if growth is not None else None,
        "within_10_pct": growth is not None and abs(growth) <= 10,
    }
    stem = Path(args.out)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# Soak ({result['date']})",
        "",
        f"`{result['command']}`: {run['requests']:,} requests in {run['seconds']} s ({result['rate']}/s), "
        f"statuses {run['statuses']}, /health at most {run['health_ms_max']} ms over {run['health_checks']} checks.",
        "",
        "| requests | seconds | RSS MiB |",
        "|---:|---:|---:|",
        *(f"| {s['requests']:,} | {s['seconds']} | {s['rss_kib'] / 1024:.1f} |" for s in samples),
        "",
        f"RSS after warm-up ({args.warmup:.0%} of the run): {result['rss_warm_mib']} MiB; at the end: "
        f"{result['rss_end_mib']} MiB; growth {result['rss_growth_after_warmup_pct']}% "
        f"({'within' if result['within_10_pct'] else 'NOT within'} 10%).",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if result["within_10_pct"] else 1


if __name__ == "__main__":
    sys.exit(main())
