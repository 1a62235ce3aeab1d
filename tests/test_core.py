"""The core over real HTTP: front door, 501s, validation, generic CRUD, synthesized leaves."""

from __future__ import annotations

import httpx
import pytest
from sweep import bindings, required_query, type_ok

from scenariod import wire
from scenariod.generic import digest_of
from scenariod.proxmox.node import CEPH_READS

NO_AUTH = """
scenariod: 1
name: plain
auth: {mode: none}
seed: 3
state:
  /nodes:
    - {node: pve1, status: online}
  /nodes/pve1/qemu:
    - {vmid: 100, name: web-01, status: running}
  /nodes/pve1/aplinfo:
    - {template: debian-12-standard_12.7-1_amd64.tar.zst, type: lxc, os: debian-12, package: debian-12-standard,
       section: system, version: "12.7-1", headline: Debian 12 Bookworm, description: Debian 12, infopage: x,
       location: x, maintainer: x, md5sum: x, sha512sum: x, source: x}
"""


def test_front_door(serve):
    s = serve(NO_AUTH)
    assert httpx.get(f"{s.url}/health").json() == {"status": "ok"}
    root = httpx.get(f"{s.url}/").json()
    assert root["service"] == "pve" and root["scenario"] == "plain" and root["scenariod"]
    spec = httpx.get(f"{s.url}/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "/api2/json/nodes/{node}/qemu" in spec["paths"]


def test_unknown_path_and_method_answer_501_as_proxmox(serve):
    s = serve(NO_AUTH)
    r = s.client.get("/nodes/pve1/bogus")
    assert r.status_code == 501
    assert r.reason_phrase == "Method 'GET /api2/json/nodes/pve1/bogus' not implemented"
    assert r.json() == {"data": None, "message": "Method 'GET /api2/json/nodes/pve1/bogus' not implemented\n"}
    r = s.client.put("/version")
    assert r.status_code == 501 and "PUT /api2/json/version" in r.json()["message"]


def test_parameter_validation_answers_400_with_errors(serve):
    s = serve(NO_AUTH)
    r = s.client.post("/nodes/pve1/qemu", data={"vmid": "abc", "bogus": "1", "net0": "virtio,nosuchkey=1"})
    assert r.status_code == 400
    assert r.reason_phrase == "Parameter verification failed."
    body = r.json()
    assert body["data"] is None
    errors = body["errors"]
    assert errors["vmid"] == "type check ('integer') failed - got 'abc'"
    assert errors["bogus"] == "property is not defined in schema and the schema does not allow additional properties"
    assert "invalid key in comma-separated list property: nosuchkey" in errors["net0"]
    # JSON bodies are validated the same way.
    r = s.client.post("/nodes/pve1/qemu", json={"vmid": 5, "cores": 0})
    assert r.status_code == 400
    assert r.json()["errors"]["cores"] == "value must have a minimum value of 1"
    assert r.json()["errors"]["vmid"].startswith("invalid format - value does not look like a valid VM ID")
    # Query parameters of a GET too.
    r = s.client.get("/nodes/pve1/network", params={"type": "nonsense"})
    assert r.status_code == 400 and "enumeration" in r.json()["errors"]["type"]


def test_malformed_json_body_is_a_proxmox_error_not_a_traceback(serve):
    s = serve(NO_AUTH)
    r = s.client.post("/pools", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["data"] is None and "malformed JSON" in r.json()["message"]


def test_collection_crud_with_delete_and_digest(serve):
    s = serve(NO_AUTH)
    c = s.client
    assert c.post("/pools", data={"poolid": "dev", "comment": "developers"}).status_code == 200
    dup = c.post("/pools", data={"poolid": "dev"})
    assert dup.status_code == 500 and "already exists" in dup.json()["message"]
    assert {"poolid": "dev", "comment": "developers"}.items() <= c.get("/pools").json()["data"][0].items()
    # Filtering a listing on a query parameter that is an item field.
    c.post("/pools", data={"poolid": "ops"})
    assert [p["poolid"] for p in c.get("/pools", params={"poolid": "ops"}).json()["data"]] == ["ops"]
    # An item with a digest: a stale digest is refused, `delete` removes keys.
    created = c.post("/cluster/ha/resources", data={"sid": "vm:100", "comment": "web", "max_restart": 2})
    assert created.status_code == 200, created.text
    item = c.get("/cluster/ha/resources/vm:100").json()["data"]
    assert item["comment"] == "web" and len(item["digest"]) == 40
    stale = c.put("/cluster/ha/resources/vm:100", data={"max_restart": 3, "digest": "0" * 40})
    assert stale.status_code == 500
    assert stale.json()["message"] == "checksum mismatch (file change by other user?)\n"
    ok = c.put("/cluster/ha/resources/vm:100", data={"max_restart": 3, "delete": "comment", "digest": item["digest"]})
    assert ok.status_code == 200, ok.text
    after = c.get("/cluster/ha/resources/vm:100").json()["data"]
    assert after["max_restart"] == 3 and "comment" not in after
    # A leaf nobody seeded keeps what a client writes to it.
    c.put("/cluster/options", data={"keyboard": "de"})
    assert c.get("/cluster/options").json()["data"]["keyboard"] == "de"
    # DELETE removes the item and everything below it.
    assert c.delete("/pools/dev").status_code == 200
    assert c.get("/pools/dev").status_code == 500
    assert [p["poolid"] for p in c.get("/pools").json()["data"]] == ["ops"]


@pytest.mark.parametrize(("service", "hexdigits"), [("pve", 40), ("pbs", 64), ("pdm", 64)])
def test_digest_of_is_the_services_hash_of_the_content(service: str, hexdigits: int) -> None:
    value = {"search": "example.org", "dns1": "192.0.2.53"}
    digest = digest_of(value, service)
    assert len(digest) == hexdigits and int(digest, 16) >= 0
    assert digest_of({**value, "digest": "stale"}, service) == digest  # its own digest is not content
    assert digest_of(dict(reversed(value.items())), service) == digest  # nor is key order
    assert digest_of({**value, "search": "example.com"}, service) != digest


@pytest.mark.parametrize("service", ["pbs", "pdm"])
def test_generic_config_digest_on_pbs_and_pdm_is_sha256_and_guards_updates(serve, service: str) -> None:
    """PBS and PDM declare `digest` as `^[a-f0-9]{64}$`: a SHA-1 could not even be sent back."""
    s = serve(f"scenariod: 1\nname: {service}\nservice: {service}\nauth: {{mode: none}}\n")
    c = s.client
    first = c.get("/nodes/localhost/dns").json()["data"]
    assert len(first["digest"]) == 64 and first["digest"] == digest_of(first, service)
    assert c.get("/nodes/localhost/dns").json()["data"] == first  # the first answer's digest is the kept one's
    ok = c.put("/nodes/localhost/dns", data={"search": "example.org", "digest": first["digest"]})
    assert ok.status_code == 200, ok.text
    after = c.get("/nodes/localhost/dns").json()["data"]
    assert after["search"] == "example.org" and after["digest"] != first["digest"]
    stale = c.put("/nodes/localhost/dns", data={"search": "example.com", "digest": first["digest"]})
    assert stale.status_code == 500
    assert stale.json()["message"] == "checksum mismatch (file change by other user?)\n"


def test_directory_index_lists_children(serve):
    s = serve(NO_AUTH)
    names = {e["subdir"] for e in s.client.get("/nodes/pve1/qemu/100").json()["data"]}
    assert {"config", "status", "snapshot"} <= names
    names = {e["name"] for e in s.client.get("/nodes/pve1").json()["data"]}
    assert {"qemu", "lxc", "storage", "tasks"} <= names


def test_missing_objects_are_proxmox_errors(serve):
    s = serve(NO_AUTH)
    r = s.client.get("/nodes/pve1/qemu/999/config")
    assert r.status_code == 500
    assert r.json()["message"] == "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist\n"
    assert r.reason_phrase == "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist"
    assert s.client.get("/nodes/nosuchnode/network").status_code == 500
    assert s.client.get("/storage/nosuch").json()["message"] == "storage 'nosuch' does not exist\n"


def test_unseeded_leaf_is_generated_deterministically_and_kept(serve, tmp_path):
    s = serve(NO_AUTH)
    first = s.client.get("/nodes/pve1/config").json()["data"]
    assert isinstance(first, dict)
    assert s.client.get("/nodes/pve1/config").json()["data"] == first
    # The same scenario (same seed) answers the same value in another run.
    other = serve(NO_AUTH)
    assert other.client.get("/nodes/pve1/config").json()["data"] == first
    # ... and a different seed answers something else.
    reseeded = serve(NO_AUTH.replace("seed: 3", "seed: 4"))
    assert reseeded.client.get("/nodes/pve1/config").json()["data"] != s.client.get("/nodes/pve1/config").json()["data"]
    # An update to a generated leaf is kept.
    s.client.put("/nodes/pve1/config", data={"description": "rack 4"})
    assert s.client.get("/nodes/pve1/config").json()["data"]["description"] == "rack 4"


def test_seeded_list_leaf_is_served_as_seeded(serve):
    s = serve(NO_AUTH)
    data = s.client.get("/nodes/pve1/aplinfo").json()["data"]
    assert [d["template"] for d in data] == ["debian-12-standard_12.7-1_amd64.tar.zst"]


def test_empty_scenario_is_a_plausible_single_node(serve):
    s = serve("scenariod: 1\nname: empty\nauth: {mode: none}\n")
    nodes = s.client.get("/nodes").json()["data"]
    assert [n["node"] for n in nodes] == ["pve"] and nodes[0]["status"] == "online"
    storages = {st["storage"] for st in s.client.get("/nodes/pve/storage").json()["data"]}
    assert storages == {"local", "local-lvm"}
    assert s.client.get("/version").json()["data"]["release"]
    assert s.client.get("/cluster/nextid").json()["data"] == "100"


def test_extjs_format(serve):
    s = serve(NO_AUTH)
    ok = httpx.get(f"{s.url}/api2/extjs/version").json()
    assert ok["success"] == 1 and ok["data"]["version"]
    bad = httpx.get(f"{s.url}/api2/extjs/nodes/pve1/qemu/999/config")
    assert bad.status_code == 200
    body = bad.json()
    assert body["success"] == 0 and body["status"] == 500 and "does not exist" in body["message"]


def test_every_bindable_get_path_answers_its_declared_type(two_node):
    """Every GET path of the PVE API whose parameters bind from the seed answers 200."""
    api = two_node.service.scenario.api
    store = two_node.service.world.store
    answered, skipped, failures = 0, [], []
    for node, path in bindings(api, store):
        query = required_query(node)
        if path is None or query is None:
            skipped.append(node.path)
            continue
        r = two_node.client.get(path, params=query)
        returns = node.ops["GET"].returns
        if node.path == "/cluster/nextid":  # declared integer; a real node sends a string
            returns = {"type": "string"}
        if r.status_code == 500 and node.path in CEPH_READS:  # a node without Ceph refuses
            assert r.json()["message"] == wire.CEPH_NOT_INSTALLED + "\n"
        elif r.status_code == 500 and node.path.endswith(
            "/agent/network-get-interfaces"
        ):  # no `agent` in the VM's config
            assert r.json()["message"] == wire.AGENT_NOT_CONFIGURED + "\n"
        elif r.status_code != 200 or not type_ok(returns, r.json().get("data")):
            failures.append(f"{path}: {r.status_code} {r.text[:160]}")
        answered += 1
    assert not failures, "\n".join(failures)
    assert answered >= 215, (answered, skipped)  # two-node binds 221 of 340 GET paths
