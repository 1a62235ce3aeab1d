"""What a real PVE node derives beyond the description (issue 11 leftovers): `revert` on a guest's
configuration, privileged tags (datacenter.cfg's user-tag-access and registered-tags). Over real
HTTP, against scenarios/two-node.yaml (VM 101 on pve1, container 200 on pve2)."""

from __future__ import annotations

import hashlib
import re
import ssl
from typing import Any

import httpx
import pytest
from conftest import SCENARIOS, Running, serving, start_service
from test_access import CI, as_user, data, refused
from test_derived import ok


@pytest.fixture
def pve(tmp_path, monkeypatch) -> Any:
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path))
    yield from serving(SCENARIOS / "two-node.yaml", login=True)


def errors(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 400, r.text
    return r.json()["errors"]


def grant(pve: Running, path: str, privs: str, role: str) -> None:
    ok(pve, "POST", "/access/roles", roleid=role, privs=privs)
    ok(pve, "PUT", "/access/acl", path=path, roles=role, users="ci@pve")


def test_revert_is_checked_as_each_guest_type_checks_it(pve: Running) -> None:
    # the parameter checks, in qemu-server's and pve-container's own words
    vm, ct = "/nodes/pve1/qemu/101/config", "/nodes/pve2/lxc/200/config"
    assert errors(pve.client.put(vm, data={"revert": "bogus"})) == {"revert": "unknown option 'bogus'"}
    assert errors(pve.client.put(vm, data={"revert": "digest"})) == {"revert": "unknown option 'digest'"}
    assert errors(pve.client.put(vm, data={"revert": "cores", "cores": 2})) == {
        "delete": "you can't use '-cores' and -revert cores' at the same time"
    }
    assert errors(pve.client.put(vm, data={"revert": "cores", "delete": "cores"})) == {
        "revert": "you can't use '-delete cores' and -revert cores' at the same time"
    }
    assert errors(pve.client.put(ct, data={"revert": "swap", "swap": 256})) == {
        "revert": "you can't use '-swap' and '-revert swap' at the same time"
    }
    assert errors(pve.client.put(ct, data={"revert": "swap", "delete": "swap"})) == {
        "delete": "you can't use '-delete swap' and '-revert swap' at the same time"
    }
    # no pending change is kept apart (changes apply at once, as on a stopped guest): nothing to revert
    before = ok(pve, "GET", vm)
    ok(pve, "PUT", vm, revert="cores,net1")
    assert ok(pve, "GET", vm) == before

    grant(pve, "/vms/101", "VM.Audit,VM.Config.CPU", "CpuOnly")
    grant(pve, "/vms/200", "VM.Audit,VM.Config.CPU", "CpuOnly200")
    ci = as_user(pve, *CI)
    # qemu-server: a reverted option is set again to its current value, checked only by value
    # (a drive, a device, tags), not by check_vm_modify_config_perm's table: memory passes ...
    assert ci.put(vm, data={"revert": "memory"}).status_code == 200
    assert ci.put(vm, data={"revert": "memory"}).status_code == 200
    # ... while a disk needs VM.Config.Disk, and a reverted option with no value needs nothing
    assert refused(ci.put(vm, data={"revert": "scsi0"})) == "Permission check failed (/vms/101, VM.Config.Disk)\n"
    assert ci.put(vm, data={"revert": "scsi1"}).status_code == 200
    assert ci.put(vm, data={"revert": "tags"}).status_code == 200  # no tags: nothing put back
    ok(pve, "PUT", vm, tags="web")
    assert refused(ci.put(vm, data={"revert": "tags"})) == "Permission check failed (/vms/101, VM.Config.Options)\n"
    assert refused(ci.put(vm, data={"delete": "memory"})) == "Permission check failed (/vms/101, VM.Config.Memory)\n"
    # pve-container: each reverted option is checked as a deletion of it
    assert ci.put(ct, data={"revert": "cores"}).status_code == 200
    assert refused(ci.put(ct, data={"revert": "swap"})) == "Permission check failed (/vms/200, VM.Config.Memory)\n"
    assert refused(ci.put(ct, data={"revert": "hostname"})) == "Permission check failed (/vms/200, VM.Config.Network)\n"
    assert refused(ci.put(ct, data={"revert": "hookscript"})) == (
        "Permission check failed (changing the hookscript is only allowed for root@pam)\n"
    )
    # the order differs: pve-container checks what is removed before the names, qemu-server the names first
    assert refused(ci.put(ct, data={"revert": "swap", "swap": 256})).endswith("VM.Config.Memory)\n")
    assert errors(ci.put(vm, data={"revert": "memory", "memory": 256})) == {
        "delete": "you can't use '-memory' and -revert memory' at the same time"
    }
    assert {k: v for k, v in ok(pve, "GET", vm).items() if k not in ("tags", "digest")} == {
        k: v for k, v in before.items() if k != "digest"
    }


def test_tags_follow_the_datacenter_tag_options(pve: Running) -> None:
    vm = "/nodes/pve1/qemu/101/config"
    grant(pve, "/vms/101", "VM.Audit,VM.Config.Options", "Opts")
    ci = as_user(pve, *CI)
    # free (the default): any tag, but never a registered one
    assert ci.put(vm, data={"tags": "web;blue"}).status_code == 200
    assert ok(pve, "GET", vm)["tags"] == "web;blue"
    ok(pve, "PUT", "/cluster/options", **{"registered-tags": "prod;pci"})
    assert refused(ci.put(vm, data={"tags": "web;blue;prod"})) == (
        "Permission check failed (/, Sys.Modify for modifying tag 'prod')\n"
    )
    # tags that do not change are not checked; removing a registered tag is changing it
    ok(pve, "PUT", vm, tags="web;blue;prod")  # root may
    assert ci.put(vm, data={"tags": "prod;web"}).status_code == 200  # blue dropped, prod kept
    assert refused(ci.put(vm, data={"tags": "web"})).endswith("modifying tag 'prod')\n")
    assert refused(ci.put(vm, data={"delete": "tags"})).endswith("modifying tag 'prod')\n")

    # list: only the listed tags (and the registered ones stay Sys.Modify's)
    ok(pve, "PUT", "/cluster/options", **{"user-tag-access": "user-allow=list,user-allow-list=web;db"})
    assert ci.put(vm, data={"tags": "prod;web;db"}).status_code == 200
    assert refused(ci.put(vm, data={"tags": "prod;web;db;blue"})).endswith("modifying tag 'blue')\n")
    # existing: also the tags on guests the user may audit (VM 100's are not visible to it)
    ok(pve, "PUT", "/nodes/pve1/qemu/100/config", tags="secret")
    ok(pve, "PUT", "/nodes/pve2/lxc/200/config", tags="dns")
    ok(pve, "PUT", "/cluster/options", **{"user-tag-access": "user-allow=existing"})
    assert refused(ci.put(vm, data={"tags": "prod;web;db;secret"})).endswith("modifying tag 'secret')\n")
    assert refused(ci.put(vm, data={"tags": "prod;web;db;dns"})).endswith("modifying tag 'dns')\n")
    grant(pve, "/vms/200", "VM.Audit", "Audit200")
    assert ci.put(vm, data={"tags": "prod;web;db;dns"}).status_code == 200
    # none: no tag at all may change, not even one on another guest
    ok(pve, "PUT", "/cluster/options", **{"user-tag-access": "user-allow=none"})
    assert refused(ci.put(vm, data={"tags": "prod;web;db"})).endswith("modifying tag 'dns')\n")
    # pve-container checks tags the same way (a revert counts as removing them all)
    grant(pve, "/vms/200", "VM.Audit,VM.Config.Options", "Opts200")
    assert refused(ci.put("/nodes/pve2/lxc/200/config", data={"revert": "tags"})).endswith("modifying tag 'dns')\n")
    # without VM.Config.Options, the guest's privilege is named first
    grant(pve, "/vms/100", "VM.Config.CPU", "Cpu100")
    assert refused(ci.put("/nodes/pve1/qemu/100/config", data={"tags": "x"})) == (
        "Permission check failed (/vms/100, VM.Config.Options)\n"
    )
    # Sys.Modify on / lifts every limit, root too
    ok(pve, "PUT", "/access/acl", path="/", roles="Administrator", users="ci@pve")
    assert ci.put(vm, data={"tags": "pci"}).status_code == 200
    ok(pve, "PUT", vm, tags="anything")

    # creating a guest with tags is checked too
    ok(pve, "PUT", "/access/acl", path="/", roles="Administrator", users="ci@pve", delete=1)
    grant(pve, "/vms/301", "VM.Allocate,VM.Config.Options", "Alloc")
    r = ci.post("/nodes/pve1/qemu", data={"vmid": 301, "tags": "pci"})
    assert refused(r).endswith("modifying tag 'pci')\n")


def test_cluster_options_answer_the_tags_a_user_may_set(pve: Running) -> None:
    ok(pve, "PUT", "/cluster/options", **{"registered-tags": "prod", "console": "xtermjs"})
    ok(pve, "PUT", "/cluster/options", **{"user-tag-access": "user-allow=list,user-allow-list=web;db"})
    ok(pve, "PUT", "/nodes/pve1/qemu/101/config", tags="db;prod;seen")
    root = ok(pve, "GET", "/cluster/options")
    assert root["user-tag-access"] == {"user-allow": "list", "user-allow-list": ["web", "db"]}
    assert root["registered-tags"] == ["prod"]
    assert root["allowed-tags"] == ["db", "prod", "seen", "web"]  # root: every tag in use and registered
    ci = as_user(pve, *CI)
    assert data(ci.get("/cluster/options")) == {"console": "xtermjs", "allowed-tags": ["db", "web"]}


def test_a_parameter_repeating_the_path_must_agree_with_it(pve: Running) -> None:
    conflict = "duplicate parameter (already defined in URI) with conflicting values!"
    vm = "/nodes/pve1/qemu/101/config"
    r = pve.client.put(vm, data={"vmid": 100, "cores": 2})
    assert (r.status_code, r.json()["errors"]) == (400, {"vmid": conflict})
    assert r.reason_phrase == "Parameter verification failed."
    assert pve.client.get(vm, params={"node": "pve2"}).json()["errors"] == {"node": conflict}
    assert pve.client.put(vm, json={"vmid": 100}).json()["errors"] == {"vmid": conflict}
    assert ok(pve, "GET", vm)["cores"] == 4  # nothing changed
    # the same value again is no conflict (as a string or a JSON number)
    assert pve.client.put(vm, data={"vmid": 101, "node": "pve1", "cores": 2}).status_code == 200
    assert pve.client.put(vm, json={"vmid": 101, "cores": 3}).status_code == 200
    assert ok(pve, "GET", vm, node="pve1")["cores"] == 3
    # before the privilege check: a user without any privilege learns of the conflict first
    ci = as_user(pve, *CI)
    assert ci.put(vm, data={"vmid": 100}).json()["errors"] == {"vmid": conflict}
    assert refused(ci.put(vm, data={"vmid": 101, "cores": 1})).startswith("Permission check failed")


def test_a_subscription_key_cannot_be_checked_offline(pve: Running) -> None:
    sub = "/nodes/pve1/subscription"
    fresh = ok(pve, "GET", sub)
    assert fresh["status"] == "notfound" and fresh["message"] == "There is no subscription key"
    # the key passes the local checks, is written alone (which reads back as no key), then the
    # online check fails: a 500 in proxmox-subscription's words, and the node still has no key
    r = pve.client.put(sub, data={"key": "pve2c-0123456789"})
    assert r.status_code == 500
    assert r.json()["message"].startswith("Error checking subscription: https://shop.proxmox.com/")
    assert ok(pve, "GET", sub) == fresh
    assert pve.client.put(sub, data={"key": "nokey"}).status_code == 400  # the schema's pattern
    assert ok(pve, "POST", sub) is None  # nothing to update without a key


def test_a_seeded_subscription_updates_and_deletes_as_pve_does(serve) -> None:
    s = serve(
        """
        scenariod: 1
        name: subscriptions
        auth:
          users:
            - {userid: root@pam, password: secret}
            - {userid: ci@pve, password: ci-password}
        state:
          /nodes:
            - {node: pve1, status: online}
            - {node: pve2, status: online}
          /nodes/pve1/subscription:
            {status: active, key: pve2c-0123456789, serverid: 0A1B2C3D4E5F60718293A4B5C6D7E8F9, sockets: 1,
             checktime: 1700000000, productname: "Proxmox VE Community Subscription 2 CPUs/year",
             url: "https://www.proxmox.com/en/proxmox-virtual-environment/pricing", message: null}
          /nodes/pve2/subscription:
            {status: active, key: pve4b-0123456789, signature: c2lnbmVk, serverid: 0A1B, checktime: 1700000000,
             sockets: 2}
        """
    )
    s.login()
    sub = "/nodes/pve1/subscription"
    fresh_url = "https://www.proxmox.com/en/proxmox-virtual-environment/pricing"
    # an unsigned key last checked long ago is checked again: offline, that fails and nothing changes
    r = s.client.post(sub)
    assert (r.status_code, r.json()["message"].split(":")[0]) == (500, "Error checking subscription")
    assert s.client.get(sub).json()["data"]["status"] == "active"
    r = s.client.post("/nodes/pve2/subscription", data={"force": 1})
    assert r.json()["message"] == (
        "Updating offline key not possible - please remove and re-add subscription key to switch to online key.\n"
    )
    # a key for fewer sockets than the host has is refused before anything is written
    r = s.client.put("/nodes/pve2/subscription", data={"key": "pve1c-0123456789"})
    assert (r.status_code, r.json()["message"]) == (500, "wrong number of sockets (1 < 2)\n")
    assert s.client.get("/nodes/pve2/subscription").json()["data"]["key"] == "pve4b-0123456789"
    # without Sys.Audit on the node: the status, its message and the shop's URL only
    ci = as_user(s, "ci@pve", "ci-password")
    assert data(ci.get(sub)) == {"status": "active", "message": None, "url": fresh_url}
    assert "serverid" not in data(ci.get("/nodes/pve1/subscription"))
    # DELETE: no key any more; the node's server ID stays what it was
    assert s.client.delete(sub).status_code == 200
    gone = s.client.get(sub).json()["data"]
    assert gone == {
        "status": "notfound",
        "message": "There is no subscription key",
        "url": fresh_url,
        "serverid": "0A1B2C3D4E5F60718293A4B5C6D7E8F9",
    }
    assert data(ci.get(sub)) == {"status": "notfound", "message": "There is no subscription key", "url": fresh_url}


def test_the_sdn_lock_guards_every_sdn_write(pve: Running) -> None:
    def refused_500(r: httpx.Response) -> str:
        assert r.status_code == 500, r.text
        return r.json()["message"]

    wrong = "error with cfs lock 'domain-sdn': invalid lock token provided! at /usr/share/perl5/PVE/Network/SDN.pm"
    # without a lock, writes need no token
    ok(pve, "POST", "/cluster/sdn/zones", zone="z1", type="simple")
    token = ok(pve, "POST", "/cluster/sdn/lock")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", token)
    # held: a second lock, and every write without the token, is refused in pve-network's words
    assert refused_500(pve.client.post("/cluster/sdn/lock")).startswith(
        f"could not acquire lock for SDN config: {wrong}"
    )
    r = pve.client.post("/cluster/sdn/zones", data={"zone": "z2", "type": "simple"})
    assert refused_500(r).startswith(f"create sdn zone object failed: {wrong}")
    r = pve.client.put("/cluster/sdn/zones/z1", data={"mtu": 1400, "lock-token": "not-it"})
    assert refused_500(r).startswith("update sdn zone object failed: error with cfs lock")
    assert refused_500(pve.client.delete("/cluster/sdn/ipams/pve")).startswith("delete sdn zone object failed: ")
    r = pve.client.post("/cluster/sdn/vnets", data={"vnet": "v1", "zone": "z1"})
    assert refused_500(r).startswith("create sdn vnet object failed: ")
    assert refused_500(pve.client.put("/cluster/sdn")).startswith("could not commit SDN config: ")
    assert refused_500(pve.client.delete("/cluster/sdn/lock")).startswith("could not release lock: ")
    assert [z["zone"] for z in ok(pve, "GET", "/cluster/sdn/zones")] == ["z1"]
    # with the token: written, and the token is never stored with the object
    ok(pve, "POST", "/cluster/sdn/vnets", vnet="v1", zone="z1", **{"lock-token": token})
    assert "lock-token" not in ok(pve, "GET", "/cluster/sdn/vnets/v1")
    ok(pve, "POST", "/cluster/sdn/rollback", **{"lock-token": token, "release-lock": 0})  # kept
    assert pve.client.post("/cluster/sdn/zones", data={"zone": "z3", "type": "simple"}).status_code == 500
    # applying with the token releases the lock (release-lock defaults to 1)
    ok(pve, "PUT", "/cluster/sdn", **{"lock-token": token})
    ok(pve, "POST", "/cluster/sdn/zones", zone="z3", type="simple")
    # a forced release needs no token
    ok(pve, "POST", "/cluster/sdn/lock")
    ok(pve, "DELETE", "/cluster/sdn/lock", force=1)
    ok(pve, "DELETE", "/cluster/sdn/zones/z3")


SOURCE = """scenariod: 1
name: src
service: pve
auth:
  users: [{userid: root@pam, password: secret}]
state:
  /nodes:
    - {node: pve1, status: online}
  /storage:
    - {storage: local-lvm, type: lvmthin, vgname: pve, thinpool: data, content: "images,rootdir"}
  /nodes/pve1/qemu:
    - {vmid: 100, name: web-01, status: stopped}
  /nodes/pve1/qemu/100/config:
    {name: web-01, memory: 2048, scsi0: "local-lvm:vm-100-disk-0,size=32G",
     unused0: "local-lvm:vm-100-disk-1", unused1: "local-lvm:vm-100-disk-2",
     net0: "virtio=BC:24:11:AA:01:00,bridge=vmbr0"}
  /nodes/pve1/storage/local-lvm/content:
    - {volid: "local-lvm:vm-100-disk-1", size: 4294967296, format: raw, vmid: 100, content: images}
"""
TARGET = """scenariod: 1
name: dst
service: pve
auth:
  users: [{userid: root@pam, password: secret}]
  tokens: [{tokenid: "root@pam!migrate", secret: "0d5e1c3a-7b2f-4e8d-9a61-c4f0b8e2d713"}]
state:
  /nodes:
    - {node: dst1, status: online}
  /storage:
    - {storage: tank, type: zfspool, pool: tank, content: "images,rootdir"}
"""


def test_remote_migration_carries_unused_disks_to_the_mapped_storage(tmp_path) -> None:
    (tmp_path / "src.yaml").write_text(SOURCE)
    (tmp_path / "dst.yaml").write_text(TARGET)
    source, stop_source = start_service(tmp_path / "src.yaml")
    target, stop_target = start_service(tmp_path / "dst.yaml", tls=True)
    try:
        source.login()
        token = "PVEAPIToken=root@pam!migrate=0d5e1c3a-7b2f-4e8d-9a61-c4f0b8e2d713"
        target.client.headers["Authorization"] = token
        pem = ssl.get_server_certificate(("127.0.0.1", target.service.port))
        pin = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
        pin = ":".join(pin[i : i + 2] for i in range(0, len(pin), 2))
        endpoint = f"host=127.0.0.1,port={target.service.port},apitoken={token},fingerprint={pin}"
        upid = ok(
            source,
            "POST",
            "/nodes/pve1/qemu/100/remote_migrate",
            **{"target-endpoint": endpoint, "target-vmid": 300, "target-storage": "tank", "target-bridge": "vmbr0"},
        )
        log = [e["t"] for e in source.client.get(f"/nodes/pve1/tasks/{upid}/log", params={"limit": 0}).json()["data"]]
        assert any(line.endswith("found local disk 'local-lvm:vm-100-disk-1' (unused)") for line in log), log
        assert any(line.endswith("copying local disk images") for line in log)
        # copied first, the unused disks take the first free numbers for 300 on the target, then scsi0
        assert any(
            line.endswith("volume 'local-lvm:vm-100-disk-1' is 'tank:vm-300-disk-0' on the target") for line in log
        )
        assert any(
            line.endswith("volume 'local-lvm:vm-100-disk-2' is 'tank:vm-300-disk-1' on the target") for line in log
        )
        config = target.client.get("/nodes/dst1/qemu/300/config").json()["data"]
        assert (config["unused0"], config["unused1"]) == ("tank:vm-300-disk-0", "tank:vm-300-disk-1")
        assert config["scsi0"].startswith("tank:vm-300-disk-2,")
        listed = {v["volid"]: v for v in target.client.get("/nodes/dst1/storage/tank/content").json()["data"]}
        assert listed["tank:vm-300-disk-0"]["size"] == 4294967296  # the source volume's size
        assert {"tank:vm-300-disk-1", "tank:vm-300-disk-2"} <= set(listed)
    finally:
        stop_source()
        stop_target()
