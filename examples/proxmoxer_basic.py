#!/usr/bin/env python3
"""proxmoxer against scenariod: log in, look around, start a VM and follow its task.

    scenariod run scenarios/two-node.yaml &          # prints its URL and CA file
    python examples/proxmoxer_basic.py               # https://127.0.0.1:8006, root@pam / secret

Options: --host, --port, --user, --password, --ca (default: scenariod's CA in
~/.cache/scenariod/ca.pem, or $SCENARIOD_CA), --insecure, and --session ID to work in a
session of your own (proxmoxer's `path_prefix="_session/ID"`) instead of the shared state.
Exit status 0 when VM 101 ends up running.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from proxmoxer import ProxmoxAPI
from proxmoxer.tools import Tasks


def default_ca() -> str | None:
    if os.environ.get("SCENARIOD_CA"):
        return os.environ["SCENARIOD_CA"]
    cache = Path(
        os.environ.get("SCENARIOD_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scenariod"
    )
    ca = cache / "ca.pem"
    return str(ca) if ca.is_file() else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8006)
    p.add_argument("--user", default="root@pam")
    p.add_argument("--password", default="secret")
    p.add_argument("--ca", default=default_ca(), help="CA file to verify the server with")
    p.add_argument("--insecure", action="store_true", help="do not verify the certificate")
    p.add_argument("--session", help="use the session ID (its own copy of the scenario's state)")
    p.add_argument("--node", default="pve1")
    p.add_argument("--vmid", type=int, default=101)
    args = p.parse_args()

    pve = ProxmoxAPI(
        args.host,
        port=args.port,
        user=args.user,
        password=args.password,
        verify_ssl=False if args.insecure else (args.ca or True),
        path_prefix=f"_session/{args.session}" if args.session else None,
        timeout=30,
    )

    version = pve.version.get()
    print(f"Proxmox VE {version['version']} (scenariod)")
    for node in pve.nodes.get():
        print(f"  node {node['node']:<6} {node['status']:<8} {node['maxcpu']} CPUs")
    for guest in pve.cluster.resources.get(type="vm"):
        print(f"  {guest['type']:<4} {guest['vmid']:<5} {guest['name']:<10} {guest['status']:<8} on {guest['node']}")

    vm = pve.nodes(args.node).qemu(args.vmid)
    if vm.status.current.get()["status"] == "running":
        print(f"VM {args.vmid} is already running")
        return 0
    upid = vm.status.start.post()
    print(f"starting VM {args.vmid}: {upid}")
    status = Tasks.blocking_status(pve, upid, timeout=60, polling_interval=0.2)
    for line in pve.nodes(args.node).tasks(upid).log.get():
        print(f"  | {line['t']}")
    state = vm.status.current.get()["status"]
    print(f"task {status['status']}, exit status {status.get('exitstatus')}; VM {args.vmid} is {state}")
    return 0 if status.get("exitstatus") == "OK" and state == "running" else 1


if __name__ == "__main__":
    sys.exit(main())
