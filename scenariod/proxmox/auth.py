"""Authentication as Proxmox has it: tickets, CSRF tokens, API tokens, users.

Modes (`auth.mode`): `enforce` checks credentials against the scenario's users and tokens
and those created through the API; `any` lets any username/password log in and accepts any
well-formed token, but still wants a ticket or token on every call; `none` runs every call
as root@pam.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import uuid
from typing import TYPE_CHECKING, Any

from .. import wire
from ..clock import clock
from ..state import MISSING
from . import handles, prepares

if TYPE_CHECKING:
    from aiohttp import web

    from ..apidesc import ApiNode
    from ..request import Request
    from ..scenario.model import Scenario
    from ..world import Call, World

# One key per process: tickets survive a scenario reload, not a restart (as on a real node).
_KEY = os.urandom(32)
_ANONYMOUS_OK = "world"  # Proxmox's permission for calls anyone may make (/access/ticket, ...)


def _sign(text: str) -> str:
    mac = hmac.new(_KEY, text.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode().rstrip("=")


def make_ticket(service: str, user: str, now: float) -> str:
    prefix = wire.TICKET_PREFIXES[service]
    plain = f"{prefix}:{user}:{int(now):08X}"
    return f"{plain}::{_sign(plain)}"


def make_csrf(user: str, now: float) -> str:
    stamp = f"{int(now):08X}"
    return f"{stamp}:{_sign(stamp + ':' + user)}"


class Authenticator:
    """Answers "who is calling?" for each request, or refuses with Proxmox's 401."""

    def __init__(self, scenario: Scenario) -> None:
        self.service = scenario.service
        self.mode = scenario.auth.mode
        self.lifetime = scenario.auth.ticket_lifetime
        self.cookie = wire.COOKIE_NAMES[self.service]
        self.token_scheme, self.token_sep = wire.TOKEN_SCHEMES[self.service]

    def authenticate(
        self, request: web.BaseRequest, method: str, world: World, node: ApiNode, req: Request
    ) -> str | None:
        if self.mode == "none":
            return "root@pam"
        op = node.ops.get(method)
        anonymous = op is not None and (op.permissions or {}).get("user") == _ANONYMOUS_OK
        header = request.headers.get("Authorization")
        if header:
            return self._token(header, world)
        ticket = request.cookies.get(self.cookie)
        if ticket is None:
            if anonymous:
                return None
            raise wire.ApiError(401, wire.NO_TICKET)
        user = self.verify_ticket(ticket, world)
        if user is None:
            if anonymous:
                return None
            raise wire.ApiError(401, wire.INVALID_TICKET[self.service])
        if method not in ("GET", "HEAD") and not anonymous:
            csrf = request.headers.get(wire.CSRF_HEADER)
            if not csrf or not self._csrf_ok(csrf, user, world):
                raise wire.ApiError(401, wire.INVALID_CSRF)
        return user

    def verify_ticket(self, ticket: str, world: World) -> str | None:
        """The user a valid, unexpired ticket names, else None."""
        plain, sep, signature = ticket.rpartition("::")
        if not sep or not hmac.compare_digest(_sign(plain), signature):
            return None
        named = self._ticket_fields(plain)
        if named is None:
            return None
        user, issued = named
        if clock(world) - issued > self.lifetime:
            return None
        if self.mode == "enforce" and not user_enabled(world, user):
            return None
        return user

    def _ticket_fields(self, plain: str) -> tuple[str, int] | None:
        """(user, issued) from a ticket's signed part, if it is one of this service's."""
        try:
            prefix, user, stamp = plain.split(":", 2)
            issued = int(stamp, 16)
        except ValueError:
            return None
        return (user, issued) if prefix == wire.TICKET_PREFIXES[self.service] else None

    def horizon(self, request: web.BaseRequest, user: str, world: World) -> float:
        """Until when (world clock) the request's credentials keep the verdict `user`, while
        state is unchanged: the ticket's lifetime and the account's `expire`."""
        if self.mode == "none":
            return math.inf
        until = math.inf
        if not request.headers.get("Authorization"):
            named = self._ticket_fields(request.cookies.get(self.cookie, "").rpartition("::")[0])
            until = named[1] + self.lifetime if named else 0.0
        if self.mode == "enforce":
            account = world.store.get(("access", "users", user.split("!", 1)[0]))
            expire = int(account.get("expire", 0) or 0) if isinstance(account, dict) else 0
            if expire:
                until = min(until, expire)
        return until

    def _csrf_ok(self, token: str, user: str, world: World) -> bool:
        stamp, _, signature = token.partition(":")
        if not hmac.compare_digest(_sign(stamp + ":" + user), signature):
            return False
        try:
            return clock(world) - int(stamp, 16) <= self.lifetime
        except ValueError:
            return False

    def _token(self, header: str, world: World) -> str:
        scheme, _, value = header.partition("=")
        if scheme.strip() != self.token_scheme or "!" not in value:
            raise wire.ApiError(401, wire.AUTH_FAILURE)
        tokenid, sep, secret = value.partition(self.token_sep)
        if not sep or not secret:
            raise wire.ApiError(401, wire.AUTH_FAILURE)
        userid = tokenid.split("!", 1)[0]
        if self.mode == "any":
            return tokenid
        stored = world.secrets.get("tokens", {}).get(tokenid)
        if stored is None or not hmac.compare_digest(stored, secret) or not user_enabled(world, userid):
            raise wire.ApiError(401, wire.AUTH_FAILURE)
        return tokenid

    def login(self, call: Call) -> dict[str, Any]:
        """POST /access/ticket: check the password (or a ticket given as password)."""
        args = call.args
        username = str(args.get("username", ""))
        realm = args.get("realm")
        if realm and "@" not in username:
            username = f"{username}@{realm}"
        password = str(args.get("password", ""))
        world = call.world
        user = None
        if password.startswith(wire.TICKET_PREFIXES[self.service] + ":"):
            ticket_user = self.verify_ticket(password, world)
            if ticket_user is not None and ticket_user == username:
                user = ticket_user
        elif self.mode in ("any", "none"):
            user = username if "@" in username else f"{username}@pam"
        else:
            stored = world.secrets.get("passwords", {}).get(username)
            if stored is not None and hmac.compare_digest(stored, password) and user_enabled(world, username):
                user = username
        if user is None:
            raise wire.ApiError(401, wire.AUTH_FAILURE)
        now = clock(world)
        return {
            "ticket": make_ticket(self.service, user, now),
            "CSRFPreventionToken": make_csrf(user, now),
            "username": user,
            "cap": wire.capabilities(self.service),
        }


def user_enabled(world: World, userid: str) -> bool:
    user = world.store.get(("access", "users", userid))
    if user is MISSING or not isinstance(user, dict):
        return False
    if str(user.get("enable", 1)) in ("0", "False", "false"):
        return False
    expire = int(user.get("expire", 0) or 0)
    return not expire or expire > clock(world)


# --- state: declared users and tokens are users and tokens of the API ------------------------


@prepares("pve", "pbs", "pdm")
def seed_users(world: World, scenario: Scenario) -> None:
    """Declared users and tokens are users and tokens of the API; secrets stay off the state."""
    store, keep = world.store, world.secrets
    for user in scenario.auth.users:
        userid = user["userid"]
        fields = _wire_fields(user, drop=("password",))
        fields.setdefault("enable", 1)
        fields.setdefault("expire", 0)
        current = store.get(("access", "users", userid))
        store.set(("access", "users", userid), {**(current if isinstance(current, dict) else {}), **fields})
        if "password" in user:
            keep["passwords"][userid] = str(user["password"])
    for token in scenario.auth.tokens:
        tokenid = token["tokenid"]
        userid, _, name = tokenid.partition("!")
        if store.get(("access", "users", userid)) is MISSING:
            store.set(("access", "users", userid), {"userid": userid, "enable": 1, "expire": 0})
        fields = _wire_fields(token, drop=("secret", "tokenid", "userid", "name"))
        fields.setdefault("privsep", 0)
        store.set(("access", "users", userid, "token", name), {"tokenid": name, **fields})
        keep["tokens"][tokenid] = str(token["secret"])
    if store.get(("access", "users", "root@pam")) is MISSING:
        store.set(("access", "users", "root@pam"), {"userid": "root@pam", "enable": 1, "expire": 0})


def _wire_fields(spec: dict[str, Any], drop: tuple[str, ...]) -> dict[str, Any]:
    """Fields as Proxmox lists them: unset ones absent, booleans as 0/1."""
    return {k: int(v) if isinstance(v, bool) else v for k, v in spec.items() if k not in drop and v is not None}


# --- the API calls that log in and manage credentials ---------------------------------------


def _authenticator(call: Call) -> Authenticator:
    return Authenticator(call.scenario)


@handles("POST", "/access/ticket", ("pve", "pbs", "pdm"))
def create_ticket(call: Call) -> dict[str, Any]:
    return _authenticator(call).login(call)


@handles("GET", "/access/ticket", ("pve", "pbs", "pdm"))
def ticket_index(call: Call) -> None:
    return None


@handles("POST", "/access/users", ("pve",))
def create_user(call: Call) -> None:
    from .. import generic

    password = call.args.pop("password", None)
    generic.handle(call)
    if password is not None:
        call.world.secrets["passwords"][str(call.args["userid"])] = str(password)
    return None


@handles("PUT", "/access/password", ("pve", "pbs", "pdm"))
def change_password(call: Call) -> None:
    userid = str(call.args.get("userid", call.actor))
    if call.store.get(("access", "users", userid)) is MISSING:
        raise wire.ApiError(500, wire.pve_user_missing(userid))
    call.world.secrets["passwords"][userid] = str(call.args.get("password", ""))
    return None


@handles("POST", "/access/users/{userid}/token/{tokenid}", ("pve",))
def create_token(call: Call) -> dict[str, Any]:
    userid, name = call.params["userid"], call.params["tokenid"]
    path = ("access", "users", userid, "token", name)
    if call.store.get(("access", "users", userid)) is MISSING:
        raise wire.ApiError(500, wire.pve_user_missing(userid))
    if call.store.get(path) is not MISSING:
        raise wire.ApiError(500, wire.PVE_TOKEN_EXISTS)
    fields = {k: v for k, v in call.args.items() if k not in ("userid", "tokenid")}
    fields.setdefault("privsep", 1)
    fields.setdefault("expire", 0)
    call.store.set(path, {"tokenid": name, **fields})
    secret = str(uuid.uuid4())
    call.world.secrets["tokens"][f"{userid}!{name}"] = secret
    return {"full-tokenid": f"{userid}!{name}", "info": fields, "value": secret}


@handles("DELETE", "/access/users/{userid}/token/{tokenid}", ("pve",))
def delete_token(call: Call) -> None:
    userid, name = call.params["userid"], call.params["tokenid"]
    path = ("access", "users", userid, "token", name)
    if call.store.get(path) is MISSING:
        raise wire.ApiError(500, wire.pve_token_missing(userid, name))
    call.store.delete(path)
    call.world.secrets["tokens"].pop(f"{userid}!{name}", None)
    return None
