"""PVE guests: qemu VMs and lxc containers, their lifecycle and its effects on state.

A guest is two things in state: its list item (`/nodes/N/qemu/100`, what lists and
`/cluster/resources` show) and its configuration (`.../100/config`). `sync_guest` derives
the item's fields from the configuration and the runtime status, so the views agree.
Operations run as worker tasks: refusals PVE makes inside the worker end the task with
`TASK ERROR: ...`; those it makes before forking answer an error at once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import wire
from ..gcpause import gc_paused
from ..generic import digest_of
from ..state import MISSING
from ..tasks import TaskRequest
from . import handles, prepares
from .cluster import find_guest

if TYPE_CHECKING:
    from ..scenario.model import Scenario
    from ..state import StateStore
    from ..world import Call, World

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
    }
)
_SIZE = re.compile(r"size=(\d+(?:\.\d+)?)([KMGT]?)")
_UNITS = {"": 1, "K": 1024, "M": MiB, "G": GiB, "T": 1024 * GiB}
_DISK_KEYS = re.compile(r"^(scsi|virtio|sata|ide|efidisk|tpmstate)\d+$|^rootfs$")
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
            for key, item in zip(store.keys(collection), store.items(collection)):
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
        what = "VM" if "qemu" in call.node.path else "CT"
        raise wire.ApiError(500, f"{what} {vmid} is locked ({lock})")


def _status(store: StateStore, node: str, kind: str, vmid: Any) -> str:
    item = store.get(_paths(node, kind, vmid)[0])
    return item.get("status", "stopped") if isinstance(item, dict) else "stopped"


def _label(kind: str) -> str:
    return "VM" if kind == "qemu" else "CT"


def _task(
    call: Call,
    effect: Callable[[], Any] | None = None,
    error: str | None = None,
    log: list[str] | None = None,
    vmid: Any = None,
) -> TaskRequest:
    node, kind, own = _guest(call)
    return TaskRequest(
        node=node,
        type=wire.TASK_TYPES.get((call.method, call.node.path), "qmtask"),
        id=str(vmid if vmid is not None else own),
        user=call.user or "root@pam",
        effect=effect,
        error=error,
        log=log or [],
    )


def _config_fields(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in _NOT_CONFIG}


# --- create and destroy ---------------------------------------------------------------------------


@handles("POST", "/nodes/{node}/qemu")
@handles("POST", "/nodes/{node}/lxc")
def create_guest(call: Call) -> TaskRequest:
    node, kind, _ = _guest(call)
    vmid = int(call.args["vmid"])
    taken = find_guest(call.store, vmid)
    if taken is not None:
        raise wire.ApiError(500, f"VM {vmid} already exists on node '{taken[0]}'")
    cfg = _config_fields(call.args)
    if kind == "lxc":
        cfg.setdefault("hostname", f"CT{vmid}")
        cfg.setdefault("rootfs", f"{call.args.get('storage', 'local-lvm')}:vm-{vmid}-disk-0,size=8G")
        cfg.setdefault("ostype", "debian")
    cfg.setdefault("memory", 512)
    cfg.setdefault("cores", 1)
    if call.args.get("pool"):
        cfg["pool"] = call.args["pool"]
    start = bool(call.args.get("start"))
    store = call.store
    item_path, cfg_path = _paths(node, kind, vmid)

    def effect() -> None:
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

    log = (
        [f'  Logical volume "vm-{vmid}-disk-0" created.']
        if kind == "qemu"
        else [
            f"extracting archive '{call.args.get('ostemplate', '')}'",
            "Total bytes read: 524288000 (500MiB, 250MiB/s)",
        ]
    )
    return _task(call, effect, log=log, vmid=vmid)


@handles("DELETE", "/nodes/{node}/qemu/{vmid}")
@handles("DELETE", "/nodes/{node}/lxc/{vmid}")
def destroy_guest(call: Call) -> TaskRequest:
    node, kind, vmid = _guest(call)
    store = call.store
    cfg = config_of(store, node, kind, vmid)
    _check_lock(cfg, vmid, call)
    if _status(store, node, kind, vmid) == "running":
        return _task(call, error=f"{_label(kind)} {vmid} is running - destroy failed")
    item_path, _ = _paths(node, kind, vmid)
    return _task(
        call, lambda: store.delete(item_path), log=[f'  Logical volume "vm-{vmid}-disk-0" successfully removed.']
    )


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
            raise wire.ApiError(500, f"snapshot '{snapname}' does not exist")
        cfg = snap
    return {**cfg, "digest": digest_of(cfg, call.scenario.service)}


@handles("PUT", "/nodes/{node}/qemu/{vmid}/config")
@handles("PUT", "/nodes/{node}/lxc/{vmid}/config")
@handles("POST", "/nodes/{node}/qemu/{vmid}/config")
def update_config(call: Call) -> Any:
    node, kind, vmid = _guest(call)
    store = call.store
    cfg = config_of(store, node, kind, vmid)
    _check_lock(cfg, vmid, call)
    digest = call.args.get("digest")
    if digest and digest != digest_of(cfg, call.scenario.service):
        raise wire.DIGEST_MISMATCH
    fields = _config_fields(call.args)
    removed = [k for k in re.split(r"[,;\s]+", str(call.args.get("delete") or "")) if k]
    unknown = [k for k in removed if k not in cfg and k not in fields]
    if unknown and kind == "lxc":
        pass  # lxc ignores deleting unset keys, as PVE does
    _, cfg_path = _paths(node, kind, vmid)

    def effect() -> None:
        current = dict(config_of(store, node, kind, vmid))
        current.update(fields)
        for key in removed:
            current.pop(key, None)
        store.set(cfg_path, current)
        sync_guest(store, node, kind, vmid)

    if call.method == "POST" or call.as_task:
        return _task(call, effect)
    effect()
    return None


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
            out["running-qemu"] = "9.2.0"
    else:
        out["type"] = "lxc"
        out["maxswap"] = item.get("maxswap", 0)
        out["swap"] = 0
    return out


def _power(target: str, needs: tuple[str, ...], refusal: str, **extra: Any) -> Callable[[Call], TaskRequest]:
    """A status/* call: refused in the worker unless the guest is in one of `needs`."""

    def handler(call: Call) -> TaskRequest:
        node, kind, vmid = _guest(call)
        store = call.store
        _check_lock(config_of(store, node, kind, vmid), vmid, call)
        item = store.get(_paths(node, kind, vmid)[0])
        current = item.get("qmpstatus") if item.get("qmpstatus") == "paused" else item.get("status", "stopped")
        if needs and current not in needs:
            return _task(call, error=refusal.format(label=_label(kind), vmid=vmid))

        def effect() -> None:
            runtime: dict[str, Any] = {"status": target, **extra}
            if target == "running" and "qmpstatus" not in extra:
                runtime["qmpstatus"] = "running"
                runtime["uptime"] = 1 if current != "running" else item.get("uptime", 1)
            if target == "stopped":
                runtime["qmpstatus"] = "stopped"
            sync_guest(store, node, kind, vmid, **runtime)

        return _task(call, effect)

    return handler


for _kind in KINDS:
    _base = f"/nodes/{{node}}/{_kind}/{{vmid}}/status"
    handles("POST", f"{_base}/start")(_power("running", ("stopped",), "{label} {vmid} already running"))
    handles("POST", f"{_base}/stop")(_power("stopped", (), ""))
    handles("POST", f"{_base}/shutdown")(_power("stopped", ("running", "paused"), "{label} {vmid} not running"))
    handles("POST", f"{_base}/reboot")(_power("running", ("running",), "{label} {vmid} not running"))
    handles("POST", f"{_base}/suspend")(
        _power("running", ("running",), "{label} {vmid} not running", qmpstatus="paused")
    )
    handles("POST", f"{_base}/resume")(_power("running", ("paused",), "{label} {vmid} not paused", qmpstatus="running"))
handles("POST", "/nodes/{node}/qemu/{vmid}/status/reset")(_power("running", ("running",), "{label} {vmid} not running"))


# --- clone, migrate, template ------------------------------------------------------------------


@handles("POST", "/nodes/{node}/qemu/{vmid}/clone")
@handles("POST", "/nodes/{node}/lxc/{vmid}/clone")
def clone(call: Call) -> TaskRequest:
    node, kind, vmid = _guest(call)
    store = call.store
    newid = int(call.args["newid"])
    if find_guest(store, newid) is not None:
        raise wire.ApiError(500, f"VM {newid} already exists")
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
    new_cfg = {
        k: (v.replace(f"vm-{vmid}-", f"vm-{newid}-") if isinstance(v, str) else v)
        for k, v in source.items()
        if k not in ("lock",)
    }
    new_cfg[name_key] = new_name
    for key in ("description",):
        if call.args.get(key):
            new_cfg[key] = call.args[key]
    item_path, cfg_path = _paths(target, kind, newid)

    def effect() -> None:
        store.set(item_path, {"vmid": newid, "status": "stopped"})
        store.set(cfg_path, new_cfg)
        sync_guest(store, target, kind, newid)

    return _task(
        call,
        effect,
        log=[f"create full clone of drive scsi0 (vm-{vmid}-disk-0)", "transferred 32.0 GiB of 32.0 GiB (100.00%)"],
    )


@handles("POST", "/nodes/{node}/qemu/{vmid}/migrate")
@handles("POST", "/nodes/{node}/lxc/{vmid}/migrate")
def migrate(call: Call) -> TaskRequest:
    node, kind, vmid = _guest(call)
    store = call.store
    target = str(call.args["target"])
    if target == node:
        raise wire.ApiError(400, "target is local node.")
    if not store.has(("nodes", target)):
        raise wire.missing_object("/nodes", target, call.params)
    _check_lock(config_of(store, node, kind, vmid), vmid, call)
    running = _status(store, node, kind, vmid) == "running"
    if running and kind == "qemu" and not call.args.get("online"):
        raise wire.ApiError(500, "can't migrate running VM without --online")
    if running and kind == "lxc" and not call.args.get("restart"):
        raise wire.ApiError(500, "lxc live migration is currently not implemented")

    def effect() -> None:
        store.move(("nodes", node, kind, vmid), ("nodes", target, kind, vmid))
        sync_guest(store, target, kind, vmid)

    started = time.strftime("%Y-%m-%d %H:%M:%S")
    return _task(
        call,
        effect,
        log=[
            f"{started} starting migration of {_label(kind)} {vmid} to node '{target}'",
            f"{started} migration finished successfully (duration 00:00:02)",
        ],
    )


@handles("POST", "/nodes/{node}/qemu/{vmid}/template")
@handles("POST", "/nodes/{node}/lxc/{vmid}/template")
def make_template(call: Call) -> Any:
    node, kind, vmid = _guest(call)
    store = call.store
    if _status(store, node, kind, vmid) == "running":
        raise wire.ApiError(500, f"you can't convert a running {_label(kind)} to a template")
    _, cfg_path = _paths(node, kind, vmid)

    def effect() -> None:
        store.set(cfg_path, {**config_of(store, node, kind, vmid), "template": 1})
        sync_guest(store, node, kind, vmid)

    if kind == "qemu":
        return _task(call, effect)
    effect()
    return None


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
        raise wire.ApiError(500, f"snapshot name '{name}' already used")
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
        raise wire.ApiError(500, f"snapshot '{name}' does not exist")
    return node, kind, vmid, name, base


@handles("POST", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback")
@handles("POST", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback")
def rollback(call: Call) -> TaskRequest:
    node, kind, vmid, name, base = _snapshot(call)
    store = call.store
    _check_lock(config_of(store, node, kind, vmid), vmid, call)
    _, cfg_path = _paths(node, kind, vmid)

    def effect() -> None:
        saved = store.get((*base, name, "config"))
        store.set(cfg_path, {**(saved if isinstance(saved, dict) else {}), "parent": name})
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
