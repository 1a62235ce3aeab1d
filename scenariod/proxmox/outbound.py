"""Requests a mocked product sends to another server over HTTP(S): PDM asking its live remotes
(pdm/remote_client.py), a PVE node driving the target cluster of a remote migration
(remote_migrate.py). One HTTP client per event loop, one way of trusting a certificate; each
caller words the failures as its product does.

Trust: with a pinned SHA-256 `fingerprint`, the certificate must have that digest and nothing
else is checked (PDM's pin, PVE's `fingerprint=` of a `proxmox-remote`); without one, it must
verify against the system's CAs or scenariod's own local CA (tls.py), which signs every
instance's certificate. An `http://` URL speaks plain HTTP (a mock serving without TLS).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import weakref
from typing import Any

import aiohttp

from ..tls import local_ca_file
from . import on_stop

TLS = ssl.SSLContext | aiohttp.Fingerprint | bool


def tls_for(url: str, fingerprint: str | None) -> TLS:
    """How to trust `url`'s certificate; ValueError for a fingerprint that is not hex digits."""
    if url.startswith("http://"):
        return False
    if fingerprint:
        return aiohttp.Fingerprint(bytes.fromhex(fingerprint.replace(":", "")))
    ca = local_ca_file()
    return _context(str(ca) if ca.exists() else None)


@functools.cache
def _context(local_ca: str | None) -> ssl.SSLContext:
    """The system's CAs plus scenariod's local CA once that exists; built once per CA file (loading
    CA files is slow)."""
    ctx = ssl.create_default_context()
    if local_ca is not None:
        ctx.load_verify_locations(cafile=local_ca)
    return ctx


def form(params: dict[str, Any] | None) -> list[tuple[str, str]] | None:
    """Parameters as Proxmox reads them off the wire: booleans as 1/0, arrays repeated."""
    if not params:
        return None
    out = []
    for key, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            out.append((key, str(int(item)) if isinstance(item, bool) else str(item)))
    return out


async def send(
    url: str, method: str, authorization: str, tls: TLS, timeout: float, params: dict[str, Any] | None = None
) -> tuple[int, str | None, bytes]:
    """One request: (status, reason, body). aiohttp's errors and TimeoutError reach the caller,
    which words them (a refused connection, a certificate that is not trusted, a timeout)."""
    fields = form(params)
    send_as = {"params": fields} if method in ("GET", "DELETE") else {"data": fields}
    async with _client().request(
        method,
        url,
        headers={"Authorization": authorization},
        ssl=tls,
        timeout=aiohttp.ClientTimeout(total=timeout),
        **send_as,  # type: ignore[arg-type]
    ) as response:
        return response.status, response.reason, await response.read()


# One HTTP client per event loop (a Service runs on one loop; tests run several).
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = weakref.WeakKeyDictionary()


def _client() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    client = _CLIENTS.get(loop)
    if client is None or client.closed:
        client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), raise_for_status=False)
        _CLIENTS[loop] = client
    return client


@on_stop
async def close_client() -> None:
    """Close this event loop's HTTP client (a Service stopping); the next request opens another."""
    client = _CLIENTS.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.close()
