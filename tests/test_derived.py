"""What a real node derives on writes: MACs, volume names and sizes, storage content (issue 11)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from conftest import SCENARIOS, Running, serving

MAC = r"BC:24:11(?::[0-9A-F]{2}){3}"


@pytest.fixture
def pve(tmp_path, monkeypatch) -> Any:
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path))
    yield from serving(SCENARIOS / "two-node.yaml", login=True)


def done(running: Running, upid: str) -> dict[str, Any]:
    """Wait for a task to end; its status."""
    node = upid.split(":")[1]
    for _ in range(200):
        status = running.client.get(f"/nodes/{node}/tasks/{upid}/status").json()["data"]
        if status["status"] == "stopped":
            return status
        time.sleep(0.05)
    raise AssertionError(f"task {upid} did not end")


def ok(running: Running, method: str, path: str, /, **data: Any) -> Any:
    r = running.client.request(
        method, path, data=data if method != "GET" else None, params=data if method == "GET" else None
    )
    assert r.status_code == 200, r.text
    out = r.json()["data"]
    if isinstance(out, str) and out.startswith("UPID:"):
        assert done(running, out)["exitstatus"] == "OK", running.client.get(
            f"/nodes/{out.split(':')[1]}/tasks/{out}/log"
        ).text
    return out


def content(running: Running, node: str, storage: str, **query: Any) -> list[dict[str, Any]]:
    return ok(running, "GET", f"/nodes/{node}/storage/{storage}/content", **query)


def test_create_names_disks_and_gives_nics_a_mac(pve: Running) -> None:
    ok(
        pve,
        "POST",
        "/nodes/pve1/qemu",
        vmid=150,
        name="ansible",
        net0="virtio,bridge=vmbr0",
        scsi0="ceph-vm:4",
        scsi1="ceph-vm:10,iothread=1",
        efidisk0="ceph-vm:1,efitype=4m",
        ide2="local:cloudinit",
    )
    cfg = ok(pve, "GET", "/nodes/pve1/qemu/150/config")
    assert re.fullmatch(f"virtio={MAC},bridge=vmbr0", cfg["net0"])
    assert cfg["scsi0"] == "ceph-vm:vm-150-disk-0,size=4G"
    assert cfg["scsi1"] == "ceph-vm:vm-150-disk-1,iothread=1,size=10G"
    assert cfg["efidisk0"] == "ceph-vm:vm-150-disk-2,efitype=4m,size=4M"
    assert cfg["ide2"] == "local:150/vm-150-cloudinit.qcow2,media=cdrom"
    assert re.fullmatch(r"uuid=[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", cfg["smbios1"])
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", cfg["vmgenid"])
    assert re.fullmatch(r"creation-qemu=[\d.]+,ctime=\d+", cfg["meta"])
    listed = {e["volid"]: e for e in content(pve, "pve1", "ceph-vm", vmid=150)}
    assert listed["ceph-vm:vm-150-disk-0"] == {
        "volid": "ceph-vm:vm-150-disk-0",
        "content": "images",
        "format": "raw",
        "size": 4 * 1024**3,
        "used": 4 * 1024**3,
        "vmid": 150,
    }
    assert set(listed) == {"ceph-vm:vm-150-disk-0", "ceph-vm:vm-150-disk-1", "ceph-vm:vm-150-disk-2"}
    # a shared storage lists the same on every node; the seeded guests' volumes are there too
    everything = {e["volid"] for e in content(pve, "pve2", "ceph-vm")}
    assert {"ceph-vm:vm-100-disk-0", "ceph-vm:vm-200-disk-0", "ceph-vm:vm-150-disk-0"} <= everything
    assert content(pve, "pve2", "ceph-vm", content="rootdir") == [
        {
            "volid": "ceph-vm:vm-200-disk-0",
            "content": "rootdir",
            "format": "raw",
            "size": 8 * 1024**3,
            "used": 8 * 1024**3,
            "vmid": 200,
        }
    ]


def test_macs_are_unique_and_repeat_with_the_seed(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path))
    seen = []
    for _ in range(2):
        for running in serving(SCENARIOS / "two-node.yaml", login=True):
            ok(running, "POST", "/nodes/pve1/qemu", vmid=300, net0="virtio,bridge=vmbr0", net1="e1000,bridge=vmbr1")
            cfg = ok(running, "GET", "/nodes/pve1/qemu/300/config")
            seen.append((cfg["net0"], cfg["net1"]))
    assert seen[0] == seen[1]
    assert seen[0][0].split(",")[0].split("=")[1] != seen[0][1].split(",")[0].split("=")[1]
    assert seen[0][1].startswith("e1000=BC:24:11:") and seen[0][1].endswith(",bridge=vmbr1")


def test_config_update_allocates_keeps_mac_and_detaches(pve: Running) -> None:
    before = ok(pve, "GET", "/nodes/pve1/qemu/101/config")
    ok(pve, "PUT", "/nodes/pve1/qemu/101/config", net0="virtio,bridge=vmbr1,firewall=1", scsi1="ceph-vm:20")
    cfg = ok(pve, "GET", "/nodes/pve1/qemu/101/config")
    assert cfg["net0"] == "virtio=BC:24:11:00:01:01,bridge=vmbr1,firewall=1" and before["net0"].startswith(
        "virtio=BC:24:11:00:01:01"
    )
    assert cfg["scsi1"] == "ceph-vm:vm-101-disk-1,size=20G"
    ok(pve, "PUT", "/nodes/pve1/qemu/101/config", delete="scsi1")
    cfg = ok(pve, "GET", "/nodes/pve1/qemu/101/config")
    assert "scsi1" not in cfg and cfg["unused0"] == "ceph-vm:vm-101-disk-1"
    assert "ceph-vm:vm-101-disk-1" in {e["volid"] for e in content(pve, "pve1", "ceph-vm", vmid=101)}
    ok(pve, "PUT", "/nodes/pve1/qemu/101/config", delete="unused0")
    assert {e["volid"] for e in content(pve, "pve1", "ceph-vm", vmid=101)} == {"ceph-vm:vm-101-disk-0"}
    ok(pve, "PUT", "/nodes/pve1/qemu/101/config", scsi2="ceph-vm:1", scsi3="ceph-vm:1")
    ok(pve, "PUT", "/nodes/pve1/qemu/101/unlink", idlist="scsi2")
    ok(pve, "PUT", "/nodes/pve1/qemu/101/unlink", idlist="scsi3", force=1)
    cfg = ok(pve, "GET", "/nodes/pve1/qemu/101/config")
    assert "scsi2" not in cfg and "scsi3" not in cfg and cfg["unused0"] == "ceph-vm:vm-101-disk-1"
    assert {e["volid"] for e in content(pve, "pve1", "ceph-vm", vmid=101)} == {
        "ceph-vm:vm-101-disk-0",
        "ceph-vm:vm-101-disk-1",
    }


def test_resize_move_template_clone_destroy(pve: Running) -> None:
    ok(pve, "PUT", "/nodes/pve1/qemu/101/resize", disk="scsi0", size="+28G")
    assert ok(pve, "GET", "/nodes/pve1/qemu/101/config")["scsi0"] == "ceph-vm:vm-101-disk-0,size=128G"
    assert content(pve, "pve1", "ceph-vm", vmid=101)[0]["size"] == 128 * 1024**3
    r = pve.client.put("/nodes/pve1/qemu/101/resize", data={"disk": "scsi0", "size": "10G"})
    assert r.status_code == 500 and r.json()["message"] == "shrinking disks is not supported\n"
    ok(pve, "PUT", "/storage/local", content="iso,vztmpl,backup,images")  # a directory storage for VM disks
    ok(pve, "POST", "/nodes/pve1/qemu/101/move_disk", disk="scsi0", storage="local", delete=1)
    cfg = ok(pve, "GET", "/nodes/pve1/qemu/101/config")
    assert cfg["scsi0"] == "local:101/vm-101-disk-0.qcow2,size=128G" and "unused0" not in cfg
    assert [e["volid"] for e in content(pve, "pve1", "local", vmid=101, content="images")] == [
        "local:101/vm-101-disk-0.qcow2"
    ]
    assert content(pve, "pve1", "ceph-vm", vmid=101) == []
    ok(pve, "POST", "/nodes/pve1/qemu/101/move_disk", disk="scsi0", storage="ceph-vm")
    cfg = ok(pve, "GET", "/nodes/pve1/qemu/101/config")
    assert cfg["scsi0"] == "ceph-vm:vm-101-disk-0,size=128G" and cfg["unused0"] == "local:101/vm-101-disk-0.qcow2"
    ok(pve, "PUT", "/nodes/pve1/qemu/101/config", delete="unused0")
    ok(pve, "POST", "/nodes/pve1/qemu/101/template")
    cfg = ok(pve, "GET", "/nodes/pve1/qemu/101/config")
    assert cfg["scsi0"] == "ceph-vm:base-101-disk-0,size=128G" and cfg["template"] == 1
    ok(pve, "POST", "/nodes/pve1/qemu/101/clone", newid=120, name="linked")
    ok(pve, "POST", "/nodes/pve1/qemu/101/clone", newid=121, name="full", full=1)
    linked = ok(pve, "GET", "/nodes/pve1/qemu/120/config")
    full = ok(pve, "GET", "/nodes/pve1/qemu/121/config")
    assert linked["scsi0"] == "ceph-vm:base-101-disk-0/vm-120-disk-0,size=128G"
    assert full["scsi0"] == "ceph-vm:vm-121-disk-0,size=128G"
    macs = {linked["net0"].split(",")[0], full["net0"].split(",")[0], cfg["net0"].split(",")[0]}
    assert len(macs) == 3 and "template" not in linked
    listed = {e["volid"]: e for e in content(pve, "pve1", "ceph-vm")}
    assert listed["ceph-vm:base-101-disk-0/vm-120-disk-0"]["parent"] == "base-101-disk-0"
    ok(pve, "DELETE", "/nodes/pve1/qemu/121")
    assert content(pve, "pve1", "ceph-vm", vmid=121) == []


def test_container_volumes_follow_the_storage_type(pve: Running) -> None:
    ok(
        pve,
        "POST",
        "/nodes/pve2/lxc",
        vmid=210,
        ostemplate="local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        rootfs="ceph-vm:8",
        mp0="ceph-vm:16,mp=/srv",
        net0="name=eth0,bridge=vmbr0,ip=dhcp",
    )
    cfg = ok(pve, "GET", "/nodes/pve2/lxc/210/config")
    assert cfg["rootfs"] == "ceph-vm:vm-210-disk-0,size=8G"
    assert cfg["mp0"] == "ceph-vm:vm-210-disk-1,mp=/srv,size=16G"
    assert re.fullmatch(f"name=eth0,bridge=vmbr0,hwaddr={MAC},ip=dhcp,type=veth", cfg["net0"])
    ok(pve, "PUT", "/storage/local", content="iso,vztmpl,backup,rootdir")  # a directory storage for containers
    ok(
        pve,
        "POST",
        "/nodes/pve2/lxc",
        vmid=211,
        ostemplate="local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        storage="local",
    )
    assert ok(pve, "GET", "/nodes/pve2/lxc/211/config")["rootfs"] == "local:211/vm-211-disk-0.raw,size=4G"
    assert [e["content"] for e in content(pve, "pve2", "local", vmid=211)] == ["rootdir"]


def test_seeded_content_is_listed_as_pve_storage_lists_it(pve: Running) -> None:
    local = {e["volid"]: e for e in content(pve, "pve1", "local")}
    assert local["local:iso/debian-12.8.0-amd64-netinst.iso"] == {
        "volid": "local:iso/debian-12.8.0-amd64-netinst.iso",
        "content": "iso",
        "format": "iso",
        "size": 663748608,
        "ctime": 1763971200,
    }
    assert local["local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"]["format"] == "tzst"
    backup = local["local:backup/vzdump-qemu-100-2026_11_28-01_00_02.vma.zst"]
    assert (backup["content"], backup["format"], backup["subtype"], backup["vmid"]) == (
        "backup",
        "vma.zst",
        "qemu",
        100,
    )
    assert [e["content"] for e in content(pve, "pve1", "local", content="iso")] == ["iso", "iso"]
    # a guest's view: its backups, no ISO or template
    assert [e["volid"] for e in content(pve, "pve1", "local", vmid=100)] == [
        "local:backup/vzdump-qemu-100-2026_11_28-01_00_02.vma.zst"
    ]
    # `local` is not shared: pve2 has its own
    assert "local:iso/debian-12.8.0-amd64-netinst.iso" not in {e["volid"] for e in content(pve, "pve2", "local")}


def test_template_download_url_and_upload_create_volumes_when_the_task_ends(pve: Running) -> None:
    volid = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
    upid = ok(
        pve, "POST", "/nodes/pve1/aplinfo", storage="local", template="ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
    )
    assert ":download:ubuntu-24.04-standard_24.04-2_amd64.tar.zst:" in upid
    assert volid in {e["volid"] for e in content(pve, "pve1", "local", content="vztmpl")}
    # as PVE::API2::Nodes checks: the template must be on the node's list, then the storage hold templates
    r = pve.client.post("/nodes/pve1/aplinfo", data={"storage": "local", "template": "x.tar.zst"})
    assert (r.status_code, r.json()["errors"]) == (400, {"template": "no such template"})
    listed = "ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
    r = pve.client.post("/nodes/pve1/aplinfo", data={"storage": "ceph-vm", "template": listed})
    assert (r.status_code, r.json()["message"]) == (500, "storage 'ceph-vm' does not support templates\n")
    ok(
        pve,
        "POST",
        "/nodes/pve1/storage/local/download-url",
        content="iso",
        filename="alpine.iso",
        url="https://dl-cdn.alpinelinux.org/alpine/alpine.iso",
    )
    assert "local:iso/alpine.iso" in {e["volid"] for e in content(pve, "pve1", "local")}
    r = pve.client.post(
        "/nodes/pve1/storage/local/download-url", data={"content": "import", "filename": "x.qcow2", "url": "https://x/"}
    )
    assert r.json()["message"] == "storage 'local' is not configured for content-type 'import'\n"
    upid = pve.client.post(
        "/nodes/pve2/storage/local/upload", data={"content": "iso"}, files={"filename": ("tiny.iso", b"x" * 4096)}
    ).json()["data"]
    assert ":imgcopy:" in upid and done(pve, upid)["exitstatus"] == "OK"
    assert "local:iso/tiny.iso" in {e["volid"] for e in content(pve, "pve2", "local", content="iso")}


def test_vzdump_makes_backups_and_a_backup_restores(pve: Running) -> None:
    upid = ok(
        pve,
        "POST",
        "/nodes/pve1/vzdump",
        vmid="101",
        storage="local",
        compress="zstd",
        **{"notes-template": "{{guestname}} on {{node}}"},
    )
    assert ":vzdump:101:" in upid
    made = [e for e in content(pve, "pve1", "local", vmid=101) if e["ctime"] > 1764291880]
    assert len(made) == 1 and re.fullmatch(
        r"local:backup/vzdump-qemu-101-\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d\.vma\.zst", made[0]["volid"]
    )
    assert made[0]["notes"] == "db-01 on pve1" and made[0]["format"] == "vma.zst"
    # a guest on another node: vzdump on this node exits at once
    assert ok(pve, "POST", "/nodes/pve1/vzdump", vmid="200", storage="local") == "OK"
    ok(pve, "POST", "/nodes/pve2/vzdump", vmid="200", storage="local")
    assert any(e["format"] == "tar" for e in content(pve, "pve2", "local", vmid=200))
    # restore to a new VMID: the disks are allocated anew, the rest comes back
    ok(pve, "POST", "/nodes/pve1/qemu", vmid=301, archive=made[0]["volid"], storage="ceph-vm")
    cfg = ok(pve, "GET", "/nodes/pve1/qemu/301/config")
    assert cfg["name"] == "db-01" and cfg["memory"] == 8192 and cfg["scsi0"] == "ceph-vm:vm-301-disk-0,size=100G"
    r = pve.client.post("/nodes/pve1/qemu", data={"vmid": 302, "archive": "local:backup/nope.vma.zst"})
    assert (r.status_code, r.json()["message"]) == (500, "can't find file 'local:backup/nope.vma.zst'\n")
    # a container from a seeded backup
    ok(
        pve,
        "POST",
        "/nodes/pve2/lxc",
        vmid=202,
        restore=1,
        ostemplate="local:backup/vzdump-lxc-200-2026_11_28-01_00_03.tar.zst",
        storage="ceph-vm",
    )
    ct = ok(pve, "GET", "/nodes/pve2/lxc/202/config")
    assert ct["hostname"] == "dns-01" and ct["rootfs"] == "ceph-vm:vm-202-disk-0,size=8G"


def test_a_container_needs_its_template(pve: Running) -> None:
    upid = pve.client.post(
        "/nodes/pve2/lxc", data={"vmid": 220, "ostemplate": "local:vztmpl/nope.tar.zst", "storage": "ceph-vm"}
    ).json()["data"]
    status = done(pve, upid)
    assert status["exitstatus"] == "can't find file 'local:vztmpl/nope.tar.zst'"
    assert 220 not in [g["vmid"] for g in ok(pve, "GET", "/nodes/pve2/lxc")]


def test_not_backed_up_follows_the_backup_jobs(pve: Running) -> None:
    assert ok(pve, "GET", "/cluster/backup-info/not-backed-up") == []  # the seeded job covers 100, 101, 200
    ok(pve, "POST", "/nodes/pve1/qemu", vmid=170, name="new-one")
    assert ok(pve, "GET", "/cluster/backup-info/not-backed-up") == [{"vmid": 170, "type": "qemu", "name": "new-one"}]
    ok(pve, "POST", "/cluster/backup", id="everything", schedule="sun 02:00", all=1, exclude="101", storage="local")
    assert ok(pve, "GET", "/cluster/backup-info/not-backed-up") == []
    # destroy with purge: the job stops naming the guest
    ok(pve, "DELETE", "/nodes/pve1/qemu/101", purge=1)
    assert ok(pve, "GET", "/cluster/backup/backup-5a1c0e9d-7b21")["vmid"] == "100,200"


def test_one_volume_with_its_path(pve: Running) -> None:
    iso = ok(pve, "GET", "/nodes/pve1/storage/local/content/local:iso%2Fdebian-12.8.0-amd64-netinst.iso")
    assert iso == {
        "format": "iso",
        "size": 663748608,
        "used": 0,
        "path": "/var/lib/vz/template/iso/debian-12.8.0-amd64-netinst.iso",
    }
    disk = ok(pve, "GET", "/nodes/pve1/storage/ceph-vm/content/ceph-vm:vm-100-disk-0")
    assert disk["size"] == 32 * 1024**3 and disk["format"] == "raw" and disk["path"].startswith("rbd:vm/vm-100-disk-0")
    r = pve.client.get("/nodes/pve1/storage/ceph-vm/content/ceph-vm:vm-999-disk-0")
    assert r.status_code == 500


def test_allocating_an_image_and_destroying_its_guest(pve: Running) -> None:
    volid = ok(pve, "POST", "/nodes/pve1/storage/ceph-vm/content", filename="vm-101-disk-7", size="2G", vmid=101)
    assert volid == "ceph-vm:vm-101-disk-7"
    listed = {e["volid"]: e for e in content(pve, "pve1", "ceph-vm", vmid=101)}
    assert listed[volid]["size"] == 2 * 1024**3 and listed[volid]["content"] == "images"
    r = pve.client.post("/nodes/pve1/storage/ceph-vm/content", data={"filename": "vm-100-x", "size": "1G", "vmid": 101})
    assert r.json()["message"] == "illegal name 'vm-100-x' - should be 'vm-101-*'\n"
    ok(pve, "DELETE", "/nodes/pve1/qemu/101")
    assert content(pve, "pve1", "ceph-vm", vmid=101) == []
    # backups stay when their guest goes
    assert [e["content"] for e in content(pve, "pve1", "local", vmid=101)] == ["backup"]


def test_a_new_disk_takes_a_number_the_storage_has_free(pve: Running) -> None:
    """pve-storage names a new image after what the storage holds, a leftover image included."""
    ok(pve, "POST", "/nodes/pve1/storage/ceph-vm/content", filename="vm-150-disk-0", size="1G", vmid=150)
    ok(pve, "POST", "/nodes/pve1/qemu", vmid=150, scsi0="ceph-vm:2", scsi1="ceph-vm:1")
    cfg = ok(pve, "GET", "/nodes/pve1/qemu/150/config")
    assert cfg["scsi0"].startswith("ceph-vm:vm-150-disk-1,") and cfg["scsi1"].startswith("ceph-vm:vm-150-disk-2,")
    on_storage = sorted(e["volid"] for e in content(pve, "pve1", "ceph-vm", vmid=150))
    assert on_storage == ["ceph-vm:vm-150-disk-0", "ceph-vm:vm-150-disk-1", "ceph-vm:vm-150-disk-2"]
