"""PVE storage content: what `GET /nodes/{node}/storage/{storage}/content` lists, and what removes it.

Guest volumes are derived from the guests' configurations (volumes.guest_volumes), so a
create, resize, move, template conversion or destroy shows in the content at once and is
never kept twice. Everything else (ISO images, templates, backups, snippets, imports, and
images a scenario seeds or a client allocates) is stored under
`/nodes/NODE/storage/STORAGE/content/VOLID`; a shared storage lists what any node stored.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import TYPE_CHECKING, Any

from .. import wire
from ..tasks import TaskRequest
from . import handles
from .access import Viewer, filters_list
from .cluster import GUEST_TYPES, find_guest
from .config_privileges import volume_access, volume_kind
from .volumes import GiB, MiB, guest_volumes

if TYPE_CHECKING:
    from ..state import StateStore
    from ..world import Call

GUEST_CONTENT = ("images", "rootdir")
# What pve-storage's directory listing reads from a volume name: content type, format.
_VZTMPL = re.compile(r"\.tar\.(gz|xz|zst|bz2)$|\.(tar)$")
_BACKUP = re.compile(r"\.(tgz|tar(?:\.(?:gz|lzo|zst|bz2))?|vma(?:\.(?:gz|lzo|zst))?)$")
_BACKUP_OF = re.compile(r"^vzdump-(qemu|lxc|openvz)-(\d+)-")
_COMPRESSION = {"zstd": ".zst", "gzip": ".gz", "lzo": ".lzo", "1": ".lzo"}


def describe(volid: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A stored entry completed as pve-storage lists it: `content`, `format`, `vmid`/`subtype` of backups."""
    out = {"volid": volid, **entry}
    name = volid.split(":", 1)[-1]
    folder, _, file = name.partition("/")
    if folder == "iso":
        out.setdefault("content", "iso")
        out.setdefault("format", "iso")
    elif folder == "vztmpl":
        out.setdefault("content", "vztmpl")
        m = _VZTMPL.search(file)
        out.setdefault("format", ("t" + m.group(1)) if m and m.group(1) else "tar")
    elif folder == "backup":
        out.setdefault("content", "backup")
        m, who = _BACKUP.search(file), _BACKUP_OF.match(file)
        out.setdefault("format", m.group(1) if m else "unknown")
        if who:
            out.setdefault("subtype", "qemu" if who.group(1) == "qemu" else "lxc")
            out.setdefault("vmid", int(who.group(2)))
    elif folder == "snippets":
        out.setdefault("content", "snippets")
        out.setdefault("format", "snippet")
    elif folder == "import":
        out.setdefault("content", "import")
        out.setdefault("format", file.rsplit(".", 1)[-1])
    out.setdefault("size", _typical_size(volid, out.get("content")))
    return out


def _typical_size(volid: str, content: Any) -> int:
    """A size for a seeded entry that gave none: the same for the same name."""
    low, high = {"iso": (600 * MiB, 4 * GiB), "vztmpl": (90 * MiB, 250 * MiB), "snippets": (200, 4000)}.get(
        str(content), (300 * MiB, 3 * GiB)
    )
    draw = int.from_bytes(hashlib.blake2b(volid.encode(), digest_size=4).digest())
    return low + draw % (high - low)


def find_volume(store: StateStore, node: str, volid: str) -> dict[str, Any] | None:
    """A stored (not derived) volume as `node` sees it, or None."""
    storage = volid.split(":", 1)[0]
    for entry in stored_content(store, node, storage):
        if entry["volid"] == volid:
            return entry
    return None


def add_volume(store: StateStore, node: str, entry: dict[str, Any]) -> None:
    volid = entry["volid"]
    store.set(("nodes", node, "storage", volid.split(":", 1)[0], "content", volid), entry)


def check_content(store: StateStore, storage: str, content_type: str) -> dict[str, Any]:
    """The storage's configuration when it holds `content_type`; Proxmox's refusal otherwise."""
    cfg = store.get(("storage", storage))
    if not isinstance(cfg, dict):
        raise wire.missing_object("/storage", storage, {})
    if content_type not in str(cfg.get("content", "")).split(","):
        raise wire.ApiError(500, f"storage '{storage}' is not configured for content-type '{content_type}'")
    return cfg


def now(call: Call) -> float:
    return time.time() + call.world.clock_offset


def stored_content(store: StateStore, node: str, storage: str) -> list[dict[str, Any]]:
    """Entries kept in state for `storage` as `node` sees it (every node's for a shared storage)."""
    cfg = store.get(("storage", storage), {}) or {}
    nodes = store.keys("/nodes") if int(cfg.get("shared", 0) or 0) else [node]
    seen: dict[str, dict[str, Any]] = {}
    for name in nodes:
        for key, entry in zip(
            store.keys(("nodes", name, "storage", storage, "content")),
            store.items(("nodes", name, "storage", storage, "content")),
            strict=True,
        ):
            if isinstance(entry, dict):
                volid = str(entry.get("volid", key))
                if volid not in seen:
                    seen[volid] = describe(volid, entry)
    return list(seen.values())


def content(store: StateStore, node: str, storage: str) -> list[dict[str, Any]]:
    """Everything on the storage: stored entries, then the volumes of the guests that use it."""
    cfg = store.get(("storage", storage), {}) or {}
    shared = int(cfg.get("shared", 0) or 0)
    out = stored_content(store, node, storage)
    listed = {entry["volid"] for entry in out}
    for name in store.keys("/nodes") if shared else [node]:
        for kind in GUEST_TYPES:
            for vmid in store.keys(("nodes", name, kind)):
                guest_cfg = store.get(("nodes", name, kind, vmid, "config"), None)
                if not isinstance(guest_cfg, dict):
                    continue
                for volume in guest_volumes(guest_cfg, kind, int(vmid), store):
                    if volume.storage != storage or volume.volid in listed:
                        continue
                    listed.add(volume.volid)
                    entry: dict[str, Any] = {
                        "volid": volume.volid,
                        "content": volume.content,
                        "format": volume.format,
                        "size": volume.size,
                        "used": volume.size if volume.format != "subvol" else 0,
                        "vmid": volume.vmid,
                    }
                    if volume.parent:
                        entry["parent"] = volume.parent
                    out.append(entry)
    return out


@handles("GET", "/nodes/{node}/storage/{storage}/content", stable=True)
def list_content(call: Call) -> list[dict[str, Any]]:
    node, storage = call.params["node"], call.params["storage"]
    entries = call.world.cached(("content", node, storage), lambda: content(call.store, node, storage))
    wanted = call.args.get("content")
    vmid = call.args.get("vmid")
    if wanted:
        entries = [e for e in entries if e.get("content") == wanted]
    if vmid is not None:  # pve-storage lists no ISO or template for a guest
        entries = [e for e in entries if str(e.get("vmid")) == str(vmid)]
    return sorted(entries, key=lambda e: str(e["volid"]))


def forget_guest(store: StateStore, vmid: int, purge: bool) -> None:
    """What destroying a guest removes besides its configuration.

    Its stored images go (derived ones went with the configuration); backups stay, as on a
    real node. With `purge`, backup jobs stop naming it and its HA resource goes.
    """
    for node in store.keys("/nodes"):
        for storage in store.keys(("nodes", node, "storage")):
            base = ("nodes", node, "storage", storage, "content")
            for key, entry in zip(store.keys(base), store.items(base), strict=True):
                if (
                    isinstance(entry, dict)
                    and entry.get("content") in GUEST_CONTENT
                    and str(entry.get("vmid")) == str(vmid)
                ):
                    store.delete((*base, key))
    if not purge:
        return
    for job_id, job in zip(store.keys("/cluster/backup"), store.items("/cluster/backup"), strict=True):
        if isinstance(job, dict) and job.get("vmid") not in (None, ""):
            ids = [v for v in str(job["vmid"]).split(",") if v and v != str(vmid)]
            if len(ids) != len(str(job["vmid"]).split(",")):
                store.set(("cluster", "backup", job_id), {**job, "vmid": ",".join(ids)})
    for sid in (f"vm:{vmid}", f"ct:{vmid}"):
        store.delete(("cluster", "ha", "resources", sid))


# --- volumes that arrive: template download, download-url, upload -------------------------------


def _download(call: Call, node: str, volid: str, worker_id: str, task_type: str, size: int) -> TaskRequest:
    """A worker whose effect is the new volume on the storage."""
    store = call.store

    def effect() -> None:
        add_volume(store, node, describe(volid, {"size": size, "ctime": int(now(call))}))

    return TaskRequest(
        node=node,
        type=task_type,
        id=worker_id,
        user=call.actor,
        effect=effect,
        log=[f"downloading {volid.split(':', 1)[1]}", f"download of {size} bytes finished"],
    )


@handles("POST", "/nodes/{node}/aplinfo")
def download_template(call: Call) -> TaskRequest:
    """`pveam download`: the template must be one the node's appliance list offers."""
    node, storage, template = call.params["node"], str(call.args["storage"]), str(call.args["template"])
    cfg = call.store.get(("storage", storage))
    if not isinstance(cfg, dict):
        raise wire.missing_object("/storage", storage, {})
    offered = call.world.read(f"/nodes/{node}/aplinfo")
    names = [a.get("template") for a in offered if isinstance(a, dict)] if isinstance(offered, list) else []
    if any(names) and template not in names:
        raise wire.ApiError(400, "Parameter verification failed.", errors={"template": "no such template"})
    if "vztmpl" not in str(cfg.get("content", "")).split(","):
        raise wire.ApiError(500, f"storage '{storage}' does not support templates")
    return _download(
        call, node, f"{storage}:vztmpl/{template}", template, "download", _typical_size(template, "vztmpl")
    )


@handles("POST", "/nodes/{node}/storage/{storage}/download-url")
def download_url(call: Call) -> TaskRequest:
    node, storage = call.params["node"], call.params["storage"]
    content_type, filename = str(call.args["content"]), str(call.args["filename"])
    check_content(call.store, storage, content_type)
    volid = f"{storage}:{content_type}/{filename}"
    return _download(call, node, volid, filename, "download", _typical_size(volid, content_type))


@handles("POST", "/nodes/{node}/storage/{storage}/upload")
def upload(call: Call) -> TaskRequest:
    node, storage = call.params["node"], call.params["storage"]
    content_type = str(call.args["content"])
    name = str(call.args["filename"])  # pveproxy gives the uploaded file's name
    if content_type not in ("iso", "vztmpl", "import"):
        raise wire.ApiError(
            400,
            "Parameter verification failed.",
            errors={"content": f"upload content type '{content_type}' not allowed"},
        )
    cfg = call.store.get(("storage", storage))
    if not isinstance(cfg, dict):
        raise wire.missing_object("/storage", storage, {})
    if content_type not in str(cfg.get("content", "")).split(","):
        raise wire.ApiError(500, f"storage '{storage}' does not support '{content_type}' content")
    volid = f"{storage}:{content_type}/{name}"
    return _download(call, node, volid, "", "imgcopy", _typical_size(volid, content_type))


# --- backups --------------------------------------------------------------------------------


@handles("POST", "/nodes/{node}/vzdump")
def vzdump(call: Call) -> TaskRequest | str:
    """Back up the named guests of this node (or all, or a pool's) as `vzdump-TYPE-VMID-TIME.EXT` volumes."""
    node = call.params["node"]
    store = call.store
    storage = str(call.args.get("storage") or "local")
    scfg = store.get(("storage", storage))
    if isinstance(scfg, dict) and "backup" not in str(scfg.get("content", "")).split(","):
        # VZDump->new refuses inside the worker: the task starts, then fails
        return TaskRequest(node=node, type="vzdump", id="", user=call.actor, error=wire.no_backups_on(storage))
    check_content(store, storage, "backup")
    wanted, orphaned = _backup_selection(call, node)
    if not wanted and not orphaned and not call.args.get("all"):
        return "OK"  # the named guests run on other nodes: vzdump exits silently
    suffix = _COMPRESSION.get(str(call.args.get("compress", "0")), "")
    template = str(call.args.get("notes-template") or "")
    cluster = str(call.scenario.name)

    def effect() -> None:
        stamp = now(call)
        for vmid, kind in wanted:
            cfg = store.get(("nodes", node, kind, str(vmid), "config"), None)
            cfg = dict(cfg) if isinstance(cfg, dict) else {}
            name = cfg.get("name" if kind == "qemu" else "hostname") or str(vmid)
            when = time.strftime("%Y_%m_%d-%H_%M_%S", time.localtime(stamp))
            ext = ("vma" if kind == "qemu" else "tar") + suffix
            volid = f"{storage}:backup/vzdump-{kind}-{vmid}-{when}.{ext}"
            size = sum(v.size for v in guest_volumes(cfg, kind, vmid, store)) // 3 or 512 * MiB
            entry: dict[str, Any] = {"size": size, "ctime": int(stamp)}
            notes = (
                template.replace("{{guestname}}", str(name))
                .replace("{{vmid}}", str(vmid))
                .replace("{{node}}", node)
                .replace("{{cluster}}", cluster)
            )
            if notes:
                entry["notes"] = notes
            if call.args.get("protected"):
                entry["protected"] = 1
            add_volume(store, node, describe(volid, entry))
            store.set(("nodes", node, "storage", storage, "content", volid, "config"), cfg)

    ids = [*(v for v, _ in wanted), *orphaned]
    log = [f"INFO: Starting Backup of VM {vmid} ({kind})" for vmid, kind in wanted]
    log += [f"ERROR: Backup of VM {vmid} failed - unable to find VM '{vmid}'" for vmid in orphaned]
    return TaskRequest(
        node=node,
        type="vzdump",
        id=str(ids[0]) if len(ids) == 1 else "",
        user=call.actor,
        effect=effect,
        log=log,
        error="job errors" if orphaned else None,
    )


def _backup_selection(call: Call, node: str) -> tuple[list[tuple[int, str]], list[int]]:
    """(guests of this node to back up, named VMIDs no node has), as get_included_guests sorts them."""
    store = call.store
    here = [(int(vmid), kind) for kind in GUEST_TYPES for vmid in store.keys(("nodes", node, kind))]
    if call.args.get("all"):
        excluded = {v for v in re.split(r"[,;\s]+", str(call.args.get("exclude") or "")) if v}
        return sorted((v, k) for v, k in here if str(v) not in excluded), []
    if call.args.get("pool"):
        pool = store.get(("pools", str(call.args["pool"])), {}) or {}
        members = {str(v) for v in pool.get("vms") or []}
        return sorted((v, k) for v, k in here if str(v) in members), []
    named = {v for v in re.split(r"[,;\s]+", str(call.args.get("vmid") or "")) if v}
    orphaned = sorted(int(v) for v in named if v.isdigit() and find_guest(store, v) is None)
    return sorted((v, k) for v, k in here if str(v) in named), orphaned


def backup_config(store: StateStore, node: str, volid: str) -> dict[str, Any]:
    """The guest configuration a backup holds (what a restore brings back); Proxmox's error if absent.

    A backup the scenario seeded holds the configuration its guest has now, when it still exists.
    """
    entry = find_volume(store, node, volid)
    if entry is None:
        raise wire.ApiError(500, f"can't find file '{volid}'")
    storage = volid.split(":", 1)[0]
    for name in [node, *store.keys("/nodes")]:
        cfg = store.get(("nodes", name, "storage", storage, "content", volid, "config"), None)
        if isinstance(cfg, dict):
            return dict(cfg)
    where = find_guest(store, entry.get("vmid", ""))
    if where is not None:
        cfg = store.get(("nodes", where[0], where[1], str(entry["vmid"]), "config"), None)
        return dict(cfg) if isinstance(cfg, dict) else {}
    return {}


_FOLDERS = {
    "iso": "template/iso",
    "vztmpl": "template/cache",
    "backup": "dump",
    "snippets": "snippets",
    "import": "import",
}


@filters_list("/nodes/{node}/storage/{storage}/content")
def visible_content(view: Viewer, items: list[Any]) -> list[Any]:
    """The volumes pve-storage's check_volume_access lets the caller use, one by one."""
    out = []
    for entry in items:
        volid = str(entry.get("volid", ""))
        owner = entry.get("vmid") or volume_kind(volid)[1]
        try:
            volume_access(view, volid, entry.get("content"), owner)
        except wire.ApiError:
            continue
        out.append(entry)
    return out


@handles("GET", "/nodes/{node}/storage/{storage}/content/{volume}", finds_own_objects=True, stable=True)
def volume_attributes(call: Call) -> dict[str, Any]:
    """One volume (stored or a guest's) with the path its storage type gives it."""
    node, storage, volid = call.params["node"], call.params["storage"], call.params["volume"]
    if ":" not in volid:
        volid = f"{storage}:{volid}"
    entry = next((e for e in content(call.store, node, storage) if e["volid"] == volid), None)
    if entry is None:
        raise wire.missing_object("/nodes/{node}/storage/{storage}/content", volid, call.params)
    out = {"format": entry.get("format", "raw"), "size": entry.get("size", 0), "used": entry.get("used", 0)}
    out["path"] = _path_of(call.store.get(("storage", storage), {}) or {}, volid, entry)
    for key in ("notes", "protected"):
        if key in entry:
            out[key] = entry[key]
    return out


def _path_of(scfg: dict[str, Any], volid: str, entry: dict[str, Any]) -> str:
    """Where a volume lives on the node, as its storage plugin's `path` names it."""
    name = volid.split(":", 1)[1]
    stype = scfg.get("type", "dir")
    folder, _, file = name.partition("/")
    if stype in ("dir", "nfs", "cifs", "cephfs", "glusterfs", "btrfs"):
        base = scfg.get("path") or f"/mnt/pve/{scfg.get('storage', volid.split(':', 1)[0])}"
        if folder in _FOLDERS and file:
            return f"{base}/{_FOLDERS[folder]}/{file}"
        return f"{base}/images/{name}"
    own = name.rsplit("/", 1)[-1]
    if stype in ("lvm", "lvmthin"):
        return f"/dev/{scfg.get('vgname', 'pve')}/{own}"
    if stype == "zfspool":
        return f"/dev/zvol/{scfg.get('pool', 'rpool/data')}/{own}"
    if stype == "rbd":
        return f"rbd:{scfg.get('pool', 'rbd')}/{own}:conf=/etc/pve/ceph.conf"
    return f"/dev/{own}"


@handles("POST", "/nodes/{node}/storage/{storage}/content")
def allocate(call: Call) -> str:
    """A disk image allocated for a guest outside its configuration (listed until the guest is destroyed)."""
    node, storage = call.params["node"], call.params["storage"]
    name, vmid, text = str(call.args["filename"]), int(call.args["vmid"]), str(call.args["size"])
    kib = int(text[:-1]) * (1024 if text.endswith("M") else 1024**2) if text[-1] in "MG" else int(text)
    fmt = call.args.get("format")
    m = re.search(r"\.(raw|qcow2|vmdk)$", name)
    if m and fmt and fmt != m.group(1):
        errors = {"format": f"different storage formats ({fmt} != {m.group(1)})"}
        raise wire.ApiError(400, "Parameter verification failed.", errors=errors)
    fmt = m.group(1) if m else fmt
    cfg = check_content(call.store, storage, "images")
    if not re.match(rf"^(vm|base|subvol)-{vmid}-", name):
        raise wire.ApiError(500, f"illegal name '{name}' - should be 'vm-{vmid}-*'")
    file_based = cfg.get("type", "dir") in ("dir", "nfs", "cifs", "glusterfs", "cephfs", "btrfs")
    if file_based and not m:
        name = f"{name}.{fmt or 'raw'}"
    volid = f"{storage}:{vmid}/{name}" if file_based else f"{storage}:{name}"
    if find_volume(call.store, node, volid) is not None or volid in {
        e["volid"] for e in content(call.store, node, storage)
    }:
        raise wire.ApiError(500, f"volume '{volid}' already exists")
    entry = {"content": "images", "format": fmt or ("subvol" if name.startswith("subvol-") else "raw"), "vmid": vmid}
    add_volume(call.store, node, {"volid": volid, **entry, "size": kib * 1024, "used": 0, "ctime": int(now(call))})
    return volid
