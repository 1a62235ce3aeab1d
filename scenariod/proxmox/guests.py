"""PVE guests: qemu VMs and lxc containers, their lifecycle and its effects on state.

A guest is two things in state: its list item (`/nodes/N/qemu/100`, what lists and
`/cluster/resources` show) and its configuration (`.../100/config`). `sync_guest` derives
the item's fields from the configuration and the runtime status, so the views agree.
Operations run as worker tasks: refusals PVE makes inside the worker end the task with
`TASK ERROR: ...`; those it makes before forking answer an error at once.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import wire
from ..gcpause import gc_paused
from ..generic import digest_of
from ..state import MISSING
from ..tasks import TaskRequest
from . import config_privileges, handles, pools, power, prepares, storage, volumes
from .cluster import find_guest

if TYPE_CHECKING:
    from ..scenario.model import Scenario
    from ..state import StateStore
    from ..world import Call, World

QEMU_VERSION = "9.2.0"  # what `meta: creation-qemu=` and `running-qemu` report
MiB = 1024**2
GiB = 1024**3
KINDS = ("qemu", "lxc")
# Arguments of create/config calls that steer the call rather than configure the guest.
_NOT_CONFIG = frozenset(
    {
        "node",
        "vmid",
        "start",
        "archive",
        "force",
        "unique",
        "pool",
        "storage",
        "password",
        "ostemplate",
        "ssh-public-keys",
        "restore",
        "ignore-unpack-errors",
        "live-restore",
        "delete",
        "digest",
        "revert",
        "skiplock",
        "background_delay",
        "bwlimit",
        "import-working-storage",
        "idlist",
        "ha-managed",
    }
)
_SIZE = re.compile(r"size=(\d+(?:\.\d+)?)([KMGT]?)")
_UNITS = {"": 1, "K": 1024, "M": MiB, "G": GiB, "T": 1024 * GiB}
_DISK_KEYS = re.compile(r"^(scsi|virtio|sata|ide|efidisk|tpmstate)\d+$|^rootfs$")
_ID_LIST = re.compile(r"[\0;,\s]+")
_INDEX = re.compile(r"\d+$")  # net0 is the description's net[n]
_DISK_PREFIXES = ("scsi", "virtio", "sata", "ide", "efidisk", "tpmstate", "rootfs")  # a cheap test first


def _paths(node: str, kind: str, vmid: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    item = ("nodes", node, kind, str(vmid))
    return item, (*item, "config")


def config_of(store: StateStore, node: str, kind: str, vmid: Any) -> dict[str, Any]:
    value = store.get(_paths(node, kind, vmid)[1])
    return value if isinstance(value, dict) else {}


def sync_guest(store: StateStore, node: str, kind: str, vmid: Any, **runtime: Any) -> dict[str, Any]:
    """Rebuild the list item from config and runtime status; returns the new item."""
    item_path, _ = _paths(node, kind, vmid)
    item = store.get(item_path)
    item = dict(item) if isinstance(item, dict) else {}
    item.update(runtime)
    item = _derive_item(item, config_of(store, node, kind, vmid), kind, vmid)
    store.set(item_path, item)
    return item


def _derive_item(item: dict[str, Any], cfg: dict[str, Any], kind: str, vmid: Any) -> dict[str, Any]:
    """`item` (a copy the caller owns) with the fields derived from the configuration."""
    vmid_int = int(vmid)
    name = (
        cfg.get("name" if kind == "qemu" else "hostname")
        or item.get("name")
        or (f"VM {vmid_int}" if kind == "qemu" else f"CT{vmid_int}")
    )
    cores = int(cfg.get("cores", 1) or 1) * (int(cfg.get("sockets", 1) or 1) if kind == "qemu" else 1)
    status = item.get("status", "stopped")
    running = status == "running"
    maxmem = _memory_mib(cfg.get("memory")) * MiB
    item.update(
        {
            "vmid": vmid_int,
            "name": name,
            "status": status,
            "cpus": cores,
            "maxmem": maxmem,
            "maxdisk": _disk_size(cfg),
            "uptime": int(item.get("uptime", 3600) if running else 0),
            "mem": int(item.get("mem") or maxmem // 3) if running else 0,
            "cpu": float(item.get("cpu", 0.03)) if running else 0,
            "disk": int(item.get("disk", 0)),
            "netin": int(item.get("netin", 0)),
            "netout": int(item.get("netout", 0)),
            "diskread": int(item.get("diskread", 0)),
            "diskwrite": int(item.get("diskwrite", 0)),
        }
    )
    if kind == "lxc":
        item["type"] = "lxc"
        item["maxswap"] = int(cfg.get("swap", 512) or 0) * MiB
    if running:
        item.setdefault("pid", 10000 + vmid_int % 50000)
    else:
        item.pop("pid", None)
    for field in ("tags", "lock", "template"):
        if cfg.get(field) not in (None, ""):
            item[field] = cfg[field]
        else:
            item.pop(field, None)
    return item


def _memory_mib(value: Any) -> int:
    """`memory` is a property string since PVE 8 (`[current=]<MiB>`); plain numbers still work."""
    if type(value) is int and value >= 0:
        return value
    text = str(value if value not in (None, "") else 512)
    for part in text.split(","):
        key, _, val = part.partition("=")
        candidate = val if _ else key
        if (not _ or key == "current") and candidate.strip().isdigit():
            return int(candidate)
    return 512


def _disk_size(cfg: dict[str, Any]) -> int:
    for key, value in cfg.items():
        if (
            key.startswith(_DISK_PREFIXES)
            and _DISK_KEYS.match(key)
            and isinstance(value, str)
            and "media=cdrom" not in value
        ):
            m = _SIZE.search(value)
            if m:
                return int(float(m.group(1)) * _UNITS[m.group(2)])
    return 0


@prepares("pve")
def seed_guests(world: World, scenario: Scenario) -> None:
    """Seeded guests get a configuration when none was seeded, and list fields from it."""
    with gc_paused():  # a new item for each of up to 100,000 guests
        _seed_guests(world.store)


def _seed_guests(store: StateStore) -> None:
    for node in store.keys("/nodes"):
        for kind in KINDS:
            collection = ("nodes", node, kind)
            for key, item in zip(store.keys(collection), store.items(collection), strict=True):
                item_path, cfg_path = _paths(node, kind, key)
                cfg = store.get(cfg_path)
                if cfg is MISSING:
                    name_key = "name" if kind == "qemu" else "hostname"
                    cfg = {
                        name_key: item.get("name") or (f"vm{key}" if kind == "qemu" else f"ct{key}"),
                        "cores": 1,
                        "memory": 512,
                    }
                    if kind == "lxc":
                        cfg.update(ostype="debian", swap=512, rootfs=f"local-lvm:vm-{key}-disk-0,size=8G")
                    else:
                        cfg.update(ostype="l26", scsi0=f"local-lvm:vm-{key}-disk-0,size=32G")
                    store.set(cfg_path, cfg)
                item = dict(item) if isinstance(item, dict) else {}
                store.set(item_path, _derive_item(item, cfg if isinstance(cfg, dict) else {}, kind, key))


# --- shared checks ------------------------------------------------------------------------------


def _guest(call: Call) -> tuple[str, str, str]:
    kind = "qemu" if "/qemu/" in call.node.path or call.node.path.endswith("/qemu") else "lxc"
    return call.params["node"], kind, call.params.get("vmid") or str(call.args.get("vmid"))


def _check_lock(cfg: dict[str, Any], vmid: Any, call: Call) -> None:
    lock = cfg.get("lock")
    if lock and not call.args.get("skiplock"):
        raise wire.ApiError(500, wire.guest_locked("qemu" if "qemu" in call.node.path else "lxc", vmid, lock))


def _status(store: StateStore, node: str, kind: str, vmid: Any) -> str:
    item = store.get(_paths(node, kind, vmid)[0])
    return item.get("status", "stopped") if isinstance(item, dict) else "stopped"


def _task(
    call: Call,
    effect: Callable[[], Any] | None = None,
    error: str | None = None,
    log: list[str] | None = None,
    vmid: Any = None,
    on_failure: Callable[[], Any] | None = None,
) -> TaskRequest:
    node, kind, own = _guest(call)
    return TaskRequest(
        node=node,
        type=wire.TASK_TYPES.get((call.method, call.node.path), "qmtask"),
        id=str(vmid if vmid is not None else own),
        user=call.actor,
        effect=effect,
        error=error,
        log=log or [],
        on_failure=on_failure,
    )


def _reserve(store: StateStore, node: str, kind: str, vmid: int, lock: str) -> Callable[[], None]:
    """Hold `vmid` cluster-wide from the request on, as PVE's config lock does: the guest exists at
    once with only `lock: LOCK` in its configuration (lists show it so), and the returned function
    drops it again when the task fails. The check and the write run with no await between them,
    so of any number of concurrent creates of one id exactly one gets it."""
    item_path, cfg_path = _paths(node, kind, vmid)
    store.set(item_path, {"vmid": vmid, "status": "stopped"})
    store.set(cfg_path, {"lock": lock})
    sync_guest(store, node, kind, vmid)

    def release() -> None:
        store.delete(item_path)

    return release


def _config_fields(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in _NOT_CONFIG}


def _restored_config(call: Call, kind: str, vmid: int, archive: str) -> dict[str, Any]:
    """A backup's configuration on a new guest: its disks allocated anew (on `storage` if given)."""
    saved = storage.backup_config(call.store, call.params["node"], archive)
    disk_key = volumes.QEMU_DISK if kind == "qemu" else volumes.LXC_DISK
    into = call.args.get("storage")
    wanted: dict[str, Any] = {}
    for key, value in saved.items():
        if volumes.UNUSED.match(key) or key in ("parent", "lock"):
            continue
        if isinstance(value, str) and disk_key.match(key):
            volume, rest = volumes.split_drive(value)
            source, colon, _ = volume.partition(":")
            if colon and volumes.option(rest, "media") != "cdrom":
                size = volumes.parse_size(volumes.option(rest, "size") or "") or volumes.GiB
                kept = [p for p in rest if not p.startswith("size=")]
                value = ",".join([f"{into or source}:{size / volumes.GiB:g}", *kept])
        if isinstance(value, str) and volumes.NET.match(key) and call.args.get("unique"):
            value = volumes.without_mac(value)
        wanted[key] = value
    return derive_fields(call, kind, vmid, wanted, {})


def derive_fields(call: Call, kind: str, vmid: int, fields: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """`fields` as PVE stores them over `cfg`: new disks named and sized, NICs with a MAC."""
    node = str(call.args.get("target") or call.params.get("node") or "")
    out = volumes.allocate_disks(
        call.store, fields, cfg, kind, vmid, call.args.get("storage"), lambda sid: _on_storage(call, node, sid)
    )
    for key, value in fields.items():
        if volumes.NET.match(key) and isinstance(value, str):
            out[key] = volumes.derive_net(value, kind, _mac_for(call, vmid, key, cfg.get(key)))
    return out


def _on_storage(call: Call, node: str, sid: str) -> list[str]:
    """The volume ids kept on storage `sid` as `node` sees it (a leftover disk among them)."""
    return [entry["volid"] for entry in storage.stored_content(call.store, node, sid)]


def _mac_for(call: Call, vmid: int, key: str, old: Any) -> Callable[[], str]:
    """A NIC keeps the MAC it had when its options change without one (qemu-server does so)."""

    def mac() -> str:
        if isinstance(old, str):
            found = _MAC.search(old)
            if found:
                return found.group(0)
        return volumes.new_mac(call.store, call.scenario.seed, vmid, key)

    return mac


_MAC = re.compile(r"(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}")
_CLOUDINIT = re.compile(r"-\d+-cloudinit")


def _identity(call: Call, vmid: int, cfg: dict[str, Any], salt: str = "") -> dict[str, Any]:
    """What a real qemu create adds: a VM generation ID, an SMBIOS UUID, creation metadata."""
    out: dict[str, Any] = {}
    seed = f"{call.scenario.seed}\0{vmid}\0{salt}"
    if "vmgenid" not in cfg or cfg["vmgenid"] in ("1", 1):
        out["vmgenid"] = str(
            uuid.UUID(bytes=hashlib.blake2b(f"{seed}\0vmgenid".encode(), digest_size=16).digest(), version=4)
        )
    smbios = str(cfg.get("smbios1") or "")
    if "uuid=" not in smbios:
        made = uuid.UUID(bytes=hashlib.blake2b(f"{seed}\0smbios1".encode(), digest_size=16).digest(), version=4)
        out["smbios1"] = ",".join(p for p in (f"uuid={made}", smbios) if p)
    out.setdefault("meta", f"creation-qemu={QEMU_VERSION},ctime={int(time.time() + call.world.clock_offset)}")
    return out


# --- create and destroy ---------------------------------------------------------------------------


@handles("POST", "/nodes/{node}/qemu")
@handles("POST", "/nodes/{node}/lxc")
def create_guest(call: Call) -> TaskRequest:
    node, kind, _ = _guest(call)
    vmid = int(call.args["vmid"])
    config_privileges.check_create(call, kind, vmid, _config_fields(call.args))
    archive = call.args.get("archive") or (call.args.get("ostemplate") if call.args.get("restore") else None)
    if kind == "lxc":  # pve-container checks the id before the storages, qemu-server after
        _refuse_taken(call.store, kind, vmid, archive)
    if archive:
        cfg = _restored_config(call, kind, vmid, str(archive))
    else:
        cfg = _config_fields(call.args)
        if kind == "lxc":
            cfg.setdefault("hostname", f"CT{vmid}")
            cfg.setdefault("rootfs", f"{call.args.get('storage') or 'local'}:4")  # pve-container's default
            cfg.setdefault("ostype", "debian")
        else:
            cfg.update(_identity(call, vmid, cfg))
        cfg = derive_fields(call, kind, vmid, cfg, {})
    cfg.setdefault("memory", 512)
    cfg.setdefault("cores", 1)
    if call.args.get("pool"):
        pools.check_pool(call.store, str(call.args["pool"]))
        cfg["pool"] = call.args["pool"]
    allocated = [k for k, v in cfg.items() if volumes.QEMU_DISK.match(k) and v != call.args.get(k)]
    start = bool(call.args.get("start"))
    store = call.store
    item_path, cfg_path = _paths(node, kind, vmid)

    template = None if archive or kind == "qemu" else str(call.args.get("ostemplate") or "")
    # create_and_lock_config, after PVE's other checks and before the worker forks
    _refuse_taken(store, kind, vmid, archive)
    release = _reserve(store, node, kind, vmid, "create")

    def unlock() -> None:  # qemu-server only unlocks after a failed restore ("VM state is NOT cleaned up")
        store.set(cfg_path, {})
        sync_guest(store, node, kind, vmid)

    def effect() -> None:
        if template and storage.find_volume(store, node, template) is None:
            raise wire.ApiError(500, f"can't find file '{template}'")  # the worker looks for it
        store.set(
            item_path,
            {
                "vmid": vmid,
                "status": "running" if start else "stopped",
                **({"pool": cfg["pool"]} if "pool" in cfg else {}),
            },
        )
        store.set(cfg_path, {k: v for k, v in cfg.items() if k != "pool"})
        sync_guest(store, node, kind, vmid)
        if "pool" in cfg:
            pools.add_guest(store, str(cfg["pool"]), vmid)

    log = (
        [
            f"{key}: successfully created disk '{value.split(',', 1)[0]}'"
            for key, value in cfg.items()
            if key in allocated
        ]
        if kind == "qemu"
        else [
            f"extracting archive '{call.args.get('ostemplate', '')}'",
            "Total bytes read: 524288000 (500MiB, 250MiB/s)",
        ]
    )
    return _task(call, effect, log=log, vmid=vmid, on_failure=unlock if archive and kind == "qemu" else release)


def _refuse_taken(store: StateStore, kind: str, vmid: int, archive: Any) -> None:
    taken = find_guest(store, vmid)
    if taken is not None:
        reason = wire.vmid_in_use(vmid, taken[0], taken[1])
        raise wire.ApiError(500, wire.guest_create_failed(kind, vmid, bool(archive), reason))


@handles("DELETE", "/nodes/{node}/qemu/{vmid}")
@handles("DELETE", "/nodes/{node}/lxc/{vmid}")
def destroy_guest(call: Call) -> TaskRequest:
    node, kind, vmid = _guest(call)
    store = call.store
    cfg = config_of(store, node, kind, vmid)
    _check_lock(cfg, vmid, call)
    # pct destroy's `force` stops a running container first (qm destroy has no such flag).
    if _status(store, node, kind, vmid) == "running" and not (kind == "lxc" and call.args.get("force")):
        return _task(call, error=wire.guest_running_destroy(kind, vmid))
    item_path, _ = _paths(node, kind, vmid)
    owned = [v.volid for v in volumes.guest_volumes(cfg, kind, int(vmid), store)]
    purge = bool(call.args.get("purge"))

    def effect() -> None:
        store.delete(item_path)
        storage.forget_guest(store, int(vmid), purge)
        if purge:
            pools.drop_guest(store, int(vmid))

    return _task(call, effect, log=[f"Removing image: 100% complete...done. ({volid})" for volid in owned])


def _owned_disk(kind: str, key: str, value: Any) -> bool:
    """A disk whose volume stays behind as `unusedN` when it is replaced or removed (not a CD, not unused)."""
    disk_key = volumes.QEMU_DISK if kind == "qemu" else volumes.LXC_DISK
    if not (isinstance(value, str) and disk_key.match(key) and key != "rootfs"):
        return False
    volume, rest = volumes.split_drive(value)
    return ":" in volume and volumes.option(rest, "media") != "cdrom" and "cloudinit" not in volume


def _with_unused(cfg: dict[str, Any], values: list[str]) -> dict[str, Any]:
    """`cfg` with the volumes of `values` kept as the first free `unusedN` keys."""
    n = 0
    for value in values:
        while f"unused{n}" in cfg:
            n += 1
        cfg[f"unused{n}"] = volumes.split_drive(value)[0]
    return cfg


# --- configuration ----------------------------------------------------------------------------


@handles("GET", "/nodes/{node}/qemu/{vmid}/config", stable=True)
@handles("GET", "/nodes/{node}/lxc/{vmid}/config", stable=True)
def get_config(call: Call) -> dict[str, Any]:
    node, kind, vmid = _guest(call)
    cfg = config_of(call.store, node, kind, vmid)
    snapname = call.args.get("snapshot")
    if snapname:
        snap = call.store.get((*_paths(node, kind, vmid)[0], "snapshot", str(snapname), "config"))
        if snap is MISSING:
            raise wire.ApiError(500, wire.snapshot_missing(snapname))
        cfg = snap
    return {**cfg, "digest": digest_of(cfg, call.scenario.service)}


@handles("PUT", "/nodes/{node}/qemu/{vmid}/config")
@handles("PUT", "/nodes/{node}/lxc/{vmid}/config")
@handles("POST", "/nodes/{node}/qemu/{vmid}/config")
def update_config(call: Call) -> Any:
    node, kind, vmid = _guest(call)
    store = call.store
    cfg = config_of(store, node, kind, vmid)
    removed = _id_list(call.args.get("delete"))
    reverted = _id_list(call.args.get("revert"))
    if kind == "lxc":  # pve-container: lock and digest, the privileges to remove (a revert removes), then the names
        _check_lock_and_digest(call, cfg, vmid)
        config_privileges.check_update(call, kind, vmid, {}, [*removed, *reverted], cfg, [])
        _check_reverted(call, kind, reverted, removed)
        config_privileges.check_update(call, kind, vmid, _config_fields(call.args), [], cfg, [])
    else:  # qemu-server: the names, the privileges, then lock and digest
        _check_reverted(call, kind, reverted, removed)
        config_privileges.check_update(call, kind, vmid, _config_fields(call.args), removed, cfg, reverted)
        _check_lock_and_digest(call, cfg, vmid)
    fields = derive_fields(call, kind, int(vmid), _config_fields(call.args), cfg)
    unknown = [k for k in removed if k not in cfg and k not in fields]
    if unknown and kind == "lxc":
        pass  # lxc ignores deleting unset keys, as PVE does
    _, cfg_path = _paths(node, kind, vmid)

    def effect() -> None:
        current = dict(config_of(store, node, kind, vmid))
        detached = [current[k] for k in (*fields, *removed) if k in current and _owned_disk(kind, k, current[k])]
        current.update(fields)
        for key in removed:
            current.pop(key, None)
        if not call.args.get("force"):  # `force` removes the volumes instead of keeping them as unusedN
            current = _with_unused(current, [v for v in detached if v not in current.values()])
        store.set(cfg_path, current)
        sync_guest(store, node, kind, vmid)

    if call.method == "POST" or call.as_task:
        return _task(call, effect)
    effect()
    return None


def _id_list(value: Any) -> list[str]:
    """A `pve-configid-list` (`delete`, `revert`) as PVE's split_list splits it."""
    return [k for k in _ID_LIST.split(str(value or "")) if k]


def _check_lock_and_digest(call: Call, cfg: dict[str, Any], vmid: Any) -> None:
    _check_lock(cfg, vmid, call)
    digest = call.args.get("digest")
    if digest and digest != digest_of(cfg, call.scenario.service):
        raise wire.DIGEST_MISMATCH


def _check_reverted(call: Call, kind: str, reverted: list[str], removed: list[str]) -> None:
    """`revert` names options of the guest type, none also set or deleted (qemu-server's and
    pve-container's checks, in their order). Pending changes are not kept apart: every change
    applies at once, as on a stopped guest, so a revert leaves the configuration as it is."""
    props = call.op.parameters.get("properties", {})
    for opt in reverted:
        if opt in _NOT_CONFIG or (opt not in props and _INDEX.sub("[n]", opt) not in props):
            raise wire.unknown_config_option("revert", opt)
        if opt in call.args:
            raise wire.revert_clash(kind, opt, deleted=False)
    for opt in removed:
        if opt in reverted:
            raise wire.revert_clash(kind, opt, deleted=True)


@handles("PUT", "/nodes/{node}/qemu/{vmid}/unlink")
def unlink(call: Call) -> Any:
    """Detach disks (`idlist`): kept as unusedN, or removed with `force`."""
    call.args = {**call.args, "delete": call.args["idlist"]}
    return update_config(call)


@handles("GET", "/nodes/{node}/qemu/{vmid}/pending", stable=True)
@handles("GET", "/nodes/{node}/lxc/{vmid}/pending", stable=True)
def pending(call: Call) -> list[dict[str, Any]]:
    node, kind, vmid = _guest(call)
    cfg = config_of(call.store, node, kind, vmid)
    return [{"key": k, "value": v} for k, v in sorted(cfg.items())]


# --- runtime status -------------------------------------------------------------------------


@handles("GET", "/nodes/{node}/qemu/{vmid}/status/current", stable=True)
@handles("GET", "/nodes/{node}/lxc/{vmid}/status/current", stable=True)
def status_current(call: Call) -> dict[str, Any]:
    node, kind, vmid = _guest(call)
    item = call.store.get(_paths(node, kind, vmid)[0])
    cfg = config_of(call.store, node, kind, vmid)
    out = {
        k: item[k]
        for k in (
            "vmid",
            "name",
            "status",
            "uptime",
            "cpus",
            "cpu",
            "maxmem",
            "mem",
            "maxdisk",
            "disk",
            "netin",
            "netout",
            "diskread",
            "diskwrite",
            "pid",
            "tags",
            "lock",
            "template",
        )
        if k in item
    }
    out["ha"] = {"managed": 0}
    if kind == "qemu":
        out["qmpstatus"] = item.get("qmpstatus", item.get("status", "stopped"))
        out["agent"] = 1 if str(cfg.get("agent", "0")).split(",")[0] in ("1", "enabled=1") else 0
        if item.get("status") == "running":
            out["running-machine"] = "pc-q35-9.2+pve1"
            out["running-qemu"] = QEMU_VERSION
    else:
        out["type"] = "lxc"
        out["maxswap"] = item.get("maxswap", 0)
        out["swap"] = 0
    return out


def _power(action: str) -> Callable[[Call], TaskRequest]:
    """A status/* call, as the one guest power table (power.py) says."""

    def handler(call: Call) -> TaskRequest:
        node, kind, vmid = _guest(call)
        store = call.store
        _check_lock(config_of(store, node, kind, vmid), vmid, call)
        item = store.get(_paths(node, kind, vmid)[0])
        current = item.get("qmpstatus") if item.get("qmpstatus") == "paused" else item.get("status", "stopped")
        refused = power.refusal(kind, action, vmid, current)
        if refused:
            return _task(call, error=refused)
        act = power.POWER[(kind, action)]

        def effect() -> None:
            runtime: dict[str, Any] = {"status": act.target}
            if act.qmpstatus is not None:
                runtime["qmpstatus"] = act.qmpstatus
            elif act.target == "running":
                runtime["qmpstatus"] = "running"
                runtime["uptime"] = 1 if current != "running" else item.get("uptime", 1)
            if act.target == "stopped":
                runtime["qmpstatus"] = "stopped"
            sync_guest(store, node, kind, vmid, **runtime)

        return _task(call, effect)

    return handler


for _kind, _action in power.POWER:
    handles("POST", f"/nodes/{{node}}/{_kind}/{{vmid}}/status/{_action}")(_power(_action))


# --- clone, migrate, template ------------------------------------------------------------------


@handles("POST", "/nodes/{node}/qemu/{vmid}/clone")
@handles("POST", "/nodes/{node}/lxc/{vmid}/clone")
def clone(call: Call) -> TaskRequest:
    node, kind, vmid = _guest(call)
    store = call.store
    newid = int(call.args["newid"])
    target = str(call.args.get("target") or node)
    if not store.has(("nodes", target)):
        raise wire.missing_object("/nodes", target, call.params)
    source = dict(config_of(store, node, kind, vmid))
    name_key = "name" if kind == "qemu" else "hostname"
    new_name = (
        call.args.get(name_key)
        or call.args.get("name")
        or call.args.get("hostname")
        or f"Copy-of-VM-{source.get(name_key, vmid)}"
    )
    linked = bool(source.get("template")) and not call.args.get("full")
    if call.args.get("storage"):
        into = str(call.args["storage"])
        config_privileges.check_space(call, into)
        if kind == "qemu":
            volumes.holds_guests(volumes.storage_config(store, into), into, kind)
    new_cfg, copied = _cloned_config(call, kind, newid, source, linked)
    new_cfg[name_key] = new_name
    for key in ("description",):
        if call.args.get(key):
            new_cfg[key] = call.args[key]
    item_path, cfg_path = _paths(target, kind, newid)

    pool = call.args.get("pool")
    if pool:
        pools.check_pool(store, str(pool))
    # qemu-server's last check before the worker; the worker then writes `lock: clone` on this node
    if find_guest(store, newid) is not None:
        raise wire.ApiError(500, wire.clone_target_exists(kind, newid))
    release = _reserve(store, node, kind, newid, "clone")

    def effect() -> None:
        release()  # the configuration moves to the target node when the clone is done
        store.set(item_path, {"vmid": newid, "status": "stopped"})
        store.set(cfg_path, new_cfg)
        sync_guest(store, target, kind, newid)
        if pool:
            pools.add_guest(store, str(pool), newid)

    what = "linked" if linked else "full"
    return _task(
        call,
        effect,
        log=[f"create {what} clone of drive {key} ({volid})" for key, volid in copied],
        on_failure=release,
    )


def _cloned_config(
    call: Call, kind: str, newid: int, source: dict[str, Any], linked: bool
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The clone's configuration: new volumes (full) or `base-.../vm-NEWID-disk-N` (linked), new MACs.

    Returns it with the (key, source volume) of every copied disk for the task log.
    """
    disk_key = volumes.QEMU_DISK if kind == "qemu" else volumes.LXC_DISK
    target_storage = call.args.get("storage")
    new_cfg: dict[str, Any] = {}
    copied: list[tuple[str, str]] = []
    for key, value in source.items():
        if key in ("lock", "template", "parent") or volumes.UNUSED.match(key):
            continue
        if isinstance(value, str) and volumes.NET.match(key):
            value = volumes.derive_net(volumes.without_mac(value), kind, _mac_for(call, newid, key, None))
        elif isinstance(value, str) and disk_key.match(key):
            volume, rest = volumes.split_drive(value)
            storage, colon, name = volume.partition(":")
            if colon and volumes.option(rest, "media") != "cdrom" and "cloudinit" not in name:
                into = storage if linked else (target_storage or storage)
                scfg = volumes.storage_config(call.store, into)
                on = str(call.args.get("target") or call.params["node"])
                held = [*new_cfg.values(), *_on_storage(call, on, into)]
                number = volumes.free_disk_number(held, into, newid)
                fmt = call.args.get("format") or (name.rsplit(".", 1)[-1] if "." in name else None)
                new_name = volumes.volume_name(scfg, newid, number, kind, fmt)
                if linked:
                    new_name = f"{name}/{new_name}"
                copied.append((key, volume))
                value = ",".join([f"{into}:{new_name}", *rest])
            elif "cloudinit" in name:
                value = ",".join([f"{storage}:{_CLOUDINIT.sub(f'-{newid}-cloudinit', name)}", *rest])
        new_cfg[key] = value
    if kind == "qemu":
        smbios = re.sub(r"uuid=[^,]*,?", "", str(source.get("smbios1", ""))).strip(",")
        new_cfg.update(_identity(call, newid, {"smbios1": smbios}))
    return new_cfg, copied


@handles("POST", "/nodes/{node}/qemu/{vmid}/migrate")
@handles("POST", "/nodes/{node}/lxc/{vmid}/migrate")
def migrate(call: Call) -> TaskRequest:
    node, kind, vmid = _guest(call)
    store = call.store
    target = str(call.args["target"])
    if target == node:
        raise wire.ApiError(400, wire.TARGET_IS_LOCAL_NODE)
    if not store.has(("nodes", target)):
        raise wire.missing_object("/nodes", target, call.params)
    _check_lock(config_of(store, node, kind, vmid), vmid, call)
    running = _status(store, node, kind, vmid) == "running"
    if running and kind == "qemu" and not call.args.get("online"):
        raise wire.ApiError(500, wire.QEMU_ONLINE_MIGRATION_NEEDED)
    if running and kind == "lxc" and not call.args.get("restart"):
        raise wire.ApiError(500, wire.LXC_LIVE_MIGRATION_UNSUPPORTED)

    def effect() -> None:
        store.move(("nodes", node, kind, vmid), ("nodes", target, kind, vmid))
        sync_guest(store, target, kind, vmid)

    started = time.strftime("%Y-%m-%d %H:%M:%S")
    return _task(
        call,
        effect,
        log=[
            f"{started} starting migration of {wire.guest_label(kind)} {vmid} to node '{target}'",
            f"{started} migration finished successfully (duration 00:00:02)",
        ],
    )


@handles("POST", "/nodes/{node}/qemu/{vmid}/template")
@handles("POST", "/nodes/{node}/lxc/{vmid}/template")
def make_template(call: Call) -> Any:
    node, kind, vmid = _guest(call)
    store = call.store
    if _status(store, node, kind, vmid) == "running":
        raise wire.ApiError(500, wire.guest_running_template(kind))
    _, cfg_path = _paths(node, kind, vmid)

    def effect() -> None:
        renamed = volumes.template_volumes(config_of(store, node, kind, vmid), kind)
        store.set(cfg_path, {**renamed, "template": 1})
        sync_guest(store, node, kind, vmid)

    if kind == "qemu":
        return _task(call, effect)
    effect()
    return None


# --- disks: resize and move ------------------------------------------------------------------


def _disk(call: Call, key: str) -> tuple[str, str, str, dict[str, Any], str, list[str]]:
    """(node, kind, vmid, config, volume, options) of the guest's disk `key`; Proxmox's error if absent."""
    node, kind, vmid = _guest(call)
    cfg = config_of(call.store, node, kind, vmid)
    _check_lock(cfg, vmid, call)
    value = cfg.get(key)
    if not isinstance(value, str):
        raise wire.ApiError(500, f"disk '{key}' does not exist")
    volume, rest = volumes.split_drive(value)
    return node, kind, vmid, cfg, volume, rest


@handles("PUT", "/nodes/{node}/qemu/{vmid}/resize")
@handles("PUT", "/nodes/{node}/lxc/{vmid}/resize")
def resize(call: Call) -> TaskRequest:
    key = str(call.args["disk"])
    node, kind, vmid, cfg, volume, rest = _disk(call, key)
    if volumes.option(rest, "media") == "cdrom":
        raise wire.ApiError(500, "you can't resize a cdrom")
    text = str(call.args["size"])
    grow = text.startswith("+")
    amount = volumes.parse_size(text.lstrip("+"))
    if amount is None:
        raise wire.ApiError(400, "Parameter verification failed.", errors={"size": f"invalid format - {text}"})
    old = volumes.parse_size(volumes.option(rest, "size") or "0") or 0
    new = old + amount if grow else amount
    if new < old:
        raise wire.ApiError(500, "shrinking disks is not supported")
    _, cfg_path = _paths(node, kind, vmid)
    value = ",".join([volume, *[p for p in rest if not p.startswith("size=")], f"size={volumes.format_size(new)}"])
    if kind == "qemu":
        value = ",".join([volume, *sorted(value.split(",")[1:])])

    def effect() -> None:
        store = call.store
        store.set(cfg_path, {**config_of(store, node, kind, vmid), key: value})
        sync_guest(store, node, kind, vmid)

    return _task(call, effect, log=[f"Image resized to {new} bytes ({volume})"])


@handles("POST", "/nodes/{node}/qemu/{vmid}/move_disk")
@handles("POST", "/nodes/{node}/lxc/{vmid}/move_volume")
def move_disk(call: Call) -> TaskRequest:
    key = str(call.args.get("disk") or call.args.get("volume"))
    node, kind, vmid, cfg, volume, rest = _disk(call, key)
    into = call.args.get("storage")
    if not into:
        raise wire.ApiError(
            400, "Parameter verification failed.", errors={"storage": "property is missing and it is not optional"}
        )
    config_privileges.check_space(call, str(into))
    if volume.split(":", 1)[0] == into and not call.args.get("format"):
        raise wire.ApiError(500, "you can't move to the same storage with same format")
    scfg = volumes.storage_config(call.store, str(into))
    if kind == "qemu":
        volumes.holds_guests(scfg, str(into), kind)
    number = volumes.free_disk_number([*cfg.values(), *_on_storage(call, node, str(into))], str(into), int(vmid))
    new_volume = f"{into}:{volumes.volume_name(scfg, int(vmid), number, kind, call.args.get('format'))}"
    _, cfg_path = _paths(node, kind, vmid)

    def effect() -> None:
        store = call.store
        current = {**config_of(store, node, kind, vmid), key: ",".join([new_volume, *rest])}
        store.set(cfg_path, current if call.args.get("delete") else _with_unused(current, [volume]))
        sync_guest(store, node, kind, vmid)

    return _task(call, effect, log=[f"moving disk '{key}' from '{volume}' to '{new_volume}'"])


# --- snapshots -------------------------------------------------------------------------------


def _snap_base(node: str, kind: str, vmid: Any) -> tuple[str, ...]:
    return (*_paths(node, kind, vmid)[0], "snapshot")


@handles("GET", "/nodes/{node}/qemu/{vmid}/snapshot", stable=True)
@handles("GET", "/nodes/{node}/lxc/{vmid}/snapshot", stable=True)
def list_snapshots(call: Call) -> list[dict[str, Any]]:
    node, kind, vmid = _guest(call)
    snaps = [
        {k: v for k, v in s.items() if k != "config"} if isinstance(s, dict) else s
        for s in call.store.items(_snap_base(node, kind, vmid))
    ]
    cfg = config_of(call.store, node, kind, vmid)
    current: dict[str, Any] = {
        "name": "current",
        "description": "You are here!",
        "digest": digest_of(cfg, call.scenario.service),
    }
    if cfg.get("parent"):
        current["parent"] = cfg["parent"]
    if kind == "qemu":
        current["running"] = int(_status(call.store, node, kind, vmid) == "running")
    return [*snaps, current]


@handles("POST", "/nodes/{node}/qemu/{vmid}/snapshot")
@handles("POST", "/nodes/{node}/lxc/{vmid}/snapshot")
def create_snapshot(call: Call) -> TaskRequest:
    node, kind, vmid = _guest(call)
    store = call.store
    name = str(call.args["snapname"])
    base = _snap_base(node, kind, vmid)
    if store.has((*base, name)):
        raise wire.ApiError(500, wire.snapshot_name_used(name))
    cfg = config_of(store, node, kind, vmid)
    _check_lock(cfg, vmid, call)
    _, cfg_path = _paths(node, kind, vmid)

    def effect() -> None:
        current = config_of(store, node, kind, vmid)
        snap = {"name": name, "description": call.args.get("description", ""), "snaptime": int(time.time())}
        if current.get("parent"):
            snap["parent"] = current["parent"]
        if kind == "qemu":
            snap["vmstate"] = int(call.args.get("vmstate", 0) or 0)
        store.set((*base, name), snap)
        store.set((*base, name, "config"), {k: v for k, v in current.items() if k != "parent"})
        store.set(cfg_path, {**current, "parent": name})

    return _task(call, effect, log=[f"snapshotting 'drive-scsi0' (vm-{vmid}-disk-0)"])


def _snapshot(call: Call) -> tuple[str, str, str, str, tuple[str, ...]]:
    node, kind, vmid = _guest(call)
    name = call.params["snapname"]
    base = _snap_base(node, kind, vmid)
    if not call.store.has((*base, name)):
        raise wire.ApiError(500, wire.snapshot_missing(name))
    return node, kind, vmid, name, base


def _rolled_back(current: dict[str, Any], saved: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    """The configuration a rollback leaves, as PVE::AbstractConfig::snapshot_rollback makes it.

    The snapshot's settings, with the current description and unused volumes kept
    (__snapshot_apply_config), and every current disk the snapshot does not hold kept as a new
    `unusedN` (__snapshot_rollback_get_unused): a disk added after the snapshot is not lost.
    """
    disk_key = volumes.QEMU_DISK if kind == "qemu" else volumes.LXC_DISK

    def disks(cfg: dict[str, Any]) -> dict[str, str]:
        out = {}
        for key, value in cfg.items():
            if isinstance(value, str) and disk_key.match(key):
                volume, rest = volumes.split_drive(value)
                if ":" in volume and volumes.option(rest, "media") != "cdrom":
                    out[volume] = value
        return out

    held = disks(saved)
    kept = {k: v for k, v in current.items() if volumes.UNUSED.match(k) or k == "description"}
    _with_unused(kept, [value for volume, value in disks(current).items() if volume not in held])
    settings = {k: v for k, v in saved.items() if not volumes.UNUSED.match(k) and k != "description"}
    return {**kept, **settings, "parent": name}


@handles("POST", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback")
@handles("POST", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback")
def rollback(call: Call) -> TaskRequest:
    node, kind, vmid, name, base = _snapshot(call)
    store = call.store
    _check_lock(config_of(store, node, kind, vmid), vmid, call)
    _, cfg_path = _paths(node, kind, vmid)

    def effect() -> None:
        saved = store.get((*base, name, "config"))
        current = config_of(store, node, kind, vmid)
        store.set(cfg_path, _rolled_back(current, saved if isinstance(saved, dict) else {}, kind, name))
        sync_guest(store, node, kind, vmid, status="stopped")

    return _task(call, effect)


@handles("DELETE", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}")
@handles("DELETE", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}")
def delete_snapshot(call: Call) -> TaskRequest:
    node, kind, vmid, name, base = _snapshot(call)
    store = call.store
    _, cfg_path = _paths(node, kind, vmid)

    def effect() -> None:
        parent = store.get((*base, name)).get("parent")
        store.delete((*base, name))
        cfg = config_of(store, node, kind, vmid)
        if cfg.get("parent") == name:
            cfg = {k: v for k, v in cfg.items() if k != "parent"}
            if parent:
                cfg["parent"] = parent
            store.set(cfg_path, cfg)

    return _task(call, effect)


@handles("GET", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config", stable=True)
@handles("GET", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config", stable=True)
def snapshot_config(call: Call) -> dict[str, Any]:
    _, _, _, name, base = _snapshot(call)
    value = call.store.get((*base, name, "config"))
    return value if isinstance(value, dict) else {}


@handles("PUT", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config")
@handles("PUT", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config")
def update_snapshot(call: Call) -> None:
    _, _, _, name, base = _snapshot(call)
    snap = dict(call.store.get((*base, name)))
    if "description" in call.args:
        snap["description"] = call.args["description"]
    call.store.set((*base, name), snap)
    return None
