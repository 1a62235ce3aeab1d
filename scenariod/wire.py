"""Proxmox facts on the wire: envelopes, error wording, reason phrases, UPIDs, ports, auth names.

Every string a real Proxmox node puts on the wire, and that a client may parse or match,
is spelled here and nowhere else, so that a fidelity fix is a one-line change.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"

SERVICES = ("pve", "pbs", "pdm")
DEFAULT_PORTS = {"pve": 8006, "pbs": 8007, "pdm": 8443}
PRODUCT_NAMES = {
    "pve": "Proxmox VE",
    "pbs": "Proxmox Backup Server",
    "pdm": "Proxmox Datacenter Manager",
}
COOKIE_NAMES = {"pve": "PVEAuthCookie", "pbs": "PBSAuthCookie", "pdm": "PDMAuthCookie"}
TICKET_PREFIXES = {"pve": "PVE", "pbs": "PBS", "pdm": "PDM"}
# Authorization header scheme and the separator between token id and secret.
TOKEN_SCHEMES = {"pve": ("PVEAPIToken", "="), "pbs": ("PBSAPIToken", ":"), "pdm": ("PDMAPIToken", ":")}
CSRF_HEADER = "CSRFPreventionToken"
TICKET_LIFETIME = 7200.0

API_PREFIX = "/api2/"
FORMATS = ("json", "extjs")


class ApiError(Exception):
    """A Proxmox error answer: raised anywhere below the pipeline, rendered by it.

    `message` carries no trailing newline; the wire form adds it as Proxmox does.
    """

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


@dataclass(slots=True)
class Reply:
    """Data for the envelope plus keys Proxmox puts beside `data` (e.g. `total` for task logs)."""

    data: Any
    extra: dict[str, Any] | None = None


class Encoded:
    """An answer whose JSON envelope is serialized once: a cached view served as bytes."""

    __slots__ = ("data", "json")

    def __init__(self, data: Any) -> None:
        self.data = data
        self.json = encode_json(data)


def reason_for(message: str) -> str:
    """Proxmox uses the first line of the error message as the HTTP reason phrase."""
    line = message.split("\n", 1)[0].strip()
    # A reason phrase cannot carry control characters; keep it to printable ASCII-ish text.
    return "".join(ch if ch.isprintable() else " " for ch in line)[:200] or "Error"


_NULL_DATA = b'{"data":null}'  # the answer of most writes, encoded once


def encode_json(data: Any, extra: dict[str, Any] | None = None) -> bytes:
    if extra:
        return orjson.dumps({"data": data, **extra})
    if data is None:
        return _NULL_DATA
    return orjson.dumps({"data": data})


def error_body(err: ApiError) -> bytes:
    body: dict[str, Any] = {"data": None, "message": err.message + "\n"}
    if err.errors:
        body["errors"] = err.errors
    return orjson.dumps(body)


def encode_extjs(data: Any, status: int = 200, extra: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"success": 1, "data": data, "status": status}
    if extra:
        body.update(extra)
    return orjson.dumps(body)


def extjs_error_body(err: ApiError) -> bytes:
    body: dict[str, Any] = {
        "success": 0,
        "data": None,
        "message": err.message + "\n",
        "status": err.status,
    }
    if err.errors:
        body["errors"] = err.errors
    return orjson.dumps(body)


# --- error wording -------------------------------------------------------------------------

PARAMETER_VERIFICATION_FAILED = "Parameter verification failed."


def malformed_body(what: str, detail: str) -> ApiError:
    """A request body that cannot be read as parameters (JSON, a form): refused before anything."""
    return ApiError(400, f"malformed {what} in request body - {detail}")


def not_implemented(method: str, path: str, fmt: str = "json") -> ApiError:
    return ApiError(501, f"Method '{method} /api2/{fmt}{path}' not implemented")


def parameter_error(errors: dict[str, str]) -> ApiError:
    return ApiError(400, PARAMETER_VERIFICATION_FAILED, errors=errors)


def path_parameter_conflict(name: str) -> ApiError:
    """pve-http-server: a parameter sent again in the query or body with another value than the path's."""
    return parameter_error({name: "duplicate parameter (already defined in URI) with conflicting values!"})


# proxmox-subscription's check against Proxmox's shop, as it fails on a node without internet access
# (ureq's words for a name that does not resolve), and Subscription.pm's refusal to update an offline key.
SUBSCRIPTION_CHECK_OFFLINE = (
    "Error checking subscription: https://shop.proxmox.com/modules/servers/licensing/verify.php: Dns Failed: "
    "resolve dns name 'shop.proxmox.com:443': failed to lookup address information: "
    "Temporary failure in name resolution"
)
SUBSCRIPTION_OFFLINE_KEY = (
    "Updating offline key not possible - please remove and re-add subscription key to switch to online key."
)


def sdn_lock_refused(failure: str) -> ApiError:
    """pve-network's lock_sdn_config with a missing or wrong token, as pmxcfs's domain lock wraps the
    die (Perl's own `at FILE line N.` included: the die has no newline)."""
    return ApiError(
        500,
        f"{failure}: error with cfs lock 'domain-sdn': invalid lock token provided! "
        "at /usr/share/perl5/PVE/Network/SDN.pm line 291.",
    )


def guest_config_missing(node: str, vmid: Any, guest_type: str) -> ApiError:
    folder = "qemu-server" if guest_type == "qemu" else "lxc"
    return ApiError(500, f"Configuration file 'nodes/{node}/{folder}/{vmid}.conf' does not exist")


# Missing objects by collection template: what Proxmox says when an item is not there.
# `{key}` is the item's key value, `{node}` the node in the path if any.
_MISSING_OBJECT = {
    "/nodes": "hostname lookup '{key}' failed - failed to get address info for: {key}: Name or service not known",
    "/storage": "storage '{key}' does not exist",
    "/nodes/{node}/storage": "storage '{key}' does not exist",
    "/pools": "pool '{key}' does not exist",
    "/access/users": "no such user ('{key}')",
    "/access/groups": "group '{key}' does not exist",
    "/access/roles": "role '{key}' does not exist",
    "/access/domains": "domain '{key}' does not exist",
    "/nodes/{node}/qemu/{vmid}/snapshot": "snapshot '{key}' does not exist",
    "/nodes/{node}/lxc/{vmid}/snapshot": "snapshot '{key}' does not exist",
    "/nodes/{node}/tasks": "no such task",
    "/cluster/backup": "job '{key}' does not exist",
    "/cluster/ha/resources": "no such resource '{key}'",
    "/config/datastore": "unable to find datastore '{key}'",
    "/admin/datastore": "no such datastore '{key}'",
    "/remotes/remote": "no such remote '{key}'",
    "/pve/remotes": "no such remote '{key}'",
    "/pbs/remotes": "no such remote '{key}'",
}


def missing_object(collection_template: str, key: str, params: dict[str, str]) -> ApiError:
    """The error for an item that is not in its collection, worded as Proxmox words it."""
    if collection_template in ("/nodes/{node}/qemu", "/nodes/{node}/lxc"):
        kind = "qemu" if collection_template.endswith("qemu") else "lxc"
        return guest_config_missing(params.get("node", "localhost"), key, kind)
    template = _MISSING_OBJECT.get(collection_template)
    if template is None:
        noun = collection_template.rstrip("/").rsplit("/", 1)[-1] or "object"
        return ApiError(500, f"{noun} '{key}' does not exist")
    return ApiError(500, template.format(key=key, node=params.get("node", "")))


# A create of a key already taken, as PVE words it (pve-storage's storage config lock; the
# user.cfg lock names what failed: `create pool failed: ...`; jobs.cfg; replication.cfg).
_ALREADY_EXISTS = {
    "/storage": "storage ID '{key}' already defined",
    "/pools": "create pool failed: pool '{key}' already exists",
    "/access/users": "create user failed: user '{key}' already exists",
    "/access/groups": "create group failed: group '{key}' already exists",
    "/access/roles": "create role failed: role '{key}' already exists",
    "/cluster/backup": "Job '{key}' already exists",
    "/cluster/replication": "replication job '{key}' already exists",
}


def already_exists(collection_template: str, key: str, params: dict[str, str]) -> ApiError:
    if collection_template in ("/nodes/{node}/qemu", "/nodes/{node}/lxc"):
        return ApiError(500, f"VM {key} already exists on node '{params.get('node', '')}'")
    template = _ALREADY_EXISTS.get(collection_template)
    if template is not None:
        return ApiError(500, template.format(key=key))
    noun = collection_template.rstrip("/").rsplit("/", 1)[-1] or "object"
    if noun.endswith("s"):
        noun = noun[:-1]
    return ApiError(500, f"{noun} '{key}' already exists")


# PVE HA resources (pve-ha-manager: PVE::HA::Config::parse_sid, PVE::API2::HA::Resources,
# PVE::HA::Resources::PVEVM/PVECT->exists).
HA_TYPES = {"vm": "qemu", "ct": "lxc"}  # an HA service type and the guest type it manages


def ha_sid_unparsable(sid: str) -> ApiError:
    return ApiError(500, f"unable to parse service id '{sid}'")


def ha_vmid_unknown(vmid: str) -> ApiError:
    return ApiError(500, f"unable to detect SID from VMID - VM/CT {vmid} does not exist")


def ha_guest_missing(sid: str) -> ApiError:
    return ApiError(500, f"resource '{sid}' does not exist in cluster")


def ha_guest_wrong_type(sid: str, vmid: str) -> ApiError:
    what = "a VM" if sid.startswith("vm:") else "a container"
    return ApiError(500, f"resource '{sid}' - guest with ID {vmid} is not {what}")


def ha_already_defined(sid: str) -> ApiError:
    return ApiError(500, f"resource ID '{sid}' already defined")


def ha_not_managed(sid: str) -> ApiError:
    return ApiError(500, f"cannot delete service '{sid}', not HA managed!")


# PVE::Ceph::Tools::check_ceph_installed, on a node where Ceph was never installed.
CEPH_NOT_INSTALLED = "binary not installed: /usr/bin/ceph-mon"

# PVE::AccessControl::lock_user_config prefixes what fails inside with the operation's name.
POOL_UPDATE_FAILED = "update pools failed"
POOL_DELETE_FAILED = "delete pool failed"
ACL_UPDATE_FAILED = "ACL update failed"

DIGEST_MISMATCH = ApiError(500, "checksum mismatch (file change by other user?)")

# The hash behind a configuration's `digest`: PVE hands out SHA-1 (40 hex digits); PBS and PDM
# SHA-256 (64 hex digits, the `^[a-f0-9]{64}$` their API descriptions declare). A PDM view of a
# remote PVE guest's config carries the remote's SHA-1, so the hash follows who owns the file.
DIGEST_ALGORITHMS = {"pve": "sha1", "pbs": "sha256", "pdm": "sha256"}

# Statuses Proxmox answers that HTTP does not name (a node the proxy cannot reach).
PROXMOX_REASONS = {595: "No route to host", 596: "Connection timed out"}


def status_message(status: int) -> str:
    """The message of an error given only its status: HTTP's phrase, or Proxmox's for 595/596."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return PROXMOX_REASONS.get(status, "Error")


# --- auth ----------------------------------------------------------------------------------

# Parameters that carry a secret (a password, an endpoint's token, a key). Proxmox stores them
# apart from the configuration (/etc/pve/priv, the notification secrets file) and never answers
# them: one is write-only where the GET answer's declared properties leave it out, or declare
# none (runtime.Runtime.write_only).
SECRET_PARAMETERS = frozenset(
    {
        "password",
        "confirmation-password",
        "token",
        "secret",
        "key",
        "keys",
        "keyring",
        "encryption-key",
        "eab-hmac-key",
        "client-key",
        # SDN's global lock (POST /cluster/sdn/lock): every SDN write carries it, pve-network
        # extracts it before writing the configuration, no SDN object ever holds it
        "lock-token",
    }
)

AUTH_FAILURE = "authentication failure"
NO_TICKET = "No ticket"
INVALID_TICKET = {
    "pve": "permission denied - invalid PVE ticket",
    "pbs": "permission denied - invalid PBS ticket",
    "pdm": "permission denied - invalid PDM ticket",
}
INVALID_CSRF = "Permission denied - invalid csrf token"


def permission_denied(path: str, privilege: str) -> ApiError:
    return permission_failed(f"{path}, {privilege}")


def storage_refuses_guests(kind: str, storage: str) -> str:
    """qemu-server's and pve-container's words for a new volume on a storage without its content type."""
    what = "vm images" if kind == "qemu" else "container directories"
    return f"storage '{storage}' does not support {what}"


def no_backups_on(storage: str) -> str:
    """Why a vzdump task to a storage without `backup` content fails (PVE::VZDump's words)."""
    why = f"can't use storage '{storage}' for backups - wrong content type"
    return f"could not get storage information for '{storage}': {why}"


def only_root_config(option: str, verb: str = "set", what: str | None = None) -> str:
    """qemu-server's refusal of an option only root@pam may set (a die: HTTP 500)."""
    return f"only root can {verb} '{option}' config" + (f" for {what}" if what else "")


def tag_needs_sys_modify(tag: str) -> str:
    """assert_tag_permissions' refusal (inside raise_perm_exc's parentheses) of a tag the caller may not set."""
    return f"/, Sys.Modify for modifying tag '{tag}'"


def unknown_config_option(param: str, option: str) -> ApiError:
    """A `delete` or `revert` naming an option the guest type does not have."""
    return parameter_error({param: f"unknown option '{option}'"})


def revert_clash(kind: str, option: str, deleted: bool) -> ApiError:
    """An option both reverted and set (`deleted` False) or deleted. qemu-server and pve-container
    word it differently and name different parameters; these are their texts, quotes as they are."""
    quote = "" if kind == "qemu" else "'"
    used = f"'-delete {option}'" if deleted else f"'-{option}'"
    text = f"you can't use {used} and {quote}-revert {option}' at the same time"
    named = deleted == (kind == "qemu")  # qemu names `revert` for a deleted option, pve-container `delete`
    return parameter_error({"revert" if named else "delete": text})


def permission_failed(what: str | None) -> ApiError:
    """PVE's raise_perm_exc: the failed check in parentheses when there is one to name."""
    return ApiError(403, f"Permission check failed ({what})" if what else "Permission check failed")


_PVE_CAP = {
    "access": {"Group.Allocate": 1, "Permissions.Modify": 1, "User.Modify": 1},
    "dc": {"Sys.Audit": 1, "Sys.Modify": 1, "SDN.Allocate": 1, "SDN.Audit": 1},
    "mapping": {"Mapping.Audit": 1, "Mapping.Modify": 1, "Mapping.Use": 1},
    "nodes": {"Sys.Audit": 1, "Sys.Console": 1, "Sys.Modify": 1, "Sys.PowerMgmt": 1, "Sys.Syslog": 1},
    "sdn": {"SDN.Allocate": 1, "SDN.Audit": 1, "SDN.Use": 1},
    "storage": {
        "Datastore.Allocate": 1,
        "Datastore.AllocateSpace": 1,
        "Datastore.AllocateTemplate": 1,
        "Datastore.Audit": 1,
    },
    "vms": {
        "VM.Allocate": 1,
        "VM.Audit": 1,
        "VM.Backup": 1,
        "VM.Clone": 1,
        "VM.Config.CDROM": 1,
        "VM.Config.CPU": 1,
        "VM.Config.Cloudinit": 1,
        "VM.Config.Disk": 1,
        "VM.Config.HWType": 1,
        "VM.Config.Memory": 1,
        "VM.Config.Network": 1,
        "VM.Config.Options": 1,
        "VM.Console": 1,
        "VM.Migrate": 1,
        "VM.PowerMgmt": 1,
        "VM.Snapshot": 1,
        "VM.Snapshot.Rollback": 1,
    },
}


def capabilities(service: str) -> dict[str, Any]:
    """The `cap` object of a login answer (a superuser's, as for root@pam)."""
    return _PVE_CAP if service == "pve" else {}


# --- UPIDs ---------------------------------------------------------------------------------


def format_upid(node: str, pid: int, pstart: int, starttime: int, task_type: str, task_id: str, user: str) -> str:
    """`UPID:NODE:PID:PSTART:STARTTIME:TYPE:ID:USER:` with 8 upper-case hex digits as PVE writes."""
    return f"UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{task_type}:{task_id}:{user}:"


def format_rest_server_upid(
    node: str, pid: int, pstart: int, task_no: int, starttime: int, task_type: str, task_id: str, auth_id: str
) -> str:
    """PBS and PDM (proxmox-rest-server): `UPID:NODE:PID:PSTART:TASKNO:STARTTIME:TYPE:ID:AUTHID:`.

    TASKNO counts the daemon's workers from 0; the worker id is systemd-escaped
    (`store1:vm/100` is written `store1\\x3avm-100`).
    """
    wid = escape_unit(task_id)
    return f"UPID:{node}:{pid:08X}:{pstart:08X}:{task_no:08X}:{starttime:08X}:{task_type}:{wid}:{auth_id}:"


def format_service_upid(
    service: str,
    node: str,
    pid: int,
    pstart: int,
    task_no: int,
    starttime: int,
    task_type: str,
    task_id: str,
    user: str,
) -> str:
    """The UPID in the format of `service` (PVE's, or proxmox-rest-server's for PBS and PDM)."""
    if service in REST_SERVER_SERVICES:
        return format_rest_server_upid(node, pid, pstart, task_no, starttime, task_type, task_id, user)
    return format_upid(node, pid, pstart, starttime, task_type, task_id, user)


# Services whose tasks are proxmox-rest-server workers (UPIDs with a task number, escaped ids).
REST_SERVER_SERVICES = ("pbs", "pdm")


def escape_unit(text: str) -> str:
    """systemd unit-name escaping as proxmox-rest-server applies it to worker ids:
    `/` becomes `-`, every byte but `[A-Za-z0-9_.]` (and a leading `.`) becomes `\\xNN`."""
    out = []
    for i, byte in enumerate(text.encode()):
        if byte == 0x2F:
            out.append("-")
        elif (i == 0 and byte == 0x2E) or not (chr(byte).isascii() and (chr(byte).isalnum() or byte in (0x5F, 0x2E))):
            out.append(f"\\x{byte:02x}")
        else:
            out.append(chr(byte))
    return "".join(out)


def unescape_unit(text: str) -> str:
    """The inverse of `escape_unit` (`-` reads back as `/`)."""
    raw = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and text[i + 1 : i + 2] == "x" and i + 4 <= len(text):
            try:
                raw.append(int(text[i + 2 : i + 4], 16))
                i += 4
                continue
            except ValueError:
                pass
        raw.extend(b"/" if ch == "-" else ch.encode())
        i += 1
    return raw.decode("utf-8", "replace")


def parse_upid(upid: str) -> dict[str, Any] | None:
    """The fields of a PVE UPID (9 colon-separated parts) or a PBS/PDM one (10 parts: with the
    task number, and the worker id unescaped). A PDM remote UPID (`REMOTE!UPID:...`) parses
    as the UPID after the `!`, with `remote` set."""
    remote = None
    if not upid.startswith("UPID:") and "!UPID:" in upid:
        remote, _, upid_part = upid.partition("!")
    else:
        upid_part = upid
    parts = upid_part.split(":")
    if len(parts) < 9 or parts[0] != "UPID":
        return None
    try:
        if len(parts) >= 10:
            out: dict[str, Any] = {
                "upid": upid,
                "node": parts[1],
                "pid": int(parts[2], 16),
                "pstart": int(parts[3], 16),
                "task_no": int(parts[4], 16),
                "starttime": int(parts[5], 16),
                "type": parts[6],
                "id": unescape_unit(parts[7]),
                "user": parts[8],
            }
        else:
            out = {
                "upid": upid,
                "node": parts[1],
                "pid": int(parts[2], 16),
                "pstart": int(parts[3], 16),
                "starttime": int(parts[4], 16),
                "type": parts[5],
                "id": parts[6],
                "user": parts[7],
            }
    except ValueError:
        return None
    if remote is not None:
        out["remote"] = remote
    return out


# The UPID type of the worker each operation starts, as PVE names them.
TASK_TYPES: dict[tuple[str, str], str] = {
    ("POST", "/nodes/{node}/qemu"): "qmcreate",
    ("DELETE", "/nodes/{node}/qemu/{vmid}"): "qmdestroy",
    ("POST", "/nodes/{node}/qemu/{vmid}/status/start"): "qmstart",
    ("POST", "/nodes/{node}/qemu/{vmid}/status/stop"): "qmstop",
    ("POST", "/nodes/{node}/qemu/{vmid}/status/shutdown"): "qmshutdown",
    ("POST", "/nodes/{node}/qemu/{vmid}/status/reboot"): "qmreboot",
    ("POST", "/nodes/{node}/qemu/{vmid}/status/reset"): "qmreset",
    ("POST", "/nodes/{node}/qemu/{vmid}/status/suspend"): "qmsuspend",
    ("POST", "/nodes/{node}/qemu/{vmid}/status/resume"): "qmresume",
    ("POST", "/nodes/{node}/qemu/{vmid}/clone"): "qmclone",
    ("POST", "/nodes/{node}/qemu/{vmid}/migrate"): "qmigrate",
    ("POST", "/nodes/{node}/qemu/{vmid}/config"): "qmconfig",
    ("POST", "/nodes/{node}/qemu/{vmid}/snapshot"): "qmsnapshot",
    ("POST", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback"): "qmrollback",
    ("DELETE", "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}"): "qmdelsnapshot",
    ("POST", "/nodes/{node}/qemu/{vmid}/template"): "qmtemplate",
    ("POST", "/nodes/{node}/qemu/{vmid}/move_disk"): "qmmove",
    ("PUT", "/nodes/{node}/qemu/{vmid}/resize"): "resize",
    ("PUT", "/nodes/{node}/lxc/{vmid}/resize"): "resize",
    ("POST", "/nodes/{node}/lxc/{vmid}/move_volume"): "move_volume",
    ("POST", "/nodes/{node}/lxc"): "vzcreate",
    ("DELETE", "/nodes/{node}/lxc/{vmid}"): "vzdestroy",
    ("POST", "/nodes/{node}/lxc/{vmid}/status/start"): "vzstart",
    ("POST", "/nodes/{node}/lxc/{vmid}/status/stop"): "vzstop",
    ("POST", "/nodes/{node}/lxc/{vmid}/status/shutdown"): "vzshutdown",
    ("POST", "/nodes/{node}/lxc/{vmid}/status/reboot"): "vzreboot",
    ("POST", "/nodes/{node}/lxc/{vmid}/status/suspend"): "vzsuspend",
    ("POST", "/nodes/{node}/lxc/{vmid}/status/resume"): "vzresume",
    ("POST", "/nodes/{node}/lxc/{vmid}/clone"): "vzclone",
    ("POST", "/nodes/{node}/lxc/{vmid}/migrate"): "vzmigrate",
    ("POST", "/nodes/{node}/lxc/{vmid}/snapshot"): "vzsnapshot",
    ("POST", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback"): "vzrollback",
    ("DELETE", "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}"): "vzdelsnapshot",
    ("POST", "/nodes/{node}/vzdump"): "vzdump",
    ("POST", "/nodes/{node}/storage/{storage}/download-url"): "download",
    ("POST", "/nodes/{node}/storage/{storage}/upload"): "imgcopy",
    ("POST", "/nodes/{node}/startall"): "startall",
    ("POST", "/nodes/{node}/stopall"): "stopall",
    ("POST", "/nodes/{node}/apt/update"): "aptupdate",
    ("POST", "/nodes/{node}/services/{service}/start"): "srvstart",
    ("POST", "/nodes/{node}/services/{service}/stop"): "srvstop",
    ("POST", "/nodes/{node}/services/{service}/restart"): "srvrestart",
    ("POST", "/nodes/{node}/services/{service}/reload"): "srvreload",
    # PBS (proxmox-backup) worker types
    ("POST", "/config/datastore"): "create-datastore",
    ("DELETE", "/config/datastore/{name}"): "delete-datastore",
    ("POST", "/admin/datastore/{store}/gc"): "garbage_collection",
    ("POST", "/admin/datastore/{store}/prune"): "prune",
    ("POST", "/admin/datastore/{store}/prune-datastore"): "prune",
    ("POST", "/admin/datastore/{store}/verify"): "verify",
    ("POST", "/admin/datastore/{store}/mount"): "mount-device",
    ("POST", "/admin/datastore/{store}/unmount"): "unmount-device",
    ("POST", "/admin/sync/{id}/run"): "syncjob",
    ("POST", "/admin/verify/{id}/run"): "verificationjob",
    ("POST", "/admin/prune/{id}/run"): "prunejob",
    ("POST", "/pull"): "sync",
    ("POST", "/push"): "sync",
    ("POST", "/tape/backup"): "tape-backup",
    ("POST", "/tape/restore"): "tape-restore",
    ("POST", "/nodes/{node}/disks/zfs"): "zfscreate",
    ("POST", "/nodes/{node}/disks/directory"): "dircreate",
    ("POST", "/nodes/{node}/disks/initgpt"): "diskinit",
    ("PUT", "/nodes/{node}/disks/wipedisk"): "wipedisk",
    ("POST", "/access/domains/{realm}/sync"): "realm-sync",
    # PDM (proxmox-datacenter-manager) worker types
    ("POST", "/remotes/tasks/refresh"): "refresh-remote-tasks",
    ("POST", "/remotes/updates/refresh"): "refresh-remote-updates",
}


# --- PVE wording ---------------------------------------------------------------------------
# Refusals of PVE's API (pve-manager, qemu-server, pve-container, pve-access-control), as texts:
# the caller decides the status and whether the refusal ends a worker or answers at once.

NO_ROUTE_TO_HOST = "no route to host"  # a node the cluster cannot reach (status 595)
PVE_TASK_MISSING = "no such task"
PVE_TOKEN_EXISTS = "Token already exists."
TARGET_IS_LOCAL_NODE = "target is local node."
QEMU_ONLINE_MIGRATION_NEEDED = "can't migrate running VM without --online"
LXC_LIVE_MIGRATION_UNSUPPORTED = "lxc live migration is currently not implemented"


def guest_label(kind: str) -> str:
    """How PVE names a guest in its messages: `VM 100`, `CT 200`."""
    return "VM" if kind == "qemu" else "CT"


def pve_user_missing(userid: str) -> str:
    return f"no such user ('{userid}')"


def pve_token_missing(userid: str, name: str) -> str:
    return f"no such token '{name}' for user '{userid}'"


def vmid_taken(vmid: Any) -> str:
    return f"VM {vmid} already exists"


def vmid_in_use(vmid: Any, node: str, kind: str) -> str:
    """PVE::Cluster::check_vmid_unused: it names the type of guest holding the id and its node."""
    return f"{guest_label(kind)} {vmid} already exists on node '{node}'"


def guest_create_failed(kind: str, vmid: Any, restore: bool, reason: str) -> str:
    """How qemu-server and pve-container wrap a create's failure (`create_and_lock_config`, the worker)."""
    return f"unable to {'restore' if restore else 'create'} {guest_label(kind)} {vmid} - {reason}"


def clone_target_exists(kind: str, newid: Any) -> str:
    return f"unable to create {guest_label(kind)} {newid}: config file already exists"


def no_such_cluster_node(node: str) -> str:
    return f"no such cluster node '{node}'"


def guest_locked(kind: str, vmid: Any, lock: str) -> str:
    return f"{guest_label(kind)} {vmid} is locked ({lock})"


def guest_running_destroy(kind: str, vmid: Any) -> str:
    return f"{guest_label(kind)} {vmid} is running - destroy failed"


def guest_running_template(kind: str) -> str:
    return f"you can't convert a running {guest_label(kind)} to a template"


def guest_already_running(kind: str, vmid: Any) -> str:
    return f"{guest_label(kind)} {vmid} already running"


def guest_not_running(kind: str, vmid: Any) -> str:
    return f"{guest_label(kind)} {vmid} not running"


def guest_not_paused(kind: str, vmid: Any) -> str:
    return f"{guest_label(kind)} {vmid} not paused"


def snapshot_missing(name: str) -> str:
    return f"snapshot '{name}' does not exist"


def snapshot_name_used(name: str) -> str:
    return f"snapshot name '{name}' already used"


# --- PBS and PDM wording ---------------------------------------------------------------------
# proxmox-rest-server daemons (PBS, PDM) answer most refusals with 400 and the error text.


REST_PERMISSION_FAILED = "permission check failed"  # proxmox-rest-server's 403 (and PBS's namespace checks)
# proxmox-access-control's ACL refusals (400); PBS's own copy ends some of them with a full stop.
REST_ACL_GROUP_UNPRIVILEGED = "Unprivileged users are not allowed to create group ACL item."
REST_ACL_NEEDS_AUTH_ID = "Unprivileged user needs to provide auth_id to update ACL item."
REST_ACL_TOKEN_UNPRIVILEGED = "Unprivileged API tokens can't set ACL items."
REST_ACL_ONLY_TOKENS = "Unprivileged users can only set ACL items for API tokens."
REST_ACL_ONLY_OWN_TOKENS = "Unprivileged users can only set ACL items for their own API tokens."
PBS_PASSWORD_NOT_YOURS = "you are not authorized to change the password."
REST_TASK_NOT_YOURS = "task access not allowed"
REST_TOKENS_NOT_HERE = "API tokens cannot access this API endpoint"
PDM_ROLE_MISSING = "Role does not exist, please make sure to specify a valid role!"
REST_PAM_CREDENTIALS = "only superuser can edit pam credentials!"


def rest_user_missing_for_auth(userid: str) -> str:
    return f"user '{userid}' does not exists."


def rest_acl_no_such(service: str, token: bool) -> str:
    text = "no such API token" if token else "no such user"
    return text + "." if service == "pbs" or not token else text


def rest_acl_groups_unsupported(service: str) -> str:
    return "parameter 'group' - groups are currently not supported" + ("." if service == "pbs" else "")


def rest_acl_missing_target(service: str) -> str:
    return "missing 'userid' or 'group' parameter." if service == "pbs" else "missing 'userid' parameter"


def rest_acl_bad_path(path: str) -> str:
    return f"invalid acl path '{path}'."


def rest_permissions_of(authid: str) -> str:
    return f"not allowed to list permissions of {authid}"


def rest_config_modified() -> str:
    return "detected modified configuration - file changed by other user? Try again."


def rest_token_exists(userid: str, name: str) -> str:
    return f"token '{name}' for user '{userid}' already exists."


def rest_token_missing(userid: str, name: str) -> str:
    return f"no such token '{userid}!{name}'"


def rest_bad_upid(upid: str) -> str:
    return f"unable to parse UPID '{upid}'"


def rest_task_missing(upid: str) -> str:
    return f"no such task '{upid}'"


def pbs_owner_check_failed(authid: str, owner: str) -> str:
    return f"backup owner check failed ({authid} != {owner})"


PBS_ROOT_NAMESPACE_FIXED = "Cannot create/delete root namespace!"


def pbs_ns_privs_missing(privs: list[str], path: str) -> str:
    """check_ns_privs_full's 403: the privileges that would have done, in declaration order."""
    return f"permission check failed - missing {'|'.join(privs)} on {path}"


def pbs_change_owner_denied(authid: str, group: str, new_owner: str) -> str:
    """set_backup_owner's 401 when Datastore.Backup alone does not cover the hand-over."""
    return f"{authid} does not have permission to change owner of backup group '{group}' to {new_owner}"


def pbs_authid_inactive(authid: str) -> str:
    return f"{'API token' if '!' in authid else 'user'} '{authid}' is inactive or non-existent"


# A group's owner is a file in its directory; a group that does not exist has neither (ENOENT).
NO_SUCH_FILE = "No such file or directory (os error 2)"


def pbs_owner_unreadable(path: str) -> str:
    return f'unable to read "{path}" - {NO_SUCH_FILE}'


def pbs_owner_uncreatable(path: str) -> str:
    return f'unable to create owner file "{path}" - {NO_SUCH_FILE}'


def pbs_datastore_exists(name: str) -> str:
    return f"datastore '{name}' already exists."


def pbs_datastore_missing(name: str) -> str:
    return f"datastore '{name}' does not exist."


def pbs_snapshot_missing(snapshot: str) -> str:
    return f"backup snapshot '{snapshot}' does not exist"


def pbs_group_missing(group: str) -> str:
    return f"backup group '{group}' does not exist"


def pbs_snapshot_protected(snapshot: str) -> str:
    return f"cannot remove protected snapshot '{snapshot}'"


def pbs_group_partially_deleted(group: str) -> str:
    return f"group '{group}' only partially deleted due to protected snapshots"


def pbs_namespace_exists(ns: str) -> str:
    return f"namespace '{ns}' already exists"


def pbs_namespace_missing(ns: str) -> str:
    return f"namespace '{ns}' does not exist" if ns else "cannot delete root namespace"


def pbs_namespace_not_empty(ns: str) -> str:
    return f"namespace '{ns}' is not empty (use delete-groups to remove its backup groups)"


def pbs_store_and_ns(store: str, ns: str) -> str:
    """How PBS names a datastore and namespace in task logs."""
    return f"datastore '{store}', namespace '{ns}'" if ns else f"datastore '{store}', root namespace"


PBS_VERIFY_FAILED = "verification failed - please check the log for details"
PBS_VERIFY_NEEDS_GROUP = "parameter verification errors - backup-type and backup-id are needed"
PBS_PRUNE_SETTINGS_MOVED = "datastore prune settings have been replaced by prune jobs"


def pdm_remote_exists(remote: str) -> str:
    return f"remote '{remote}' already exists"


def pdm_remote_missing(remote: str) -> str:
    return f"no such remote '{remote}'"


def pdm_guest_missing(remote: str, vmid: Any) -> str:
    return f"no such guest '{vmid}' on remote '{remote}'"


def pdm_view_missing(view: str) -> str:
    return f"no such view '{view}'"


# PDM talking to a live remote (proxmox-client's Error and PDM's MultiClient, as PDM words them).
# `/resources/list` shows a failed remote's error as the root cause of the chain; other
# per-remote calls answer 400 with the whole chain's first line.
PDM_REMOTE_TIMED_OUT = "failed to perform API request: timed out"  # MultiClient: no endpoint answered in time
# A TLS peer whose certificate fails verification (fingerprint pin or CA): OpenSSL's own words.
TLS_VERIFY_FAILED = (
    "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:"
    "../ssl/statem/statem_clnt.c:2102:"
)


def os_error(errno: int, text: str) -> str:
    """An OS error as Rust's std::io::Error shows it: `Connection refused (os error 111)`."""
    return f"{text} (os error {errno})"


def pdm_connect_failed(cause: str) -> str:
    return f"connection failed: {cause}"


def pdm_bad_api(detail: str) -> str:
    """A remote's answer PDM cannot read (proxmox-client's `Error::BadApi`)."""
    return f"api returned unexpected data - {detail}"


def pdm_remote_api_error(status: int, message: str) -> str:
    """A remote's own error answer, as proxmox-client's `Error::Api` shows it."""
    return f"api error (status = {status}: {message})"


PDM_NO_REMOTE_NODES = "no nodes configured for remote"
PDM_NO_TARGET_NODES = "no nodes configured for target cluster"
PDM_MIGRATE_SAME_CLUSTER = "source and destination clusters must be different"


def pdm_endpoint_not_in_target(hostname: str) -> str:
    return f"{hostname} not configured for target cluster"


# scenariod's own limit, not PDM's words: a declared remote has no node that could reach a live one
LIVE_REMOTE_MIGRATE_UNSUPPORTED = "scenariod: remote-migrate from a declared remote to a live one is not implemented"
PDM_BAD_FINGERPRINT = "failed to parse fingerprint"  # proxmox-client's ParseFingerprintError
HYPER_CONNECTION_CLOSED = "connection closed before message completed"  # the remote broke off its answer

# --- remote migration (qemu-server's remote_migrate_vm, QemuMigrate, PVE::APIClient::LWP) ---------------

REMOTE_MIGRATE_NEEDS_STORAGE_MAP = "remote migration requires explicit storage mapping!"
REMOTE_MIGRATE_WITH_SNAPSHOTS = "remote migration with snapshots not supported yet"
REMOTE_ENDPOINT_NODE_UNKNOWN = "couldn't determine endpoint's node name"
MIGRATION_ABORTED = "migration aborted"  # the exit status of a failed migration task
LWP_READ_TIMEOUT = "read timeout"
# scenariod's own limit: a container's migration would need the target's mtunnel, which it does not mock
LXC_REMOTE_MIGRATE_UNSUPPORTED = "scenariod: remote migration of containers is not implemented"


def lwp_connect_failed(host: str, port: int, reason: str) -> str:
    """LWP's answer when it never reached the server (PVE::APIClient passes it on, status 500)."""
    return f"Can't connect to {host}:{port} ({reason})"


def fingerprint_not_verified(fingerprint: str) -> str:
    """PVE::APIClient::LWP refusing a certificate whose SHA-256 fingerprint it was not given."""
    return f"fingerprint '{fingerprint}' not verified, abort!"


def migration_duration(seconds: float) -> str:
    """QemuMigrate's `(duration HH:MM:SS)`."""
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


# Collections whose `{param}` child takes the rest of the path, slashes included (Proxmox's
# `fragmentDelimiter => ''`): template segments of the collection, by service.
WHOLE_FRAGMENT_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "pve": (("nodes", "{node}", "storage", "{storage}", "content"),),
}

# The guest agent's refusals (PVE::QemuServer::Agent::assert_agent_available).
AGENT_NOT_CONFIGURED = "No QEMU guest agent configured"
AGENT_NOT_RUNNING = "QEMU guest agent is not running"


def agent_guest_not_running(vmid: Any) -> str:
    return f"VM {vmid} is not running"
