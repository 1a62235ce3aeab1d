"""`scenariod import`: proxmox-sdk mock data and fakepve guest lists become scenarios that serve
consistent cluster views; what cannot be imported is reported at FILE:LINE."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import Running, start_service

from scenariod import cli
from scenariod.scenario import check_files

SDK_DATA = {
    "/api2/json/nodes": [
        {"node": "pve1", "status": "online", "maxcpu": 16, "maxmem": 68719476736},
        {"node": "pve2", "status": "online", "maxcpu": 8, "maxmem": 34359738368},
    ],
    "/api2/json/nodes/pve1/qemu": [
        {"vmid": 100, "name": "web-01", "status": "running"},
        {"vmid": 101, "name": "db-01", "status": "stopped"},
    ],
    "/api2/json/nodes/pve1/qemu/100/config": {"name": "web-01", "cores": 2, "memory": 2048},
    "/api2/json/nodes/{node}/dns": {"search": "example.com", "dns1": "192.0.2.53"},
    "/api2/json/cluster/resources": [
        {"id": "node/pve1", "type": "node", "node": "pve1", "status": "online"},
        {"id": "qemu/100", "type": "qemu", "vmid": 100, "node": "pve1", "name": "web-01", "status": "running"},
        {"id": "qemu/101", "type": "qemu", "vmid": 101, "node": "pve1", "name": "db-01", "status": "stopped"},
        {"id": "lxc/200", "type": "lxc", "vmid": 200, "node": "pve2", "name": "dns-01", "status": "running"},
        {"id": "storage/pve1/local", "type": "storage", "node": "pve1", "storage": "local", "plugintype": "dir"},
    ],
    "/api2/json/bogus/path": {"x": 1},
    "not-a-path": 1,
}


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def get(running: Running, path: str) -> Any:
    r = running.client.get(path, headers={"Authorization": "PVEAPIToken=root@pam!x=anything"})
    assert r.status_code == 200, (path, r.text)
    return r.json()["data"]


def test_proxmox_sdk_data_serves_consistent_views(tmp_path: Path, capsys: Any) -> None:
    source = tmp_path / "mock-data.json"
    text = json.dumps(SDK_DATA, indent=2)
    source.write_text(text)
    out = tmp_path / "imported.yaml"
    assert cli.main(["import", str(source), "-o", str(out)]) == 1  # two entries could not be imported
    err = capsys.readouterr().err
    assert f"{source}:{line_of(text, '/api2/json/bogus/path')}: /bogus/path is not a path of the PVE API" in err
    assert f"{source}:{line_of(text, 'not-a-path')}: 'not-a-path' is not an /api2/json/... path" in err
    assert f"{source}:{line_of(text, '/api2/json/cluster/resources')}: /cluster/resources: lxc 200" in err
    assert check_files([str(out)]) == []

    running, stop = start_service(out, tls=True)
    try:
        resources = get(running, "/cluster/resources")
        nodes = get(running, "/nodes")
        assert {n["node"] for n in nodes} == {"pve1", "pve2"}
        assert {r["node"] for r in resources if r["type"] == "node"} == {"pve1", "pve2"}
        guests = {(r["type"], r["vmid"], r["node"], r["name"], r["status"]) for r in resources if "vmid" in r}
        listed = {
            (kind, g["vmid"], n["node"], g["name"], g["status"])
            for n in nodes
            for kind in ("qemu", "lxc")
            for g in get(running, f"/nodes/{n['node']}/{kind}")
        }
        assert (
            guests
            == listed
            == {
                ("qemu", 100, "pve1", "web-01", "running"),
                ("qemu", 101, "pve1", "db-01", "stopped"),
                ("lxc", 200, "pve2", "dns-01", "running"),
            }
        )
        assert get(running, "/nodes/pve1/qemu/100/config")["cores"] == 2
        assert get(running, "/nodes/pve2/dns")["search"] == "example.com"  # a template, bound to each node
        assert "local" in {s["storage"] for s in get(running, "/storage")}
    finally:
        stop()


def test_fakepve_guests(tmp_path: Path, capsys: Any) -> None:
    source = tmp_path / "guests.yaml"
    source.write_text(
        "guests:\n"
        "  - {vmid: 100, name: vm1, status: running, config: {cores: 2}}\n"
        "  - {vmid: 200, type: lxc, name: ct1, node: pve2}\n"
        "  - {vmid: 101, name: slow, shutdown_secs: 90}\n"
        "  - {name: no-id}\n"
    )
    out = tmp_path / "imported.yaml"
    assert cli.main(["import", str(source), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{source}:4: guest 101: shutdown_secs is timing or fault behaviour" in err
    assert f"{source}:5: guest 4 has no vmid; not imported" in err
    assert check_files([str(out)]) == []
    running, stop = start_service(out)
    try:
        assert [(g["vmid"], g["status"]) for g in get(running, "/nodes/pve1/qemu")] == [
            (100, "running"),
            (101, "stopped"),
        ]
        assert get(running, "/nodes/pve1/qemu/100/config")["cores"] == 2
        assert get(running, "/nodes/pve2/lxc/200/config")["hostname"] == "ct1"
        assert {r["vmid"] for r in get(running, "/cluster/resources") if "vmid" in r} == {100, 101, 200}
    finally:
        stop()
