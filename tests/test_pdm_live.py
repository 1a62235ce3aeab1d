"""PDM asks its live remotes (scenariod/proxmox/pdm/remote_client.py): the lab's VE, PBS and
PDM as three HTTPS servers on their own event loops, PDM's remotes pointed at them through
PDM's own API, everything checked over HTTP as a client sees it."""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import SCENARIOS, Running, start_service

from scenariod import wire

LAB = SCENARIOS / "lab"
VE_TOKEN = "PVEAPIToken=root@pam!pdm=6f0c2d8e-3b5a-4e71-9c4d-8a2b1e0f7d36"
CACHE = 2.0  # lab/pdm.yaml's limits.remote_cache
TIMEOUT = 3.0  # lab/pdm.yaml's limits.remote_timeout


class Lab:
    def __init__(self) -> None:
        self.stops: list[Callable[[], None]] = []
        self.ve, self.pbs, self.pdm = (self._start(name) for name in ("pve", "pbs", "pdm"))
        self.ve.client.headers["Authorization"] = VE_TOKEN
        self.pdm.login()
        self.point("lab-pve", f"hostname=127.0.0.1:{self.ve.service.port}")
        self.point("lab-pbs", f"hostname=127.0.0.1:{self.pbs.service.port}")

    def _start(self, name: str) -> Running:
        running, stop = start_service(LAB / f"{name}.yaml", tls=True)
        self.stops.append(stop)
        return running

    def point(self, rid: str, nodes: str, **changes: str) -> None:
        answer = self.pdm.client.put(f"/remotes/remote/{rid}", data={"nodes": nodes, **changes})
        assert answer.status_code == 200, answer.text

    def listing(self, **params: Any) -> dict[str, dict[str, Any]]:
        answer = self.pdm.client.get("/resources/list", params=params)
        assert answer.status_code == 200, answer.text
        return {e["remote"]: e for e in answer.json()["data"]}

    def pdm_guest(self, vmid: int, **params: Any) -> dict[str, Any]:
        entries = self.listing(**params)["lab-pve"].get("resources", [])
        return next(e for e in entries if e.get("vmid") == vmid)

    def pdm_client(self) -> httpx.Client:
        """Another client of PDM with the same ticket (for requests side by side)."""
        verify = ssl.create_default_context(cafile=self.pdm.ca_file)
        return httpx.Client(base_url=self.pdm.api, verify=verify, cookies=self.pdm.client.cookies, timeout=10)

    def close(self) -> None:
        for stop in reversed(self.stops):
            stop()


@pytest.fixture
def lab() -> Iterator[Lab]:
    running = Lab()
    yield running
    running.close()


def wait_for(check: Callable[[], bool], within: float) -> float:
    """Seconds until `check` holds; fails past `within`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within, f"not within {within}s"
        time.sleep(0.1)
    return time.monotonic() - started


def ve_status(lab: Lab, vmid: int) -> str:
    return lab.ve.client.get(f"/nodes/pve1/qemu/{vmid}/status/current").json()["data"]["status"]


def ve_task_done(lab: Lab, upid: str) -> bool:
    return lab.ve.client.get(f"/nodes/pve1/tasks/{upid}/status").json()["data"]["status"] == "stopped"


def test_a_vm_started_on_the_ve_shows_running_in_pdm_within_the_cache_lifetime(lab: Lab) -> None:
    upid = lab.ve.client.post("/nodes/pve1/qemu/100/status/stop").json()["data"]
    wait_for(lambda: ve_task_done(lab, upid), 10)
    assert ve_status(lab, 100) == "stopped"
    # PDM sees it once its kept answer is older than the lifetime (max-age=0 asks at once)
    assert lab.pdm_guest(100, **{"max-age": 0})["status"] == "stopped"
    assert lab.pdm_guest(100)["status"] == "stopped"  # and keeps that answer for a while

    upid = lab.ve.client.post("/nodes/pve1/qemu/100/status/start").json()["data"]
    wait_for(lambda: ve_task_done(lab, upid), 10)
    took = wait_for(lambda: lab.pdm_guest(100)["status"] == "running", CACHE + 2)
    assert took <= CACHE + 1
    # the per-remote views agree with the VE's own
    guests = {g["vmid"]: g for g in lab.pdm.client.get("/pve/remotes/lab-pve/qemu").json()["data"]}
    assert guests[100]["status"] == "running" and guests[101]["name"] == "db-01"
    status = lab.pdm.client.get("/pve/remotes/lab-pve/qemu/100/status").json()["data"]
    assert status["status"] == "running" and status["name"] == "web-01"
    config = lab.pdm.client.get("/pve/remotes/lab-pve/qemu/101/config", params={"state": "active"}).json()["data"]
    assert config["memory"] in (16384, "16384") and config["scsi0"].startswith("local-lvm:vm-101-disk-0")


def test_a_vm_stopped_through_pdm_is_stopped_on_the_ve(lab: Lab) -> None:
    answer = lab.pdm.client.post("/pve/remotes/lab-pve/qemu/101/stop")
    assert answer.status_code == 200, answer.text
    remote_upid = answer.json()["data"]
    assert remote_upid.startswith("lab-pve!UPID:pve1:") and ":qmstop:101:" in remote_upid
    upid = remote_upid.split("!", 1)[1]
    # the task is the VE's own: PDM follows it there
    wait_for(
        lambda: (
            lab.pdm.client.get(f"/pve/remotes/lab-pve/tasks/{remote_upid}/status").json()["data"]["status"] == "stopped"
        ),
        10,
    )
    assert ve_task_done(lab, upid)
    assert ve_status(lab, 101) == "stopped"
    log = lab.pdm.client.get(f"/pve/remotes/lab-pve/tasks/{remote_upid}/log").json()
    assert log["data"] and log["total"] == len(log["data"]) and log["data"][-1]["t"] == "TASK OK"
    assert upid in [t["upid"] for t in lab.pdm.client.get("/pve/remotes/lab-pve/tasks").json()["data"]]
    # other worker operations go to the same place on the remote
    answer = lab.pdm.client.post("/pve/remotes/lab-pve/qemu/101/snapshot", data={"snapname": "before"})
    assert answer.status_code == 200 and ":qmsnapshot:101:" in answer.json()["data"], answer.text
    snap = answer.json()["data"].split("!", 1)[1]
    wait_for(lambda: ve_task_done(lab, snap), 10)
    snapshots = lab.ve.client.get("/nodes/pve1/qemu/101/snapshot").json()["data"]
    assert "before" in [s["name"] for s in snapshots]
    # a migration (a boolean goes to PVE as 1/0) moves the guest on the VE; PDM forgot what it
    # kept of the remote when it forwarded it, so its list shows the move at once
    answer = lab.pdm.client.post("/pve/remotes/lab-pve/qemu/101/migrate", data={"target": "pve2", "online": "0"})
    assert answer.status_code == 200 and ":qmigrate:101:" in answer.json()["data"], answer.text
    moved = answer.json()["data"].split("!", 1)[1]
    wait_for(lambda: ve_task_done(lab, moved), 15)
    assert 101 in [g["vmid"] for g in lab.ve.client.get("/nodes/pve2/qemu").json()["data"]]
    assert lab.pdm_guest(101)["node"] == "pve2"
    assert lab.pdm_guest(101)["status"] == "stopped"
    # a guest the VE does not have is PDM's own error
    missing = lab.pdm.client.post("/pve/remotes/lab-pve/qemu/999/start")
    assert missing.status_code == 500 and wire.pdm_guest_missing("lab-pve", 999) in missing.text


def ve_asked(lab: Lab, path: str) -> int:
    """How many times the VE was asked `path` (its control API's journal)."""
    journal = lab.ve.client.get(f"{lab.ve.url}/_scenariod/journal", params={"path": path})
    return journal.json()["count"]


def test_answers_are_kept_for_the_cache_lifetime_and_asked_once(lab: Lab) -> None:
    before = ve_asked(lab, "/cluster/resources")
    with ThreadPoolExecutor(8) as pool:  # side by side, on a cold cache: one request to the VE
        listings = list(pool.map(lambda _: lab.pdm_client().get("/resources/list").status_code, range(8)))
    assert listings == [200] * 8
    for _ in range(5):
        lab.listing()
        lab.pdm.client.get("/pve/remotes/lab-pve/resources")
    assert ve_asked(lab, "/cluster/resources") == before + 1
    time.sleep(CACHE + 0.2)  # past the lifetime the VE is asked again
    lab.listing()
    assert ve_asked(lab, "/cluster/resources") == before + 2
    version = lab.pdm.client.get("/remotes/remote/lab-pve/version").json()["data"]
    assert version == lab.ve.client.get("/version").json()["data"]


def test_the_other_views_of_a_live_remote_are_its_own_answers(lab: Lab) -> None:
    pdm, ve = lab.pdm.client, lab.ve.client
    for pdm_path, ve_path in (
        ("/pve/remotes/lab-pve/nodes", "/nodes"),
        ("/pve/remotes/lab-pve/nodes/pve2/network", "/nodes/pve2/network"),
        ("/pve/remotes/lab-pve/nodes/pve1/storage", "/nodes/pve1/storage"),
        ("/pve/remotes/lab-pve/lxc/200/snapshot", "/nodes/pve2/lxc/200/snapshot"),  # on the node it runs on
        ("/pve/remotes/lab-pve/options", "/cluster/options"),
    ):
        mine, theirs = pdm.get(pdm_path), ve.get(ve_path)
        assert mine.status_code == theirs.status_code == 200, (pdm_path, mine.text)
        assert mine.json()["data"] == theirs.json()["data"], pdm_path
    assert [n["node"] for n in pdm.get("/pve/remotes/lab-pve/nodes").json()["data"]] == ["pve1", "pve2"]


def test_the_pbs_remote_answers_from_the_pbs(lab: Lab) -> None:
    stores = lab.pdm.client.get("/pbs/remotes/lab-pbs/datastore").json()["data"]
    assert [s["name"] for s in stores] == ["store1"]
    snaps = lab.pdm.client.get("/pbs/remotes/lab-pbs/datastore/store1/snapshots").json()["data"]
    assert {(s["backup-type"], s["backup-id"]) for s in snaps} == {("vm", "100"), ("vm", "101"), ("ct", "200")}
    entries = lab.listing()["lab-pbs"]["resources"]
    assert [e["type"] for e in entries] == ["pbs-node", "pbs-datastore"]
    assert entries[1]["name"] == "store1" and entries[1]["maxdisk"] == 2199023255552
    assert lab.pdm.client.get("/pbs/remotes/lab-pbs/status").json()["data"]["memory"]["total"] > 0


FAULTS = {
    "595": '  - when: "/**"\n    error: {status: 595, message: "no route to host"}\n',
    "hang": '  - when: "/**"\n    hang: true\n',
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_fault_on_the_ve_shows_as_an_unreachable_remote_without_stalling_the_others(
    lab: Lab, fault: str, tmp_path: Path
) -> None:
    broken = tmp_path / "pve.yaml"
    broken.write_text((LAB / "pve.yaml").read_text() + "\nfaults:\n" + FAULTS[fault])
    assert lab.ve.call(lambda: lab.ve.service.reload(broken))

    started = time.monotonic()
    listing = lab.listing(**{"max-age": 0})
    took = time.monotonic() - started
    expected = wire.PDM_REMOTE_TIMED_OUT if fault == "hang" else wire.pdm_remote_api_error(595, wire.NO_ROUTE_TO_HOST)
    assert listing["lab-pve"] == {"remote": "lab-pve", "error": expected}
    assert [e["type"] for e in listing["lab-pbs"]["resources"]] == ["pbs-node", "pbs-datastore"]
    assert took < TIMEOUT + 1.5
    status = lab.pdm.client.get("/resources/status").json()["data"]
    assert status["failed_remotes"] == 1 and status["remotes"] == 1
    assert status["failed_remotes_list"] == [{"name": "lab-pve", "error": expected, "remote_type": "pve"}]
    # the per-remote view answers as PDM does: 400 with the error
    guests = lab.pdm.client.get("/pve/remotes/lab-pve/qemu")
    assert guests.status_code == 400 and expected in guests.json()["message"]

    if fault == "hang":  # while PDM waits on the hung VE, the PBS remote answers at once
        waited: dict[str, float] = {}

        def ask_ve() -> None:
            with lab.pdm_client() as pdm:
                t0 = time.monotonic()
                pdm.get("/pve/remotes/lab-pve/cluster-status")
                waited["ve"] = time.monotonic() - t0

        thread = threading.Thread(target=ask_ve)
        thread.start()
        time.sleep(0.3)
        with lab.pdm_client() as pdm:
            t0 = time.monotonic()
            assert pdm.get("/pbs/remotes/lab-pbs/datastore").status_code == 200
            fast = time.monotonic() - t0
        thread.join(TIMEOUT + 5)
        assert fast < 1.0 and waited["ve"] >= TIMEOUT - 0.5


def test_a_remote_answer_pdm_cannot_read_marks_the_remote(lab: Lab, tmp_path: Path) -> None:
    odd = tmp_path / "pve.yaml"
    odd.write_text(
        (LAB / "pve.yaml").read_text()
        + "\nroutes:\n  - when: GET /cluster/resources\n    respond: {data: [{type: qemu}]}\n"
    )
    assert lab.ve.call(lambda: lab.ve.service.reload(odd))
    error = lab.listing(**{"max-age": 0})["lab-pve"]["error"]
    assert error.startswith(wire.pdm_bad_api("")) and "vmid" in error


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pdm_words_connection_tls_and_token_errors_as_pdm(lab: Lab) -> None:
    ve = f"hostname=127.0.0.1:{lab.ve.service.port}"
    cases = [
        (f"hostname=127.0.0.1:{closed_port()}", {}, "Connection refused (os error 111)"),
        (f"{ve},fingerprint=" + ":".join(["ab"] * 32), {}, wire.TLS_VERIFY_FAILED),
        (ve, {"token": "not-the-secret"}, wire.pdm_remote_api_error(401, "authentication failure")),
    ]
    for nodes, changes, cause in cases:
        lab.point("lab-pve", nodes, **changes)
        assert lab.listing()["lab-pve"] == {"remote": "lab-pve", "error": cause}, nodes
        answer = lab.pdm.client.get("/pve/remotes/lab-pve/resources")
        assert answer.status_code == 400 and cause in answer.json()["message"]
    # the right pin: the VE's certificate's own SHA-256
    served = ssl.get_server_certificate(("127.0.0.1", lab.ve.service.port))
    fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(served)).hexdigest()
    lab.point("lab-pve", f"{ve},fingerprint={fingerprint}", token="6f0c2d8e-3b5a-4e71-9c4d-8a2b1e0f7d36")
    assert lab.listing()["lab-pve"]["resources"]


def test_remotes_with_example_hostnames_keep_their_declared_state() -> None:
    running, stop = start_service(SCENARIOS / "pdm.yaml")
    try:
        running.login()
        listing = running.client.get("/resources/list").json()["data"]
        assert listing and all("error" not in e and e.get("resources") for e in listing)
    finally:
        stop()


def test_live_false_keeps_a_loopback_remote_declared(tmp_path: Path) -> None:
    path = tmp_path / "pdm.yaml"
    path.write_text(
        f"""scenariod: 1
name: declared
service: pdm
auth: {{users: [{{userid: root@pam, password: secret}}]}}
state:
  /remotes/remote:
    - {{id: here, type: pve, nodes: ["hostname=127.0.0.1:{closed_port()}"], live: false}}
    - {{id: there, type: pve, nodes: ["hostname=127.0.0.1:{closed_port()}"]}}
  /pve/remotes/here/resources:
    - {{type: qemu, vmid: 100, node: n1, name: kept, status: running}}
"""
    )
    running, stop = start_service(path)
    try:
        running.login()
        listing = {e["remote"]: e for e in running.client.get("/resources/list").json()["data"]}
        assert [r["name"] for r in listing["here"]["resources"] if r["type"] == "pve-qemu"] == ["kept"]
        assert listing["there"] == {"remote": "there", "error": "Connection refused (os error 111)"}
        shown = running.client.get("/remotes/remote/here/config").json()["data"]
        assert "live" not in shown  # a scenario key, never part of PDM's answer
    finally:
        stop()


def pdm_tasks(lab: Lab, **params: Any) -> list[dict[str, Any]]:
    answer = lab.pdm.client.get("/remotes/tasks/list", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def test_a_task_started_on_the_ve_shows_in_pdms_task_list_with_its_remote(lab: Lab) -> None:
    upid = lab.ve.client.post("/nodes/pve1/qemu/100/status/stop").json()["data"]
    took = wait_for(lambda: f"lab-pve!{upid}" in [t["upid"] for t in pdm_tasks(lab, limit=0)], CACHE + 2)
    assert took <= CACHE + 1
    wait_for(lambda: ve_task_done(lab, upid), 10)
    # once done, PDM shows it finished (after its kept answer expires), read off the UPID as PDM does
    wait_for(lambda: pdm_tasks(lab, typefilter="qmstop")[0].get("status") == "OK", CACHE + 2)
    entry = pdm_tasks(lab, typefilter="qmstop")[0]
    ve_entry = next(t for t in lab.ve.client.get("/nodes/pve1/tasks").json()["data"] if t["upid"] == upid)
    assert entry == {
        "upid": f"lab-pve!{upid}",
        "node": "pve1",
        "pid": ve_entry["pid"],
        "pstart": ve_entry["pstart"],
        "starttime": ve_entry["starttime"],
        "worker_type": "qmstop",
        "user": ve_entry["user"],
        "endtime": ve_entry["endtime"],
        "status": "OK",
    }
    # a task PDM starts on the remote is there at once (PDM forgot its kept answers)
    started = lab.pdm.client.post("/pve/remotes/lab-pve/qemu/101/stop").json()["data"]
    listed = pdm_tasks(lab)
    assert listed[0]["upid"] == started and listed[0]["worker_type"] == "qmstop"
    starts = [t["starttime"] for t in listed]
    assert starts == sorted(starts, reverse=True)  # newest first
    # PDM's filters
    assert {t["upid"].partition("!")[0] for t in pdm_tasks(lab, limit=0)} <= {"lab-pve", "lab-pbs"}
    assert pdm_tasks(lab, remote="lab-pbs", typefilter="qm") == []
    assert all(t["upid"].startswith("lab-pve!") for t in pdm_tasks(lab, remote="lab-pve"))
    assert pdm_tasks(lab, since=int(time.time()) + 3600) == []
    assert len(pdm_tasks(lab, limit=1)) == 1
    wait_for(lambda: ve_task_done(lab, started.split("!", 1)[1]), 10)

    def counted() -> bool:
        stats = lab.pdm.client.get("/remotes/tasks/statistics", params={"limit": 0}).json()["data"]
        return stats["by-remote"].get("lab-pve", {}).get("ok", 0) >= 2 and stats["by-type"]["qmstop"]["ok"] >= 2

    wait_for(counted, CACHE + 2)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_faulty_ve_leaves_pdms_task_list_to_the_others(lab: Lab, fault: str, tmp_path: Path) -> None:
    before = {t["upid"] for t in pdm_tasks(lab, remote="lab-pbs", limit=0)}
    lab.pbs.login()
    pbs_upid = lab.pbs.client.post("/nodes/localhost/apt/update").json()["data"]
    broken = tmp_path / "pve.yaml"
    broken.write_text((LAB / "pve.yaml").read_text() + "\nfaults:\n" + FAULTS[fault])
    assert lab.ve.call(lambda: lab.ve.service.reload(broken))
    time.sleep(CACHE + 0.2)  # PDM's kept answers of the VE are gone

    started = time.monotonic()
    listed = pdm_tasks(lab, limit=0)
    assert time.monotonic() - started < TIMEOUT + 1.5
    assert f"lab-pbs!{pbs_upid}" in {t["upid"] for t in listed} - before
    assert not any(t["upid"].startswith("lab-pve!") for t in listed)  # PDM logs the failure, lists the rest
    started = time.monotonic()  # the failure is kept: the next list does not wait again
    pdm_tasks(lab, limit=0)
    assert time.monotonic() - started < 1.0


# --- remote migration between live clusters -------------------------------------------------------------

DC2_TOKEN = "PVEAPIToken=root@pam!migrate=0d5e1c3a-7b2f-4e8d-9a61-c4f0b8e2d713"
DC2 = """scenariod: 1
name: dc2
service: pve
seed: 7
time_scale: 0.2
auth:
  users: [{userid: root@pam, password: secret}]
  tokens: [{tokenid: "root@pam!migrate", secret: "0d5e1c3a-7b2f-4e8d-9a61-c4f0b8e2d713"}]
state:
  /nodes:
    - {node: dc2-a, status: online, maxcpu: 8, maxmem: 34359738368}
    - {node: dc2-b, status: online, maxcpu: 8, maxmem: 34359738368}
  /storage:
    - {storage: tank, type: zfspool, pool: tank, content: "images,rootdir"}
  /nodes/dc2-b/qemu:
    - {vmid: 300, name: taken, status: stopped}
  /nodes/dc2-b/qemu/300/config: {name: taken, memory: 1024}
"""


@pytest.fixture
def dc2(tmp_path: Path) -> Iterator[Running]:
    path = tmp_path / "dc2.yaml"
    path.write_text(DC2)
    running, stop = start_service(path, tls=True)
    running.client.headers["Authorization"] = DC2_TOKEN
    yield running
    stop()


def dc2_endpoint(dc2: Running, **changes: str) -> str:
    fields = {"host": "127.0.0.1", "port": str(dc2.service.port), "apitoken": DC2_TOKEN, **changes}
    return ",".join(f"{k}={v}" for k, v in fields.items() if v)


def ve_task(lab: Lab, upid: str) -> tuple[dict[str, Any], list[str]]:
    wait_for(lambda: ve_task_done(lab, upid), 15)
    status = lab.ve.client.get(f"/nodes/pve1/tasks/{upid}/status").json()["data"]
    log = lab.ve.client.get(f"/nodes/pve1/tasks/{upid}/log", params={"limit": 0}).json()["data"]
    return status, [line["t"] for line in log]


def test_pdm_remote_migrate_moves_a_vm_to_the_other_live_cluster(lab: Lab, dc2: Running) -> None:
    answer = lab.pdm.client.post(
        "/remotes/remote",
        data={
            "id": "dc2",
            "type": "pve",
            "nodes": f"hostname=127.0.0.1:{dc2.service.port}",
            "authid": "root@pam!migrate",
            "token": DC2_TOKEN.rsplit("=", 1)[1],
        },
    )
    assert answer.status_code == 200, answer.text
    answer = lab.pdm.client.post(
        "/pve/remotes/lab-pve/qemu/101/remote-migrate",
        data={
            "target": "dc2",
            "target-vmid": 301,
            "target-storage": "tank",
            "target-bridge": "vmbr0:vmbr0",
            "online": 1,
            "delete": 1,
        },
    )
    assert answer.status_code == 200, answer.text
    remote_upid = answer.json()["data"]
    assert remote_upid.startswith("lab-pve!UPID:pve1:") and ":qmigrate:101:" in remote_upid
    status, log = ve_task(lab, remote_upid.split("!", 1)[1])
    assert status["exitstatus"] == "OK", log
    assert any("starting migration of VM 101 to node 'dc2-a' (127.0.0.1)" in line for line in log)
    assert any("volume 'local-lvm:vm-101-disk-0' is 'tank:vm-301-disk-0' on the target" in line for line in log)
    assert any("starting VM 301 on remote node 'dc2-a'" in line for line in log)
    assert "migration finished successfully" in log[-2] and log[-1] == "TASK OK"
    # the VM is on the target: its config (disk renamed onto the mapped storage, same MAC), running
    config = dc2.client.get("/nodes/dc2-a/qemu/301/config").json()["data"]
    assert config["name"] == "db-01" and config["memory"] in (16384, "16384")
    assert config["scsi0"].startswith("tank:vm-301-disk-0,") and "size=100G" in config["scsi0"]
    assert config["net0"] == "virtio=BC:24:11:AA:01:01,bridge=vmbr0"
    resources = dc2.client.get("/cluster/resources", params={"type": "vm"}).json()["data"]
    moved = next(r for r in resources if r["vmid"] == 301)
    assert moved["node"] == "dc2-a" and moved["status"] == "running" and moved["name"] == "db-01"
    volumes = dc2.client.get("/nodes/dc2-a/storage/tank/content").json()["data"]
    assert "tank:vm-301-disk-0" in [v["volid"] for v in volumes]
    # and no longer on the source (delete=1), in PDM's views too
    assert 101 not in [g["vmid"] for g in lab.ve.client.get("/nodes/pve1/qemu").json()["data"]]
    listing = lab.listing(**{"max-age": 0})
    assert 101 not in [r.get("vmid") for r in listing["lab-pve"]["resources"]]
    assert 301 in [r.get("vmid") for r in listing["dc2"]["resources"]]
    # a migration within one remote is refused as PDM refuses it
    same = lab.pdm.client.post(
        "/pve/remotes/lab-pve/qemu/100/remote-migrate",
        data={"target": "lab-pve", "target-storage": "local-lvm", "target-bridge": "vmbr0"},
    )
    assert same.status_code == 400 and wire.PDM_MIGRATE_SAME_CLUSTER in same.text


def test_remote_migrate_without_delete_keeps_the_source_stopped_and_locked(lab: Lab, dc2: Running) -> None:
    served = ssl.get_server_certificate(("127.0.0.1", dc2.service.port))
    pin = hashlib.sha256(ssl.PEM_cert_to_DER_cert(served)).hexdigest()
    pin = ":".join(pin[i : i + 2] for i in range(0, len(pin), 2))
    answer = lab.ve.client.post(
        "/nodes/pve1/qemu/100/remote_migrate",
        data={
            "target-endpoint": dc2_endpoint(dc2, fingerprint=pin),
            "target-storage": "local-lvm:tank",
            "target-bridge": "vmbr9",
            "online": 1,
        },
    )
    assert answer.status_code == 200, answer.text
    status, log = ve_task(lab, answer.json()["data"])
    assert status["exitstatus"] == "OK", log
    assert any("mapped: net0 from vmbr0 to vmbr9" in line for line in log)
    assert dc2.client.get("/nodes/dc2-a/qemu/100/config").json()["data"]["net0"].endswith("bridge=vmbr9")
    source = lab.ve.client.get("/nodes/pve1/qemu/100/config").json()["data"]
    assert source["lock"] == "migrate" and source["scsi0"].startswith("local-lvm:vm-100-disk-0")
    assert ve_status(lab, 100) == "stopped"
    # locked: another migration is refused at once
    again = lab.ve.client.post(
        "/nodes/pve1/qemu/100/remote_migrate",
        data={"target-endpoint": dc2_endpoint(dc2), "target-storage": "tank", "target-bridge": "vmbr0"},
    )
    assert again.status_code == 500 and wire.guest_locked("qemu", 100, "migrate") in again.text


def closed_endpoint(dc2: Running) -> str:
    return dc2_endpoint(dc2, port=str(closed_port()))


@pytest.mark.parametrize(
    ("endpoint", "status", "message"),
    [
        (closed_endpoint, 500, "Can't connect to 127.0.0.1:{port} (Connection refused)"),
        (lambda dc2: dc2_endpoint(dc2, apitoken="PVEAPIToken=root@pam!migrate=wrong"), 401, "authentication failure"),
        (lambda dc2: dc2_endpoint(dc2, fingerprint=":".join(["ab"] * 32)), 500, "fingerprint '"),
    ],
)
def test_remote_migrate_to_a_target_it_cannot_use_fails_the_call(
    lab: Lab, dc2: Running, endpoint: Callable[[Running], str], status: int, message: str
) -> None:
    target = endpoint(dc2)
    answer = lab.ve.client.post(
        "/nodes/pve1/qemu/101/remote_migrate",
        data={"target-endpoint": target, "target-storage": "tank", "target-bridge": "vmbr0", "online": 1},
    )
    port = dict(p.split("=", 1) for p in target.split(","))["port"]
    assert answer.status_code == status and message.format(port=port) in answer.json()["message"], answer.text
    assert "lock" not in lab.ve.client.get("/nodes/pve1/qemu/101/config").json()["data"]


def test_remote_migrate_onto_a_taken_vmid_aborts_the_task(lab: Lab, dc2: Running) -> None:
    refused = lab.ve.client.post(
        "/nodes/pve1/qemu/101/remote_migrate",
        data={"target-endpoint": dc2_endpoint(dc2), "target-storage": "1", "target-bridge": "1", "online": 1},
    )
    assert refused.status_code == 500 and wire.REMOTE_MIGRATE_NEEDS_STORAGE_MAP in refused.text
    stopped = lab.ve.client.post(
        "/nodes/pve1/qemu/101/remote_migrate",
        data={"target-endpoint": dc2_endpoint(dc2), "target-storage": "tank", "target-bridge": "vmbr0"},
    )
    assert stopped.status_code == 500 and wire.QEMU_ONLINE_MIGRATION_NEEDED in stopped.text
    answer = lab.ve.client.post(
        "/nodes/pve1/qemu/101/remote_migrate",
        data={
            "target-endpoint": dc2_endpoint(dc2),
            "target-storage": "tank",
            "target-bridge": "vmbr0",
            "target-vmid": 300,
            "online": 1,
            "delete": 1,
        },
    )
    assert answer.status_code == 200, answer.text
    status, log = ve_task(lab, answer.json()["data"])
    assert status["exitstatus"] == wire.MIGRATION_ABORTED
    assert any("ERROR: migration aborted" in line and "300" in line for line in log), log
    assert log[-1] == f"TASK ERROR: {wire.MIGRATION_ABORTED}"
    # nothing changed: the VM still runs on the source, unlocked; the target's 300 is its own
    assert "lock" not in lab.ve.client.get("/nodes/pve1/qemu/101/config").json()["data"]
    assert ve_status(lab, 101) == "running"
    assert dc2.client.get("/nodes/dc2-b/qemu/300/config").json()["data"]["name"] == "taken"
    # a container would need the target's mtunnel, which scenariod does not mock: said plainly
    container = lab.ve.client.post(
        "/nodes/pve2/lxc/200/remote_migrate",
        data={"target-endpoint": dc2_endpoint(dc2), "target-storage": "tank", "target-bridge": "vmbr0", "restart": 1},
    )
    assert container.status_code == 501 and wire.LXC_REMOTE_MIGRATE_UNSUPPORTED in container.text
