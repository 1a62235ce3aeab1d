"""One id, one guest: a create holds its id cluster-wide from the request on, as PVE's config lock does.

qemu-server and pve-container write the new guest's configuration with only `lock: create` before
the worker forks (`create_and_lock_config`), so a second create of the id on any node fails at
once, lists show the guest while it is created, and a failed create removes it again.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from scenariod.wire import parse_upid

CLUSTER = """
scenariod: 1
name: one-id
auth: {mode: none}
time_scale: 1.0
state:
  /nodes:
    - {node: pve1}
    - {node: pve2}
  /nodes/pve1/qemu:
    - {vmid: 100, name: web-01, status: stopped}
  /pools:
    - {poolid: web}
tasks:
  - when: {method: POST, path: "/nodes/{node}/qemu", body: {vmid: "666"}}
    duration: 0.3s
    exitstatus: "unable to create VM 666 - no space left on device"
  - when: POST /nodes/{node}/qemu
    duration: 0.5s
  - when: POST /nodes/{node}/qemu/{vmid}/clone
    duration: 0.5s
"""


def wait(s, upid: str, timeout: float = 5.0) -> dict:
    node = parse_upid(upid)["node"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = s.client.get(f"/nodes/{node}/tasks/{upid}/status").json()["data"]
        if status["status"] == "stopped":
            return status
        time.sleep(0.05)
    raise AssertionError(f"task {upid} still running")


def vmids(s, node: str) -> dict[int, dict]:
    return {g["vmid"]: g for g in s.client.get(f"/nodes/{node}/qemu").json()["data"]}


def test_the_same_vmid_on_a_second_node_is_refused_while_the_first_create_runs(serve):
    s = serve(CLUSTER)
    first = s.client.post("/nodes/pve1/qemu", data={"vmid": 310, "name": "app", "memory": 1024})
    assert first.status_code == 200
    upid = first.json()["data"]
    second = s.client.post("/nodes/pve2/qemu", data={"vmid": 310, "name": "other"})
    assert second.status_code == 500
    assert second.json()["message"].strip() == "unable to create VM 310 - VM 310 already exists on node 'pve1'"
    # A container create of the id is refused as pve-container words it.
    ct = s.client.post("/nodes/pve2/lxc", data={"vmid": 310, "ostemplate": "local:vztmpl/x.tar.zst"})
    assert ct.json()["message"].strip() == "unable to create CT 310 - VM 310 already exists on node 'pve1'"

    # While the task runs the guest is there, locked, with only the lock in its configuration.
    assert s.client.get(f"/nodes/pve1/tasks/{upid}/status").json()["data"]["status"] == "running"
    creating = vmids(s, "pve1")[310]
    assert creating["lock"] == "create" and creating["status"] == "stopped" and creating["name"] == "VM 310"
    config = s.client.get("/nodes/pve1/qemu/310/config").json()["data"]
    assert {k: v for k, v in config.items() if k != "digest"} == {"lock": "create"}
    resources = s.client.get("/cluster/resources", params={"type": "vm"}).json()["data"]
    assert [r["node"] for r in resources if r["vmid"] == 310] == ["pve1"]
    # Other operations meet the lock, as on a real node.
    locked = s.client.put("/nodes/pve1/qemu/310/config", data={"cores": 2})
    assert locked.status_code == 500 and "VM 310 is locked (create)" in locked.json()["message"]

    assert wait(s, upid)["exitstatus"] == "OK"
    assert 310 not in vmids(s, "pve2")
    created = vmids(s, "pve1")[310]
    assert created["name"] == "app" and "lock" not in created
    config = s.client.get("/nodes/pve1/qemu/310/config").json()["data"]
    assert config["memory"] in (1024, "1024") and "lock" not in config
    # And after it, still refused anywhere in the cluster.
    again = s.client.post("/nodes/pve2/qemu", data={"vmid": 310})
    assert again.json()["message"].strip() == "unable to create VM 310 - VM 310 already exists on node 'pve1'"


def test_fifty_parallel_creates_of_one_vmid_one_wins(serve):
    s = serve(CLUSTER)

    async def create(client: httpx.AsyncClient, i: int) -> httpx.Response:
        return await client.post(f"{s.api}/nodes/pve{1 + i % 2}/qemu", data={"vmid": 420, "name": f"race-{i}"})

    async def race() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            return await asyncio.gather(*(create(client, i) for i in range(50)))

    answers = asyncio.run(race())
    won = [r for r in answers if r.status_code == 200]
    lost = [r for r in answers if r.status_code != 200]
    assert len(won) == 1 and len(lost) == 49
    node = parse_upid(won[0].json()["data"])["node"]
    assert {r.status_code for r in lost} == {500}
    assert {r.json()["message"].strip() for r in lost} == {
        f"unable to create VM 420 - VM 420 already exists on node '{node}'"
    }
    assert wait(s, won[0].json()["data"])["exitstatus"] == "OK"
    holders = [n for n in ("pve1", "pve2") if 420 in vmids(s, n)]
    assert holders == [node]


def test_a_failed_create_task_releases_the_id(serve):
    s = serve(CLUSTER)
    upid = s.client.post("/nodes/pve1/qemu", data={"vmid": 666, "name": "doomed"}).json()["data"]
    assert vmids(s, "pve1")[666]["lock"] == "create"
    refused = s.client.post("/nodes/pve2/qemu", data={"vmid": 666})
    assert refused.status_code == 500
    status = wait(s, upid)
    assert status["exitstatus"] == "unable to create VM 666 - no space left on device"
    assert 666 not in vmids(s, "pve1")
    missing = s.client.get("/nodes/pve1/qemu/666/config")
    assert missing.status_code == 500 and "does not exist" in missing.json()["message"]
    # The id is free again: nextid offers it and a create on another node gets it.
    assert s.client.get("/cluster/nextid", params={"vmid": 666}).json()["data"] == "666"
    retry = s.client.post("/nodes/pve2/qemu", data={"vmid": 667})
    assert retry.status_code == 200


def test_a_stopped_create_task_releases_the_id(serve):
    s = serve(CLUSTER)
    upid = s.client.post("/nodes/pve1/qemu", data={"vmid": 500}).json()["data"]
    assert s.client.delete(f"/nodes/pve1/tasks/{upid}").status_code == 200
    assert wait(s, upid)["exitstatus"] != "OK"
    assert 500 not in vmids(s, "pve1")


def test_nextid_skips_a_reserved_id(serve):
    s = serve(CLUSTER)
    assert s.client.get("/cluster/nextid").json()["data"] == "101"
    upid = s.client.post("/nodes/pve2/qemu", data={"vmid": 101}).json()["data"]
    assert s.client.get(f"/nodes/pve2/tasks/{upid}/status").json()["data"]["status"] == "running"
    assert s.client.get("/cluster/nextid").json()["data"] == "102"
    taken = s.client.get("/cluster/nextid", params={"vmid": 101})
    assert taken.status_code == 400


def test_clone_holds_its_newid_and_releases_it_on_failure(serve):
    s = serve(CLUSTER)
    upid = s.client.post("/nodes/pve1/qemu/100/clone", data={"newid": 120, "target": "pve2"}).json()["data"]
    during = vmids(s, "pve1")[120]
    assert during["lock"] == "clone"
    dup = s.client.post("/nodes/pve1/qemu/100/clone", data={"newid": 120})
    assert dup.status_code == 500
    assert dup.json()["message"].strip() == "unable to create VM 120: config file already exists"
    create = s.client.post("/nodes/pve2/qemu", data={"vmid": 120})
    assert create.json()["message"].strip() == "unable to create VM 120 - VM 120 already exists on node 'pve1'"
    assert wait(s, upid)["exitstatus"] == "OK"
    assert 120 not in vmids(s, "pve1") and "lock" not in vmids(s, "pve2")[120]

    # A clone stopped part way leaves nothing behind.
    upid = s.client.post("/nodes/pve1/qemu/100/clone", data={"newid": 121}).json()["data"]
    assert 121 in vmids(s, "pve1")
    s.client.delete(f"/nodes/pve1/tasks/{upid}")
    assert wait(s, upid)["exitstatus"] != "OK"
    assert 121 not in vmids(s, "pve1")


def test_duplicate_cluster_wide_keys_are_refused_with_proxmox_wording(serve):
    s = serve(CLUSTER)
    cases = [
        ("/pools", {"poolid": "web"}, "create pool failed: pool 'web' already exists"),
        ("/storage", {"storage": "local", "type": "dir", "path": "/srv"}, "storage ID 'local' already defined"),
    ]
    assert s.client.post("/access/users", data={"userid": "bob@pve"}).status_code == 200
    cases.append(("/access/users", {"userid": "bob@pve"}, "create user failed: user 'bob@pve' already exists"))
    assert s.client.post("/access/groups", data={"groupid": "ops"}).status_code == 200
    cases.append(("/access/groups", {"groupid": "ops"}, "create group failed: group 'ops' already exists"))
    token = "/access/users/bob@pve/token/ci"
    assert s.client.post(token).status_code == 200
    cases.append((token, {}, "Token already exists."))
    assert s.client.post("/cluster/ha/resources", data={"sid": "vm:100"}).status_code == 200
    cases.append(("/cluster/ha/resources", {"sid": "vm:100"}, "resource ID 'vm:100' already defined"))
    job = {"id": "nightly", "schedule": "01:00", "storage": "local", "all": 1}
    assert s.client.post("/cluster/backup", data=job).status_code == 200
    cases.append(("/cluster/backup", job, "Job 'nightly' already exists"))
    for path, data, message in cases:
        answer = s.client.post(path, data=data)
        assert answer.status_code == 500, (path, answer.text)
        assert answer.json()["message"].strip() == message


RESTORE = """
scenariod: 1
name: one-id-restore
auth: {mode: none}
time_scale: 1.0
state:
  /nodes:
    - {node: pve1}
  /nodes/pve1/storage/local/content:
    - {volid: "local:backup/vzdump-qemu-100-2026_11_28-01_00_02.vma.zst", size: 3221225472, ctime: 1764291602}
tasks:
  - when: {method: POST, path: "/nodes/{node}/qemu", body: {vmid: "131"}}
    duration: 0.3s
    exitstatus: "unable to restore VM 131 - command 'vma extract' failed: exit code 133"
  - when: POST /nodes/{node}/qemu
    duration: 0.5s
"""
BACKUP = "local:backup/vzdump-qemu-100-2026_11_28-01_00_02.vma.zst"


def test_restore_holds_its_vmid_and_a_failed_restore_keeps_an_unlocked_guest(serve):
    s = serve(RESTORE)
    upid = s.client.post("/nodes/pve1/qemu", data={"vmid": 130, "archive": BACKUP}).json()["data"]
    assert vmids(s, "pve1")[130]["lock"] == "create"
    dup = s.client.post("/nodes/pve1/qemu", data={"vmid": 130, "archive": BACKUP})
    assert dup.json()["message"].strip() == "unable to restore VM 130 - VM 130 already exists on node 'pve1'"
    assert wait(s, upid)["exitstatus"] == "OK"
    assert "lock" not in vmids(s, "pve1")[130]

    # qemu-server unlocks a failed restore but does not clean it up ("VM 131 state is NOT cleaned up").
    upid = s.client.post("/nodes/pve1/qemu", data={"vmid": 131, "archive": BACKUP}).json()["data"]
    assert wait(s, upid)["exitstatus"].startswith("unable to restore VM 131")
    left = vmids(s, "pve1")[131]
    assert "lock" not in left and left["name"] == "VM 131"
    config = s.client.get("/nodes/pve1/qemu/131/config").json()["data"]
    assert "lock" not in config
