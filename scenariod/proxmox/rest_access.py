"""PBS and PDM access control API: roles, the ACL, permissions, users' passwords and lists.

Both daemons keep access as proxmox-access-control does: an ACL of `{path, ugid, ugid_type,
roleid, propagate}` changed one entry at a time by `PUT /access/acl` (`auth-id` or `group`,
`role`, `delete`), refused in their words; `GET /access/permissions` computed from it. What a
caller holds, and the check of every call, are rest_privileges'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import generic, wire
from ..state import MISSING
from . import handles, prepares
from .access import ROOT, acl_of, normalize_path
from .rest_privileges import PRIVILEGES, ROLES, allowed, privileges, role_privileges, superuser
from .restserver import REST, normalize_users

if TYPE_CHECKING:
    from ..scenario.model import Scenario
    from ..world import Call, World

# What lets a caller see every ACL entry and change any (PBS: on /access/acl; PDM likewise).
ACL_AUDIT = {"pbs": "Sys.Audit", "pdm": "Access.Audit"}
ACL_MODIFY = {"pbs": "Permissions.Modify", "pdm": "Access.Modify"}
# Paths `GET /access/permissions` always considers, besides those the ACL names.
DEFAULT_PATHS = {
    "pbs": ("/", "/access", "/datastore", "/remote", "/system"),
    "pdm": ("/", "/access", "/resource", "/system"),
}
# The role that replaces every other of an auth id on a path, and that any other replaces (PBS's
# ROLE_NAME_NO_ACCESS; PDM's access control names none, and lists no such role).
ROLE_NO_ACCESS = {"pbs": "NoAccess"}
MAX_NAMESPACE_DEPTH = 7  # pbs-api-types: namespaces nest at most this deep
# /system/X with nothing below it, per product (PDM's auto-installer has its own).
SYSTEM_LEAVES = {
    "pbs": ("certificates", "disks", "log", "notifications", "status", "tasks", "time"),
    "pdm": ("auto-installation", "certificates", "disks", "log", "notifications", "status", "tasks", "time"),
}


@prepares(*REST)
def seed_rest_access(world: World, scenario: Scenario) -> None:
    """The built-in roles, and the seeded ACL as the daemon lists it (`ugid_type`, real booleans)."""
    store, service = world.store, scenario.service
    for roleid, (_, comment) in ROLES[service].items():
        store.set(
            ("access", "roles", roleid),
            {"roleid": roleid, "privs": role_privileges(service, roleid), "comment": comment},
        )
    entries = store.get("/access/acl")
    store.set("/access/acl", [_entry(e) for e in entries if isinstance(e, dict)] if isinstance(entries, list) else [])


def _entry(raw: dict[str, Any]) -> dict[str, Any]:
    ugid = str(raw.get("ugid") or raw.get("auth-id") or raw.get("group") or "")
    kind = raw.get("ugid_type") or ("group" if raw.get("group") and not raw.get("ugid") else "user")
    propagate = raw.get("propagate", True)
    return {
        "path": normalize_path(str(raw.get("path", "/"))),
        "ugid": ugid,
        "ugid_type": str(kind),
        "roleid": str(raw.get("roleid") or raw.get("role") or ""),
        "propagate": propagate if isinstance(propagate, bool) else str(propagate).lower() not in ("0", "false", ""),
    }


# --- the API -------------------------------------------------------------------------------------


def _acl(call: Call) -> list[dict[str, Any]]:
    entries = call.store.get("/access/acl")
    return [dict(e) for e in entries] if isinstance(entries, list) else []


def _path_key(path: str) -> tuple[str, ...]:
    return tuple(p for p in path.split("/") if p)


@handles("GET", "/access/acl", REST, stable=True)
def read_acl(call: Call) -> wire.Reply:
    """The ACL below `path` (or only at it, `exact`); a caller who may not audit it sees only the
    entries of its own user's API tokens (a token sees none); PDM's `all-for-authid` its own."""
    entries = _acl(call)
    service = call.scenario.service
    digest = generic.digest_of(entries, service)
    path = call.args.get("path")
    if path is not None or call.args.get("exact"):
        want = _path_key(normalize_path(str(path or "/")))
        entries = [
            e
            for e in entries
            if (key := _path_key(e["path"])) == want or not call.args.get("exact") and key[: len(want)] == want
        ]
    who = str(call.user or ROOT)
    if call.args.get("all-for-authid"):  # PDM: the caller's own entries, whatever it may audit
        entries = [e for e in entries if e["ugid"] == who]
    elif not allowed(call, "/access/acl", ACL_AUDIT[service]):
        entries = (
            [] if "!" in who else [e for e in entries if e["ugid_type"] == "user" and e["ugid"].startswith(who + "!")]
        )
    entries.sort(key=lambda e: _path_key(e["path"]))
    return wire.Reply(entries, {"digest": digest})


@handles("PUT", "/access/acl", REST)
def update_acl(call: Call) -> None:
    """Add (or with `delete` remove) one role for one auth id on one path, as the daemons check it."""
    args, service = call.args, call.scenario.service
    role, authid, group = str(args["role"]), args.get("auth-id"), args.get("group")
    delete = bool(args.get("delete"))
    if service == "pdm" and role not in ROLES["pdm"]:
        raise wire.ApiError(400, wire.PDM_ROLE_MISSING)
    who = str(call.user or ROOT)
    if not allowed(call, "/access/acl", ACL_MODIFY[service]):
        if group is not None:
            raise wire.ApiError(400, wire.REST_ACL_GROUP_UNPRIVILEGED)
        if authid is None:
            raise wire.ApiError(400, wire.REST_ACL_NEEDS_AUTH_ID)
        if "!" in who:
            raise wire.ApiError(400, wire.REST_ACL_TOKEN_UNPRIVILEGED)
        if "!" not in str(authid):
            raise wire.ApiError(400, wire.REST_ACL_ONLY_TOKENS)
        if str(authid).partition("!")[0] != who:
            raise wire.ApiError(400, wire.REST_ACL_ONLY_OWN_TOKENS)
    entries = _acl(call)
    if service == "pbs":
        _check_digest(call, entries)
    if authid is not None:
        userid, bang, name = str(authid).partition("!")
        known = call.store.get(("access", "users", userid, "token", name) if bang else ("access", "users", userid))
        if not delete and known is MISSING:
            raise wire.ApiError(400, wire.rest_acl_no_such(service, bool(bang)))
    elif group is not None:
        raise wire.ApiError(400, wire.rest_acl_groups_unsupported(service))
    else:
        raise wire.ApiError(400, wire.rest_acl_missing_target(service))
    path = str(args["path"])
    if not delete:  # an entry on a path no longer valid can still be removed
        check_acl_path(service, path)
    if service == "pdm":
        _check_digest(call, entries)
    entry = _entry({"path": path, "ugid": authid, "roleid": role, "propagate": args.get("propagate", True)})
    no_access = ROLE_NO_ACCESS.get(service)

    def replaced(e: dict[str, Any]) -> bool:
        """The entries this change removes: the same role, and on adding, NoAccess's way; and as
        acl.cfg is written anew, root@pam's own (root is always Administrator: never saved)."""
        if e["ugid_type"] == "user" and e["ugid"] == ROOT:
            return True
        if (e["path"], e["ugid"]) != (entry["path"], entry["ugid"]):
            return False
        if e["roleid"] == role:
            return True
        return not delete and no_access is not None and no_access in (role, e["roleid"])

    kept = [e for e in entries if not replaced(e)]
    if not delete and authid != ROOT:
        kept.append(entry)
    call.store.set("/access/acl", kept)
    return None


def check_acl_path(service: str, path: str) -> None:
    """The product's check_acl_path: only paths its privilege checks use may carry an entry."""
    parts = _path_key(path)
    if parts and not (_pbs_path_ok if service == "pbs" else _pdm_path_ok)(parts):
        raise wire.ApiError(400, wire.rest_acl_bad_path(path))


def _pbs_path_ok(parts: tuple[str, ...]) -> bool:
    n, head = len(parts), parts[0]
    if head == "access":  # /access/{acl,users,domains}, /access/openid/{endpoint}
        return n == 1 or parts[1] in ("acl", "users", "domains") and n == 2 or parts[1] == "openid" and n <= 3
    if head == "datastore":  # /datastore/{store}/{namespace...}
        return n <= 2 + MAX_NAMESPACE_DEPTH
    if head == "remote":  # /remote/{remote}/{store}/{namespace...}: push sync jobs' targets
        return n <= 3 + MAX_NAMESPACE_DEPTH
    if head == "system":
        return _system_path_ok("pbs", parts)
    if head == "tape":  # /tape/{device,pool,job}/{name}
        return n == 1 or parts[1] in ("device", "pool", "job") and n <= 3
    return False


def _pdm_path_ok(parts: tuple[str, ...]) -> bool:
    n, head = len(parts), parts[0]
    if head == "access":  # /access/{acl,users,realm}
        return n == 1 or parts[1] in ("acl", "users", "realm") and n == 2
    if head == "resource":  # /resource/{remote}/{guest,storage}/{id}
        return n <= 2 or parts[2] in ("guest", "storage") and n <= 4
    if head == "system":
        return _system_path_ok("pdm", parts)
    if head == "view":  # /view/{view}
        return n <= 2
    return False


def _system_path_ok(service: str, parts: tuple[str, ...]) -> bool:
    n = len(parts)
    if n == 1:
        return True
    if parts[1] in SYSTEM_LEAVES[service]:
        return n == 2
    if parts[1] == "services":  # /system/services/{service}
        return n <= 3
    if parts[1] == "network":  # /system/network/dns, /system/network/interfaces/{iface}
        return n == 2 or parts[2] == "dns" and n == 3 or parts[2] == "interfaces" and n <= 4
    return False


def _check_digest(call: Call, entries: list[dict[str, Any]]) -> None:
    want = call.args.get("digest")
    if want and str(want) != generic.digest_of(entries, call.scenario.service):
        raise wire.ApiError(400, wire.rest_config_modified())


@handles("GET", "/access/permissions", REST, stable=True)
def list_permissions(call: Call) -> dict[str, dict[str, bool]]:
    """The caller's (or `auth-id`'s) privileges on `path`, or on every path the ACL names and the
    product's top paths; a path with none is left out. Another's need the audit privilege on
    /access, unless they are the caller's own tokens."""
    service = call.scenario.service
    who = str(call.user or ROOT)
    target = str(call.args.get("auth-id") or who)
    if target != who:
        own_token = "!" in target and "!" not in who and target.partition("!")[0] == who
        if not own_token and not allowed(call, "/access", ACL_AUDIT[service]):
            raise wire.ApiError(400, wire.rest_permissions_of(target))
    path = call.args.get("path")
    if path is not None:
        paths = [str(path)]
    else:
        named = {
            "/" + "/".join(key[: i + 1]) for key in map(_path_key, acl_of(call.world).by_path) for i in range(len(key))
        }
        paths = sorted({*DEFAULT_PATHS[service], *named})
    out: dict[str, dict[str, bool]] = {}
    for at in paths:
        have = privileges(call, target, at)
        if have:
            out[at] = {p: bool(have[p]) for p in PRIVILEGES[service] if p in have}
    return out


@handles("GET", "/access/roles", REST, stable=True)
def list_roles(call: Call) -> list[dict[str, Any]]:
    return [dict(r) for r in call.store.items("/access/roles") if isinstance(r, dict)]


@handles("GET", "/access/users", REST)
def list_users(call: Call) -> list[dict[str, Any]]:
    """Every user for who may audit them (Sys.Audit on /access/users on PBS, Access.Audit on
    PDM), else the caller's own user (a token's owner) only."""
    only = (
        None if allowed(call, "/access/users", ACL_AUDIT[call.scenario.service]) else str(call.user).partition("!")[0]
    )
    out = []
    for user in call.store.items("/access/users"):
        if not isinstance(user, dict) or only is not None and user.get("userid") != only:
            continue
        item = dict(user)
        if call.args.get("include_tokens"):
            item["tokens"] = [
                {k: v for k, v in t.items() if k != "token-name"}
                for t in call.store.items(("access", "users", user["userid"], "token"))
            ]
        out.append(item)
    return out


@handles("PUT", "/access/users/{userid}", REST)
def update_user(call: Call) -> None:
    """A user's fields, and its password where one is given (root@pam alone sets another's PAM one)."""
    userid = call.params["userid"]
    password = call.args.pop("password", None)
    if password is not None:
        who = str(call.user or ROOT)
        if who.partition("!")[0] != userid and userid.endswith("@pam") and not superuser(who):
            raise wire.ApiError(400, wire.REST_PAM_CREDENTIALS)
    generic.handle(call)
    normalize_users(call.store)
    if password is not None:
        call.world.secrets["passwords"][userid] = str(password)
    return None


@handles("PUT", "/access/password", ("pbs",))
def change_password(call: Call) -> None:
    """Everybody may change their own password; root@pam any; Permissions.Modify on / any but
    a PAM user's. Tokens may not."""
    who = str(call.user or ROOT)
    userid = str(call.args["userid"])
    if who != ROOT and userid != who and call.store.get(("access", "users", userid)) is MISSING:
        raise wire.ApiError(401, wire.rest_user_missing_for_auth(userid))
    if "!" in who:
        raise wire.ApiError(400, wire.REST_TOKENS_NOT_HERE)
    if userid != who and not (
        superuser(who) or allowed(call, "/", "Permissions.Modify") and not userid.endswith("@pam")
    ):
        raise wire.ApiError(400, wire.PBS_PASSWORD_NOT_YOURS)
    call.world.secrets["passwords"][userid] = str(call.args["password"])
    return None
