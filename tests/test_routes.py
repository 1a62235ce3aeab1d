"""`routes` overrides over real HTTP: every `when` form, `respond` key and template feature."""

from __future__ import annotations

import time

SCENARIO = """
scenariod: 1
name: routes
auth: {mode: none}
state:
  /nodes:
    - {node: pve1}
    - {node: pve2}
  /nodes/pve1/qemu:
    - {vmid: 100, name: web-01, status: running}
  /nodes/pve1/qemu/100/config: {name: web-01, cores: 2, memory: 2048}
routes:
  - when: GET /version
    respond:
      data: {version: "9.1.2", release: "9.1", repoid: "0123abcd"}
  - when: "/nodes/pve2/**"
    respond:
      status: 503
  - when: {method: GET, path: "/nodes/{node}/qemu/{vmid}/rrddata", query: {timeframe: hour}}
    respond:
      data:
        - {time: 1, vmid: "${params.vmid}", node: "${params.node}", label: "vm ${params.vmid} on ${params.node}"}
  - when: {method: GET, path: "/nodes/*/qemu/{vmid}/pending", headers: {x-trace: "on"}}
    respond:
      headers: {X-Echo: "${headers.\\"x-trace\\"}"}
      data: {traced: true}
  - when: {method: POST, path: /pools, body: {poolid: forbidden}}
    respond:
      status: 403
      body: '{"data": null, "message": "Permission check failed (/pool/forbidden, Pool.Allocate)\\n"}'
  - when: {path: "/nodes/{node}/qemu/{vmid}/agent/get-host-name", if: "params.vmid == '100'"}
    respond:
      data: {result: {host-name: "${state('/nodes/pve1/qemu/100/config').name}"}}
  - when: GET /nodes/{node}/qemu/{vmid}/agent/info
    respond:
      delay: 150ms
      data: {count: "${length(state('/nodes/pve1/qemu'))}", user: "${user}", method: "${method}"}
"""


def test_string_form_overrides_builtin(serve):
    s = serve(SCENARIO)
    assert s.client.get("/version").json()["data"] == {"version": "9.1.2", "release": "9.1", "repoid": "0123abcd"}


def test_double_star_matches_the_rest_and_status_without_data_is_an_error(serve):
    s = serve(SCENARIO)
    r = s.client.get("/nodes/pve2/qemu")
    assert r.status_code == 503 and r.json()["data"] is None
    assert s.client.get("/nodes/pve1/qemu").status_code == 200


def test_mapping_form_with_query_and_typed_templates(serve):
    s = serve(SCENARIO)
    r = s.client.get("/nodes/pve1/qemu/100/rrddata", params={"timeframe": "hour"})
    point = r.json()["data"][0]
    assert point["vmid"] == "100" and point["node"] == "pve1" and point["label"] == "vm 100 on pve1"
    # Without the query the route does not match: the built-in behaviour answers.
    other = s.client.get("/nodes/pve1/qemu/100/rrddata", params={"timeframe": "day"}).json()["data"]
    assert not other or "label" not in other[0]


def test_headers_match_and_templated_response_headers(serve):
    s = serve(SCENARIO)
    r = s.client.get("/nodes/pve1/qemu/100/pending", headers={"X-Trace": "on"})
    assert r.json()["data"] == {"traced": True} and r.headers["X-Echo"] == "on"
    assert isinstance(s.client.get("/nodes/pve1/qemu/100/pending").json()["data"], list)


def test_body_match_and_raw_body(serve):
    s = serve(SCENARIO)
    r = s.client.post("/pools", data={"poolid": "forbidden"})
    assert r.status_code == 403 and "Pool.Allocate" in r.json()["message"]
    assert s.client.post("/pools", json={"poolid": "fine"}).status_code == 200


def test_if_expression_and_state_function(serve):
    s = serve(SCENARIO)
    r = s.client.get("/nodes/pve1/qemu/100/agent/get-host-name")
    assert r.json()["data"] == {"result": {"host-name": "web-01"}}
    # A client changes the config: state() sees it at once.
    s.client.put("/nodes/pve1/qemu/100/config", data={"name": "renamed"})
    assert s.client.get("/nodes/pve1/qemu/100/agent/get-host-name").json()["data"]["result"]["host-name"] == "renamed"


def test_delay_and_typed_expression_results(serve):
    s = serve(SCENARIO)
    started = time.perf_counter()
    data = s.client.get("/nodes/pve1/qemu/100/agent/info").json()["data"]
    assert time.perf_counter() - started >= 0.14
    assert data == {"count": 1, "user": "root@pam", "method": "GET"}
