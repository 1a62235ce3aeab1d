"""Guest tags and who may set them: datacenter.cfg's `user-tag-access` and `registered-tags`.

PVE lets a user holding VM.Config.Options change a guest's tags only within what the datacenter
options allow (pve-guest-common's get_allowed_tags and assert_tag_permissions): `user-allow`
free (any tag), list (`user-allow-list` only), existing (the list and tags already on guests the
user may audit) or none; registered tags only with Sys.Modify on `/`, which also lifts every
other limit. The options are read from `/cluster/options` as seeded or set, in either spelling
(datacenter.cfg's property strings, or the parsed form `GET /cluster/options` answers), and only
when a limited user changes a tag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import wire
from ..params.values import split_list
from . import handles
from .access import Viewer, viewer
from .cluster import guests

if TYPE_CHECKING:
    from ..state import StateStore
    from ..world import Call

_OPTIONS = ("cluster", "options")


def split_tags(value: Any) -> list[str]:
    """A tag list as PVE splits it (PVE::Tools::split_list: `;`, `,` or blanks between tags)."""
    if isinstance(value, list):
        return [str(v) for v in value]
    return split_list(str(value or ""))


def _user_tag_access(value: Any) -> dict[str, Any]:
    """`user-tag-access` parsed as datacenter.cfg's reader parses it (the list split on `;`)."""
    if isinstance(value, dict):
        parsed = dict(value)
    else:
        parsed = {}
        for part in str(value or "").split(","):
            key, eq, val = part.partition("=")
            if part:
                parsed[key if eq else "user-allow"] = val if eq else key
    if "user-allow-list" in parsed:
        parsed["user-allow-list"] = split_tags(parsed["user-allow-list"])
    return parsed


def datacenter_options(store: StateStore) -> dict[str, Any]:
    """`/cluster/options` as cfs_read_file('datacenter.cfg') gives it: the tag options parsed."""
    stored = store.get(_OPTIONS, None)
    options = dict(stored) if isinstance(stored, dict) else {}
    if "user-tag-access" in options:
        options["user-tag-access"] = _user_tag_access(options["user-tag-access"])
    if "registered-tags" in options:
        options["registered-tags"] = split_tags(options["registered-tags"])
    return options


def _rules(store: StateStore) -> tuple[str, list[str], set[str]]:
    """(user-allow, user-allow-list, registered-tags) of the datacenter options."""
    options = datacenter_options(store)
    access = options.get("user-tag-access", {})
    return access.get("user-allow", "free"), access.get("user-allow-list", []), set(options.get("registered-tags", ()))


def allowed_tags(store: StateStore, view: Viewer | None) -> set[str]:
    """get_allowed_tags: the tags the caller may set (and see offered)."""
    privileged = view is None or view.can("/", "Sys.Modify")
    user_allow, allow_list, registered = _rules(store)
    allowed: set[str] = set(allow_list) if user_allow != "none" or privileged else set()
    if user_allow in ("free", "existing") or privileged:
        for _, _, item in guests(store):
            if not item.get("tags"):
                continue
            if privileged or (view is not None and view.can(f"/vms/{item.get('vmid')}", "VM.Audit")):
                allowed.update(split_tags(item["tags"]))
    return allowed | registered if privileged else allowed - registered


def assert_tag_permissions(view: Viewer, store: StateStore, old: Any, new: Any) -> None:
    """The tags added or removed (counted, as PVE counts them) each allowed, else Proxmox's 403.
    The caller has checked VM.Config.Options on the guest first, as PVE does. Under `free` only
    the registered tags are limited, so the guests' tags are not gathered then."""
    if view.can("/", "Sys.Modify"):
        return
    before, after = split_tags(old), split_tags(new)
    changed = {t for t in {*before, *after} if before.count(t) != after.count(t)}
    if not changed:
        return
    user_allow, _, registered = _rules(store)
    allowed = None if user_allow == "free" else allowed_tags(store, view)
    for tag in sorted(changed):
        if tag in registered or (allowed is not None and tag not in allowed):
            raise wire.permission_failed(wire.tag_needs_sys_modify(tag))


@handles("GET", "/cluster/options", stable=True)
def cluster_options(call: Call) -> dict[str, Any]:
    """The datacenter options (only `console` and `tag-style` without Sys.Audit on `/`) and the
    `allowed-tags` of the caller, as pve-manager answers them."""
    view = viewer(call)
    options = datacenter_options(call.store)
    if view is not None and not view.can("/", "Sys.Audit"):
        options = {k: options[k] for k in ("console", "tag-style") if k in options}
    options["allowed-tags"] = sorted(allowed_tags(call.store, view))
    return options
