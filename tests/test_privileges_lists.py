"""What a PVE caller may see and change (issue 11): lists filtered by privileges, per-option
guest configuration privileges, storages refusing content they do not hold. Over real HTTP,
against scenarios/two-node.yaml (guests 100 and 101 on pve1, container 200 on pve2, pool web
holding 100, storages local and ceph-vm)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import SCENARIOS, Running, serving
from test_access import CI, as_user, refused
from test_derived import ok


@pytest.fixture
def pve(tmp_path, monkeypatch) -> Any:
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path))
    yield from serving(SCENARIOS / "two-node.yaml", login=True)


def data(r: httpx.Response) -> Any:
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_a_user_sees_only_the_guests_it_may_audit(pve: Running) -> None:
    ci = as_user(pve, *CI)
    # no ACL at all: no guest, storage or pool; the nodes without their figures; never a 403
    resources = data(ci.get("/cluster/resources"))
    assert {r["type"] for r in resources} == {"node"}
    assert all("mem" not in r and "maxcpu" not in r and r["status"] == "online" for r in resources)
    assert data(ci.get("/nodes/pve1/qemu")) == [] and data(ci.get("/nodes/pve2/lxc")) == []
    assert data(ci.get("/storage")) == [] and data(ci.get("/nodes/pve1/storage")) == []
    assert data(ci.get("/pools")) == []
    nodes = data(ci.get("/nodes"))
    assert sorted(n["node"] for n in nodes) == ["pve1", "pve2"] and all("maxmem" not in n for n in nodes)

    ok(pve, "PUT", "/access/acl", path="/vms/101", roles="PVEAuditor", users="ci@pve")
    assert [r["vmid"] for r in data(ci.get("/cluster/resources?type=vm"))] == [101]
    assert [g["vmid"] for g in data(ci.get("/nodes/pve1/qemu"))] == [101]
    assert data(ci.get("/nodes/pve2/lxc")) == []
    # root still sees everything, from the same (cached) views
    assert sorted(g["vmid"] for g in ok(pve, "GET", "/nodes/pve1/qemu")) == [100, 101]
    assert len([r for r in ok(pve, "GET", "/cluster/resources") if r["type"] in ("qemu", "lxc")]) == 3

    # a grant on the pool reaches its guest; the guest's `pool` shows only with Pool.Audit on it
    ok(pve, "PUT", "/access/acl", path="/pool/web", roles="PVEVMUser", users="ci@pve")
    vms = {r["vmid"]: r for r in data(ci.get("/cluster/resources?type=vm"))}
    assert set(vms) == {100, 101} and "pool" not in vms[100]
    assert data(ci.get("/pools")) == []
    ok(pve, "PUT", "/access/acl", path="/pool/web", roles="PVEPoolUser", users="ci@pve")
    vms = {r["vmid"]: r for r in data(ci.get("/cluster/resources?type=vm"))}
    assert set(vms) == {100, 101} and vms[100]["pool"] == "web"
    assert [p["poolid"] for p in data(ci.get("/pools"))] == ["web"]
    assert [r["id"] for r in data(ci.get("/cluster/resources")) if r["type"] == "pool"] == ["/pool/web"]

    # storages with Datastore.Audit or Datastore.AllocateSpace; node figures with Sys.Audit on the node
    ok(pve, "PUT", "/access/acl", path="/storage/ceph-vm", roles="PVEDatastoreUser", users="ci@pve")
    assert {s["storage"] for s in data(ci.get("/storage"))} == {"ceph-vm"}
    assert {s["storage"] for s in data(ci.get("/nodes/pve1/storage"))} == {"ceph-vm"}
    ok(pve, "PUT", "/access/acl", path="/nodes/pve2", roles="PVEAuditor", users="ci@pve")
    figures = {n["node"]: n for n in data(ci.get("/nodes"))}
    assert "maxmem" in figures["pve2"] and "maxmem" not in figures["pve1"]


def test_privilege_separated_token_lists_what_both_may_see(pve: Running) -> None:
    secret = ok(pve, "POST", "/access/users/ci@pve/token/sep", privsep=1)["value"]
    token = httpx.Client(
        base_url=pve.api, timeout=10, headers={"Authorization": f"PVEAPIToken=ci@pve!sep={secret}"}
    )
    ok(pve, "PUT", "/access/acl", path="/vms", roles="PVEAuditor", users="ci@pve")
    assert data(token.get("/nodes/pve1/qemu")) == []  # the token itself holds nothing
    ok(pve, "PUT", "/access/acl", path="/vms/100", roles="PVEAuditor", tokens="ci@pve!sep")
    assert [g["vmid"] for g in data(token.get("/nodes/pve1/qemu"))] == [100]
    ci = as_user(pve, *CI)
    assert sorted(g["vmid"] for g in data(ci.get("/nodes/pve1/qemu"))) == [100, 101]


def test_access_lists_and_tasks_are_filtered(pve: Running) -> None:
    ci = as_user(pve, *CI)
    assert [u["userid"] for u in data(ci.get("/access/users"))] == ["ci@pve"]  # always itself
    assert data(ci.get("/access/groups")) == []
    ok(pve, "PUT", "/access/acl", path="/vms/101", roles="PVEVMUser", users="ci@pve")
    assert data(ci.get("/access/acl")) == []  # no Permissions.Modify anywhere, no Sys.Audit on /access
    ok(pve, "PUT", "/access/acl", path="/vms/101", roles="PVEVMAdmin", users="ci@pve")  # VM.Allocate there
    assert [e["path"] for e in data(ci.get("/access/acl"))] == ["/vms/101", "/vms/101"]
    ok(pve, "PUT", "/access/acl", path="/access", roles="PVEAuditor", users="ci@pve")
    assert len(data(ci.get("/access/acl"))) == 3
    assert {u["userid"] for u in data(ci.get("/access/users"))} == {"ci@pve", "root@pam"}

    # tasks: the caller's own, or every task of a node it may audit
    ok(pve, "POST", "/nodes/pve1/qemu/100/status/stop")  # root's task
    assert data(ci.post("/nodes/pve1/qemu/101/status/start")).startswith("UPID:pve1:")
    own = data(ci.get("/nodes/pve1/tasks"))
    assert [t["user"] for t in own] == ["ci@pve"]
    assert ci.get("/nodes/pve1/tasks").json()["total"] == 1
    assert [t["user"] for t in data(ci.get("/cluster/tasks"))] == ["ci@pve"]
    ok(pve, "PUT", "/access/acl", path="/nodes/pve1", roles="PVEAuditor", users="ci@pve")
    assert {t["user"] for t in data(ci.get("/nodes/pve1/tasks"))} == {"ci@pve", "root@pam"}
    assert [t["user"] for t in data(ci.get("/cluster/tasks"))] == ["ci@pve"]  # Sys.Audit on / shows all
    assert {t["user"] for t in ok(pve, "GET", "/cluster/tasks")} == {"ci@pve", "root@pam"}
