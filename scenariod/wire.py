"""Proxmox facts on the wire: envelopes, error wording, reason phrases, UPIDs, ports, auth names.

Every string a real Proxmox node puts on the wire, and that a client may parse or match,
is spelled here and nowhere else, so that a fidelity fix is a one-line change.
"""

from __future__ import annotations

from dataclasses import dataclass
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


def reason_for(message: str) -> str:
    """Proxmox uses the first line of the error message as the HTTP reason phrase."""
    line = message.split("\n", 1)[0].strip()
    # A reason phrase cannot carry control characters; keep it to printable ASCII-ish text.
    return "".join(ch if ch.isprintable() else " " for ch in line)[:200] or "Error"


def encode_json(data: Any, extra: dict[str, Any] | None = None) -> bytes:
    if extra:
        return orjson.dumps({"data": data, **extra})
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


def not_implemented(method: str, path: str, fmt: str = "json") -> ApiError:
    return ApiError(501, f"Method '{method} /api2/{fmt}{path}' not implemented")


def parameter_error(errors: dict[str, str]) -> ApiError:
    return ApiError(400, PARAMETER_VERIFICATION_FAILED, errors=errors)


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


def already_exists(collection_template: str, key: str, params: dict[str, str]) -> ApiError:
    if collection_template in ("/nodes/{node}/qemu", "/nodes/{node}/lxc"):
        return ApiError(500, f"VM {key} already exists on node '{params.get('node', '')}'")
    noun = collection_template.rstrip("/").rsplit("/", 1)[-1] or "object"
    if noun.endswith("s"):
        noun = noun[:-1]
    return ApiError(500, f"{noun} '{key}' already exists")


DIGEST_MISMATCH = ApiError(500, "checksum mismatch (file change by other user?)")


# --- auth ----------------------------------------------------------------------------------

AUTH_FAILURE = "authentication failure"
NO_TICKET = "No ticket"
INVALID_TICKET = {
    "pve": "permission denied - invalid PVE ticket",
    "pbs": "permission denied - invalid PBS ticket",
    "pdm": "permission denied - invalid PDM ticket",
}
INVALID_CSRF = "Permission denied - invalid csrf token"


def permission_denied(path: str, privilege: str) -> ApiError:
    return ApiError(403, f"Permission check failed ({path}, {privilege})")


_PVE_CAP = {
    "access": {"Group.Allocate": 1, "Permissions.Modify": 1, "User.Modify": 1},
    "dc": {"Sys.Audit": 1, "Sys.Modify": 1, "SDN.Allocate": 1, "SDN.Audit": 1},
    "mapping": {"Mapping.Audit": 1, "Mapping.Modify": 1, "Mapping.Use": 1},
    "nodes": {"Sys.Audit": 1, "Sys.Console": 1, "Sys.Modify": 1, "Sys.PowerMgmt": 1, "Sys.Syslog": 1},
    "sdn": {"SDN.Allocate": 1, "SDN.Audit": 1, "SDN.Use": 1},
    "storage": {"Datastore.Allocate": 1, "Datastore.AllocateSpace": 1, "Datastore.AllocateTemplate": 1,
                "Datastore.Audit": 1},
    "vms": {"VM.Allocate": 1, "VM.Audit": 1, "VM.Backup": 1, "VM.Clone": 1, "VM.Config.CDROM": 1,
            "VM.Config.CPU": 1, "VM.Config.Cloudinit": 1, "VM.Config.Disk": 1, "VM.Config.HWType": 1,
            "VM.Config.Memory": 1, "VM.Config.Network": 1, "VM.Config.Options": 1, "VM.Console": 1,
            "VM.Migrate": 1, "VM.PowerMgmt": 1, "VM.Snapshot": 1, "VM.Snapshot.Rollback": 1},
}


def capabilities(service: str) -> dict[str, Any]:
    """The `cap` object of a login answer (a superuser's, as for root@pam)."""
    return _PVE_CAP if service == "pve" else {}


# --- UPIDs ---------------------------------------------------------------------------------


def format_upid(node: str, pid: int, pstart: int, starttime: int, task_type: str, task_id: str, user: str) -> str:
    """`UPID:NODE:PID:PSTART:STARTTIME:TYPE:ID:USER:` with 8 upper-case hex digits as PVE writes."""
    return f"UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{task_type}:{task_id}:{user}:"


def parse_upid(upid: str) -> dict[str, Any] | None:
    parts = upid.split(":")
    if len(parts) < 9 or parts[0] != "UPID":
        return None
    try:
        return {
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
}
