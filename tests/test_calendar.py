"""`next-run` from calendar events (proxmox-time's grammar, one reader for PVE and PBS) computed
at the world's clock: PBS garbage collection and its sync, verify and prune job lists, which PBS
limits by privilege; PVE's backup jobs are tested with the Ansible module that reads them (issue 11)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from conftest import SCENARIOS, Running, serving

from scenariod.proxmox.calendar import next_event as next_run


def at(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp())


# Saturday 2025-11-29 10:30 UTC
NOW = at("2025-11-29T10:30:00")


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("daily", "2025-11-30T00:00:00"),
        ("hourly", "2025-11-29T11:00:00"),
        ("weekly", "2025-12-01T00:00:00"),  # Monday
        ("monthly", "2025-12-01T00:00:00"),
        ("yearly", "2026-01-01T00:00:00"),
        ("sat 03:00", "2025-12-06T03:00:00"),  # today's has passed
        ("sat 12:15", "2025-11-29T12:15:00"),
        ("sun 05:00", "2025-11-30T05:00:00"),
        ("mon..fri 08:00", "2025-12-01T08:00:00"),
        ("mon,wed 22:30", "2025-12-01T22:30:00"),
        ("*:0/15", "2025-11-29T10:45:00"),
        ("2,22:30", "2025-11-29T22:30:00"),
        ("sat *-1..7 00:00", "2025-12-06T00:00:00"),  # the first Saturday of a month
        ("*-02-29 00:00", "2028-02-29T00:00:00"),
    ],
)
def test_calendar_events(schedule: str, expected: str) -> None:
    assert next_run(schedule, NOW) == at(expected)


def test_a_schedule_that_does_not_parse_has_no_next_run() -> None:
    assert next_run("every blue moon", NOW) is None
    assert next_run("25:00", NOW) is None


@pytest.fixture
def pbs() -> Iterator[Running]:
    yield from serving(SCENARIOS / "pbs.yaml", tls=True, login=True)


def test_job_lists_run_next_as_scheduled_at_the_world_clock(pbs: Running) -> None:
    now = pbs.client.get(pbs.url + "/_scenariod/clock").json()["now"]
    jobs = {
        kind: {j["id"]: j for j in pbs.client.get(f"/admin/{kind}").json()["data"]}
        for kind in ("sync", "verify", "prune")
    }
    verify = jobs["verify"]["v-store1-weekly"]["next-run"]
    assert verify == next_run("sun 05:00", now) and verify > now
    when = dt.datetime.fromtimestamp(verify, dt.UTC)
    assert (when.weekday(), when.hour, when.minute) == (6, 5, 0)
    assert dt.datetime.fromtimestamp(jobs["sync"]["s-offsite"]["next-run"], dt.UTC).weekday() == 5
    assert jobs["prune"]["store1-daily"]["next-run"] == next_run("daily", now)
    gc = pbs.client.get("/admin/datastore/offsite/gc").json()["data"]
    assert gc["schedule"] == "sat 03:00" and gc["next-run"] == next_run("sat 03:00", now)
    # moving the world's clock a week on moves every next run a week on (or past it)
    pbs.client.post(pbs.url + "/_scenariod/clock", json={"advance": "7d"})
    pbs.login()  # the ticket expired meanwhile
    later = pbs.client.get("/admin/verify").json()["data"][0]["next-run"]
    assert later == verify + 7 * 86400
    # a new job appears in its list with its own next run
    made = pbs.client.post("/config/verify", data={"id": "v-offsite", "store": "offsite", "schedule": "hourly"})
    assert made.status_code == 200, made.text
    listed = {j["id"]: j for j in pbs.client.get("/admin/verify").json()["data"]}
    assert listed["v-offsite"]["next-run"] % 3600 == 0


def test_job_lists_limited_by_privilege(pbs: Running) -> None:
    c = pbs.client
    assert c.post("/access/users", data={"userid": "ops@pbs", "password": "ops-password"}).status_code == 200
    grant = {"path": "/datastore/offsite", "auth-id": "ops@pbs", "role": "DatastoreAudit"}
    assert c.put("/access/acl", data=grant).status_code == 200
    from test_rest_access import as_user

    with as_user(pbs, "ops@pbs", "ops-password") as ops:
        assert ops.get("/admin/verify").json()["data"] == []  # store1's job: no Audit or Verify there
        assert ops.get("/admin/prune").json()["data"] == []
        assert ops.get("/admin/sync").json()["data"] == []  # offsite's, but the remote: no Remote.Audit
        assert ops.get("/config/sync").json()["data"] == [] and ops.get("/config/remote").json()["data"] == []
        assert ops.get("/config/verify").json()["data"] == []
        grant = {"path": "/remote", "auth-id": "ops@pbs", "role": "RemoteAudit"}
        assert c.put("/access/acl", data=grant).status_code == 200
        assert [j["id"] for j in ops.get("/admin/sync").json()["data"]] == ["s-offsite"]
        assert [j["id"] for j in ops.get("/config/sync").json()["data"]] == ["s-offsite"]
        assert [r["name"] for r in ops.get("/config/remote").json()["data"]] == ["pbs-offsite"]
        grant = {"path": "/datastore/store1", "auth-id": "ops@pbs", "role": "DatastoreReader"}
        assert c.put("/access/acl", data=grant).status_code == 200
        assert [j["id"] for j in ops.get("/admin/verify").json()["data"]] == ["v-store1-weekly"]
        assert [j["id"] for j in ops.get("/admin/prune").json()["data"]] == ["store1-daily"]
        assert [j["id"] for j in ops.get("/config/verify").json()["data"]] == ["v-store1-weekly"]
        assert [g["store"] for g in ops.get("/admin/gc").json()["data"]] == ["store1", "offsite"]
