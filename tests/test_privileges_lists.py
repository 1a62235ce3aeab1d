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
from test_derived import done, ok


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
    token = httpx.Client(base_url=pve.api, timeout=10, headers={"Authorization": f"PVEAPIToken=ci@pve!sep={secret}"})
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


def test_each_config_option_needs_its_own_privilege(pve: Running) -> None:
    ok(pve, "POST", "/access/roles", roleid="CpuOnly", privs="VM.Audit,VM.Config.CPU")
    ok(pve, "PUT", "/access/acl", path="/vms/101", roles="CpuOnly", users="ci@pve")
    ok(pve, "PUT", "/access/acl", path="/vms/200", roles="CpuOnly", users="ci@pve")
    ci = as_user(pve, *CI)
    assert ci.put("/nodes/pve1/qemu/101/config", data={"cores": 3}).status_code == 200
    assert ok(pve, "GET", "/nodes/pve1/qemu/101/config")["cores"] == 3
    memory = "Permission check failed (/vms/101, VM.Config.Memory)\n"
    assert refused(ci.put("/nodes/pve1/qemu/101/config", data={"memory": 4096})) == memory
    assert refused(ci.post("/nodes/pve1/qemu/101/config", data={"cores": 2, "memory": 4096})) == memory
    assert refused(ci.put("/nodes/pve1/qemu/101/config", data={"delete": "memory"})) == memory
    assert refused(ci.put("/nodes/pve1/qemu/101/config", data={"name": "x"})).endswith("VM.Config.Options)\n")
    assert refused(ci.put("/nodes/pve1/qemu/101/config", data={"ciuser": "x"})) == (
        "Permission check failed (/vms/101, VM.Config.Cloudinit|VM.Config.Network)\n"
    )
    assert ok(pve, "GET", "/nodes/pve1/qemu/101/config")["memory"] == 8192  # nothing changed
    # an option no table names is root's alone (a die in qemu-server: HTTP 500)
    r = ci.put("/nodes/pve1/qemu/101/config", data={"args": "-no-hpet"})
    assert (r.status_code, r.json()["message"]) == (500, "only root can set 'args' config\n")
    # a new disk: space on the storage first, then the disk privilege on the guest
    new_disk = {"scsi1": "ceph-vm:4"}
    space = "Permission check failed (/storage/ceph-vm, Datastore.AllocateSpace)\n"
    assert refused(ci.put("/nodes/pve1/qemu/101/config", data=new_disk)) == space
    ok(pve, "PUT", "/access/acl", path="/storage/ceph-vm", roles="PVEDatastoreUser", users="ci@pve")
    assert refused(ci.put("/nodes/pve1/qemu/101/config", data=new_disk)) == (
        "Permission check failed (/vms/101, VM.Config.Disk)\n"
    )
    # moving a disk: VM.Config.Disk on the guest, then space on the storage it moves to
    ok(pve, "PUT", "/access/acl", path="/vms/101", roles="PVEVMAdmin", users="ci@pve")
    moved = ci.post("/nodes/pve1/qemu/101/move_disk", data={"disk": "scsi0", "storage": "local"})
    assert refused(moved) == "Permission check failed (/storage/local, Datastore.AllocateSpace)\n"
    ok(pve, "PUT", "/access/acl", path="/vms/101", roles="PVEVMAdmin", users="ci@pve", delete=1)
    # containers: pve-container's table and its own refusals
    assert ci.put("/nodes/pve2/lxc/200/config", data={"cores": 2}).status_code == 200
    assert refused(ci.put("/nodes/pve2/lxc/200/config", data={"swap": 1024})) == (
        "Permission check failed (/vms/200, VM.Config.Memory)\n"
    )
    assert refused(ci.put("/nodes/pve2/lxc/200/config", data={"hookscript": "local:snippets/h.pl"})) == (
        "Permission check failed (changing the hookscript is only allowed for root@pam)\n"
    )
    # root@pam may do all of it
    assert pve.client.put("/nodes/pve1/qemu/101/config", data={"memory": 4096, "args": "-no-hpet"}).status_code == 200


def test_creating_a_guest_needs_allocate_and_space(pve: Running) -> None:
    ci = as_user(pve, *CI)
    vm = {"vmid": 300, "memory": 1024, "scsi0": "ceph-vm:4"}
    assert refused(ci.post("/nodes/pve1/qemu", data=vm)) == "Permission check failed\n"
    ok(pve, "PUT", "/access/acl", path="/vms/300", roles="PVEVMAdmin", users="ci@pve")
    assert refused(ci.post("/nodes/pve1/qemu", data=vm)) == (
        "Permission check failed (/storage/ceph-vm, Datastore.AllocateSpace)\n"
    )
    ok(pve, "PUT", "/access/acl", path="/storage/ceph-vm", roles="PVEDatastoreUser", users="ci@pve")
    assert data(ci.post("/nodes/pve1/qemu", data=vm)).startswith("UPID:pve1:")
    # a pool's VM.Allocate is enough for a guest created into it
    ok(pve, "PUT", "/access/acl", path="/pool/web", roles="PVEVMAdmin", users="ci@pve")
    assert data(ci.post("/nodes/pve1/qemu", data={"vmid": 301, "pool": "web"})).startswith("UPID:pve1:")
    assert refused(ci.post("/nodes/pve1/qemu", data={"vmid": 302})) == "Permission check failed\n"
    # a template or an ISO is a volume the caller must be able to read (check_volume_access)
    ok(pve, "PUT", "/access/acl", path="/vms/320", roles="PVEVMAdmin", users="ci@pve")
    ct = {"vmid": 320, "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "rootfs": "ceph-vm:8"}
    iso = {"vmid": 320, "ide2": "local:iso/debian-12.8.0-amd64-netinst.iso,media=cdrom"}
    unreadable = "Permission check failed (/storage/local, Datastore.AllocateSpace|Datastore.Audit)\n"
    assert refused(ci.post("/nodes/pve2/lxc", data=ct)) == unreadable
    assert refused(ci.post("/nodes/pve1/qemu", data=iso)) == unreadable
    ok(pve, "PUT", "/access/acl", path="/storage/local", roles="PVEAuditor", users="ci@pve")
    assert data(ci.post("/nodes/pve2/lxc", data=ct)).startswith("UPID:pve2:")
    # another guest's disk is not the caller's to attach
    taken = ci.post("/nodes/pve1/qemu", data={"vmid": 303, "pool": "web", "scsi0": "ceph-vm:vm-101-disk-0"})
    assert refused(taken) == "Permission check failed (/vms/101, VM.Config.Disk)\n"


def test_storages_refuse_content_they_do_not_hold(pve: Running) -> None:
    """`local` holds ISOs, templates and backups; `ceph-vm` images and container volumes."""
    for path, body, message in (
        ("/nodes/pve1/qemu", {"vmid": 310, "scsi0": "local:4"}, "storage 'local' does not support vm images"),
        ("/nodes/pve1/qemu/101/config", {"scsi1": "local:4"}, "storage 'local' does not support vm images"),
        (
            "/nodes/pve1/qemu/101/move_disk",
            {"disk": "scsi0", "storage": "local"},
            "storage 'local' does not support vm images",
        ),
        (
            "/nodes/pve1/qemu/101/clone",
            {"newid": 313, "full": 1, "storage": "local"},
            "storage 'local' does not support vm images",
        ),
        (
            "/nodes/pve2/lxc",
            {"vmid": 311, "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"},
            "storage 'local' does not support container directories",
        ),
        (
            "/nodes/pve2/lxc",
            {"vmid": 312, "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "rootfs": "local:8"},
            "storage 'local' does not support container directories",
        ),
    ):
        r = pve.client.post(path, data=body) if "config" not in path else pve.client.put(path, data=body)
        assert r.status_code == 400, r.text
        assert r.json()["errors"] == {"storage": message}
    assert ok(pve, "GET", "/cluster/nextid") == "102"  # nothing was created
    assert "scsi1" not in ok(pve, "GET", "/nodes/pve1/qemu/101/config")
    # a backup to a storage without `backup` content: the task starts and fails
    upid = data(pve.client.post("/nodes/pve1/vzdump", data={"vmid": 101, "storage": "ceph-vm"}))
    assert done(pve, upid)["exitstatus"] == (
        "could not get storage information for 'ceph-vm': can't use storage 'ceph-vm' for backups - wrong content type"
    )


def test_storage_content_shows_the_volumes_the_caller_may_use(pve: Running) -> None:
    ci = as_user(pve, *CI)
    ok(pve, "PUT", "/access/acl", path="/storage/local", roles="PVEDatastoreUser", users="ci@pve")
    volids = lambda: {e["volid"].split(":", 1)[1] for e in data(ci.get("/nodes/pve1/storage/local/content"))}  # noqa: E731
    assert volids() == {
        "iso/debian-12.8.0-amd64-netinst.iso",
        "iso/ubuntu-24.04.1-live-server-amd64.iso",
        "vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
    }
    ok(pve, "PUT", "/access/acl", path="/vms/100", roles="PVEVMUser", users="ci@pve")  # VM.Backup on 100
    assert "backup/vzdump-qemu-100-2026_11_28-01_00_02.vma.zst" in volids()
    assert not any("qemu-101" in v for v in volids())
    # a guest's disks: Datastore.Audit on the storage and VM.Config.Disk on the guest
    ok(pve, "PUT", "/access/acl", path="/storage/ceph-vm", roles="PVEAuditor", users="ci@pve")
    assert data(ci.get("/nodes/pve1/storage/ceph-vm/content")) == []
    ok(pve, "PUT", "/access/acl", path="/vms/101", roles="PVEVMAdmin", users="ci@pve")
    assert [e["volid"] for e in data(ci.get("/nodes/pve1/storage/ceph-vm/content"))] == ["ceph-vm:vm-101-disk-0"]
    assert len(ok(pve, "GET", "/nodes/pve1/storage/ceph-vm/content")) == 3  # root: every volume


def test_replication_jobs_and_the_cluster_log_are_filtered(serve) -> None:
    s = serve(
        """
        scenariod: 1
        name: repl
        auth:
          users:
            - {userid: root@pam, password: secret}
            - {userid: dev@pve, password: dev}
        state:
          /nodes:
            - {node: pve1, status: online}
            - {node: pve2, status: online}
          /nodes/pve1/qemu:
            - {vmid: 100, name: a}
            - {vmid: 101, name: b}
          /cluster/replication:
            - {id: 100-0, type: local, target: pve2, guest: 100}
            - {id: 101-0, type: local, target: pve2}
          /access/acl:
            - {path: /vms/101, type: user, ugid: dev@pve, roleid: PVEAuditor, propagate: 1}
          /cluster/log:
            - {uid: 1, time: 1764291600, node: pve1, user: dev@pve, tag: pvedaemon, msg: "dev logged in", pri: 6}
            - {uid: 2, time: 1764291601, node: pve1, user: root@pam, tag: pvedaemon, msg: "root logged in", pri: 6}
        """
    )
    dev = as_user(s, "dev@pve", "dev")
    assert [j["id"] for j in data(dev.get("/cluster/replication"))] == ["101-0"]
    assert [e["msg"] for e in data(dev.get("/cluster/log"))] == ["dev logged in"]
    root = as_user(s, "root@pam", "secret")
    assert len(data(root.get("/cluster/replication"))) == 2 and len(data(root.get("/cluster/log"))) == 2


def test_with_checks_off_every_caller_sees_and_changes_everything(serve) -> None:
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
    assert [g["vmid"] for g in data(dev.get("/nodes/pve/qemu"))] == [100]
    assert [r["vmid"] for r in data(dev.get("/cluster/resources?type=vm"))] == [100]
    assert "maxmem" in data(dev.get("/nodes"))[0]
    assert dev.put("/nodes/pve/qemu/100/config", data={"memory": 1024, "args": "-no-hpet"}).status_code == 200
