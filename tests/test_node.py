"""A freshly installed node, over real HTTP: what a node answers about itself when the scenario
seeds nothing of it, and that whatever the scenario seeds (or a client writes) wins."""

from __future__ import annotations

import hashlib
import ssl
import time
from pathlib import Path

import httpx
import pytest
from conftest import SCENARIOS, serving

from scenariod import wire

PLAIN = """
scenariod: 1
name: fresh
auth: {mode: none}
seed: 5
state:
  /nodes:
    - {node: pve1, status: online}
    - {node: pve2, status: online}
"""


def test_network_has_the_nics_and_the_bridge(serve):
    s = serve(PLAIN)
    for name, host in (("pve1", 10), ("pve2", 11)):
        net = {i["iface"]: i for i in s.client.get(f"/nodes/{name}/network").json()["data"]}
        assert set(net) == {"eno1", "eno2", "vmbr0"}
        bridge = net["vmbr0"]
        assert bridge["type"] == "bridge" and bridge["bridge_ports"] == "eno1"
        assert bridge["active"] == 1 and bridge["autostart"] == 1 and bridge["method"] == "static"
        assert bridge["cidr"] == f"192.0.2.{host}/24" and bridge["address"] == f"192.0.2.{host}"
        assert bridge["gateway"] == "192.0.2.1"
        assert net["eno1"]["type"] == "eth"
        assert s.client.get(f"/nodes/{name}/network/vmbr0").json()["data"] == bridge
        assert s.client.get(f"/nodes/{name}/network", params={"type": "bridge"}).json()["data"] == [bridge]
    # The address agrees with what /cluster/status says of the node.
    status = {e["name"]: e for e in s.client.get("/cluster/status").json()["data"] if e["type"] == "node"}
    assert status["pve2"]["ip"] == "192.0.2.11"


def test_disks_subscription_services_and_packages(serve):
    s = serve(PLAIN)
    disks = s.client.get("/nodes/pve1/disks/list").json()["data"]
    assert [d["devpath"] for d in disks] == ["/dev/sda", "/dev/sdb", "/dev/nvme0n1"]
    assert all(d["health"] == "PASSED" and d["size"] > 10**11 and d["serial"] for d in disks)
    assert disks[0]["serial"] != s.client.get("/nodes/pve2/disks/list").json()["data"][0]["serial"]

    sub = s.client.get("/nodes/pve1/subscription").json()["data"]
    assert sub["status"] == "notfound" and "nextduedate" not in sub and len(sub["serverid"]) == 32

    services = {x["service"]: x for x in s.client.get("/nodes/pve1/services").json()["data"]}
    assert {"pveproxy", "pvedaemon", "corosync", "pve-cluster"} <= set(services)
    assert services["pveproxy"]["state"] == "running" and services["pveproxy"]["active-state"] == "active"
    assert s.client.get("/nodes/pve1/services/pvedaemon/state").json()["data"]["desc"] == "PVE API Daemon"

    versions = {p["Package"]: p for p in s.client.get("/nodes/pve1/apt/versions").json()["data"]}
    assert versions["pve-manager"]["Version"] == versions["pve-manager"]["ManagerVersion"]
    assert all(u["OldVersion"] != u["Version"] for u in s.client.get("/nodes/pve1/apt/update").json()["data"])
    repos = s.client.get("/nodes/pve1/apt/repositories").json()["data"]
    assert repos["files"][0]["repositories"][1]["Components"] == ["pve-no-subscription"]

    assert any(d["id"] == "0000:00:1f.6" for d in s.client.get("/nodes/pve1/hardware/pci").json()["data"])
    assert s.client.get("/nodes/pve1/hardware/usb").json()["data"][0]["vendid"] == "1d6b"
    cpus = [c["name"] for c in s.client.get("/nodes/pve1/capabilities/qemu/cpu").json()["data"]]
    assert {"host", "x86-64-v2-AES", "EPYC-Milan"} <= set(cpus)
    machines = s.client.get("/nodes/pve1/capabilities/qemu/machines").json()["data"]
    assert {"id": "pc-q35-10.0", "type": "q35", "version": "10.0"} in machines
    assert "pve1.example.com pve1" in s.client.get("/nodes/pve1/hosts").json()["data"]["data"]
    assert "pve-manager: 9.2.0" in s.client.get("/nodes/pve1/report").json()["data"]


def test_aplinfo_lists_real_appliance_templates(serve):
    s = serve(PLAIN)
    apps = {a["package"]: a for a in s.client.get("/nodes/pve1/aplinfo").json()["data"]}
    assert {"debian-12-standard", "ubuntu-24.04-standard", "alpine-3.22-default"} <= set(apps)
    deb = apps["debian-12-standard"]
    assert deb["type"] == "lxc" and deb["os"] == "debian-12" and deb["section"] == "system"
    assert deb["template"] == f"debian-12-standard_{deb['version']}_amd64.tar.zst"
    assert deb["location"].startswith("http://download.proxmox.com/images/system/")
    assert len(deb["sha512sum"]) == 128 and deb["headline"] and deb["infopage"].startswith("https://")


def test_seeded_state_and_writes_win_over_the_defaults(serve):
    s = serve(
        PLAIN
        + """
  /nodes/pve1/subscription: {status: active, level: c, key: pve4c-0123456789, nextduedate: "2027-01-31"}
  /nodes/pve1/network:
    - {iface: bond0, type: bond, slaves: "eno1 eno2", active: 1}
"""
    )
    sub = s.client.get("/nodes/pve1/subscription").json()["data"]
    assert sub["status"] == "active" and sub["nextduedate"] == "2027-01-31"
    assert [i["iface"] for i in s.client.get("/nodes/pve1/network").json()["data"]] == ["bond0"]
    # The other node keeps its defaults.
    assert "vmbr0" in [i["iface"] for i in s.client.get("/nodes/pve2/network").json()["data"]]
    s.client.put("/nodes/pve1/dns", data={"search": "example.org", "dns1": "192.0.2.53"})
    dns = s.client.get("/nodes/pve1/dns").json()["data"]
    assert dns["search"] == "example.org" and dns["dns2"] == "1.1.1.1"


def test_time_rrddata_and_logs_move_with_the_clock(serve):
    s = serve(PLAIN)
    now = time.time()
    t = s.client.get("/nodes/pve1/time").json()["data"]
    assert abs(t["time"] - now) < 5 and t["timezone"] == "Europe/Vienna"
    assert t["localtime"] - t["time"] in (3600, 7200)  # CET or CEST
    s.client.put("/nodes/pve1/time", data={"timezone": "UTC"})
    t = s.client.get("/nodes/pve1/time").json()["data"]
    assert t["timezone"] == "UTC" and t["localtime"] == t["time"]

    hour = s.client.get("/nodes/pve1/rrddata", params={"timeframe": "hour", "cf": "AVERAGE"}).json()["data"]
    assert len(hour) == 70 and now - 120 < hour[-1]["time"] <= now
    assert all(b["time"] - a["time"] == 60 for a, b in zip(hour, hour[1:], strict=False))
    assert len({p["cpu"] for p in hour}) > 10 and all(0 <= p["cpu"] < 1 for p in hour)
    day = s.client.get("/nodes/pve1/rrddata", params={"timeframe": "day", "cf": "AVERAGE"}).json()["data"]
    assert day[-1]["time"] - day[-2]["time"] == 1800
    # Moving the world's clock moves the series: the newest point is an hour later.
    assert httpx.post(f"{s.url}/_scenariod/clock", json={"advance": "1h"}).status_code == 200
    later = s.client.get("/nodes/pve1/rrddata", params={"timeframe": "hour", "cf": "AVERAGE"}).json()["data"]
    assert later[-1]["time"] - hour[-1]["time"] in (3540, 3600, 3660)

    # Guests and storages keep archives too: a running guest is busy, a stopped one idle.
    guest = serve(
        PLAIN + "  /nodes/pve1/qemu:\n    - {vmid: 100, name: web-01, status: running}\n"
        "    - {vmid: 101, name: db-01, status: stopped}\n"
    )
    running = guest.client.get("/nodes/pve1/qemu/100/rrddata", params={"timeframe": "hour"}).json()["data"]
    stopped = guest.client.get("/nodes/pve1/qemu/101/rrddata", params={"timeframe": "hour"}).json()["data"]
    assert len(running) == 70 and any(p["cpu"] > 0 for p in running) and all(p["mem"] > 0 for p in running)
    assert all(p["cpu"] == 0 and p["mem"] == 0 for p in stopped) and stopped[-1]["maxmem"] > 0
    disk = guest.client.get("/nodes/pve1/storage/local/rrddata", params={"timeframe": "hour"}).json()["data"]
    assert disk[-1]["total"] > disk[-1]["used"] > 0

    log = s.client.get("/nodes/pve1/syslog", params={"limit": 5}).json()["data"]
    assert [x["n"] for x in log] == [1, 2, 3, 4, 5] and all(" pve1 " in x["t"] for x in log)
    assert len(s.client.get("/nodes/pve1/journal", params={"lastentries": 7}).json()["data"]) == 7


def test_ceph_refuses_until_seeded_and_ha_names_only_real_nodes(serve):
    s = serve(PLAIN)
    for path in ("/nodes/pve1/ceph/status", "/nodes/pve1/ceph/osd", "/cluster/ceph/status"):
        r = s.client.get(path)
        assert r.status_code == 500 and r.json()["message"] == wire.CEPH_NOT_INSTALLED + "\n"
    assert s.client.get("/nodes/pve1/ceph").status_code == 200  # the index answers on any node
    assert s.client.get("/cluster/ha/resources").json()["data"] == []
    assert s.client.get("/cluster/sdn/vnets").json()["data"] == []
    assert s.client.get("/cluster/replication").json()["data"] == []
    ha = s.client.get("/cluster/ha/status/current").json()["data"]
    assert ha == [{"id": "quorum", "type": "quorum", "node": "pve1", "status": "OK", "quorate": 1}]

    seeded = serve(
        PLAIN
        + """
  /nodes/pve1/ceph/status: {health: {status: HEALTH_OK}}
  /nodes/pve1/qemu:
    - {vmid: 100, name: web-01, status: running}
  /cluster/ha/resources:
    - {sid: "vm:100", state: started}
"""
    )
    assert seeded.client.get("/nodes/pve1/ceph/status").json()["data"]["health"]["status"] == "HEALTH_OK"
    ha = seeded.client.get("/cluster/ha/status/current").json()["data"]
    assert {e["node"] for e in ha} == {"pve1", "pve2"}
    lrm = {e["node"]: e["status"] for e in ha if e["type"] == "lrm"}
    assert lrm["pve1"].startswith("pve1 (active, ") and lrm["pve2"].startswith("pve2 (idle, ")
    service = next(e for e in ha if e["type"] == "service")
    assert service["sid"] == "vm:100" and service["node"] == "pve1" and service["state"] == "started"


def test_certificate_info_is_the_certificate_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path))
    for running in serving(SCENARIOS / "showcase.yaml", tls=True, login=True):
        served = ssl.get_server_certificate(("127.0.0.1", running.service.port))
        fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(served)).hexdigest().upper()
        info = running.client.get("/nodes/pve1/certificates/info").json()["data"]
        assert info[0]["fingerprint"].replace(":", "") == fingerprint
        assert info[0]["notbefore"] < time.time() < info[0]["notafter"] and info[0]["pem"].startswith("-----BEGIN")


@pytest.mark.parametrize("name", ["pbs.yaml", "pdm.yaml"])
def test_pbs_and_pdm_hosts_answer_the_shared_node_reads_as_fresh(name, tmp_path, monkeypatch):
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path))
    for running in serving(SCENARIOS / name, tls=True, login=True):
        c = running.client
        for node in ("localhost", running.service.world.store.keys("/nodes")[0]):
            sub = c.get(f"/nodes/{node}/subscription").json()["data"]
            assert sub["status"] == "notfound" and "nextduedate" not in sub
            assert abs(c.get(f"/nodes/{node}/time").json()["data"]["time"] - time.time()) < 5
            assert c.get(f"/nodes/{node}/dns").json()["data"]["dns1"] == "192.0.2.1"
        served = ssl.get_server_certificate(("127.0.0.1", running.service.port))
        info = c.get("/nodes/localhost/certificates/info").json()["data"][0]
        assert (
            info["fingerprint"].replace(":", "") == hashlib.sha256(ssl.PEM_cert_to_DER_cert(served)).hexdigest().upper()
        )
        apt = {p["Package"] for p in c.get("/nodes/localhost/apt/versions").json()["data"]}
        assert ("proxmox-backup-server" if name == "pbs.yaml" else "proxmox-datacenter-manager") in apt
        if name == "pbs.yaml":
            services = {u["service"]: u for u in c.get("/nodes/localhost/services").json()["data"]}
            assert services["proxmox-backup-proxy"]["state"] == "running"
            disks = c.get("/nodes/localhost/disks/list").json()["data"]
            assert [d["devpath"] for d in disks] == ["/dev/sda", "/dev/sdb", "/dev/sdc"]
            assert {d["status"] for d in disks} == {"passed"}
