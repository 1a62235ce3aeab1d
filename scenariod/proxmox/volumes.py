"""What PVE derives when a guest's configuration is written: volume names, sizes, MAC addresses.

A create or config call says `scsi0=ceph-vm:4` and `net0=virtio,bridge=vmbr0`; a real node
stores `scsi0: ceph-vm:vm-150-disk-0,size=4G` and `net0: virtio=BC:24:11:..,bridge=vmbr0`.
This module turns the one into the other (names as qemu-server, pve-container and
pve-storage spell them) and reads volumes back out of a configuration, so storage content
can be derived from the guests that own the volumes rather than kept twice.
"""

from __future__ import annotations

import hashlib
import re
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import wire

if TYPE_CHECKING:
    from ..state import StateStore

KiB, MiB, GiB, TiB = 1024, 1024**2, 1024**3, 1024**4
MAC_PREFIX = "BC:24:11"  # Proxmox's registered OUI, datacenter.cfg `mac_prefix` default
# Storage types whose images are files `VMID/NAME.FORMAT` (the rest are block devices named NAME).
FILE_STORAGES = frozenset({"dir", "nfs", "cifs", "glusterfs", "cephfs", "btrfs"})
QEMU_DISK = re.compile(r"^(?:scsi|virtio|sata|ide)\d+$|^efidisk0$|^tpmstate0$")
LXC_DISK = re.compile(r"^rootfs$|^mp\d+$")
GUEST_VOLUMES = {"qemu": "images", "lxc": "rootdir"}  # the content type a storage needs for a guest's volumes
UNUSED = re.compile(r"^unused\d+$")
NET = re.compile(r"^net\d+$")
# `STORAGE:SIZE` (GiB) asks for a new volume: qemu-server's NEW_DISK_RE.
_NEW_DISK = re.compile(r"^(?:([^:\s]+):)?(\d+(?:\.\d+)?)$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)$")
_UNITS = {"": 1, "K": KiB, "M": MiB, "G": GiB, "T": TiB}
_NIC_MODELS = frozenset(
    {"virtio", "e1000", "e1000e", "rtl8139", "vmxnet3", "i82551", "i82557b", "i82559er", "ne2k_pci"}
)
_NIC_MODELS |= {"ne2k_isa", "pcnet", "e1000-82540em", "e1000-82544gc", "e1000-82545em"}
_DISK_NUMBER = re.compile(r"(?:vm|base|subvol|basevol)-(\d+)-disk-(\d+)")
EFI_SIZE = 528 * KiB  # OVMF_VARS 4m on a file storage; block storages round up to 4 MiB
TPM_SIZE = 4 * MiB


@dataclass(frozen=True, slots=True)
class Volume:
    """A guest volume as storage content lists it."""

    volid: str
    storage: str
    vmid: int
    size: int
    format: str
    content: str  # images (qemu) or rootdir (lxc)
    parent: str | None = None


# --- property strings ---------------------------------------------------------------------------


def split_drive(value: str) -> tuple[str, list[str]]:
    """(volume, other options) of a drive or mount point property string."""
    volume = ""
    rest: list[str] = []
    for part in value.split(","):
        key, eq, val = part.partition("=")
        if not eq and not volume:
            volume = part
        elif key in ("file", "volume") and not volume:
            volume = val
        elif part:
            rest.append(part)
    return volume, rest


def option(parts: list[str], key: str) -> str | None:
    prefix = key + "="
    for part in parts:
        if part.startswith(prefix):
            return part[len(prefix) :]
    return None


def parse_size(text: str) -> int | None:
    """Bytes of a size as PVE writes it (`32G`, `512M`, `4194304`)."""
    m = _SIZE.match(text.strip())
    return int(float(m.group(1)) * _UNITS[m.group(2)]) if m else None


def format_size(size: int) -> str:
    """PVE's format_size: the largest unit that divides evenly."""
    for unit, factor in (("T", TiB), ("G", GiB), ("M", MiB), ("K", KiB)):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


# --- MAC addresses -----------------------------------------------------------------------------

_MACS: weakref.WeakKeyDictionary[StateStore, set[str]] = weakref.WeakKeyDictionary()


def _macs_in_use(store: StateStore) -> set[str]:
    """Every MAC the cluster's guests hold; built once per store, then kept up to date here."""
    used = _MACS.get(store)
    if used is None:
        used = set()
        for node in store.keys("/nodes"):
            for kind in ("qemu", "lxc"):
                for vmid in store.keys(("nodes", node, kind)):
                    cfg = store.get(("nodes", node, kind, vmid, "config"))
                    if isinstance(cfg, dict):
                        used.update(m.upper() for m in _MAC_IN.findall(" ".join(str(v) for v in cfg.values())))
        _MACS[store] = used
    return used


_MAC_IN = re.compile(r"(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}")


def new_mac(store: StateStore, seed: int, vmid: int, key: str) -> str:
    """A MAC with Proxmox's prefix, unique in the cluster, the same for the same seed and guest."""
    used = _macs_in_use(store)
    attempt = 0
    while True:
        digest = hashlib.blake2b(f"{seed}\0{vmid}\0{key}\0{attempt}".encode(), digest_size=3).digest()
        mac = MAC_PREFIX + "".join(f":{b:02X}" for b in digest)
        if mac not in used:
            used.add(mac)
            return mac
        attempt += 1


def derive_net(value: str, kind: str, mac: Any) -> str:
    """`net0` as stored: qemu `MODEL=MAC,...` first; lxc `name=..` first and `hwaddr`, `type=veth`.

    `mac` is called only when the value has no MAC yet.
    """
    parts = [p for p in value.split(",") if p]
    if kind == "lxc":
        opts = dict(p.partition("=")[::2] for p in parts)
        if not opts.get("hwaddr"):
            opts["hwaddr"] = mac()
        opts.setdefault("type", "veth")
        name = opts.pop("name", None)
        ordered = ([f"name={name}"] if name is not None else []) + [f"{k}={opts[k]}" for k in sorted(opts)]
        return ",".join(ordered)
    model, address, rest = "", "", []
    for part in parts:
        key, eq, val = part.partition("=")
        if key in _NIC_MODELS and not model:
            model, address = key, val
        elif key == "model":
            model = val
        elif key == "macaddr":
            address = val
        else:
            rest.append(part)
    model = model or "virtio"
    return ",".join([f"{model}={address or mac()}", *rest])


def without_mac(value: str) -> str:
    """A NIC's options with its MAC dropped (a clone gets a new one)."""
    parts = []
    for part in value.split(","):
        key, _, val = part.partition("=")
        if key in ("hwaddr", "macaddr"):
            continue
        parts.append(key if key in _NIC_MODELS else part)
    return ",".join(parts)


# --- allocation ---------------------------------------------------------------------------------


def storage_config(store: StateStore, storage: str) -> dict[str, Any]:
    """The storage's configuration; an unknown storage is Proxmox's error."""
    cfg = store.get(("storage", storage))
    if not isinstance(cfg, dict):
        raise wire.ApiError(500, f"storage '{storage}' does not exist")
    return cfg


def holds_guests(scfg: dict[str, Any], storage: str, kind: str) -> None:
    """Refuse, as qemu-server and pve-container do, a guest volume on a storage without its content type."""
    if GUEST_VOLUMES[kind] not in str(scfg.get("content", "")).split(","):
        raise wire.parameter_error({"storage": wire.storage_refuses_guests(kind, storage)})


def free_disk_number(values: Iterable[Any], storage: str, vmid: int) -> int:
    """The first disk number of `vmid` on `storage` that none of `values` (drive values, volume
    ids: the guest's and what the storage already holds) takes: find_free_diskname, per storage."""
    taken: set[int] = set()
    prefix = storage + ":"
    for value in values:
        if isinstance(value, str) and value.startswith(prefix):
            for m in _DISK_NUMBER.finditer(value):
                if int(m.group(1)) == vmid:
                    taken.add(int(m.group(2)))
    return next(n for n in range(len(taken) + 1) if n not in taken)


def volume_name(scfg: dict[str, Any], vmid: int, number: int, kind: str, fmt: str | None, base: bool = False) -> str:
    """The name pve-storage gives a new image (without `STORAGE:`)."""
    stype = str(scfg.get("type", "dir"))
    stem = f"{'base' if base else 'vm'}-{vmid}-disk-{number}"
    if stype == "zfspool" and kind == "lxc":
        return f"{'basevol' if base else 'subvol'}-{vmid}-disk-{number}"
    if stype in FILE_STORAGES:
        ext = fmt or ("raw" if kind == "lxc" or stype == "btrfs" else "qcow2")
        return f"{vmid}/{stem}.{ext}"
    return stem


def allocate_disks(
    store: StateStore,
    fields: dict[str, Any],
    cfg: dict[str, Any],
    kind: str,
    vmid: int,
    default_storage: str | None,
    on_storage: Callable[[str], Iterable[str]] = lambda storage: (),
) -> dict[str, Any]:
    """`fields` with every `STORAGE:SIZE` allocation (and cloud-init, import-from) named as PVE
    names it: the first disk number free on the storage (pve-storage's find_free_diskname reads
    the storage itself: `on_storage` gives the volume ids already there, a leftover among them)."""
    disk_key = QEMU_DISK if kind == "qemu" else LXC_DISK
    # numbers taken: the configuration's volumes, and the volumes the call itself names (an unusedN
    # or a disk given by volume id), kept under their own keys so a replaced disk keeps its number too
    held = {**cfg, **{f"+{k}": v for k, v in fields.items()}}
    out = dict(fields)
    for key, value in fields.items():
        if not (isinstance(value, str) and disk_key.match(key)):
            continue
        volume, rest = split_drive(value)
        if volume == "cdrom":
            out[key] = value if option(rest, "media") else f"cdrom,{','.join([*rest, 'media=cdrom'])}".rstrip(",")
            continue
        if volume.endswith(":cloudinit") and kind == "qemu":
            storage = volume.split(":", 1)[0]
            file_based = storage_config(store, storage).get("type", "dir") in FILE_STORAGES
            name = f"{vmid}/vm-{vmid}-cloudinit.qcow2" if file_based else f"vm-{vmid}-cloudinit"
            opts = sorted([p for p in rest if not p.startswith("media=")] + ["media=cdrom"])
            out[key] = held[key] = ",".join([f"{storage}:{name}", *opts])
            continue
        m = _NEW_DISK.match(volume)
        if not m:
            continue
        into = m.group(1) or default_storage
        if not into:
            raise wire.ApiError(500, "no storage ID specified (and no default storage)")  # qemu-server's words
        scfg = storage_config(store, into)
        holds_guests(scfg, into, kind)
        size = _new_size(store, key, float(m.group(2)), rest, scfg)
        fmt = option(rest, "format")
        number = free_disk_number([*held.values(), *on_storage(into)], into, vmid)
        name = volume_name(scfg, vmid, number, kind, fmt)
        keep = [p for p in rest if not p.startswith(("format=", "import-from=", "size="))]
        if kind == "lxc":
            mp = [p for p in keep if p.startswith("mp=")]
            keep = mp + sorted(p for p in keep if not p.startswith("mp="))
        else:
            keep = sorted(keep)
        keep.append(f"size={format_size(size)}")
        if kind == "qemu":
            keep.sort()
        out[key] = ",".join([f"{into}:{name}", *keep])
        held[key] = out[key]
    return out


def _new_size(store: StateStore, key: str, gib: float, rest: list[str], scfg: dict[str, Any]) -> int:
    if key == "efidisk0":
        return EFI_SIZE if scfg.get("type", "dir") in FILE_STORAGES else 4 * MiB
    if key == "tpmstate0":
        return TPM_SIZE
    source = option(rest, "import-from")
    if source is not None and gib == 0:
        return imported_size(store, source)
    return int(gib * GiB)


def imported_size(store: StateStore, volid: str) -> int:
    """The size of an `import-from` source: what its storage lists, else a typical cloud image."""
    storage = volid.split(":", 1)[0]
    for node in store.keys("/nodes"):
        entry = store.get(("nodes", node, "storage", storage, "content", volid))
        if isinstance(entry, dict) and isinstance(entry.get("size"), int):
            return int(entry["size"])
    return 2 * GiB


# --- reading volumes back -------------------------------------------------------------------


def guest_volumes(cfg: dict[str, Any], kind: str, vmid: int, store: StateStore) -> Iterator[Volume]:
    """The images and container volumes a configuration refers to (unused ones included)."""
    disk_key = QEMU_DISK if kind == "qemu" else LXC_DISK
    content = "images" if kind == "qemu" else "rootdir"
    for key, value in cfg.items():
        if not isinstance(value, str) or not (disk_key.match(key) or UNUSED.match(key)):
            continue
        volume, rest = split_drive(value)
        storage, colon, name = volume.partition(":")
        if not colon or option(rest, "media") == "cdrom" or not _OWNED.search(name):
            continue
        size = parse_size(option(rest, "size") or "") or 0
        base, slash, own = name.partition("/")
        parent = base if slash and base.startswith("base-") else None
        yield Volume(volume, storage, vmid, size, _format_of(own if parent else name), content, parent)


_OWNED = re.compile(r"(?:^|/)(?:vm|base|subvol|basevol)-\d+-(?:disk-\d+|cloudinit)")


def _format_of(name: str) -> str:
    if name.startswith(("subvol-", "basevol-")):
        return "subvol"
    ext = name.rsplit(".", 1)[-1] if "." in name.rsplit("/", 1)[-1] else ""
    return ext if ext in ("qcow2", "raw", "vmdk") else "raw"


def template_volumes(cfg: dict[str, Any], kind: str) -> dict[str, Any]:
    """The configuration with its volumes renamed as template conversion renames them (`vm-` to `base-`)."""
    disk_key = QEMU_DISK if kind == "qemu" else LXC_DISK
    out = {}
    for key, value in cfg.items():
        if isinstance(value, str) and (disk_key.match(key) or UNUSED.match(key)):
            volume, rest = split_drive(value)
            if ":" in volume and option(rest, "media") != "cdrom":
                value = ",".join([_TO_BASE.sub(_base_name, volume), *rest])
        out[key] = value
    return out


_TO_BASE = re.compile(r"(?<=[:/])(vm|subvol)-(?=\d+-disk-)")


def _base_name(m: re.Match[str]) -> str:
    return "base-" if m.group(1) == "vm" else "basevol-"
