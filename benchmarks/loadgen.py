"""The Python load generator: the fallback when wrk is not installed (`--driver python`).

asyncio + aiohttp client, a fixed number of connections (one worker per connection, each
sending its next request when the previous answer is read: closed loop, like wrk), for a
fixed duration, or until `--limit` requests. Prints one JSON object with the same keys as
benchmarks/wrk/bench.lua, so the harness treats both drivers alike.

It is much slower than wrk (a Python client costs about as much CPU per request as a
Python server), so on a 2-core machine its figures are capped by the client for fast
servers: compare ratios measured with the same driver only.

    python benchmarks/loadgen.py --url http://127.0.0.1:8006 --path /api2/json/nodes \
        --header 'Authorization: PVEAPIToken=...' --connections 8 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections import Counter
from urllib.parse import urlsplit

import aiohttp


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, int(round(pct / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[rank]


async def run(args: argparse.Namespace) -> dict:
    host = urlsplit(args.url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("loadgen: loopback targets only")
    headers = {}
    for h in args.header:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()
    if args.body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    counted = "{n}" in args.path or (args.body is not None and "{n}" in args.body)
    counter = itertools.count(1)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors = Counter()
    issued = 0
    connector = aiohttp.TCPConnector(limit=args.connections, ssl=False, force_close=False)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    started = time.perf_counter()
    deadline = started + args.duration
    stop = False

    async with aiohttp.ClientSession(
        args.url, connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",)
    ) as session:

        async def worker() -> None:
            nonlocal issued, stop
            while not stop and time.perf_counter() < deadline:
                n = next(counter)
                if args.limit and n > args.limit:
                    stop = True
                    return
                issued += 1
                path, body = args.path, args.body
                if counted:
                    path = path.replace("{n}", str(n))
                    body = body.replace("{n}", str(n)) if body is not None else None
                t0 = time.perf_counter()
                try:
                    async with session.request(args.method, path, data=body, headers=headers) as resp:
                        await resp.read()
                        status = resp.status
                except TimeoutError:
                    errors["timeout"] += 1
                    continue
                except aiohttp.ClientError:
                    errors["read"] += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                statuses[status] += 1

        workers = [asyncio.create_task(worker()) for _ in range(args.connections)]
        try:
            await asyncio.wait_for(asyncio.gather(*workers), args.duration + args.timeout + 5)
        except TimeoutError:
            for w in workers:
                w.cancel()
            errors["timeout"] += 1
    elapsed = time.perf_counter() - started
    lat = sorted(latencies)
    us = 1e6
    return {
        "requests": len(lat),
        "duration_us": int(elapsed * us),
        "bytes": 0,
        "issued": issued if counted else 0,
        "connect_errors": 0,
        "read_errors": errors["read"],
        "write_errors": 0,
        "status_errors": sum(c for s, c in statuses.items() if s > 399),
        "timeouts": errors["timeout"],
        "p50_us": int(percentile(lat, 50) * us),
        "p90_us": int(percentile(lat, 90) * us),
        "p99_us": int(percentile(lat, 99) * us),
        "max_us": int((lat[-1] if lat else 0) * us),
        "mean_us": round(sum(lat) / len(lat) * us, 1) if lat else 0.0,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="scheme://127.0.0.1:PORT")
    p.add_argument("--path", required=True, help='path and query; "{n}" is a counter 1, 2, ...')
    p.add_argument("--method", default="GET")
    p.add_argument("--body", help='form body; "{n}" as in --path')
    p.add_argument("--header", action="append", default=[], help="NAME: VALUE")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--duration", type=float, default=5.0, help="seconds (the run is bounded by it)")
    p.add_argument("--limit", type=int, default=0, help="stop after this many requests")
    p.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds")
    args = p.parse_args()
    result = asyncio.run(run(args))
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
