"""PDM's connections to its live remotes: HTTPS with each remote's own token, answers kept a
short while per remote, a bounded number of requests at once.

Which remotes are live: a remote's `live: true|false` (a scenario-only key of the remote's
entry, never shown by the API) decides; without it, a remote is live when every one of its
`nodes` names a loopback host (127.0.0.0/8, ::1, localhost). Any other remote answers from
the state the scenario declares for it and is never connected to, so a scenario with
example.com remotes stays offline.

How a remote is reached: `hostname=HOST[:PORT][,fingerprint=SHA256]` as PDM writes it; the
port defaults to 8006 (PVE) or 8007 (PBS). PDM always speaks HTTPS; a mock serving plain HTTP
is named `hostname=http://HOST:PORT`. With a `fingerprint`, the certificate must have that
SHA-256 digest (PDM's pin) and nothing else is checked; without one, it must verify against
the system's CAs or scenariod's own local CA (tls.py), which signs every instance's
certificate (the HTTP client and that trust are ../outbound.py's, shared with PVE's remote
migration). Requests carry `PVEAPIToken=AUTHID=SECRET` or `PBSAPIToken=AUTHID:SECRET`.

Answers of GET requests are kept for `limits.remote_cache` (errors too, as PDM backs off a
dead remote) per World and per remote; any request PDM forwards that changes the remote
forgets that remote's answers. Identical GETs in flight share one request; at most
`limits.remote_fetches` requests run at once; each may take `limits.remote_timeout`. The
cache runs on the wall clock, not the World's: it is about a real network.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import operator
import os
import ssl
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

import aiohttp
import orjson

from ... import wire
from .. import outbound

if TYPE_CHECKING:
    from ...scenario import Limits
    from ...world import World

DEFAULT_PORTS = {"pve": 8006, "pbs": 8007}
T = TypeVar("T")
MAX_VIEWS = 1024  # views built from kept answers, per World


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One of a remote's nodes, as PDM connects to it."""

    url: str  # scheme://host:port
    host: str
    port: int
    fingerprint: str | None  # the pinned SHA-256, hex digits (colons allowed)
    hostname: str  # as the remote's configuration writes it (`HOST[:PORT]`)


def endpoints(cfg: dict[str, Any]) -> list[Endpoint]:
    return _endpoints(str(cfg.get("type") or "pve"), tuple(map(str, cfg.get("nodes") or ())))


@functools.lru_cache(maxsize=4096)
def _endpoints(kind: str, nodes: tuple[str, ...]) -> list[Endpoint]:
    """Parsed once per configuration: every request of every remote needs them."""
    out = []
    default_port = DEFAULT_PORTS.get(kind, 8006)
    for entry in nodes:
        fields = dict(part.partition("=")[::2] for part in str(entry).split(",") if part)
        hostname = written = fields.get("hostname", "")
        scheme = "https"
        if "://" in hostname:
            scheme, _, hostname = hostname.partition("://")
        if hostname.startswith("["):
            host, _, rest = hostname[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else ""
        elif hostname.count(":") == 1:
            host, _, port = hostname.partition(":")
        else:
            host, port = hostname, ""
        if not host:
            continue
        shown = f"[{host}]" if ":" in host else host
        number = int(port) if port.isdigit() else default_port
        out.append(Endpoint(f"{scheme}://{shown}:{number}", host, number, fields.get("fingerprint") or None, written))
    return out


@functools.lru_cache(maxsize=4096)
def _loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_live(cfg: dict[str, Any]) -> bool:
    flag = cfg.get("live")
    if flag is not None:
        return flag is True or str(flag).lower() in ("1", "true", "yes", "on")
    found = endpoints(cfg)
    return bool(found) and all(_loopback(e.host) for e in found)


class RemoteError(wire.ApiError):
    """A remote that did not answer, or answered with an error, as PDM reports it.

    As an answer of PDM's per-remote calls it is a 400 with the error's first line (PDM
    passes client errors on so); `cause` is the root of the error chain, which
    `/resources/list` shows as the failed remote's `error`.
    """

    def __init__(self, message: str, cause: str | None = None) -> None:
        super().__init__(400, message)
        self.cause = cause if cause is not None else message


def _api_failure(status: int, body: bytes, reason: str | None) -> RemoteError:
    """proxmox-client's `Error::Api`: the envelope's message, else the body, else the status."""
    message = ""
    try:
        parsed = orjson.loads(body)
        if isinstance(parsed, dict) and parsed.get("message"):
            message = str(parsed["message"]).strip()
    except orjson.JSONDecodeError:
        message = body.decode("utf-8", "replace").strip()
    message = message or (reason or "") or f"HTTP error {status}"
    return RemoteError(wire.pdm_remote_api_error(status, message))


def _connect_failure(exc: BaseException) -> RemoteError:
    if isinstance(exc, aiohttp.ServerFingerprintMismatch | aiohttp.ClientConnectorCertificateError | ssl.SSLError):
        cause = wire.TLS_VERIFY_FAILED
    elif isinstance(exc, aiohttp.ClientConnectorError) and exc.os_error.errno:
        errno = exc.os_error.errno
        cause = wire.os_error(errno, os.strerror(errno))
    else:
        cause = str(exc) or type(exc).__name__
    return RemoteError(wire.pdm_connect_failed(cause), cause)


def _tls(endpoint: Endpoint) -> outbound.TLS:
    try:
        return outbound.tls_for(endpoint.url, endpoint.fingerprint)
    except ValueError:
        raise RemoteError(wire.PDM_BAD_FINGERPRINT) from None


def _authorization(cfg: dict[str, Any]) -> str:
    authid, token = cfg.get("authid") or "root@pam", cfg.get("token") or ""
    if cfg.get("type") == "pbs":
        return f"PBSAPIToken={authid}:{token}"
    return f"PVEAPIToken={authid}={token}"


@dataclass
class RemoteCalls:
    """One World's view of its live remotes: kept answers, requests in flight, the gate."""

    limits: Limits
    kept: dict[tuple[Any, ...], tuple[float, bool, Any]] = field(default_factory=dict)
    views: dict[tuple[Any, ...], tuple[Any, Any]] = field(default_factory=dict)
    flying: dict[tuple[Any, ...], asyncio.Future[Any]] = field(default_factory=dict)
    gate: asyncio.Semaphore | None = None

    async def request(self, cfg: dict[str, Any], method: str, path: str, params: dict[str, Any] | None) -> Any:
        """The remote's whole answer to one request, trying its nodes in order as PDM does."""
        found = endpoints(cfg)
        if not found:
            raise RemoteError(wire.PDM_NO_REMOTE_NODES)
        if self.gate is None:
            self.gate = asyncio.Semaphore(max(1, self.limits.remote_fetches))
        authorization = _authorization(cfg)
        failure = RemoteError(wire.PDM_REMOTE_TIMED_OUT)
        for endpoint in found:
            try:
                async with self.gate:
                    status, reason, body = await outbound.send(
                        f"{endpoint.url}/api2/json{path}",
                        method,
                        authorization,
                        _tls(endpoint),
                        self.limits.remote_timeout,
                        params,
                    )
                if status >= 400:
                    raise _api_failure(status, body, reason)
                parsed = orjson.loads(body) if body else {}
                return parsed if isinstance(parsed, dict) else {"data": parsed}
            except TimeoutError:
                failure = RemoteError(wire.PDM_REMOTE_TIMED_OUT)
            except (aiohttp.ClientConnectorError, aiohttp.ServerFingerprintMismatch, ssl.SSLError) as exc:
                failure = _connect_failure(exc)  # never reached the remote: the next node may answer
            except (aiohttp.ClientError, orjson.JSONDecodeError) as exc:  # the remote broke off its answer
                raise RemoteError(str(exc) or wire.HYPER_CONNECTION_CLOSED, wire.HYPER_CONNECTION_CLOSED) from None
        raise failure

    async def get(
        self, cfg: dict[str, Any], path: str, params: dict[str, Any] | None = None, max_age: float | None = None
    ) -> Any:
        """A GET answer's `data`, no older than `max_age` (default `limits.remote_cache`)."""
        return (await self.answer(cfg, path, params, max_age)).get("data")

    async def reply(self, cfg: dict[str, Any], path: str, params: dict[str, Any] | None = None) -> wire.Reply:
        """A fresh GET answer with the keys beside `data` (a task log's `total`), as PDM passes them on."""
        body = await self.answer(cfg, path, params, 0)
        return wire.Reply(body.get("data"), {k: v for k, v in body.items() if k not in ("data", "success")})

    async def answer(
        self, cfg: dict[str, Any], path: str, params: dict[str, Any] | None, max_age: float | None
    ) -> dict[str, Any]:
        """The whole answer of a GET, kept or asked."""
        key = (cfg["id"], tuple(cfg.get("nodes") or ()), cfg.get("authid"), cfg.get("token"), path, _frozen(params))
        now = time.monotonic()
        kept = self.kept.get(key)
        if kept is not None and now - kept[0] <= (self.limits.remote_cache if max_age is None else max_age):
            if kept[1]:
                return kept[2]
            raise kept[2]
        flying = self.flying.get(key)
        if flying is None:
            flying = asyncio.ensure_future(self._fetch(key, cfg, path, params))
            self.flying[key] = flying
        return await asyncio.shield(flying)

    async def _fetch(self, key: tuple[Any, ...], cfg: dict[str, Any], path: str, params: dict[str, Any] | None) -> Any:
        try:
            value = await self.request(cfg, "GET", path, params)
        except RemoteError as err:
            self.kept[key] = (time.monotonic(), False, err)
            raise
        finally:
            self.flying.pop(key, None)
        self.kept[key] = (time.monotonic(), True, value)
        return value

    def view(self, name: tuple[Any, ...], sources: tuple[Any, ...], build: Callable[[], T]) -> T:
        """A value built from kept answers, built again only once one of them is another
        (a warm `/resources/list` over 100 remotes then costs no rebuilding, no encoding)."""
        hit = self.views.get(name)
        if hit is not None and len(hit[0]) == len(sources) and all(map(operator.is_, hit[0], sources)):
            return cast(T, hit[1])
        if len(self.views) >= MAX_VIEWS:
            self.views.clear()
        value = build()
        self.views[name] = (sources, value)
        return value

    async def send(self, cfg: dict[str, Any], method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """A request that changes the remote (its `data`): never kept, and the remote's kept answers go."""
        try:
            return (await self.request(cfg, method, path, params)).get("data")
        finally:
            self.forget(cfg["id"])

    def forget(self, rid: str) -> None:
        for key in [k for k in self.kept if k[0] == rid]:
            del self.kept[key]


def _frozen(params: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in params.items())) if params else ()


_CALLS: weakref.WeakKeyDictionary[World, RemoteCalls] = weakref.WeakKeyDictionary()


def remote_calls(world: World) -> RemoteCalls:
    """The World's remote calls, following its scenario's limits (a reload may change them)."""
    calls = _CALLS.get(world)
    if calls is None or calls.limits is not world.scenario.limits:
        calls = _CALLS[world] = RemoteCalls(world.scenario.limits)
    return calls
