"""PVE access control over HTTP: roles, the ACL, users and groups, and privileges enforced (issue 11)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import SCENARIOS, Running, serving
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException
from test_derived import ok

CI = ("ci@pve", "ci-password")


@pytest.fixture
def pve(tmp_path, monkeypatch) -> Any:
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path))
    yield from serving(SCENARIOS / "two-node.yaml", login=True)


def as_user(running: Running, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=running.api, timeout=10)
    data = client.post("/access/ticket", data={"username": username, "password": password}).json()["data"]
    client.cookies.set(running.service.runtime.auth.cookie, data["ticket"])
    client.headers["CSRFPreventionToken"] = data["CSRFPreventionToken"]
    return client


def data(r: httpx.Response) -> Any:
    assert r.status_code == 200, r.text
    return r.json()["data"]


def refused(r: httpx.Response) -> str:
    assert r.status_code == 403, r.text
    return r.json()["message"]


def test_builtin_roles_and_realms(pve: Running) -> None:
    roles = {r["roleid"]: r for r in ok(pve, "GET", "/access/roles")}
    assert {"Administrator", "PVEAdmin", "PVEVMAdmin", "PVEVMUser", "PVEAuditor", "NoAccess", "PVETemplateUser"} <= set(
        roles
    )
    assert roles["PVEVMUser"]["special"] == 1
    vm_user = ok(pve, "GET", "/access/roles/PVEVMUser")
    assert {"VM.PowerMgmt", "VM.Console", "VM.Audit", "VM.Backup"} <= set(vm_user) and "VM.Allocate" not in vm_user
    assert "Permissions.Modify" in ok(pve, "GET", "/access/roles/Administrator")
    assert "Mapping.Modify" not in ok(pve, "GET", "/access/roles/PVEAdmin")
    assert ok(pve, "GET", "/access/roles/NoAccess") == {}
    assert {(d["realm"], d["type"]) for d in ok(pve, "GET", "/access/domains")} >= {("pam", "pam"), ("pve", "pve")}
    # An unknown role or group is an error in Proxmox's words, not a crash of ours.
    for path, message in (
        ("/access/roles/Nobody", "role 'Nobody' does not exist"),
        ("/access/groups/x", "group 'x' does not exist"),
    ):
        missing = pve.client.get(path)
        assert missing.status_code == 500 and missing.json()["message"].strip() == message


def test_unknown_roles_and_groups_answer_proxmox_errors(pve: Running) -> None:
    """Found by the fuzzer: a missing role or group was an internal error, not Proxmox's answer."""
    for path, message in (
        ("/access/roles/Nope", "role 'Nope' does not exist\n"),
        ("/access/groups/0", "group '0' does not exist\n"),
    ):
        r = pve.client.get(path)
        assert (r.status_code, r.json()["message"]) == (500, message)


def test_acl_entries_are_added_and_removed_one_by_one(pve: Running) -> None:
    assert ok(pve, "GET", "/access/acl") == []
    ok(pve, "POST", "/access/groups", groupid="ops")
    ok(pve, "PUT", "/access/acl", path="/vms/100", roles="PVEVMUser", users="ci@pve")
    ok(pve, "PUT", "/access/acl", path="/storage", roles="PVEAuditor,PVEDatastoreUser", groups="ops", propagate=0)
    acl = ok(pve, "GET", "/access/acl")
    assert {"path": "/vms/100", "type": "user", "ugid": "ci@pve", "roleid": "PVEVMUser", "propagate": 1} in acl
    assert len(acl) == 3
    ok(pve, "PUT", "/access/acl", path="/storage", roles="PVEAuditor", groups="ops", delete=1)
    assert [(e["path"], e["roleid"], e["propagate"]) for e in ok(pve, "GET", "/access/acl")] == [
        ("/vms/100", "PVEVMUser", 1),
        ("/storage", "PVEDatastoreUser", 0),
    ]
    r = pve.client.put("/access/acl", data={"path": "/", "roles": "Nope", "users": "ci@pve"})
    assert (r.status_code, r.json()["message"]) == (500, "ACL update failed: role 'Nope' does not exist\n")
    r = pve.client.put("/access/acl", data={"path": "/", "roles": "PVEAdmin", "users": "ghost@pve"})
    assert r.json()["message"] == "ACL update failed: user 'ghost@pve' does not exist\n"
    r = pve.client.put("/access/acl", data={"path": "/", "roles": "PVEAdmin"})
    assert r.status_code == 400 and set(r.json()["errors"]) == {"users", "groups", "tokens"}


def test_users_full_and_groups_both_ways(pve: Running) -> None:
    ok(pve, "POST", "/access/groups", groupid="ops", comment="operators")
    ok(pve, "PUT", "/access/users/ci@pve", groups="ops")
    ok(pve, "POST", "/access/users/ci@pve/token/deploy", privsep=1, comment="deploys")
    users = {u["userid"]: u for u in ok(pve, "GET", "/access/users", full=1)}
    ci = users["ci@pve"]
    assert ci["realm-type"] == "pve" and users["root@pam"]["realm-type"] == "pam"
    assert ci["groups"] == "ops"
    assert ci["tokens"] == [{"tokenid": "deploy", "privsep": 1, "comment": "deploys", "expire": 0}]
    assert "tokens" not in {u["userid"]: u for u in ok(pve, "GET", "/access/users")}["ci@pve"]
    assert ok(pve, "GET", "/access/groups/ops") == {"comment": "operators", "members": ["ci@pve"]}
    assert {g["groupid"]: g["users"] for g in ok(pve, "GET", "/access/groups")}["ops"] == "ci@pve"


def test_privileges_are_enforced_with_proxmox_wording(pve: Running) -> None:
    ci = as_user(pve, *CI)
    assert refused(ci.post("/nodes/pve1/qemu/100/status/start")) == "Permission check failed (/vms/100, VM.PowerMgmt)\n"
    # the report: a user without any ACL changed root's password and deleted root's token
    assert refused(ci.put("/access/password", data={"userid": "root@pam", "password": "long-enough-x"})) == (
        "Permission check failed\n"
    )
    assert refused(ci.delete("/access/users/root@pam/token/ci")).startswith("Permission check failed")
    assert ci.put("/access/password", data={"userid": "ci@pve", "password": "ci-password-2"}).status_code == 200
    assert ci.get("/version").status_code == 200  # any user may
    # a grant on the VM, on the pool it is in, through a group
    ok(pve, "PUT", "/access/acl", path="/vms/101", roles="PVEVMUser", users="ci@pve")
    assert ci.post("/nodes/pve1/qemu/101/status/start").status_code == 200
    assert refused(ci.post("/nodes/pve1/qemu/100/status/stop")) == "Permission check failed (/vms/100, VM.PowerMgmt)\n"
    ok(pve, "PUT", "/access/acl", path="/pool/web", roles="PVEVMUser", users="ci@pve")
    assert ci.post("/nodes/pve1/qemu/100/status/stop").status_code == 200
    assert refused(ci.delete("/nodes/pve1/qemu/100")) == "Permission check failed (/vms/100, VM.Allocate)\n"
    # NoAccess deeper down wins; propagate 0 stops at its own path
    ok(pve, "PUT", "/access/acl", path="/vms/100", roles="NoAccess", users="ci@pve")
    assert refused(ci.post("/nodes/pve1/qemu/100/status/start")).endswith("VM.PowerMgmt)\n")
    ok(pve, "POST", "/access/groups", groupid="auditors")
    ok(pve, "PUT", "/access/users/ci@pve", groups="auditors")
    ok(pve, "PUT", "/access/acl", path="/nodes", roles="PVEAuditor", groups="auditors", propagate=0)
    assert refused(ci.get("/nodes/pve1/status")) == "Permission check failed (/nodes/pve1, Sys.Audit)\n"
    ok(pve, "PUT", "/access/acl", path="/nodes", roles="PVEAuditor", groups="auditors")
    assert ci.get("/nodes/pve1/status").status_code == 200
    perms = ci.get("/access/permissions").json()["data"]
    assert perms["/vms/101"]["VM.PowerMgmt"] == 1 and "/vms/100" not in perms
    assert perms["/nodes"]["Sys.Audit"] == 1


@pytest.fixture
def https(tmp_path, monkeypatch) -> Any:
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path))
    yield from serving(SCENARIOS / "two-node.yaml", tls=True)


def test_privilege_separated_tokens_with_proxmoxer(https: Running) -> None:
    root = ProxmoxAPI(
        "127.0.0.1", port=https.service.port, user="root@pam", password="secret", verify_ssl=https.ca_file
    )
    sep = root.access.users("ci@pve").token("sep").post(privsep=1)["value"]
    full = root.access.users("ci@pve").token("full").post(privsep=0)["value"]

    def client(name: str, secret: str) -> ProxmoxAPI:
        return ProxmoxAPI(
            "127.0.0.1",
            port=https.service.port,
            user="ci@pve",
            token_name=name,
            token_value=secret,
            verify_ssl=https.ca_file,
        )

    vm = lambda api: api.nodes("pve1").qemu(101).status.current  # noqa: E731
    with pytest.raises(ResourceException) as denied:
        vm(client("full", full)).get()
    assert denied.value.status_code == 403 and "Permission check failed (/vms/101, VM.Audit)" in str(denied.value)
    root.access.acl.put(path="/vms/101", roles="PVEVMUser", users="ci@pve")
    assert vm(client("full", full)).get()["vmid"] == 101  # without privilege separation: the user's privileges
    with pytest.raises(ResourceException):  # separated: only what both the token and its user have
        vm(client("sep", sep)).get()
    root.access.acl.put(path="/vms", roles="PVEVMAdmin", tokens="ci@pve!sep")
    assert vm(client("sep", sep)).get()["vmid"] == 101
    with pytest.raises(ResourceException) as denied:  # the token may allocate, its user may not
        client("sep", sep).nodes("pve1").qemu(101).delete()
    assert "(/vms/101, VM.Allocate)" in str(denied.value)


def test_a_scenario_can_switch_checks_off(serve) -> None:
    s = serve(
        """
        scenariod: 1
        name: open
        auth:
          permissions: "off"
          users:
            - {userid: root@pam, password: secret}
            - {userid: dev@pve, password: dev}
        state:
          /nodes/pve/qemu:
            - {vmid: 100, name: a}
          /nodes/pve/qemu/100/config: {name: a, memory: 512}
        """
    )
    dev = as_user(s, "dev@pve", "dev")
    assert [g["vmid"] for g in data(dev.get("/nodes/pve/qemu"))] == [100]  # lists unfiltered
    assert [r["vmid"] for r in data(dev.get("/cluster/resources?type=vm"))] == [100]
    assert "maxmem" in data(dev.get("/nodes"))[0]
    assert dev.put("/nodes/pve/qemu/100/config", data={"memory": 1024, "args": "-no-hpet"}).status_code == 200
    assert dev.post("/nodes/pve/qemu/100/status/start").status_code == 200
    assert dev.put("/access/password", data={"userid": "root@pam", "password": "long-enough-x"}).status_code == 200
