"""Sessions: a World per parallel test, by path prefix or header, over real HTTP(S)."""

from __future__ import annotations

import ssl
import threading

import httpx
import pytest
from conftest import SCENARIOS

TOKEN = "PVEAPIToken=root@pam!ci=5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10"

FAULTY = """\
scenariod: 1
name: faulty
time_scale: 0
auth: {mode: none}
limits: {sessions: 2}
state:
  /nodes: [{node: pve1}]
  /nodes/pve1/qemu: [{vmid: 100, name: web-01, status: stopped}]
faults:
  - when: GET /cluster/resources
    error: {status: 503, message: "too busy"}
    times: 1
"""


@pytest.fixture
def pve(serve):
    running = serve(SCENARIOS / "two-node.yaml")
    running.client.headers["Authorization"] = TOKEN
    return running


def qemu_names(client: httpx.Client, prefix: str = "", **kw) -> dict[int, str]:
    r = client.get(f"{prefix}/nodes/pve1/qemu", **kw)
    assert r.status_code == 200, r.text
    return {g["vmid"]: g["name"] for g in r.json()["data"]}


def test_sessions_see_their_own_state(pve):
    base = httpx.Client(base_url=pve.url, headers={"Authorization": TOKEN}, timeout=10)
    a = "/_session/a/api2/json"
    # a change in session a ...
    r = base.put(f"{a}/nodes/pve1/qemu/100/config", data={"name": "changed-in-a"})
    assert r.status_code == 200, r.text
    assert qemu_names(base, a)[100] == "changed-in-a"
    # ... is not seen by the default World, nor by session b (by header)
    assert qemu_names(pve.client)[100] == "web-01"
    assert qemu_names(pve.client, headers={"X-Scenariod-Session": "b"})[100] == "web-01"
    # the header reaches the same World as the prefix
    assert qemu_names(pve.client, headers={"X-Scenariod-Session": "a"})[100] == "changed-in-a"
    # and a change in the default World stays there
    pve.client.put("/nodes/pve1/qemu/101/config", data={"name": "changed-in-default"})
    assert qemu_names(base, a)[101] == "db-01"
    base.close()


def test_session_journals_carry_the_session(pve):
    ctl = httpx.Client(base_url=pve.url, timeout=10)
    pve.client.get("/version")
    pve.client.get("/version", headers={"X-Scenariod-Session": "s1"})
    httpx.get(f"{pve.url}/_session/s2/api2/json/nodes", headers={"Authorization": TOKEN})

    default = ctl.get("/_scenariod/journal").json()["entries"]
    assert [(e["path"], e["session"]) for e in default] == [("/version", None)]
    s1 = ctl.get("/_scenariod/journal", params={"session": "s1"}).json()["entries"]
    assert [(e["path"], e["session"]) for e in s1] == [("/version", "s1")]
    s2 = ctl.get("/_scenariod/journal", headers={"X-Scenariod-Session": "s2"}).json()["entries"]
    assert [(e["path"], e["session"]) for e in s2] == [("/nodes", "s2")]
    assert ctl.get("/_session/s2/_scenariod/journal").json()["entries"] == s2
    every = ctl.get("/_scenariod/journal", params={"session": "*"}).json()["entries"]
    assert [e["session"] for e in every] == [None, "s1", "s2"]

    # verification per session
    assert ctl.post("/_scenariod/verify?session=s1", json={"when": "GET /version", "count": 1}).status_code == 200
    assert ctl.post("/_scenariod/verify?session=s2", json={"when": "GET /version"}).status_code == 409
    assert ctl.post("/_scenariod/verify?session=*", json={"when": "GET /version", "count": 2}).status_code == 200

    # the live request log names the session
    lines = []
    pve.service.listeners.append(lambda service, entry: lines.append((entry.path, entry.session)))
    pve.client.get("/version", headers={"X-Scenariod-Session": "s3"})
    assert ("/version", "s3") in lines
    ctl.close()


def test_sessions_have_their_own_fault_counters_and_lru_bound(serve):
    running = serve(FAULTY)
    ctl = httpx.Client(base_url=running.url, timeout=10)

    def resources(session: str | None) -> int:
        prefix = f"/_session/{session}" if session else ""
        return httpx.get(f"{running.url}{prefix}/api2/json/cluster/resources").status_code

    assert resources(None) == 503 and resources(None) == 200
    assert resources("one") == 503 and resources("one") == 200  # its own `times` counter
    assert resources("two") == 503
    sessions = ctl.get("/_scenariod/sessions").json()
    assert sessions["limit"] == 2 and [s["id"] for s in sessions["sessions"]] == ["one", "two"]
    assert sessions["sessions"][0]["requests"] == 2
    # touching `one` makes `two` the least recently used: a third session evicts it
    assert resources("one") == 200
    assert resources("three") == 503
    assert [s["id"] for s in ctl.get("/_scenariod/sessions").json()["sessions"]] == ["one", "three"]
    assert resources("two") == 503  # a fresh World again
    ctl.close()


def test_delete_a_session_discards_its_world(serve):
    running = serve(FAULTY)
    ctl = httpx.Client(base_url=running.url, timeout=10)
    api = httpx.Client(base_url=f"{running.url}/_session/gone/api2/json", timeout=10)
    assert api.post("/nodes/pve1/qemu/100/status/start").status_code == 200
    assert api.get("/nodes/pve1/qemu/100/status/current").json()["data"]["status"] == "running"
    assert ctl.get("/_scenariod/sessions/gone").json()["id"] == "gone"
    r = ctl.delete("/_scenariod/sessions/gone")
    assert r.status_code == 200 and r.json() == {"deleted": ["gone"]}
    assert ctl.delete("/_scenariod/sessions/gone").status_code == 404
    assert ctl.get("/_scenariod/sessions/gone").status_code == 404
    # next use starts from the seed
    assert api.get("/nodes/pve1/qemu/100/status/current").json()["data"]["status"] == "stopped"
    # created explicitly, and all at once discarded
    r = ctl.post("/_scenariod/sessions", json={"id": "made"})
    assert r.status_code == 201 and r.json()["api_path"] == "/_session/made/api2/json"
    r = ctl.post("/_scenariod/sessions")
    assert r.status_code == 201 and r.json()["id"].startswith("s-")
    # (limits.sessions is 2: the generated one evicted `gone`)
    assert set(ctl.delete("/_scenariod/sessions").json()["deleted"]) == {"made", r.json()["id"]}
    assert ctl.get("/_scenariod/sessions").json()["count"] == 0
    api.close()
    ctl.close()


def test_control_endpoints_act_on_a_session(serve):
    running = serve(FAULTY)
    ctl = httpx.Client(base_url=running.url, timeout=10)
    r = ctl.patch("/_scenariod/state", params={"path": "/nodes/pve1/qemu/100", "session": "x"}, json={"name": "x-name"})
    assert r.status_code == 200
    names = {
        g["vmid"]: g["name"] for g in httpx.get(f"{running.url}/_session/x/api2/json/nodes/pve1/qemu").json()["data"]
    }
    assert names[100] == "x-name"
    assert ctl.get("/_scenariod/state", params={"path": "/nodes/pve1/qemu/100"}).json()["value"]["name"] == "web-01"
    # reset a session: back to the seed, the others untouched
    ctl.patch("/_scenariod/state", params={"path": "/nodes/pve1/qemu/100"}, json={"name": "default-name"})
    assert ctl.post("/_session/x/_scenariod/reset").json()["reset"] == "x"
    assert ctl.get("/_scenariod/state?session=x&path=/nodes/pve1/qemu/100").json()["value"]["name"] == "web-01"
    assert ctl.get("/_scenariod/state?path=/nodes/pve1/qemu/100").json()["value"]["name"] == "default-name"
    # session=* reads, but does not write
    assert ctl.put("/_scenariod/state?session=*&path=/version", json={}).status_code == 400
    ctl.close()


def test_invalid_session_ids(pve):
    r = httpx.get(f"{pve.url}/_session/{'x' * 129}/api2/json/version")
    assert r.status_code == 400 and "session id" in r.json()["error"]
    r = httpx.get(f"{pve.url}/_session/a%20b/api2/json/version")
    assert r.status_code == 400
    r = pve.client.get("/version", headers={"X-Scenariod-Session": "a/b"})
    assert r.status_code == 400
    assert httpx.get(f"{pve.url}/_session/ok/elsewhere").status_code == 404
    assert httpx.get(f"{pve.url}/_scenariod/journal?session=bad%20id").status_code == 400


def test_parallel_sessions_do_not_see_each_other(serve):
    running = serve(FAULTY)
    errors: list[str] = []

    def worker(n: int) -> None:
        with httpx.Client(base_url=f"{running.url}/_session/p{n}/api2/json", timeout=10) as c:
            for i in range(10):
                name = f"p{n}-{i}"
                if c.put("/nodes/pve1/qemu/100/config", data={"name": name}).status_code != 200:
                    errors.append(f"{n}: put failed")
                got = c.get("/nodes/pve1/qemu/100/config").json()["data"]["name"]
                if got != name:
                    errors.append(f"{n}: saw {got}, wanted {name}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]  # limits.sessions is 2
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_proxmoxer_reaches_a_session_with_path_prefix(serve):
    from proxmoxer import ProxmoxAPI

    running = serve(SCENARIOS / "two-node.yaml", tls=True)
    port = running.service.port
    ca = running.ca_file

    def client(session: str, **auth) -> ProxmoxAPI:
        return ProxmoxAPI("127.0.0.1", port=port, verify_ssl=ca, path_prefix=f"_session/{session}", **auth)

    alice = client("alice", user="root@pam", password="secret")
    bob = client("bob", user="root@pam", token_name="ci", token_value="5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10")
    assert {n["node"] for n in alice.nodes.get()} == {"pve1", "pve2"}
    alice.nodes("pve1").qemu(100).config.put(name="alice-web")
    assert alice.nodes("pve1").qemu(100).config.get()["name"] == "alice-web"
    assert bob.nodes("pve1").qemu(100).config.get()["name"] == "web-01"
    upid = bob.nodes("pve1").qemu(101).status.start.post()
    assert upid.startswith("UPID:pve1:")
    assert bob.nodes("pve1").tasks(upid).status.get()["upid"] == upid

    # the sessions' journals hold what each did (proxmoxer's ticket request included)
    ctl = httpx.Client(base_url=running.url, verify=ssl.create_default_context(cafile=ca), timeout=10)
    alice_paths = [
        (e["method"], e["path"], e["session"]) for e in ctl.get("/_scenariod/journal?session=alice").json()["entries"]
    ]
    assert alice_paths[0] == ("POST", "/access/ticket", "alice")
    assert ("PUT", "/nodes/pve1/qemu/100/config", "alice") in alice_paths
    r = ctl.post(
        "/_scenariod/verify?session=bob", json={"when": "POST /nodes/{node}/qemu/{vmid}/status/start", "count": 1}
    )
    assert r.status_code == 200
    assert ctl.get("/_scenariod/journal").json()["count"] == 0  # the default World saw nothing
    ctl.close()
