"""`scenariod fleet`: write a consistent estate of scenarios, one file per instance.

An estate is N VE clusters, P Backup Servers and, optionally, a Datacenter Manager over all
of them, generated so that every part agrees with every other:

- each VE cluster has its own node names (`c07-n1`), vmid range (`7000 + i`), MACs
  (`BC:24:11:07:..`, Proxmox's prefix, the cluster in the fourth byte), addresses
  (`10.7.x.y`), a `root@pam!pdm` token for the PDM and a PBS storage that points at one of
  the Backup Servers with that server's `backup@pbs!pve` token;
- each Backup Server's datastore holds the backup groups and snapshots of the guests of the
  clusters that back up to it;
- the PDM's remotes point at every instance's listen address (loopback) with the token that
  instance declares, so PDM asks each of them live (proxmox/pdm/remote_client.py): what it
  shows for a remote is what that remote answers.

Ports: VE cluster i listens on BASE + i - 1, PBS j on BASE + 500 + j - 1, the PDM on
BASE + 999 (BASE is `--base-port`, default 20000). The output is deterministic for a seed.
Every file is written as YAML a person would read (block style, one flow item per line),
with a header comment naming the estate.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GiB = 1024**3
PBS_OFFSET = 500
PDM_OFFSET = 999


@dataclass
class Guest:
    vmid: int
    kind: str  # qemu | lxc
    node: str
    name: str
    status: str
    cores: int
    memory_mib: int
    disk_gib: int
    mac: str
    ip: str


@dataclass
class Cluster:
    index: int
    name: str
    port: int
    nodes: list[str]
    guests: list[Guest]
    pdm_secret: str
    pbs: int | None  # index of the Backup Server it backs up to


@dataclass
class BackupServer:
    index: int
    name: str
    port: int
    pve_secret: str
    pdm_secret: str
    clusters: list[Cluster] = field(default_factory=list)


def _secret(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def plan(
    clusters: int, nodes_per_cluster: int, guests_per_cluster: int, pbs: int = 0, seed: int = 42, base_port: int = 20000
) -> tuple[list[Cluster], list[BackupServer]]:
    """The estate as data: clusters (with their guests) and Backup Servers."""
    if not 1 <= clusters <= 99:
        raise ValueError("--clusters must be between 1 and 99 (cluster numbers name MACs and addresses)")
    if nodes_per_cluster < 1 or guests_per_cluster < 0 or pbs < 0:
        raise ValueError("--nodes-per-cluster must be at least 1; guests and PBS counts at least 0")
    if guests_per_cluster > 899:
        raise ValueError("--guests-per-cluster must be at most 899 (each cluster owns 1000 vmids)")
    rng = random.Random(seed)
    servers = [
        BackupServer(j, f"pbs-{j:02d}", base_port + PBS_OFFSET + j - 1, _secret(rng), _secret(rng))
        for j in range(1, pbs + 1)
    ]
    out: list[Cluster] = []
    for i in range(1, clusters + 1):
        names = [f"c{i:02d}-n{k}" for k in range(1, nodes_per_cluster + 1)]
        guests = []
        for g in range(guests_per_cluster):
            vmid = i * 1000 + 100 + g
            kind = "lxc" if rng.random() < 0.3 else "qemu"
            guests.append(
                Guest(
                    vmid=vmid,
                    kind=kind,
                    node=names[g % len(names)],
                    name=f"{'vm' if kind == 'qemu' else 'ct'}-{i:02d}-{g:03d}",
                    status="running" if rng.random() < 0.7 else "stopped",
                    cores=rng.choice((1, 2, 2, 4, 8)),
                    memory_mib=rng.choice((512, 1024, 2048, 4096, 8192)),
                    disk_gib=rng.choice((8, 16, 32, 64)),
                    mac=f"BC:24:11:{i:02X}:{(g >> 8) & 0xFF:02X}:{g & 0xFF:02X}",
                    ip=f"10.{i}.{g // 250}.{g % 250 + 2}",
                )
            )
        cluster = Cluster(i, f"ve-{i:02d}", base_port + i - 1, names, guests, _secret(rng), None)
        if servers:
            server = servers[(i - 1) % len(servers)]
            cluster.pbs = server.index
            server.clusters.append(cluster)
        out.append(cluster)
    return out, servers


def flow(value: dict[str, Any]) -> str:
    """One mapping in YAML flow style (scalars as JSON, which YAML reads the same)."""
    parts = []
    for key, item in value.items():
        if isinstance(item, bool):
            item = int(item)
        if isinstance(item, (int, float)):
            parts.append(f"{key}: {item}")
        elif isinstance(item, list):
            parts.append(f"{key}: {json.dumps(item)}")
        else:
            parts.append(f"{key}: {json.dumps(str(item))}")
    return "{" + ", ".join(parts) + "}"


def to_yaml(doc: dict[str, Any], header: list[str]) -> str:
    """A scenario document as YAML: scalars and small mappings inline, state one item a line."""
    lines = [f"# {text}" for text in header]
    for key, value in doc.items():
        if key == "state":
            lines.append("state:")
            for path, item in value.items():
                if isinstance(item, list):
                    lines.append(f"  {path}:")
                    lines.extend("    - " + flow(entry) for entry in item)
                else:
                    lines.append(f"  {path}: " + flow(item))
        elif key == "auth":
            lines.append("auth:")
            for section, items in value.items():
                lines.append(f"  {section}:" + ("" if items else " []"))
                lines.extend("    - " + flow(entry) for entry in items)
        elif isinstance(value, dict):
            lines.append(f"{key}: " + flow(value))
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def _guest_config(guest: Guest, storage: str) -> dict[str, Any]:
    if guest.kind == "qemu":
        return {
            "name": guest.name,
            "cores": guest.cores,
            "sockets": 1,
            "memory": guest.memory_mib,
            "ostype": "l26",
            "scsihw": "virtio-scsi-single",
            "boot": "order=scsi0;net0",
            "scsi0": f"{storage}:vm-{guest.vmid}-disk-0,size={guest.disk_gib}G",
            "net0": f"virtio={guest.mac},bridge=vmbr0",
            "ipconfig0": f"ip={guest.ip}/16,gw=10.{guest.vmid // 1000}.0.1",
        }
    return {
        "hostname": guest.name,
        "cores": guest.cores,
        "memory": guest.memory_mib,
        "swap": 512,
        "ostype": "debian",
        "rootfs": f"{storage}:vm-{guest.vmid}-disk-0,size={guest.disk_gib}G",
        "net0": f"name=eth0,bridge=vmbr0,hwaddr={guest.mac},ip={guest.ip}/16,gw=10.{guest.vmid // 1000}.0.1",
    }


def _node_item(node: str, rng: random.Random) -> dict[str, Any]:
    maxmem = rng.choice((128, 256, 384)) * GiB
    return {
        "node": node,
        "status": "online",
        "maxcpu": rng.choice((32, 48, 64)),
        "maxmem": maxmem,
        "mem": int(maxmem * rng.uniform(0.2, 0.7)),
        "cpu": round(rng.uniform(0.01, 0.4), 4),
        "uptime": rng.randint(86400, 60 * 86400),
    }


def _users(tokens: list[dict[str, Any]], extra_users: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"users": [{"userid": "root@pam", "password": "secret"}, *(extra_users or [])], "tokens": tokens}


def cluster_doc(cluster: Cluster, servers: list[BackupServer], seed: int) -> dict[str, Any]:
    rng = random.Random(f"{seed}-ve-{cluster.index}")
    storages: list[dict[str, Any]] = [
        {"storage": "local", "type": "dir", "path": "/var/lib/vz", "content": "iso,vztmpl,import"},
        {"storage": "local-lvm", "type": "lvmthin", "vgname": "pve", "thinpool": "data", "content": "images,rootdir"},
    ]
    state: dict[str, Any] = {"/nodes": [_node_item(node, rng) for node in cluster.nodes], "/storage": storages}
    if cluster.pbs is not None:
        server = servers[cluster.pbs - 1]
        storages.append(
            {
                "storage": server.name,
                "type": "pbs",
                "server": "127.0.0.1",
                "port": server.port,
                "datastore": "store1",
                "username": "backup@pbs!pve",
                "content": "backup",
            }
        )
        state["/cluster/backup"] = [
            {
                "id": "backup-nightly",
                "type": "vzdump",
                "schedule": "02:00",
                "storage": server.name,
                "all": 1,
                "mode": "snapshot",
                "enabled": 1,
            }
        ]
    for node in cluster.nodes:
        for kind in ("qemu", "lxc"):
            mine = [g for g in cluster.guests if g.node == node and g.kind == kind]
            if mine:
                state[f"/nodes/{node}/{kind}"] = [{"vmid": g.vmid, "name": g.name, "status": g.status} for g in mine]
                for g in mine:
                    state[f"/nodes/{node}/{kind}/{g.vmid}/config"] = _guest_config(g, "local-lvm")
    return {
        "scenariod": 1,
        "name": cluster.name,
        "description": f"VE cluster {cluster.index}: {len(cluster.nodes)} nodes, {len(cluster.guests)} guests",
        "service": "pve",
        "listen": {"port": cluster.port},
        "seed": seed + cluster.index,
        "time_scale": 0.2,
        "auth": _users([{"tokenid": "root@pam!pdm", "secret": cluster.pdm_secret}]),
        "state": state,
    }


def _snapshot_time(day: int) -> str:
    return f"2026-11-{28 - day:02d}T02:00:00Z"


def server_doc(server: BackupServer, seed: int) -> dict[str, Any]:
    rng = random.Random(f"{seed}-pbs-{server.index}")
    groups, snapshots = [], []
    used = 0
    for cluster in server.clusters:
        for g in cluster.guests:
            kind = "vm" if g.kind == "qemu" else "ct"
            groups.append({"backup-type": kind, "backup-id": str(g.vmid), "owner": "backup@pbs!pve", "comment": g.name})
            for day in range(2):
                size = g.disk_gib * GiB
                used += size // 3
                snapshots.append(
                    {"backup-type": kind, "backup-id": str(g.vmid), "backup-time": _snapshot_time(day), "size": size}
                )
    total = max(4 * 1024 * GiB, used * 3)
    return {
        "scenariod": 1,
        "name": server.name,
        "description": f"Backup Server {server.index}: backups of {', '.join(c.name for c in server.clusters) or '-'}",
        "service": "pbs",
        "listen": {"port": server.port},
        "seed": seed + 500 + server.index,
        "time_scale": 0.2,
        "auth": _users(
            [
                {"tokenid": "backup@pbs!pve", "secret": server.pve_secret},
                {"tokenid": "root@pam!pdm", "secret": server.pdm_secret},
            ],
            [{"userid": "backup@pbs"}],
        ),
        "state": {
            "/nodes": [_node_item(f"pbs{server.index:02d}", rng)],
            # PBS grants tokens nothing by themselves: the PDM audits it all, the VE clusters back up
            "/access/acl": [
                {"path": "/", "ugid": "root@pam!pdm", "roleid": "Admin"},
                {"path": "/datastore/store1", "ugid": "backup@pbs", "roleid": "DatastorePowerUser"},
                {"path": "/datastore/store1", "ugid": "backup@pbs!pve", "roleid": "DatastorePowerUser"},
            ],
            "/config/datastore": [{"name": "store1", "path": "/mnt/datastore/store1", "gc-schedule": "daily"}],
            "/admin/datastore/store1/status": {"total": total, "used": used},
            "/admin/datastore/store1/groups": groups,
            "/admin/datastore/store1/snapshots": snapshots,
        },
    }


def pdm_doc(clusters: list[Cluster], servers: list[BackupServer], seed: int, port: int) -> dict[str, Any]:
    remotes: list[dict[str, Any]] = []
    state: dict[str, Any] = {"/nodes": [{"node": "pdm1", "maxcpu": 8, "maxmem": 16 * GiB, "mem": 4 * GiB}]}
    for c in clusters:
        remotes.append(
            {
                "id": c.name,
                "type": "pve",
                "nodes": [f"hostname=127.0.0.1:{c.port}"],
                "authid": "root@pam!pdm",
                "token": c.pdm_secret,
            }
        )
    for s in servers:
        remotes.append(
            {
                "id": s.name,
                "type": "pbs",
                "nodes": [f"hostname=127.0.0.1:{s.port}"],
                "authid": "root@pam!pdm",
                "token": s.pdm_secret,
            }
        )
    state["/remotes/remote"] = remotes
    return {
        "scenariod": 1,
        "name": "pdm",
        "description": f"Datacenter Manager over VE clusters: {len(clusters)}, Backup Servers: {len(servers)}",
        "service": "pdm",
        "listen": {"port": port},
        "seed": seed + 999,
        "time_scale": 0.2,
        "auth": _users([]),
        "state": state,
    }


def write_fleet(
    outdir: Path,
    clusters: int,
    nodes_per_cluster: int,
    guests_per_cluster: int,
    pbs: int = 0,
    pdm: bool = False,
    seed: int = 42,
    base_port: int = 20000,
) -> list[Path]:
    """Write the estate's files into `outdir`; returns their paths (VE, PBS, then PDM)."""
    planned, servers = plan(clusters, nodes_per_cluster, guests_per_cluster, pbs, seed, base_port)
    outdir.mkdir(parents=True, exist_ok=True)
    header = [
        f"Part of a generated estate (scenariod fleet, seed {seed}): VE clusters: {clusters},",
        f"Backup Servers: {len(servers)}, Datacenter Manager: {'yes' if pdm else 'no'}. Serve it all with",
        f"`scenariod run {outdir}/*.yaml`. Every instance: root@pam / secret.",
    ]
    docs: list[tuple[str, dict[str, Any]]] = [(f"{c.name}.yaml", cluster_doc(c, servers, seed)) for c in planned]
    docs += [(f"{s.name}.yaml", server_doc(s, seed)) for s in servers]
    if pdm:
        docs.append(("pdm.yaml", pdm_doc(planned, servers, seed, base_port + PDM_OFFSET)))
    written = []
    for name, doc in docs:
        path = outdir / name
        path.write_text(to_yaml(doc, header))
        written.append(path)
    return written
