"""PDM's remote configuration: adding, changing and removing the remotes it manages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ... import wire
from .. import handles
from .model import (
    DEFAULT_REMOTE_VERSION,
    REMOTE_FIELDS,
    live_remote,
    managed,
    normalize_remote,
    remote_cfg,
    sync_managed,
)
from .remote_client import remote_calls
from .resources import audited

if TYPE_CHECKING:
    from ...world import Call

# --- remote configuration --------------------------------------------------------------------------


def _public(cfg: dict[str, Any]) -> dict[str, Any]:
    """A remote as PDM shows it: the token secret is never sent back."""
    return {**{k: v for k, v in cfg.items() if k in REMOTE_FIELDS}, "token": ""}


@handles("GET", "/remotes/remote", ("pdm",))
def list_remotes(call: Call) -> list[dict[str, Any]]:
    return [_public(r) for r in audited(call, managed(call.store))]


@handles("POST", "/remotes/remote", ("pdm",))
def add_remote(call: Call) -> None:
    rid = str(call.args["id"])
    if remote_cfg(call.store, rid) is not None:
        raise wire.parameter_error({"id": wire.pdm_remote_exists(rid)})
    cfg = normalize_remote(call.args, rid)
    call.store.set(("remotes", "remote", rid), cfg)
    sync_managed(call.store)
    return None


@handles("PUT", "/remotes/remote/{id}", ("pdm",))
def update_remote(call: Call) -> None:
    rid = call.params["id"]
    cfg = dict(remote_cfg(call.store, rid) or {})
    deleted = call.args.get("delete") or []
    for key in [deleted] if isinstance(deleted, str) else deleted:
        if key in ("web-url",):
            cfg.pop(key, None)
    for key, value in call.args.items():
        if key in REMOTE_FIELDS and key not in ("id", "type"):
            cfg[key] = value
    call.store.set(("remotes", "remote", rid), normalize_remote(cfg, rid))
    sync_managed(call.store)
    return None


@handles("DELETE", "/remotes/remote/{id}", ("pdm",))
def remove_remote(call: Call) -> None:
    call.store.delete(("remotes", "remote", call.params["id"]))
    sync_managed(call.store)
    return None


@handles("GET", "/remotes/remote/{id}/config", ("pdm",))
def remote_config(call: Call) -> dict[str, Any]:
    return _public(remote_cfg(call.store, call.params["id"]) or {})


@handles("GET", "/remotes/remote/{id}/version", ("pdm",))
def remote_version(call: Call) -> Any:
    rid = call.params["id"]
    cfg = live_remote(call.store, rid)
    if cfg is not None:  # the remote's own `/version`
        return remote_calls(call.world).get(cfg, "/version")
    stored = call.store.get(("remotes", "remote", rid, "version"))
    if isinstance(stored, dict):
        return stored
    return dict(DEFAULT_REMOTE_VERSION[(remote_cfg(call.store, rid) or {}).get("type", "pve")])


@handles("GET", "/pve/remotes", ("pdm",))
def pve_remotes(call: Call) -> list[dict[str, Any]]:
    return [{"remote": r["id"]} for r in managed(call.store, "pve")]


@handles("GET", "/pbs/remotes", ("pdm",))
def pbs_remotes(call: Call) -> list[dict[str, Any]]:
    return [{"remote": r["id"]} for r in managed(call.store, "pbs")]
