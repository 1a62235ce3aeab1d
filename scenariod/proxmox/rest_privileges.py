"""PBS and PDM privileges and the check of every call (proxmox-access-control, proxmox-router).

The privileges and built-in roles are those pbs-api-types and pdm-api-types declare; the ACL
walk is PVE's (`access.Acl` computes it for all three products); root@pam is the only superuser
(never one of its tokens: a token has what both it and its user are granted).

Every call is checked against its method's `permissions` in the API description, which is
proxmox-router's `Permission` (`check` with a path and privileges, `and`, `or`, `userParam`,
`user: all|world`, none at all = superuser only), answering 403 "permission check failed" as
proxmox-rest-server does. Lists that the daemons filter by privilege ask `allowed`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import wire
from .access import GUARDS, ROOT, acl_of, enforced, normalize_path

if TYPE_CHECKING:
    from ..world import Call

# The privileges in their declaration order (the order every list of them follows).
PRIVILEGES: dict[str, tuple[str, ...]] = {
    "pbs": (
        "Sys.Audit",
        "Sys.Modify",
        "Sys.PowerManagement",
        "Datastore.Audit",
        "Datastore.Allocate",
        "Datastore.Modify",
        "Datastore.Read",
        "Datastore.Verify",
        "Datastore.Backup",
        "Datastore.Prune",
        "Permissions.Modify",
        "Remote.Audit",
        "Remote.Modify",
        "Remote.Read",
        "Remote.DatastoreBackup",
        "Remote.DatastoreModify",
        "Remote.DatastorePrune",
        "Sys.Console",
        "Tape.Audit",
        "Tape.Modify",
        "Tape.Write",
        "Tape.Read",
        "Realm.Allocate",
    ),
    "pdm": (
        "System.Audit",
        "System.Modify",
        "Sys.Console",
        "Sys.PowerManagement",
        "Resource.Audit",
        "Resource.Manage",
        "Resource.Modify",
        "Resource.Create",
        "Resource.Delete",
        "Resource.Migrate",
        "Access.Audit",
        "Access.Modify",
        "Realm.Allocate",
    ),
}
ALL = ("*",)  # the administrator role: every privilege

# role -> (privileges, comment), in the order the daemons list them.
ROLES: dict[str, dict[str, tuple[tuple[str, ...], str]]] = {
    "pbs": {
        "Admin": (ALL, "Administrator"),
        "Audit": (("Sys.Audit", "Datastore.Audit"), "Auditor"),
        "NoAccess": ((), "Disable Access"),
        "DatastoreAdmin": (
            (
                "Datastore.Audit",
                "Datastore.Modify",
                "Datastore.Read",
                "Datastore.Verify",
                "Datastore.Backup",
                "Datastore.Prune",
            ),
            "Datastore Administrator",
        ),
        "DatastoreReader": (
            ("Datastore.Audit", "Datastore.Read", "Datastore.Verify"),
            "Datastore Reader (inspect datastore content and do restores)",
        ),
        "DatastoreBackup": (("Datastore.Backup",), "Datastore Backup (backup and restore owned backups)"),
        "DatastorePowerUser": (
            ("Datastore.Backup", "Datastore.Prune"),
            "Datastore PowerUser (backup, restore and prune owned backup)",
        ),
        "DatastoreAudit": (("Datastore.Audit",), "Datastore Auditor"),
        "RemoteAudit": (("Remote.Audit",), "Remote Auditor"),
        "RemoteAdmin": (("Remote.Audit", "Remote.Modify", "Remote.Read"), "Remote Administrator"),
        "RemoteSyncOperator": (("Remote.Audit", "Remote.Read"), "Synchronization Operator"),
        "RemoteSyncPushOperator": (
            ("Remote.Audit", "Remote.DatastoreBackup"),
            "Synchronisation Operator (push direction)",
        ),
        "RemoteDatastorePowerUser": (
            ("Remote.Audit", "Remote.DatastoreBackup", "Remote.DatastorePrune"),
            "Remote Datastore Prune",
        ),
        "RemoteDatastoreAdmin": (
            ("Remote.Audit", "Remote.DatastoreBackup", "Remote.DatastoreModify", "Remote.DatastorePrune"),
            "Remote Datastore Admin",
        ),
        "TapeAudit": (("Tape.Audit",), "Tape Auditor"),
        "TapeAdmin": (("Tape.Audit", "Tape.Modify", "Tape.Write", "Tape.Read"), "Tape Administrator"),
        "TapeOperator": (("Tape.Audit", "Tape.Write", "Tape.Read"), "Tape Operator"),
        "TapeReader": (("Tape.Audit", "Tape.Read"), "Tape Reader"),
    },
    # pdm-api-types' AccessControlConfig lists these two; NoAccess works in the ACL by its name only.
    "pdm": {
        "Administrator": (ALL, "Administrators can inspect and modify the system."),
        "Auditor": (
            ("System.Audit", "Resource.Audit", "Access.Audit"),
            "An Auditor can inspect many aspects of the system, but not change them.",
        ),
    },
}


def role_privileges(service: str, roleid: str) -> list[str]:
    privs, _ = ROLES[service][roleid]
    return list(PRIVILEGES[service]) if privs == ALL else [p for p in PRIVILEGES[service] if p in privs]


# --- privileges --------------------------------------------------------------------------------


def superuser(authid: str | None) -> bool:
    """proxmox-access-control's is_superuser: root@pam itself, never one of its tokens."""
    return authid == ROOT


def privileges(call: Call, authid: str, path: str) -> dict[str, int]:
    """Privilege -> propagate for `authid` on `path` (every privilege for the superuser)."""
    if superuser(authid):
        return dict.fromkeys(PRIVILEGES[call.scenario.service], 1)
    return acl_of(call.world).privileges(authid, normalize_path(path))


def allowed(call: Call, path: str, *privs: str) -> bool:
    """Whether the caller holds any of `privs` on `path`; always, where the scenario does not check."""
    who = call.user
    if who is None or superuser(who) or not enforced(call.scenario):
        return True
    have = privileges(call, who, path)
    return any(p in have for p in privs)


def any_below(call: Call, path: str, *privs: str) -> bool:
    """PBS's any_privs_below: one of `privs` on `path` or on a path below it that the ACL names."""
    if allowed(call, path, *privs):
        return True
    prefix = normalize_path(path).rstrip("/") + "/"
    return any(at.startswith(prefix) and allowed(call, at, *privs) for at in acl_of(call.world).by_path)


# --- enforcement ---------------------------------------------------------------------------------


def check(call: Call, args: dict[str, Any]) -> None:
    """proxmox-router's check_api_permission: the method's `permissions` against the caller.

    Only the path's own parameters fill `{name}` in a privilege path (as the router sees them).
    """
    who = call.user
    if who is None or superuser(who):
        return
    perms = call.op.permissions
    if perms is None or not _permits(perms, call, who):
        raise wire.ApiError(403, wire.REST_PERMISSION_FAILED)


def _permits(perm: dict[str, Any], call: Call, who: str) -> bool:
    if "and" in perm:
        return all(_permits(p, call, who) for p in perm["and"])
    if "or" in perm:
        return any(_permits(p, call, who) for p in perm["or"])
    if "userParam" in perm:
        return call.params.get(perm["userParam"]) == who
    if "check" in perm:
        rule = perm["check"]
        parts = []
        for part in rule.get("path", ()):
            if part.startswith("{") and part.endswith("}"):
                value = call.params.get(part[1:-1])
                if value is None:
                    return False
                part = value
            parts.append(part)
        have = privileges(call, who, "/" + "/".join(parts))
        if not have:
            return False
        wanted = rule.get("privs", ())
        return any(p in have for p in wanted) if rule.get("partial") else all(p in have for p in wanted)
    user = perm.get("user")
    return user in ("all", "world") or user == who


GUARDS["pbs"] = GUARDS["pdm"] = check
