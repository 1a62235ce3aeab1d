"""PVE storage content: what `GET /nodes/{node}/storage/{storage}/content` lists, and what removes it.

Guest volumes are derived from the guests' configurations (volumes.guest_volumes), so a
create, resize, move, template conversion or destroy shows in the content at once and is
never kept twice. Everything else (ISO images, templates, backups, snippets, imports, and
images a scenario seeds or a client allocates) is stored under
`/nodes/NODE/storage/STORAGE/content/VOLID`; a shared storage lists what any node stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import handles
from .cluster import GUEST_TYPES
from .volumes import guest_volumes

if TYPE_CHECKING:
    from ..state import StateStore
    from ..world import Call

GUEST_CONTENT = ("images", "rootdir")


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
                seen.setdefault(str(entry.get("volid", key)), {"volid": key, **entry})
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
    if vmid is not None:
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
