"""Seeded and answered values against what the API declares (issue 12, part 1), over HTTP."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Running, serving

ROUTE = """\
scenariod: 1
name: rendered
routes:
  - when: GET /nodes/{node}/status
    respond:
      data: {cpu: "${query.load}", uptime: 5}
"""


def test_rendered_data_that_does_not_fit_is_served_and_logged_with_its_line(serve: Any, caplog: Any) -> None:
    running = serve(ROUTE)
    running.login()
    with caplog.at_level(logging.WARNING, logger="scenariod"):
        r = running.client.get("/nodes/pve1/status", params={"load": "high"})
        assert r.status_code == 200 and r.json()["data"]["cpu"] == "high"
    warned = [rec.getMessage() for rec in caplog.records if "respond.data as rendered" in rec.getMessage()]
    assert len(warned) == 1, warned
    assert warned[0].endswith(
        ':4: respond.data as rendered: cpu: "high" is not a number'
        " (the GET /nodes/{node}/status returns schema declares cpu as number)"
    )


# Values that pass `check` at every path a view derives from: declared fields at the edges of
# their types (negative, zero, the largest JSON integers, a float where a number may be), and
# fields the API does not declare anywhere (a warning only), holding anything at all.
LOOSE = """\
scenariod: 1
name: loose
state:
  /nodes:
    - {node: pve1, status: online, maxcpu: -1, maxmem: 0, mem: 18446744073709551615, cpu: -0.5,
       uptime: 0, maxdisk: 0, disk: -1, rack: {a: 1}, load: "x"}
  /nodes/pve1/status:
    {cpu: 1e308, uptime: -7, memory: {total: 0, used: 10, free: -10}, loadavg: ["0.1", "x"], extra: [1],
     cpuinfo: {cpus: 0}, rootfs: {}, swap: {total: 0}}
  /nodes/pve1/qemu:
    - {vmid: 100, name: web, status: running, maxmem: 0, mem: -1, cpu: 1e308, cpus: 0.5,
       maxdisk: 0, disk: -5, uptime: 0, odd: {a: 1}}
    - {vmid: 101, name: 7, status: stopped, maxmem: -9223372036854775808, cpus: 0, weird: [x]}
  /nodes/pve1/qemu/100/config:
    {name: web, memory: "2048", cores: 1, sockets: 1, balloon: 0, onboot: 1, weird: {a: [1]}}
  /nodes/pve1/lxc:
    - {vmid: 200, name: ct, status: running, maxmem: 0, maxswap: -1, cpus: 0, disk: 0,
       maxdisk: 0, uptime: 1, junk: x}
  /nodes/pve1/lxc/200/config:
    {hostname: ct, memory: 16, swap: 0, cores: 1, weird: [1, 2]}
  /storage:
    - {storage: local, type: dir, path: /x, content: iso, shared: 1, disable: 0, nodes: pve1, junk: [1]}
  /nodes/pve1/storage:
    - {storage: local, type: dir, total: 0, used: -50, avail: 0, active: 1, enabled: 0,
       content: "iso,images", used_fraction: 1e308, odd: [1]}
"""

VIEWS = [
    "/nodes",
    "/nodes/pve1/status",
    "/nodes/pve1/qemu",
    "/nodes/pve1/qemu/100/status/current",
    "/nodes/pve1/qemu/101/status/current",
    "/nodes/pve1/qemu/100/config",
    "/nodes/pve1/qemu/100/pending",
    "/nodes/pve1/qemu/100/rrddata?timeframe=hour",
    "/nodes/pve1/lxc",
    "/nodes/pve1/lxc/200/status/current",
    "/nodes/pve1/lxc/200/config",
    "/nodes/pve1/storage",
    "/nodes/pve1/storage/local/status",
    "/nodes/pve1/storage/local/content",
    "/nodes/pve1/rrddata?timeframe=hour",
    "/storage",
    "/storage/local",
    "/cluster/resources",
    "/cluster/resources?type=vm",
    "/cluster/resources?type=storage",
    "/cluster/resources?type=node",
    "/cluster/status",
    "/cluster/nextid",
    "/pools",
    "/version",
]


@pytest.mark.parametrize("path", VIEWS)
def test_no_seed_that_passes_check_makes_a_view_fail(loose: Any, path: str) -> None:
    r = loose.client.get(path)
    assert r.status_code < 500, (path, r.status_code, r.text[:300])


@pytest.fixture(scope="module")
def loose(tmp_path_factory: Any) -> Iterator[Running]:
    path = tmp_path_factory.mktemp("loose") / "loose.yaml"
    path.write_text(LOOSE)
    yield from serving(path, login=True)
