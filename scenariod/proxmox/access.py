"""PVE access control: built-in roles, the ACL, groups both ways, and permission checks.

Roles and their privileges are those pve-access-control builds (PVE::AccessControl's
privilege groups); the ACL is a list of `{path, type, ugid, roleid, propagate}` at
`/access/acl`, changed entry by entry by `PUT /access/acl`. A caller's privileges on a
path follow PVE's walk from `/` down: deeper entries replace shallower ones, a user's own
entries replace its groups', `propagate: 0` applies to its own path only, `NoAccess` wins;
a guest in a pool also gets what the pool grants. A privilege-separated token has what
both it and its user have. Every call is checked against its method's `permissions` in the
API description (nothing here lists them again) unless the scenario turns checks off.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import wire
from ..state import MISSING
from . import handles, prepares

if TYPE_CHECKING:
    from ..scenario.model import Scenario
    from ..state import StateStore
    from ..world import Call, World

ROOT = "root@pam"

# PVE::AccessControl's privilege groups: category -> (root, admin, user, audit) privileges.
_PRIVGROUPS: dict[str, tuple[tuple[str, ...], ...]] = {
    "VM": (
        (),
        (
            "VM.Config.Disk",
            "VM.Config.CPU",
            "VM.Config.Memory",
            "VM.Config.Network",
            "VM.Config.HWType",
            "VM.Config.Options",
            "VM.Allocate",
            "VM.Clone",
            "VM.GuestAgent.Unrestricted",
            "VM.Migrate",
            "VM.Replicate",
            "VM.Snapshot",
            "VM.Snapshot.Rollback",
        ),
        (
            "VM.Config.CDROM",
            "VM.Config.Cloudinit",
            "VM.Console",
            "VM.Backup",
            "VM.GuestAgent.FileRead",
            "VM.GuestAgent.FileSystemMgmt",
            "VM.GuestAgent.FileWrite",
            "VM.PowerMgmt",
        ),
        ("VM.Audit", "VM.GuestAgent.Audit"),
    ),
    "Sys": (
        ("Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork"),
        ("Sys.Console", "Sys.Syslog"),
        (),
        ("Sys.Audit",),
    ),
    "Datastore": (
        (),
        ("Datastore.Allocate", "Datastore.AllocateTemplate"),
        ("Datastore.AllocateSpace",),
        ("Datastore.Audit",),
    ),
    "SDN": ((), ("SDN.Allocate", "SDN.Audit"), ("SDN.Use",), ("SDN.Audit",)),
    "User": (("Realm.Allocate",), ("User.Modify", "Group.Allocate", "Realm.AllocateUser"), (), ()),
    "Pool": ((), ("Pool.Allocate",), ("Pool.Audit",), ("Pool.Audit",)),
    "Mapping": ((), ("Mapping.Modify",), ("Mapping.Use",), ("Mapping.Audit",)),
}


def _builtin_roles() -> dict[str, frozenset[str]]:
    """The special roles as pve-access-control's create_roles makes them."""
    every = {"Permissions.Modify"}
    roles: dict[str, set[str]] = {"NoAccess": set(), "PVEAdmin": set(), "PVEAuditor": set()}
    for cat, (root, admin, user, audit) in _PRIVGROUPS.items():
        every.update(root, admin, user, audit)
        roles.setdefault(f"PVE{cat}Admin", set()).update(admin, user, audit)
        roles["PVEAdmin"].update(admin, user, audit)
        if user:
            roles.setdefault(f"PVE{cat}User", set()).update(user, audit)
        roles["PVEAuditor"].update(audit)
    roles["PVEAdmin"].discard("Mapping.Modify")
    roles["PVETemplateUser"] = {"VM.Clone", "VM.Audit"}
    roles["Administrator"] = every
    return {name: frozenset(privs) for name, privs in roles.items()}


BUILTIN_ROLES = _builtin_roles()
ALL_PRIVILEGES = BUILTIN_ROLES["Administrator"]
DEFAULT_REALMS = (
    {"realm": "pam", "type": "pam", "comment": "Linux PAM standard authentication"},
    {"realm": "pve", "type": "pve", "comment": "Proxmox VE authentication server"},
)


def _split(value: Any) -> list[str]:
    """PVE's split_list: a list, or a string split on commas, semicolons and spaces."""
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return [str(v) for v in value if str(v)]
    return [v for v in re.split(r"[,;\s]+", str(value)) if v]


# --- seeded state -------------------------------------------------------------------------------


@prepares("pve")
def seed_access(world: World, scenario: Scenario) -> None:
    """Built-in roles, the pam and pve realms, and group membership seen from both sides."""
    store = world.store
    for roleid, privs in BUILTIN_ROLES.items():
        if store.get(("access", "roles", roleid)) is MISSING:
            store.set(("access", "roles", roleid), {"roleid": roleid, "privs": ",".join(sorted(privs)), "special": 1})
    for realm in DEFAULT_REALMS:
        if store.get(("access", "domains", realm["realm"])) is MISSING:
            store.set(("access", "domains", realm["realm"]), dict(realm))
    for groupid in members(store):  # a group a user names exists, as user.cfg would have it
        if store.get(("access", "groups", groupid)) is MISSING:
            store.set(("access", "groups", groupid), {"groupid": groupid})
    if store.get("/access/acl") is MISSING:
        store.set("/access/acl", [])


def members(store: StateStore) -> dict[str, set[str]]:
    """Group -> users, from both sides: users' `groups` and groups' `users` (either may be written)."""
    out: dict[str, set[str]] = {}
    for userid, user in zip(store.keys("/access/users"), store.items("/access/users"), strict=True):
        for group in _split(user.get("groups") if isinstance(user, dict) else None):
            out.setdefault(group, set()).add(userid)
    for groupid, group in zip(store.keys("/access/groups"), store.items("/access/groups"), strict=True):
        out.setdefault(groupid, set()).update(_split(group.get("users") if isinstance(group, dict) else None))
    return out


# --- privileges ---------------------------------------------------------------------------------


class Acl:
    """The ACL, roles, group membership and pools indexed for lookups (built once per state generation)."""

    def __init__(self, store: StateStore) -> None:
        entries = store.get("/access/acl")
        self.by_path: dict[str, list[dict[str, Any]]] = {}
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                if "type" not in entry:  # PBS and PDM write `ugid_type` (user or group; a token is a user)
                    kind = entry.get("ugid_type", "user")
                    entry = {**entry, "type": "token" if kind == "user" and "!" in str(entry.get("ugid")) else kind}
                self.by_path.setdefault(normalize_path(str(entry.get("path", "/"))), []).append(entry)
        self.roles = {
            rid: frozenset(_split(role.get("privs")))
            for rid, role in zip(store.keys("/access/roles"), store.items("/access/roles"), strict=True)
            if isinstance(role, dict)
        }
        # root@pam's privileges: every one the product's roles know (PBS and PDM name others than PVE)
        self.everything = ALL_PRIVILEGES.union(*self.roles.values())
        self.groups_of: dict[str, set[str]] = {}
        for groupid, users in members(store).items():
            for userid in users:
                self.groups_of.setdefault(userid, set()).add(groupid)
        self._store = store
        self._pools: tuple[dict[str, str], dict[str, str]] | None = None  # built on the first guest/storage path
        self._memo: dict[tuple[str, str], dict[str, int]] = {}  # (who, path) -> privileges; lists ask per item
        self._granted: dict[tuple[tuple[str, int], ...], dict[str, int]] = {}  # roles -> their privileges
        self.privsep: dict[str, bool] = {}
        for userid in store.keys("/access/users"):
            for name, token in zip(
                store.keys(("access", "users", userid, "token")),
                store.items(("access", "users", userid, "token")),
                strict=True,
            ):
                self.privsep[f"{userid}!{name}"] = bool(int((token or {}).get("privsep", 1) or 0))

    def pools(self) -> tuple[dict[str, str], dict[str, str]]:
        """(VMID -> pool, storage -> pool)."""
        if self._pools is None:
            guests: dict[str, str] = {}
            storages: dict[str, str] = {}
            store = self._store
            for poolid, pool in zip(store.keys("/pools"), store.items("/pools"), strict=True):
                if isinstance(pool, dict):
                    guests.update(dict.fromkeys(_split(pool.get("vms")), poolid))
                    storages.update(dict.fromkeys(_split(pool.get("storage")), poolid))
            self._pools = guests, storages
        return self._pools

    def roles_at(self, who: str, path: str) -> dict[str, int]:
        """PVE::AccessControl::roles: role -> propagate for `who` (user or token) on `path`."""
        kind = "token" if "!" in who else "user"
        groups = self.groups_of.get(who, set()) if kind == "user" else set()
        found: dict[str, int] = {}
        prefixes = ["/"] + ["/" + "/".join(path.strip("/").split("/")[: i + 1]) for i in range(path.count("/"))]
        if path == "/":
            prefixes = ["/"]
        for at in prefixes:
            entries = self.by_path.get(at)
            if not entries:
                continue
            final = at == path
            own = {
                e["roleid"]: int(e.get("propagate", 1))
                for e in entries
                if e.get("type") == kind and e.get("ugid") == who and (final or int(e.get("propagate", 1)))
            }
            if own:
                found = own
                continue
            shared = {
                e["roleid"]: int(e.get("propagate", 1))
                for e in entries
                if kind == "user"
                and e.get("type") == "group"
                and e.get("ugid") in groups
                and (final or int(e.get("propagate", 1)))
            }
            if shared:
                found = shared
        if "NoAccess" in found:
            return {"NoAccess": found["NoAccess"]}
        return found

    def privileges(self, who: str, path: str) -> dict[str, int]:
        """Privilege -> propagate for `who` on `path`, pools and privilege separation included
        (memoised: the Acl lives for one state generation, so an ACL, user, group or pool change
        starts afresh)."""
        found = self._memo.get((who, path))
        if found is None:
            found = self._memo[(who, path)] = self._privileges(who, path)
        return found

    def can(self, who: str, path: str, privs: tuple[str, ...] | list[str]) -> bool:
        """PVE's check_any with noerr: whether `who` holds any of `privs` on `path`."""
        have = self.privileges(who, path)
        return any(p in have for p in privs)

    def can_modify_permissions(self, who: str, path: str) -> bool:
        """PVE's check_perm_modify: Permissions.Modify, or the allocate privilege of the object."""
        return self.can(who, path, _modify_privileges(path))

    def _privileges(self, who: str, path: str) -> dict[str, int]:
        user = who.split("!", 1)[0]
        if user == ROOT and not self.privsep.get(who, False):
            return dict.fromkeys(self.everything, 1)
        if "!" in who and not self.privsep.get(who, True):
            return self.privileges(user, path)
        out = self._direct(who, path)
        if "!" in who:
            mine = self.privileges(user, path)
            out = {p: v for p, v in out.items() if p in mine}
        return out

    def _direct(self, who: str, path: str) -> dict[str, int]:
        """What `who`'s own roles grant on `path`; a pool's roles reach its guests and storages
        (never past a NoAccess on the path, and a pool's NoAccess wins), without propagation."""
        roles = self.roles_at(who, path)
        m = _POOLED.match(path)
        pool = self.pools()[0 if m.group(1) == "vms" else 1].get(m.group(2)) if m else None
        if pool and "NoAccess" not in roles:
            inherited = self.roles_at(who, f"/pool/{pool}")
            if "NoAccess" in inherited:
                roles = {"NoAccess": 0}
            else:
                roles = {**dict.fromkeys(inherited, 0), **roles}
        key = tuple(sorted(roles.items()))
        out = self._granted.get(key)
        if out is None:  # the paths of a list mostly share one set of roles
            out = self._granted[key] = {}
            for role, propagate in roles.items():
                for priv in self.roles.get(role, ()):
                    out[priv] = max(out.get(priv, 0), propagate)
        return out


_POOLED = re.compile(r"^/(vms|storage)/([^/]+)$")  # paths a pool's roles reach


def _modify_privileges(path: str) -> list[str]:
    wanted = ["Permissions.Modify"]
    extra = {"storage": "Datastore.Allocate", "vms": "VM.Allocate", "pool": "Pool.Allocate"}
    top = path.strip("/").split("/", 1)
    if len(top) == 2 and top[0] in extra:
        wanted.append(extra[top[0]])
    return wanted


def acl_of(world: World) -> Acl:
    return world.cached("acl", lambda: Acl(world.store))


def normalize_path(path: str) -> str:
    """PVE's normalize_path: one leading slash, no doubled or trailing slashes."""
    return "/" + "/".join(p for p in path.split("/") if p)


# --- enforcement --------------------------------------------------------------------------------


class Denied(Exception):
    """A sub-check failed; `what` is the text Proxmox puts in parentheses (None: none)."""

    def __init__(self, what: str | None) -> None:
        self.what = what


Check = Callable[["Call", dict[str, Any]], None]
GUARDS: dict[str, Check] = {}
"""Each product's permission check (PVE's here; PBS and PDM register theirs: rest_privileges)."""


def enforced(scenario: Scenario) -> bool:
    """Whether the scenario checks privileges (auth enforced and permissions not switched off)."""
    return scenario.auth.mode == "enforce" and scenario.auth.permissions != "off"


def guard_for(scenario: Scenario) -> Guard | None:
    """The permission check for every call, or None where the scenario does not enforce."""
    found = GUARDS.get(scenario.service) if enforced(scenario) else None
    return None if found is None else Guard(found)


def _filters_lists(scenario: Scenario) -> bool:
    """Whether `Guard.visible` filters this scenario's lists: PVE's are filtered here, PBS's and
    PDM's in their handlers."""
    return scenario.service == "pve" and enforced(scenario)


class Guard:
    """A Runtime's privilege checks: every call before it runs (`guard(call, args)`), and every
    PVE list after (`visible`): a real node answers a list with what the caller may see, not a 403."""

    def __init__(self, check: Check) -> None:
        self._check = check
        self._filters: dict[int, ListFilter | None] = {}  # id(ApiNode) -> its list filter

    def __call__(self, call: Call, args: dict[str, Any]) -> None:
        self._check(call, args)

    def visible(self, call: Call, result: Any) -> Any:
        """`result` of a GET with only the items the caller may see (as it is, for root@pam)."""
        view = viewer(call)
        if view is None:
            return result
        node = call.node
        found = self._filters.get(id(node), MISSING)
        if found is MISSING:
            found = self._filters[id(node)] = list_filter(node.path, call.op.permissions)
        if found is None:
            return result
        data = result.data if isinstance(result, wire.Encoded | wire.Reply) else result
        if not isinstance(data, list):
            return result
        shown = found(view, data)
        return wire.Reply(shown, result.extra) if isinstance(result, wire.Reply) else shown


def check(call: Call, args: dict[str, Any]) -> None:
    """Refuse with Proxmox's 403 what the caller's privileges do not allow (root@pam may do anything).

    `args` are the call's parameters as sent (the check comes before their verification).
    """
    user = call.user
    if user is None or user == ROOT or (user.startswith(ROOT + "!") and not _separated(call, user)):
        return
    perms = call.op.permissions
    if perms is None:
        raise wire.permission_failed("user != root@pam")
    if perms.get("user") in ("all", "world"):
        return
    rule = perms.get("check")
    if rule is None:
        return
    try:
        _run(rule, args, acl_of(call.world), user)
    except Denied as denied:
        raise wire.permission_failed(denied.what) from None


GUARDS["pve"] = check


def _separated(call: Call, tokenid: str) -> bool:
    """Whether a token is privilege-separated (read directly: root's tokens skip the ACL index)."""
    store = call.store

    def read() -> bool:
        userid, _, name = tokenid.partition("!")
        token = store.get(("access", "users", userid, "token", name))
        return bool(int(token.get("privsep", 1) or 0)) if isinstance(token, dict) else True

    return call.world.cached(("privsep", tokenid), read, "access")


def _template(path: str, args: dict[str, Any]) -> str:
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        found = args.get(name)
        return str(found) if found is not None else m.group(0)

    return normalize_path(re.sub(r"\{([^}]+)\}", value, path))


def _options(items: list[Any]) -> dict[str, Any]:
    return {str(items[i]): items[i + 1] for i in range(0, len(items) - 1, 2)}


def _run(rule: list[Any], args: dict[str, Any], acl: Acl, who: str) -> None:
    """PVE's exec_api2_perm_check; raises Denied."""
    test = rule[0]
    if test == "perm":
        path, privs, opts = rule[1], rule[2], _options(rule[3:])
        need = opts.get("require_param")
        if need and args.get(need) is None:
            raise Denied(None)
        path = _template(path, args)
        have = acl.privileges(who, path)
        if opts.get("any"):
            if not any(p in have for p in privs):
                raise Denied(f"{path}, {'|'.join(privs)}")
            return
        for priv in privs:
            if priv not in have:
                raise Denied(f"{path}, {priv}")
    elif test == "perm-modify":
        path = _template(rule[1], args)
        if not acl.can_modify_permissions(who, path):
            raise Denied(f"{path}, {'|'.join(_modify_privileges(path))}")
    elif test == "and":
        for sub in rule[1:]:
            _run(sub, args, acl, who)
    elif test == "or":
        for sub in rule[1:]:
            try:
                _run(sub, args, acl, who)
                return
            except Denied:
                continue
        raise Denied(None)
    elif test == "userid-param":
        target = str(args.get("userid") or "")
        if rule[1] == "self":
            if target != who:
                raise Denied(None)
            return
        realm = target.rpartition("@")[2]
        if rule[1] not in acl.privileges(who, f"/access/realm/{realm}"):
            raise Denied(None)
    elif test == "userid-group":
        privs, opts = rule[1], _options(rule[2:])
        if any(p in acl.privileges(who, "/access/groups") for p in privs):
            return
        target = str(args.get("userid") or "")
        groups = _split(args.get("groups")) if opts.get("groups_param") == "create" else []
        groups = groups or sorted(acl.groups_of.get(target, ()))
        if not groups or not all(any(p in acl.privileges(who, f"/access/groups/{g}") for p in privs) for g in groups):
            raise Denied(None)
    else:
        raise Denied(None)


# --- what a caller may see -----------------------------------------------------------------------


class Viewer:
    """A caller whose lists are filtered: who asks, the ACL indexed, the call's arguments."""

    __slots__ = ("who", "acl", "args")

    def __init__(self, who: str, acl: Acl, args: dict[str, Any]) -> None:
        self.who, self.acl, self.args = who, acl, args

    def can(self, path: str, *privs: str) -> bool:
        """Whether the caller holds any of `privs` on `path` (PVE's check_any, noerr)."""
        return self.acl.can(self.who, path, privs)


ListFilter = Callable[[Viewer, list[Any]], list[Any]]
_LIST_FILTERS: dict[str, ListFilter] = {}


def viewer(call: Call) -> Viewer | None:
    """Whose privileges filter this call's lists; None when the caller sees everything (checks
    off, auth off, root@pam and its tokens without privilege separation): the fast path."""
    user = call.user
    if user is None or user == ROOT or not _filters_lists(call.scenario):
        return None
    if user.startswith(ROOT + "!") and not _separated(call, user):
        return None
    return Viewer(user, acl_of(call.world), call.args)


def filters_list(template: str) -> Callable[[ListFilter], ListFilter]:
    """Register how a PVE list shows only what the caller may see, where its API description
    does not say so in the words `list_filter` reads (the handler in Proxmox's sources does)."""

    def register(fn: ListFilter) -> ListFilter:
        _LIST_FILTERS[template] = fn
        return fn

    return register


# "Only list entries where you have 'Datastore.Audit' or 'Datastore.AllocateSpace' permissions on
# '/storage/<storage>'", "Only list VMs where you have VM.Audit permissions on /vms/<vmid>." ...
_ONLY_LISTED = re.compile(
    r"\b(?:lists?|returns?)\b[^.]*?\b(?:where|for which)\b[^.]*?\bha(?:ve|s) "
    r"((?:'?[A-Z][A-Za-z]*\.[A-Za-z.]*[A-Za-z]'?(?:,? | or |, or )?)+)"
    r" permissions? on '?(/[^'\s]*<[^'\s]*?)'?(?:\.|\s|$)"
)
_PRIVILEGE = re.compile(r"[A-Z][A-Za-z]*\.[A-Za-z.]*[A-Za-z]")
_PLACEHOLDER = re.compile(r"<([^>]+)>")


def list_filter(template: str, permissions: dict[str, Any] | None) -> ListFilter | None:
    """How a list answers a caller who may not see everything: registered by a behaviour, or read
    from the `permissions` description of its API (`<field>` on the path is the item's field)."""
    found = _LIST_FILTERS.get(template)
    if found is not None:
        return found
    m = _ONLY_LISTED.search(str((permissions or {}).get("description") or ""))
    if m is None:
        return None
    privs = tuple(_PRIVILEGE.findall(m.group(1)))
    path = _PLACEHOLDER.sub(lambda f: "{" + f.group(1) + "}", m.group(2))  # '/vms/<vmid>' -> '/vms/{vmid}'

    def only_listed(view: Viewer, items: list[Any]) -> list[Any]:
        out = []
        for item in items:
            try:
                at = path.format_map(item)
            except (KeyError, TypeError):  # the item lacks the field the check names: nothing to decide on
                out.append(item)
                continue
            if view.can(at, *privs):
                out.append(item)
        return out

    return only_listed


@filters_list("/access/users")
def visible_users(view: Viewer, items: list[Any]) -> list[Any]:
    """User.Modify or Sys.Audit on /access/groups shows all users; on a group, its members; the
    caller always sees itself."""
    privs = ("User.Modify", "Sys.Audit")
    if view.can("/access/groups", *privs):
        return items
    acl = view.acl
    allowed = {view.who}
    for userid, groups in acl.groups_of.items():
        if any(view.can(f"/access/groups/{g}", *privs) for g in groups):
            allowed.add(userid)
    return [u for u in items if isinstance(u, dict) and u.get("userid") in allowed]


@filters_list("/access/groups")
def visible_groups(view: Viewer, items: list[Any]) -> list[Any]:
    privs = ("User.Modify", "Sys.Audit", "Group.Allocate")
    return [g for g in items if isinstance(g, dict) and view.can(f"/access/groups/{g.get('groupid')}", *privs)]


@filters_list("/access/acl")
def visible_acl(view: Viewer, items: list[Any]) -> list[Any]:
    """Everything with Sys.Audit on /access; otherwise the entries on paths whose permissions the
    caller may modify."""
    if view.can("/access", "Sys.Audit"):
        return items
    acl = view.acl
    return [e for e in items if isinstance(e, dict) and acl.can_modify_permissions(view.who, str(e.get("path", "/")))]


# --- the API --------------------------------------------------------------------------------


@handles("GET", "/access/roles/{roleid}", stable=True)
def read_role(call: Call) -> dict[str, int]:
    role = call.store.get(("access", "roles", call.params["roleid"]))
    if not isinstance(role, dict):
        raise wire.missing_object("/access/roles", call.params["roleid"], call.params)
    return dict.fromkeys(sorted(_split(role.get("privs"))), 1)


@handles("GET", "/access/acl", stable=True)
def read_acl(call: Call) -> list[dict[str, Any]]:
    entries = call.store.get("/access/acl")
    return [dict(e) for e in entries] if isinstance(entries, list) else []


@handles("PUT", "/access/acl")
def update_acl(call: Call) -> None:
    """Add (or with `delete` remove) each role for each user, group and token on `path`."""
    args = call.args
    if not (args.get("users") or args.get("groups") or args.get("tokens")):
        text = "either 'users', 'groups' or 'tokens' is required."
        raise wire.ApiError(
            400, "Parameter verification failed.", errors=dict.fromkeys(("groups", "tokens", "users"), text)
        )
    store = call.store
    path = normalize_path(str(args["path"]))
    propagate = 1 if args.get("propagate") is None else int(bool(args["propagate"]))
    delete = bool(args.get("delete"))
    failed = wire.ACL_UPDATE_FAILED
    entries = read_acl(call)
    for role in _split(args.get("roles")):
        if store.get(("access", "roles", role)) is MISSING:
            raise wire.ApiError(500, f"{failed}: role '{role}' does not exist")
        targets: list[tuple[str, str]] = []
        for group in _split(args.get("groups")):
            if store.get(("access", "groups", group)) is MISSING:
                raise wire.ApiError(500, f"{failed}: group '{group}' does not exist")
            targets.append(("group", group))
        for userid in _split(args.get("users")):
            if store.get(("access", "users", userid)) is MISSING:
                raise wire.ApiError(500, f"{failed}: user '{userid}' does not exist")
            targets.append(("user", userid))
        for tokenid in _split(args.get("tokens")):
            userid, _, name = tokenid.partition("!")
            if store.get(("access", "users", userid, "token", name)) is MISSING:
                raise wire.ApiError(500, f"{failed}: no such token '{name}' for user '{userid}'")
            targets.append(("token", tokenid))
        for kind, ugid in targets:
            entries = [
                e
                for e in entries
                if not (
                    e.get("path") == path
                    and e.get("type") == kind
                    and e.get("ugid") == ugid
                    and e.get("roleid") == role
                )
            ]
            if not delete:
                entries.append({"path": path, "type": kind, "ugid": ugid, "roleid": role, "propagate": propagate})
    store.set("/access/acl", entries)
    return None


@handles("GET", "/access/permissions")
def permissions(call: Call) -> dict[str, dict[str, int]]:
    """The caller's (or `userid`'s) privileges on `path`, or on every path the ACL names."""
    acl = acl_of(call.world)
    who = str(call.args.get("userid") or call.user or ROOT)
    path = call.args.get("path")
    paths = [normalize_path(str(path))] if path else sorted({"/", *acl.by_path})
    out = {}
    for at in paths:
        privs = acl.privileges(who, at)
        if privs:
            out[at] = dict(sorted(privs.items()))
    return out


@handles("GET", "/access/users", stable=True)
def list_users(call: Call) -> list[dict[str, Any]]:
    """Users as PVE lists them; with `full`, each with its groups and tokens; `realm-type` always."""
    store = call.store
    full = bool(call.args.get("full"))
    enabled = call.args.get("enabled")
    groups = members(store)
    out = []
    for userid, user in zip(store.keys("/access/users"), store.items("/access/users"), strict=True):
        if not isinstance(user, dict):
            continue
        entry = {k: v for k, v in user.items() if k != "groups" or full}
        if enabled is not None and bool(int(entry.get("enable", 1) or 0)) != bool(enabled):
            continue
        if full:
            entry["groups"] = ",".join(sorted(g for g, users in groups.items() if userid in users))
            entry["tokens"] = [
                {"tokenid": name, **{k: v for k, v in (token or {}).items() if k != "tokenid"}}
                for name, token in zip(
                    store.keys(("access", "users", userid, "token")),
                    store.items(("access", "users", userid, "token")),
                    strict=True,
                )
            ]
        realm = store.get(("access", "domains", userid.rpartition("@")[2]))
        if isinstance(realm, dict) and realm.get("type"):
            entry["realm-type"] = realm["type"]
        entry["userid"] = userid
        out.append(entry)
    return sorted(out, key=lambda e: e["userid"])


@handles("GET", "/access/groups", stable=True)
def list_groups(call: Call) -> list[dict[str, Any]]:
    store = call.store
    users = members(store)
    out = []
    for groupid, group in zip(store.keys("/access/groups"), store.items("/access/groups"), strict=True):
        entry = {**(group if isinstance(group, dict) else {}), "groupid": groupid}
        entry["users"] = ",".join(sorted(users.get(groupid, ())))
        out.append(entry)
    return out


@handles("GET", "/access/groups/{groupid}", stable=True)
def read_group(call: Call) -> dict[str, Any]:
    groupid = call.params["groupid"]
    group = call.store.get(("access", "groups", groupid))
    if not isinstance(group, dict):
        raise wire.missing_object("/access/groups", groupid, call.params)
    out: dict[str, Any] = {"members": sorted(members(call.store).get(groupid, ()))}
    if group.get("comment"):
        out["comment"] = group["comment"]
    return out


_USER_FIELDS = ("enable", "expire", "firstname", "lastname", "email", "comment", "keys")


@handles("GET", "/access/users/{userid}", stable=True)
def read_user(call: Call) -> dict[str, Any]:
    """One user as PVE::API2::User's read_user: its fields, `groups` as a sorted array, `tokens` by name.

    Clients compare `groups` as a list (community.proxmox's proxmox_user joins it with commas),
    so the comma string the list and the config keep would read as one letter per group.
    """
    userid = call.params["userid"]
    user = call.store.get(("access", "users", userid))
    if not isinstance(user, dict):
        raise wire.missing_object("/access/users", userid, call.params)
    out: dict[str, Any] = {k: user[k] for k in _USER_FIELDS if user.get(k) is not None}
    out["groups"] = sorted(g for g, users in members(call.store).items() if userid in users)
    tokens = call.store.keys(("access", "users", userid, "token"))
    if tokens:
        out["tokens"] = {
            name: {k: v for k, v in (token or {}).items() if k != "tokenid"}
            for name, token in zip(tokens, call.store.items(("access", "users", userid, "token")), strict=True)
        }
    return out
