"""One guest power table over real HTTP: PVE and PDM (which forwards to the remote PVE) answer alike."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import pytest

PVE = """
scenariod: 1
name: power-pve
auth: {mode: none}
state:
  /nodes: [{node: pve1}]
  /nodes/pve1/qemu: [{vmid: 100, name: vm, status: stopped}, {vmid: 101, name: up, status: running}]
  /nodes/pve1/lxc: [{vmid: 200, name: ct, status: stopped}]
"""

PDM = """
scenariod: 1
name: power-pdm
service: pdm
auth: {mode: none}
state:
  /remotes/remote: [{id: prod, type: pve, nodes: [pve1]}]
  /pve/remotes/prod/resources:
    - {type: node, node: pve1, status: online}
    - {type: qemu, vmid: 100, node: pve1, name: vm, status: stopped}
    - {type: qemu, vmid: 101, node: pve1, name: up, status: running}
    - {type: lxc, vmid: 200, node: pve1, name: ct, status: stopped}
"""


def _pve_post(s: Any, kind: str, vmid: int, action: str) -> Any:
    return s.client.post(f"/nodes/pve1/{kind}/{vmid}/status/{action}")


def _pve_task(s: Any, upid: str) -> dict[str, Any]:
    return s.client.get(f"/nodes/pve1/tasks/{quote(upid, safe='')}/status").json()["data"]


def _pdm_post(s: Any, kind: str, vmid: int, action: str) -> Any:
    return s.client.post(f"/pve/remotes/prod/{kind}/{vmid}/{action}")


def _pdm_task(s: Any, upid: str) -> dict[str, Any]:
    return s.client.get(f"/pve/remotes/prod/tasks/{quote(upid, safe='')}/status").json()["data"]


PRODUCTS = {"pve": (PVE, _pve_post, _pve_task), "pdm": (PDM, _pdm_post, _pdm_task)}


def _finished(s: Any, read: Any, upid: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while (status := read(s, upid))["status"] != "stopped":
        assert time.monotonic() < deadline, f"task {upid} still running"
        time.sleep(0.05)
    return status


@pytest.mark.parametrize("product", PRODUCTS)
def test_stopping_a_stopped_vm_is_a_task_that_ends_ok(serve: Any, product: str) -> None:
    text, post, read = PRODUCTS[product]
    s = serve(text)
    for action in ("stop", "shutdown"):
        answer = post(s, "qemu", 100, action)
        assert answer.status_code == 200, answer.text
        assert _finished(s, read, answer.json()["data"])["exitstatus"] == "OK"


@pytest.mark.parametrize("product", PRODUCTS)
def test_stopping_a_stopped_container_is_refused_before_any_task(serve: Any, product: str) -> None:
    text, post, read = PRODUCTS[product]
    s = serve(text)
    for action in ("stop", "shutdown"):
        answer = post(s, "lxc", 200, action)
        assert answer.status_code == 500
        assert answer.json()["message"] == "CT 200 not running\n"


@pytest.mark.parametrize("product", PRODUCTS)
def test_starting_a_running_vm_fails_inside_the_worker(serve: Any, product: str) -> None:
    text, post, read = PRODUCTS[product]
    s = serve(text)
    upid = post(s, "qemu", 101, "start").json()["data"]
    assert _finished(s, read, upid)["exitstatus"] == "VM 101 already running"
    upid = post(s, "qemu", 101, "resume").json()["data"]
    assert _finished(s, read, upid)["exitstatus"] == "VM 101 not paused"
