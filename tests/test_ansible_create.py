"""Ansible's community.proxmox.proxmox_kvm, unchanged, over HTTPS: a created VM reads back as a real node
stores it (a MAC on net0, a named and sized volume on scsi0) and the volume is in the storage (issue 11).

Runs where the `ansible` package (which bundles community.proxmox) is installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import SCENARIOS, serving

pytest.importorskip("ansible")

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    api: &api
      api_host: 127.0.0.1
      api_port: "{{ api_port_number }}"
      api_user: root@pam
      api_password: secret
      validate_certs: false
  tasks:
    - name: create a VM
      community.proxmox.proxmox_kvm:
        <<: *api
        node: pve1
        vmid: 150
        name: from-ansible
        net: {net0: "virtio,bridge=vmbr0"}
        scsi: {scsi0: "ceph-vm:4"}
        timeout: 30
      register: created
    - name: create it again (nothing to do)
      community.proxmox.proxmox_kvm:
        <<: *api
        node: pve1
        vmid: 150
        name: from-ansible
        net: {net0: "virtio,bridge=vmbr0"}
        scsi: {scsi0: "ceph-vm:4"}
        timeout: 30
      register: again
    - name: fail unless the first run changed and the second did not
      ansible.builtin.assert:
        that: [created.changed, not again.changed]
"""


@pytest.fixture
def https(tmp_path, monkeypatch):
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path))
    yield from serving(SCENARIOS / "two-node.yaml", tls=True)


def test_proxmox_kvm_create_finds_what_a_real_node_derives(https, tmp_path: Path) -> None:
    playbook = tmp_path / "play.yml"
    playbook.write_text(textwrap.dedent(PLAYBOOK))
    bindir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
    }
    run = subprocess.run(
        [str(bindir / "ansible-playbook"), str(playbook), "-e", f"api_port_number={https.service.port}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    https.login()
    cfg = https.client.get("/nodes/pve1/qemu/150/config").json()["data"]
    assert re.fullmatch(r"virtio=BC:24:11(:[0-9A-F]{2}){3},bridge=vmbr0", cfg["net0"])
    assert cfg["scsi0"] == "ceph-vm:vm-150-disk-0,size=4G"
    volumes = https.client.get("/nodes/pve1/storage/ceph-vm/content", params={"vmid": 150}).json()["data"]
    assert [(v["volid"], v["size"]) for v in volumes] == [("ceph-vm:vm-150-disk-0", 4 * 1024**3)]
