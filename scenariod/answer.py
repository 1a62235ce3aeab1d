"""How the pipeline's 200 JSON answers go out on the wire.

aiohttp's `web.Response` builds a header multidict and serializes it for every answer; nearly
every answer scenariod sends is a small JSON body to a keep-alive HTTP/1.1 request, so
`json_answer` joins its bytes directly (`OneBlock`): the same status line and headers, in the
same order, as aiohttp's Response sends (tests/test_answers_on_the_wire.py). The rest goes
through aiohttp's Response. benchmarks/bare_server.py --one-block answers with this too: the
like-for-like ceiling.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import Any

from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11

from . import wire

__all__ = ["JSON_HEADERS", "OneBlock", "json_answer", "json_response"]

JSON_HEADERS = {"Content-Type": wire.JSON_CONTENT_TYPE}


class OneBlock(web.StreamResponse):
    """A 200 answer sent as one block of bytes. Only what aiohttp reads of a returned response
    is kept: `prepare` writes the block, `write_eof` has nothing left, the connection stays."""

    def __init__(self, block: bytes) -> None:  # no StreamResponse state: none of it is used
        self._block = block

    @property
    def keep_alive(self) -> bool:
        return True

    async def prepare(self, request: web.BaseRequest) -> None:
        transport = request.transport
        if transport is not None and not transport.is_closing():
            transport.write(self._block)

    async def write_eof(self, data: bytes = b"") -> None:
        return None


_BLOCK_MAX = 64 << 10  # bytes of body sent as one block; a larger answer goes through aiohttp's flow control
_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: " + wire.JSON_CONTENT_TYPE.encode() + b"\r\nContent-Length: "
_SERVER = b"\r\nServer: " + SERVER_SOFTWARE.encode() + b"\r\n\r\n"
_date: list[Any] = [0, b""]  # the second and its Date header value, formatted once a second


def json_answer(request: web.BaseRequest, payload: bytes) -> web.StreamResponse:
    """The pipeline's 200 JSON answer: one block (`OneBlock`) to a keep-alive HTTP/1.1 request
    with nothing waiting to be sent on its connection, else aiohttp's Response (HEAD, HTTP/1.0,
    `Connection: close`, a large body, or a client not reading its answers: aiohttp's writer
    then waits for it)."""
    transport = request.transport
    if (
        len(payload) > _BLOCK_MAX
        or transport is None
        or transport.get_write_buffer_size()
        or request.version != HttpVersion11
        or not request.keep_alive
        or request.method == "HEAD"
    ):
        return json_response(payload)
    now = int(time.time())
    if now != _date[0]:
        _date[0], _date[1] = now, formatdate(now, usegmt=True).encode()
    return OneBlock(b"".join((_HEAD, str(len(payload)).encode(), b"\r\nDate: ", _date[1], _SERVER, payload)))


def json_response(payload: bytes) -> web.Response:
    return web.Response(body=payload, headers=JSON_HEADERS)
