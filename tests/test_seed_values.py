"""Seeded and answered values against what the API declares (issue 12, part 1), over HTTP."""

from __future__ import annotations

import logging
from typing import Any

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
        fits = running.client.get("/nodes/pve1/status", params={"load": "0.25"})
        assert fits.status_code == 200
    warned = [rec.getMessage() for rec in caplog.records if "respond.data as rendered" in rec.getMessage()]
    assert len(warned) == 1, warned
    assert warned[0].endswith(
        ':4: respond.data as rendered: cpu: "high" is not a number'
        " (the GET /nodes/{node}/status returns schema declares cpu as number)"
    )
