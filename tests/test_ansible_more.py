"""More of community.proxmox, unchanged, against two-node.yaml: the modules test_ansible.py does not run.

One playbook builds on the seeded VM 101 and container 200 (a disk added, grown and moved to a
storage the playbook adds; a NIC added; a snapshot taken and rolled back; a group, a user in it
and ACLs; an HA group and resource; a firewall rule; an ad-hoc backup; the container updated),
reads everything back with the info modules, and then acts as a non-root API token whose ACL
grants PVEVMAdmin on /vms/101 and PVEDatastoreUser on /storage/ceph-vm only: it sees that
guest and that storage alone, may add a disk there, and gets Proxmox's 403 for a disk on
another storage. A second playbook tears it all down. Each runs twice; the second run changes
nothing, except the tasks the module itself always reports changed, whatever a real node holds:
proxmox_kvm `update: true` (exits changed=True unconditionally), proxmox_backup (starts a new
vzdump every time) and proxmox_snap `state: rollback` (rolls back every time).
"""

from __future__ import annotations

import re
from pathlib import Path

from conftest import Running, run_playbook

TOKEN = "ci@pve!robot"

# the limited token's credentials, for the tasks that run as it
AS_TOKEN = """
        api_user: ci@pve
        api_password: "{{ omit }}"
        api_token_id: robot
        api_token_secret: "{{ token_secret }}"
"""

BUILD = (
    """
    - name: a storage for VM images
      community.proxmox.proxmox_storage:
        name: scratch
        type: nfs
        nodes: [pve1, pve2]
        nfs_options: {server: 10.10.10.94, export: /export/scratch}
        content: [images]
        state: present
    - name: add a disk
      community.proxmox.proxmox_disk:
        vmid: 101
        disk: scsi1
        storage: ceph-vm
        size: 2
        state: present
    - name: grow it
      community.proxmox.proxmox_disk:
        vmid: 101
        disk: scsi1
        size: 3G
        state: resized
    - name: move it
      community.proxmox.proxmox_disk:
        vmid: 101
        disk: scsi1
        target_storage: scratch
        delete_moved: true
        state: moved
        timeout: 30
    - name: add a NIC
      community.proxmox.proxmox_nic:
        vmid: 101
        interface: net1
        bridge: vmbr0
        model: virtio
        tag: 20
    - name: update the VM
      community.proxmox.proxmox_kvm:
        node: pve1
        vmid: 101
        cores: 6
        memory: 4096
        update: true
    - name: update the container
      community.proxmox.proxmox:
        vmid: 200
        node: pve2
        hostname: dns-01
        cores: 2
        update: true
    - name: a group
      community.proxmox.proxmox_group:
        groupid: ops
        comment: operators
    - name: a user in it
      community.proxmox.proxmox_user:
        userid: alice@pve
        comment: Alice
        email: alice@example.com
        groups: [ops]
    - name: the group may use VM 101
      community.proxmox.proxmox_access_acl:
        path: /vms/101
        type: group
        ugid: ops
        roleid: PVEVMUser
        state: present
    - name: the robot may administer VM 101
      community.proxmox.proxmox_access_acl:
        path: /vms/101
        type: user
        ugid: ci@pve
        roleid: PVEVMAdmin
        state: present
    - name: the robot may use ceph-vm
      community.proxmox.proxmox_access_acl:
        path: /storage/ceph-vm
        type: user
        ugid: ci@pve
        roleid: PVEDatastoreUser
        state: present
    - name: an HA group
      community.proxmox.proxmox_cluster_ha_groups:
        name: ha1
        comment: first pair
        nodes: [pve1:1, pve2]
        state: present
    - name: VM 101 under HA
      community.proxmox.proxmox_cluster_ha_resources:
        name: vm:101
        group: ha1
        hastate: stopped
        state: present
    - name: a firewall rule
      community.proxmox.proxmox_firewall:
        level: vm
        vmid: 101
        rules:
          - {type: in, action: ACCEPT, proto: tcp, dport: 22, pos: 0, enable: true}
    - name: download an ISO
      community.proxmox.proxmox_template:
        node: pve1
        storage: local
        content_type: iso
        url: https://example.com/images/tiny.iso
        timeout: 30
    - name: back it up
      community.proxmox.proxmox_backup:
        node: pve1
        vmids: [101]
        storage: local
        mode: include
        backup_mode: snapshot
        compress: zstd
        wait: true
        wait_timeout: 30
    - {name: users, community.proxmox.proxmox_user_info: {}, register: users}
    - {name: groups, community.proxmox.proxmox_group_info: {}, register: group_list}
    - {name: realms, community.proxmox.proxmox_domain_info: {}, register: realms}
    - {name: tasks, community.proxmox.proxmox_tasks_info: {node: pve1}, register: node_tasks}
    - {name: backup jobs, community.proxmox.proxmox_backup_info: {}, register: jobs}
    - {name: firewall, community.proxmox.proxmox_firewall_info: {level: vm, vmid: 101}, register: firewall}
    - name: backups
      community.proxmox.proxmox_storage_contents_info: {node: pve1, storage: local, content: backup}
      register: backups
    - name: VM 101's configuration
      community.proxmox.proxmox_vm_info: {vmid: 101, config: current}
      register: vm
    - name: fail unless the reads saw what was built
      ansible.builtin.assert:
        that:
          - (users.proxmox_users | selectattr('userid', 'equalto', 'alice@pve') | first).groups == ['ops']
          - (group_list.proxmox_groups | selectattr('groupid', 'equalto', 'ops') | first).users == ['alice@pve']
          - realms.proxmox_domains | map(attribute='realm') | sort == ['pam', 'pve']
          - node_tasks.proxmox_tasks | selectattr('type', 'equalto', 'vzdump') | list | length > 0
          - jobs.backup_info | map(attribute='vmid') | sort == ['100', '101', '200']
          - (jobs.backup_info | first)['next-run'] is match('\\d{4}-\\d\\d-\\d\\d 01:00:00')
          - firewall.firewall_rules | map(attribute='dport') | list == ['22']
          - backups.proxmox_storage_content | selectattr('vmid', 'equalto', 101) | list | length >= 2
          - vm.proxmox_vms[0].config.scsi1 is match('scratch:101/vm-101-disk-\\d+\\.\\w+,size=3G')
          - vm.proxmox_vms[0].config.net1 is match('virtio=BC:24:11(:[0-9A-F]{2}){3},bridge=vmbr0,tag=20')
          - vm.proxmox_vms[0].config.cores == 6
          - vm.proxmox_vms[0].hastate == 'stopped'
    - name: what the robot sees of guests
      community.proxmox.proxmox_vm_info:"""
    + AS_TOKEN
    + """      register: robot_vms
    - name: what the robot sees of storages
      community.proxmox.proxmox_storage_info:"""
    + AS_TOKEN
    + """      register: robot_storages
    - name: the robot adds a disk where it may
      community.proxmox.proxmox_disk:
        vmid: 101
        disk: scsi2
        storage: ceph-vm
        size: 1
        state: present"""
    + AS_TOKEN
    + """    - name: the robot adds a disk where it may not
      community.proxmox.proxmox_disk:
        vmid: 101
        disk: scsi3
        storage: local
        size: 1
        state: present"""
    + AS_TOKEN
    + """      register: refused
      ignore_errors: true
    - name: fail unless the robot saw and did only what its ACL allows
      ansible.builtin.assert:
        that:
          - robot_vms.proxmox_vms | map(attribute='vmid') | list == [101]
          - robot_storages.proxmox_storages | map(attribute='storage') | list == ['ceph-vm']
          - refused.failed
          - "'403 Forbidden: Permission check failed (/storage/local, Datastore.AllocateSpace)' in refused.msg"
    # last: a rollback undoes whatever came after the snapshot, on a real node too
    - name: snapshot it
      community.proxmox.proxmox_snap:
        vmid: 101
        snapname: s1
        timeout: 30
    - name: roll back to it
      community.proxmox.proxmox_snap:
        vmid: 101
        snapname: s1
        state: rollback
        timeout: 30
"""
)

TEARDOWN = """
    - name: the robot's disk
      community.proxmox.proxmox_disk: {vmid: 101, disk: scsi2, state: absent}
    - name: the moved disk
      community.proxmox.proxmox_disk: {vmid: 101, disk: scsi1, state: absent}
    - name: the storage
      community.proxmox.proxmox_storage: {name: scratch, type: nfs, state: absent}
    - name: the NIC
      community.proxmox.proxmox_nic: {vmid: 101, interface: net1, state: absent}
    - name: the snapshot
      community.proxmox.proxmox_snap: {vmid: 101, snapname: s1, state: absent, timeout: 30}
    - name: the HA resource
      community.proxmox.proxmox_cluster_ha_resources: {name: vm:101, state: absent}
    - name: the HA group
      community.proxmox.proxmox_cluster_ha_groups: {name: ha1, nodes: [pve1:1, pve2], state: absent}  # nodes: it sorts them even here
    - name: the firewall rule
      community.proxmox.proxmox_firewall:
        level: vm
        vmid: 101
        state: absent
        pos: 0
    - name: the group's ACL
      community.proxmox.proxmox_access_acl: {path: /vms/101, type: group, ugid: ops, roleid: PVEVMUser, state: absent}
    - name: the robot's VM ACL
      community.proxmox.proxmox_access_acl:
        {path: /vms/101, type: user, ugid: ci@pve, roleid: PVEVMAdmin, state: absent}
    - name: the robot's storage ACL
      community.proxmox.proxmox_access_acl:
        {path: /storage/ceph-vm, type: user, ugid: ci@pve, roleid: PVEDatastoreUser, state: absent}
    - name: the user
      community.proxmox.proxmox_user: {userid: alice@pve, state: absent}
    - name: the group
      community.proxmox.proxmox_group: {groupid: ops, state: absent}
    - name: the ISO (its volume ID unencoded in the path, as proxmoxer sends it)
      community.proxmox.proxmox_template:
        {node: pve1, storage: local, content_type: iso, template: tiny.iso, state: absent, timeout: 30}
"""

ALWAYS_CHANGED = ["update the VM", "back it up", "roll back to it"]


def test_more_modules_build_and_tear_down_and_a_second_run_changes_only_what_the_module_always_does(
    ansible_https: Running, tmp_path: Path
) -> None:
    s = ansible_https
    s.login()
    made = s.client.post(f"/access/users/ci@pve/token/{TOKEN.split('!')[1]}", data={"privsep": 0})
    secret = made.json()["data"]["value"]
    port = s.service.port

    built, changed = run_playbook(BUILD, port, tmp_path, token_secret=secret)
    assert built == 20, changed  # every task but the reads, the asserts and the refused disk
    config = s.client.get("/nodes/pve1/qemu/101/config").json()["data"]
    assert run_playbook(BUILD, port, tmp_path, token_secret=secret) == (len(ALWAYS_CHANGED), ALWAYS_CHANGED)
    again = s.client.get("/nodes/pve1/qemu/101/config").json()["data"]
    assert again["net1"] == config["net1"]  # the generated MAC is kept
    assert again["scsi2"] == "ceph-vm:vm-101-disk-1,size=1G"  # the lowest free number: disk-1 moved away
    assert not any(k.startswith("unused") for k in again)  # moved with delete: nothing left behind
    user = s.client.get("/access/users/alice@pve").json()["data"]
    assert user == {"comment": "Alice", "email": "alice@example.com", "enable": 1, "expire": 0, "groups": ["ops"]}

    torn, _ = run_playbook(TEARDOWN, port, tmp_path)
    assert torn == 14
    assert run_playbook(TEARDOWN, port, tmp_path) == (0, [])
    config = s.client.get("/nodes/pve1/qemu/101/config").json()["data"]
    assert not {"scsi1", "scsi2", "net1"} & set(config)
    volumes = s.client.get("/nodes/pve1/storage/ceph-vm/content", params={"vmid": 101}).json()["data"]
    assert [v["volid"] for v in volumes] == ["ceph-vm:vm-101-disk-0"]
    assert s.client.get("/access/acl").json()["data"] == []
    assert re.search("no such user", s.client.get("/access/users/alice@pve").text)
    isos = s.client.get("/nodes/pve1/storage/local/content", params={"content": "iso"}).json()["data"]
    assert "local:iso/tiny.iso" not in [v["volid"] for v in isos]
