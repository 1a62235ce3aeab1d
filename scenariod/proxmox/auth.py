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
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

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

_ANONYMOUS_OK = "world"  # Proxmox's permission for calls anyone may make (/access/ticket, ...)
_VERIFIED_SIZE = 256  # Authorization headers remembered as verified (Authenticator._verified)


def _bytes(text: str) -> bytes:
    """A credential as bytes: UTF-8, and a header's bytes that were not UTF-8 (aiohttp hands
    them over as surrogate escapes) as they came, so any credential compares without error."""
    return text.encode("utf-8", "surrogateescape")


def same_secret(given: str, stored: str) -> bool:
    """Constant-time comparison of two credentials, whatever characters they hold."""
    return hmac.compare_digest(_bytes(given), _bytes(stored))


def _sign(key: bytes, text: str) -> str:
    mac = hmac.new(key, _bytes(text), hashlib.sha256).digest()
    return base64.b64encode(mac).decode().rstrip("=")


def make_ticket(world: World, service: str, user: str, now: float) -> str:
    prefix = wire.TICKET_PREFIXES[service]
    plain = f"{prefix}:{user}:{int(now):08X}"
    return f"{plain}::{_sign(world.authkey, plain)}"


def make_csrf(world: World, user: str, now: float) -> str:
    stamp = f"{int(now):08X}"
    return f"{stamp}:{_sign(world.authkey, stamp + ':' + user)}"


def cookie_ticket(value: str) -> str:
    """A ticket as a cookie carries it: browsers send it URL-encoded (`PVE%3Aroot%40pam%3A...`),
    and pveproxy unescapes every cookie value."""
    return unquote(value) if "%" in value else value


class Authenticator:
    """Answers "who is calling?" for each request, or refuses with Proxmox's 401."""

    def __init__(self, scenario: Scenario) -> None:
        self.service = scenario.service
        self.mode = scenario.auth.mode
        self.lifetime = scenario.auth.ticket_lifetime
        self.cookie = wire.COOKIE_NAMES[self.service]
        self.token_scheme, self.token_sep = wire.TOKEN_SCHEMES[self.service]
        # An Authorization header that verified -> (the stored secret it matched, token id, user id,
        # token name): a client repeats its header on every call, and a repeat then skips the
        # parsing and the constant-time comparison. A World that holds that very string as the
        # token's secret holds the header's secret; any other (a changed secret, another World's)
        # is compared in full. Whether the token and its user are active is asked of the World on
        # every call (`token_active`), so a token revoked, or its user disabled or expired, is
        # refused at once.
        self._verified: dict[str, tuple[str, str, str, str]] = {}

    def authenticate(
        self, request: web.BaseRequest, method: str, world: World, node: ApiNode, req: Request
    ) -> str | None:
        if self.mode == "none":
            return "root@pam"
        header = request.headers.get("Authorization")
        if header:
            return self._token(header, world)
        op = node.ops.get(method)
        anonymous = op is not None and (op.permissions or {}).get("user") == _ANONYMOUS_OK
        ticket = request.cookies.get(self.cookie)
        if ticket is None:
            if anonymous:
                return None
            raise wire.ApiError(401, wire.NO_TICKET)
        user = self.verify_ticket(cookie_ticket(ticket), world)
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
        if not sep or not same_secret(signature, _sign(world.authkey, plain)):
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
            named = self._ticket_fields(cookie_ticket(request.cookies.get(self.cookie, "")).rpartition("::")[0])
            until = named[1] + self.lifetime if named else 0.0
        if self.mode == "enforce":
            userid, _, name = user.partition("!")
            until = min(until, active_until(world, userid, name or None))
        return until

    def _csrf_ok(self, token: str, user: str, world: World) -> bool:
        stamp, _, signature = token.partition(":")
        if not same_secret(signature, _sign(world.authkey, stamp + ":" + user)):
            return False
        try:
            return clock(world) - int(stamp, 16) <= self.lifetime
        except ValueError:
            return False

    def _token(self, header: str, world: World) -> str:
        secrets = world.secrets.get("tokens", {}) if self.mode != "any" else None
        known = self._verified.get(header)
        if known is not None and secrets is not None:
            kept, tokenid, userid, name = known
            if secrets.get(tokenid) is kept:
                if token_active(world, userid, name):
                    return tokenid
                raise wire.ApiError(401, wire.AUTH_FAILURE)
        scheme, _, value = header.partition("=")
        if scheme.strip() != self.token_scheme or "!" not in value:
            raise wire.ApiError(401, wire.AUTH_FAILURE)
        tokenid, sep, secret = value.partition(self.token_sep)
        if not sep or not secret:
            raise wire.ApiError(401, wire.AUTH_FAILURE)
        userid, _, name = tokenid.partition("!")
        if secrets is None:  # mode `any`: any well-formed token
            return tokenid
        stored = secrets.get(tokenid)
        if stored is None or not same_secret(secret, stored) or not token_active(world, userid, name):
            raise wire.ApiError(401, wire.AUTH_FAILURE)
        if len(self._verified) >= _VERIFIED_SIZE:
            self._verified.clear()
        self._verified[header] = (stored, tokenid, userid, name)
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
            if stored is not None and same_secret(password, stored) and user_enabled(world, username):
                user = username
        if user is None:
            raise wire.ApiError(401, wire.AUTH_FAILURE)
        now = clock(world)
        return {
            "ticket": make_ticket(world, self.service, user, now),
            "CSRFPreventionToken": make_csrf(world, user, now),
            "username": user,
            "cap": wire.capabilities(self.service),
        }


def token_active(world: World, userid: str, name: str) -> bool:
    """Whether the API token and its user are usable now: read from the state once per version
    of /access (`World.cached`), so writes elsewhere cost a token nothing."""
    until = world.cached(("token", userid, name), lambda: active_until(world, userid, name), "access")
    return clock(world) < until


def active_until(world: World, userid: str, token: str | None = None) -> float:
    """Until when (world clock) the account, and its token `token`, stay usable: 0 when they
    are not (gone, disabled: a PBS/PDM token has its own `enable`), infinity when nothing
    expires. PVE refuses an expired token too (verify_token: "token expired"), PBS and PDM a
    disabled or expired one (is_active_auth_id)."""
    user = world.store.get(("access", "users", userid))
    if not isinstance(user, dict) or not _enabled(user):
        return 0.0
    until = int(user.get("expire", 0) or 0) or math.inf
    if token is not None:
        found = world.store.get(("access", "users", userid, "token", token))
        if not isinstance(found, dict) or not _enabled(found):
            return 0.0  # gone with its user, revoked, or disabled
        until = min(until, int(found.get("expire", 0) or 0) or math.inf)
    return until


def _enabled(item: dict[str, Any]) -> bool:
    """A boolean `enable` as Proxmox parses one (1/0, true/false, yes/no, on/off), on by default."""
    return str(item.get("enable", 1)).lower() not in ("0", "false", "no", "off", "")


def user_enabled(world: World, userid: str) -> bool:
    return clock(world) < active_until(world, userid)


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
    answer = _authenticator(call).login(call)
    call.user = answer["username"]  # the caller is known now (a session's first login admits it)
    return answer


@handles("GET", "/access/ticket", ("pve", "pbs", "pdm"))
def ticket_index(call: Call) -> None:
    return None


@handles("POST", "/access/users", ("pve",))
def create_user(call: Call) -> None:
    from .. import generic

    password = call.args.pop("password", None)
    generic.handle(call)
    forget_user_secrets(call.world, str(call.args["userid"]))
    if password is not None:
        call.world.secrets["passwords"][str(call.args["userid"])] = str(password)
    return None


def forget_user_secrets(world: World, userid: str) -> None:
    """A user created anew starts without the password and tokens of an earlier one of its name."""
    secrets = world.secrets
    secrets["passwords"].pop(userid, None)
    prefix = userid + "!"
    for tokenid in [t for t in secrets["tokens"] if t.startswith(prefix)]:
        del secrets["tokens"][tokenid]


@handles("PUT", "/access/password", ("pve", "pdm"))  # PBS's: rest_access
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
