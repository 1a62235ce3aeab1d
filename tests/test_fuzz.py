"""Fuzzing every operation of each pinned scenario's API with schemathesis.

Cases are generated from the OpenAPI document scenariod serves (built from Proxmox's own API
description) and sent over real HTTP with the scenario's API token, so they reach parameter
validation and the behaviours. What must hold for every case:

- no 5xx of our own: a 5xx is only allowed when Proxmox's own wording explains it (a missing
  guest's config file answers 500 on a real node too, 501 is Proxmox's "not implemented");
- every error is Proxmox-shaped: `{"data": null, "message": "...\\n"}`;
- `/health` answers throughout (a thread polls it while the fuzzer runs).

Bounded: a few examples per operation (`SCENARIOD_FUZZ_EXAMPLES`, default 3), no shrinking,
no example database, so the run is a fixed cost of about a minute per scenario.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import httpx
import pytest
import schemathesis
from conftest import SCENARIOS, start_service
from hypothesis import HealthCheck, Phase, given, settings

from scenariod.openapi import build_openapi

EXAMPLES = int(os.environ.get("SCENARIOD_FUZZ_EXAMPLES", "3"))

# Each pinned scenario with the API token it declares.
TOKENS = {
    "two-node.yaml": "PVEAPIToken=root@pam!ci=5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10",
    "showcase.yaml": "PVEAPIToken=root@pam!ci=0b9e5e2c-8c61-4e56-9b2a-4d4c1f0a7e11",
    "pbs.yaml": "PBSAPIToken=root@pam!ci:7d1f3a52-4c1e-4b8a-9c55-0e2f6a1b9d03",
    "pdm.yaml": "PDMAPIToken=root@pam!automation:e3b1c9d2-5a4f-4c7e-8b6d-1f0a2e3c4d5b",
}


class HealthWatch(threading.Thread):
    """Polls /health while the fuzzer runs; remembers every failure."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url + "/health"
        self.failures: list[str] = []
        self.polls = 0
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.done.wait(0.2):
                try:
                    r = client.get(self.url)
                    if r.status_code != 200:
                        self.failures.append(f"/health answered {r.status_code}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"/health: {exc!r}")
                self.polls += 1


def _explained(status: int, body: Any) -> bool:
    """A 5xx a real node could give: Proxmox's wording, never our own internal error."""
    message = body.get("message", "") if isinstance(body, dict) else ""
    if "scenariod internal error" in message:  # our own; a generated name may contain "scenariod" itself
        return False
    return status == 501 or (status in (500, 595, 596) and bool(message))


@pytest.mark.parametrize("name", sorted(TOKENS))
def test_fuzz_every_operation(name: str) -> None:
    running, stop = start_service(SCENARIOS / name)
    watch = HealthWatch(running.url)
    watch.start()
    problems: list[str] = []
    cases = 0
    try:
        schema = schemathesis.openapi.from_dict(build_openapi(running.service.scenario.api))
        headers = {"Authorization": TOKENS[name]}
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def send(case: Any) -> None:
                nonlocal cases
                cases += 1
                where = f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r}"[:300]
                try:
                    response = case.call(base_url=running.url, headers=headers, timeout=10)
                except Exception as exc:  # a dropped connection is a finding, not a crash of the test
                    problems.append(f"{where}: {exc!r}")
                    return
                if response.status_code < 400:
                    return
                try:
                    body = response.json()
                except ValueError:
                    problems.append(f"{where}: {response.status_code} with a body that is not JSON")
                    return
                if not (isinstance(body, dict) and body.get("data", 0) is None and "message" in body):
                    problems.append(f"{where}: {response.status_code} not Proxmox-shaped: {str(body)[:200]}")
                elif response.status_code >= 500 and not _explained(response.status_code, body):
                    problems.append(f"{where}: {response.status_code} {body.get('message')!r}")

            send()
    finally:
        watch.done.set()
        watch.join(5)
        stop()
    assert cases > 900, cases
    assert watch.polls > 0 and not watch.failures, watch.failures[:5]
    assert not problems, f"{len(problems)} of {cases} cases:\n" + "\n".join(problems[:30])
