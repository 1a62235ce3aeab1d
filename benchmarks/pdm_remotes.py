"""PDM over a fleet of live remotes: `/resources/list` cold and warm.

    .venv/bin/python benchmarks/pdm_remotes.py                  # 50 clusters x 200 guests, 2 PBS
    .venv/bin/python benchmarks/pdm_remotes.py --clusters 10 --guests 50 --workers 1

Writes an estate with `scenariod fleet` (to a temporary folder), serves it with
`scenariod run OUTDIR/*.yaml --workers N` (HTTPS, PDM verifying every remote against
scenariod's local CA), and measures:
  - startup: spawn to the moment every instance answers `GET /`;
  - cold: the first `/resources/list` (PDM asks all remotes, TLS handshakes included), then
    the median of --rounds asked with `max-age=0` (every remote asked again, connections kept);
  - warm: the median and p95 of --rounds `/resources/list` within the cache lifetime.
Targets (issue 14): start within 30 s, cold within 2 s, warm within 50 ms.
Results: benchmarks/results/pdm_remotes.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scenariod.fleet import PDM_OFFSET, write_fleet  # noqa: E402
from scenariod.tls import local_ca_file  # noqa: E402


def free_base(span: int = 1000) -> int:
    """A base port whose fleet range is free right now (the fleet uses BASE..BASE+999)."""
    for base in range(21000, 60000, span):
        try:
            for port in (base, base + 1, base + 500, base + PDM_OFFSET):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise SystemExit("no free port range")


class Pdm:
    """A keep-alive HTTPS connection to the PDM (http.client: it reads megabytes of body
    faster than httpx, so the figures are the server's, not the client's)."""

    def __init__(self, port: int, verify: ssl.SSLContext) -> None:
        self.conn = http.client.HTTPSConnection("127.0.0.1", port, context=verify, timeout=60)
        self.headers: dict[str, str] = {}

    def login(self) -> None:
        body = urllib.parse.urlencode({"username": "root@pam", "password": "secret"})
        self.conn.request(
            "POST", "/api2/json/access/ticket", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        ticket = json.loads(self.conn.getresponse().read())["data"]["ticket"]
        self.headers["Cookie"] = f"PDMAuthCookie={ticket}"

    def timed(self, path: str, **params: object) -> tuple[float, list[dict]]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        t0 = time.perf_counter()
        self.conn.request("GET", f"/api2/json{path}{query}", headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        took = time.perf_counter() - t0
        if response.status != 200:
            raise SystemExit(f"{path}: {response.status} {body[:200]!r}")
        return took, json.loads(body)["data"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--guests", type=int, default=200)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--pbs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        base = free_base()
        files = write_fleet(Path(tmp), args.clusters, args.nodes, args.guests, args.pbs, True, 42, base)
        cmd = [sys.executable, "-m", "scenariod", "run", *map(str, files), "--workers", str(args.workers)]
        started = time.monotonic()
        proc = subprocess.Popen([*cmd, "--no-tui", "--no-reload"], cwd=ROOT, stdout=subprocess.DEVNULL)
        try:
            ports = [base + i for i in range(args.clusters)] + [base + 500 + j for j in range(args.pbs)]
            deadline = started + 120
            for port in [*ports, base + PDM_OFFSET]:
                while True:
                    try:
                        httpx.get(f"https://127.0.0.1:{port}/", verify=False, timeout=2)
                        break
                    except httpx.HTTPError:
                        if time.monotonic() > deadline or proc.poll() is not None:
                            raise SystemExit(f"instance on port {port} did not start") from None
                        time.sleep(0.2)
            startup = time.monotonic() - started
            verify = ssl.create_default_context(cafile=str(local_ca_file()))
            pdm = Pdm(base + PDM_OFFSET, verify)
            pdm.login()
            first, listing = pdm.timed("/resources/list")
            failed = [e for e in listing if "error" in e]
            resources = sum(len(e.get("resources", [])) for e in listing)
            cold = [pdm.timed("/resources/list", **{"max-age": 0})[0] for _ in range(5)]
            warm = sorted(pdm.timed("/resources/list")[0] for _ in range(args.rounds))
        finally:
            proc.terminate()
            proc.wait(30)

    result = {
        "estate": f"{args.clusters} clusters x {args.guests} guests ({args.nodes} nodes each) + {args.pbs} PBS + PDM",
        "workers": args.workers,
        "remotes": len(listing),
        "failed_remotes": len(failed),
        "resources": resources,
        "startup_s": round(startup, 2),
        "cold_first_s": round(first, 3),
        "cold_max_age_0_median_s": round(statistics.median(cold), 3),
        "warm_median_ms": round(statistics.median(warm) * 1000, 1),
        "warm_p95_ms": round(warm[int(len(warm) * 0.95) - 1] * 1000, 1),
    }
    out = ROOT / "benchmarks" / "results" / "pdm_remotes.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
