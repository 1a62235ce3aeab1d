"""Auth as Proxmox has it, over real HTTP: tickets, CSRF, tokens, renewal, expiry, modes."""

from __future__ import annotations

import httpx

ENFORCED = """
scenariod: 1
name: auth
auth:
  ticket_lifetime: {lifetime}
  users:
    - {{userid: root@pam, password: secret}}
    - {{userid: off@pve, password: pw, enable: false}}
  tokens:
    - {{tokenid: "root@pam!ci", secret: "11111111-2222-3333-4444-555555555555"}}
"""


def enforced(lifetime: str = "2h") -> str:
    return ENFORCED.format(lifetime=lifetime)


def login(s, username="root@pam", password="secret", **extra) -> httpx.Response:
    return httpx.post(f"{s.api}/access/ticket", data={"username": username, "password": password, **extra})


def test_ticket_login_form_and_json(serve):
    s = serve(enforced())
    data = login(s).json()["data"]
    assert data["username"] == "root@pam" and data["ticket"].startswith("PVE:root@pam:")
    assert data["CSRFPreventionToken"].count(":") == 1 and "cap" in data
    # JSON bodies and a separate realm work too.
    r = httpx.post(f"{s.api}/access/ticket", json={"username": "root", "realm": "pam", "password": "secret"})
    assert r.json()["data"]["username"] == "root@pam"


def test_wrong_credentials_and_missing_ticket(serve):
    s = serve(enforced())
    bad = login(s, password="nope")
    assert bad.status_code == 401 and bad.reason_phrase == "authentication failure"
    assert bad.json() == {"data": None, "message": "authentication failure\n"}
    assert login(s, "off@pve", "pw").status_code == 401  # disabled user
    assert httpx.get(f"{s.api}/nodes").status_code == 401
    forged = httpx.get(f"{s.api}/nodes", cookies={"PVEAuthCookie": "PVE:root@pam:00000000::bad"})
    assert forged.status_code == 401
    assert forged.json()["message"] == "permission denied - invalid PVE ticket\n"


def test_cookie_reads_and_csrf_protected_writes(serve):
    s = serve(enforced())
    data = login(s).json()["data"]
    cookies = {"PVEAuthCookie": data["ticket"]}
    assert httpx.get(f"{s.api}/nodes", cookies=cookies).status_code == 200
    no_csrf = httpx.post(f"{s.api}/pools", data={"poolid": "p1"}, cookies=cookies)
    assert no_csrf.status_code == 401 and no_csrf.reason_phrase == "Permission denied - invalid csrf token"
    ok = httpx.post(
        f"{s.api}/pools",
        data={"poolid": "p1"},
        cookies=cookies,
        headers={"CSRFPreventionToken": data["CSRFPreventionToken"]},
    )
    assert ok.status_code == 200


def test_api_tokens_need_no_csrf_and_bad_tokens_fail(serve):
    s = serve(enforced())
    header = {"Authorization": "PVEAPIToken=root@pam!ci=11111111-2222-3333-4444-555555555555"}
    assert httpx.post(f"{s.api}/pools", data={"poolid": "t1"}, headers=header).status_code == 200
    wrong = {"Authorization": "PVEAPIToken=root@pam!ci=00000000-0000-0000-0000-000000000000"}
    r = httpx.get(f"{s.api}/nodes", headers=wrong)
    assert r.status_code == 401 and r.json()["message"] == "authentication failure\n"
    assert httpx.get(f"{s.api}/nodes", headers={"Authorization": "PBSAPIToken=root@pam!ci:x"}).status_code == 401


def test_ticket_renewal_and_expiry(serve):
    s = serve(enforced("2h"))
    ticket = login(s).json()["data"]["ticket"]
    renewed = login(s, password=ticket)
    assert renewed.status_code == 200 and renewed.json()["data"]["username"] == "root@pam"
    # The World's clock (control API) moves past the ticket's lifetime: no waiting.
    assert httpx.post(f"{s.url}/_scenariod/clock", json={"advance": "1h59m"}).status_code == 200
    assert httpx.get(f"{s.api}/nodes", cookies={"PVEAuthCookie": ticket}).status_code == 200
    assert httpx.post(f"{s.url}/_scenariod/clock", json={"advance": "2m"}).status_code == 200
    expired = httpx.get(f"{s.api}/nodes", cookies={"PVEAuthCookie": ticket})
    assert expired.status_code == 401 and expired.reason_phrase == "permission denied - invalid PVE ticket"
    assert login(s, password=ticket).status_code == 401


def test_users_and_tokens_created_through_the_api_can_log_in(serve):
    s = serve(enforced())
    root = {"Authorization": "PVEAPIToken=root@pam!ci=11111111-2222-3333-4444-555555555555"}
    assert (
        httpx.post(
            f"{s.api}/access/users", headers=root, data={"userid": "alice@pve", "password": "wonderland"}
        ).status_code
        == 200
    )
    assert login(s, "alice@pve", "wonderland").status_code == 200
    assert "alice@pve" in [u["userid"] for u in httpx.get(f"{s.api}/access/users", headers=root).json()["data"]]
    made = httpx.post(f"{s.api}/access/users/alice@pve/token/robot", headers=root, data={"privsep": 0}).json()["data"]
    assert made["full-tokenid"] == "alice@pve!robot"
    alice = {"Authorization": f"PVEAPIToken=alice@pve!robot={made['value']}"}
    assert httpx.get(f"{s.api}/version", headers=alice).status_code == 200
    assert httpx.delete(f"{s.api}/access/users/alice@pve/token/robot", headers=root).status_code == 200
    assert httpx.get(f"{s.api}/version", headers=alice).status_code == 401


def test_mode_any_accepts_any_credentials_but_wants_some(serve):
    s = serve("scenariod: 1\nname: any\nauth: {mode: any}\n")
    data = login(s, "whoever@pve", "whatever").json()["data"]
    assert data["username"] == "whoever@pve"
    assert httpx.get(f"{s.api}/nodes").status_code == 401
    assert httpx.get(f"{s.api}/nodes", headers={"Authorization": "PVEAPIToken=x@pam!y=z"}).status_code == 200


def test_mode_none_needs_nothing(serve):
    s = serve("scenariod: 1\nname: none\nauth: {mode: none}\n")
    assert httpx.get(f"{s.api}/nodes").status_code == 200
    assert httpx.post(f"{s.api}/pools", data={"poolid": "p"}).status_code == 200


def test_a_verified_token_is_checked_again_on_every_call(serve):
    """A token that worked is refused on the next call once its secret changes, its user is
    disabled, or the user's account expires (the authenticator remembers verified headers)."""
    s = serve(enforced())
    root = {"Authorization": "PVEAPIToken=root@pam!ci=11111111-2222-3333-4444-555555555555"}
    assert httpx.post(f"{s.api}/access/users", headers=root, data={"userid": "bob@pve"}).status_code == 200
    first = httpx.post(f"{s.api}/access/users/bob@pve/token/ci", headers=root, data={"privsep": 0}).json()["data"]
    old = {"Authorization": f"PVEAPIToken=bob@pve!ci={first['value']}"}
    assert httpx.get(f"{s.api}/version", headers=old).status_code == 200
    assert httpx.get(f"{s.api}/version", headers=old).status_code == 200
    # the same token id made anew: a new secret, and the old one no longer works
    assert httpx.delete(f"{s.api}/access/users/bob@pve/token/ci", headers=root).status_code == 200
    second = httpx.post(f"{s.api}/access/users/bob@pve/token/ci", headers=root, data={"privsep": 0}).json()["data"]
    new = {"Authorization": f"PVEAPIToken=bob@pve!ci={second['value']}"}
    assert httpx.get(f"{s.api}/version", headers=old).status_code == 401
    assert httpx.get(f"{s.api}/version", headers=new).status_code == 200
    # the user disabled, then enabled again
    assert httpx.put(f"{s.api}/access/users/bob@pve", headers=root, data={"enable": 0}).status_code == 200
    assert httpx.get(f"{s.api}/version", headers=new).status_code == 401
    assert httpx.put(f"{s.api}/access/users/bob@pve", headers=root, data={"enable": 1}).status_code == 200
    assert httpx.get(f"{s.api}/version", headers=new).status_code == 200
    # the account expires as the World's clock passes its `expire`
    expire = int(httpx.get(f"{s.url}/_scenariod/clock").json()["now"]) + 3600
    assert httpx.put(f"{s.api}/access/users/bob@pve", headers=root, data={"expire": expire}).status_code == 200
    assert httpx.get(f"{s.api}/version", headers=new).status_code == 200
    assert httpx.post(f"{s.url}/_scenariod/clock", json={"advance": "2h"}).status_code == 200
    assert httpx.get(f"{s.api}/version", headers=new).status_code == 401
    # a write elsewhere (a pool) keeps the verdict; the token's own `expire` passing ends it, as
    # PVE's verify_token refuses an expired token
    assert httpx.put(f"{s.api}/access/users/bob@pve", headers=root, data={"expire": 0}).status_code == 200
    assert httpx.post(f"{s.api}/pools", headers=root, data={"poolid": "elsewhere"}).status_code == 200
    assert httpx.get(f"{s.api}/version", headers=new).status_code == 200
    now = int(httpx.get(f"{s.url}/_scenariod/clock").json()["now"])
    token = f"{s.api}/access/users/bob@pve/token/ci"
    assert httpx.put(token, headers=root, data={"expire": now + 60}).status_code == 200
    assert httpx.get(f"{s.api}/version", headers=new).status_code == 200
    assert httpx.post(f"{s.url}/_scenariod/clock", json={"advance": "2m"}).status_code == 200
    assert httpx.get(f"{s.api}/version", headers=new).status_code == 401
    assert httpx.get(f"{s.api}/version", headers=root).status_code == 200
