"""The control API (/_scenariod/) and `scenariod verify`, over real HTTP(S)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from conftest import SCENARIOS

from scenariod.cli import main as cli_main

TOKEN = "root@pam!ci=5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10"

EXPECTING = """\
scenariod: 1
name: expecting
time_scale: 0
auth:
  users: [{userid: root@pam, password: secret}]
  tokens: [{tokenid: "root@pam!ci", secret: "5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10"}]
state:
  /nodes: [{node: pve1}]
  /nodes/pve1/qemu: [{vmid: 100, name: web-01, status: stopped}]
expect:
  - when: POST /access/ticket
    description: the client logs in
  - when: {method: GET, path: /cluster/resources, query: {type: vm}}
    count: 1
  - when: DELETE /nodes/{node}/qemu/{vmid}
    never: true
"""


@pytest.fixture
def pve(serve):
    """two-node over HTTP; `api` a token-authenticated client, `ctl` a client on the root."""
    running = serve(SCENARIOS / "two-node.yaml")
    running.client.headers["Authorization"] = f"PVEAPIToken={TOKEN}"
    running.ctl = httpx.Client(base_url=running.url, timeout=10)
    yield running
    running.ctl.close()


def test_journal_filters(pve):
    api, ctl = pve.client, pve.ctl
    assert api.get("/nodes").status_code == 200
    assert api.get("/nodes/pve1/qemu").status_code == 200
    assert api.get("/nodes/pve1/qemu/100/config").status_code == 200
    assert api.post("/nodes/pve1/qemu/101/status/start").status_code == 200
    assert api.get("/nodes/pve9/nope").status_code == 501
    first_id = ctl.get("/_scenariod/journal").json()["entries"][0]["id"]

    def paths(**params):
        r = ctl.get("/_scenariod/journal", params=params)
        assert r.status_code == 200, r.text
        return [e["path"] for e in r.json()["entries"]]

    assert paths() == [
        "/nodes",
        "/nodes/pve1/qemu",
        "/nodes/pve1/qemu/100/config",
        "/nodes/pve1/qemu/101/status/start",
        "/nodes/pve9/nope",
    ]
    assert paths(method="post") == ["/nodes/pve1/qemu/101/status/start"]
    assert paths(method="GET,POST", status="2xx", limit=2) == [
        "/nodes/pve1/qemu/100/config",
        "/nodes/pve1/qemu/101/status/start",
    ]
    assert paths(status="501") == ["/nodes/pve9/nope"]
    assert paths(status="4xx,5xx") == ["/nodes/pve9/nope"]
    # `when`-style patterns: {x} and * one segment, ** the rest; /api2/json is optional
    assert paths(path="/nodes/{node}/qemu") == ["/nodes/pve1/qemu"]
    assert paths(path="/api2/json/nodes/*/qemu/*/**") == [
        "/nodes/pve1/qemu/100/config",
        "/nodes/pve1/qemu/101/status/start",
    ]
    assert paths(path="/nodes/*/qemu/**") == [
        "/nodes/pve1/qemu",
        "/nodes/pve1/qemu/100/config",
        "/nodes/pve1/qemu/101/status/start",
    ]  # ** may be empty
    # a glob when * sits inside a segment
    assert paths(path="/nodes/*/qemu*") == [
        "/nodes/pve1/qemu",
        "/nodes/pve1/qemu/100/config",
        "/nodes/pve1/qemu/101/status/start",
    ]
    assert paths(since=first_id + 2) == ["/nodes/pve1/qemu/101/status/start", "/nodes/pve9/nope"]
    assert paths(since=time.time() + 60) == []
    assert len(paths(since=time.time() - 60)) == 5
    assert paths(limit=0) == []

    entry = ctl.get("/_scenariod/journal", params={"limit": 1, "method": "POST"}).json()["entries"][0]
    assert entry["answered_by"] == "task" and entry["user"] == "root@pam!ci" and entry["session"] is None
    assert entry["headers"]["authorization"] == "<redacted>"

    bad = ctl.get("/_scenariod/journal", params={"status": "teapot"})
    assert bad.status_code == 400 and "status" in bad.json()["error"]
    assert ctl.delete("/_scenariod/journal").json()["cleared"] == 5
    assert paths() == []


def test_verify_counts_and_explains_near_misses(pve):
    api, ctl = pve.client, pve.ctl
    api.get("/cluster/resources", params={"type": "vm"})
    api.get("/cluster/resources", params={"type": "vm"})
    api.post("/nodes/pve1/qemu/101/status/start")

    r = ctl.post("/_scenariod/verify", json={"when": "GET /cluster/resources", "count": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and body["count"] == 2 and body["got"] == 2 and body["wanted"] == "exactly 2"
    assert [e["path"] for e in body["requests"]] == ["/cluster/resources"] * 2

    r = ctl.post(
        "/_scenariod/verify",
        json={"when": {"method": "GET", "path": "/cluster/resources", "query": {"type": "vm"}}, "min": 3},
    )
    assert r.status_code == 409 and r.json()["count"] == 2 and r.json()["wanted"] == "at least 3"

    # A near miss: the closest request first, with what differed
    api.get("/nodes/pve1/qemu")
    api.get("/nodes/pve1/qemu/101")
    r = ctl.post(
        "/_scenariod/verify", json={"when": {"method": "GET", "path": "/nodes/{node}/qemu", "query": {"full": 1}}}
    )
    assert r.status_code == 409
    body = r.json()
    assert body["ok"] is False and body["count"] == 0
    closest = body["closest"][0]
    assert closest["path"] == "/nodes/pve1/qemu"
    assert closest["differences"] == ["query.full missing"]
    assert len(body["closest"]) == 3

    r = ctl.post("/_scenariod/verify", json={"when": "DELETE /nodes/{node}/qemu/{vmid}", "closest": 1})
    assert r.status_code == 409
    (closest,) = r.json()["closest"]
    assert closest["path"] == "/nodes/pve1/qemu/101" and closest["differences"] == ["method GET != DELETE"]

    r = ctl.post("/_scenariod/verify", json={"when": "POST /nodes/{node}/qemu/{vmid}/status/stop"})
    closest = r.json()["closest"][0]
    assert closest["path"] == "/nodes/pve1/qemu/101/status/start"
    assert closest["differences"] == ["path /nodes/pve1/qemu/101/status/start != /nodes/{node}/qemu/{vmid}/status/stop"]

    r = ctl.post("/_scenariod/verify", json={"when": "GET /cluster/resources", "max": 1})
    assert r.status_code == 409 and r.json()["wanted"] == "at most 1"

    r = ctl.post("/_scenariod/verify", json={"when": "DELETE /nodes/{node}/qemu/{vmid}", "never": True})
    assert r.status_code == 200 and r.json()["wanted"] == "never"
    r = ctl.post("/_scenariod/verify", json={"when": "GET /nodes/{node}/qemu/{vmid}/status/start"})
    assert r.status_code == 400 and "GET is not an operation" in r.json()["error"]

    # `if` and body conditions, as in a scenario
    r = ctl.post(
        "/_scenariod/verify", json={"when": {"path": "/cluster/resources", "if": "query.type == 'vm'"}, "count": 2}
    )
    assert r.status_code == 200, r.text

    # Mistakes are explained as `check` explains them
    r = ctl.post("/_scenariod/verify", json={"when": "GET /nodez"})
    assert r.status_code == 400 and "not a path of the PVE API" in r.json()["error"]
    r = ctl.post("/_scenariod/verify", json={"when": "GET /version", "count": -1})
    assert r.status_code == 400 and "count" in r.json()["error"]
    assert ctl.post("/_scenariod/verify", content=b"[1]").status_code == 400
    assert ctl.post("/_scenariod/verify", content=b"{nope").status_code == 400


def test_verify_a_list_of_expectations(pve):
    pve.client.get("/version")
    r = pve.ctl.post(
        "/_scenariod/verify",
        json={
            "expect": [
                {"when": "GET /version", "description": "asks the version"},
                {"when": "GET /nodes", "count": 1},
            ]
        },
    )
    assert r.status_code == 409
    report = r.json()
    assert report["ok"] is False and report["failed"] == 1
    assert [(c["description"], c["ok"], c["got"]) for c in report["expectations"]] == [
        ("asks the version", True, 1),
        (None, False, 0),
    ]


def test_verify_the_scenario_expectations(serve):
    running = serve(EXPECTING)
    ctl = httpx.Client(base_url=running.url, timeout=10)
    r = ctl.get("/_scenariod/verify")
    assert r.status_code == 409
    report = r.json()
    assert report["ok"] is False and report["scenario"] == "expecting"
    assert [(c["when"], c["wanted"], c["got"], c["ok"]) for c in report["expectations"]] == [
        ("POST /access/ticket", "at least once", 0, False),
        ("GET /cluster/resources query {type: vm}", "exactly once", 0, False),
        ("DELETE /nodes/{node}/qemu/{vmid}", "never", 0, True),
    ]
    assert report["expectations"][0]["description"] == "the client logs in"
    assert report["expectations"][0]["line"] == 11

    running.login()
    running.client.get("/cluster/resources", params={"type": "vm"})
    r = ctl.get("/_scenariod/verify")
    assert r.status_code == 200 and r.json()["ok"] is True

    running.client.delete("/nodes/pve1/qemu/100")
    r = ctl.get("/_scenariod/verify")
    assert r.status_code == 409
    failed = [c for c in r.json()["expectations"] if not c["ok"]]
    assert [c["when"] for c in failed] == ["DELETE /nodes/{node}/qemu/{vmid}"]
    assert failed[0]["requests"][0]["path"] == "/nodes/pve1/qemu/100"
    ctl.close()


def test_state_read_write_merge_delete_and_reset(pve):
    api, ctl = pve.client, pve.ctl
    r = ctl.get("/_scenariod/state", params={"path": "/nodes/pve1/qemu"})
    assert r.status_code == 200
    assert sorted(v["vmid"] for v in r.json()["value"]) == [100, 101]
    r = ctl.get("/_scenariod/state", params={"path": "/api2/json/nodes/pve1/qemu/100/config"})
    assert r.json()["path"] == "/nodes/pve1/qemu/100/config" and r.json()["value"]["cores"] == 2
    everything = ctl.get("/_scenariod/state").json()["paths"]
    assert "/nodes/pve1/qemu/100/config" in everything and "/nodes/pve2" in everything
    under = ctl.get("/_scenariod/state", params={"under": "/nodes/pve2"}).json()["paths"]
    assert under and all(p.startswith("/nodes/pve2") for p in under)
    assert ctl.get("/_scenariod/state", params={"path": "/nodes/pve1/qemu/999/config"}).status_code == 404

    # PATCH merges mappings recursively; null removes a key
    r = ctl.patch("/_scenariod/state", params={"path": "/nodes/pve1/qemu/100/config"}, json={"cores": 8, "net0": None})
    assert r.status_code == 200
    assert r.json()["value"]["cores"] == 8 and "net0" not in r.json()["value"]
    config = api.get("/nodes/pve1/qemu/100/config").json()["data"]
    assert config["cores"] == 8 and "net0" not in config and config["memory"] == 2048

    # PUT replaces; a collection takes its items (others go)
    r = ctl.put("/_scenariod/state", params={"path": "/pools"}, json=[{"poolid": "db"}, {"poolid": "ops"}])
    assert r.status_code == 200
    assert [p["poolid"] for p in api.get("/pools").json()["data"]] == ["db", "ops"]
    r = ctl.put(
        "/_scenariod/state", params={"path": "/version"}, json={"version": "7.4", "release": "7.4", "repoid": "x"}
    )
    assert r.status_code == 200
    assert api.get("/version").json()["data"]["release"] == "7.4"
    bad = ctl.put("/_scenariod/state", params={"path": "/pools"}, json=[{"comment": "no key"}])
    assert bad.status_code == 400 and "poolid" in bad.json()["error"]
    bad = ctl.put("/_scenariod/state", params={"path": "/nodez/x"}, json={})
    assert bad.status_code == 400 and "not a path" in bad.json()["error"]

    # DELETE removes the subtree
    assert ctl.delete("/_scenariod/state", params={"path": "/nodes/pve1/qemu/101"}).status_code == 200
    assert api.get("/nodes/pve1/qemu/101/config").status_code != 200
    assert ctl.delete("/_scenariod/state", params={"path": "/nodes/pve1/qemu/101"}).status_code == 404
    assert ctl.delete("/_scenariod/state").status_code == 400

    # reset: back to the seed
    assert ctl.post("/_scenariod/reset").status_code == 200
    assert api.get("/nodes/pve1/qemu/101/config").status_code == 200
    assert api.get("/nodes/pve1/qemu/100/config").json()["data"]["cores"] == 2
    assert [p["poolid"] for p in api.get("/pools").json()["data"]] == ["web"]
    # ... and the request log still sees the new World's requests
    seen = []
    pve.service.listeners.append(lambda service, entry: seen.append(entry.path))
    api.get("/version")
    assert "/version" in seen


def test_scenario_health_index_and_errors(serve, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("scenariod: 1\nname: first\nauth: {mode: none}\n")
    running = serve(path)
    ctl = httpx.Client(base_url=running.url, timeout=10)
    info = ctl.get("/_scenariod/scenario").json()
    assert info["name"] == "first" and info["service"] == "pve" and info["file"] == str(path)
    assert info["text"] == path.read_text() and info["reloads"] == 0 and info["last_error"] is None
    health = ctl.get("/_scenariod/health").json()
    assert health["status"] == "ok" and health["scenario"] == "first"
    assert "/_scenariod/journal" in ctl.get("/_scenariod/").json()["endpoints"]

    # a bad save: the last error names FILE:LINE:COLUMN
    path.write_text("scenariod: 1\nname: first\nseed: lots\n")
    r = ctl.post("/_scenariod/reload")
    assert r.status_code == 422 and r.json()["ok"] is False
    info = ctl.get("/_scenariod/scenario").json()
    assert info["last_error"].startswith(f"{path}:3:7: ")
    path.write_text("scenariod: 1\nname: second\nauth: {mode: none}\n")
    r = ctl.post("/_scenariod/reload", json={"reset": True})
    assert r.status_code == 200 and r.json() == {"ok": True, "reloads": 1, "last_error": None}
    assert ctl.get("/_scenariod/scenario").json()["name"] == "second"

    r = ctl.get("/_scenariod/nothing")
    assert r.status_code == 404 and "/_scenariod/state" in r.json()["endpoints"]
    r = ctl.post("/_scenariod/journal")
    assert r.status_code == 405 and r.headers["Allow"] == "DELETE, GET"
    # the control API never shadows the Proxmox API, which lives under /api2/
    assert ctl.get("/api2/json/_scenariod/journal").status_code == 501
    ctl.close()


def test_clock_moves_a_world_forward(pve):
    ctl = pve.ctl
    r = pve.client.post("/access/ticket", data={"username": "root@pam", "password": "secret"})
    ticket = r.json()["data"]["ticket"]
    cookie = {"PVEAuthCookie": ticket}
    with httpx.Client(base_url=pve.api, cookies=cookie) as c:
        assert c.get("/nodes").status_code == 200
        r = ctl.post("/_scenariod/clock", json={"advance": "3h"})
        assert r.status_code == 200 and r.json()["offset"] == 3 * 3600
        assert c.get("/nodes").status_code == 401  # the ticket expired (2 h)
    assert ctl.post("/_scenariod/clock", json={"advance": "soon"}).status_code == 400


CONTROLLED = """\
scenariod: 1
name: controlled
auth:
  mode: none
  control_token: s3cret
"""


def test_control_token(serve):
    running = serve(CONTROLLED)
    ctl = httpx.Client(base_url=running.url, timeout=10)
    r = ctl.get("/_scenariod/journal")
    assert r.status_code == 401 and "Bearer" in r.json()["error"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert ctl.get("/_scenariod/health", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert ctl.get("/_scenariod/journal", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    # the API itself and the plain health probe are not affected
    assert ctl.get("/api2/json/version").status_code == 200
    assert ctl.get("/health").status_code == 200
    ctl.close()


def test_control_token_from_the_command_line_wins(serve):
    running = serve(CONTROLLED, control_token="other")
    ctl = httpx.Client(base_url=running.url, timeout=10)
    assert ctl.get("/_scenariod/health", headers={"Authorization": "Bearer s3cret"}).status_code == 401
    assert ctl.get("/_scenariod/health", headers={"Authorization": "Bearer other"}).status_code == 200
    ctl.close()


def test_a_control_token_is_generated_beyond_loopback():
    from scenariod.scenario import parse_scenario
    from scenariod.server import Service

    scenario = parse_scenario("scenariod: 1\nname: w\n")
    for host in ("127.0.0.1", "127.8.9.10", "::1", "localhost"):
        service = Service(scenario, host=host)
        assert service.control_token is None and service.control_notice is None  # open, as before
    service = Service(scenario, host="0.0.0.0")
    token = service.control_token
    assert token and len(token) >= 32 and token in service.control_notice
    assert Service(scenario, host="0.0.0.0").control_token != token  # one per run
    given = Service(scenario, host="0.0.0.0", control_token="t")
    assert given.control_token == "t" and given.control_notice is None
    from_file = Service(parse_scenario("scenariod: 1\nname: w\nauth: {control_token: f}\n"), host="::")
    assert from_file.control_token == "f" and from_file.control_notice is None


def test_cli_run_passes_the_control_token_and_warns(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "s.yaml"
    path.write_text("scenariod: 1\nname: w\nauth: {mode: none}\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scenariod",
            "run",
            str(path),
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--http",
            "--no-tui",
            "--no-reload",
            "--control-token",
            "tok",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        port = int(line.split("/api2/json")[0].rsplit(":", 1)[1])
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/_scenariod/health").status_code == 401
        assert httpx.get(f"{url}/_scenariod/health", headers={"Authorization": "Bearer tok"}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
    assert "warning" not in proc.stderr.read()  # a token is set: no warning

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scenariod",
            "run",
            str(path),
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--http",
            "--no-tui",
            "--no-reload",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        notice = proc.stderr.readline()  # printed before the URL line
        token = notice.split("Authorization: Bearer ", 1)[1].split("`", 1)[0]
        line = proc.stdout.readline()
        port = int(line.split("/api2/json")[0].rsplit(":", 1)[1])
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/_scenariod/health").status_code == 401  # never open off loopback
        ok = httpx.get(f"{url}/_scenariod/journal", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and token not in ok.text
        assert httpx.get(f"{url}/api2/json/version").status_code == 200  # the API itself as before
    finally:
        proc.terminate()
        proc.wait(10)
    rest = proc.stderr.read() + proc.stdout.read()
    assert "--control-token" in notice and token not in rest  # printed once, never in a log line


# --- scenariod verify ------------------------------------------------------------------------------


def test_cli_verify_over_https(serve, capsys, tmp_path):
    running = serve(EXPECTING, tls=True)
    ca = running.ca_file
    assert ca
    assert cli_main(["verify", running.url, "--cacert", ca]) == 1
    out = capsys.readouterr().out
    assert "scenariod verify: expecting at" in out
    assert "✘" in out and "the client logs in (POST /access/ticket): wanted at least once, got 0" in out
    assert "✔" in out and "DELETE /nodes/{node}/qemu/{vmid}: wanted never, got 0" in out
    assert "2 of 3 expectation(s) failed" in out

    running.login()
    running.client.get("/cluster/resources", params={"type": "storage"})
    assert cli_main(["verify", f"{running.url}/api2/json", "--insecure"]) == 1
    out = capsys.readouterr().out
    assert "closest requests:" in out
    assert "#" in out and "GET /cluster/resources?type=storage -> 200" in out
    assert "query.type storage != vm" in out

    running.client.get("/cluster/resources", params={"type": "vm"})
    assert cli_main(["verify", running.url, "--cacert", ca]) == 0
    out = capsys.readouterr().out
    assert "all 3 expectation(s) met" in out and "✘" not in out

    # FILE: that file's expectations, labelled with its lines
    other = tmp_path / "other.yaml"
    other.write_text("scenariod: 1\nname: other\nexpect:\n  - when: GET /version\n    description: asks the version\n")
    assert cli_main(["verify", running.url, str(other), "--cacert", ca]) == 1
    out = capsys.readouterr().out
    assert f"{other}:4: asks the version (GET /version): wanted at least once, got 0" in out

    bad = tmp_path / "bad.yaml"
    bad.write_text("scenariod: 1\nname: bad\nexpect:\n  - when: GET /nowhere\n")
    assert cli_main(["verify", running.url, str(bad), "--cacert", ca]) == 1
    assert f"{bad}:4:" in capsys.readouterr().err

    assert cli_main(["verify", running.url, "--json", "--cacert", ca]) == 0
    assert '"ok": true' in capsys.readouterr().out


def test_cli_verify_sessions_tokens_and_unreachable(serve, capsys):
    running = serve(CONTROLLED)
    assert cli_main(["verify", running.url]) == 1
    assert "401" in capsys.readouterr().err
    assert cli_main(["verify", running.url, "--token", "s3cret"]) == 0
    assert "no expectations to check" in capsys.readouterr().out
    assert cli_main(["verify", f"{running.url}/_session/abc", "--token", "s3cret"]) == 0
    assert "(session abc)" in capsys.readouterr().out
    assert cli_main(["verify", "http://127.0.0.1:9"]) == 1
    assert "cannot reach" in capsys.readouterr().err


def test_verify_without_tls_verification_fails_cleanly(serve, capsys, tmp_path, monkeypatch):
    running = serve(EXPECTING, tls=True)
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path / "empty-cache"))  # no scenariod CA to fall back on
    assert cli_main(["verify", running.url]) == 1
    assert "cannot reach" in capsys.readouterr().err


def test_verify_report_module_formats_without_a_server():
    from scenariod.verify import format_report, path_similarity, wanted_text

    assert wanted_text(1, None) == "at least once"
    assert wanted_text(2, 2) == "exactly 2"
    assert wanted_text(0, 0) == "never"
    assert wanted_text(1, 3) == "between 1 and 3"
    assert path_similarity(("nodes", "{node}", "qemu"), ["nodes", "pve1", "qemu"]) == 1.0
    assert path_similarity(("nodes", "**"), ["nodes", "pve1", "qemu"]) == 1.0
    assert path_similarity(("nodes", "{node}", "lxc"), ["nodes", "pve1", "qemu"]) == pytest.approx(2 / 3)
    text = format_report({"ok": True, "expectations": []})
    assert "no expectations" in text


def test_docs_describe_every_endpoint():
    from scenariod.control import ENDPOINTS

    doc = (Path(__file__).resolve().parent.parent / "docs" / "control-api.md").read_text()
    for name, methods in ENDPOINTS.items():
        for method in methods:
            assert f"{method} /_scenariod/{name}" in doc, f"{method} /_scenariod/{name} is not documented"


# --- examples/ work against scenarios/two-node.yaml ----------------------------------------------

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_examples_proxmoxer_curl_and_verify(serve, capsys):
    import os
    import shutil
    import subprocess
    import sys

    running = serve(SCENARIOS / "two-node.yaml", tls=True)
    port = str(running.service.port)
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / "proxmoxer_basic.py"), "--port", port, "--ca", running.ca_file],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "VM 101 is running" in r.stdout
    # the expectations the GitHub Actions job checks after that client
    assert cli_main(["verify", running.url, str(EXAMPLES / "ci-expectations.yaml"), "--cacert", running.ca_file]) == 0
    assert "all 5 expectation(s) met" in capsys.readouterr().out
    # a second run finds the VM running, and in a session of its own starts it again
    r = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "proxmoxer_basic.py"),
            "--port",
            port,
            "--ca",
            running.ca_file,
            "--session",
            "again",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "starting VM 101" in r.stdout, r.stdout + r.stderr

    if not (shutil.which("curl") and shutil.which("jq") and shutil.which("bash")):
        pytest.skip("curl.sh needs bash, curl and jq")
    env = {**os.environ, "URL": running.url, "SCENARIOD_CA": running.ca_file, "SESSION": "curl-test"}
    r = subprocess.run(["bash", str(EXAMPLES / "curl.sh")], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    for text in (
        "pve1\tonline",
        "VM 101 is running",
        '{"ok":true,"wanted":"exactly once","got":1}',
        "query.type vm != storage",
        "cores now 8",
        '{"deleted":["curl-test"]}',
    ):
        assert text in r.stdout, text
    assert running.service.sessions.keys() == {"again"}  # curl.sh discarded its own


def test_examples_github_actions_job():
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    steps = workflow["jobs"]["against-scenariod"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    for needed in (
        "scenariod run scenarios/two-node.yaml",
        "/health",
        "examples/proxmoxer_basic.py",
        "scenariod verify",
        "examples/ci-expectations.yaml",
    ):
        assert needed in runs
    assert cli_main(["check", str(SCENARIOS / "two-node.yaml"), str(EXAMPLES / "ci-expectations.yaml")]) == 0
