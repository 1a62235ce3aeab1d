"""What a PBS datastore holds: snapshots, groups, notes, protection, owners and namespaces."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ... import generic, wire
from .. import handles
from ..access import ROOT
from ..rest_privileges import PRIVILEGES, allowed
from ..restserver import authid_active, truthy
from .model import (
    DEDUP_FACTOR,
    garbage,
    group_key,
    need_datastore,
    ns_prefix,
    rfc3339,
    set_snapshots,
    snapshot_name,
    snapshot_view,
    snapshots,
)

if TYPE_CHECKING:
    from ...state import StateStore
    from ...world import Call


def _snaps_in_ns(call: Call, store_name: str) -> list[dict[str, Any]]:
    ns = str(call.args.get("ns") or "")
    return [s for s in snapshots(call.store, store_name) if str(s.get("ns") or "") == ns]


# What lets one see a namespace (PBS's NS_PRIVS_OK).
NS_PRIVS = ("Datastore.Audit", "Datastore.Modify", "Datastore.Read", "Datastore.Backup")


def ns_acl_path(store_name: str, ns: str) -> str:
    """A namespace's ACL path: /datastore/STORE/NS/SUB."""
    return "/".join(["/datastore", store_name, *(p for p in ns.split("/") if p)])


Privs = str | tuple[str, ...]  # one privilege, or any of several


def ns_privs(call: Call, store_name: str, full: Privs, partial: str = "", ns: str | None = None) -> bool:
    """PBS's check_ns_privs_full on the call's namespace (or `ns`): False with `full` (no owner
    check follows), True with only `partial` (the caller must own what it touches), else 403
    naming both, before the store is looked up (so the answer does not tell whether it exists)."""
    path = ns_acl_path(store_name, str(call.args.get("ns") or "") if ns is None else ns)
    wide = (full,) if isinstance(full, str) else full
    if allowed(call, path, *wide):
        return False
    if partial and allowed(call, path, partial):
        return True
    names = [p for p in PRIVILEGES["pbs"] if p in (*wide, partial)]
    raise wire.ApiError(403, wire.pbs_ns_privs_missing(names, path))


def listing_owner(call: Call, store_name: str, full: str = "Datastore.Audit") -> str | None:
    """Whose groups a listing shows: every one's (None) with `full`, else the caller's own (it
    holds Datastore.Backup; ns_privs refuses it otherwise)."""
    only = call.user if ns_privs(call, store_name, full, "Datastore.Backup") else None
    generic.check_ancestors(call.store, call.node, call.segments, call.params)
    return only


def owns(owner: str, authid: str) -> bool:
    """PBS's check_backup_owner: the owner itself, or a user owning through one of its tokens."""
    return owner == authid or "!" in owner and owner.partition("!")[0] == authid


def group_id(entry: dict[str, Any]) -> tuple[str, str, str]:
    """A group as PBS tells them apart (namespace, type, ID), of a snapshot, a seeded group entry
    or a call's arguments alike."""
    return str(entry.get("ns") or ""), str(entry.get("backup-type")), str(entry.get("backup-id"))


def group_owner(call: Call, store_name: str) -> str | None:
    """The owner file of the call's group: as seeded at `.../groups`, else its snapshots' owner;
    None where the group does not exist (no directory, no file)."""
    key = group_id(call.args)
    owner = group_owners(call.store, store_name).get(key)
    if owner is not None:
        return owner
    return next((str(s.get("owner") or ROOT) for s in snapshots(call.store, store_name) if group_id(s) == key), None)


def owner_file(call: Call, cfg: dict[str, Any]) -> str:
    """Where PBS keeps the call's group's owner: DATASTORE/ns/A/ns/B/TYPE/ID/owner."""
    ns, btype, bid = group_id(call.args)
    return f"{cfg['path']}/{ns_prefix(ns)}{btype}/{bid}/owner"


def group_access(call: Call, store_name: str, full: Privs, partial: str) -> None:
    """PBS's check_privs_and_load_store for one group: `full` on the namespace, or `partial` and
    owning the group, whose owner file must then exist (PBS reads it first)."""
    if not ns_privs(call, store_name, full, partial):
        return
    cfg = need_datastore(call, store_name)
    owner = group_owner(call, store_name)
    if owner is None:
        raise wire.ApiError(400, wire.pbs_owner_unreadable(owner_file(call, cfg)))
    if not owns(owner, str(call.user)):
        raise wire.ApiError(400, wire.pbs_owner_check_failed(str(call.user), owner))


@handles("GET", "/admin/datastore/{store}/snapshots", ("pbs",), finds_own_objects=True)
def list_snapshots(call: Call) -> list[dict[str, Any]]:
    btype, bid = call.args.get("backup-type"), call.args.get("backup-id")
    only = listing_owner(call, call.params["store"])
    owners = group_owners(call.store, call.params["store"])
    out = []
    for snap in _snaps_in_ns(call, call.params["store"]):
        if btype and snap["backup-type"] != btype or bid and snap["backup-id"] != str(bid):
            continue
        view = snapshot_view(snap)
        owner = owners.get(group_id(snap))
        if owner:
            view["owner"] = owner
        if only is not None and not owns(str(view.get("owner") or snap.get("owner") or "root@pam"), only):
            continue
        out.append(view)
    return out


def _seeded_groups(store: StateStore, name: str) -> list[dict[str, Any]]:
    value = store.get(("admin", "datastore", name, "groups"))
    return [g for g in value if isinstance(g, dict)] if isinstance(value, list) else []


def group_owners(store: StateStore, name: str) -> dict[tuple[str, str, str], str]:
    """The owners seeded (or changed) per group_id."""
    return {group_id(g): g["owner"] for g in _seeded_groups(store, name) if g.get("owner")}


def compute_groups(store: StateStore, name: str, snaps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seeded = {group_id(g): g for g in _seeded_groups(store, name)}
    by_group: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for snap in snaps:
        by_group.setdefault(group_id(snap), []).append(snap)
    out = []
    for key in sorted(by_group, key=lambda k: (k[0], *group_key(k[1:]))):
        members = by_group[key]
        last = max(members, key=lambda s: s["backup-time"])
        extra = seeded.get(key, {})
        item: dict[str, Any] = {
            "backup-type": key[1],
            "backup-id": key[2],
            "last-backup": last["backup-time"],
            "backup-count": len(members),
            "files": [f["filename"] for f in last.get("files", [])],
            "owner": extra.get("owner") or last.get("owner", "root@pam"),
        }
        if extra.get("comment"):
            item["comment"] = str(extra["comment"]).split("\n", 1)[0]
        out.append(item)
    return out


@handles("GET", "/admin/datastore/{store}/groups", ("pbs",), finds_own_objects=True)
def list_groups(call: Call) -> list[dict[str, Any]]:
    only = listing_owner(call, call.params["store"])
    groups = compute_groups(call.store, call.params["store"], _snaps_in_ns(call, call.params["store"]))
    return groups if only is None else [g for g in groups if owns(g["owner"], only)]


def _find_snapshot(call: Call, name: str) -> dict[str, Any]:
    btype, bid = call.args.get("backup-type"), str(call.args.get("backup-id"))
    btime = int(call.args.get("backup-time", 0))
    ns = str(call.args.get("ns") or "")
    for snap in snapshots(call.store, name):
        if (snap["backup-type"], snap["backup-id"], snap["backup-time"]) == (btype, bid, btime) and str(
            snap.get("ns") or ""
        ) == ns:
            return snap
    raise wire.ApiError(404, wire.pbs_snapshot_missing(f"{ns_prefix(ns)}{btype}/{bid}/{rfc3339(btime)}"))


def _replace_snapshot(call: Call, name: str, old: dict[str, Any], new: dict[str, Any] | None) -> None:
    snaps = [s for s in snapshots(call.store, name) if s is not old]
    if new is not None:
        index = snapshots(call.store, name).index(old)
        snaps.insert(index, new)
    set_snapshots(call.store, name, snaps)


@handles("DELETE", "/admin/datastore/{store}/snapshots", ("pbs",))
def delete_snapshot(call: Call) -> None:
    name = call.params["store"]
    group_access(call, name, "Datastore.Modify", "Datastore.Prune")
    snap = _find_snapshot(call, name)
    if snap.get("protected"):
        raise wire.ApiError(400, wire.pbs_snapshot_protected(snapshot_name(snap)))
    _replace_snapshot(call, name, snap, None)
    garbage(call.world, name)[0] += int(snap.get("size", 0) / DEDUP_FACTOR)
    return None


@handles("DELETE", "/admin/datastore/{store}/groups", ("pbs",))
def delete_group(call: Call) -> dict[str, Any]:
    name = call.params["store"]
    group_access(call, name, "Datastore.Modify", "Datastore.Prune")
    btype, bid = call.args.get("backup-type"), str(call.args.get("backup-id"))
    ns = str(call.args.get("ns") or "")
    snaps = snapshots(call.store, name)
    members = [s for s in snaps if (s["backup-type"], s["backup-id"]) == (btype, bid) and str(s.get("ns") or "") == ns]
    if not members:
        raise wire.ApiError(404, wire.pbs_group_missing(f"{ns_prefix(ns)}{btype}/{bid}"))
    removed = [s for s in members if not s.get("protected")]
    set_snapshots(call.store, name, [s for s in snaps if s not in removed])
    garbage(call.world, name)[0] += int(sum(s.get("size", 0) for s in removed) / DEDUP_FACTOR)
    kept = len(members) - len(removed)
    if kept and call.args.get("error-on-protected", True):
        raise wire.ApiError(400, wire.pbs_group_partially_deleted(f"{btype}/{bid}"))
    return {"protected-snapshots": kept, "removed-groups": 0 if kept else 1, "removed-snapshots": len(removed)}


@handles("GET", "/admin/datastore/{store}/files", ("pbs",))
def list_files(call: Call) -> list[dict[str, Any]]:
    group_access(call, call.params["store"], ("Datastore.Audit", "Datastore.Read"), "Datastore.Backup")
    return list(_find_snapshot(call, call.params["store"]).get("files", []))


@handles("GET", "/admin/datastore/{store}/protected", ("pbs",))
def get_protected(call: Call) -> bool:
    group_access(call, call.params["store"], "Datastore.Audit", "Datastore.Backup")
    return bool(_find_snapshot(call, call.params["store"]).get("protected"))


@handles("PUT", "/admin/datastore/{store}/protected", ("pbs",))
def set_protected(call: Call) -> None:
    name = call.params["store"]
    group_access(call, name, "Datastore.Modify", "Datastore.Backup")
    snap = _find_snapshot(call, name)
    _replace_snapshot(call, name, snap, {**snap, "protected": truthy(call.args.get("protected"))})
    return None


@handles("GET", "/admin/datastore/{store}/notes", ("pbs",))
def get_notes(call: Call) -> str:
    group_access(call, call.params["store"], "Datastore.Audit", "Datastore.Backup")
    snap = _find_snapshot(call, call.params["store"])
    return str(snap.get("notes", snap.get("comment", "")))


@handles("PUT", "/admin/datastore/{store}/notes", ("pbs",))
def set_notes(call: Call) -> None:
    name = call.params["store"]
    group_access(call, name, "Datastore.Modify", "Datastore.Backup")
    snap = _find_snapshot(call, name)
    notes = str(call.args.get("notes", ""))
    new = {**snap, "notes": notes}
    if notes.strip():
        new["comment"] = notes.split("\n", 1)[0]
    else:
        new.pop("comment", None)
    _replace_snapshot(call, name, snap, new)
    return None


def _group_entry(call: Call, name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The call's group's seeded entry (added where the group has snapshots only)."""
    key = group_id(call.args)
    groups = _seeded_groups(call.store, name)
    for entry in groups:
        if group_id(entry) == key:
            return groups, entry
    ns, btype, bid = key
    if not any(group_id(s) == key for s in snapshots(call.store, name)):
        raise wire.ApiError(404, wire.pbs_group_missing(f"{ns_prefix(ns)}{btype}/{bid}"))
    entry = {"backup-type": btype, "backup-id": bid, **({"ns": ns} if ns else {})}
    groups.append(entry)
    return groups, entry


@handles("GET", "/admin/datastore/{store}/group-notes", ("pbs",))
def get_group_notes(call: Call) -> str:
    group_access(call, call.params["store"], "Datastore.Audit", "Datastore.Backup")
    _, entry = _group_entry(call, call.params["store"])
    return str(entry.get("comment", ""))


@handles("PUT", "/admin/datastore/{store}/group-notes", ("pbs",))
def set_group_notes(call: Call) -> None:
    name = call.params["store"]
    group_access(call, name, "Datastore.Modify", "Datastore.Backup")
    groups, entry = _group_entry(call, name)
    entry["comment"] = str(call.args.get("notes", ""))
    call.store.set(("admin", "datastore", name, "groups"), groups)
    return None


def hands_over(owner: str, new_owner: str, authid: str) -> bool:
    """What set_backup_owner lets a caller with only Datastore.Backup do: move a group it owns
    between itself (a user, never a token) and its own tokens, or between two of its tokens."""
    user_of = lambda authid: authid.partition("!")[0]  # noqa: E731
    match ("!" in owner, "!" in new_owner):
        case (True, True):
            return user_of(owner) == user_of(new_owner) == authid
        case (True, False):
            return user_of(owner) == authid == new_owner
        case (False, True):
            return owner == authid == user_of(new_owner)
    return False  # user to user: never without Datastore.Modify


@handles("POST", "/admin/datastore/{store}/change-owner", ("pbs",))
def change_owner(call: Call) -> None:
    """PBS's set_backup_owner: Datastore.Modify on the namespace changes any owner; Datastore.Backup
    only as hands_over allows (401 else). The new owner must be an active user or token."""
    name = call.params["store"]
    new_owner, who = str(call.args["new-owner"]), str(call.user or ROOT)
    limited = ns_privs(call, name, "Datastore.Modify", "Datastore.Backup")
    cfg = need_datastore(call, name)
    owner = group_owner(call, name)
    if limited:
        if owner is None:
            raise wire.ApiError(400, wire.pbs_owner_unreadable(owner_file(call, cfg)))
        if not hands_over(owner, new_owner, who):
            group = "/".join(group_id(call.args)[1:])
            raise wire.ApiError(401, wire.pbs_change_owner_denied(who, group, new_owner))
    if not authid_active(call.world, new_owner):
        raise wire.ApiError(400, wire.pbs_authid_inactive(new_owner))
    if owner is None:
        raise wire.ApiError(400, wire.pbs_owner_uncreatable(owner_file(call, cfg)))
    groups, entry = _group_entry(call, name)
    entry["owner"] = new_owner
    call.store.set(("admin", "datastore", name, "groups"), groups)
    return None


# --- namespaces -----------------------------------------------------------------------------------


def _namespaces(store: StateStore, name: str) -> list[dict[str, Any]]:
    seeded = store.get(("admin", "datastore", name, "namespace"))
    out: dict[str, dict[str, Any]] = {"": {"ns": ""}}
    for entry in seeded if isinstance(seeded, list) else []:
        if isinstance(entry, dict) and "ns" in entry:
            out[str(entry["ns"])] = dict(entry)
    for snap in snapshots(store, name):
        ns = str(snap.get("ns") or "")
        parts = [p for p in ns.split("/") if p]
        for i in range(1, len(parts) + 1):
            out.setdefault("/".join(parts[:i]), {"ns": "/".join(parts[:i])})
    return [out[k] for k in sorted(out)]


def _need_modify(call: Call, store_name: str, ns: str) -> None:
    """PBS's check_ns_modification_privs: never the root; Datastore.Modify on the parent."""
    if not ns:
        raise wire.ApiError(400, wire.PBS_ROOT_NAMESPACE_FIXED)
    ns_privs(call, store_name, "Datastore.Modify", ns=ns.rpartition("/")[0])


@handles("GET", "/admin/datastore/{store}/namespace", ("pbs",))
def list_namespaces(call: Call) -> list[dict[str, Any]]:
    """The namespaces below `parent`; without a privilege there, those one has one on (403 if none)."""
    name = call.params["store"]
    parent = str(call.args.get("parent") or "")
    depth = call.args.get("max-depth")
    seen_all = allowed(call, ns_acl_path(name, parent), *NS_PRIVS)
    out = []
    for entry in _namespaces(call.store, name):
        ns = entry["ns"]
        if not seen_all and not allowed(call, ns_acl_path(name, ns), *NS_PRIVS):
            continue
        if parent and not (ns == parent or ns.startswith(parent + "/")):
            continue
        level = len([p for p in ns.split("/") if p]) - len([p for p in parent.split("/") if p])
        if depth is not None and level > int(depth):
            continue
        out.append(entry)
    if not out and not seen_all:
        raise wire.ApiError(403, wire.REST_PERMISSION_FAILED)
    return out


@handles("POST", "/admin/datastore/{store}/namespace", ("pbs",))
def create_namespace(call: Call) -> str:
    name = call.params["store"]
    parent = str(call.args.get("parent") or "")
    ns = f"{parent}/{call.args['name']}" if parent else str(call.args["name"])
    _need_modify(call, name, ns)
    known = _namespaces(call.store, name)
    if any(e["ns"] == ns for e in known):
        raise wire.ApiError(400, wire.pbs_namespace_exists(ns))
    if parent and not any(e["ns"] == parent for e in known):
        raise wire.ApiError(400, wire.pbs_namespace_missing(parent))
    call.store.set(("admin", "datastore", name, "namespace"), [e for e in known if e["ns"]] + [{"ns": ns}])
    return ns


@handles("DELETE", "/admin/datastore/{store}/namespace", ("pbs",))
def delete_namespace(call: Call) -> None:
    name = call.params["store"]
    ns = str(call.args.get("ns") or "")
    _need_modify(call, name, ns)
    known = _namespaces(call.store, name)
    if not any(e["ns"] == ns for e in known):
        raise wire.ApiError(400, wire.pbs_namespace_missing(ns))
    inside = lambda other: other == ns or other.startswith(ns + "/")  # noqa: E731
    snaps = snapshots(call.store, name)
    contained = [s for s in snaps if inside(str(s.get("ns") or ""))]
    if contained and not call.args.get("delete-groups"):
        raise wire.ApiError(400, wire.pbs_namespace_not_empty(ns))
    set_snapshots(call.store, name, [s for s in snaps if s not in contained])
    call.store.set(("admin", "datastore", name, "namespace"), [e for e in known if e["ns"] and not inside(e["ns"])])
    return None
