"""A pytest suite against scenariod: each test gets its own copy of the mock cluster.

Run it (see README.md):

    pytest examples/pytest                     # uses examples/pytest/pytest.ini
    pytest examples/pytest -n 4                # in parallel: each worker starts its own server

The `scenariod` fixture (from the plugin scenariod installs) hands each test a fresh
session: its own state, request journal and tasks, discarded after the test.
"""

from __future__ import annotations

import pytest
from proxmoxer.tools import Tasks

# --- the code under test: what your tooling would do against a real cluster -------------------


def running_guests(pve) -> list[str]:
    """Names of the running guests of the whole cluster."""
    return sorted(r["name"] for r in pve.cluster.resources.get(type="vm") if r["status"] == "running")


def start_guest(pve, node: str, vmid: int) -> dict:
    """Start a VM and wait for its task; the task's final status."""
    upid = pve.nodes(node).qemu(vmid).status.start.post()
    return Tasks.blocking_status(pve, upid, timeout=30, polling_interval=0.1)


def rename_guest(pve, node: str, vmid: int, name: str) -> None:
    pve.nodes(node).qemu(vmid).config.put(name=name)


# --- the tests ----------------------------------------------------------------------------------


def test_running_guests(scenariod):
    pve = scenariod.proxmoxer()  # logs in as the scenario's user, on this test's session
    assert running_guests(pve) == ["dns-01", "web-01"]
    scenariod.assert_called({"method": "GET", "path": "/cluster/resources", "query": {"type": "vm"}}, count=1)


def test_start_guest_waits_for_the_task(scenariod):
    pve = scenariod.proxmoxer(token=True)  # the scenario's API token instead of a password
    status = start_guest(pve, "pve1", 101)
    assert status["status"] == "stopped" and status["exitstatus"] == "OK"
    assert pve.nodes("pve1").qemu(101).status.current.get()["status"] == "running"
    scenariod.assert_called("POST /nodes/{node}/qemu/{vmid}/status/start", count=1)
    scenariod.assert_called("GET /nodes/{node}/tasks/{upid}/status", min=1)


def test_each_test_starts_from_the_seed(scenariod):
    # The previous test started VM 101 in its own session; this one sees the seed.
    pve = scenariod.proxmoxer()
    assert pve.nodes("pve1").qemu(101).status.current.get()["status"] == "stopped"


def test_arrange_state_through_the_control_api(scenariod):
    # Put the cluster in the state the test needs, without API calls of its own.
    scenariod.patch_state("/nodes/pve1/qemu/100", {"status": "stopped"})
    pve = scenariod.proxmoxer()
    assert running_guests(pve) == ["dns-01"]


def test_rename_sends_the_right_request(scenariod):
    pve = scenariod.proxmoxer()
    rename_guest(pve, "pve1", 100, "web-primary")
    assert scenariod.state("/nodes/pve1/qemu/100/config")["name"] == "web-primary"
    scenariod.assert_called({"method": "PUT", "path": "/nodes/pve1/qemu/100/config", "body": {"name": "web-primary"}})
    scenariod.assert_not_called("DELETE /nodes/**")


def test_a_failing_verification_explains_itself(scenariod):
    pve = scenariod.proxmoxer()
    pve.nodes("pve1").qemu.get()
    with pytest.raises(AssertionError) as failure:
        scenariod.assert_called({"method": "GET", "path": "/nodes/{node}/qemu", "query": {"full": 1}})
    # The message lists the closest requests and what differed:
    #   ✘ GET /nodes/{node}/qemu query {full: 1}: wanted at least once, got 0
    #       closest requests:
    #         #7 GET /nodes/pve1/qemu -> 200  [session ...]
    #             query.full missing
    assert "query.full missing" in str(failure.value)


def test_plain_http_clients_too(scenariod):
    client = scenariod.client()  # httpx, on this session's /api2/json, with the scenario's token
    nodes = client.get("/nodes").json()["data"]
    assert {n["node"] for n in nodes} == {"pve1", "pve2"}
    assert [e["path"] for e in scenariod.journal()] == ["/nodes"]
