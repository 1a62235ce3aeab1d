"""HA resources (scenariod/proxmox/ha.py): what pve-ha-manager accepts, refuses and derives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import SCENARIOS, Running, serving


@pytest.fixture
def pve() -> Iterator[Running]:
    yield from serving(SCENARIOS / "two-node.yaml", login=True)


def _error(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 500, response.text
    return response.json()["message"]


def test_a_bare_vmid_names_the_guest_and_the_views_follow(pve: Running) -> None:
    c = pve.client
    assert c.post("/cluster/ha/resources", data={"sid": "100", "state": "started"}).status_code == 200
    listed = c.get("/cluster/ha/resources").json()["data"]
    assert [(r["sid"], r["type"], r["state"]) for r in listed] == [("vm:100", "vm", "started")]
    # read through either spelling of the service id
    assert c.get("/cluster/ha/resources/vm:100").json()["data"]["sid"] == "vm:100"
    assert c.get("/cluster/ha/resources/100").json()["data"]["type"] == "vm"
    assert c.get("/cluster/ha/resources", params={"type": "ct"}).json()["data"] == []
    # the cluster view shows the HA state of the guest, and changes with it
    vm = next(r for r in c.get("/cluster/resources").json()["data"] if r.get("vmid") == 100)
    assert vm["hastate"] == "started"
    assert c.put("/cluster/ha/resources/100", data={"state": "stopped"}).status_code == 200
    vm = next(r for r in c.get("/cluster/resources").json()["data"] if r.get("vmid") == 100)
    assert vm["hastate"] == "stopped"
    # the HA status names the service on the node that runs the guest
    status = c.get("/cluster/ha/status/current").json()["data"]
    assert any(s.get("sid") == "vm:100" for s in status)
    assert c.delete("/cluster/ha/resources/vm:100").status_code == 200
    vm = next(r for r in c.get("/cluster/resources").json()["data"] if r.get("vmid") == 100)
    assert "hastate" not in vm


def test_refusals_use_pve_ha_managers_words(pve: Running) -> None:
    c = pve.client
    assert _error(c.post("/cluster/ha/resources", data={"sid": "999"})) == (
        "unable to detect SID from VMID - VM/CT 999 does not exist\n"
    )
    assert _error(c.post("/cluster/ha/resources", data={"sid": "vm:999"})) == (
        "resource 'vm:999' does not exist in cluster\n"
    )
    ct = next(r for r in c.get("/cluster/resources", params={"type": "vm"}).json()["data"] if r["type"] == "lxc")
    assert _error(c.post("/cluster/ha/resources", data={"sid": f"vm:{ct['vmid']}"})) == (
        f"resource 'vm:{ct['vmid']}' - guest with ID {ct['vmid']} is not a VM\n"
    )
    assert c.post("/cluster/ha/resources", data={"sid": f"ct:{ct['vmid']}"}).status_code == 200
    assert _error(c.post("/cluster/ha/resources", data={"sid": str(ct["vmid"])})) == (
        f"resource ID 'ct:{ct['vmid']}' already defined\n"
    )
    assert _error(c.delete("/cluster/ha/resources/vm:100")) == "cannot delete service 'vm:100', not HA managed!\n"
    assert _error(c.get("/cluster/ha/resources/vm:100")) == "no such resource 'vm:100'\n"
