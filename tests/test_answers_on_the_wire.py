"""How a 200 answer goes out on the wire: byte for byte what aiohttp's Response sends, on
every kind of connection (the pipeline writes most of them as one block: server._Written)."""

from __future__ import annotations

import re
import socket
import ssl
import time
from typing import Any

import pytest

SCENARIO = """
scenariod: 1
name: wire
auth:
  tokens:
    - {tokenid: "root@pam!ci", secret: "11111111-2222-3333-4444-555555555555"}
state:
  /nodes:
    - {node: pve1, status: online}
  /pools:
    - {poolid: big, comment: "COMMENT"}
"""
TOKEN = b"Authorization: PVEAPIToken=root@pam!ci=11111111-2222-3333-4444-555555555555\r\n"


def connect(s: Any, tls: bool) -> socket.socket:
    raw = socket.create_connection((s.service.host, s.service.port), timeout=10)
    return ssl.create_default_context(cafile=s.ca_file).wrap_socket(raw, server_hostname="127.0.0.1") if tls else raw


def read_answers(sock: socket.socket, count: int, head_only: bool = False) -> list[tuple[bytes, dict[str, str], bytes]]:
    """`count` answers off the socket: status line, headers, body (by Content-Length)."""
    buf, out = b"", []
    while len(out) < count:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(out)} answers"
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        status, *lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines)
        length = 0 if head_only else int(headers["Content-Length"])
        while len(buf) < length:
            chunk = sock.recv(65536)
            assert chunk
            buf += chunk
        out.append((status.encode(), headers, buf[:length]))
        buf = buf[length:]
    return out


def get(path: str, version: str = "1.1", extra: bytes = b"", method: str = "GET") -> bytes:
    return f"{method} /api2/json{path} HTTP/{version}\r\nHost: x\r\n".encode() + TOKEN + extra + b"\r\n"


DATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$"
)


def same_headers(headers: dict[str, str], length: int) -> None:
    """The headers and their order, as aiohttp's own Response sends a JSON body."""
    assert list(headers) == ["Content-Type", "Content-Length", "Date", "Server"]
    assert headers["Content-Type"] == "application/json;charset=UTF-8"
    assert int(headers["Content-Length"]) == length
    assert DATE.match(headers["Date"]) and headers["Server"].startswith("Python/")


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_pipelined_requests_get_whole_answers_in_order(serve, tls):
    s = serve(SCENARIO, tls=tls)
    with connect(s, tls) as sock:
        sock.sendall(get("/version") + get("/nodes") + get("/pools/big") + get("/nodes"))
        answers = read_answers(sock, 4)
    assert [a[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 4
    for _, headers, body in answers:
        same_headers(headers, len(body))
    assert b'"version"' in answers[0][2] and b'"pve1"' in answers[1][2] and b"COMMENT" in answers[2][2]
    assert answers[1][2] == answers[3][2]  # the second one replayed, the same bytes


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_close_http10_and_head_answer_as_aiohttp_does(serve, tls):
    s = serve(SCENARIO, tls=tls)
    with connect(s, tls) as sock:  # Connection: close: the answer, then the connection ends
        sock.sendall(get("/nodes", extra=b"Connection: close\r\n"))
        ((status, headers, body),) = read_answers(sock, 1)
        assert status == b"HTTP/1.1 200 OK" and headers["Connection"] == "close" and b"pve1" in body
        assert sock.recv(1) == b""
    with connect(s, tls) as sock:  # HTTP/1.0 without keep-alive: the same
        sock.sendall(get("/nodes", version="1.0"))
        ((status, headers, body),) = read_answers(sock, 1)
        assert status == b"HTTP/1.0 200 OK" and b"pve1" in body
        assert sock.recv(1) == b""
    with connect(s, tls) as sock:  # HEAD: the headers of the GET, no body, the connection kept
        sock.sendall(get("/nodes", method="HEAD"))
        ((status, head, _),) = read_answers(sock, 1, head_only=True)
        sock.sendall(get("/nodes"))
        ((_, headers, body),) = read_answers(sock, 1)
        assert status == b"HTTP/1.1 200 OK" and head["Content-Length"] == headers["Content-Length"]
        same_headers(headers, len(body))


def test_a_client_that_does_not_read_is_not_answered_without_bound(serve):
    """Pipelined requests from a client that never reads its 60 kB answers: once answers wait
    unsent, the server waits with them (aiohttp's flow control), so it answers about what the
    kernel's buffers hold, not every request it was sent."""
    s = serve(SCENARIO.replace('"COMMENT"', '"' + "x" * 60_000 + '"'))
    with connect(s, False) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        sent, request = 0, get("/pools/big")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                sent += sock.send(request)
            except BlockingIOError:
                time.sleep(0.05)
        answered = s.service.world.journal.total
        assert sent // len(request) > 1000  # the client did send many
        assert answered < 1000, f"{answered} answers of 60 kB made for a client that reads none"
