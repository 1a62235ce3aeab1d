"""Start the peer `fakepve` (from PyPI, in benchmarks/.peers-venv) with the two-node cluster.

fakepve's own command line (`fakepve GUESTS.json --host --port --cert --key`) serves HTTPS
only and authenticates by ticket only; the benchmark needs an API token and plain HTTP too,
so this launcher uses fakepve's Python API the way its command line and pytest plugin do:
`FakePve(...)`, `add_node`, `add_vm`, `add_ct`, `add_ceph_storage`, the `apitokens` mapping,
and `start(certfile, keyfile)` for HTTPS. For plain HTTP it serves the same application
(`FakePve._build_app()`) on a TCP site without TLS. Nothing of fakepve is copied here.

Run with the peers venv's interpreter:

    benchmarks/.peers-venv/bin/python benchmarks/peer_fakepve.py --port P --token ID=SECRET [--cert C --key K]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", action="append", default=[], help="TOKENID=SECRET (repeatable)")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--guests", help='JSON file {"guests": [...]} as fakepve\'s CLI takes (default: two-node)')
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the benchmark servers listen on loopback only")
    asyncio.run(serve(args))


TWO_NODE = [
    {
        "vmid": 100,
        "name": "web-01",
        "node": "pve1",
        "status": "running",
        "pool": "web",
        "config": {
            "cores": 2,
            "sockets": 1,
            "memory": 2048,
            "ostype": "l26",
            "boot": "order=scsi0;net0",
            "scsi0": "ceph-vm:vm-100-disk-0,size=32G",
            "net0": "virtio=BC:24:11:00:01:00,bridge=vmbr0",
        },
    },
    {
        "vmid": 101,
        "name": "db-01",
        "node": "pve1",
        "status": "stopped",
        "config": {
            "cores": 4,
            "sockets": 1,
            "memory": 8192,
            "ostype": "l26",
            "scsi0": "ceph-vm:vm-101-disk-0,size=100G",
            "net0": "virtio=BC:24:11:00:01:01,bridge=vmbr0",
        },
    },
    {
        "vmid": 200,
        "name": "dns-01",
        "node": "pve2",
        "status": "running",
        "type": "lxc",
        "config": {
            "hostname": "dns-01",
            "cores": 1,
            "memory": 512,
            "swap": 512,
            "ostype": "debian",
            "rootfs": "ceph-vm:vm-200-disk-0,size=8G",
            "net0": "name=eth0,bridge=vmbr0,ip=dhcp",
        },
    },
]


async def serve(args: argparse.Namespace) -> None:
    from aiohttp import web
    from fakepve.server import FakePve

    pve = FakePve(user="root@pam", password="secret", host=args.host, port=args.port)
    pve.time_scale = 1.0  # fakepve's command-line default
    pve.add_node("pve1")
    pve.add_node("pve2")
    pve.add_ceph_storage("ceph-vm", pool="vm")
    guests = TWO_NODE
    if args.guests:
        with open(args.guests) as f:
            guests = json.load(f)["guests"]
    for g in guests:
        if g.get("type") == "lxc":
            pve.add_ct(g["vmid"], g.get("name"), node=g["node"], status=g["status"], config=g.get("config", {}))
        else:
            pve.add_vm(
                g["vmid"], g["name"], node=g["node"], status=g["status"], config=g.get("config", {}), pool=g.get("pool")
            )
    for spec in args.token:
        tokenid, _, secret = spec.partition("=")
        pve.apitokens[tokenid] = secret
    if args.cert:
        await pve.start(args.cert, args.key)
        runner = pve.runner
    else:
        runner = web.AppRunner(pve._build_app())
        await runner.setup()
        await web.TCPSite(runner, args.host, args.port).start()
    scheme = "https" if args.cert else "http"
    print(f"fakepve listening on {scheme}://{args.host}:{args.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    main()
