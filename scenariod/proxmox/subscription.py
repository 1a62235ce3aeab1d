"""A PVE node's subscription key, as pve-manager's Subscription.pm and proxmox-subscription keep it.

A node here cannot reach Proxmox's shop, so it behaves as a real node without internet access:
setting a key (PUT) first writes the key alone (status `new`, a file that reads back as no
subscription at all), then fails checking it online; an update (POST) of a key that needs a
check fails the same way; DELETE removes it. What `GET` shows depends on Sys.Audit on the node.
A scenario may seed any subscription (an active one, say) and `GET` answers it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .. import wire
from ..clock import clock
from . import handles
from .access import viewer
from .node import subscription as fresh_subscription

if TYPE_CHECKING:
    from ..world import Call

_KEY = re.compile(r"^pve([1248])([cbsp])-(arm-)?[0-9a-f]{10}$")  # Subscription.pm's key_pattern
_RECHECK_AGE = 5 * 24 * 3600  # an unsigned key checked less than 5 days ago is not checked again


def _path(call: Call) -> tuple[str, ...]:
    return ("nodes", call.params["node"], "subscription")


def _info(call: Call) -> dict[str, Any]:
    stored = call.store.get(_path(call), None)
    return dict(stored) if isinstance(stored, dict) else {}


def _none_set(call: Call, info: dict[str, Any]) -> dict[str, Any]:
    """What reads back once no key is held: a fresh node's answer, with this node's server ID."""
    node = call.params["node"]
    fresh = fresh_subscription(call.scenario.seed, node)
    return {**fresh, **{k: info[k] for k in ("serverid", "sockets") if k in info}}


def _check_key(key: str, info: dict[str, Any]) -> None:
    """check_key: enough sockets for this host, and the host's architecture (amd64)."""
    m = _KEY.match(key)
    if m is None:
        raise wire.ApiError(500, "Wrong subscription key format")
    sockets, host = int(m.group(1)), int(info.get("sockets", 1) or 1)
    if sockets < host:
        raise wire.ApiError(500, f"wrong number of sockets ({sockets} < {host})")
    if m.group(3):
        raise wire.ApiError(500, "subscription key is for the 'arm64' architecture, but this host is 'amd64'")


@handles("GET", "/nodes/{node}/subscription", stable=True)
def read(call: Call) -> dict[str, Any]:
    """Subscription.pm's answer: with Sys.Audit on the node, the whole record (with the host's
    server ID and sockets); without, the status, its message and the shop's URL."""
    info = _info(call)
    view = viewer(call)
    audit = view is None or view.can(f"/nodes/{call.params['node']}", "Sys.Audit")
    host = _none_set(call, info)
    if info.get("status", "notfound") == "notfound":
        shown = {k: host[k] for k in ("status", "message", "url")}
        return {**shown, "serverid": host["serverid"]} if audit else shown
    if not audit:
        return {"status": info["status"], "message": info.get("message"), "url": host["url"]}
    serverid = info.get("serverid") or host["serverid"]
    return {**info, "serverid": serverid, "sockets": host["sockets"], "url": host["url"]}


@handles("PUT", "/nodes/{node}/subscription")
def set_key(call: Call) -> None:
    """The key checked locally, written alone (reads back as none), then the online check fails."""
    info = _info(call)
    key = str(call.args["key"]).strip()
    _check_key(key, info)
    call.store.set(_path(call), _none_set(call, info))
    raise wire.ApiError(500, wire.SUBSCRIPTION_CHECK_OFFLINE)


@handles("POST", "/nodes/{node}/subscription")
def update(call: Call) -> None:
    """Nothing to do without a key, or for a key checked in the last 5 days (unless `force`); an
    offline key cannot be updated; any other key would be checked online, which fails here."""
    info = _info(call)
    if info.get("status", "notfound") == "notfound" or not info.get("key"):
        return None
    if info.get("signature"):
        raise wire.ApiError(500, wire.SUBSCRIPTION_OFFLINE_KEY)
    checked = info.get("checktime")
    recent = isinstance(checked, int | float) and clock(call.world) - checked <= _RECHECK_AGE
    if not call.args.get("force") and info.get("status") == "active" and recent:
        return None
    _check_key(str(info["key"]), info)
    raise wire.ApiError(500, wire.SUBSCRIPTION_CHECK_OFFLINE)


@handles("DELETE", "/nodes/{node}/subscription")
def delete(call: Call) -> None:
    call.store.set(_path(call), _none_set(call, _info(call)))
