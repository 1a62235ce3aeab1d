#!/usr/bin/env python3
"""Generate a large-cluster scenario for the scale benchmark (never committed: written on demand).

    python tools/gen_scale.py --guests 10000 --nodes 50 --out /tmp/scale
    -> /tmp/scale/scale-10000.yaml  and  /tmp/scale/scale-10000.manifest.json

The scenario has M nodes (pve001 ...), N guests spread over them round-robin (70% qemu,
30% lxc; 70% running), each with a list item and a config (disks on shared Ceph, a NIC
with a unique MAC), four storages (two local, a shared RBD and a shared NFS for backups),
ten pools with members, the API token of two-node.yaml, and task rules for guest power
operations (`time_scale: 0`, so a task is finished when its UPID is returned).

Finished tasks cannot be seeded: the scenario format has no place for past tasks (`tasks`
holds rules that answer requests with tasks, and the task list lives in the running
server, not in `state`). The scale benchmark makes finished tasks by calling the power
operations listed in the manifest (`task_calls`) before it measures.

The YAML is block style with one flow-style item per line, as a person would write a
large scenario; `--format json` writes the same document as JSON (which is YAML too).
Output is deterministic for a given --seed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

TOKEN_ID = "root@pam!ci"
TOKEN_SECRET = "5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10"
GiB = 1024**3

DEFAULT_NODES = {1_000: 10, 10_000: 50, 100_000: 100}


def default_nodes(guests: int) -> int:
    for size, nodes in sorted(DEFAULT_NODES.items()):
        if guests <= size:
            return nodes
    return 100


def _flow(d: dict) -> str:
    """One mapping in YAML flow style (values: int, float, or JSON-quoted strings)."""
    parts = []
    for k, v in d.items():
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, (int, float)):
            parts.append(f"{k}: {v}")
        else:
            parts.append(f"{k}: {json.dumps(str(v))}")
    return "{" + ", ".join(parts) + "}"


def build(guests: int, nodes: int, seed: int = 42, tasks: int = 200) -> tuple[dict, dict]:
    """The scenario as a document (plain dicts and lists), and the manifest."""
    rng = random.Random(seed)
    node_names = [f"pve{i:03d}" for i in range(1, nodes + 1)]
    pools = [f"pool{i:02d}" for i in range(1, 11)]
    state: dict = {}
    state["/nodes"] = []
    for name in node_names:
        maxmem = rng.choice((256, 384, 512, 768)) * GiB
        state["/nodes"].append(
            {
                "node": name,
                "status": "online",
                "maxcpu": rng.choice((32, 48, 64, 96, 128)),
                "maxmem": maxmem,
                "mem": int(maxmem * rng.uniform(0.2, 0.8)),
                "cpu": round(rng.uniform(0.01, 0.6), 4),
                "uptime": rng.randint(86400, 90 * 86400),
            }
        )
    state["/storage"] = [
        {"storage": "local", "type": "dir", "path": "/var/lib/vz", "content": "iso,vztmpl,backup", "shared": 0},
        {
            "storage": "local-lvm",
            "type": "lvmthin",
            "vgname": "pve",
            "thinpool": "data",
            "content": "rootdir,images",
            "shared": 0,
        },
        {"storage": "ceph-vm", "type": "rbd", "pool": "vm", "content": "images,rootdir", "shared": 1},
        {
            "storage": "backup-nfs",
            "type": "nfs",
            "server": "192.0.2.50",
            "export": "/srv/backup",
            "path": "/mnt/pve/backup-nfs",
            "content": "backup",
            "shared": 1,
        },
    ]
    state["/pools"] = [{"poolid": pool, "comment": f"generated pool {pool}"} for pool in pools]

    # guests, grouped by node and kind (state keys are per collection)
    per: dict[tuple[str, str], list[tuple[dict, dict]]] = {}
    manifest_guests = []
    for i in range(guests):
        vmid = 100 + i
        node = node_names[i % nodes]
        kind = "lxc" if rng.random() < 0.3 else "qemu"
        status = "running" if rng.random() < 0.7 else "stopped"
        mac = f"BC:24:11:{(vmid >> 16) & 0xFF:02X}:{(vmid >> 8) & 0xFF:02X}:{vmid & 0xFF:02X}"
        cores = rng.choice((1, 2, 2, 4, 4, 8))
        memory = rng.choice((512, 1024, 2048, 4096, 8192))
        item: dict = {"vmid": vmid, "name": f"{'vm' if kind == 'qemu' else 'ct'}-{vmid}", "status": status}
        if i % 7 == 0:
            item["pool"] = pools[i % len(pools)]
        if i % 5 == 0:
            item["tags"] = rng.choice(("prod", "dev", "web;prod", "db;prod", "ci"))
        if kind == "qemu":
            cfg = {
                "name": item["name"],
                "cores": cores,
                "sockets": 1,
                "memory": memory,
                "ostype": "l26",
                "boot": "order=scsi0;net0",
                "scsi0": f"ceph-vm:vm-{vmid}-disk-0,size={rng.choice((16, 32, 64))}G",
                "net0": f"virtio={mac},bridge=vmbr0",
            }
        else:
            cfg = {
                "hostname": item["name"],
                "cores": cores,
                "memory": memory,
                "swap": 512,
                "ostype": "debian",
                "rootfs": f"ceph-vm:vm-{vmid}-disk-0,size={rng.choice((8, 16))}G",
                "net0": f"name=eth0,bridge=vmbr0,hwaddr={mac},ip=dhcp",
            }
        per.setdefault((node, kind), []).append((item, cfg))
        manifest_guests.append({"vmid": vmid, "node": node, "type": kind, "status": status})
    for node in node_names:
        for kind in ("qemu", "lxc"):
            entries = per.get((node, kind), [])
            if not entries:
                continue
            state[f"/nodes/{node}/{kind}"] = [item for item, _ in entries]
            for item, cfg in entries:
                state[f"/nodes/{node}/{kind}/{item['vmid']}/config"] = cfg
    task_rules = []
    for kind, label in (("qemu", "VM"), ("lxc", "CT")):
        task_rules.append(
            {
                "when": f"POST /nodes/{{node}}/{kind}/{{vmid}}/status/start",
                "duration": "2s",
                "log": [f"starting {label} ${{params.vmid}}", {"at": "1s", "line": "  started"}],
            }
        )
        task_rules.append(
            {
                "when": f"POST /nodes/{{node}}/{kind}/{{vmid}}/status/stop",
                "duration": "1s",
                "log": [f"stopping {label} ${{params.vmid}}"],
            }
        )
    doc = {
        "scenariod": 1,
        "name": f"scale-{guests}",
        "description": f"{guests} guests on {nodes} nodes (generated by tools/gen_scale.py, seed {seed})",
        "service": "pve",
        "seed": seed,
        "time_scale": 0,
        "auth": {
            "users": [{"userid": "root@pam", "password": "secret"}],
            "tokens": [{"tokenid": TOKEN_ID, "secret": TOKEN_SECRET}],
        },
        "limits": {"journal": 1000, "tasks": 1000},
        "state": state,
        "tasks": task_rules,
    }
    # power operations whose tasks the benchmark creates: stop running guests, start stopped ones
    calls = []
    for g in manifest_guests[: max(0, tasks)]:
        action = "stop" if g["status"] == "running" else "start"
        calls.append(f"/api2/json/nodes/{g['node']}/{g['type']}/{g['vmid']}/status/{action}")
    manifest = {
        "guests": guests,
        "nodes": nodes,
        "seed": seed,
        "node_names": node_names,
        "first_node": node_names[0],
        "first_qemu": next((g for g in manifest_guests if g["type"] == "qemu"), None),
        "qemu_on_first_node": sum(1 for g in manifest_guests if g["node"] == node_names[0] and g["type"] == "qemu"),
        "task_calls": calls,
        "token": f"PVEAPIToken={TOKEN_ID}={TOKEN_SECRET}",
    }
    return doc, manifest


def to_yaml(doc: dict, header: str) -> str:
    """YAML as a person writes a large scenario: block style, one flow-style item per line."""
    out = ["# yaml-language-server: $schema=../schema/scenario.schema.json", f"# {header}"]
    w = out.append
    for key, value in doc.items():
        if key == "state":
            w("state:")
            for path, v in value.items():
                if isinstance(v, list):
                    w(f"  {path}:")
                    for item in v:
                        w("    - " + _flow(item))
                else:
                    w(f"  {path}: " + _flow(v))
        elif key == "auth":
            w("auth:")
            for k, items in value.items():
                w(f"  {k}:")
                for item in items:
                    w("    - " + _flow(item))
        elif key == "tasks":
            w("tasks:")
            for rule in value:
                w(f"  - when: {rule['when']}")
                w(f"    duration: {rule['duration']}")
                w("    log: " + json.dumps(rule["log"]).replace('"at": "1s"', "at: 1s").replace('"line": ', "line: "))
        elif isinstance(value, dict):
            w(f"{key}: " + _flow(value))
        else:
            w(f"{key}: {value}")
    return "\n".join(out) + "\n"


def generate(guests: int, nodes: int, seed: int = 42, tasks: int = 200, fmt: str = "yaml") -> tuple[str, dict]:
    doc, manifest = build(guests, nodes, seed, tasks)
    if fmt == "json":  # JSON is YAML too: the same scenario, for a loader with a JSON fast path
        return json.dumps(doc, separators=(",", ":")) + "\n", manifest
    header = f"Generated by tools/gen_scale.py --guests {guests} --nodes {nodes} --seed {seed}: do not edit."
    return to_yaml(doc, header), manifest


def write(
    guests: int, nodes: int | None, out_dir: Path, seed: int = 42, tasks: int = 200, fmt: str = "yaml"
) -> tuple[Path, dict]:
    nodes = nodes or default_nodes(guests)
    if not 1 <= nodes <= 1000:
        raise SystemExit("gen_scale: --nodes must be 1..1000")
    text, manifest = generate(guests, nodes, seed, tasks, fmt)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"scale-{guests}.{fmt}"
    path.write_text(text)
    manifest["file"] = str(path)
    manifest["bytes"] = len(text.encode())
    (out_dir / f"scale-{guests}.manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return path, manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    p.add_argument(
        "--guests", type=int, action="append", help="number of guests (repeatable; default 1000, 10000 and 100000)"
    )
    p.add_argument("--nodes", type=int, help="nodes (default: 10 up to 1,000 guests, 50 up to 10,000, else 100)")
    p.add_argument("--out", help="folder to write to (default: a new temporary folder)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--tasks", type=int, default=200, help="power calls listed in the manifest to make tasks")
    p.add_argument(
        "--format",
        choices=("yaml", "json"),
        default="yaml",
        help="yaml (default), or json: the same document as JSON, which is YAML too",
    )
    args = p.parse_args(argv)
    if args.out:
        out = Path(args.out)
    else:
        import tempfile

        out = Path(tempfile.mkdtemp(prefix="scenariod-scale-"))
    for n in args.guests or [1_000, 10_000, 100_000]:
        path, manifest = write(n, args.nodes, out, args.seed, args.tasks, args.format)
        print(f"{path}  ({manifest['guests']} guests on {manifest['nodes']} nodes, {manifest['bytes'] / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
