"""The lab set: VE, PBS and PDM from scenarios/lab/*.yaml served together, as
`scenariod run scenarios/lab/*.yaml` serves them, and agreeing with each other."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ROOT, SCENARIOS

from scenariod.scenario import check_files, load_scenario
from scenariod.server import Service

LAB = sorted((SCENARIOS / "lab").glob("*.yaml"))
PORTS = {"pve": 8006, "pbs": 8007, "pdm": 8443}


def ports_free(ports: list[int]) -> bool:
    for port in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


class Lab:
    """The three Services on one event loop (one process, three listeners), as the CLI runs them."""

    def __init__(self, declared_ports: bool) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.services: dict[str, Service] = {}
        self.declared_ports = declared_ports
        for path in LAB:
            scenario = load_scenario(path)
            self.services[scenario.service] = Service(
                scenario, host="127.0.0.1", port=None if declared_ports else 0, tls=True
            )
        try:
            for service in self.services.values():
                self.run(service.start())
        except BaseException:
            self.close()
            raise
        if not declared_ports:
            self.point_pdm_at_services()

    def point_pdm_at_services(self) -> None:
        """On free ports, PDM's remotes are moved (through its API) to where the VE and PBS listen."""
        with self.client("pdm") as pdm:
            ticket = pdm.post("/access/ticket", data={"username": "root@pam", "password": "secret"}).json()["data"]
            pdm.cookies.set("PDMAuthCookie", ticket["ticket"])
            pdm.headers["CSRFPreventionToken"] = ticket["CSRFPreventionToken"]
            for rid, kind in (("lab-pve", "pve"), ("lab-pbs", "pbs")):
                answer = pdm.put(
                    f"/remotes/remote/{rid}", data={"nodes": f"hostname=127.0.0.1:{self.services[kind].port}"}
                )
                assert answer.status_code == 200, answer.text

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def client(self, service: str, **headers: str) -> httpx.Client:
        svc = self.services[service]
        return httpx.Client(
            base_url=f"{svc.url}/api2/json",
            headers=headers,
            timeout=10,
            verify=ssl.create_default_context(cafile=svc.ca_file),
        )

    def close(self) -> None:
        for service in self.services.values():
            try:
                self.run(service.stop())
            except Exception:  # noqa: BLE001 - a service that never started
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    # On their own ports when those are free (as `scenariod run` would); else on free ports.
    running = None
    if ports_free(list(PORTS.values())):
        try:
            running = Lab(declared_ports=True)
        except OSError:
            running = None
    running = running or Lab(declared_ports=False)
    yield running
    running.close()


def state(lab: Lab, service: str, path: str) -> Any:
    return lab.services[service].world.store.get(path)


def test_the_lab_files_are_valid_and_listen_on_their_services_ports() -> None:
    assert [p.name for p in LAB] == ["pbs.yaml", "pdm.yaml", "pve.yaml"]
    assert check_files(LAB) == []
    for path in LAB:
        scenario = load_scenario(path)
        assert scenario.listen.port == PORTS[scenario.service], path


def test_scenariod_run_serves_the_lab_from_one_command() -> None:
    """`scenariod run scenarios/lab/*.yaml`: one process, three listeners, then Ctrl-C.

    First in the file: the `lab` fixture below holds the same ports until the module ends.
    """
    if not ports_free(list(PORTS.values())):
        pytest.skip("ports 8006/8007/8443 are in use")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scenariod", "run", *map(str, LAB), "--no-tui"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        urls: dict[str, str] = {}
        output: list[str] = []
        deadline = time.monotonic() + 30
        while len(urls) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            output.append(line)
            if not line:
                if proc.poll() is not None:
                    break
                continue
            if " at https://" in line:
                name = line.split(": ", 1)[1].split(" ", 1)[0]
                urls[name] = line.split(" at ", 1)[1].split("/api2/json", 1)[0]
        if proc.poll() is not None and "in use" in "".join(output).lower():
            pytest.skip("another test took the lab's ports meanwhile")
        assert urls == {
            "lab-pve": "https://127.0.0.1:8006",
            "lab-pbs": "https://127.0.0.1:8007",
            "lab-pdm": "https://127.0.0.1:8443",
        }
        for name, url in urls.items():
            root = httpx.get(url + "/", verify=False).json()
            assert root["scenario"] == name
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_three_services_answer_on_their_ports(lab: Lab) -> None:
    ports = {name: svc.port for name, svc in lab.services.items()}
    assert len(set(ports.values())) == 3
    if lab.declared_ports:
        assert ports == PORTS
    for name, svc in lab.services.items():
        root = httpx.get(svc.url + "/", verify=ssl.create_default_context(cafile=svc.ca_file)).json()
        assert root["service"] == name and root["scenario"] == f"lab-{name}"


def test_ve_backup_storage_points_at_the_pbs(lab: Lab) -> None:
    storage = state(lab, "pve", "/storage/pbs-store1")
    assert storage["type"] == "pbs" and storage["server"] == "127.0.0.1" and storage["port"] == PORTS["pbs"]
    assert storage["fingerprint"] and storage["content"] == "backup"
    user, _, token_name = storage["username"].partition("!")
    with lab.client("pve", Authorization="PVEAPIToken=root@pam!pdm=6f0c2d8e-3b5a-4e71-9c4d-8a2b1e0f7d36") as ve:
        listed = {s["storage"]: s for s in ve.get("/storage").json()["data"]}
        assert listed["pbs-store1"]["datastore"] == "store1"
        guests = {g["vmid"]: g for g in ve.get("/cluster/resources", params={"type": "vm"}).json()["data"]}
    pbs_secret = lab.services["pbs"].world.secrets["tokens"][storage["username"]]
    with lab.client("pbs", Authorization=f"PBSAPIToken={storage['username']}:{pbs_secret}") as pbs:
        assert "store1" in [d["store"] for d in pbs.get("/admin/datastore").json()["data"]]
        # a token may not list its user's tokens (Sys.Audit on /access/users): the lab's Admin token may
        assert pbs.get(f"/access/users/{user}/token").status_code == 403
        groups = pbs.get("/admin/datastore/store1/groups").json()["data"]
    with lab.client("pbs", Authorization="PBSAPIToken=root@pam!pdm:c7e2a9f1-0b4d-4e8c-b3a6-5d1f8e2c9a70") as admin:
        tokens = admin.get(f"/access/users/{user}/token").json()["data"]
        assert [t["tokenid"] for t in tokens] == [storage["username"]] and tokens[0]["token-name"] == token_name
    # every VE guest has its backup group on the PBS
    assert {int(g["backup-id"]) for g in groups} == set(guests)
    assert {(g["backup-type"], int(g["backup-id"])) for g in groups} == {
        ("vm" if g["type"] == "qemu" else "ct", vmid) for vmid, g in guests.items()
    }


def test_pdm_remotes_point_at_the_ve_and_the_pbs(lab: Lab) -> None:
    with lab.client("pdm") as pdm:
        ticket = pdm.post("/access/ticket", data={"username": "root@pam", "password": "secret"}).json()["data"]
        pdm.cookies.set("PDMAuthCookie", ticket["ticket"])
        remotes = {r["id"]: r for r in pdm.get("/remotes/remote").json()["data"]}
        assert remotes["lab-pve"]["nodes"] == [f"hostname=127.0.0.1:{lab.services['pve'].port}"]
        assert remotes["lab-pbs"]["nodes"] == [f"hostname=127.0.0.1:{lab.services['pbs'].port}"]
        pdm_guests = {
            (r["vmid"], r["name"], r["node"])
            for r in pdm.get("/pve/remotes/lab-pve/resources", params={"kind": "vm"}).json()["data"]
        }
        pdm_stores = [s["name"] for s in pdm.get("/pbs/remotes/lab-pbs/datastore").json()["data"]]
        listing = {e["remote"]: e.get("resources", []) for e in pdm.get("/resources/list").json()["data"]}
        pdm_snaps = pdm.get("/pbs/remotes/lab-pbs/datastore/store1/snapshots").json()["data"]
    assert set(listing) == {"lab-pve", "lab-pbs"}
    assert all(listing.values())  # both remotes answered
    # The secrets PDM holds (never shown by its API) open the VE and the PBS it points at.
    secrets = {rid: state(lab, "pdm", f"/remotes/remote/{rid}") for rid in ("lab-pve", "lab-pbs")}
    ve_cfg, pbs_cfg = secrets["lab-pve"], secrets["lab-pbs"]
    with lab.client("pve", Authorization=f"PVEAPIToken={ve_cfg['authid']}={ve_cfg['token']}") as ve:
        ve_guests = {
            (g["vmid"], g["name"], g["node"])
            for g in ve.get("/cluster/resources", params={"type": "vm"}).json()["data"]
        }
    with lab.client("pbs", Authorization=f"PBSAPIToken={pbs_cfg['authid']}:{pbs_cfg['token']}") as pbs:
        pbs_stores = [d["store"] for d in pbs.get("/admin/datastore").json()["data"]]
        pbs_snaps = pbs.get("/admin/datastore/store1/snapshots").json()["data"]
    # What PDM says each remote has is what the remote itself answers.
    assert pdm_guests == ve_guests
    assert pdm_stores == pbs_stores
    key = lambda s: (s["backup-type"], s["backup-id"], s["backup-time"])  # noqa: E731
    assert sorted(map(key, pdm_snaps)) == sorted(map(key, pbs_snaps)) and pdm_snaps
