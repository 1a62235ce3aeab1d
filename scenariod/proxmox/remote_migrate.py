"""PVE's remote migration: `POST /nodes/{node}/qemu/{vmid}/remote_migrate` moves a VM to another
cluster through that cluster's API, as qemu-server's remote_migrate_vm does.

Before the worker forks, the node connects to `target-endpoint` (host, port, apitoken,
fingerprint) and asks the target's `/cluster/status` which node it is (`local`): a target it
cannot reach, whose certificate it does not trust or that refuses the token fails the call with
PVE::APIClient's words. The worker (a `qmigrate` task) creates the VM on that node with
`POST /nodes/{node}/qemu`: the same configuration with every disk allocated anew on the mapped
storage (so named for the target vmid there) and the bridges mapped, unused disks copied first
(allocated through the target's storage content API) and kept as its unusedN; it waits for the target's
task, then destroys the source VM (`delete=1`) or keeps it stopped and locked (`lock: migrate`),
as PVE does. An online migration of a running VM leaves it running on the target. Real PVE
moves configuration and disks through the target's `mtunnel` websocket, which scenariod does
not mock: a scenariod target shows a `qmcreate` task where a real one shows `qmtunnel`, with the
same outcome. A container's remote migration needs that tunnel too and answers 501.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from .. import wire
from ..tasks import TaskRequest
from . import handles, outbound, storage, volumes
from .guests import config_of, sync_guest

if TYPE_CHECKING:
    from ..state import StateStore
    from ..world import Call

DEFAULT_PORT = 8006
POLL_SECONDS = 0.1  # how often the worker asks the target whether its task has ended
_DROPPED = ("lock", "parent", "digest", "pending")  # not part of what reaches the target's config
_DISK_NUMBER = re.compile(r"-disk-(\d+)(?:\.\w+)?$")


@dataclass(frozen=True, slots=True)
class Target:
    """A `proxmox-remote` property string: where the target cluster's API is and how to trust it."""

    host: str
    port: int
    apitoken: str
    fingerprint: str | None

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{shown}:{self.port}"


def parse_target(text: str) -> Target:
    fields = dict(part.partition("=")[::2] for part in text.split(",") if part)
    for key in ("host", "apitoken"):
        if not fields.get(key):
            raise wire.ApiError(
                400,
                wire.PARAMETER_VERIFICATION_FAILED,
                {"target-endpoint": f"{key}: property is missing and it is not optional"},
            )
    try:
        port = int(fields.get("port") or DEFAULT_PORT)
    except ValueError:
        raise wire.ApiError(
            400, wire.PARAMETER_VERIFICATION_FAILED, {"target-endpoint": "port: type check ('integer') failed"}
        ) from None
    return Target(fields["host"], port, fields["apitoken"], fields.get("fingerprint") or None)


@dataclass(frozen=True, slots=True)
class IdMap:
    """PVE::JSONSchema::parse_idmap: `SRC:DST` entries, a lone `DST` for all others, `1` for identity."""

    entries: dict[str, str]
    default: str | None
    identity: bool

    def map(self, source: str) -> str:
        return self.entries.get(source) or self.default or source


def parse_idmap(text: str) -> IdMap:
    entries: dict[str, str] = {}
    default = None
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        source, colon, target = part.partition(":")
        if colon:
            entries[source] = target
        elif part == "1":
            return IdMap({}, None, True)
        else:
            default = part
    return IdMap(entries, default, False)


async def ask(call: Call, target: Target, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
    """The target's `data` for one request, its failures worded as PVE::APIClient::LWP words them."""
    try:
        tls = outbound.tls_for(target.url, target.fingerprint)
        status, reason, body = await outbound.send(
            f"{target.url}/api2/json{path}",
            method,
            target.apitoken,
            tls,
            call.world.scenario.limits.remote_timeout,
            params,
        )
    except ValueError:  # a fingerprint that is not hex digits: nothing it could match
        raise wire.ApiError(500, wire.fingerprint_not_verified("")) from None
    except TimeoutError:
        raise wire.ApiError(500, wire.LWP_READ_TIMEOUT) from None
    except aiohttp.ServerFingerprintMismatch as exc:
        raise wire.ApiError(500, wire.fingerprint_not_verified(exc.got.hex(":").upper())) from None
    except (aiohttp.ClientConnectorCertificateError, ssl.SSLError):
        untrusted = wire.lwp_connect_failed(target.host, target.port, "certificate verify failed")
        raise wire.ApiError(500, untrusted) from None
    except aiohttp.ClientConnectorError as exc:
        errno = exc.os_error.errno
        why = os.strerror(errno) if errno else str(exc.os_error)
        raise wire.ApiError(500, wire.lwp_connect_failed(target.host, target.port, why)) from None
    except aiohttp.ClientError as exc:
        raise wire.ApiError(500, str(exc) or wire.LWP_READ_TIMEOUT) from None
    if status >= 400:  # APIClient dies with the reason phrase, which Proxmox makes the error's first line
        raise wire.ApiError(status if status < 500 else 500, reason or f"HTTP {status}")
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise wire.ApiError(500, "got unexpected content type") from None
    return parsed.get("data") if isinstance(parsed, dict) else None


def _config_path(node: str, vmid: int) -> tuple[str, ...]:
    return ("nodes", node, "qemu", str(vmid), "config")


def _set_lock(store: StateStore, node: str, vmid: int, lock: str | None) -> None:
    cfg = {k: v for k, v in config_of(store, node, "qemu", vmid).items() if k != "lock"}
    if lock is not None:
        cfg["lock"] = lock
    store.set(_config_path(node, vmid), cfg)
    sync_guest(store, node, "qemu", vmid)


def target_config(
    store: StateStore, source: dict[str, Any], vmid: int, storages: IdMap, bridges: IdMap, log: Callable[[str], None]
) -> tuple[dict[str, Any], list[tuple[str, str]], list[tuple[str, volumes.Volume]]]:
    """What the target creates: every local disk as a new allocation on its mapped storage (`SID:GiB`,
    cloud-init as `SID:cloudinit`), bridges mapped; with the (drive, source volume) of each disk,
    and the (unusedN, source volume) of each unused disk, which is copied over before the VM is made."""
    owned = {v.volid: v for v in volumes.guest_volumes(source, "qemu", vmid, store)}
    fields: dict[str, Any] = {}
    disks: list[tuple[str, str]] = []
    unused: list[tuple[str, volumes.Volume]] = []
    allocating: list[str] = []
    for key, value in source.items():
        if key in _DROPPED:
            continue
        if volumes.UNUSED.match(key):
            if isinstance(value, str) and value in owned:
                unused.append((key, owned[value]))
            continue
        if isinstance(value, str) and volumes.QEMU_DISK.match(key):
            volid, rest = volumes.split_drive(value)
            if volid in owned:
                sid = storages.map(owned[volid].storage)
                keep = [p for p in rest if not p.startswith(("size=", "format="))]
                if "cloudinit" in volid:
                    value = ",".join([f"{sid}:cloudinit", *keep])
                else:
                    log(f"found local disk '{volid}' (attached)")
                    size = owned[volid].size or volumes.imported_size(store, volid)
                    gib = f"{size / volumes.GiB:.6f}".rstrip("0").rstrip(".")
                    allocating.append(f"Allocating volume for drive '{key}' on remote storage '{sid}'..")
                    value = ",".join([f"{sid}:{gib}", *keep])
                disks.append((key, volid))
        fields[key] = value
    for key, value in list(fields.items()):
        if isinstance(value, str) and volumes.NET.match(key):
            parts = value.split(",")
            for n, part in enumerate(parts):
                if part.startswith("bridge="):
                    mapped = bridges.map(part[7:])
                    log(f"mapped: {key} from {part[7:]} to {mapped}")
                    parts[n] = f"bridge={mapped}"
            fields[key] = ",".join(parts)
    for _, volume in sorted(unused, key=lambda u: u[1].volid):
        log(f"found local disk '{volume.volid}' (unused)")
    for line in allocating:
        log(line)
    return fields, disks, unused


async def copy_unused(
    call: Call,
    target: Target,
    node: str,
    vmid: int,
    unused: list[tuple[str, volumes.Volume]],
    storages: IdMap,
    log: Callable[[str], None],
) -> dict[str, str]:
    """sync_offline_local_volumes: each unused disk allocated on its mapped storage, named for the
    target's vmid with the first disk numbers free there (before the VM's own disks take theirs);
    the unusedN keys of the target's configuration, pointing at them."""
    if not unused:
        return {}
    log("copying local disk images")
    taken: dict[str, set[int]] = {}
    out: dict[str, str] = {}
    for key, volume in unused:
        sid = storages.map(volume.storage)
        if sid not in taken:
            listed = await ask(call, target, "GET", f"/nodes/{node}/storage/{sid}/content", {"vmid": vmid})
            names = (str(e.get("volid", "")) for e in listed or () if isinstance(e, dict))
            taken[sid] = {int(m.group(1)) for n in names if (m := _DISK_NUMBER.search(n))}
        number = next(n for n in range(len(taken[sid]) + 1) if n not in taken[sid])
        taken[sid].add(number)
        size = volume.size or volumes.imported_size(call.store, volume.volid)  # what the source storage lists
        params = {"vmid": vmid, "filename": f"vm-{vmid}-disk-{number}", "size": str(max(size // 1024, 1))}
        if volume.format in ("raw", "qcow2", "vmdk"):
            params["format"] = volume.format
        new = await ask(call, target, "POST", f"/nodes/{node}/storage/{sid}/content", params)
        log(f"volume '{volume.volid}' is '{new}' on the target")
        out[key] = str(new)
    return out


@handles("POST", "/nodes/{node}/qemu/{vmid}/remote_migrate")
async def remote_migrate(call: Call) -> TaskRequest:
    node, vmid, store = call.params["node"], int(call.params["vmid"]), call.store
    lock = config_of(store, node, "qemu", vmid).get("lock")
    if lock:
        raise wire.ApiError(500, wire.guest_locked("qemu", vmid, lock))
    target = parse_target(str(call.args["target-endpoint"]))
    target_vmid = int(call.args.get("target-vmid") or vmid)
    item = store.get(("nodes", node, "qemu", str(vmid)))
    running = isinstance(item, dict) and item.get("status") == "running"
    if running and not call.args.get("online"):
        raise wire.ApiError(500, wire.QEMU_ONLINE_MIGRATION_NEEDED)
    storages = parse_idmap(str(call.args["target-storage"]))
    bridges = parse_idmap(str(call.args["target-bridge"]))
    if storages.identity:
        raise wire.ApiError(500, wire.REMOTE_MIGRATE_NEEDS_STORAGE_MAP)
    statuses = await ask(call, target, "GET", "/cluster/status")
    target_node = next(
        (str(e["name"]) for e in statuses or () if isinstance(e, dict) and e.get("type") == "node" and e.get("local")),
        None,
    )
    if target_node is None:
        raise wire.ApiError(500, wire.REMOTE_ENDPOINT_NODE_UNKNOWN)
    # the world may have moved on while the target answered: look again, then lock at once
    if not store.has(("nodes", node, "qemu", str(vmid))):
        raise wire.guest_config_missing(node, vmid, "qemu")
    lock = config_of(store, node, "qemu", vmid).get("lock")
    if lock:
        raise wire.ApiError(500, wire.guest_locked("qemu", vmid, lock))
    _set_lock(store, node, vmid, "migrate")
    remove = bool(call.args.get("delete"))

    async def work(say: Callable[[str], None]) -> None:
        started = time.monotonic()

        def log(line: str) -> None:
            say(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}")

        try:
            log(f"starting migration of VM {vmid} to node '{target_node}' ({target.host})")
            if store.keys(("nodes", node, "qemu", str(vmid), "snapshot")):
                raise wire.ApiError(500, wire.REMOTE_MIGRATE_WITH_SNAPSHOTS)
            source = config_of(store, node, "qemu", vmid)
            fields, disks, unused = target_config(store, source, vmid, storages, bridges, log)
            fields.update(await copy_unused(call, target, target_node, target_vmid, unused, storages, log))
            fields["vmid"] = target_vmid
            if running:
                fields["start"] = True
            upid = await ask(call, target, "POST", f"/nodes/{target_node}/qemu", fields)
            await _finished(call, target, target_node, str(upid))
            created = await ask(call, target, "GET", f"/nodes/{target_node}/qemu/{target_vmid}/config")
            for key, volid in disks:
                log(f"volume '{volid}' is '{volumes.split_drive(str(created.get(key, '')))[0]}' on the target")
            if running:
                log(f"starting VM {target_vmid} on remote node '{target_node}'")
        except wire.ApiError as err:
            log(f"ERROR: {err.message}")
            log("aborting phase 1 - cleanup resources")
            took = wire.migration_duration(time.monotonic() - started)
            log(f"ERROR: migration aborted (duration {took}): {err.message}")
            raise wire.ApiError(500, wire.MIGRATION_ABORTED) from None
        log(f"migration finished successfully (duration {wire.migration_duration(time.monotonic() - started)})")

    def effect() -> None:
        if remove:
            store.delete(("nodes", node, "qemu", str(vmid)))
            storage.forget_guest(store, vmid, False)
        else:  # kept on the source stopped, and locked so that no one starts it by mistake
            sync_guest(store, node, "qemu", vmid, status="stopped", qmpstatus="stopped")

    return TaskRequest(
        node=node,
        type="qmigrate",
        id=str(vmid),
        user=call.actor,
        effect=effect,
        on_failure=lambda: _set_lock(store, node, vmid, None),
        work=work,
    )


async def _finished(call: Call, target: Target, node: str, upid: str) -> None:
    """Wait for the target's task; its failure is the migration's."""
    while True:
        status = await ask(call, target, "GET", f"/nodes/{node}/tasks/{upid}/status")
        if isinstance(status, dict) and status.get("status") == "stopped":
            if status.get("exitstatus") != "OK":
                raise wire.ApiError(500, str(status.get("exitstatus")))
            return
        await asyncio.sleep(POLL_SECONDS)


@handles("POST", "/nodes/{node}/lxc/{vmid}/remote_migrate")
def container_remote_migrate(call: Call) -> None:
    raise wire.ApiError(501, wire.LXC_REMOTE_MIGRATE_UNSUPPORTED)
