"""The behaviour registry: modules are found without a list, a duplicate is refused, fallbacks are rules."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import scenariod.proxmox as proxmox
from scenariod.proxmox import DuplicateHandler, discover, handler_for, handles, restserver
from scenariod.proxmox import tasks as pve_tasks
from scenariod.wire import parse_upid

PACKAGE = Path(proxmox.__file__).parent


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[Any]:
    """probe({relative path: source}) -> a package named `probe_behaviours` under tmp_path."""

    def write(files: dict[str, str]) -> str:
        root = tmp_path / "probe_behaviours"
        for rel, text in {"__init__.py": "", **files}.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        return "probe_behaviours"

    sys.path.insert(0, str(tmp_path))
    yield write
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("probe_behaviours")]:
        del sys.modules[name]
    for key in [k for k in proxmox._HANDLERS if k[2].startswith("/probe/")]:
        del proxmox._HANDLERS[key]


HA = """
from scenariod.proxmox import handles

@handles("GET", "/probe/ha/resources")
def list_ha_resources(call):
    return []
"""


def test_every_module_in_the_package_is_imported() -> None:
    for service in proxmox.SERVICE_PACKAGES:  # as the first lookup for a PBS or PDM server does
        proxmox.load_behaviours(service)
    on_disk = {
        ".".join(("scenariod.proxmox", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        for path in PACKAGE.rglob("*.py")
    } - {"scenariod.proxmox"}
    assert on_disk <= set(proxmox.BEHAVIOURS)
    assert {"scenariod.proxmox.restserver", "scenariod.proxmox.pbs.datastores", "scenariod.proxmox.pdm.operations"} <= (
        on_disk
    )


def test_a_new_module_is_found_in_a_subpackage(probe: Any) -> None:
    package = probe({"cluster/__init__.py": "", "cluster/ha.py": HA})
    assert handler_for("pve", "GET", "/probe/ha/resources") is None
    found = discover(package)
    assert "probe_behaviours.cluster.ha" in found
    assert handler_for("pve", "GET", "/probe/ha/resources").__name__ == "list_ha_resources"


def test_a_second_module_claiming_an_operation_is_refused(probe: Any) -> None:
    package = probe({"a_ha.py": HA, "b_ha.py": HA.replace("list_ha_resources", "other_ha_resources")})
    with pytest.raises(DuplicateHandler) as refused:
        discover(package)
    message = str(refused.value)
    assert "pve GET /probe/ha/resources" in message
    assert "probe_behaviours.a_ha.list_ha_resources" in message
    assert "probe_behaviours.b_ha.other_ha_resources" in message


def test_a_duplicate_of_a_shipped_handler_is_refused_and_the_first_kept() -> None:
    def impostor(call: Any) -> None:
        return None

    with pytest.raises(DuplicateHandler, match=r"pve GET /nodes/\{node\}/tasks .*tasks\.node_tasks.*impostor"):
        handles("GET", "/nodes/{node}/tasks")(impostor)
    assert handler_for("pve", "GET", "/nodes/{node}/tasks") is pve_tasks.node_tasks
    handles("GET", "/nodes/{node}/tasks")(pve_tasks.node_tasks)  # the same function again is no conflict


def test_task_paths_answer_in_each_services_shape() -> None:
    for method, template, pve_handler, rest_handler in [
        ("GET", "/nodes/{node}/tasks", pve_tasks.node_tasks, restserver.node_tasks),
        ("GET", "/nodes/{node}/tasks/{upid}", pve_tasks.task_index, restserver.task_index),
        ("GET", "/nodes/{node}/tasks/{upid}/status", pve_tasks.task_status, restserver.node_task_status),
        ("GET", "/nodes/{node}/tasks/{upid}/log", pve_tasks.task_log, restserver.node_task_log),
        ("DELETE", "/nodes/{node}/tasks/{upid}", pve_tasks.stop_task, restserver.stop_node_task),
    ]:
        assert handler_for("pve", method, template) is pve_handler
        assert handler_for("pbs", method, template) is handler_for("pdm", method, template) is rest_handler


def test_host_workers_fall_back_by_rule_not_by_registration() -> None:
    for service in ("pbs", "pdm"):
        assert handler_for(service, "POST", "/nodes/{node}/apt/update") is restserver.on_host
        assert handler_for(service, "GET", "/nodes/{node}/status") is restserver.node_status  # its own wins
        assert handler_for(service, "GET", "/nodes/{node}/apt/update") is None  # a GET stays generic (replayable)
    assert handler_for("pve", "POST", "/nodes/{node}/apt/update") is None  # PVE: generic CRUD
    assert not [k for k, fn in proxmox._HANDLERS.items() if fn is restserver.on_host]


def test_a_host_worker_started_at_localhost_names_the_host(serve: Any) -> None:
    s = serve("scenariod: 1\nname: p\nservice: pbs\nauth: {mode: none}\nstate:\n  /nodes: [{node: backup1}]\n")
    upid = s.client.post("/nodes/localhost/apt/update").json()["data"]
    assert parse_upid(upid)["node"] == "backup1"
    status = s.client.get(f"/nodes/backup1/tasks/{upid}/status").json()["data"]
    assert status["node"] == "backup1" and status["type"] == "aptupdate"


def test_a_service_package_is_imported_when_its_service_is_first_served() -> None:
    # A fresh process: serving PVE imports none of pbs/ and pdm/ (start-up time and memory);
    # the first lookup for PBS registers pbs/ (and a PBS world is prepared by its seeders).
    code = """
import sys
from scenariod.server import Service
from scenariod.scenario import load_scenario
from scenariod.proxmox import handler_for
service = Service(load_scenario("scenarios/two-node.yaml"), host="127.0.0.1", port=0, tls=False)
service.world
print(sorted(m for m in sys.modules if m.startswith(("scenariod.proxmox.pbs.", "scenariod.proxmox.pdm."))))
print(handler_for("pbs", "GET", "/admin/datastore").__module__)
print(any(m.startswith("scenariod.proxmox.pdm.") for m in sys.modules))
"""
    root = PACKAGE.parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "scenariod.proxmox.pbs.datastores", "False"]
