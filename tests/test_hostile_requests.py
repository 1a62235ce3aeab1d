"""Hostile requests, over real HTTP(S): each answered with a Proxmox-shaped 4xx, never a 500 of ours,
and nothing they leave behind breaks a later read (journal, verify, state API)."""

from __future__ import annotations

import logging
import socket
import ssl
import time
import urllib.parse

import httpx
import pytest

SCENARIO = """
scenariod: 1
name: hostile
auth:
  users:
    - {userid: root@pam, password: secret}
    - {userid: "jörg@pve", password: "pässwörd-日本"}
  tokens:
    - {tokenid: "root@pam!ci", secret: "sécret-ü"}
    - {tokenid: "root@pam!plain", secret: "11111111-2222-3333-4444-555555555555"}
routes:
  - when: {path: "/nodes/{node}/qemu", method: GET, if: "starts_with(query.type, 'v')"}
    respond: {data: [{vmid: 999, name: from-route}]}
  - when: GET /cluster/log
    respond: {data: "${starts_with(query.type, 'v')}"}
  - when: GET /cluster/options
    respond:
      data: '${headers."x-echo"}'
state:
  /nodes:
    - {node: pve1, status: online}
  /nodes/pve1/qemu:
    - {vmid: 100, name: web}
"""


@pytest.fixture
def hostile(serve):
    s = serve(SCENARIO)
    s.login()
    return s


def raw_request(s, head: bytes, body: bytes = b"") -> bytes:
    """Send bytes no HTTP client would (invalid UTF-8 in a header); the status line and body back."""
    host, port = s.service.host, s.service.port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head + body)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def assert_parameter_error(r: httpx.Response, param: str) -> None:
    assert r.status_code == 400, r.text
    assert r.reason_phrase == "Parameter verification failed."
    assert param in r.json()["errors"]


def test_invalid_utf8_in_a_form_is_read_as_pveproxy_reads_it(hostile):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    # A key the schema restricts: the replacement character fails its format, as on a node.
    r = hostile.client.post("/pools", content=b"poolid=p\xff\xfe", headers=form)
    assert_parameter_error(r, "poolid")
    r = hostile.client.post("/pools", content=b"poolid=p%FF%FE", headers=form)
    assert_parameter_error(r, "poolid")
    # Free text keeps U+FFFD in place of the bytes that were not UTF-8.
    r = hostile.client.post("/pools", content=b"poolid=ok1&comment=a\xffb", headers=form)
    assert r.status_code == 200, r.text
    assert hostile.client.get("/pools/ok1").json()["data"]["comment"] == "a\ufffdb"


def test_an_unknown_charset_is_ignored_as_pveproxy_ignores_it(hostile):
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=x-no-such-charset"}
    r = hostile.client.post("/pools", content="poolid=cs1&comment=grüße".encode(), headers=headers)
    assert r.status_code == 200, r.text
    assert hostile.client.get("/pools/cs1").json()["data"]["comment"] == "grüße"


@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        ("multipart/form-data", b"poolid=x"),
        ("multipart/form-data; boundary=XX", b"garbage without the boundary"),
        (
            "multipart/form-data; boundary=XX",
            b'--XX\r\nContent-Disposition: form-data; name="poolid"\r\nContent-Type: text/plain; charset=nope\r\n\r\n'
            b"x\r\n--XX--\r\n",
        ),
    ],
)
def test_broken_multipart_is_a_400(hostile, ctype, body):
    r = hostile.client.post("/pools", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 400, r.text
    assert r.json()["data"] is None and r.json()["message"].startswith("malformed form data in request body - ")


def test_a_5000_digit_integer_is_out_of_range(hostile):
    huge = "9" * 5000
    r = hostile.client.get(f"/nodes/pve1/qemu/{huge}/config")
    assert_parameter_error(r, "vmid")
    assert r.json()["errors"]["vmid"] == "value must have a maximum value of 999999999"
    r = hostile.client.post("/nodes/pve1/qemu", data={"vmid": huge})
    assert_parameter_error(r, "vmid")
    r = hostile.client.post("/nodes/pve1/qemu", json={"vmid": "-" + huge})
    assert r.json()["errors"]["vmid"] == "value must have a minimum value of 100"
    # In a JSON body the number is a float to orjson: still a clean refusal.
    r = hostile.client.post("/nodes/pve1/qemu", content=b'{"vmid": ' + huge.encode() + b"}")
    assert r.status_code == 400


def test_non_ascii_passwords_and_token_secrets_work(hostile):
    r = httpx.post(f"{hostile.api}/access/ticket", data={"username": "jörg@pve", "password": "pässwörd-日本"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["username"] == "jörg@pve"
    r = httpx.post(f"{hostile.api}/access/ticket", json={"username": "jörg@pve", "password": "pässwörd-日本"})
    assert r.status_code == 200
    wrong = httpx.post(f"{hostile.api}/access/ticket", data={"username": "jörg@pve", "password": "pässwörd"})
    assert wrong.status_code == 401 and wrong.json()["message"] == "authentication failure\n"
    # A token secret outside ASCII, in a header as UTF-8 bytes.
    head = "GET /api2/json/version HTTP/1.1\r\nHost: x\r\nAuthorization: PVEAPIToken=root@pam!ci=sécret-ü\r\n"
    assert raw_request(hostile, head.encode() + b"Connection: close\r\n\r\n").startswith(b"HTTP/1.1 200")
    head = "GET /api2/json/version HTTP/1.1\r\nHost: x\r\nAuthorization: PVEAPIToken=root@pam!plain=sécret\r\n"
    answer = raw_request(hostile, head.encode() + b"Connection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401 authentication failure")


def test_invalid_utf8_credentials_are_refused_not_crashed_on(serve):
    s = serve(SCENARIO.replace("auth:\n", "auth:\n  control_token: the-token\n"))
    for head in (
        b"GET /api2/json/version HTTP/1.1\r\nHost: x\r\nAuthorization: PVEAPIToken=root@pam!ci=\xff\xfe\r\n",
        b"GET /api2/json/version HTTP/1.1\r\nHost: x\r\nCookie: PVEAuthCookie=PVE:root@pam:00000000::\xff\r\n",
    ):
        assert raw_request(s, head + b"Connection: close\r\n\r\n").startswith(b"HTTP/1.1 401 ")
    head = b"GET /_scenariod/state HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n"
    answer = raw_request(s, head)
    assert answer.startswith(b"HTTP/1.1 401 ") and b"Authorization: Bearer TOKEN" in answer
    good = httpx.get(f"{s.url}/_scenariod/health", headers={"Authorization": "Bearer the-token"})
    assert good.status_code == 200


def test_a_header_that_is_not_utf8_reaches_templates_as_text(hostile):
    cookie = hostile.client.cookies.get("PVEAuthCookie").encode()
    head = b"GET /api2/json/cluster/options HTTP/1.1\r\nHost: x\r\nX-Echo: a\xffb\r\nCookie: PVEAuthCookie=" + cookie
    answer = raw_request(hostile, head + b"\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith('{"data":"a\ufffdb"}'.encode())


def test_a_url_encoded_ticket_cookie_is_accepted(hostile):
    ticket = httpx.post(f"{hostile.api}/access/ticket", data={"username": "root@pam", "password": "secret"}).json()
    encoded = urllib.parse.quote(ticket["data"]["ticket"], safe="")
    assert encoded.startswith("PVE%3Aroot%40pam%3A")
    r = httpx.get(f"{hostile.api}/nodes", headers={"Cookie": f"PVEAuthCookie={encoded}"})
    assert r.status_code == 200, r.text


def test_a_failing_if_does_not_match_and_is_logged_with_its_line(hostile, caplog):
    caplog.set_level(logging.WARNING, logger="scenariod")
    r = hostile.client.get("/nodes/pve1/qemu")  # no `type`: starts_with(null, 'v') is an error
    assert r.status_code == 200
    assert [g["vmid"] for g in r.json()["data"]] == [100]  # the route did not match
    assert hostile.client.get("/nodes/pve1/qemu", params={"type": "vm"}).json()["data"][0]["name"] == "from-route"
    warned = [rec.getMessage() for rec in caplog.records if "starts_with" in rec.getMessage()]
    assert len(warned) == 1 and "scenario.yaml:12: `if: starts_with(query.type, 'v')` failed" in warned[0]
    hostile.client.get("/nodes/pve1/qemu")  # logged once, not per request
    assert len([rec for rec in caplog.records if "starts_with" in rec.getMessage()]) == 1
    # A template that fails renders a Proxmox-shaped error naming the route.
    r = hostile.client.get("/cluster/log")
    assert r.status_code == 500 and "could not render" in r.json()["message"]


def test_a_json_body_nested_300_deep_is_refused_and_breaks_nothing(hostile):
    deep = "[" * 300 + "]" * 300
    for client in (httpx.Client(base_url=hostile.api), hostile.client):  # without and with credentials
        r = client.post("/pools", content=f'{{"poolid": "d", "comment": {deep}}}', headers=_JSON)
        assert r.status_code == 400, r.text
        assert r.json()["message"] == "malformed JSON in request body - nested deeper than 64 levels\n"
    # Nested just within the bound: the validator judges it, as a node would.
    shallow = "[" * 40 + "]" * 40
    r = hostile.client.post("/pools", content=f'{{"poolid": "d", "comment": {shallow}}}', headers=_JSON)
    assert_parameter_error(r, "comment")
    control = f"{hostile.url}/_scenariod"
    assert httpx.get(f"{control}/journal").status_code == 200
    assert httpx.get(f"{control}/verify").status_code == 200
    assert httpx.post(f"{control}/verify", json={"when": "POST /pools", "min": 3}).status_code == 200
    assert httpx.get(f"{control}/state").status_code == 200


def test_the_state_api_refuses_what_it_could_not_serve_back(hostile):
    control = f"{hostile.url}/_scenariod/state"
    deep = "[" * 300 + "]" * 300
    for method in ("PUT", "PATCH"):
        r = httpx.request(method, control, params={"path": "/pools/deep"}, content=f'{{"comment": {deep}}}')
        assert r.status_code == 400
        assert r.json() == {"error": "the request body is nested deeper than 64 levels"}
    big = b'{"poolid": "big", "comment": "' + b"x" * (2 << 20) + b'"}'
    r = httpx.put(control, params={"path": "/pools/big"}, content=big)
    assert r.status_code == 413 and "too large" in r.json()["error"]
    # What was refused left nothing behind: every read still answers.
    assert httpx.get(control).status_code == 200
    assert hostile.client.get("/pools").status_code == 200
    ok = httpx.put(control, params={"path": "/pools/fine"}, json={"poolid": "fine", "comment": [[["x"]]]})
    assert ok.status_code == 200 and hostile.client.get("/pools/fine").status_code == 200


def test_hostile_requests_over_https(serve):
    s = serve(SCENARIO, tls=True)
    verify = ssl.create_default_context(cafile=s.ca_file)
    with httpx.Client(base_url=s.api, verify=verify) as client:
        r = client.post("/access/ticket", data={"username": "jörg@pve", "password": "pässwörd-日本"})
        assert r.status_code == 200
        r = client.post("/access/ticket", content=b"username=root@pam&password=\xff", headers=_FORM)
        assert r.status_code == 401
        r = client.post("/pools", content=b'{"comment": ' + b"[" * 100 + b"]" * 100 + b"}", headers=_JSON)
        assert r.status_code == 400


_JSON = {"Content-Type": "application/json"}
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


SLOW = """
scenariod: 1
name: slow
limits: {client_timeout: 1s}
auth: {mode: none}
"""


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bytes, float]:
    """Read until the server closes the connection; what it said and when it closed."""
    started = time.monotonic()
    sock.settimeout(seconds)
    received = b""
    while True:
        data = sock.recv(65536)
        if not data:
            return received, time.monotonic() - started
        received += data


@pytest.mark.parametrize("tls", [False, True])
def test_a_slowloris_client_is_cut_off(serve, tls):
    s = serve(SLOW, tls=tls)
    assert s.service.scenario.limits.client_timeout == 1.0
    raw = socket.create_connection((s.service.host, s.service.port), timeout=10)
    sock = ssl.create_default_context(cafile=s.ca_file).wrap_socket(raw, server_hostname="127.0.0.1") if tls else raw
    started = time.monotonic()
    head = b"GET /api2/json/version HTTP/1.1\r\nHost: x\r\nX-Slow: "
    try:
        for byte in head + b"a" * 200:  # one byte every 50 ms: headers never finish in time
            sock.sendall(bytes([byte]))
            time.sleep(0.05)
        pytest.fail("the server let a slow-header client go on for 10 s")
    except OSError:  # reset or broken pipe: it closed the connection
        pass
    assert time.monotonic() - started < 5
    sock.close()
    # A well-behaved client on another connection was served all along.
    assert httpx.get(
        f"{s.url}/health", verify=ssl.create_default_context(cafile=s.ca_file) if tls else False
    ).is_success


def test_a_body_that_never_finishes_is_answered_408_and_closed(serve):
    s = serve(SLOW)
    for path in (b"/api2/json/pools", b"/_scenariod/state?path=/pools/p"):
        method = b"POST " if path.startswith(b"/api2") else b"PUT "
        with socket.create_connection((s.service.host, s.service.port), timeout=10) as sock:
            sock.sendall(method + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
            sock.sendall(
                b"Content-Length: 1000\r\n\r\n" + b'{"poolid": "p',
            )  # and then nothing
            answer, after = _closed_within(sock, 10)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert after < 4
    assert "p" not in [p["poolid"] for p in httpx.get(f"{s.api}/pools").json()["data"]]


def test_an_idle_keep_alive_connection_is_closed(serve):
    s = serve(SLOW)
    with socket.create_connection((s.service.host, s.service.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer, after = _closed_within(sock, 10)
    assert answer.startswith(b"HTTP/1.1 200 ") and after < 4


@pytest.mark.parametrize("sends", [b"", b"\x16\x03\x01\x02\x00\x01"])  # nothing; a ClientHello's first bytes
def test_a_tls_handshake_that_never_finishes_is_cut_off(serve, sends):
    """asyncio's own bound is 60 s; limits.client_timeout (1 s here) bounds the handshake too."""
    s = serve(SLOW, tls=True)
    with socket.create_connection((s.service.host, s.service.port), timeout=10) as sock:
        sock.sendall(sends)
        started = time.monotonic()
        try:
            answer, after = _closed_within(sock, 10)
        except ConnectionResetError:
            answer, after = b"", time.monotonic() - started
    assert answer == b"" and 0.5 < after < 3, after
    assert httpx.get(f"{s.url}/health", verify=ssl.create_default_context(cafile=s.ca_file)).is_success


SESSIONS = """
scenariod: 1
name: sessions
limits: {sessions: 5}
auth:
  users:
    - {userid: root@pam, password: secret}
  tokens:
    - {tokenid: "root@pam!ci", secret: "11111111-2222-3333-4444-555555555555"}
"""


def test_unauthenticated_requests_neither_create_nor_evict_sessions(serve):
    s = serve(SESSIONS)
    victim = httpx.Client(base_url=f"{s.url}/_session/victim/api2/json")
    login = victim.post("/access/ticket", data={"username": "root@pam", "password": "secret"}).json()["data"]
    victim.cookies.set("PVEAuthCookie", login["ticket"])
    victim.headers["CSRFPreventionToken"] = login["CSRFPreventionToken"]
    assert victim.post("/pools", data={"poolid": "mine"}).status_code == 200
    sessions = f"{s.url}/_scenariod/sessions"
    assert [x["id"] for x in httpx.get(sessions).json()["sessions"]] == ["victim"]
    for i in range(100):  # new session ids, no credentials (or bad ones): all refused
        headers = {"X-Scenariod-Session": f"attacker-{i}"}
        if i % 2:
            headers["Authorization"] = "PVEAPIToken=root@pam!ci=wrong"
        assert httpx.get(f"{s.api}/pools", headers=headers).status_code == 401
        bad_login = httpx.post(
            f"{s.url}/_session/a{i}/api2/json/access/ticket", data={"username": "x", "password": "y"}
        )
        assert bad_login.status_code == 401
    assert [x["id"] for x in httpx.get(sessions).json()["sessions"]] == ["victim"]
    assert [p["poolid"] for p in victim.get("/pools").json()["data"]] == ["mine"]
    # A request that authenticates creates its session, as a login does.
    token = {"Authorization": "PVEAPIToken=root@pam!ci=11111111-2222-3333-4444-555555555555"}
    assert httpx.get(f"{s.api}/pools", headers={**token, "X-Scenariod-Session": "ci-1"}).status_code == 200
    assert (
        httpx.post(
            f"{s.url}/_session/ui/api2/json/access/ticket", data={"username": "root@pam", "password": "secret"}
        ).status_code
        == 200
    )
    assert sorted(x["id"] for x in httpx.get(sessions).json()["sessions"]) == ["ci-1", "ui", "victim"]


def test_write_only_fields_are_never_answered(hostile):
    c = hostile.client
    r = c.post("/cluster/notifications/endpoints/gotify", data={"name": "g1", "server": "https://g", "token": "tok-1"})
    assert r.status_code == 200, r.text
    assert c.put("/cluster/notifications/endpoints/gotify/g1", data={"token": "tok-2"}).status_code == 200
    item = c.get("/cluster/notifications/endpoints/gotify/g1").json()["data"]
    assert item["server"] == "https://g" and "token" not in item
    assert all("token" not in e for e in c.get("/cluster/notifications/endpoints/gotify").json()["data"])
    smtp = {"name": "m1", "server": "mail", "from-address": "a@b.c", "mailto": "x@y.z", "password": "pw-1"}
    assert c.post("/cluster/notifications/endpoints/smtp", data=smtp).status_code == 200
    assert "password" not in c.get("/cluster/notifications/endpoints/smtp/m1").json()["data"]
    # A GET that declares no properties (a storage's): the secret parameters still stay unanswered.
    cifs = {"storage": "share", "type": "cifs", "server": "nas", "share": "s", "username": "u", "password": "pw"}
    assert c.post("/storage", data=cifs).status_code == 200, c.post("/storage", data=cifs).text
    assert c.put("/storage/share", data={"password": "pw2"}).status_code == 200
    stored = c.get("/storage/share").json()["data"]
    assert stored["username"] == "u" and "password" not in stored
    # What the API description says a GET answers is answered (a user's `keys`), the password not.
    assert c.post("/access/users", data={"userid": "k@pve", "password": "long-enough", "keys": "x"}).status_code == 200
    user = c.get("/access/users/k@pve").json()["data"]
    assert user["keys"] == "x" and "password" not in user


def test_tokens_die_with_their_user(hostile):
    c = hostile.client
    assert c.post("/access/users", data={"userid": "bot@pve", "password": "first-pass"}).status_code == 200
    secret = c.post("/access/users/bot@pve/token/t1", data={"privsep": 0}).json()["data"]["value"]
    token = {"Authorization": f"PVEAPIToken=bot@pve!t1={secret}"}
    assert httpx.get(f"{hostile.api}/version", headers=token).status_code == 200
    assert c.delete("/access/users/bot@pve").status_code == 200
    assert httpx.get(f"{hostile.api}/version", headers=token).status_code == 401
    # A user of the same name created again has neither the old tokens nor the old password.
    assert c.post("/access/users", data={"userid": "bot@pve"}).status_code == 200
    refused = httpx.get(f"{hostile.api}/version", headers=token)
    assert refused.status_code == 401 and refused.json()["message"] == "authentication failure\n"
    old = httpx.post(f"{hostile.api}/access/ticket", data={"username": "bot@pve", "password": "first-pass"})
    assert old.status_code == 401


def test_a_ticket_is_bound_to_the_instance_that_issued_it(serve):
    a, b = serve(SCENARIO), serve(SCENARIO)  # the same scenario, served twice by one process
    ticket = a.login()["ticket"]
    assert httpx.get(f"{a.api}/nodes", cookies={"PVEAuthCookie": ticket}).status_code == 200
    refused = httpx.get(f"{b.api}/nodes", cookies={"PVEAuthCookie": ticket})
    assert refused.status_code == 401 and refused.json()["message"] == "permission denied - invalid PVE ticket\n"
    # ... and it outlives a reset and a reload of its own instance, as before.
    assert httpx.post(f"{a.url}/_scenariod/reset").status_code == 200
    assert a.call(a.service.reload)
    assert httpx.get(f"{a.api}/nodes", cookies={"PVEAuthCookie": ticket}).status_code == 200
    session = httpx.get(f"{a.url}/_session/s1/api2/json/nodes", cookies={"PVEAuthCookie": ticket})
    assert session.status_code == 200  # a session of the instance takes it too
