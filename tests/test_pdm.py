"""Proxmox Datacenter Manager: auth, remotes, resource views and remote tasks over real HTTPS
with httpx, and a sweep of every bindable GET path of the PDM API."""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import SCENARIOS, Running, serving
from test_pbs import PBS_UPID, check_sweep

from scenariod import wire
from scenariod.scenario import load_scenario
from scenariod.server import Service

TOKEN = "e3b1c9d2-5a4f-4c7e-8b6d-1f0a2e3c4d5b"
PVE_UPID = re.compile(r"^UPID:[a-zA-Z0-9-]+:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:[^:\s]+:[^:\s]*:[^:\s]+:$")


@pytest.fixture(scope="module")
def pdm() -> Iterator[Running]:
    """scenarios/pdm.yaml over HTTPS, shared by the module."""
    yield from serving(SCENARIOS / "pdm.yaml", tls=True)


@pytest.fixture
def fresh() -> Iterator[Running]:
    """A private copy of scenarios/pdm.yaml for tests that change state."""
    yield from serving(SCENARIOS / "pdm.yaml", tls=True)


def client(running: Running, token: str | None = None) -> httpx.Client:
    """An httpx client as root@pam, the superuser (PDM's endpoints without an access rule are
    its alone, its tokens included in nothing), or with `token` the way PDM wants API tokens:
    `PDMAPIToken=ID:SECRET` (root@pam!automation, an Administrator on / in pdm.yaml)."""
    verify = ssl.create_default_context(cafile=running.ca_file)
    c = httpx.Client(base_url=running.api, verify=verify, timeout=10)
    if token is not None:
        c.headers["Authorization"] = f"PDMAPIToken=root@pam!automation:{token}"
        return c
    login = {"username": "root@pam", "password": "secret"}
    data = httpx.post(running.api + "/access/ticket", data=login, verify=verify).json()["data"]
    c.cookies.set(running.service.runtime.auth.cookie, data["ticket"])
    c.headers["CSRFPreventionToken"] = data["CSRFPreventionToken"]
    return c


def wait(c: httpx.Client, status_path: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = c.get(status_path).json()["data"]
        if status["status"] == "stopped" or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


# --- the service ------------------------------------------------------------------------------


def test_defaults_to_port_8443_and_names_itself(pdm: Running) -> None:
    scenario = load_scenario(SCENARIOS / "pdm.yaml")
    assert Service(scenario).port == wire.DEFAULT_PORTS["pdm"] == 8443
    root = httpx.get(pdm.url + "/", verify=ssl.create_default_context(cafile=pdm.ca_file)).json()
    assert root["service"] == "pdm" and root["product"] == "Proxmox Datacenter Manager"


def test_other_services_paths_are_absent(pdm: Running) -> None:
    with client(pdm) as c:
        for path in ("/cluster/resources", "/admin/datastore", "/nodes/pdm/qemu", "/config/datastore"):
            r = c.get(path)
            assert r.status_code == 501 and r.json()["message"] == f"Method 'GET /api2/json{path}' not implemented\n"
        assert c.get("/ping").json()["data"] == "pong"
        assert c.get("/nodes").json()["data"] == [{"node": "pdm"}]
        assert c.get("/version").json()["data"]["release"] == "1.1"


# --- auth ----------------------------------------------------------------------------------------


def test_ticket_cookie_csrf_and_tokens(pdm: Running) -> None:
    ctx = ssl.create_default_context(cafile=pdm.ca_file)
    with httpx.Client(base_url=pdm.api, verify=ctx) as c:
        assert c.get("/remotes/remote").status_code == 401
        data = c.post("/access/ticket", json={"username": "root@pam", "password": "secret"}).json()["data"]
        assert data["ticket"].startswith("PDM:root@pam:")
        c.cookies.set("PDMAuthCookie", data["ticket"])
        assert c.get("/remotes/remote").status_code == 200
        assert c.post("/remotes/tasks/refresh").status_code == 401  # no CSRF token
        r = c.post("/remotes/tasks/refresh", headers={"CSRFPreventionToken": data["CSRFPreventionToken"]})
        assert r.status_code == 200 and PBS_UPID.match(r.json()["data"])
        c.cookies.clear()
        c.cookies.set("PBSAuthCookie", data["ticket"])
        assert c.get("/remotes/remote").status_code == 401
    with client(pdm, token="wrong") as c:
        assert c.get("/remotes/remote").status_code == 401
    with client(pdm) as c:
        assert c.get("/remotes/remote").status_code == 200


def test_users_and_tokens_created_through_the_api(fresh: Running) -> None:
    with client(fresh) as c:
        assert c.post("/access/users", data={"userid": "bob@pdm", "password": "bob-password"}).status_code == 200
        made = c.post("/access/users/bob@pdm/token/monitor").json()["data"]
        assert made["tokenid"] == "bob@pdm!monitor"
        tokens = c.get("/access/users", params={"include_tokens": 1}).json()["data"]
        bob = next(u for u in tokens if u["userid"] == "bob@pdm")
        assert bob["tokens"] == [{"tokenid": "bob@pdm!monitor", "enable": True, "expire": 0}]
    ctx = ssl.create_default_context(cafile=fresh.ca_file)
    with httpx.Client(base_url=fresh.api, verify=ctx) as c:
        bob_token = {"Authorization": f"PDMAPIToken=bob@pdm!monitor:{made['value']}"}
        assert c.get("/version", headers=bob_token).status_code == 200  # any valid user
        # /pve/remotes declares no access rule: root@pam's alone, as on PDM
        r = c.get("/pve/remotes", headers=bob_token)
        assert r.status_code == 403 and r.json()["message"] == "permission check failed\n"
        login = c.post("/access/ticket", data={"username": "bob@pdm", "password": "bob-password"})
        assert login.status_code == 200 and login.json()["data"]["username"] == "bob@pdm"


# --- remotes ------------------------------------------------------------------------------------


def test_remotes_are_listed_without_their_secrets(pdm: Running) -> None:
    with client(pdm) as c:
        remotes = c.get("/remotes/remote").json()["data"]
        assert [(r["id"], r["type"]) for r in remotes] == [("prod", "pve"), ("edge", "pve"), ("backup", "pbs")]
        assert all(r["token"] == "" for r in remotes)
        assert remotes[0]["authid"] == "root@pam!pdm-admin" and len(remotes[0]["nodes"]) == 3
        assert c.get("/pve/remotes").json()["data"] == [{"remote": "prod"}, {"remote": "edge"}]
        assert c.get("/pbs/remotes").json()["data"] == [{"remote": "backup"}]
        assert c.get("/remotes/remote/prod/config").json()["data"]["token"] == ""
        assert c.get("/remotes/remote/backup/version").json()["data"]["release"].startswith("4.")


def test_add_and_remove_remotes(fresh: Running) -> None:
    with client(fresh) as c:
        r = c.post(
            "/remotes/remote",
            json={
                "id": "lab",
                "type": "pve",
                "authid": "root@pam!pdm",
                "token": "s3cret",
                "nodes": ["hostname=pve-lab.example.com:8006,fingerprint=AA:BB"],
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["data"] is None
        listed = {x["id"]: x for x in c.get("/remotes/remote").json()["data"]}
        assert listed["lab"] == {
            "id": "lab",
            "type": "pve",
            "authid": "root@pam!pdm",
            "token": "",
            "nodes": ["hostname=pve-lab.example.com:8006,fingerprint=AA:BB"],
        }
        assert {"remote": "lab"} in c.get("/pve/remotes").json()["data"]
        # It shows up in the resource views (a node named after its host, until more is known).
        resources = {e["remote"]: e.get("resources", []) for e in c.get("/resources/list").json()["data"]}
        assert [x["id"] for x in resources["lab"]] == ["remote/lab/node/pve-lab"]
        assert c.get("/resources/status").json()["data"]["remotes"] == 4
        assert c.get("/pve/remotes/lab/nodes").json()["data"][0]["node"] == "pve-lab"
        # adding it twice is refused; a PBS remote too
        again = c.post(
            "/remotes/remote",
            json={"id": "lab", "type": "pve", "authid": "root@pam", "token": "x", "nodes": ["hostname=1.2.3.4"]},
        )
        assert again.status_code == 400
        r = c.post(
            "/remotes/remote",
            data={
                "id": "pbs2",
                "type": "pbs",
                "authid": "root@pam!pdm",
                "token": "t",
                "nodes": "hostname=10.0.0.9:8007",
            },
        )
        assert r.status_code == 200
        resources = {e["remote"]: e.get("resources", []) for e in c.get("/resources/list").json()["data"]}
        assert [x["type"] for x in resources["pbs2"]] == ["pbs-node"]
        # removing it: gone from every view, and its paths answer "no such remote"
        assert c.delete("/remotes/remote/lab").status_code == 200
        assert "lab" not in [x["id"] for x in c.get("/remotes/remote").json()["data"]]
        assert {"remote": "lab"} not in c.get("/pve/remotes").json()["data"]
        gone = c.get("/pve/remotes/lab/nodes")
        assert gone.status_code == 500 and gone.json()["message"] == "no such remote 'lab'\n"


def test_removed_remote_keeps_its_declared_resources(fresh: Running) -> None:
    with client(fresh) as c:
        assert c.delete("/remotes/remote/edge").status_code == 200
        assert "edge" not in [e["remote"] for e in c.get("/resources/list").json()["data"]]
        c.post(
            "/remotes/remote",
            json={
                "id": "edge",
                "type": "pve",
                "authid": "root@pam!pdm",
                "token": "t",
                "nodes": ["hostname=10.20.0.5:8006"],
            },
        )
        names = [g["name"] for g in c.get("/pve/remotes/edge/qemu").json()["data"]]
        assert names == ["nvr"]


# --- views over declared resources -------------------------------------------------------------------


def test_pve_remote_views_come_from_its_declared_resources(pdm: Running) -> None:
    with client(pdm) as c:
        res = c.get("/pve/remotes/prod/resources").json()["data"]
        by_id = {r["id"]: r for r in res}
        web = by_id["remote/prod/guest/100"]
        assert web["type"] == "qemu" and web["name"] == "web-01" and web["node"] == "pve-a"
        assert web["tags"] == ["prod", "web"] and web["template"] is False
        assert by_id["remote/prod/storage/pve-a/ceph-vm"]["maxdisk"] == 10995116277760
        assert {r["type"] for r in c.get("/pve/remotes/prod/resources", params={"kind": "vm"}).json()["data"]} == {
            "qemu",
            "lxc",
        }
        qemu_b = c.get("/pve/remotes/prod/qemu", params={"node": "pve-b"}).json()["data"]
        assert [(g["vmid"], g["name"], g["status"]) for g in qemu_b] == [
            (110, "db-01", "running"),
            (120, "build-runner", "stopped"),
        ]
        assert [g["vmid"] for g in c.get("/pve/remotes/prod/lxc").json()["data"]] == [200]
        nodes = c.get("/pve/remotes/prod/nodes").json()["data"]
        assert [(n["node"], n["status"]) for n in nodes] == [
            ("pve-a", "online"),
            ("pve-b", "online"),
            ("pve-c", "offline"),
        ]
        status = c.get("/pve/remotes/prod/qemu/100/status").json()["data"]
        assert status["status"] == "running" and status["qmpstatus"] == "running" and status["maxmem"] == 8589934592
        cfg = c.get("/pve/remotes/prod/qemu/110/config", params={"state": "active"}).json()["data"]
        assert cfg["scsi0"] == "ceph-vm:vm-110-disk-0,iothread=1,size=512G"
        assert len(cfg["digest"]) == 40  # the remote PVE's config file: its SHA-1, as the PDM API says
        derived = c.get("/pve/remotes/prod/lxc/200/config", params={"state": "pending"}).json()["data"]
        assert derived["hostname"] == "dns-01"
        cluster = c.get("/pve/remotes/prod/cluster-status").json()["data"]
        assert cluster[0] == {
            "type": "cluster",
            "id": "cluster",
            "name": "prod",
            "nodes": 3,
            "quorate": True,
            "version": 4,
        }
        storage = c.get("/pve/remotes/prod/nodes/pve-a/storage").json()["data"]
        assert {s["storage"] for s in storage} == {"local", "ceph-vm"}
        assert c.get("/pve/remotes/prod/nodes/pve-c/status").status_code == 595
        assert c.get("/pve/remotes/prod/qemu/999/status").status_code == 500


def test_pbs_remote_views(pdm: Running) -> None:
    with client(pdm) as c:
        stores = c.get("/pbs/remotes/backup/datastore").json()["data"]
        assert [s["name"] for s in stores] == ["store1", "offsite"] and "total" not in stores[0]
        snaps = c.get("/pbs/remotes/backup/datastore/store1/snapshots").json()["data"]
        assert [(s["backup-type"], s["backup-id"]) for s in snaps] == [("vm", "100"), ("vm", "110"), ("ct", "200")]
        assert snaps[0]["verification"]["state"] == "ok"
        assert c.get("/pbs/remotes/backup/status").json()["data"]["memory"]["total"] == 34359738368


def test_resource_list_status_and_views(pdm: Running) -> None:
    with client(pdm) as c:
        listing = c.get("/resources/list").json()["data"]
        assert [e["remote"] for e in listing] == ["prod", "edge", "backup"]
        prod = {r["id"]: r for r in listing[0]["resources"]}
        assert prod["remote/prod/guest/110"]["type"] == "pve-qemu"
        assert prod["remote/prod/node/pve-c"]["type"] == "pve-node"
        backup = {r["id"]: r for r in listing[2]["resources"]}
        assert backup["remote/backup/node/pbs1"]["type"] == "pbs-node"
        assert backup["remote/backup/datastore/offsite"]["usage"] == pytest.approx(0.9, abs=0.001)
        qemu = c.get("/resources/list", params={"resource-type": "qemu"}).json()["data"]
        assert {r["name"] for e in qemu for r in e.get("resources", [])} == {
            "web-01",
            "web-02",
            "db-01",
            "build-runner",
            "debian-13-template",
            "nvr",
        }
        found = c.get("/resources/list", params={"search": "dns"}).json()["data"]
        assert [r["id"] for e in found for r in e.get("resources", [])] == ["remote/prod/guest/200"]
        status = c.get("/resources/status").json()["data"]
        assert status["remotes"] == 3 and status["failed_remotes"] == 0
        assert status["qemu"] == {"running": 4, "stopped": 1, "template": 1, "unknown": 0}
        assert status["lxc"] == {"running": 2, "stopped": 0, "template": 0, "unknown": 0}
        assert status["pve_nodes"] == {"online": 3, "offline": 1, "unknown": 0}
        assert status["pbs_nodes"]["online"] == 1 and status["pbs_datastores"]["high_usage"] == 1
        view = c.get("/resources/list", params={"view": "production"}).json()["data"]
        assert [e["remote"] for e in view] == ["prod"]
        assert c.get("/resources/status", params={"view": "production"}).json()["data"]["remotes"] == 1
        top = c.get("/resources/top-entities").json()["data"]
        assert top["guest-cpu"][0]["resource"]["name"] == "db-01"


# --- remote operations as tasks -------------------------------------------------------------------


def test_guest_operations_run_as_tasks_on_the_remote(fresh: Running) -> None:
    with client(fresh) as c:
        upid = c.post("/pve/remotes/prod/qemu/120/start").json()["data"]
        remote, _, native = upid.partition("!")
        assert remote == "prod" and PVE_UPID.match(native), upid
        assert native.split(":")[1] == "pve-b" and ":qmstart:120:root@pam!pdm-admin:" in native
        status = wait(c, f"/pve/remotes/prod/tasks/{quote(upid, safe='')}/status")
        assert status["exitstatus"] == "OK" and status["type"] == "qmstart"
        assert c.get("/pve/remotes/prod/qemu/120/status").json()["data"]["status"] == "running"
        listed = c.get("/pve/remotes/prod/tasks").json()["data"]
        assert [t["upid"] for t in listed] == [upid]
        everywhere = c.get("/remotes/tasks/list").json()["data"]
        assert everywhere[0]["upid"] == upid and everywhere[0]["worker_type"] == "qmstart"
        log = c.get(f"/pve/remotes/prod/tasks/{quote(upid, safe='')}/log").json()
        assert log["data"][-1] == {"n": log["total"], "t": "TASK OK"}
        # starting it again fails inside the worker, as PVE does
        again = c.post("/pve/remotes/prod/qemu/120/start").json()["data"]
        assert (
            wait(c, f"/pve/remotes/prod/tasks/{quote(again, safe='')}/status")["exitstatus"] == "VM 120 already running"
        )
        # migrate within the cluster: the guest changes node in every view
        moved = c.post("/pve/remotes/prod/qemu/101/migrate", data={"target": "pve-b", "online": 1}).json()["data"]
        assert ":qmigrate:101:" in moved
        wait(c, f"/pve/remotes/prod/tasks/{quote(moved, safe='')}/status")
        assert [g["vmid"] for g in c.get("/pve/remotes/prod/qemu", params={"node": "pve-b"}).json()["data"]] == [
            101,
            110,
            120,
        ]
        # a snapshot through the generic behaviour, still a task on the remote
        snap = c.post("/pve/remotes/prod/lxc/200/snapshot", data={"snapname": "pre-upgrade"}).json()["data"]
        assert snap.startswith("prod!UPID:pve-b:") and ":vzsnapshot:200:" in snap
        # a PBS remote's task has a PBS UPID
        apt = c.post("/pbs/remotes/backup/nodes/localhost/apt/update").json()["data"]
        assert apt.startswith("backup!") and PBS_UPID.match(apt.partition("!")[2])
        # PDM's own tasks are listed apart from the remotes'
        own = c.post("/remotes/updates/refresh").json()["data"]
        assert PBS_UPID.match(own) and own.split(":")[1] == "pdm"
        local = [t["upid"] for t in c.get("/nodes/localhost/tasks").json()["data"]]
        assert local == [own]
        stats = c.get("/remotes/tasks/statistics").json()["data"]
        assert stats["by-remote"]["prod"]["ok"] >= 2 and stats["by-remote"]["prod"]["error"] == 1


def test_remote_migrate_moves_a_guest_between_remotes(fresh: Running) -> None:
    with client(fresh) as c:
        upid = c.post(
            "/pve/remotes/edge/qemu/101/remote-migrate",
            data={
                "target": "prod",
                "target-vmid": 130,
                "delete": 1,
                "target-bridge": "vmbr0",
                "target-storage": "ceph-vm",
            },
        ).json()["data"]
        assert upid.startswith("edge!UPID:edge1:")
        wait(c, f"/pve/remotes/edge/tasks/{quote(upid, safe='')}/status")
        assert [g["vmid"] for g in c.get("/pve/remotes/edge/qemu").json()["data"]] == []
        moved = c.get("/pve/remotes/prod/qemu/130/status").json()["data"]
        assert moved["name"] == "nvr"


# --- the sweep ---------------------------------------------------------------------------------------


def test_sweep_every_bindable_get_path(fresh: Running, capsys: pytest.CaptureFixture[str]) -> None:
    with client(fresh) as c:
        wait(
            c,
            f"/pve/remotes/prod/tasks/{quote(c.post('/pve/remotes/prod/qemu/120/start').json()['data'], safe='')}"
            "/status",
        )
        apt = c.post("/pbs/remotes/backup/nodes/localhost/apt/update").json()["data"]
        wait(c, f"/pbs/remotes/backup/tasks/{quote(apt, safe='')}/status")
        own = c.post("/remotes/tasks/refresh").json()["data"]
        wait(c, f"/nodes/localhost/tasks/{quote(own, safe='')}/status")
    fresh.login()
    hints = {
        "timeframe": "hour",
        "cf": "AVERAGE",
        "state": "pending",
        "name": "proxmox-datacenter-manager",
        "hostname": "pve-a.example.com",
        "fingerprint": "AA:BB",
        "authid": "root@pam",
        "token": "x",
    }
    check_sweep("PDM", fresh, hints, capsys)
