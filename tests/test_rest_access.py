"""PBS and PDM access control over HTTPS: their built-in roles, the ACL changed entry by entry,
permissions computed from it, every call checked against its `permissions` rule with
proxmox-rest-server's 403, lists filtered by privilege, and passwords that change (issue 11)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import SCENARIOS, Running, serving

from scenariod.proxmox.rest_privileges import PRIVILEGES

DENIED = "permission check failed\n"
LISTING = "Datastore.Audit|Datastore.Backup"  # what lets one list a namespace's groups and snapshots


def ns_denied(privs: str, path: str) -> str:
    """PBS's check_ns_privs_full refusal: the privileges that would have done, and the namespace."""
    return f"permission check failed - missing {privs} on {path}\n"


@pytest.fixture
def pbs() -> Iterator[Running]:
    yield from serving(SCENARIOS / "pbs.yaml", tls=True, login=True)


@pytest.fixture
def pdm() -> Iterator[Running]:
    yield from serving(SCENARIOS / "pdm.yaml", tls=True, login=True)


def ok(running: Running, method: str, url: str, **params: Any) -> Any:
    r = running.client.request(method, url, **({"params": params} if method == "GET" else {"data": params}))
    assert r.status_code == 200, f"{method} {url}: {r.status_code} {r.text}"
    return r.json()["data"]


def login(running: Running, username: str, password: str) -> httpx.Response:
    verify = ssl.create_default_context(cafile=running.ca_file)
    return httpx.post(running.api + "/access/ticket", data={"username": username, "password": password}, verify=verify)


def as_user(running: Running, username: str, password: str) -> httpx.Client:
    r = login(running, username, password)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    client = httpx.Client(base_url=running.api, verify=ssl.create_default_context(cafile=running.ca_file), timeout=10)
    client.cookies.set(running.service.runtime.auth.cookie, data["ticket"])
    client.headers["CSRFPreventionToken"] = data["CSRFPreventionToken"]
    return client


def as_token(running: Running, tokenid: str, secret: str) -> httpx.Client:
    prefix = "PBSAPIToken" if running.service.scenario.service == "pbs" else "PDMAPIToken"
    return httpx.Client(
        base_url=running.api,
        verify=ssl.create_default_context(cafile=running.ca_file),
        headers={"Authorization": f"{prefix}={tokenid}:{secret}"},
        timeout=10,
    )


def refused(r: httpx.Response, status: int = 403) -> str:
    assert r.status_code == status, r.text
    return str(r.json()["message"])


def grant(running: Running, path: str, authid: str, role: str, **extra: Any) -> None:
    ok(running, "PUT", "/access/acl", path=path, **{"auth-id": authid}, role=role, **extra)


# --- roles and the ACL ------------------------------------------------------------------------------


def test_pbs_builtin_roles(pbs: Running) -> None:
    roles = {r["roleid"]: r for r in ok(pbs, "GET", "/access/roles")}
    assert len(roles) == 18 and {"Admin", "Audit", "NoAccess", "DatastoreBackup", "TapeAdmin"} <= set(roles)
    assert roles["Admin"]["privs"] == list(PRIVILEGES["pbs"]) and roles["Admin"]["comment"] == "Administrator"
    assert roles["Audit"]["privs"] == ["Sys.Audit", "Datastore.Audit"]
    assert roles["DatastorePowerUser"]["privs"] == ["Datastore.Backup", "Datastore.Prune"]
    assert roles["RemoteSyncOperator"]["privs"] == ["Remote.Audit", "Remote.Read"]
    assert roles["NoAccess"]["privs"] == []


def test_pbs_acl_entries_added_and_removed(pbs: Running) -> None:
    seeded = ok(pbs, "GET", "/access/acl")
    assert {"path": "/", "ugid": "root@pam!ci", "ugid_type": "user", "roleid": "Admin", "propagate": True} in seeded
    ok(pbs, "POST", "/access/users", userid="ops@pbs", password="ops-password")
    grant(pbs, "/datastore/offsite", "ops@pbs", "DatastoreAudit", propagate=0)
    grant(pbs, "/datastore/offsite", "ops@pbs", "DatastoreAudit")  # the same entry again: propagate changes
    mine = [e for e in ok(pbs, "GET", "/access/acl") if e["ugid"] == "ops@pbs"]
    assert mine == [
        {
            "path": "/datastore/offsite",
            "ugid": "ops@pbs",
            "ugid_type": "user",
            "roleid": "DatastoreAudit",
            "propagate": True,
        }
    ]
    # filtered by path, exactly or below it
    assert {e["path"] for e in ok(pbs, "GET", "/access/acl", path="/datastore")} == {
        "/datastore/store1",
        "/datastore/offsite",
    }
    assert ok(pbs, "GET", "/access/acl", path="/datastore", exact=1) == []
    assert [e["ugid"] for e in ok(pbs, "GET", "/access/acl", exact=1)] == ["root@pam!ci"]
    ok(pbs, "PUT", "/access/acl", path="/datastore/offsite", **{"auth-id": "ops@pbs"}, role="DatastoreAudit", delete=1)
    assert not [e for e in ok(pbs, "GET", "/access/acl") if e["ugid"] == "ops@pbs"]
    # refusals in PBS's words
    put = pbs.client.put
    assert refused(put("/access/acl", data={"path": "/", "role": "Admin", "auth-id": "nobody@pbs"}), 400) == (
        "no such user.\n"
    )
    assert refused(put("/access/acl", data={"path": "/", "role": "Admin", "auth-id": "ops@pbs!x"}), 400) == (
        "no such API token.\n"
    )
    assert refused(put("/access/acl", data={"path": "/", "role": "Admin", "group": "admins"}), 400) == (
        "parameter 'group' - groups are currently not supported.\n"
    )
    assert refused(put("/access/acl", data={"path": "/", "role": "Admin"}), 400) == (
        "missing 'userid' or 'group' parameter.\n"
    )
    assert refused(put("/access/acl", data={"path": "/vms/100", "role": "Admin", "auth-id": "ops@pbs"}), 400) == (
        "invalid acl path '/vms/100'.\n"
    )
    assert put("/access/acl", data={"path": "/", "role": "PVEAdmin", "auth-id": "ops@pbs"}).status_code == 400
    stale = put("/access/acl", data={"path": "/", "role": "Audit", "auth-id": "ops@pbs", "digest": "0" * 64})
    assert refused(stale, 400).startswith("detected modified configuration")


def test_pbs_permissions_computed_from_the_acl(pbs: Running) -> None:
    backup = ok(pbs, "GET", "/access/permissions", **{"auth-id": "backup@pbs"})
    assert backup == {"/datastore/store1": {"Datastore.Backup": True, "Datastore.Prune": True}}
    ok(pbs, "POST", "/access/users", userid="ops@pbs", password="ops-password")
    grant(pbs, "/datastore", "ops@pbs", "DatastoreAudit")
    grant(pbs, "/datastore/offsite", "ops@pbs", "NoAccess")
    grant(pbs, "/system", "ops@pbs", "Audit", propagate=0)
    perms = ok(pbs, "GET", "/access/permissions", **{"auth-id": "ops@pbs"})
    assert perms["/datastore"] == {"Datastore.Audit": True}
    assert perms["/system"] == {"Sys.Audit": False, "Datastore.Audit": False}
    assert "/datastore/offsite" not in perms and "/" not in perms
    assert ok(pbs, "GET", "/access/permissions", **{"auth-id": "ops@pbs"}, path="/datastore/store1") == {
        "/datastore/store1": {"Datastore.Audit": True}
    }
    # a token has what both it and its user have; root@pam everything, its tokens only what they are given
    assert set(ok(pbs, "GET", "/access/permissions", path="/")["/"]) == set(PRIVILEGES["pbs"])
    ci = ok(pbs, "GET", "/access/permissions", **{"auth-id": "root@pam!ci"}, path="/tape")
    assert set(ci["/tape"]) == set(PRIVILEGES["pbs"])
    # another's permissions need Sys.Audit on /access
    with as_user(pbs, "ops@pbs", "ops-password") as ops:
        assert refused(ops.get("/access/permissions", params={"auth-id": "backup@pbs"}), 400) == (
            "not allowed to list permissions of backup@pbs\n"
        )
        assert ops.get("/access/permissions").json()["data"]["/datastore"] == {"Datastore.Audit": True}


# --- enforcement -------------------------------------------------------------------------------------


def test_pbs_calls_checked_against_their_permissions(pbs: Running) -> None:
    ok(pbs, "POST", "/access/users", userid="ops@pbs", password="ops-password")
    with as_user(pbs, "ops@pbs", "ops-password") as ops:
        assert ops.get("/version").status_code == 200  # any valid user
        assert ops.get("/admin/datastore").json()["data"] == []
        assert ops.get("/config/datastore").json()["data"] == []
        assert ops.get("/status/datastore-usage").json()["data"] == []
        assert refused(ops.post("/config/datastore", data={"name": "new", "path": "/mnt/new"})) == DENIED
        # the namespace check names what would have done (check_ns_privs_full), before the store's existence shows
        assert refused(ops.get("/admin/datastore/store1/groups")) == ns_denied(LISTING, "/datastore/store1")
        assert refused(ops.get("/admin/datastore/nosuchstore/snapshots")) == ns_denied(
            LISTING, "/datastore/nosuchstore"
        )
        r = ops.get("/admin/datastore/store1/snapshots", params={"ns": "dev"})
        assert refused(r) == ns_denied(LISTING, "/datastore/store1/dev")
        assert refused(ops.get("/admin/datastore/nosuchstore/status")) == DENIED  # before existence shows
        assert refused(ops.get("/nodes/localhost/apt/update")) == DENIED  # Sys.Audit on /system
        assert refused(ops.get("/nodes")) == DENIED  # no access rule: root@pam's alone
        grant(pbs, "/datastore/store1", "ops@pbs", "DatastoreAudit")
        assert [d["store"] for d in ops.get("/admin/datastore").json()["data"]] == ["store1"]
        assert [d["name"] for d in ops.get("/config/datastore").json()["data"]] == ["store1"]
        assert [d["store"] for d in ops.get("/status/datastore-usage").json()["data"]] == ["store1"]
        assert len(ops.get("/admin/datastore/store1/groups").json()["data"]) == 4  # the root namespace's
        assert refused(ops.delete("/config/datastore/store1")) == DENIED  # Datastore.Allocate
        # a role on a namespace shows the store's name only
        grant(pbs, "/datastore/offsite/dev", "ops@pbs", "DatastoreReader")
        listed = {d["store"]: d for d in ops.get("/admin/datastore").json()["data"]}
        assert set(listed) == {"store1", "offsite"} and "comment" not in listed["offsite"]
        assert {"store": "offsite"} in ops.get("/status/datastore-usage").json()["data"]
        grant(pbs, "/", "ops@pbs", "Admin")
        created = ops.post("/config/datastore", data={"name": "new", "path": "/mnt/datastore/new"})
        assert created.status_code == 200, created.text


def test_pbs_backup_privilege_lists_owned_groups_only(pbs: Running) -> None:
    secret = pbs.service.world.secrets["tokens"]["backup@pbs!pve"]
    with as_token(pbs, "backup@pbs!pve", secret) as token:
        groups = token.get("/admin/datastore/store1/groups").json()["data"]
        assert {(g["backup-type"], g["backup-id"]) for g in groups} == {("vm", "100"), ("vm", "101"), ("ct", "200")}
        snaps = token.get("/admin/datastore/store1/snapshots").json()["data"]
        assert {s["owner"] for s in snaps} == {"backup@pbs!pve"} and len(snaps) == 11
        assert refused(token.get("/admin/datastore/offsite/groups")) == ns_denied(LISTING, "/datastore/offsite")
        assert [d["store"] for d in token.get("/admin/datastore").json()["data"]] == ["store1"]
    everything = ok(pbs, "GET", "/admin/datastore/store1/groups")
    assert len(everything) == 4 and {"root@pam!ci"} < {g["owner"] for g in everything}


def test_pbs_token_has_what_both_it_and_its_user_have(pbs: Running) -> None:
    ok(pbs, "POST", "/access/users", userid="ops@pbs", password="ops-password")
    made = ok(pbs, "POST", "/access/users/ops@pbs/token/deploy")
    grant(pbs, "/", "ops@pbs!deploy", "Admin")
    with as_token(pbs, "ops@pbs!deploy", made["value"]) as token:
        assert refused(token.get("/config/datastore/store1")) == DENIED  # the user has nothing
        grant(pbs, "/datastore", "ops@pbs", "DatastoreAdmin")
        assert token.get("/config/datastore/store1").status_code == 200  # Datastore.Audit, from both
        assert token.get("/admin/datastore/store1/groups").status_code == 200
        assert refused(token.delete("/config/datastore/store1")) == DENIED  # Datastore.Allocate: the user lacks it
    # root@pam's own token is no superuser: only its ACL counts
    ok(pbs, "POST", "/access/users/root@pam/token/bare")
    bare = pbs.service.world.secrets["tokens"]["root@pam!bare"]
    with as_token(pbs, "root@pam!bare", bare) as token:
        assert refused(token.get("/admin/datastore/store1/groups")) == ns_denied(LISTING, "/datastore/store1")


@pytest.mark.parametrize("product", ["pbs", "pdm"])
def test_a_disabled_token_is_refused_at_its_next_call(product: str, request: pytest.FixtureRequest) -> None:
    """PBS and PDM tokens carry their own `enable`: a disabled one no longer authenticates
    (is_active_auth_id), though it verified a moment before."""
    running: Running = request.getfixturevalue(product)
    user = "robot@pbs" if product == "pbs" else "robot@pdm"
    ok(running, "POST", "/access/users", userid=user, password="robot-password")
    made = ok(running, "POST", f"/access/users/{user}/token/deploy")
    with as_token(running, f"{user}!deploy", made["value"]) as token:
        assert token.get("/version").status_code == 200
        ok(running, "PUT", f"/access/users/{user}/token/deploy", enable=0)
        assert token.get("/version").status_code == 401
        ok(running, "PUT", f"/access/users/{user}/token/deploy", enable=1)
        assert token.get("/version").status_code == 200


def test_pbs_unprivileged_user_may_set_acl_of_its_own_tokens_only(pbs: Running) -> None:
    ok(pbs, "POST", "/access/users", userid="ops@pbs", password="ops-password")
    ok(pbs, "POST", "/access/users/ops@pbs/token/deploy")
    with as_user(pbs, "ops@pbs", "ops-password") as ops:
        mine = {"path": "/datastore/store1", "role": "DatastoreAudit", "auth-id": "ops@pbs!deploy"}
        assert ops.put("/access/acl", data=mine).status_code == 200
        assert [e["ugid"] for e in ops.get("/access/acl").json()["data"]] == ["ops@pbs!deploy"]  # its tokens' only
        for data, message in (
            ({"auth-id": "ops@pbs"}, "Unprivileged users can only set ACL items for API tokens."),
            ({"auth-id": "backup@pbs!pve"}, "Unprivileged users can only set ACL items for their own API tokens."),
            ({"group": "admins"}, "Unprivileged users are not allowed to create group ACL item."),
            ({}, "Unprivileged user needs to provide auth_id to update ACL item."),
        ):
            r = ops.put("/access/acl", data={"path": "/", "role": "Admin", **data})
            assert refused(r, 400) == message + "\n"


def test_pbs_password_updates(pbs: Running) -> None:
    ok(pbs, "POST", "/access/users", userid="ops@pbs", password="ops-password")
    ok(pbs, "PUT", "/access/users/ops@pbs", password="new-password", comment="operator")
    assert login(pbs, "ops@pbs", "new-password").status_code == 200
    assert login(pbs, "ops@pbs", "ops-password").status_code == 401
    assert {u["userid"]: u for u in ok(pbs, "GET", "/access/users")}["ops@pbs"]["comment"] == "operator"
    with as_user(pbs, "ops@pbs", "new-password") as ops:
        assert ops.put("/access/users/ops@pbs", data={"password": "mine-now"}).status_code == 200  # its own
        assert refused(ops.put("/access/users/backup@pbs", data={"password": "x" * 8})) == DENIED
        grant(pbs, "/access/users", "ops@pbs", "Admin")
        assert ops.put("/access/users/backup@pbs", data={"password": "backup-2"}).status_code == 200
        assert refused(ops.put("/access/users/root@pam", data={"password": "x" * 8}), 400) == (
            "only superuser can edit pam credentials!\n"
        )
    assert login(pbs, "ops@pbs", "mine-now").status_code == 200
    assert login(pbs, "backup@pbs", "backup-2").status_code == 200
    assert login(pbs, "root@pam", "secret").status_code == 200


# --- PDM ------------------------------------------------------------------------------------------------


def test_pdm_roles_acl_and_enforcement(pdm: Running) -> None:
    roles = {r["roleid"]: r["privs"] for r in ok(pdm, "GET", "/access/roles")}
    assert set(roles) == {"Administrator", "Auditor"}
    assert roles["Auditor"] == ["System.Audit", "Resource.Audit", "Access.Audit"]
    assert roles["Administrator"] == list(PRIVILEGES["pdm"])
    r = pdm.client.put("/access/acl", data={"path": "/", "role": "NoAccess", "auth-id": "ops@pdm"})
    assert refused(r, 400) == "Role does not exist, please make sure to specify a valid role!\n"
    r = pdm.client.put("/access/acl", data={"path": "/datastore", "role": "Auditor", "auth-id": "ops@pdm"})
    assert refused(r, 400) == "invalid acl path '/datastore'.\n"
    assert ok(pdm, "GET", "/access/permissions", **{"auth-id": "ops@pdm"}, path="/resource/prod") == {
        "/resource/prod": {"System.Audit": True, "Resource.Audit": True, "Access.Audit": True}
    }
    with as_user(pdm, "ops@pdm", "ops-password") as ops:
        assert len(ops.get("/access/acl").json()["data"]) == 2  # an Auditor has Access.Audit: every entry
        own = ops.get("/access/acl", params={"all-for-authid": 1}).json()["data"]
        assert own == [{"path": "/", "ugid": "ops@pdm", "ugid_type": "user", "roleid": "Auditor", "propagate": True}]
        assert ops.get("/remotes/remote").status_code == 200
        assert ops.get("/pve/remotes/prod/qemu").status_code == 200  # Resource.Audit on /resource/prod
        assert refused(ops.post("/pve/remotes/prod/qemu/100/start")) == DENIED  # Resource.Manage
        assert refused(ops.put("/remotes/remote/prod", data={"comment": "x"})) == DENIED  # Resource.Modify
        grant(pdm, "/resource/prod", "ops@pdm", "Administrator")
        assert ops.post("/pve/remotes/prod/qemu/100/start").status_code == 200
        assert refused(ops.post("/pve/remotes/edge/qemu/100/start")) == DENIED  # per remote


def test_pdm_removing_a_user_or_token_removes_its_acl_entries(pdm: Running) -> None:
    """proxmox-access-control's delete_token and delete_user: delete_authid for each auth id gone."""
    made = ok(pdm, "POST", "/access/users/ops@pdm/token/ci")
    ok(pdm, "POST", "/access/users/ops@pdm/token/keep")
    grant(pdm, "/resource/prod", "ops@pdm!ci", "Administrator")
    grant(pdm, "/view/production", "ops@pdm!keep", "Auditor")
    grant(pdm, "/system", "ops@pdm", "Administrator")
    ugids = lambda: sorted({e["ugid"] for e in ok(pdm, "GET", "/access/acl")})  # noqa: E731
    assert ugids() == ["ops@pdm", "ops@pdm!ci", "ops@pdm!keep", "root@pam!automation"]
    ok(pdm, "DELETE", "/access/users/ops@pdm/token/ci")
    assert ugids() == ["ops@pdm", "ops@pdm!keep", "root@pam!automation"]
    with as_token(pdm, "ops@pdm!ci", made["value"]) as gone:
        assert gone.get("/version").status_code == 401
    ok(pdm, "DELETE", "/access/users/ops@pdm")
    assert ugids() == ["root@pam!automation"]
    assert "ops@pdm" not in {u["userid"] for u in ok(pdm, "GET", "/access/users")}
    assert login(pdm, "ops@pdm", "ops-password").status_code == 401
    # a user of that name made again starts with nothing
    ok(pdm, "POST", "/access/users", userid="ops@pdm", password="again-password")
    assert ok(pdm, "GET", "/access/permissions", **{"auth-id": "ops@pdm"}) == {}
    assert ok(pdm, "GET", "/access/users/ops@pdm/token") == []


# --- webhook secrets (PVE and PBS: proxmox-notify) ------------------------------------------------------


@pytest.mark.parametrize("product", ["pve", "pbs"])
def test_webhook_secrets_are_answered_by_name_only(product: str) -> None:
    scenario, base = {
        "pve": ("two-node.yaml", "/cluster/notifications/endpoints/webhook"),
        "pbs": ("pbs.yaml", "/config/notifications/endpoints/webhook"),
    }[product]
    for running in serving(SCENARIOS / scenario, tls=True, login=True):
        c = running.client
        made = c.post(
            base,
            json={
                "name": "hook",
                "url": "https://hooks.example.com/notify",
                "method": "post",
                "secret": ["name=token,value=c2VjcmV0LXRva2Vu", "name=other,value=b3RoZXI="],
            },
        )
        assert made.status_code == 200, made.text
        item = c.get(f"{base}/hook").json()["data"]
        assert item["secret"] == ["name=token", "name=other"] and item["url"] == "https://hooks.example.com/notify"
        assert [h["secret"] for h in c.get(base).json()["data"] if h["name"] == "hook"] == [
            ["name=token", "name=other"]
        ]
        assert "c2VjcmV0" not in c.get(base).text + c.get(f"{base}/hook").text
        # an update keeps a secret sent by name, replaces one sent with a value, drops one left out
        r = c.put(f"{base}/hook", json={"secret": ["name=token", "name=new,value=bmV3"]})
        assert r.status_code == 200, r.text
        assert c.get(f"{base}/hook").json()["data"]["secret"] == ["name=token", "name=new"]
        kept = running.service.world.store.get(f"{base}/hook")["secret"]
        assert kept == ["name=token,value=c2VjcmV0LXRva2Vu", "name=new,value=bmV3"]


def test_pbs_group_changes_need_privilege_or_ownership(pbs: Running) -> None:
    """Datastore.Prune (and .Backup for notes and protection) reach only groups one owns; .Modify any."""
    secret = pbs.service.world.secrets["tokens"]["backup@pbs!pve"]
    host = {"backup-type": "host", "backup-id": "pve1"}  # owned by root@pam!ci
    with as_token(pbs, "backup@pbs!pve", secret) as token:
        r = token.post("/admin/datastore/store1/prune", data={**host, "keep-last": 1, "dry-run": 1})
        assert refused(r, 400) == "backup owner check failed (backup@pbs!pve != root@pam!ci)\n"
        r = token.post("/admin/datastore/store1/prune", data={"backup-type": "vm", "backup-id": "101", "keep-last": 1})
        assert r.status_code == 200 and [s["keep"] for s in r.json()["data"]] == [True, False, False]
        r = token.put("/admin/datastore/store1/notes", params={**host, "backup-time": 1763352000}, data={"notes": "x"})
        assert refused(r, 400).startswith("backup owner check failed")
        r = token.delete("/admin/datastore/offsite/groups", params={"backup-type": "vm", "backup-id": "100"})
        assert refused(r) == ns_denied("Datastore.Modify|Datastore.Prune", "/datastore/offsite")
    groups = {(g["backup-type"], g["backup-id"]): g for g in ok(pbs, "GET", "/admin/datastore/store1/groups")}
    assert groups[("vm", "101")]["backup-count"] == 1 and groups[("host", "pve1")]["backup-count"] == 2


def test_pdm_views_show_the_remotes_one_may_audit(pdm: Running) -> None:
    ok(pdm, "POST", "/access/users", userid="viewer@pdm", password="viewer-password")
    everything = ok(pdm, "GET", "/resources/status")
    with as_user(pdm, "viewer@pdm", "viewer-password") as viewer:
        assert viewer.get("/remotes/remote").json()["data"] == []
        assert viewer.get("/resources/list").json()["data"] == []
        assert viewer.get("/resources/status").json()["data"]["remotes"] == 0
        grant(pdm, "/resource/prod", "viewer@pdm", "Auditor")
        assert [r["id"] for r in viewer.get("/remotes/remote").json()["data"]] == ["prod"]
        listed = viewer.get("/resources/list").json()["data"]
        assert [r["remote"] for r in listed] == ["prod"]
        status = viewer.get("/resources/status").json()["data"]
        guests = [x for x in listed[0]["resources"] if x["type"] == "pve-qemu"]
        running = sum(1 for g in guests if g["status"] == "running" and not g.get("template"))
        assert status["remotes"] == 1 and status["qemu"]["running"] == running < everything["qemu"]["running"]
        assert status["pbs_nodes"]["online"] == 0  # the PBS remote is not the viewer's to see
        assert refused(viewer.get("/pve/remotes/edge/qemu")) == DENIED
        ok(pdm, "POST", "/config/views", id="web", **{"include-all": 1})
        assert viewer.get("/config/views").json()["data"] == []
        grant(pdm, "/view/web", "viewer@pdm", "Auditor")
        assert [v["id"] for v in viewer.get("/config/views").json()["data"]] == ["web"]


def test_pbs_user_list_shows_others_to_auditors_only(pbs: Running) -> None:
    ok(pbs, "POST", "/access/users", userid="ops@pbs", password="ops-password")
    with as_user(pbs, "ops@pbs", "ops-password") as ops:
        assert [u["userid"] for u in ops.get("/access/users").json()["data"]] == ["ops@pbs"]
        grant(pbs, "/access/users", "ops@pbs", "Audit")
        assert {"root@pam", "backup@pbs", "ops@pbs"} <= {u["userid"] for u in ops.get("/access/users").json()["data"]}


def test_pbs_password_change_rules(pbs: Running) -> None:
    for userid in ("ops@pbs", "dev@pbs"):
        ok(pbs, "POST", "/access/users", userid=userid, password=f"{userid}-pw")
    made = ok(pbs, "POST", "/access/users/ops@pbs/token/t")
    with as_user(pbs, "ops@pbs", "ops@pbs-pw") as ops:
        assert ops.put("/access/password", data={"userid": "ops@pbs", "password": "ops-new-pw"}).status_code == 200
        r = ops.put("/access/password", data={"userid": "dev@pbs", "password": "dev-new-pw"})
        assert refused(r, 400) == "you are not authorized to change the password.\n"
        grant(pbs, "/", "ops@pbs", "Admin")
        assert ops.put("/access/password", data={"userid": "dev@pbs", "password": "dev-new-pw"}).status_code == 200
        r = ops.put("/access/password", data={"userid": "root@pam", "password": "root-new-pw"})
        assert refused(r, 400) == "you are not authorized to change the password.\n"  # PAM: root@pam's alone
    with as_token(pbs, "ops@pbs!t", made["value"]) as token:
        r = token.put("/access/password", data={"userid": "ops@pbs", "password": "whatever-pw"})
        assert refused(r, 400) == "API tokens cannot access this API endpoint\n"
    assert login(pbs, "ops@pbs", "ops-new-pw").status_code == 200
    assert (
        login(pbs, "dev@pbs", "dev-new-pw").status_code == 200
        and login(pbs, "dev@pbs", "dev@pbs-pw").status_code == 401
    )
    assert login(pbs, "root@pam", "secret").status_code == 200


def test_pbs_backup_privilege_verifies_owned_groups_and_cannot_make_namespaces(pbs: Running) -> None:
    secret = pbs.service.world.secrets["tokens"]["backup@pbs!pve"]
    with as_token(pbs, "backup@pbs!pve", secret) as token:
        upid = token.post("/admin/datastore/store1/verify", data={"ignore-verified": 0}).json()["data"]
        log = "\n".join(line["t"] for line in pbs.client.get(f"/nodes/localhost/tasks/{upid}/log").json()["data"])
        assert "vm/100/" in log and "ct/200/" in log and "host/pve1" not in log  # its own groups only
        r = token.post("/admin/datastore/store1/verify", data={"backup-type": "host", "backup-id": "pve1"})
        assert refused(r, 400) == "backup owner check failed (backup@pbs!pve != root@pam!ci)\n"
        modify = ns_denied("Datastore.Modify", "/datastore/store1")  # on the parent
        assert refused(token.post("/admin/datastore/store1/namespace", data={"name": "mine"})) == modify
        assert refused(token.delete("/admin/datastore/store1/namespace", params={"ns": "dev"})) == modify
        r = token.post("/admin/datastore/store1/namespace", data={"name": "sub", "parent": "dev"})
        assert refused(r) == ns_denied("Datastore.Modify", "/datastore/store1/dev")
    grant(pbs, "/datastore/store1", "backup@pbs", "DatastoreAdmin")
    grant(pbs, "/datastore/store1", "backup@pbs!pve", "DatastoreAdmin")
    with as_token(pbs, "backup@pbs!pve", secret) as token:
        assert token.post("/admin/datastore/store1/namespace", data={"name": "mine"}).json()["data"] == "mine"
        assert (
            token.post("/admin/datastore/store1/verify", data={"backup-type": "host", "backup-id": "pve1"}).status_code
            == 200
        )


def test_pbs_group_delete_keeps_protected_snapshots(pbs: Running) -> None:
    group = {"backup-type": "vm", "backup-id": "100"}
    r = pbs.client.delete("/admin/datastore/store1/groups", params={**group, "error-on-protected": 0})
    assert r.json()["data"] == {"protected-snapshots": 1, "removed-groups": 0, "removed-snapshots": 5}
    left = {(g["backup-type"], g["backup-id"]): g for g in ok(pbs, "GET", "/admin/datastore/store1/groups")}
    assert left[("vm", "100")]["backup-count"] == 1
    snap = ok(pbs, "GET", "/admin/datastore/store1/snapshots", **group)[0]
    assert snap["protected"] is True
    r = pbs.client.delete("/admin/datastore/store1/snapshots", params={**group, "backup-time": snap["backup-time"]})
    assert refused(r, 400).startswith("cannot remove protected snapshot 'vm/100/")


def test_pbs_namespaces_listed_where_one_has_privileges(pbs: Running) -> None:
    ok(pbs, "POST", "/admin/datastore/store1/namespace", name="qa")
    ok(pbs, "POST", "/access/users", userid="ops@pbs", password="ops-password")
    with as_user(pbs, "ops@pbs", "ops-password") as ops:
        assert refused(ops.get("/admin/datastore/store1/namespace")) == DENIED
        grant(pbs, "/datastore/store1/dev", "ops@pbs", "DatastoreReader")
        assert [n["ns"] for n in ops.get("/admin/datastore/store1/namespace").json()["data"]] == ["dev"]
        grant(pbs, "/datastore/store1", "ops@pbs", "DatastoreAudit")
        assert [n["ns"] for n in ops.get("/admin/datastore/store1/namespace").json()["data"]] == ["", "dev", "qa"]


def test_pbs_tape_lists_filtered_by_tape_audit(pbs: Running) -> None:
    everything = {path: ok(pbs, "GET", path) for path in ("/config/drive", "/config/media-pool", "/tape/media/list")}
    assert all(everything.values())
    ok(pbs, "POST", "/access/users", userid="tape@pbs", password="tape-password")
    with as_user(pbs, "tape@pbs", "tape-password") as op:
        assert all(op.get(path).json()["data"] == [] for path in everything)
        grant(pbs, "/tape/pool/weekly", "tape@pbs", "TapeOperator")
        assert [p["name"] for p in op.get("/config/media-pool").json()["data"]] == ["weekly"]
        assert len(op.get("/tape/media/list").json()["data"]) == len(everything["/tape/media/list"])
        assert op.get("/config/drive").json()["data"] == []
        grant(pbs, "/tape", "tape@pbs", "TapeAudit")
        assert op.get("/config/drive").json()["data"] == everything["/config/drive"]


def test_pbs_tasks_are_their_starters_unless_one_audits_them(pbs: Running) -> None:
    upid = ok(pbs, "POST", "/admin/datastore/store1/gc")
    ok(pbs, "POST", "/access/users", userid="ops@pbs", password="ops-password")
    made = ok(pbs, "POST", "/access/users/ops@pbs/token/t")
    grant(pbs, "/datastore/offsite", "ops@pbs", "DatastoreAdmin")
    grant(pbs, "/datastore/offsite", "ops@pbs!t", "DatastoreAdmin")
    with as_token(pbs, "ops@pbs!t", made["value"]) as token:
        mine = token.post("/admin/datastore/offsite/verify").json()["data"]
    with as_user(pbs, "ops@pbs", "ops-password") as ops:
        assert [t["upid"] for t in ops.get("/nodes/localhost/tasks").json()["data"]] == [mine]  # its token's
        assert ops.get(f"/nodes/localhost/tasks/{mine}/status").status_code == 200
        assert refused(ops.get(f"/nodes/localhost/tasks/{upid}/status"), 400) == "task access not allowed\n"
        assert refused(ops.delete(f"/nodes/localhost/tasks/{upid}"), 400) == "task access not allowed\n"
        grant(pbs, "/system/tasks", "ops@pbs", "Audit")
        assert {t["upid"] for t in ops.get("/nodes/localhost/tasks").json()["data"]} == {upid, mine}
        assert ops.get(f"/nodes/localhost/tasks/{upid}/log").status_code == 200
        assert refused(ops.delete(f"/nodes/localhost/tasks/{upid}"), 400) == "task access not allowed\n"


def test_pbs_permissions_off_lets_every_user_do_anything(serve: Any) -> None:
    running = serve(
        """
        scenariod: 1
        name: pbs-open
        service: pbs
        auth:
          permissions: "off"
          users:
            - {userid: root@pam, password: secret}
            - {userid: ops@pbs, password: ops-password}
        state:
          /config/datastore:
            - {name: store1, path: /mnt/datastore/store1}
        """,
        tls=True,
    )
    with as_user(running, "ops@pbs", "ops-password") as ops:
        assert [d["store"] for d in ops.get("/admin/datastore").json()["data"]] == ["store1"]
        assert ops.get("/nodes").status_code == 200
        made = ops.post("/config/datastore", data={"name": "new", "path": "/mnt/datastore/new"})
        assert made.status_code == 200, made.text


# --- backup group owners -----------------------------------------------------------------------------


def change_owner(client: httpx.Client, group: str, new_owner: str, **extra: Any) -> httpx.Response:
    btype, bid = group.split("/")
    data = {"backup-type": btype, "backup-id": bid, "new-owner": new_owner, **extra}
    return client.post("/admin/datastore/store1/change-owner", data=data)


def owners(running: Running, **params: Any) -> dict[str, str]:
    groups = ok(running, "GET", "/admin/datastore/store1/groups", **params)
    return {f"{g['backup-type']}/{g['backup-id']}": g["owner"] for g in groups}


def test_pbs_backup_privilege_moves_groups_between_a_user_and_its_tokens_only(pbs: Running) -> None:
    """set_backup_owner with Datastore.Backup alone: a user hands a group it owns to itself or its
    own tokens and back; never to another user, never a group someone else owns, never as a token."""
    ok(pbs, "POST", "/access/users/backup@pbs/token/other")
    with as_user(pbs, "backup@pbs", "backup-password") as user:
        assert change_owner(user, "vm/100", "backup@pbs").status_code == 200  # its token's group to itself
        assert owners(pbs)["vm/100"] == "backup@pbs"
        assert change_owner(user, "vm/100", "backup@pbs!other").status_code == 200  # itself to its token
        assert change_owner(user, "vm/100", "backup@pbs!pve").status_code == 200  # token to token
        assert owners(pbs)["vm/100"] == "backup@pbs!pve"
        for group, new_owner in (
            ("host/pve1", "backup@pbs"),  # root@pam!ci's group
            ("vm/101", "root@pam"),  # to another user
            ("vm/101", "root@pam!ci"),  # to another user's token
        ):
            assert refused(change_owner(user, group, new_owner), 401) == (
                f"backup@pbs does not have permission to change owner of backup group '{group}' to {new_owner}\n"
            )
        assert refused(change_owner(user, "vm/101", "backup@pbs!ghost"), 400) == (
            "API token 'backup@pbs!ghost' is inactive or non-existent\n"
        )
        assert refused(change_owner(user, "vm/999", "backup@pbs"), 400) == (
            'unable to read "/mnt/datastore/store1/vm/999/owner" - No such file or directory (os error 2)\n'
        )
        r = change_owner(user, "vm/100", "backup@pbs", ns="dev")  # a group of that name in another namespace
        assert r.status_code == 400 and "/mnt/datastore/store1/ns/dev/vm/100/owner" in r.json()["message"]
    secret = pbs.service.world.secrets["tokens"]["backup@pbs!pve"]
    with as_token(pbs, "backup@pbs!pve", secret) as token:  # a token hands nothing over, not even its own
        assert refused(change_owner(token, "vm/100", "backup@pbs"), 401) == (
            "backup@pbs!pve does not have permission to change owner of backup group 'vm/100' to backup@pbs\n"
        )
    assert owners(pbs)["vm/101"] == "backup@pbs!pve" and owners(pbs)["host/pve1"] == "root@pam!ci"


def test_pbs_modify_privilege_changes_any_owner_to_an_active_one(pbs: Running) -> None:
    ok(pbs, "POST", "/access/users", userid="ops@pbs", password="ops-password")
    with as_user(pbs, "ops@pbs", "ops-password") as ops:
        assert refused(change_owner(ops, "vm/100", "ops@pbs")) == ns_denied(
            "Datastore.Modify|Datastore.Backup", "/datastore/store1"
        )
        grant(pbs, "/datastore/store1", "ops@pbs", "DatastoreAdmin")
        assert change_owner(ops, "host/pve1", "backup@pbs").status_code == 200  # user to user, anyone's
        assert owners(pbs)["host/pve1"] == "backup@pbs"
        assert (
            refused(change_owner(ops, "vm/100", "nobody@pbs"), 400) == "user 'nobody@pbs' is inactive or non-existent\n"
        )
        assert refused(change_owner(ops, "vm/999", "ops@pbs"), 400) == (
            'unable to create owner file "/mnt/datastore/store1/vm/999/owner" - No such file or directory (os error 2)\n'
        )
        r = change_owner(ops, "vm/300", "ops@pbs", ns="dev")  # the namespace's own group
        assert r.status_code == 200, r.text
        assert owners(pbs, ns="dev") == {"vm/300": "ops@pbs"}
        ok(pbs, "POST", "/access/users/ops@pbs/token/old", expire=1700000000)  # expired in 2023
        assert refused(change_owner(ops, "vm/100", "ops@pbs!old"), 400) == (
            "API token 'ops@pbs!old' is inactive or non-existent\n"
        )
        ok(pbs, "PUT", "/access/users/ops@pbs/token/old", expire=0)
        assert change_owner(ops, "vm/100", "ops@pbs!old").status_code == 200
        ok(pbs, "PUT", "/access/users/backup@pbs", enable=0)  # disabled: no longer an owner to give to
        assert (
            refused(change_owner(ops, "vm/100", "backup@pbs"), 400) == "user 'backup@pbs' is inactive or non-existent\n"
        )
        assert refused(change_owner(ops, "vm/100", "backup@pbs!pve"), 400) == (
            "API token 'backup@pbs!pve' is inactive or non-existent\n"  # a disabled user's token too
        )


def test_pbs_snapshot_reads_need_audit_or_ownership(pbs: Running) -> None:
    """Notes, protection, files and group notes: Datastore.Audit (files: or .Read) on the namespace
    reads any group's; Datastore.Backup only the caller's own groups'."""
    snap = {"backup-type": "host", "backup-id": "pve1", "backup-time": 1763352000}  # root@pam!ci's
    own = {"backup-type": "vm", "backup-id": "100", "backup-time": 1763949611}  # backup@pbs!pve's
    reads = (
        ("notes", "Datastore.Audit"),
        ("protected", "Datastore.Audit"),
        ("files", "Datastore.Audit|Datastore.Read"),
    )
    ok(pbs, "POST", "/access/users", userid="ops@pbs", password="ops-password")
    with as_user(pbs, "ops@pbs", "ops-password") as ops:
        for leaf, full in reads:
            r = ops.get(f"/admin/datastore/store1/{leaf}", params=snap)
            assert refused(r) == ns_denied(f"{full}|Datastore.Backup", "/datastore/store1"), leaf
        r = ops.get("/admin/datastore/store1/group-notes", params={"backup-type": "vm", "backup-id": "100"})
        assert refused(r) == ns_denied(LISTING, "/datastore/store1")
        grant(pbs, "/datastore/store1", "ops@pbs", "DatastoreReader")
        for leaf, _ in reads:  # anyone's
            assert ops.get(f"/admin/datastore/store1/{leaf}", params=snap).status_code == 200, leaf
        assert ops.get("/admin/datastore/store1/protected", params=own).json()["data"] is False
    secret = pbs.service.world.secrets["tokens"]["backup@pbs!pve"]
    with as_token(pbs, "backup@pbs!pve", secret) as token:
        for leaf, _ in reads:
            r = token.get(f"/admin/datastore/store1/{leaf}", params=snap)
            assert refused(r, 400) == "backup owner check failed (backup@pbs!pve != root@pam!ci)\n", leaf
            assert token.get(f"/admin/datastore/store1/{leaf}", params=own).status_code == 200, leaf
        r = token.get("/admin/datastore/store1/group-notes", params={"backup-type": "vm", "backup-id": "100"})
        assert r.json()["data"] == "web-01 (public web tier)"


def test_pbs_owned_groups_a_user_sees_include_its_tokens_a_token_only_its_own(pbs: Running) -> None:
    ok(
        pbs,
        "POST",
        "/admin/datastore/store1/change-owner",
        **{"backup-type": "host", "backup-id": "pve1"},
        **{"new-owner": "backup@pbs"},
    )
    secret = pbs.service.world.secrets["tokens"]["backup@pbs!pve"]
    with as_token(pbs, "backup@pbs!pve", secret) as token:
        mine = {
            f"{g['backup-type']}/{g['backup-id']}" for g in token.get("/admin/datastore/store1/groups").json()["data"]
        }
        assert mine == {"vm/100", "vm/101", "ct/200"}  # not its user's host/pve1
        r = token.put(
            "/admin/datastore/store1/group-notes", data={"backup-type": "host", "backup-id": "pve1", "notes": "x"}
        )
        assert refused(r, 400) == "backup owner check failed (backup@pbs!pve != backup@pbs)\n"
    with as_user(pbs, "backup@pbs", "backup-password") as user:
        groups = user.get("/admin/datastore/store1/groups").json()["data"]
        assert {f"{g['backup-type']}/{g['backup-id']}" for g in groups} == {"vm/100", "vm/101", "ct/200", "host/pve1"}
        snaps = user.get("/admin/datastore/store1/snapshots", params={"backup-type": "host"}).json()["data"]
        assert len(snaps) == 2 and {s["owner"] for s in snaps} == {"backup@pbs"}
        r = user.put(
            "/admin/datastore/store1/group-notes", data={"backup-type": "host", "backup-id": "pve1", "notes": "x"}
        )
        assert r.status_code == 200, r.text


# --- ACL paths ---------------------------------------------------------------------------------------

NS7 = "/a/b/c/d/e/f/g"  # the deepest namespace PBS allows (MAX_NAMESPACE_DEPTH)
PBS_ACL_PATHS = (
    "/ /access /access/acl /access/users /access/domains /access/openid /access/openid/corp "
    f"/datastore /datastore/store1 /datastore/store1/dev /datastore/store1{NS7} "
    f"/remote /remote/pbs-offsite /remote/pbs-offsite/store2 /remote/pbs-offsite/store2{NS7} "
    "/system /system/certificates /system/disks /system/log /system/notifications /system/status "
    "/system/tasks /system/time /system/services /system/services/proxmox-backup-proxy /system/network "
    "/system/network/dns /system/network/interfaces /system/network/interfaces/eth0 "
    "/tape /tape/device /tape/device/lto1 /tape/pool/daily /tape/job/weekly"
).split()
PBS_BAD_ACL_PATHS = (
    "/vms/100 /resource /access/groups /access/acl/x /access/openid/corp/x "
    f"/datastore/store1{NS7}/h /remote/pbs-offsite/store2{NS7}/h "
    "/system/certificates/x /system/apt /system/services/a/b /system/network/dns/x /system/network/routes "
    "/system/network/interfaces/eth0/x /tape/media /tape/device/lto1/x"
).split()
PDM_ACL_PATHS = (
    "/ /access /access/acl /access/users /access/realm /resource /resource/prod /resource/prod/guest "
    "/resource/prod/guest/100 /resource/prod/storage/local "
    "/system /system/auto-installation /system/notifications /system/services/proxmox-datacenter-api "
    "/system/network/interfaces/eth0 /view /view/production"
).split()
PDM_BAD_ACL_PATHS = (
    "/datastore /tape /access/domains /access/acl/x /resource/prod/node /resource/prod/guest/100/x "
    "/system/auto-installation/x /system/tasks/x /view/production/x"
).split()


@pytest.mark.parametrize(
    ("product", "authid", "role", "good", "bad"),
    [
        ("pbs", "backup@pbs", "Audit", PBS_ACL_PATHS, PBS_BAD_ACL_PATHS),
        ("pdm", "ops@pdm", "Auditor", PDM_ACL_PATHS, PDM_BAD_ACL_PATHS),
    ],
)
def test_acl_paths_checked_as_the_product_checks_them(
    product: str, authid: str, role: str, good: list[str], bad: list[str]
) -> None:
    """check_acl_path: each product's privilege paths, each to its depth (namespaces to 7 levels);
    anything else refused in its words on adding, yet removable."""
    for running in serving(SCENARIOS / f"{product}.yaml", tls=True, login=True):
        for path in good:
            grant(running, path, authid, role)
        assert {e["path"] for e in ok(running, "GET", "/access/acl") if e["ugid"] == authid} >= set(good)
        for path in bad:
            r = running.client.put("/access/acl", data={"path": path, "role": role, "auth-id": authid})
            assert refused(r, 400) == f"invalid acl path '{path}'.\n", path
            r = running.client.put("/access/acl", data={"path": path, "role": role, "auth-id": authid, "delete": 1})
            assert r.status_code == 200, path  # "we allow to delete entries with invalid path"
        assert not {e["path"] for e in ok(running, "GET", "/access/acl") if e["ugid"] == authid} & set(bad)
        # a component that is no safe id never reaches the check: the path's own format refuses it
        r = running.client.put("/access/acl", data={"path": "/datastore/bad name", "role": role, "auth-id": authid})
        assert r.status_code == 400 and "path" in r.json()["errors"]


def test_pbs_no_access_replaces_every_role_of_an_auth_id_on_a_path(pbs: Running) -> None:
    """insert_user_role: NoAccess clears the others on that path; any other role clears NoAccess."""
    grant(pbs, "/datastore/store1", "backup@pbs", "DatastoreReader")
    roles = lambda: sorted(  # noqa: E731
        e["roleid"]
        for e in ok(pbs, "GET", "/access/acl", path="/datastore/store1", exact=1)
        if e["ugid"] == "backup@pbs"
    )
    assert roles() == ["DatastorePowerUser", "DatastoreReader"]
    grant(pbs, "/datastore/store1", "backup@pbs", "NoAccess")
    assert roles() == ["NoAccess"]
    assert ok(pbs, "GET", "/access/permissions", **{"auth-id": "backup@pbs"}, path="/datastore/store1") == {}
    grant(pbs, "/datastore/store1", "backup@pbs", "DatastoreAudit")
    assert roles() == ["DatastoreAudit"]
    assert [e["roleid"] for e in ok(pbs, "GET", "/access/acl") if e["ugid"] == "backup@pbs!pve"] == [
        "DatastorePowerUser"  # another auth id's entries on the same path stay
    ]


@pytest.mark.parametrize("product", ["pbs", "pdm"])
def test_root_at_pam_gets_no_acl_entries(product: str) -> None:
    """acl.cfg is written without root@pam's entries (always Administrator): granting one answers
    success and keeps nothing; its tokens' entries are kept."""
    for running in serving(SCENARIOS / f"{product}.yaml", tls=True, login=True):
        role = "Audit" if product == "pbs" else "Auditor"
        before = ok(running, "GET", "/access/acl")
        grant(running, "/system", "root@pam", role)
        assert ok(running, "GET", "/access/acl") == before
        token = "root@pam!ci" if product == "pbs" else "root@pam!automation"
        grant(running, "/system", token, role)
        assert {"path": "/system", "ugid": token, "ugid_type": "user", "roleid": role, "propagate": True} in ok(
            running, "GET", "/access/acl"
        )
