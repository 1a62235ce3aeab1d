"""Cluster views agree with each other and follow what clients do (two-node, over HTTP)."""

from __future__ import annotations

import httpx


def test_resources_nodes_and_lists_agree(two_node):
    c = two_node.client
    resources = c.get("/cluster/resources").json()["data"]
    by_id = {r["id"]: r for r in resources}
    assert {
        "node/pve1",
        "node/pve2",
        "qemu/100",
        "qemu/101",
        "lxc/200",
        "storage/pve1/local",
        "storage/pve2/ceph-vm",
        "/pool/web",
    } <= by_id.keys()
    for node in c.get("/nodes").json()["data"]:
        res = by_id[f"node/{node['node']}"]
        assert (res["maxcpu"], res["maxmem"], res["status"]) == (node["maxcpu"], node["maxmem"], node["status"])
    vm = next(g for g in c.get("/nodes/pve1/qemu").json()["data"] if g["vmid"] == 100)
    assert (vm["name"], vm["status"], vm["maxmem"]) == (by_id["qemu/100"]["name"], "running", 2048 * 1024**2)
    assert c.get("/nodes/pve1/qemu/100/config").json()["data"]["name"] == vm["name"]
    assert by_id["qemu/100"]["pool"] == "web"
    assert [r["type"] for r in c.get("/cluster/resources", params={"type": "vm"}).json()["data"]] == [
        "qemu",
        "qemu",
        "lxc",
    ]
    assert {r["type"] for r in c.get("/cluster/resources", params={"type": "storage"}).json()["data"]} == {"storage"}
    ext = httpx.get(
        f"{two_node.url}/api2/extjs/cluster/resources", params={"type": "node"}, cookies=two_node.client.cookies
    ).json()
    assert ext["success"] == 1 and len(ext["data"]) == 2


def test_cluster_status_node_status_nextid_version(two_node):
    c = two_node.client
    status = c.get("/cluster/status").json()["data"]
    assert status[0]["type"] == "cluster" and status[0]["nodes"] == 2 and status[0]["quorate"] == 1
    assert [s["name"] for s in status[1:]] == ["pve1", "pve2"]
    node = c.get("/nodes/pve1/status").json()["data"]
    assert node["memory"]["total"] == 68719476736 and node["cpuinfo"]["cpus"] == 16
    assert node["pveversion"].startswith("pve-manager/9.2")
    assert c.get("/cluster/nextid").json()["data"] == "102"
    taken = c.get("/cluster/nextid", params={"vmid": 100})
    assert taken.status_code == 400 and "VM 100 already exists" in taken.json()["message"]
    assert c.get("/version").json()["data"]["release"] == "9.2"
    storage = {s["storage"]: s for s in c.get("/nodes/pve2/storage").json()["data"]}
    assert set(storage) == {"local", "ceph-vm"} and storage["ceph-vm"]["shared"] == 1
