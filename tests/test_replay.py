"""Replayed GET answers (world.Answer): a repeat is answered from memory only while that is
exactly what the pipeline would answer. Each test warms the memory with identical GETs first,
then changes one thing the answer depends on, and checks the next identical GET sees it."""

from __future__ import annotations

import time

import httpx

SCENARIO = """
scenariod: 1
name: replay
auth:
  users:
    - {userid: root@pam, password: secret}
    - {userid: bob@pve, password: pw, expire: %(expire)s}
  tokens:
    - {tokenid: "root@pam!ci", secret: "11111111-2222-3333-4444-555555555555"}
state:
  /nodes:
    - {node: pve1, status: online}
"""
ROOT = {"Authorization": "PVEAPIToken=root@pam!ci=11111111-2222-3333-4444-555555555555"}


def scenario(expire: int = 0) -> str:
    return SCENARIO % {"expire": expire}


def twice(s, path: str, **kwargs) -> httpx.Response:
    """GET `path` twice (the second may be a replay); both answers must agree."""
    first = httpx.get(f"{s.api}{path}", **kwargs)
    second = httpx.get(f"{s.api}{path}", **kwargs)
    assert (first.status_code, first.content) == (second.status_code, second.content)
    return second


def test_repeats_are_replayed_and_still_journaled(serve):
    s = serve(scenario())
    world = s.service.world
    before = world.journal.total
    assert twice(s, "/nodes", headers=ROOT).status_code == 200
    assert world.answers, "an answer of a rule-free GET is kept"
    assert world.journal.total == before + 2
    entries = list(world.journal)[-2:]
    assert [(e.method, e.path, e.status, e.user) for e in entries] == [("GET", "/nodes", 200, "root@pam!ci")] * 2


def test_a_write_is_seen_by_the_next_repeat(serve):
    s = serve(scenario())
    twice(s, "/pools", headers=ROOT)
    assert httpx.post(f"{s.api}/pools", data={"poolid": "p1"}, headers=ROOT).status_code == 200
    assert [p["poolid"] for p in twice(s, "/pools", headers=ROOT).json()["data"]] == ["p1"]


def test_query_and_credentials_are_part_of_the_key(serve):
    s = serve(scenario())
    twice(s, "/cluster/resources", headers=ROOT)
    nodes = twice(s, "/cluster/resources", params={"type": "node"}, headers=ROOT).json()["data"]
    assert {r["type"] for r in nodes} == {"node"}
    wrong = {"Authorization": "PVEAPIToken=root@pam!ci=00000000-0000-0000-0000-000000000000"}
    assert httpx.get(f"{s.api}/cluster/resources", headers=wrong).status_code == 401


def test_a_ticket_expires_on_a_replayed_path(serve):
    s = serve(scenario())
    ticket = httpx.post(f"{s.api}/access/ticket", data={"username": "root@pam", "password": "secret"}).json()["data"]
    cookie = {"PVEAuthCookie": ticket["ticket"]}
    assert twice(s, "/nodes", cookies=cookie).status_code == 200
    assert httpx.post(f"{s.url}/_scenariod/clock", json={"advance": "3h"}).status_code == 200
    expired = httpx.get(f"{s.api}/nodes", cookies=cookie)
    assert expired.status_code == 401 and expired.reason_phrase == "permission denied - invalid PVE ticket"


def test_an_account_expiry_ends_replays(serve):
    s = serve(scenario(expire=int(time.time()) + 3600))  # the account expires within the ticket's 2 h
    ticket = httpx.post(f"{s.api}/access/ticket", data={"username": "bob@pve", "password": "pw"}).json()["data"]
    cookie = {"PVEAuthCookie": ticket["ticket"]}
    assert twice(s, "/version", cookies=cookie).status_code == 200
    assert httpx.post(f"{s.url}/_scenariod/clock", json={"advance": "1h"}).status_code == 200
    assert httpx.get(f"{s.api}/version", cookies=cookie).status_code == 401


def test_disabling_a_user_ends_replays(serve):
    s = serve(scenario())
    assert twice(s, "/version", headers=ROOT).status_code == 200
    assert httpx.put(f"{s.api}/access/users/root@pam", data={"enable": 0}, headers=ROOT).status_code == 200
    assert httpx.get(f"{s.api}/version", headers=ROOT).status_code == 401


def test_a_reload_that_adds_a_fault_applies_at_once(serve, tmp_path):
    s = serve(scenario())
    twice(s, "/version", headers=ROOT)
    path = tmp_path / "scenario.yaml"
    path.write_text(path.read_text() + "faults:\n  - when: GET /version\n    error: {status: 503}\n")
    assert s.call(lambda: s.service.reload())
    assert httpx.get(f"{s.api}/version", headers=ROOT).status_code == 503


def test_paths_with_rules_are_never_replayed(serve):
    s = serve(scenario() + "faults:\n  - when: GET /nodes\n    error: {status: 500}\n    after: 2\n")
    codes = [httpx.get(f"{s.api}/nodes", headers=ROOT).status_code for _ in range(3)]
    assert codes == [200, 200, 500]
    assert not s.service.world.answers


def test_the_replay_memory_is_bounded(serve):
    s = serve(scenario() + "limits: {answers: 3}\n")
    for kind in ("vm", "storage", "node", "sdn", "vm"):
        assert httpx.get(f"{s.api}/cluster/resources", params={"type": kind}, headers=ROOT).status_code == 200
        assert len(s.service.world.answers) <= 3
    assert len(s.service.world.answers) == 2  # cleared to make room for the fourth (sdn), then vm again
