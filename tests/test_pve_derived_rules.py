"""What a real PVE node derives beyond the description (issue 11 leftovers): `revert` on a guest's
configuration, privileged tags (datacenter.cfg's user-tag-access and registered-tags). Over real
HTTP, against scenarios/two-node.yaml (VM 101 on pve1, container 200 on pve2)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import SCENARIOS, Running, serving
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
