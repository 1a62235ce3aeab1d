"""Secrets never leave the process in the request log (text and JSON lines) or the journal as
the control API answers it (scenariod/redact.py): passwords in bodies and query strings,
`confirmation-password`, notification endpoint tokens and secrets, tickets, token secrets."""

from __future__ import annotations

import json

import httpx
import pytest
from test_reload import Cli, cli  # noqa: F401

PASSWORD = "Pw-7f3a9c-never-logged"
TOKEN_SECRET = "ts-0c4be1d2-never-logged"
SECRETS = (PASSWORD, TOKEN_SECRET, "gotify-tok-never-logged", "smtp-pw-never-logged", "new-pw-never-logged")
SCENARIO = f"""\
scenariod: 1
name: secrets
auth:
  users: [{{userid: root@pam, password: {PASSWORD}}}]
  tokens: [{{tokenid: "root@pam!ci", secret: {TOKEN_SECRET}}}]
state:
  /nodes: [{{node: pve1}}]
"""


def send_secrets(c: Cli) -> str:
    """A login by form, one by query string, a password change, two notification endpoints;
    the ticket the login answered (itself a secret)."""
    login = c.client.post("/access/ticket", data={"username": "root@pam", "password": PASSWORD})
    assert login.status_code == 200, login.text
    ticket = login.json()["data"]["ticket"]
    c.client.post("/access/ticket", params={"username": "root@pam", "password": PASSWORD})
    auth = {"Authorization": f"PVEAPIToken=root@pam!ci={TOKEN_SECRET}"}
    c.client.put(
        "/access/password",
        data={"userid": "root@pam", "password": "new-pw-never-logged", "confirmation-password": PASSWORD},
        headers=auth,
    )
    c.client.post(
        "/cluster/notifications/endpoints/gotify",
        data={"name": "g", "server": "https://gotify.example", "token": "gotify-tok-never-logged"},
        headers=auth,
    )
    c.client.post(
        "/cluster/notifications/endpoints/smtp",
        data={"name": "m", "server": "mail.example", "from-address": "a@b.c", "password": "smtp-pw-never-logged"},
        headers=auth,
    )
    c.client.post("/access/ticket", data={"username": "root@pam", "password": ticket})  # a ticket as password
    c.client.get("/version", headers={"Cookie": f"PVEAuthCookie={ticket}"})
    return ticket


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_the_request_log_and_the_journal_hold_no_secret(cli, fmt: str) -> None:  # noqa: F811
    c = cli(SCENARIO, "--log-format", fmt)
    ticket = send_secrets(c)
    journal = httpx.get(c.api.replace("/api2/json", "/_scenariod/journal"), timeout=10)
    assert journal.status_code == 200
    entries = journal.json()["entries"]
    assert len(entries) >= 7
    text = journal.text
    for secret in (*SECRETS, ticket):
        assert secret not in text, secret
    login = next(e for e in entries if e["path"] == "/access/ticket" and e["body"])
    assert login["body"] == {"username": "root@pam", "password": "<redacted>"}
    by_query = next(e for e in entries if e["path"] == "/access/ticket" and e["query"])
    assert by_query["query"]["password"] == "<redacted>"
    assert c.stop() == 0
    log = "\n".join(c.lines)
    assert "/access/ticket" in log
    for secret in (*SECRETS, ticket):
        assert secret not in log, secret
    if fmt == "json":
        lines = [json.loads(x) for x in c.lines if x.startswith("{") and '"method"' in x]
        logins = [x for x in lines if x["path"] == "/access/ticket" and x["body"]]
        assert logins and all(x["body"]["password"] == "<redacted>" for x in logins)
        change = next(x for x in lines if x["path"] == "/access/password")
        assert change["body"]["confirmation-password"] == "<redacted>" and change["body"]["userid"] == "root@pam"


def test_expectations_still_match_on_a_secret(serve) -> None:
    """Stored entries keep the values (only what leaves is masked): `verify` can match a login."""
    s = serve(SCENARIO)
    assert httpx.post(f"{s.api}/access/ticket", data={"username": "root@pam", "password": PASSWORD}).status_code == 200
    when = {"method": "POST", "path": "/access/ticket", "body": {"password": PASSWORD}}
    r = httpx.post(f"{s.url}/_scenariod/verify", json={"when": when, "count": 1})
    assert r.status_code == 200 and r.json()["ok"] is True
    assert r.json()["requests"][0]["body"]["password"] == "<redacted>"  # the `when` echoes only what was asked
