"""Which privileges a guest configuration change needs, option by option, as PVE checks them.

The API description's `permissions` only say that a config update needs *one of* the
VM.Config.* privileges; the handlers then check every option sent or deleted
(qemu-server's check_vm_modify_config_perm and its drive, serial, USB and PCI checks,
pve-container's check_ct_modify_config_perm), and a create needs VM.Allocate on the guest
or its pool and Datastore.AllocateSpace on every storage a new volume lands on. The tables
below are those functions' tables; root@pam (and whoever the scenario does not check) skips
them all, as in Proxmox.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .. import wire
from .access import Viewer, viewer
from .tags import assert_tag_permissions
from .volumes import LXC_DISK, QEMU_DISK, UNUSED, option, split_drive

if TYPE_CHECKING:
    from ..state import StateStore
    from ..world import Call

# qemu-server's option tables (PVE/API2/Qemu.pm): option -> the privilege it needs on the guest.
_QEMU_OPTIONS: dict[str, str] = {
    **dict.fromkeys(
        ("cores", "cpu", "runningcpu", "cpulimit", "cpuunits", "numa", "smp", "sockets", "vcpus"), "VM.Config.CPU"
    ),
    **dict.fromkeys(("memory", "balloon", "shares", "allow-ksm"), "VM.Config.Memory"),
    **dict.fromkeys(
        (
            "acpi",
            "hotplug",
            "kvm",
            "machine",
            "runningmachine",
            "scsihw",
            "smbios1",
            "tablet",
            "vga",
            "watchdog",
            "audio0",
            "rng0",
        ),
        "VM.Config.HWType",
    ),
    **dict.fromkeys(
        (
            "agent",
            "autostart",
            "bios",
            "description",
            "keyboard",
            "localtime",
            "migrate_downtime",
            "migrate_speed",
            "name",
            "onboot",
            "ostype",
            "protection",
            "reboot",
            "startdate",
            "startup",
            "tdf",
            "template",
        ),
        "VM.Config.Options",
    ),
    "freeze": "VM.PowerMgmt",
    **dict.fromkeys(("boot", "bootdisk", "vmstatestorage"), "VM.Config.Disk"),
    "running-nets-host-mtu": "VM.Config.Network",
}
_QEMU_CLOUDINIT = frozenset(
    {"cicustom", "cipassword", "citype", "ciuser", "ciupgrade", "nameserver", "searchdomain", "sshkeys"}
)
_QEMU_DEVICES = re.compile(r"^(?:unused|serial|usb|hostpci|virtiofs)\d+$")  # checked by value, not by name
_LXC_OPTIONS: dict[str, str] = {
    **dict.fromkeys(("cores", "cpuunits", "cpulimit"), "VM.Config.CPU"),
    **dict.fromkeys(("memory", "swap"), "VM.Config.Memory"),
    **dict.fromkeys(("nameserver", "searchdomain", "hostname"), "VM.Config.Network"),
}
# `STORAGE:SIZE` asks for a new volume (NEW_DISK_RE); a bare size lands on the default storage.
_NEW_DISK = re.compile(r"^(?:([^:\s]+):)?(\d+(?:\.\d+)?)$")
_NUMBERED = re.compile(r"^(?:numa|net|ipconfig)\d+$")


class _Checks:
    """One caller's checks on one guest (PVE's check_vm_perm: the pool first, if there is one)."""

    def __init__(self, view: Viewer, vmid: Any, pool: str | None, store: StateStore | None = None) -> None:
        self.view, self.vmid, self.pool, self.store = view, vmid, pool, store

    def guest(self, *privs: str, any_of: bool = False) -> None:
        if self.pool and self._holds(f"/pool/{self.pool}", privs, any_of):
            return
        self.on(f"/vms/{self.vmid}", *privs, any_of=any_of)

    def on(self, path: str, *privs: str, any_of: bool = False) -> None:
        """PVE's check_full: raise_perm_exc naming the path and the privilege(s) missing."""
        if any_of:
            if not self.view.can(path, *privs):
                raise wire.permission_denied(path, "|".join(privs))
            return
        for priv in privs:
            if not self.view.can(path, priv):
                raise wire.permission_denied(path, priv)

    def tags(self, old: Any, new: Any) -> None:
        """assert_tag_permissions: VM.Config.Options on the guest, then each tag changed."""
        self.guest("VM.Config.Options")
        if self.store is not None:
            assert_tag_permissions(self.view, self.store, old, new)

    def _holds(self, path: str, privs: tuple[str, ...], any_of: bool) -> bool:
        if any_of:
            return self.view.can(path, *privs)
        return all(self.view.can(path, p) for p in privs)


# --- volumes ------------------------------------------------------------------------------------

_OWNER = re.compile(r"(?:^|/)(?:vm|base|subvol|basevol)-(\d+)-|^backup/vzdump-(?:qemu|lxc|openvz)-(\d+)-")
_FOLDERS = {"iso": "iso", "vztmpl": "vztmpl", "import": "import", "snippets": "snippets", "backup": "backup"}


def volume_kind(volid: str) -> tuple[str, int | None]:
    """(content type, owning VMID) of a volume, read off its name as pve-storage's parse_volname does."""
    name = volid.partition(":")[2]
    m = _OWNER.search(name)
    owner = int(m.group(1) or m.group(2)) if m else None
    return _FOLDERS.get(name.partition("/")[0], "images"), owner


def volume_access(view: Viewer, volid: str, content: str | None, owner: Any, vmid: Any = None) -> None:
    """pve-storage's check_volume_access: Proxmox's refusal when the caller may not use the volume."""
    at = f"/storage/{volid.partition(':')[0]}"
    checks = _Checks(view, vmid, None)
    if view.can(at, "Datastore.Allocate"):
        return
    if content in ("iso", "vztmpl", "import"):  # templates and ISOs may be sensitive: read access at least
        checks.on(at, "Datastore.AllocateSpace", "Datastore.Audit", any_of=True)
    elif owner is not None and vmid is not None and str(owner) == str(vmid):
        return  # the guest's own volume
    elif content == "backup" and owner:
        checks.on(at, "Datastore.AllocateSpace")
        checks.on(f"/vms/{owner}", "VM.Backup")
    elif content in ("images", "rootdir") and owner:
        checks.on(at, "Datastore.Audit")
        checks.on(f"/vms/{owner}", "VM.Config.Disk")
    else:
        raise wire.ApiError(500, f"missing privileges to access {volid}")


def _existing_volume(checks: _Checks, volume: str) -> None:
    """A drive naming a volume that exists (not `STORAGE:SIZE`): check_volume_access on it."""
    if ":" in volume and not _NEW_DISK.match(volume) and not volume.endswith(":cloudinit"):
        content, owner = volume_kind(volume)
        volume_access(checks.view, volume, content, owner, checks.vmid)


def check_space(call: Call, storage: str) -> None:
    """Datastore.AllocateSpace on a storage a call puts a new volume on (move, clone)."""
    view = viewer(call)
    if view is not None and not view.can(f"/storage/{storage}", "Datastore.AllocateSpace"):
        raise wire.permission_denied(f"/storage/{storage}", "Datastore.AllocateSpace")


def check_create(call: Call, kind: str, vmid: int, fields: dict[str, Any]) -> None:
    """A create's checks, in the order qemu-server's and pve-container's create_vm make them."""
    view = viewer(call)
    if view is None:
        return
    args = call.args
    pool = str(args["pool"]) if args.get("pool") else None
    checks = _Checks(view, vmid, pool, call.store)
    if kind == "lxc" and not args.get("restore") and args.get("unprivileged") in (0, "0", False):
        checks.on("/", "Sys.Modify")
    if args.get("ha-managed"):
        checks.on("/", "Sys.Console")
    if kind == "qemu":
        if args.get("storage"):
            checks.on(f"/storage/{args['storage']}", "Datastore.AllocateSpace")
        if args.get("start"):
            checks.guest("VM.PowerMgmt")
    if not (view.can(f"/vms/{vmid}", "VM.Allocate") or (pool and view.can(f"/pool/{pool}", "VM.Allocate"))):
        archive = args.get("archive") or args.get("restore")
        if not (archive and args.get("force") and view.can(f"/vms/{vmid}", "VM.Backup")):
            raise wire.permission_failed(None)
    if kind == "qemu":
        _qemu_storage_access(checks, call, fields)
        for opt in fields:
            _qemu_option(checks, opt)
        for opt, value in fields.items():
            _qemu_device(checks, opt, value, creating=True)
        if "tags" in fields:  # create_vm checks them when it writes the configuration
            checks.tags(None, fields["tags"])
    else:
        for opt, value in fields.items():
            if opt != "unprivileged":  # pve-container takes it out of the parameters first
                _lxc_option(checks, opt, value, {}, args.get("unprivileged") not in (0, "0", False))
        template = str(args.get("ostemplate") or "")
        if ":" in template:  # the template (or, restoring, the backup): a volume the caller may read
            volume_access(view, template, *volume_kind(template), vmid)
        _lxc_storages(checks, call, fields)


def check_update(
    call: Call,
    kind: str,
    vmid: Any,
    fields: dict[str, Any],
    deleted: list[str],
    old: dict[str, Any],
    reverted: list[str],
) -> None:
    """A config update's checks: every deleted and every set option, then volumes and devices.

    A reverted option (qemu's): qemu-server puts the current value back as if it were set again and
    checks only what its update loop checks by value (drives, devices, tags), not
    check_vm_modify_config_perm's table. pve-container checks a reverted option as a deletion: its
    caller passes those with `deleted`."""
    view = viewer(call)
    if view is None:
        return
    checks = _Checks(view, vmid, None, call.store)
    if kind == "lxc":
        unprivileged = bool(int(old.get("unprivileged", 0) or 0))
        for opt in deleted:
            _lxc_option(checks, opt, None, old, unprivileged, delete=True)
        for opt, value in fields.items():
            _lxc_option(checks, opt, value, old, unprivileged)
        return
    deleted = ["ide2" if d == "cdrom" else d for d in deleted]
    for opt in deleted:
        _qemu_option(checks, opt)
    for opt in fields:
        _qemu_option(checks, opt)
    _qemu_storage_access(checks, call, fields)
    for opt in deleted:
        if UNUSED.match(opt):
            checks.guest("VM.Config.Disk")
        elif QEMU_DISK.match(opt) and isinstance(old.get(opt), str):
            _qemu_drive(checks, old[opt])
        elif opt == "tags":
            checks.tags(old.get(opt), "")
        else:
            _qemu_device(checks, opt, old.get(opt), creating=False, delete=True)
    for opt, value in [*fields.items(), *((opt, old[opt]) for opt in reverted if opt in old)]:
        if QEMU_DISK.match(opt) or opt == "cdrom":
            _qemu_drive(checks, str(value))
        elif opt == "tags":
            checks.tags(old.get(opt), value)
        else:
            _qemu_device(checks, opt, value, creating=False, old=old.get(opt))


# --- qemu ---------------------------------------------------------------------------------------


def _qemu_option(checks: _Checks, opt: str) -> None:
    """check_vm_modify_config_perm for one option (drives and devices are checked by value)."""
    if QEMU_DISK.match(opt) or opt == "cdrom" or _QEMU_DEVICES.match(opt) or opt == "tags":
        return  # checked by value (tags: assert_tag_permissions)
    needed = _QEMU_OPTIONS.get(opt)
    if needed is None and _NUMBERED.match(opt):
        needed = {"numa": "VM.Config.CPU", "net": "VM.Config.Network"}.get(opt.rstrip("0123456789"))
    if needed is not None:
        checks.guest(needed)
        if opt == "startup":  # it changes how the host boots
            checks.on("/", "Sys.Modify")
    elif opt in _QEMU_CLOUDINIT or opt.startswith("ipconfig"):
        checks.guest("VM.Config.Cloudinit", "VM.Config.Network", any_of=True)
    elif opt == "vmstate":
        checks.guest("VM.Config.Disk", "VM.PowerMgmt")
    else:
        raise wire.ApiError(500, wire.only_root_config(opt))


def _qemu_storage_access(checks: _Checks, call: Call, fields: dict[str, Any]) -> None:
    """check_storage_access: a new volume needs Datastore.AllocateSpace on its storage, and the
    storage must hold VM images; a host CD drive needs Sys.Console."""
    for opt, value in fields.items():
        if not (QEMU_DISK.match(opt) or opt == "cdrom") or not isinstance(value, str):
            continue
        volume, rest = split_drive(value)
        cdrom = opt == "cdrom" or option(rest, "media") == "cdrom"
        if cdrom and volume == "cdrom":
            checks.on("/", "Sys.Console")
            continue
        m = _NEW_DISK.match(volume)
        if m and not cdrom:
            into = m.group(1) or call.args.get("storage")
            if into:
                checks.on(f"/storage/{into}", "Datastore.AllocateSpace")
        else:
            _existing_volume(checks, volume)


def _qemu_drive(checks: _Checks, value: str) -> None:
    """The drive check of an update: cloud-init, CD-ROM or disk."""
    volume, rest = split_drive(value)
    if "cloudinit" in volume:
        checks.guest("VM.Config.Cloudinit", "VM.Config.CDROM")
    elif option(rest, "media") == "cdrom" or volume in ("cdrom", "none"):
        checks.guest("VM.Config.CDROM")
    else:
        checks.guest("VM.Config.Disk")


def _qemu_device(
    checks: _Checks, opt: str, value: Any, *, creating: bool, delete: bool = False, old: Any = None
) -> None:
    """Serial ports, USB and PCI devices: a socket, SPICE or a mapped device with VM.Config.HWType;
    a real device of the host only for root@pam. A virtiofs directory: VM.Config.Disk and its mapping."""
    kind = opt.rstrip("0123456789")
    if kind == "virtiofs" and not delete:
        checks.guest("VM.Config.Disk")
        first = str(value or "").split(",", 1)[0]
        checks.on(f"/mapping/dir/{option(str(value).split(','), 'dirid') or first}", "Mapping.Use")
        return
    if kind not in ("serial", "usb", "hostpci"):
        return
    verb = "set" if creating else ("delete" if delete else "modify")
    text = str(value or "")
    if kind == "serial":
        if text == "socket" and (creating or old in (None, "socket")):
            checks.guest("VM.Config.HWType")
            return
    elif kind == "usb":
        host = option(text.split(","), "host")
        mapping = option(text.split(","), "mapping")
        if mapping or (host or "").lower() == "spice" or text.lower() == "spice":
            checks.guest("VM.Config.HWType")
            if mapping:
                checks.on(f"/mapping/usb/{mapping}", "Mapping.Use")
            return
    else:
        mapping = option(text.split(","), "mapping")
        if mapping:
            checks.on(f"/mapping/pci/{mapping}", "Mapping.Use")
            checks.guest("VM.Config.HWType")
            return
    what = "non-mapped devices" if kind == "hostpci" and verb == "set" else "real devices"
    raise wire.ApiError(500, wire.only_root_config(opt, verb, what))


# --- lxc ----------------------------------------------------------------------------------------


def _lxc_option(
    checks: _Checks, opt: str, value: Any, old: dict[str, Any], unprivileged: bool, delete: bool = False
) -> None:
    """check_ct_modify_config_perm for one option."""
    needed = _LXC_OPTIONS.get(opt)
    if needed is not None:
        checks.guest(needed)
    elif LXC_DISK.match(opt):
        checks.guest("VM.Config.Disk")
        if delete or not isinstance(value, str):
            return
        volume = split_drive(value)[0]
        if volume.startswith("/"):  # a bind mount or a device: not a volume
            kind = "device" if volume.startswith("/dev/") else "bind"
            raise wire.permission_failed(f"mount point type {kind} is only allowed for root@pam")
        m = _NEW_DISK.match(volume)
        if m and m.group(1):
            checks.on(f"/storage/{m.group(1)}", "Datastore.AllocateSpace")
        elif not m:
            _existing_volume(checks, volume)
    elif opt.startswith("net") and opt[3:].isdigit():
        checks.guest("VM.Config.Network")
    elif opt.startswith("dev") and opt[3:].isdigit():
        raise wire.permission_failed("configuring device passthrough is only allowed for root@pam")
    elif opt == "features":
        _lxc_features(checks, value, old.get(opt), unprivileged, delete)
    elif opt == "hookscript":
        raise wire.permission_failed("changing the hookscript is only allowed for root@pam")
    elif opt == "tags":
        checks.tags(old.get(opt), "" if delete else value)
    else:
        checks.guest("VM.Config.Options")


def _features(value: Any) -> dict[str, str]:
    return dict(p.partition("=")[::2] for p in str(value or "").split(",") if p)


def _lxc_features(checks: _Checks, value: Any, old: Any, unprivileged: bool, delete: bool) -> None:
    """Only the nesting flag of an unprivileged container is not root's alone (with VM.Allocate)."""
    if not unprivileged:
        raise wire.permission_failed("changing feature flags for privileged container is only allowed for root@pam")
    before, after = _features(old), ({} if delete else _features(value))
    changed = {k for k in before.keys() | after.keys() if before.get(k, "") != after.get(k, "")}
    if changed - {"nesting"}:
        raise wire.permission_failed("changing feature flags (except nesting) is only allowed for root@pam")
    if changed:
        checks.guest("VM.Allocate")


def _lxc_storages(checks: _Checks, call: Call, fields: dict[str, Any]) -> None:
    """A container's volumes need Datastore.AllocateSpace on their storage (`storage`, the default
    storage, for bare sizes and for a rootfs not given)."""
    default = str(call.args.get("storage") or "local")
    for opt, value in fields.items():
        if LXC_DISK.match(opt) and isinstance(value, str):
            m = _NEW_DISK.match(split_drive(value)[0])
            if m and not m.group(1):
                checks.on(f"/storage/{default}", "Datastore.AllocateSpace")
    if "rootfs" not in fields:
        checks.on(f"/storage/{default}", "Datastore.AllocateSpace")
