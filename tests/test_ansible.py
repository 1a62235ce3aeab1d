"""Ansible's community.proxmox, unchanged, over HTTPS against two-node.yaml (issue 11).

Two playbooks: one builds (a VM created, started, snapshotted and cloned; a seeded VM stopped;
a container template downloaded and a container created and started from it; a pool with a
VM and a storage as members; node, VM and storage info read), one tears down what the first
built. Each runs twice: the second run of each must report no change for any task, as against
a real node. The `ansible` package (which bundles community.proxmox) comes with the `[test]`
extra; without it the test is skipped, except in CI where that is a failure.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from conftest import Running, run_playbook

BUILD = """
    - name: create a VM
      community.proxmox.proxmox_kvm:
        node: pve1
        vmid: 150
        name: from-ansible
        net: {net0: "virtio,bridge=vmbr0"}
        scsi: {scsi0: "ceph-vm:4"}
        timeout: 30
    - name: snapshot it
      community.proxmox.proxmox_snap:
        vmid: 150
        snapname: before-change
        description: taken by ansible
        timeout: 30
    - name: clone it
      community.proxmox.proxmox_kvm:
        node: pve1
        clone: from-ansible
        newid: 151
        name: from-ansible-clone
        full: true
        storage: ceph-vm
        timeout: 30
    - name: start the clone
      community.proxmox.proxmox_kvm:
        node: pve1
        vmid: 151
        state: started
        timeout: 30
    - name: stop a running VM
      community.proxmox.proxmox_kvm:
        node: pve1
        vmid: 100
        state: stopped
        timeout: 30
    - name: download a container template
      community.proxmox.proxmox_template:
        node: pve1
        storage: local
        content_type: vztmpl
        template: alpine-3.22-default_20250617_amd64.tar.xz
        timeout: 30
    - name: create a container from it
      community.proxmox.proxmox:
        node: pve1
        vmid: 250
        hostname: from-ansible-ct
        ostemplate: "local:vztmpl/alpine-3.22-default_20250617_amd64.tar.xz"
        disk: "ceph-vm:2"
        password: ansible-ct-password
        netif: {net0: "name=eth0,bridge=vmbr0,ip=dhcp"}
        timeout: 30
    - name: start the container
      community.proxmox.proxmox:
        vmid: 250
        state: started
        timeout: 30
    - name: a pool
      community.proxmox.proxmox_pool:
        poolid: ansible
        comment: made by ansible
    - name: a VM in it
      community.proxmox.proxmox_pool_member:
        poolid: ansible
        member: 150
    - name: a storage in it
      community.proxmox.proxmox_pool_member:
        poolid: ansible
        member: ceph-vm
        type: storage
    - name: node info
      community.proxmox.proxmox_node_info:
      register: nodes
    - name: VM info
      community.proxmox.proxmox_vm_info:
        node: pve1
      register: vms
    - name: storage info
      community.proxmox.proxmox_storage_info:
      register: storages
    - name: fail unless the reads saw what was built
      ansible.builtin.assert:
        that:
          - nodes.proxmox_nodes | map(attribute='node') | sort == ['pve1', 'pve2']
          - (vms.proxmox_vms | selectattr('vmid', 'equalto', 151) | first).status == 'running'
          - (vms.proxmox_vms | selectattr('vmid', 'equalto', 100) | first).status == 'stopped'
          - (vms.proxmox_vms | selectattr('vmid', 'equalto', 250) | first).status == 'running'
          - storages.proxmox_storages | map(attribute='storage') | sort == ['ceph-vm', 'local']
"""

# A member cannot leave a pool that is gone, nor a snapshot a VM that is gone: on a real node
# too, proxmox_pool_member and proxmox_snap fail there, so a re-runnable teardown looks first.
TEARDOWN = """
    - name: what pools are there
      ansible.builtin.uri:
        url: "https://127.0.0.1:{{ api_port_number }}/api2/json/pools"
        headers: {Authorization: "PVEAPIToken=root@pam!ci=5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10"}
        validate_certs: false
      register: pools
    - name: what guests are there
      ansible.builtin.uri:
        url: "https://127.0.0.1:{{ api_port_number }}/api2/json/cluster/resources?type=vm"
        headers: {Authorization: "PVEAPIToken=root@pam!ci=5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10"}
        validate_certs: false
      register: guests
    - name: take the storage out of the pool
      when: "'ansible' in pools.json.data | map(attribute='poolid')"
      community.proxmox.proxmox_pool_member:
        poolid: ansible
        member: ceph-vm
        type: storage
        state: absent
    - name: take the VM out of the pool
      when: "'ansible' in pools.json.data | map(attribute='poolid')"
      community.proxmox.proxmox_pool_member:
        poolid: ansible
        member: 150
        state: absent
    - name: remove the pool
      community.proxmox.proxmox_pool:
        poolid: ansible
        state: absent
    - name: delete the container (stopping it first)
      community.proxmox.proxmox:
        vmid: 250
        state: absent
        force: true
        timeout: 30
    - name: delete the clone (stopping it first)
      community.proxmox.proxmox_kvm:
        vmid: 151
        state: absent
        force: true
        timeout: 30
    - name: delete the snapshot
      when: 150 in guests.json.data | map(attribute='vmid')
      community.proxmox.proxmox_snap:
        vmid: 150
        snapname: before-change
        state: absent
        timeout: 30
    - name: delete the VM
      community.proxmox.proxmox_kvm:
        vmid: 150
        state: absent
        timeout: 30
"""


def test_a_playbook_builds_and_tears_down_and_a_second_run_changes_nothing(
    ansible_https: Running, tmp_path: Path
) -> None:
    port = ansible_https.service.port
    built, _ = run_playbook(BUILD, port, tmp_path)
    assert built == 11  # every task but the reads and the assert
    assert run_playbook(BUILD, port, tmp_path) == (0, [])
    ansible_https.login()
    made = ansible_https.client.get("/nodes/pve1/qemu/150/config").json()["data"]
    assert re.fullmatch(r"virtio=BC:24:11(:[0-9A-F]{2}){3},bridge=vmbr0", made["net0"])
    assert made["scsi0"] == "ceph-vm:vm-150-disk-0,size=4G"
    clone = ansible_https.client.get("/nodes/pve1/qemu/151/config").json()["data"]
    assert clone["scsi0"] == "ceph-vm:vm-151-disk-0,size=4G"
    assert clone["net0"] != made["net0"]  # a clone gets its own MAC
    volumes = ansible_https.client.get("/nodes/pve1/storage/ceph-vm/content").json()["data"]
    assert {v["volid"]: v["size"] for v in volumes if v["vmid"] in (150, 151)} == {
        "ceph-vm:vm-150-disk-0": 4 * 1024**3,
        "ceph-vm:vm-151-disk-0": 4 * 1024**3,
    }
    snapshots = ansible_https.client.get("/nodes/pve1/qemu/150/snapshot").json()["data"]
    assert [s["name"] for s in snapshots] == ["before-change", "current"]
    members = ansible_https.client.get("/pools/ansible").json()["data"]["members"]
    assert sorted(m["id"] for m in members) == [
        "qemu/150",
        "storage/pve1/ceph-vm",
    ]  # the answering node's entry, as PVE::API2::Pool
    templates = ansible_https.client.get("/nodes/pve1/storage/local/content", params={"content": "vztmpl"}).json()[
        "data"
    ]
    assert "local:vztmpl/alpine-3.22-default_20250617_amd64.tar.xz" in [t["volid"] for t in templates]

    torn, _ = run_playbook(TEARDOWN, port, tmp_path)
    assert torn == 7
    assert run_playbook(TEARDOWN, port, tmp_path) == (0, [])
    assert ansible_https.client.get("/pools/ansible").status_code == 500
    for vmid in (150, 151, 250):
        volumes = ansible_https.client.get("/nodes/pve1/storage/ceph-vm/content", params={"vmid": vmid}).json()["data"]
        assert volumes == []
    guests = ansible_https.client.get("/cluster/resources", params={"type": "vm"}).json()["data"]
    assert sorted(g["vmid"] for g in guests) == [100, 101, 200]


# --- the server fixes the playbook needed, each over plain HTTP (these run without ansible) -----

GUESTS = """
scenariod: 1
name: ansible-fixes
auth: {mode: none}
state:
  /nodes: [{node: pve1}]
  /storage: [{storage: local, type: dir, path: /var/lib/vz, content: "images,rootdir,vztmpl"}]
  /nodes/pve1/qemu: [{vmid: 100, name: vm, status: running}]
  /nodes/pve1/lxc: [{vmid: 200, name: ct, status: running}]
  /nodes/pve1/lxc/200/config: {hostname: ct, rootfs: "local:200/vm-200-disk-0.raw,size=8G"}
"""


def _finished(s: Running, upid: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while (status := s.client.get(f"/nodes/pve1/tasks/{quote(upid, safe='')}/status").json()["data"])[
        "status"
    ] != "stopped":
        assert time.monotonic() < deadline, f"task {upid} still running"
        time.sleep(0.05)
    return status


def test_pct_destroy_force_stops_a_running_container_first(serve: Any) -> None:
    """proxmox (LXC) state=absent force=true sends DELETE ...?force=1: pct's "Force destroy, even if running"."""
    s = serve(GUESTS)
    refused = _finished(s, s.client.delete("/nodes/pve1/lxc/200").json()["data"])
    assert refused["exitstatus"] == "CT 200 is running - destroy failed"
    assert (
        _finished(s, s.client.delete("/nodes/pve1/lxc/200", params={"force": 1}).json()["data"])["exitstatus"] == "OK"
    )
    assert s.client.get("/nodes/pve1/lxc/200/status/current").status_code == 500
    assert s.client.get("/nodes/pve1/storage/local/content", params={"vmid": 200}).json()["data"] == []
    # qm destroy has no `force`: a running VM is refused whatever is sent
    refused = _finished(s, s.client.delete("/nodes/pve1/qemu/100").json()["data"])
    assert refused["exitstatus"] == "VM 100 is running - destroy failed"


def test_a_rollback_keeps_disks_added_after_the_snapshot_as_unused(serve: Any) -> None:
    """PVE::AbstractConfig::snapshot_rollback: a disk the snapshot does not hold becomes `unusedN`, not lost."""
    s = serve(GUESTS)
    _finished(
        s,
        s.client.post("/nodes/pve1/qemu", data={"vmid": 300, "scsi0": "local:1", "description": "kept"}).json()["data"],
    )
    _finished(s, s.client.post("/nodes/pve1/qemu/300/snapshot", data={"snapname": "s1"}).json()["data"])
    _finished(s, s.client.post("/nodes/pve1/qemu/300/config", data={"scsi1": "local:2", "cores": 4}).json()["data"])
    _finished(s, s.client.post("/nodes/pve1/qemu/300/snapshot/s1/rollback").json()["data"])
    config = s.client.get("/nodes/pve1/qemu/300/config").json()["data"]
    assert (config["scsi0"], config["unused0"], config["parent"]) == (
        "local:300/vm-300-disk-0.qcow2,size=1G",
        "local:300/vm-300-disk-1.qcow2",
        "s1",
    )
    assert "scsi1" not in config and config.get("cores") != 4, config
    volumes = s.client.get("/nodes/pve1/storage/local/content", params={"vmid": 300}).json()["data"]
    assert sorted(v["volid"] for v in volumes) == ["local:300/vm-300-disk-0.qcow2", "local:300/vm-300-disk-1.qcow2"]


def test_a_volume_id_with_a_slash_routes_unencoded(serve: Any) -> None:
    """pve-storage registers content with fragmentDelimiter '': `.../content/local:iso/x.iso` reaches {volume}."""
    s = serve(GUESTS + '  /nodes/pve1/storage/local/content: [{volid: "local:iso/x.iso", size: 1048576}]\n')
    path = "/nodes/pve1/storage/local/content/local:iso/x.iso"
    assert s.client.get(path).json()["data"]["size"] == 1048576
    _finished(s, s.client.delete(path).json()["data"])
    assert s.client.get(path).status_code == 500  # gone
    assert s.client.get("/nodes/pve1/storage/local/content/local:iso/a/b").status_code == 500  # routed, then missing
    assert s.client.get("/nodes/pve1/storage/local/nothing/a/b").status_code == 501


def test_backup_jobs_list_their_next_run_from_the_schedule(serve: Any) -> None:
    """PVE::API2::Backup's index: `next-run` from the calendar event and now (proxmox_backup_info reads it)."""
    jobs = """
  /cluster/backup:
    - {id: quarter, type: vzdump, schedule: "*/15", storage: local, vmid: "100"}
    - {id: weekdays, type: vzdump, schedule: "mon..fri 02:30", storage: local, vmid: "100"}
    - {id: seeded, type: vzdump, schedule: daily, storage: local, vmid: "100", next-run: 1800000000}
"""
    s = serve(GUESTS + jobs)
    before = time.time()
    listed = {j["id"]: j["next-run"] for j in s.client.get("/cluster/backup").json()["data"]}
    assert listed["quarter"] % 900 == 0 and before < listed["quarter"] <= before + 900
    weekday = time.gmtime(listed["weekdays"])
    assert (weekday.tm_wday < 5, weekday.tm_hour, weekday.tm_min) == (True, 2, 30)
    assert before < listed["weekdays"] <= before + 3 * 86400 + 1
    assert listed["seeded"] == 1800000000  # what the scenario seeds is kept
    assert "next-run" not in s.client.get("/cluster/backup/quarter").json()["data"]


def test_the_guest_agent_reports_the_vms_nics(serve: Any) -> None:
    """proxmox_vm_info `network: true` reads agent/network-get-interfaces' `result`; qemu-server refuses first."""
    s = serve(GUESTS)
    agent = "/nodes/pve1/qemu/{}/agent/network-get-interfaces"
    assert s.client.get(agent.format(100)).json()["message"] == "No QEMU guest agent configured\n"
    s.client.put("/nodes/pve1/qemu/100/config", data={"agent": "0"})
    assert s.client.get(agent.format(100)).json()["message"] == "QEMU guest agent is not running\n"
    s.client.put("/nodes/pve1/qemu/100/config", data={"agent": "1", "net0": "virtio,bridge=vmbr0"})
    s.client.put("/nodes/pve1/qemu/100/config", data={"ipconfig0": "ip=10.0.0.5/24,gw=10.0.0.1"})
    mac = s.client.get("/nodes/pve1/qemu/100/config").json()["data"]["net0"].split(",")[0].split("=")[1]
    result = s.client.get(agent.format(100)).json()["data"]["result"]
    assert [i["name"] for i in result] == ["lo", "ens18"]
    assert result[1]["hardware-address"] == mac.lower()
    addresses = [(a["ip-address"], a["prefix"]) for a in result[1]["ip-addresses"]]
    octets = mac.lower().split(":")
    link_local = f"fe80::{int(octets[0], 16) ^ 2:02x}{octets[1]}:{octets[2]}ff:fe{octets[3]}:{octets[4]}{octets[5]}"
    assert addresses == [("10.0.0.5", 24), (re.sub(r":0+(?=[0-9a-f])", ":", link_local), 64)]
    _finished(s, s.client.post("/nodes/pve1/qemu/100/status/stop").json()["data"])
    assert s.client.get(agent.format(100)).json()["message"] == "VM 100 is not running\n"


def test_sdn_objects_never_hold_the_lock_token_their_writes_carry(serve: Any) -> None:
    """proxmox_zone and friends send `lock-token` with every SDN write; pve-network never stores it."""
    s = serve(GUESTS)
    s.client.post("/cluster/sdn/zones", data={"zone": "z1", "type": "simple", "lock-token": "abc"})
    s.client.put("/cluster/sdn/zones/z1", data={"mtu": 1400, "lock-token": "abc"})
    s.client.post("/cluster/sdn/vnets", data={"vnet": "v1", "zone": "z1", "lock-token": "abc"})
    assert s.client.get("/cluster/sdn/zones").json()["data"] == [{"zone": "z1", "type": "simple", "mtu": 1400}]
    assert s.client.get("/cluster/sdn/vnets").json()["data"] == [{"vnet": "v1", "zone": "z1"}]
