"""Proxmox Backup Server: auth, tasks and datastore behaviour over real HTTPS, with proxmoxer in
PBS mode and httpx, and a sweep of every bindable GET path of the PBS API."""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import SCENARIOS, Running, serving
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException

from scenariod import wire
from scenariod.apidesc import ApiDescription, ApiNode
from scenariod.scenario import load_scenario
from scenariod.server import Service

CI_TOKEN = "7d1f3a52-4c1e-4b8a-9c55-0e2f6a1b9d03"
# proxmox-rest-server's UPID: node, pid, pstart, task number, start time, type, escaped id, auth id.
PBS_UPID = re.compile(
    r"^UPID:(?P<node>[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):(?P<pid>[0-9A-F]{8}):(?P<pstart>[0-9A-F]{8,9}):"
    r"(?P<task_id>[0-9A-F]{8,16}):(?P<starttime>[0-9A-F]{8}):(?P<wtype>[^:\s]+):(?P<wid>[^:\s]*):(?P<authid>[^:\s]+):$"
)


@pytest.fixture(scope="module")
def pbs() -> Iterator[Running]:
    """scenarios/pbs.yaml over HTTPS (proxmoxer speaks only HTTPS), shared by the module."""
    yield from serving(SCENARIOS / "pbs.yaml", tls=True)


@pytest.fixture
def fresh() -> Iterator[Running]:
    """A private copy of scenarios/pbs.yaml for tests that change state."""
    yield from serving(SCENARIOS / "pbs.yaml", tls=True, login=True)


def api(running: Running, **auth: Any) -> ProxmoxAPI:
    """proxmoxer in PBS mode, unchanged: host:port, service="PBS", password or token."""
    if not auth:
        auth = {"user": "root@pam", "password": "secret"}
    return ProxmoxAPI(f"127.0.0.1:{running.service.port}", service="PBS", verify_ssl=running.ca_file, **auth)


def tls(running: Running) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=running.ca_file)


def wait_task(client: ProxmoxAPI, upid: str, timeout: float = 10) -> dict[str, Any]:
    # proxmoxer's Tasks.blocking_status decodes PVE UPIDs only (9 fields); PBS has 10.
    node = upid.split(":")[1]
    deadline = time.monotonic() + timeout
    while True:
        status = client.nodes(node).tasks(upid).status.get()
        if status["status"] == "stopped" or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


# --- the service ------------------------------------------------------------------------------


def test_defaults_to_port_8007_and_names_itself(pbs: Running) -> None:
    scenario = load_scenario(SCENARIOS / "pbs.yaml")
    assert scenario.service == "pbs"
    assert Service(scenario).port == wire.DEFAULT_PORTS["pbs"] == 8007
    root = httpx.get(pbs.url + "/", verify=tls(pbs)).json()
    assert root["service"] == "pbs" and root["product"] == "Proxmox Backup Server" and root["scenario"] == "pbs"


def test_other_services_paths_are_absent(pbs: Running) -> None:
    pbs.login()
    for path in ("/cluster/resources", "/nodes/pbs1/qemu", "/remotes/remote", "/resources/list"):
        r = pbs.client.get(path)
        assert r.status_code == 501, path
        assert r.json()["message"] == f"Method 'GET /api2/json{path}' not implemented\n"
    assert pbs.client.get("/ping").json()["data"] == {"pong": True}
    assert pbs.client.get("/nodes").json()["data"] == [{"node": "pbs1"}]
    assert pbs.client.get("/version").json()["data"]["release"] == "4.2"


# --- auth ----------------------------------------------------------------------------------------


def test_proxmoxer_pbs_mode_with_password(pbs: Running) -> None:
    client = api(pbs)
    assert [d["store"] for d in client.admin.datastore.get()] == ["store1", "offsite"]
    ticket = client._store["session"].auth.pve_auth_ticket  # proxmoxer keeps the ticket it got
    assert ticket.startswith("PBS:root@pam:")


def test_proxmoxer_pbs_mode_with_token(pbs: Running) -> None:
    client = api(pbs, user="root@pam", token_name="ci", token_value=CI_TOKEN)
    assert {d["name"] for d in client.config.datastore.get()} >= {"store1", "offsite"}
    bad = api(pbs, user="root@pam", token_name="ci", token_value="wrong")
    with pytest.raises(ResourceException) as err:
        bad.admin.datastore.get()
    assert err.value.status_code == 401


def test_ticket_cookie_and_csrf(pbs: Running) -> None:
    with httpx.Client(base_url=pbs.api, verify=tls(pbs)) as c:
        assert c.get("/admin/datastore").status_code == 401
        data = c.post("/access/ticket", data={"username": "root@pam", "password": "secret"}).json()["data"]
        assert data["username"] == "root@pam" and data["ticket"].startswith("PBS:root@pam:")
        c.cookies.set("PBSAuthCookie", data["ticket"])
        assert c.get("/admin/datastore").status_code == 200
        # A write with the cookie wants the CSRF token; the PVE cookie name is not PBS's.
        r = c.put("/admin/datastore/store1/group-notes", data={"backup-type": "vm", "backup-id": "100", "notes": "x"})
        assert r.status_code == 401 and "csrf" in r.json()["message"].lower()
        c.cookies.clear()
        c.cookies.set("PVEAuthCookie", data["ticket"])
        assert c.get("/admin/datastore").status_code == 401
        # The PVE token header is not PBS's either.
        r = c.get("/admin/datastore", headers={"Authorization": f"PVEAPIToken=root@pam!ci={CI_TOKEN}"})
        assert r.status_code == 401
        r = c.get("/admin/datastore", headers={"Authorization": f"PBSAPIToken=root@pam!ci:{CI_TOKEN}"})
        assert r.status_code == 200


def test_users_and_tokens_created_through_the_api(fresh: Running) -> None:
    c = fresh.client
    assert (
        c.post(
            "/access/users", data={"userid": "alice@pbs", "password": "alice-password", "comment": "Alice"}
        ).status_code
        == 200
    )
    users = {u["userid"]: u for u in c.get("/access/users").json()["data"]}
    assert users["alice@pbs"]["enable"] is True and users["alice@pbs"]["comment"] == "Alice"
    # the new user logs in with proxmoxer
    alice = api(fresh, user="alice@pbs", password="alice-password")
    assert alice.version.get()["release"] == "4.2"
    # a token for her: the path parameter is {token-name}
    made = c.post("/access/users/alice@pbs/token/backup", data={"comment": "nightly"}).json()["data"]
    assert made["tokenid"] == "alice@pbs!backup" and len(made["value"]) == 36
    assert c.post("/access/users/alice@pbs/token/backup").status_code == 400
    listed = c.get("/access/users/alice@pbs/token").json()["data"]
    assert listed == [
        {"tokenid": "alice@pbs!backup", "token-name": "backup", "enable": True, "expire": 0, "comment": "nightly"}
    ]
    with_token = api(fresh, user="alice@pbs", token_name="backup", token_value=made["value"])
    assert with_token.nodes("localhost").tasks.get() is not None
    assert c.delete("/access/users/alice@pbs/token/backup").status_code == 200
    with pytest.raises(ResourceException):
        with_token.nodes("localhost").tasks.get()


# --- tasks --------------------------------------------------------------------------------------


def test_upids_tasks_lists_status_and_log(fresh: Running) -> None:
    client = api(fresh, user="root@pam", token_name="ci", token_value=CI_TOKEN)
    upid = client.admin.datastore("store1").verify.post(**{"backup-type": "vm", "backup-id": "101"})
    m = PBS_UPID.match(upid)
    assert m, upid
    assert m["node"] == "pbs1" and m["wtype"] == "verify_group" and m["authid"] == "root@pam!ci"
    assert m["wid"] == r"store1\x3avm-101"  # `store1:vm/101`, systemd-escaped as PBS writes it
    status = wait_task(client, upid)
    assert status["status"] == "stopped" and status["exitstatus"] == "OK"
    assert status["type"] == "verify_group" and status["id"] == "store1:vm/101"
    assert status["user"] == "root@pam" and status["tokenid"] == "ci"
    # The same task through the host's name and through `localhost`, as PBS clients use both.
    for node in ("localhost", "pbs1"):
        listed = client.nodes(node).tasks.get(typefilter="verify")
        assert [t["upid"] for t in listed] == [upid]
        assert listed[0]["worker_type"] == "verify_group" and listed[0]["worker_id"] == "store1:vm/101"
        assert listed[0]["status"] == "OK" and listed[0]["user"] == "root@pam!ci"
    log = fresh.client.get(f"/nodes/localhost/tasks/{quote(upid, safe='')}/log", params={"limit": 0}).json()
    assert log["data"][0] == {"n": 1, "t": "verify store1:vm/101"}
    assert log["data"][-1]["t"] == "TASK OK" and log["total"] == len(log["data"])
    # a second worker gets the next task number in the same daemon
    upid2 = client.admin.datastore("store1").gc.post()
    m2 = PBS_UPID.match(upid2)
    assert m2 and m2["pid"] == m["pid"] and int(m2["task_id"], 16) == int(m["task_id"], 16) + 1
    assert wire.parse_upid(upid2)["id"] == "store1"


# --- datastores ------------------------------------------------------------------------------------


def test_list_and_create_datastores(fresh: Running) -> None:
    client = api(fresh)
    config = client.config.datastore.get()
    assert [d["name"] for d in config] == ["store1", "offsite"]
    admin = client.admin.datastore.get()
    assert [d["store"] for d in admin] == ["store1", "offsite"]
    assert admin[0]["comment"] == "Main backup store (ZFS mirror)"
    upid = client.config.datastore.post(
        name="archive", path="/mnt/datastore/archive", comment="Long-term", **{"gc-schedule": "weekly"}
    )
    assert PBS_UPID.match(upid) and ":create-datastore:archive:" in upid
    assert wait_task(client, upid)["exitstatus"] == "OK"
    assert [d["store"] for d in client.admin.datastore.get()][-1] == "archive"
    assert client.config.datastore("archive").get()["gc-schedule"] == "weekly"
    usage = {u["store"]: u for u in client.status("datastore-usage").get()}
    assert set(usage) == {"store1", "offsite", "archive"}
    assert usage["archive"]["total"] > usage["archive"]["used"] > 0
    assert client.admin.datastore("archive").snapshots.get() == []
    assert client.admin.datastore("archive").status.get()["total"] > 0
    # creating it again is a parameter error, as on PBS
    with pytest.raises(ResourceException) as err:
        client.config.datastore.post(name="archive", path="/mnt/datastore/archive")
    assert err.value.status_code == 400
    # removing it is a task; then both views forget it
    upid = client.config.datastore("archive").delete()
    assert ":delete-datastore:archive:" in upid and wait_task(client, upid)["exitstatus"] == "OK"
    assert "archive" not in [d["store"] for d in client.admin.datastore.get()]
    assert "archive" not in [d["name"] for d in client.config.datastore.get()]


def test_config_digest_guards_updates(fresh: Running) -> None:
    c = fresh.client
    listing = c.get("/config/datastore").json()
    digest = listing["digest"]
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert c.put("/config/datastore/store1", data={"comment": "renamed", "digest": digest}).status_code == 200
    assert c.get("/admin/datastore").json()["data"][0]["comment"] == "renamed"
    stale = c.put("/config/datastore/store1", data={"comment": "again", "digest": digest})
    assert stale.status_code == 500 and "checksum mismatch" in stale.json()["message"]


def test_snapshots_and_groups_from_state(pbs: Running) -> None:
    client = api(pbs)
    snaps = client.admin.datastore("store1").snapshots.get()
    assert len(snaps) == 13
    vm100 = client.admin.datastore("store1").snapshots.get(**{"backup-type": "vm", "backup-id": "100"})
    assert len(vm100) == 6 and {s["backup-id"] for s in vm100} == {"100"}
    newest = max(vm100, key=lambda s: s["backup-time"])
    assert newest["backup-time"] == 1763949611  # 2025-11-24T02:00:11Z
    assert newest["verification"]["state"] == "ok" and newest["owner"] == "backup@pbs!pve"
    assert {f["filename"] for f in newest["files"]} >= {"index.json.blob", "drive-scsi0.img.fidx"}
    assert [s for s in vm100 if s["protected"]][0]["comment"] == "before the kernel upgrade"
    cts = client.admin.datastore("store1").snapshots.get(**{"backup-type": "ct"})
    assert {s["backup-id"] for s in cts} == {"200"}
    groups = client.admin.datastore("store1").groups.get()
    assert [(g["backup-type"], g["backup-id"], g["backup-count"]) for g in groups] == [
        ("ct", "200", 2),
        ("host", "pve1", 2),
        ("vm", "100", 6),
        ("vm", "101", 3),
    ]
    assert groups[2]["comment"] == "web-01 (public web tier)" and groups[2]["last-backup"] == 1763949611
    # the namespace holds its own snapshots
    dev = client.admin.datastore("store1").snapshots.get(ns="dev")
    assert [(s["backup-type"], s["backup-id"]) for s in dev] == [("vm", "300")]
    assert [n["ns"] for n in client.admin.datastore("store1").namespace.get()] == ["", "dev"]
    files = client.admin.datastore("store1").files.get(
        **{"backup-type": "vm", "backup-id": "101", "backup-time": 1763906404}
    )
    assert [f["filename"] for f in files] == [
        "qemu-server.conf.blob",
        "drive-scsi0.img.fidx",
        "drive-scsi1.img.fidx",
        "index.json.blob",
    ]


def test_status_and_usage(pbs: Running) -> None:
    client = api(pbs)
    status = client.admin.datastore("store1").status.get(verbose=1)
    assert status["total"] == 4398046511104 and status["used"] == 193273528320
    assert status["avail"] == status["total"] - status["used"]
    assert status["counts"]["vm"] == {"groups": 3, "snapshots": 10}
    assert status["counts"]["ct"] == {"groups": 1, "snapshots": 2}
    assert status["gc-status"]["removed-bytes"] == 3221225472
    usage = {u["store"]: u for u in client.status("datastore-usage").get()}
    assert usage["store1"]["used"] == status["used"]
    assert len(usage["store1"]["history"]) == 30 and 0 < usage["store1"]["history"][-1] < 1
    assert usage["offsite"]["total"] > usage["offsite"]["used"] > 0


def test_garbage_collection_is_a_task_that_updates_its_status(fresh: Running) -> None:
    client = api(fresh)
    before = client.admin.datastore("store1").gc.get()
    assert before["last-run-state"] == "ok" and before["schedule"] == "daily"
    # prune some snapshots first: their chunks become garbage
    client.admin.datastore("store1").prune.post(**{"backup-type": "vm", "backup-id": "100", "keep-last": 2})
    upid = client.admin.datastore("store1").gc.post()
    assert ":garbage_collection:store1:" in upid
    running = client.nodes("localhost").tasks(upid).status.get()
    assert running["status"] == "running"  # the scenario's tasks rule makes GC take 0.6 s
    done = wait_task(client, upid)
    assert done["exitstatus"] == "OK"
    after = client.admin.datastore("store1").gc.get()
    assert after["upid"] == upid and after["last-run-state"] == "ok"
    assert after["last-run-endtime"] >= done["starttime"] and after["removed-bytes"] > 0
    log = client.nodes("localhost").tasks(upid).log.get(limit=0)
    assert log[0]["t"] == "starting garbage collection on store store1"
    assert any(line["t"].startswith("Removed garbage: ") for line in log)
    status = client.admin.datastore("store1").status.get()
    assert status["used"] == 193273528320 - after["removed-bytes"]


def test_prune_computes_keep_and_remove_from_seeded_snapshots(fresh: Running) -> None:
    client = api(fresh)
    args = {"backup-type": "vm", "backup-id": "100", "keep-last": 1, "keep-weekly": 2}
    dry = client.admin.datastore("store1").prune.post(**args, **{"dry-run": 1})
    plan = [(time.strftime("%m-%d", time.gmtime(e["backup-time"])), e["keep"], e["protected"]) for e in dry]
    assert plan == [
        ("11-24", True, False),  # keep-last 1
        ("11-23", True, False),  # ISO week 47 (11-24 is a Monday, week 48, already kept)
        ("11-22", False, False),  # week 47 again
        ("11-16", True, True),  # protected: always kept
        ("11-09", True, False),  # week 45, the second weekly
        ("10-31", False, False),  # beyond keep-weekly 2
    ]
    assert len(client.admin.datastore("store1").snapshots.get(**{"backup-id": "100"})) == 6  # dry run
    done = client.admin.datastore("store1").prune.post(**args)
    assert done == dry
    left = client.admin.datastore("store1").snapshots.get(**{"backup-type": "vm", "backup-id": "100"})
    assert sorted(time.strftime("%m-%d", time.gmtime(s["backup-time"])) for s in left) == [
        "11-09",
        "11-16",
        "11-23",
        "11-24",
    ]
    # no keep option: keep everything
    assert all(
        e["keep"]
        for e in client.admin.datastore("store1").prune.post(**{"backup-type": "vm", "backup-id": "101", "dry-run": 1})
    )


def test_prune_datastore_and_prune_with_use_task_are_tasks(fresh: Running) -> None:
    client = api(fresh)
    upid = client.admin.datastore("store1").prune.post(
        **{"backup-type": "vm", "backup-id": "101", "keep-last": 1, "use-task": 1}
    )
    assert PBS_UPID.match(upid) and ":prune:store1\\x3avm-101:" in upid
    assert wait_task(client, upid)["exitstatus"] == "OK"
    assert len(client.admin.datastore("store1").snapshots.get(**{"backup-id": "101"})) == 1
    upid = client.admin.datastore("store1")("prune-datastore").post(**{"keep-last": 1})
    assert ":prune:store1:" in upid and wait_task(client, upid)["exitstatus"] == "OK"
    log = [line["t"] for line in client.nodes("localhost").tasks(upid).log.get(limit=0)]
    assert log[0] == "Starting datastore prune on datastore 'store1', root namespace, live run"
    assert "Pruning group vm/100" in log
    groups = client.admin.datastore("store1").groups.get()
    # one per group is left, and vm/100 keeps its protected snapshot too
    assert {(g["backup-type"], g["backup-id"]): g["backup-count"] for g in groups} == {
        ("ct", "200"): 1,
        ("host", "pve1"): 1,
        ("vm", "100"): 2,
        ("vm", "101"): 1,
    }
    # the namespace was out of scope of a root prune without max-depth? (it recurses: pruned too)
    assert len(client.admin.datastore("store1").snapshots.get(ns="dev")) == 1


def test_verify_records_results_and_fails_on_corrupt_snapshots(fresh: Running) -> None:
    client = api(fresh)
    upid = client.admin.datastore("store1").verify.post(**{"backup-type": "ct", "backup-id": "200"})
    status = wait_task(client, upid)
    assert status["exitstatus"] == "verification failed - please check the log for details"
    log = [line["t"] for line in client.nodes("localhost").tasks(upid).log.get(limit=0)]
    assert log[-1] == "TASK ERROR: verification failed - please check the log for details"
    states = {
        s["backup-time"]: s["verification"]
        for s in client.admin.datastore("store1").snapshots.get(**{"backup-type": "ct"})
    }
    assert states[1763954100] == {"state": "ok", "upid": upid}
    assert states[1763349300] == {"state": "failed", "upid": upid}
    # the whole datastore: `verify`, with the store as worker id
    upid = client.admin.datastore("offsite").verify.post()
    assert ":verify:offsite:" in upid and wait_task(client, upid)["exitstatus"] == "OK"


def test_snapshot_protection_notes_and_deletion(fresh: Running) -> None:
    c = fresh.client
    which = {"backup-type": "vm", "backup-id": "100", "backup-time": 1763258410}
    assert c.get("/admin/datastore/store1/protected", params=which).json()["data"] is True
    r = c.delete("/admin/datastore/store1/snapshots", params=which)
    assert r.status_code == 400 and "protected" in r.json()["message"]
    assert c.put("/admin/datastore/store1/protected", data={**which, "protected": 0}).status_code == 200
    assert c.put("/admin/datastore/store1/notes", data={**which, "notes": "old kernel\nsecond line"}).status_code == 200
    assert c.get("/admin/datastore/store1/notes", params=which).json()["data"] == "old kernel\nsecond line"
    assert c.delete("/admin/datastore/store1/snapshots", params=which).status_code == 200
    times = [
        s["backup-time"] for s in c.get("/admin/datastore/store1/snapshots", params={"backup-id": "100"}).json()["data"]
    ]
    assert 1763258410 not in times and len(times) == 5
    missing = c.get("/admin/datastore/store1/files", params=which)
    assert missing.status_code == 404
    assert c.get("/admin/datastore/nope/snapshots").status_code == 500


# --- the sweep ---------------------------------------------------------------------------------------

TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool, int),
    "null": (type(None),),
}


# Where the bundled description's return type is not what the product sends: PDM declares its
# task logs (its own and a remote's) as an object, but sends the lines, as PBS and PVE do.
MISDECLARED = {
    "/nodes/{node}/tasks/{upid}/log": "array",
    "/pve/remotes/{remote}/tasks/{upid}/log": "array",
    "/pbs/remotes/{remote}/tasks/{upid}/log": "array",
}


def declared_type_ok(node: ApiNode, value: Any) -> bool:
    returns = node.ops["GET"].returns
    if node.path in MISDECLARED:
        returns = {"type": MISDECLARED[node.path]}
    kind = returns.get("type")
    if kind in (None, "any"):
        return True
    if kind == "null":
        # proxmox-router dumps `{"type": "null"}` for a method whose #[api] declares no return
        # schema (directory indexes, notes, protected, /nodes): nothing is declared to check.
        return True
    kinds = kind if isinstance(kind, list) else [kind]
    return isinstance(value, tuple(t for k in kinds for t in TYPES.get(k, (object,))))


def _values_for(name: str, spec: dict[str, Any], hints: dict[str, Any]) -> Any:
    if name in hints:
        return hints[name]
    if spec.get("enum"):
        return spec["enum"][0]
    kind = spec.get("type")
    if kind in ("integer", "number"):
        return spec.get("minimum", 1) if spec.get("minimum", 1) > 0 else 1
    if kind == "boolean":
        return 0
    return None


def sweep_api(
    running: Running, hints: dict[str, Any] | None = None, extra_keys: dict[str, list[str]] | None = None
) -> tuple[int, list[str], list[str]]:
    """GET every path whose parameters bind from the running world's state.

    Path parameters bind to the keys stored under the concrete prefix (and, for `upid`, to the
    world's tasks); required query parameters take `hints`, enums' first values, minimums.
    Returns (paths answered as declared, paths skipped (unbindable), failures).
    """
    service = running.service
    world = service.world
    store = world.store
    api_desc: ApiDescription = service.scenario.api
    hints = hints or {}
    extra_keys = extra_keys or {}
    ok, skipped, failures = 0, [], []
    for node in sorted(api_desc.nodes, key=lambda n: n.path):
        op = node.ops.get("GET")
        if op is None:
            continue
        if (
            "Upgraded to" in op.description
            or node.path.startswith(("/backup", "/reader"))
            or "download" in node.path.rsplit("/", 1)[-1]
        ):
            skipped.append(f"{node.path} (a protocol upgrade or a raw file download)")
            continue
        concrete = _bind(node.segments, store, world, extra_keys)
        if concrete is None:
            skipped.append(f"{node.path} (no state binds its parameters)")
            continue
        query: dict[str, Any] = {}
        unbound = None
        path_params = {s[1:-1] for s in node.segments if s.startswith("{")}
        for name, spec in (op.parameters.get("properties") or {}).items():
            if name in path_params or spec.get("optional"):
                continue
            value = _values_for(name, spec, hints)
            if value is None:
                unbound = name
                break
            query[name] = value
        if unbound:
            skipped.append(f"{node.path} (required parameter {unbound})")
            continue
        path = "/" + "/".join(quote(s, safe="") for s in concrete)
        r = running.client.get(path, params=query)
        if r.status_code != 200:
            failures.append(f"{node.path} -> {path}: {r.status_code} {r.text[:200]}")
            continue
        data = r.json()["data"]
        if not declared_type_ok(node, data):
            failures.append(f"{node.path}: declared {op.returns.get('type')}, got {type(data).__name__}")
            continue
        ok += 1
    return ok, skipped, failures


def _bind(segments: tuple[str, ...], store: Any, world: Any, extra: dict[str, list[str]]) -> list[str] | None:
    def walk(i: int, concrete: list[str]) -> list[str] | None:
        if i == len(segments):
            return concrete
        seg = segments[i]
        if not seg.startswith("{"):
            return walk(i + 1, [*concrete, seg])
        name = seg[1:-1]
        if name == "upid":
            remote = concrete[2] if concrete[:1] in (["pve"], ["pbs"]) and len(concrete) > 2 else None
            candidates = [t.upid for t in world.tasks if t.remote == remote]
        else:
            candidates = store.keys(concrete) + extra.get(name, [])
        for key in candidates:
            found = walk(i + 1, [*concrete, key])
            if found is not None:
                return found
        return None

    return walk(0, [])


def test_sweep_every_bindable_get_path(fresh: Running, capsys: pytest.CaptureFixture[str]) -> None:
    client = api(fresh)
    wait_task(client, client.admin.datastore("store1").gc.post())  # a task for the {upid} paths
    first = fresh.service.world.store.get("/admin/datastore/store1/snapshots")[0]
    hints = {
        "backup-type": first["backup-type"],
        "backup-id": first["backup-id"],
        "backup-time": first["backup-time"],
        "timeframe": "hour",
        "cf": "AVERAGE",
        "package": "proxmox-backup-server",
        "filepath": "L3Jvb3Q=",
        "archive-name": "root.pxar.didx",
        "file-name": "index.json.blob",
        "keep-last": 1,
        "name": "proxmox-backup-server",
        "disk": "sda",
    }
    check_sweep("PBS", fresh, hints, capsys)


def check_sweep(name: str, running: Running, hints: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """Sweep `running`, print the tally, and hold it to the bar PBS and PDM both meet: no
    failure, 85% of all GET paths and 90% of the JSON ones (not raw downloads) answered."""
    ok, skipped, failures = sweep_api(running, hints)
    total = ok + len(skipped) + len(failures)
    served = total - sum("raw file download" in s for s in skipped)
    with capsys.disabled():
        print(
            f"\n{name} sweep: {ok} of {total} GET paths answered 200 with the declared type "
            f"({ok / total:.1%}; {ok / served:.1%} of the {served} JSON paths); "
            f"{len(skipped)} skipped, {len(failures)} failed"
        )
        for line in skipped:
            print("  skipped", line)
    assert not failures, "\n".join(failures)
    assert ok / total >= 0.85, f"only {ok} of {total} GET paths were swept"
    assert ok / served >= 0.9, f"only {ok} of the {served} JSON GET paths were swept"
