"""Real clients, unchanged, over HTTPS: proxmoxer workflows and prometheus-pve-exporter."""

from __future__ import annotations

import re
import ssl

import httpx
import pytest
from conftest import SCENARIOS, serving
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException
from proxmoxer.tools import Tasks

TOKEN = ("root@pam", "ci", "5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10")


@pytest.fixture
def https(tmp_path, monkeypatch):
    """scenarios/two-node.yaml over HTTPS with a certificate made for this test."""
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path))
    yield from serving(SCENARIOS / "two-node.yaml", tls=True)


def _port(running) -> int:
    return running.service.port


def password_client(running) -> ProxmoxAPI:
    return ProxmoxAPI(
        "127.0.0.1", port=_port(running), user="root@pam", password="secret", verify_ssl=running.ca_file, timeout=10
    )


def test_certificate_verifies_against_the_printed_ca(https):
    assert https.ca_file
    ctx = ssl.create_default_context(cafile=https.ca_file)
    r = httpx.get(f"{https.url}/health", verify=ctx)
    assert r.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{https.url}/health", verify=ssl.create_default_context())


def test_proxmoxer_guest_lifecycle_with_a_password(https):
    pve = password_client(https)
    node = pve.nodes("pve1")
    vmid = int(pve.cluster.nextid.get())
    assert vmid == 102
    upid = node.qemu.post(vmid=vmid, name="ci-vm", memory=1024, cores=2, net0="virtio,bridge=vmbr0", scsi0="ceph-vm:32")
    assert upid.startswith("UPID:pve1:") and ":qmcreate:102:root@pam:" in upid
    # The id is held at once (a config with only `lock: create`); the configuration lands when the task ends.
    assert pve.nodes("pve1").tasks(upid).status.get()["status"] == "running"
    creating = next(g for g in node.qemu.get() if g["vmid"] == vmid)
    assert creating["lock"] == "create" and creating["name"] == f"VM {vmid}"
    status = Tasks.blocking_status(pve, upid, timeout=10, polling_interval=0.1)
    assert status["status"] == "stopped" and status["exitstatus"] == "OK"
    created = next(g for g in node.qemu.get() if g["vmid"] == vmid)
    assert created["name"] == "ci-vm" and "lock" not in created

    upid = node.qemu(vmid).status.start.post()
    assert Tasks.blocking_status(pve, upid, polling_interval=0.1)["exitstatus"] == "OK"
    log = node.tasks(upid).log.get()
    assert log[-1] == {"n": len(log), "t": "TASK OK"}
    assert node.qemu(vmid).status.current.get()["status"] == "running"
    vm = next(r for r in pve.cluster.resources.get(type="vm") if r["vmid"] == vmid)
    assert vm["status"] == "running" and vm["node"] == "pve1" and vm["maxmem"] == 1024 * 1024**2

    # Starting a running VM: PVE answers a UPID and the worker fails.
    upid = node.qemu(vmid).status.start.post()
    failed = Tasks.blocking_status(pve, upid, polling_interval=0.1)
    assert failed["exitstatus"] == f"VM {vmid} already running"
    assert node.tasks(upid).log.get()[-1]["t"] == f"TASK ERROR: VM {vmid} already running"

    config = node.qemu(vmid).config.get()
    node.qemu(vmid).config.put(memory=2048, delete="net0", digest=config["digest"])
    config = node.qemu(vmid).config.get()
    assert config["memory"] in (2048, "2048") and "net0" not in config
    with pytest.raises(ResourceException) as stale:
        node.qemu(vmid).config.put(cores=4, digest="0" * 40)
    assert stale.value.status_code == 500

    upid = node.qemu(vmid).status.stop.post()
    Tasks.blocking_status(pve, upid, polling_interval=0.1)
    assert node.qemu(vmid).status.current.get()["status"] == "stopped"
    upid = node.qemu(vmid).delete()
    Tasks.blocking_status(pve, upid, polling_interval=0.1)
    with pytest.raises(ResourceException) as gone:
        node.qemu(vmid).config.get()
    assert gone.value.status_code == 500
    assert f"qemu-server/{vmid}.conf' does not exist" in gone.value.content
    assert vmid not in [r.get("vmid") for r in pve.cluster.resources.get()]

    tasks = node.tasks.get(typefilter="qmstart", vmid=vmid)
    assert len(tasks) == 2 and {t["status"] for t in tasks} == {"OK", f"VM {vmid} already running"}
    assert node.tasks.get(errors=1, vmid=vmid)[0]["status"] == f"VM {vmid} already running"
    assert any(t["upid"] == upid for t in pve.cluster.tasks.get())


def test_proxmoxer_with_an_api_token(https):
    user, name, secret = TOKEN
    pve = ProxmoxAPI(
        "127.0.0.1", port=_port(https), user=user, token_name=name, token_value=secret, verify_ssl=https.ca_file
    )
    assert {n["node"] for n in pve.nodes.get()} == {"pve1", "pve2"}
    pve.pools.post(poolid="by-token")
    assert "by-token" in [p["poolid"] for p in pve.pools.get()]
    bad = ProxmoxAPI(
        "127.0.0.1", port=_port(https), user=user, token_name=name, token_value="wrong", verify_ssl=https.ca_file
    )
    with pytest.raises(ResourceException) as denied:
        bad.nodes.get()
    assert denied.value.status_code == 401


def test_clone_migrate_snapshots_and_locks(https):
    pve = password_client(https)
    node = pve.nodes("pve1")
    wait = lambda upid: Tasks.blocking_status(pve, upid, polling_interval=0.1)  # noqa: E731

    assert wait(node.qemu(101).clone.post(newid=300, name="db-clone", target="pve2"))["exitstatus"] == "OK"
    clone = pve.nodes("pve2").qemu(300).config.get()
    assert clone["name"] == "db-clone" and clone["cores"] == 4
    with pytest.raises(ResourceException):
        node.qemu(101).clone.post(newid=100)  # taken

    assert wait(pve.nodes("pve2").qemu(300).migrate.post(target="pve1"))["exitstatus"] == "OK"
    assert [r["node"] for r in pve.cluster.resources.get(type="vm") if r["vmid"] == 300] == ["pve1"]
    with pytest.raises(ResourceException):
        pve.nodes("pve2").qemu(300).config.get()
    with pytest.raises(ResourceException) as running:
        node.qemu(100).migrate.post(target="pve2")  # running, no --online
    assert "online" in running.value.content

    assert wait(node.qemu(101).snapshot.post(snapname="before", description="pre-change"))["exitstatus"] == "OK"
    names = [s["name"] for s in node.qemu(101).snapshot.get()]
    assert names == ["before", "current"]
    node.qemu(101).config.put(cores=8)
    assert wait(node.qemu(101).snapshot("before").rollback.post())["exitstatus"] == "OK"
    assert node.qemu(101).config.get()["cores"] == 4
    assert wait(node.qemu(101).snapshot("before").delete())["exitstatus"] == "OK"
    assert [s["name"] for s in node.qemu(101).snapshot.get()] == ["current"]

    # A locked guest is refused with PVE's words.
    https.service.world.store.set("/nodes/pve1/qemu/101/config", {**node.qemu(101).config.get(), "lock": "backup"})
    with pytest.raises(ResourceException) as locked:
        node.qemu(101).config.put(cores=2)
    assert "VM 101 is locked (backup)" in locked.value.content

    with pytest.raises(ResourceException) as dup:
        node.qemu.post(vmid=200)  # the container's vmid on another node
    assert "unable to create VM 200 - CT 200 already exists on node 'pve2'" in dup.value.content


def test_container_lifecycle(https):
    pve = password_client(https)
    node = pve.nodes("pve2")
    wait = lambda upid: Tasks.blocking_status(pve, upid, polling_interval=0.1)  # noqa: E731
    upid = node.lxc.post(
        vmid=201,
        hostname="ct-01",
        ostemplate="local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        storage="ceph-vm",  # `local` holds no container directories
        memory=256,
        net0="name=eth0,bridge=vmbr0,ip=dhcp",
    )
    assert ":vzcreate:201:" in upid and wait(upid)["exitstatus"] == "OK"
    assert node.lxc(201).config.get()["hostname"] == "ct-01"
    assert wait(node.lxc(201).status.start.post())["exitstatus"] == "OK"
    assert [r["status"] for r in pve.cluster.resources.get(type="vm") if r["vmid"] == 201] == ["running"]
    assert wait(node.lxc(201).status.shutdown.post())["exitstatus"] == "OK"
    assert wait(node.lxc(201).delete())["exitstatus"] == "OK"
    assert 201 not in [g["vmid"] for g in node.lxc.get()]


def test_prometheus_pve_exporter_scrapes_the_cluster(https):
    from pve_exporter.collector import CollectorsOptions, collect_pve

    options = CollectorsOptions(
        status=True,
        version=True,
        subscription=True,
        node=True,
        cluster=True,
        resources=True,
        backup_info=True,
        config=True,
        replication=True,
        qdevice=True,
    )
    config = {"user": "root@pam", "password": "secret", "verify_ssl": https.ca_file, "port": _port(https)}
    text = collect_pve(config, "127.0.0.1", cluster=True, node="pve1", options=options).decode()
    assert 'pve_up{id="node/pve1"} 1.0' in text
    assert 'pve_up{id="qemu/100"} 1.0' in text and 'pve_up{id="qemu/101"} 0.0' in text
    assert 'pve_guest_info{id="lxc/200",name="dns-01",node="pve2"' in text
    assert 'pve_version_info{release="9.2"' in text
    assert 'pve_memory_size_bytes{id="qemu/100"} 2.147483648e+09' in text
    assert "pve_storage_info" in text or 'pve_disk_size_bytes{id="storage/pve1/local"}' in text


def _is_pve(path) -> bool:
    found = re.search(r"^service:\s*(\w+)", path.read_text(), re.M)
    return found is None or found.group(1) == "pve"


PVE_SCENARIOS = sorted(p for p in SCENARIOS.rglob("*.yaml") if _is_pve(p))


@pytest.mark.parametrize("path", PVE_SCENARIOS, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_prometheus_pve_exporter_scrapes_every_pinned_scenario(path, tmp_path, monkeypatch):
    """Every collector of the exporter over every pinned PVE scenario: no exception, no label value
    that looks generated, and only guests that exist (and no job covers) as not backed up."""
    from pve_exporter.collector import CollectorsOptions, collect_pve

    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path))
    options = CollectorsOptions(
        status=True,
        version=True,
        subscription=True,
        node=True,
        cluster=True,
        resources=True,
        backup_info=True,
        config=True,
        replication=True,
        qdevice=True,
    )
    for running in serving(path, tls=True, login=True):
        local = next(e["name"] for e in running.client.get("/cluster/status").json()["data"] if e.get("local"))
        config = {"user": "root@pam", "password": "secret", "verify_ssl": running.ca_file, "port": _port(running)}
        text = collect_pve(config, "127.0.0.1", cluster=True, node=local, options=options).decode()
        labels = re.findall(r'(\w+)="([^"]*)"', text)
        assert labels
        generated = [f"{k}={v}" for k, v in labels if re.fullmatch(rf"{re.escape(k)}\d+", v, re.I)]
        assert not generated, generated
        guests = {
            f"{r['type']}/{r['vmid']}"
            for r in running.client.get("/cluster/resources", params={"type": "vm"}).json()["data"]
        }
        not_backed_up = set(re.findall(r'pve_not_backed_up_info\{id="([^"]+)"\}', text))
        assert not_backed_up <= guests, not_backed_up - guests
        assert f'pve_up{{id="node/{local}"}} 1.0' in text
        assert 'pve_subscription_status{id="node/' in text
