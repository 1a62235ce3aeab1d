"""Resource pools as PVE keeps them: members from both sides, moves, Proxmox's refusals (issue 11)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import SCENARIOS, Running, serving
from test_derived import ok


@pytest.fixture
def pve(tmp_path, monkeypatch) -> Any:
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path))
    yield from serving(SCENARIOS / "two-node.yaml", login=True)


def members(running: Running, poolid: str) -> list[str]:
    return [m["id"] for m in ok(running, "GET", f"/pools/{poolid}")["members"]]


def error(running: Running, method: str, path: str, **data: Any) -> tuple[int, str]:
    r = (
        running.client.request(method, path, data=data or None)
        if method != "GET"
        else running.client.get(path, params=data)
    )
    return r.status_code, r.json()["message"]


def test_members_come_from_the_guests_and_agree_with_resources(pve: Running) -> None:
    web = ok(pve, "GET", "/pools/web")
    assert web["comment"] == "Public web tier" and [m["id"] for m in web["members"]] == ["qemu/100"]
    member = web["members"][0]
    assert member["name"] == "web-01" and member["node"] == "pve1" and member["status"] == "running"
    listed = ok(pve, "GET", "/pools", poolid="web")
    assert [p["poolid"] for p in listed] == ["web"] and listed[0]["members"][0]["vmid"] == 100
    assert ok(pve, "GET", "/pools") == [{"poolid": "web", "comment": "Public web tier"}]
    assert error(pve, "GET", "/pools", poolid="nope") == (500, "pool 'nope' does not exist\n")
    assert error(pve, "GET", "/pools/nope")[0] == 500


def test_adding_moving_and_removing_members(pve: Running) -> None:
    ok(pve, "POST", "/pools", poolid="db", comment="databases")
    ok(pve, "PUT", "/pools", poolid="db", vms="101,200", storage="ceph-vm")
    assert members(pve, "db") == ["qemu/101", "lxc/200", "storage/pve1/ceph-vm"]
    assert ok(pve, "GET", "/pools", poolid="db", type="lxc")[0]["members"][0]["vmid"] == 200
    resources = {r["id"]: r for r in ok(pve, "GET", "/cluster/resources", type="vm")}
    assert resources["qemu/101"]["pool"] == "db" and resources["lxc/200"]["pool"] == "db"
    # a guest in another pool moves only with allow-move
    assert error(pve, "PUT", "/pools/db", vms="100") == (
        500,
        "update pools failed: VM 100 belongs already to pool 'web' and 'allow-move' is not set\n",
    )
    assert error(pve, "PUT", "/pools/db", vms="101") == (500, "update pools failed: VM 101 is already a pool member\n")
    ok(pve, "PUT", "/pools/db", vms="100", **{"allow-move": 1})
    assert members(pve, "web") == [] and "qemu/100" in members(pve, "db")
    assert error(pve, "DELETE", "/pools/db") == (500, "delete pool failed: pool 'db' is not empty (contains VM 100)\n")
    ok(pve, "PUT", "/pools/db", vms="100,101,200", delete=1)
    assert error(pve, "PUT", "/pools/db", storage="local", delete=1) == (
        500,
        "update pools failed: Storage 'local' is not a pool member\n",
    )
    assert error(pve, "DELETE", "/pools", poolid="db")[1].endswith("(contains storage 'ceph-vm')\n")
    ok(pve, "PUT", "/pools/db", storage="ceph-vm", delete=1)
    ok(pve, "DELETE", "/pools", poolid="db")
    assert "pool" not in {r["id"]: r for r in ok(pve, "GET", "/cluster/resources", type="vm")}["qemu/101"]
    assert error(pve, "PUT", "/pools", poolid="db", vms="101") == (
        500,
        "update pools failed: pool 'db' does not exist\n",
    )


def test_create_clone_and_purge_keep_the_pool_in_step(pve: Running) -> None:
    assert error(pve, "POST", "/nodes/pve1/qemu", vmid=160, pool="nope") == (500, "pool 'nope' does not exist\n")
    ok(pve, "POST", "/nodes/pve1/qemu", vmid=160, pool="web", scsi0="ceph-vm:1")
    ok(pve, "POST", "/nodes/pve1/qemu/160/clone", newid=161, pool="web")
    assert members(pve, "web") == ["qemu/100", "qemu/160", "qemu/161"]
    ok(pve, "DELETE", "/nodes/pve1/qemu/161")
    ok(pve, "DELETE", "/nodes/pve1/qemu/160", purge=1)
    assert members(pve, "web") == ["qemu/100"]
