"""The request pipeline's own parsing and timing, over real HTTP: bodies sent without a content
type, and the seeded delays of routes."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import httpx

from scenariod import faults
from scenariod import runtime as rt
from scenariod.scenario import load_scenario

ECHO = """
scenariod: 1
name: echo
auth: {mode: none}
routes:
  - when: POST /cluster/ha/groups
    respond:
      data: "${body}"
"""


def test_a_body_without_content_type_is_a_form_and_keeps_repeated_keys(serve):
    s = serve(ECHO)
    form = "tag=a&tag=b&comment=x&empty="
    as_form = s.client.post(
        "/cluster/ha/groups", content=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    bare = s.client.post("/cluster/ha/groups", content=form.encode())
    assert "content-type" not in bare.request.headers
    assert bare.json()["data"] == {"tag": ["a", "b"], "comment": "x", "empty": ""}
    assert bare.json() == as_form.json()


# Escapes, `+`, blank values, a key with no `=`, repeated keys, empty pairs, a bad UTF-8 escape,
# a `=` inside a value: read as urllib's parse_qsl reads them (the pipeline has its own reader).
ODD = "a+b=c+d&pct=%2B%26%3D&tag=x&tag=%79&tag=z&&flag&empty=&bad=%ff&eq=x%3Dy=z&%61lias=1&%zz=%zz"


def _as_parse_qsl(text: str) -> dict:
    out: dict = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key not in out:
            out[key] = value
        elif isinstance(out[key], list):
            out[key].append(value)
        else:
            out[key] = [out[key], value]
    return out


def test_query_and_form_are_read_as_parse_qsl_reads_them(serve):
    s = serve(ECHO.replace('data: "${body}"', 'data: {query: "${query}", body: "${body}"}'))
    expected = _as_parse_qsl(ODD)
    assert expected["tag"] == ["x", "y", "z"] and expected["a b"] == "c d" and expected["bad"] == "\ufffd"
    answer = s.client.post(
        f"/cluster/ha/groups?{ODD}", content=ODD, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 200
    assert answer.json()["data"] == {"query": expected, "body": expected}


SLOW = """
scenariod: 1
name: slow
seed: {seed}
auth: {{mode: none}}
routes:
  - when: GET /cluster/options
    respond: {{data: {{}}}}
  - when: GET /version
    respond:
      data: {{version: "9"}}
      delay: {{min: 20ms, max: 420ms}}
"""


def _latencies(s, count: int) -> list[float]:
    for _ in range(count):
        assert s.client.get("/version").status_code == 200
    journal = httpx.get(f"{s.url}/_scenariod/journal", params={"path": "/version"}).json()
    return [e["latency_ms"] / 1000 for e in journal["entries"]]


def test_a_route_delay_is_drawn_from_the_seed(serve):
    """The n-th delayed answer of a route waits what the scenario's seed draws for it, on every
    run; the second route's draws are its own (index 1), and each World counts its own.

    Seed 132 draws four long waits (0.32-0.41 s of 0.02-0.42 s): a wait drawn from anything
    but the seed would fall short of one of them (all four kept: p < 1e-4). Only the lower
    bound is exact (a busy machine adds to every wait), so that is what is checked."""
    s = serve(SLOW.format(seed=132))
    delay = s.service.scenario.routes[1].respond.delay
    drawn = [faults.draw_delay(delay, faults.seeded_rng(132, 1, n, "route delay")) for n in range(1, 5)]
    assert min(drawn) > 0.32
    waited = _latencies(s, 4)
    assert len(waited) == 4
    for want, got in zip(drawn, waited, strict=True):
        assert want - 0.002 <= got < want + 1.0, (drawn, waited)
    # A session is a World of its own: its first delayed answer is the seed's first draw again.
    with httpx.Client(base_url=s.api, headers={"X-Scenariod-Session": "t1"}, timeout=10) as session:
        assert session.get("/version").status_code == 200
    entries = httpx.get(f"{s.url}/_scenariod/journal", params={"session": "t1"}).json()["entries"]
    assert [e["path"] for e in entries] == ["/version"]
    assert entries[0]["latency_ms"] / 1000 >= drawn[0] - 0.002


def test_where_a_path_leads_is_remembered_within_bounds() -> None:
    """Runtime.target keeps at most TARGETS paths, none longer than TARGET_PATH."""
    r = rt.Runtime(load_scenario(str(Path(__file__).parents[1] / "scenarios" / "two-node.yaml")))
    first = r.target("GET", "/api2/json/nodes/pve1/qemu/100/config")
    assert first.node is not None and first.params == {"node": "pve1", "vmid": "100"} and first.plan is not None
    assert r.target("GET", "/api2/json/nodes/pve1/qemu/100/config") is first
    assert r.target("PATCH", "/api2/json/nodes").op is None
    assert r.target("GET", "/api2/json/no/such/path").node is None
    long = "/api2/json/nodes/" + "x" * rt.TARGET_PATH
    assert r.target("GET", long) is not r.target("GET", long)
    for n in range(rt.TARGETS + 10):
        r.target("GET", f"/api2/json/nodes/pve1/qemu/{n}/status/current")
    assert len(r._targets) <= rt.TARGETS
