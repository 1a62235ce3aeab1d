"""PVE's global SDN lock (pve-network): `POST /cluster/sdn/lock` hands out a token, and while it is
held every SDN write that takes a `lock-token` (applying, rolling back, releasing, and each zone,
vnet, subnet, controller, IPAM, DNS or fabric change) must carry that token, else pve-network's
refusal. The token is held in state (what /etc/pve/sdn/.lock holds), never answered by a GET nor
stored with an SDN object.
Pending and running SDN configurations are not kept apart: a rollback only checks and releases.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

from .. import generic, wire
from ..clock import clock
from . import falls_back, handles

if TYPE_CHECKING:
    from ..world import Call

_LOCK = ("cluster", "sdn", "lock")
_OBJECTS = {"zones": "zone", "vnets": "vnet", "subnets": "subnet", "controllers": "controller", "ipams": "ipam"}
_VERBS = {"POST": "create", "PUT": "update", "DELETE": "delete"}
_FABRIC_VERBS = {"POST": "adding", "PUT": "updating", "DELETE": "deleting"}


def _token_sent(call: Call) -> str | None:
    value = call.args.get("lock-token")
    return None if value is None else str(value)


def _generic(call: Call) -> Any:
    """The write itself, generic, without the lock's parameters (pve-network extracts them first)."""
    call.args = {k: v for k, v in call.args.items() if k not in ("lock-token", "release-lock")}
    return generic.handle(call)


def _held(call: Call) -> str | None:
    held = call.store.get(_LOCK, None)
    return str(held["token"]) if isinstance(held, dict) and held.get("token") else None


def _check(call: Call, failure: str) -> None:
    """lock_sdn_config: a held lock needs its token."""
    held = _held(call)
    if held is not None and _token_sent(call) != held:
        raise wire.sdn_lock_refused(failure)


def _release_if_asked(call: Call) -> None:
    """`release-lock` (default on) frees the lock once the call that carried the token succeeded."""
    if _token_sent(call) and call.args.get("release-lock", 1) not in (0, "0", False):
        call.store.delete(_LOCK)


def _uuid7(now: float) -> str:
    """A version 7 UUID, as pve-network's generate_lock_token makes the token."""
    raw = bytearray(int(now * 1000).to_bytes(6, "big") + os.urandom(10))
    raw[6] = 0x70 | (raw[6] & 0x0F)
    raw[8] = 0x80 | (raw[8] & 0x3F)
    return str(uuid.UUID(bytes=bytes(raw)))


@handles("POST", "/cluster/sdn/lock")
def acquire(call: Call) -> str:
    _check(call, "could not acquire lock for SDN config")  # a lock already held: no token can be sent here
    token = _uuid7(clock(call.world))
    call.store.set(_LOCK, {"token": token})
    return token


@handles("DELETE", "/cluster/sdn/lock")
def release(call: Call) -> None:
    if not call.args.get("force"):
        _check(call, "could not release lock")
    call.store.delete(_LOCK)


@handles("POST", "/cluster/sdn/rollback")
def rollback(call: Call) -> None:
    _check(call, "could not rollback SDN configuration")
    _release_if_asked(call)


@handles("PUT", "/cluster/sdn")
def apply(call: Call) -> Any:
    _check(call, "could not commit SDN config")
    _release_if_asked(call)
    return _generic(call)


def _failure(method: str, template: str) -> str:
    """The message each pve-network object API gives lock_sdn_config (ipam's delete says zone)."""
    literal = [s for s in template.split("/") if s and not s.startswith("{")]
    if len(literal) > 3 and literal[2] == "fabrics":
        return f"{_FABRIC_VERBS[method]} {literal[3]} failed"
    if (method, literal[-1]) == ("DELETE", "ipams"):
        return "delete sdn zone object failed"
    return f"{_VERBS[method]} sdn {_OBJECTS.get(literal[-1], literal[-1])} object failed"


@falls_back("/cluster/sdn/", ("pve",), ("POST", "PUT", "DELETE"))
def write_object(call: Call) -> Any:
    """Every other SDN write: the lock checked where the operation takes a `lock-token`."""
    if "lock-token" in call.op.parameters.get("properties", ()):
        _check(call, _failure(call.method, call.node.path))
    return _generic(call)
