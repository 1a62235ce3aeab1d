"""What an instance keeps is bounded (`limits`): the journal in entries and bytes, each entry's
body clipped in size and depth (so whatever a client sends, the journal, `verify` and the log
can always be read), task lists, replay memory and sessions; `/_scenariod/scenario` shows
every bound in force. All over real HTTP."""

from __future__ import annotations

import json
import time

import httpx
from conftest import SCENARIOS

TOKEN = {"Authorization": "PVEAPIToken=root@pam!ci=5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10"}


def deep(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels):
        value = {"a": value}
    return value


def test_a_body_nested_300_deep_never_breaks_the_journal_or_verify(serve):
    s = serve(SCENARIOS / "two-node.yaml")
    ctl = httpx.Client(base_url=s.url, timeout=10)
    body = json.dumps({"vmid": 900, "x": deep(300)})
    r = httpx.post(f"{s.api}/nodes/pve1/qemu", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["data"] is None  # refused as it is read, Proxmox-shaped
    assert ctl.get("/_scenariod/journal").status_code == 200
    # a body the parser takes (50 levels) but deeper than the journal keeps is clipped there
    body = json.dumps({"vmid": 900, "x": deep(50)})
    r = httpx.post(f"{s.api}/nodes/pve1/qemu", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 401  # without credentials, as the issue sent it
    r = ctl.get("/_scenariod/journal")
    assert r.status_code == 200
    kept = r.json()["entries"][-1]["body"]
    assert kept["vmid"] == 900
    depth, node = 0, kept["x"]
    while isinstance(node, dict):
        node, depth = node["a"], depth + 1
    assert depth < 40 and "nested deeper than the journal keeps" in node
    r = ctl.post("/_scenariod/verify", json={"when": "POST /nodes/{node}/qemu", "count": 2})
    assert r.status_code == 200 and r.json()["ok"] is True, r.json()
    assert ctl.get("/_scenariod/verify").status_code == 200


def test_megabyte_bodies_are_clipped_and_the_journal_is_bounded_in_bytes(serve):
    s = serve(SCENARIOS / "two-node.yaml")
    big = "x" * 1_000_000
    for _ in range(30):
        r = httpx.put(f"{s.api}/nodes/pve1/qemu/100/config", data={"description": big}, headers=TOKEN, timeout=30)
        assert r.status_code in (200, 400)
    journal = s.service.world.journal
    limits = s.service.scenario.limits
    assert journal.bytes <= limits.journal_bytes
    entries = httpx.get(f"{s.url}/_scenariod/journal", timeout=10).json()["entries"]
    assert len(entries) == 30
    kept = entries[-1]["body"]["description"]
    assert kept.startswith("xxx") and kept.endswith(" more characters]")
    assert len(kept) < limits.body_bytes + 64
    assert journal.bytes < 30 * (limits.body_bytes + 4096)  # not 30 MB


def test_the_journal_drops_the_oldest_entries_past_its_byte_bound(serve, tmp_path):
    text = (SCENARIOS / "two-node.yaml").read_text() + "limits: {journal_bytes: 100000, body_bytes: 20000}\n"
    s = serve(text)
    big = "y" * 50_000
    for n in range(10):
        httpx.put(f"{s.api}/nodes/pve1/qemu/100/config", data={"n": str(n), "description": big}, headers=TOKEN)
    entries = httpx.get(f"{s.url}/_scenariod/journal").json()["entries"]
    assert 1 <= len(entries) <= 5  # each entry holds ~20 KB of body: at most 100 KB of them
    assert entries[-1]["body"]["n"] == "9"
    assert s.service.world.journal.bytes <= 100_000


def test_the_task_limit_from_the_command_line_is_applied(serve):
    """Past the limit the oldest finished tasks go (a running one is kept until it ends)."""
    s = serve(SCENARIOS / "two-node.yaml", limits={"tasks": 3})

    def listed() -> int:
        r = httpx.get(f"{s.api}/nodes/pve1/tasks", params={"limit": 100, "source": "all"}, headers=TOKEN)
        return len(r.json()["data"])

    for _ in range(6):
        for action in ("start", "stop"):
            assert httpx.post(f"{s.api}/nodes/pve1/qemu/101/status/{action}", headers=TOKEN).status_code == 200
    deadline = time.monotonic() + 30
    while listed() > 3:  # tasks still running when the last ones started
        assert time.monotonic() < deadline, listed()
        time.sleep(0.5)
        httpx.post(f"{s.api}/nodes/pve1/qemu/101/status/stop", headers=TOKEN)
    assert len(s.service.world.tasks._tasks) <= 3  # noqa: SLF001 - what the process holds


def test_the_scenario_endpoint_shows_every_bound(serve):
    text = (SCENARIOS / "two-node.yaml").read_text() + "limits: {journal_bytes: 2000000, answers: 10}\n"
    s = serve(text)
    limits = httpx.get(f"{s.url}/_scenariod/scenario").json()["limits"]
    assert limits == {
        "journal": 1000,
        "tasks": 1000,
        "sessions": 100,
        "journal_bytes": 2_000_000,
        "body_bytes": 16384,
        "body_depth": 32,
        "answers": 10,
        "answer_bytes": 64 << 20,
        "remote_cache": 5.0,
        "remote_timeout": 10.0,
        "remote_fetches": 16,
        "client_timeout": 10.0,
        "file": {"file_bytes": 256 << 20, "yaml_nodes": 5_000_000, "yaml_depth": 200, "scalar_chars": 16 << 20},
    }
