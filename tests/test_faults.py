"""`faults` over real HTTP: every effect, every gate, their order, and what the journal says.

Broken connections are checked with raw sockets (what the client actually receives) and with
httpx (the error a real client raises).
"""

from __future__ import annotations

import io
import socket
import ssl
import threading
import time
from typing import Any

import httpx
import orjson
import pytest

from scenariod import faults
from scenariod.reqlog import LineLog
from scenariod.request import Request
from scenariod.world import World

# Line numbers matter: the journal names each fault by its line in this text.
SCENARIO = """\
scenariod: 1
name: faults
seed: 7
auth: {mode: none}
state:
  /nodes:
    - {node: pve1, status: online}
  /nodes/pve1/qemu:
    - {vmid: 100, name: web-01, status: running}
faults:
  - when: GET /version
    error: {status: 595, message: "no route to host"}
  - when: POST /pools
    error: {status: 400, errors: {poolid: "invalid format - value does not look like a pool id"}}
  - when: GET /cluster/options
    error: {status: 500, message: "first line\\nsecond line"}
  - when: GET /cluster/status
    delay: 150ms
  - when: GET /cluster/resources
    delay: {min: 40ms, max: 80ms}
  - when: GET /nodes/pve1/qemu
    delay: {median: 30ms, sigma: 0.5, max: 90ms}
  - when: GET /nodes/pve1/status
    reset: true
  - when: GET /nodes/pve1/time
    empty: true
  - when: GET /nodes/pve1/dns
    garbage: {bytes: 300}
  - when: GET /nodes/pve1/qemu/100/config
    truncate: true
  - when: GET /nodes/pve1/qemu/100/status/current
    dribble: {duration: 300ms, chunks: 3}
  - when: GET /nodes/pve1/qemu/100/pending
    hang: true
"""
LINE = {n: 11 + 2 * (n - 1) for n in range(1, 13)}  # fault #n is at line 11, 13, ...


def _raw(s: Any, path: str, method: str = "GET", timeout: float = 2.0) -> tuple[bytes, BaseException | None]:
    """Send one request on a fresh socket; return every byte received and how reading ended."""
    sock = socket.create_connection((s.service.host, s.service.port), timeout=timeout)
    sock.sendall(f"{method} /api2/json{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    received = b""
    error: BaseException | None = None
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except OSError as exc:
        error = exc
    finally:
        sock.close()
    return received, error


def _until(condition: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


def _last(s: Any, path: str) -> Any:
    return [e for e in s.service.world.journal if e.path == path][-1]


# --- error ---------------------------------------------------------------------------------------


def test_error_answers_in_proxmox_shape_with_the_reason_phrase(serve):
    s = serve(SCENARIO)
    r = s.client.get("/version")
    assert r.status_code == 595
    assert r.reason_phrase == "no route to host"
    assert r.json() == {"data": None, "message": "no route to host\n"}


def test_error_with_parameter_errors_and_multiline_message(serve):
    s = serve(SCENARIO)
    r = s.client.post("/pools", data={"poolid": "x"})
    assert r.status_code == 400 and r.reason_phrase == "Parameter verification failed."
    assert r.json() == {
        "data": None,
        "message": "Parameter verification failed.\n",
        "errors": {"poolid": "invalid format - value does not look like a pool id"},
    }
    r = s.client.get("/cluster/options")
    assert r.status_code == 500 and r.reason_phrase == "first line"
    assert r.json()["message"] == "first line\nsecond line\n"


def test_error_on_extjs_is_http_200_with_success_0(serve):
    s = serve(SCENARIO)
    r = httpx.get(f"{s.url}/api2/extjs/version")
    assert r.status_code == 200
    assert r.json() == {"success": 0, "data": None, "message": "no route to host\n", "status": 595}
    r = httpx.post(f"{s.url}/api2/extjs/pools", data={"poolid": "x"})
    body = r.json()
    assert r.status_code == 200 and body["success"] == 0 and body["status"] == 400
    assert body["errors"] == {"poolid": "invalid format - value does not look like a pool id"}


def test_error_without_message_uses_the_status_wording(serve):
    s = serve("""
        scenariod: 1
        name: plain
        auth: {mode: none}
        faults:
          - when: GET /version
            error: {status: 503}
          - when: GET /cluster/status
            error: {status: 595}
          - when: GET /cluster/options
            error: {}
          - when: GET /cluster/log
            error: {status: 596}
          - when: GET /cluster/tasks
            error: {status: 597}
    """)
    r = s.client.get("/version")
    assert (r.status_code, r.reason_phrase, r.json()["message"]) == (
        503,
        "Service Unavailable",
        "Service Unavailable\n",
    )
    r = s.client.get("/cluster/status")
    assert (r.status_code, r.json()["message"]) == (595, "No route to host\n")
    r = s.client.get("/cluster/options")
    assert (r.status_code, r.json()["message"]) == (500, "Internal Server Error\n")
    r = s.client.get("/cluster/log")
    assert (r.status_code, r.reason_phrase, r.json()["message"]) == (
        596,
        "Connection timed out",
        "Connection timed out\n",
    )
    r = s.client.get("/cluster/tasks")  # neither HTTP nor Proxmox names it
    assert (r.status_code, r.json()["message"]) == (597, "Error\n")


# --- delay ---------------------------------------------------------------------------------------


def test_fixed_delay_then_the_request_goes_on(serve):
    s = serve(SCENARIO)
    t0 = time.perf_counter()
    r = s.client.get("/cluster/status")
    elapsed = time.perf_counter() - t0
    assert r.status_code == 200 and isinstance(r.json()["data"], list)
    assert 0.15 <= elapsed < 0.6
    entry = _last(s, "/cluster/status")
    assert entry.answered_by == "built-in" and entry.status == 200
    assert entry.detail.startswith("delay 150ms by fault #4")


def test_random_delays_stay_in_their_bounds(serve):
    s = serve(SCENARIO)
    for _ in range(3):
        t0 = time.perf_counter()
        assert s.client.get("/cluster/resources").status_code == 200
        assert 0.04 <= time.perf_counter() - t0 < 0.4
    for _ in range(3):
        t0 = time.perf_counter()
        assert s.client.get("/nodes/pve1/qemu").status_code == 200
        assert time.perf_counter() - t0 < 0.4
    delays = [
        int(e.detail.split()[1].removesuffix("ms")) for e in s.service.world.journal if e.path == "/nodes/pve1/qemu"
    ]
    assert all(0 <= d <= 90 for d in delays)
    uniform = [
        int(e.detail.split()[1].removesuffix("ms")) for e in s.service.world.journal if e.path == "/cluster/resources"
    ]
    assert all(40 <= d <= 80 for d in uniform)


def test_delay_keeps_the_answer_of_a_route_and_names_both(serve):
    s = serve("""
        scenariod: 1
        name: delayed-route
        auth: {mode: none}
        routes:
          - when: GET /version
            respond: {data: {version: "9.9"}}
        faults:
          - when: GET /version
            delay: 20ms
    """)
    assert s.client.get("/version").json()["data"] == {"version": "9.9"}
    entry = _last(s, "/version")
    assert entry.answered_by == "route"
    assert entry.detail == "delay 20ms by fault #1; GET /version"


# --- connection breakers -------------------------------------------------------------------------


def test_reset_aborts_the_connection(serve):
    s = serve(SCENARIO)
    received, error = _raw(s, "/nodes/pve1/status")
    assert received == b"" and isinstance(error, ConnectionResetError)
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.get(f"{s.api}/nodes/pve1/status")
    entry = _last(s, "/nodes/pve1/status")
    assert entry.answered_by == "fault" and entry.status == 0
    assert entry.detail.startswith("fault #7 (reset) at ") and entry.detail.endswith(f"scenario.yaml:{LINE[7]}")
    # The server is fine afterwards.
    assert s.client.get("/nodes").status_code == 200


def test_empty_closes_without_a_byte(serve):
    s = serve(SCENARIO)
    received, error = _raw(s, "/nodes/pve1/time")
    assert received == b"" and error is None  # an orderly close, nothing sent
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        httpx.get(f"{s.api}/nodes/pve1/time")
    assert _last(s, "/nodes/pve1/time").detail.startswith("fault #8 (empty) at ")


def test_garbage_sends_seeded_random_bytes_then_closes(serve):
    s = serve(SCENARIO)
    first, error = _raw(s, "/nodes/pve1/dns")
    second, _ = _raw(s, "/nodes/pve1/dns")
    assert error is None and len(first) == 300 and not first.startswith(b"HTTP/")
    assert first == faults.garbage(7, 8, 1, 300) and second == faults.garbage(7, 8, 2, 300)
    assert first != second
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{s.api}/nodes/pve1/dns")
    assert _last(s, "/nodes/pve1/dns").detail.startswith("fault #9 (garbage 300 bytes) at ")
    # Same scenario, new server: the same bytes.
    again = serve(SCENARIO)
    assert _raw(again, "/nodes/pve1/dns")[0] == first


def test_truncate_sends_the_full_length_and_half_the_body(serve):
    s = serve(SCENARIO)
    received, error = _raw(s, "/nodes/pve1/qemu/100/config")
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    length = int(headers["Content-Length"])
    assert len(body) == length // 2 and 0 < len(body) < length
    assert body.startswith(b'{"data":')
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{s.api}/nodes/pve1/qemu/100/config")
    entry = _last(s, "/nodes/pve1/qemu/100/config")
    assert entry.answered_by == "fault" and entry.status == 200
    assert entry.detail.startswith("fault #10 (truncate) at ")
    assert f"scenario.yaml:{LINE[10]}: {length // 2} of {length} bytes; built-in" in entry.detail


def test_dribble_sends_a_valid_answer_slowly(serve):
    s = serve(SCENARIO)
    full = s.client.get("/nodes/pve1/qemu/100/status/current")  # dribbled too: still valid
    assert full.status_code == 200 and full.json()["data"]["vmid"] == 100
    arrivals: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    with httpx.stream("GET", f"{s.api}/nodes/pve1/qemu/100/status/current") as r:
        headers_at = time.perf_counter() - t0
        length = int(r.headers["Content-Length"])
        data = b""
        for chunk in r.iter_raw():
            arrivals.append((time.perf_counter() - t0, len(chunk)))
            data += chunk
    assert len(data) == length and orjson.loads(data)["data"]["status"] == "running"
    # Headers at once, then three pieces sent 100, 200 and 300 ms later (only lower bounds are
    # asserted, and a reader stalled by a busy machine may get two pieces in one read).
    assert headers_at < arrivals[0][0]
    assert 2 <= len(arrivals) <= 3
    assert arrivals[0][0] >= 0.09 and arrivals[-1][0] >= 0.29
    assert arrivals[-1][0] - arrivals[0][0] >= 0.09
    entry = _last(s, "/nodes/pve1/qemu/100/status/current")
    assert entry.answered_by == "fault" and entry.detail.startswith("fault #11 (dribble 3 chunks over 300ms) at ")


def test_hang_never_answers_until_released(serve):
    s = serve(SCENARIO)
    result: dict[str, Any] = {}

    def client() -> None:
        result["answer"] = _raw(s, "/nodes/pve1/qemu/100/pending", timeout=3)
        result["at"] = time.perf_counter()

    thread = threading.Thread(target=client)
    thread.start()
    _until(lambda: s.service.hangs.held == 1)
    time.sleep(0.1)
    assert thread.is_alive()  # nothing came back
    entry = _last(s, "/nodes/pve1/qemu/100/pending")
    assert entry.answered_by == "fault" and entry.detail.startswith("fault #12 (hang) at ")
    released = time.perf_counter()
    s.loop.call_soon_threadsafe(s.service.release_hangs)  # what a reload does
    thread.join(2)
    assert not thread.is_alive() and result["at"] - released < 0.5
    assert result["answer"] == (b"", None)  # the connection was closed, without an answer
    assert s.client.get("/nodes").status_code == 200
    assert s.service.hangs.held == 0
    assert _last(s, "/nodes/pve1/qemu/100/pending").detail.endswith("; released")


def test_hang_is_released_by_a_reload(serve):
    s = serve(SCENARIO)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(answer=_raw(s, "/nodes/pve1/qemu/100/pending", timeout=3)))
    thread.start()
    _until(lambda: s.service.hangs.held == 1)
    assert thread.is_alive()
    assert s.call(s.service.reload) is not False
    thread.join(2)
    assert not thread.is_alive() and result["answer"] == (b"", None)


def test_hang_is_released_when_the_server_stops(serve):
    s = serve(SCENARIO)
    errors: list[BaseException] = []

    def client() -> None:
        try:
            httpx.get(f"{s.api}/nodes/pve1/qemu/100/pending", timeout=5)
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    _until(lambda: s.service.hangs.held == 1)
    assert thread.is_alive()
    t0 = time.perf_counter()
    s.call(s.service.stop)
    assert time.perf_counter() - t0 < 1.0  # stops promptly
    thread.join(2)
    assert not thread.is_alive()
    assert errors and isinstance(errors[0], httpx.RemoteProtocolError)  # a disconnect


def test_long_delays_and_dribbles_do_not_hold_up_a_stop(serve):
    s = serve("""
        scenariod: 1
        name: slow
        auth: {mode: none}
        faults:
          - when: GET /version
            delay: 30s
          - when: GET /nodes
            dribble: {duration: 30s, chunks: 2}
    """)
    errors: list[BaseException] = []

    def client(path: str) -> None:
        try:
            httpx.get(f"{s.api}{path}", timeout=5)
        except httpx.HTTPError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(p,)) for p in ("/version", "/nodes")]
    for t in threads:
        t.start()
    journal = s.service.world.journal
    _until(lambda: any(e.path == "/version" for e in journal) and any(e.status == 200 for e in journal))
    time.sleep(0.05)  # the delay is sleeping, the dribble has sent its headers
    t0 = time.perf_counter()
    s.call(s.service.stop)
    assert time.perf_counter() - t0 < 1.0
    for t in threads:
        t.join(2)
    assert len(errors) == 2 and all(isinstance(e, httpx.RemoteProtocolError) for e in errors)
    assert _last(s, "/version").detail.endswith("; server stopped")


def test_client_leaving_a_hang_closes_its_entry(serve):
    s = serve(SCENARIO)
    sock = socket.create_connection((s.service.host, s.service.port))
    sock.sendall(b"GET /api2/json/nodes/pve1/qemu/100/pending HTTP/1.1\r\nHost: x\r\n\r\n")
    _until(lambda: s.service.hangs.held == 1)
    sock.close()
    _until(lambda: s.service.hangs.held == 0)
    assert _last(s, "/nodes/pve1/qemu/100/pending").detail.endswith("client went away")


# --- gates -----------------------------------------------------------------------------------------

GATES = """
scenariod: 1
name: gates
seed: 42
auth: {mode: none}
faults:
  - when: GET /version
    error: {status: 503, message: "first two"}
    times: 2
  - when: GET /cluster/status
    error: {status: 503, message: "after two"}
    after: 2
  - when: GET /cluster/options
    error: {status: 503, message: "window"}
    after: 1
    times: 2
  - when: GET /cluster/resources
    error: {status: 503, message: "coin"}
    probability: 0.5
  - when: GET /cluster/log
    error: {status: 503, message: "windowed coin"}
    after: 2
    times: 10
    probability: 0.5
  - when: GET /nodes
    error: {status: 503, message: "never"}
    probability: 0
"""


def _statuses(s: Any, path: str, n: int) -> list[int]:
    return [s.client.get(path).status_code for _ in range(n)]


def test_times_after_and_both(serve):
    s = serve(GATES)
    assert _statuses(s, "/version", 4) == [503, 503, 200, 200]
    assert _statuses(s, "/cluster/status", 4) == [200, 200, 503, 503]
    assert _statuses(s, "/cluster/options", 5) == [200, 503, 503, 200, 200]
    assert _statuses(s, "/nodes", 5) == [200] * 5
    assert s.service.world.fault_counts == {0: 4, 1: 4, 2: 5, 5: 5}


def test_probability_is_seeded_and_repeatable(serve):
    first = _statuses(serve(GATES), "/cluster/resources", 30)
    second = _statuses(serve(GATES), "/cluster/resources", 30)
    assert first == second
    assert 5 < first.count(503) < 25  # a fair coin, not a constant
    assert first == [503 if faults.draw_unit(42, 3, n) < 0.5 else 200 for n in range(1, 31)]
    # Another seed, another sequence.
    other = _statuses(serve(GATES.replace("seed: 42", "seed: 43")), "/cluster/resources", 30)
    assert other != first


def test_gates_apply_after_then_times_then_probability(serve):
    s = serve(GATES)
    got = _statuses(s, "/cluster/log", 16)
    expected = [503 if 2 < n <= 12 and faults.draw_unit(42, 4, n) < 0.5 else 200 for n in range(1, 17)]
    assert got == expected
    assert got[:2] == [200, 200] and got[12:] == [200] * 4
    assert 503 in got


def test_each_world_counts_and_draws_on_its_own(serve):
    s = serve(GATES)
    runtime = s.service.runtime
    api = runtime.scenario.api
    node, params = api.resolve_segments(["cluster", "resources"])
    worlds = [s.service.new_world("a"), s.service.new_world("b")]

    def draws(world: World) -> list[bool]:
        out = []
        for _ in range(20):
            req = Request("GET", "/cluster/resources", ["cluster", "resources"], params, {}, {}, {}, world.options)
            out.append(runtime.faults.pick(node, req, world) is not None)
        return out

    a = draws(worlds[0])
    b = draws(worlds[1])
    assert a == b  # each session gets the same, independent sequence
    assert worlds[0].fault_counts == {3: 20}


def test_a_fault_that_does_not_fire_falls_through_and_only_the_first_firing_applies(serve):
    s = serve("""
        scenariod: 1
        name: chain
        auth: {mode: none}
        faults:
          - when: GET /version
            error: {status: 502, message: "first"}
            times: 1
          - when: "GET /**"
            error: {status: 503, message: "second"}
            after: 1
          - when: GET /version
            error: {status: 504, message: "third"}
    """)
    # 1: #1 fires. 2: #1 closed, #2 (count 2) fires. 3: likewise. #3 counts but never fires.
    assert _statuses(s, "/version", 3) == [502, 503, 503]
    # #2 counts every GET it matches, wherever it fired: its first /nodes is its 4th match.
    assert s.client.get("/nodes").status_code == 503
    assert s.service.world.fault_counts == {0: 3, 1: 4, 2: 3}
    details = [e.detail for e in s.service.world.journal]
    assert details[0].startswith("fault #1 (error 502)") and details[1].startswith("fault #2 (error 503)")


# --- where faults sit in the pipeline ------------------------------------------------------------


def test_faults_come_before_auth_and_routes(serve):
    s = serve("""
        scenariod: 1
        name: before-auth
        auth:
          users: [{userid: root@pam, password: secret}]
        routes:
          - when: GET /cluster/status
            respond: {data: [{name: routed}]}
        faults:
          - when: GET /version
            error: {status: 595, message: "no route to host"}
          - when: GET /cluster/status
            error: {status: 500, message: "broken"}
            times: 1
          - when: POST /access/ticket
            error: {status: 500, message: "login is down"}
            times: 1
    """)
    assert s.client.get("/version").status_code == 595  # not 401: no login needed to fail
    assert s.client.get("/nodes").status_code == 401  # no fault: auth as usual
    assert s.client.post("/access/ticket", data={"username": "root@pam", "password": "secret"}).status_code == 500
    s.login()
    assert s.client.get("/cluster/status").json()["message"] == "broken\n"
    assert s.client.get("/cluster/status").json()["data"] == [{"name": "routed"}]


def test_journal_and_request_log_name_the_fault(serve):
    s = serve(SCENARIO)
    out = io.StringIO()
    s.service.listeners.append(LineLog(out))
    s.client.get("/version")
    entry = _last(s, "/version")
    assert entry.answered_by == "fault" and entry.status == 595
    assert entry.detail.startswith("fault #1 (error 595) at ")
    assert entry.detail.endswith(f"scenario.yaml:{LINE[1]}")
    deadline = time.monotonic() + 5  # the log writes its lines together, every FLUSH_AFTER
    while not out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    line = out.getvalue()
    assert " 595 GET " in line and "  fault " in line and "fault #1 (error 595)" in line


def test_no_faults_costs_a_falsy_index(serve):
    s = serve("""
        scenariod: 1
        name: calm
        auth: {mode: none}
    """)
    assert not s.service.runtime.faults
    assert s.client.get("/version").status_code == 200


def test_faults_over_tls(serve):
    s = serve(SCENARIO, tls=True)
    verify = ssl.create_default_context(cafile=s.ca_file)
    assert s.client.get("/version").status_code == 595
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):  # an RST; TLS clients may call it EOF
        httpx.get(f"{s.api}/nodes/pve1/status", verify=verify)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{s.api}/nodes/pve1/qemu/100/config", verify=verify)
    r = s.client.get("/nodes/pve1/qemu/100/status/current")
    assert r.status_code == 200 and r.json()["data"]["vmid"] == 100
