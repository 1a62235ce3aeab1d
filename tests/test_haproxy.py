"""The shared-mock recipe (examples/haproxy): two replicas of one scenario behind HAProxy.

HAProxy hashes on the session, so each session's requests land on one replica and its
state lives there; the example pytest suite runs through the balancer with `-n 4`. HAProxy
comes from Debian's packages (.ci/run installs it); without it the test is skipped, except
in CI where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from conftest import ROOT, SCENARIOS, Running, free_port, start_service

CONFIG = ROOT / "examples" / "haproxy" / "haproxy.cfg"
TOKEN = "PVEAPIToken=root@pam!ci=5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10"  # two-node.yaml's


@pytest.fixture(scope="module")
def balanced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, list[Running]]]:
    if shutil.which("haproxy") is None:
        if os.environ.get("CI"):
            pytest.fail("haproxy is not installed: .ci/run installs it from Debian's packages")
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    tmp = tmp_path_factory.mktemp("haproxy")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    with open(tmp / "lb.pem", "wb") as bundle:
        for blob in cert.cert_chain_pems:
            bundle.write(blob.bytes())
        bundle.write(cert.private_key_pem.bytes())
    replicas = [start_service(SCENARIOS / "two-node.yaml") for _ in range(2)]
    port = free_port()
    env = {
        **os.environ,
        "SCENARIOD_LB_BIND": f"127.0.0.1:{port}",
        "SCENARIOD_LB_CERT": str(tmp / "lb.pem"),
        "SCENARIOD_REPLICA1": replicas[0][0].url.removeprefix("http://"),
        "SCENARIOD_REPLICA2": replicas[1][0].url.removeprefix("http://"),
    }
    proxy = subprocess.Popen(["haproxy", "-db", "-f", str(CONFIG)], env=env, stdout=subprocess.PIPE, text=True)
    url = f"https://127.0.0.1:{port}"
    try:
        # ready once both replicas passed a health check: every fixed session id below answers
        deadline = time.monotonic() + 30
        with httpx.Client(verify=ssl.create_default_context(cafile=tmp / "ca.pem"), timeout=5) as client:
            client.headers["Authorization"] = TOKEN
            while True:
                try:
                    codes = {client.get(f"{url}/_session/probe-{i}/api2/json/version").status_code for i in range(8)}
                except httpx.HTTPError:
                    codes = set()
                if codes == {200}:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"the balancer did not come up: {codes}")
                time.sleep(0.3)
        yield url, tmp / "ca.pem", [r for r, _ in replicas]
    finally:
        proxy.terminate()
        proxy.wait(10)
        for _, stop in replicas:
            stop()


def _sessions(replica: Running) -> dict[str, int]:
    listing = httpx.get(f"{replica.url}/_scenariod/sessions").json()["sessions"]
    return {s["id"]: s["requests"] for s in listing}


def test_example_suite_passes_through_the_balancer(balanced: tuple[str, Path, list[Running]]) -> None:
    url, ca, replicas = balanced
    before = [set(_sessions(r)) for r in replicas]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "4", "-p", "no:cacheprovider"]
        + [f"--scenariod-url={url}", f"--scenariod-cacert={ca}", "."],
        cwd=ROOT / "examples" / "pytest",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
    # the plugin discards each test's session at its end; they were spread, never split
    after = [set(_sessions(r)) for r in replicas]
    assert after == before


def test_each_session_lives_on_one_replica(balanced: tuple[str, Path, list[Running]]) -> None:
    url, ca, replicas = balanced
    ids = [f"ci-job-{i}" for i in range(12)]
    with httpx.Client(
        verify=ssl.create_default_context(cafile=ca), timeout=10, headers={"Authorization": TOKEN}
    ) as client:
        for sid in ids:
            # the same session by all three ways of naming it: path prefix, header, control query
            renamed = client.put(f"{url}/_session/{sid}/api2/json/nodes/pve1/qemu/100/config", data={"name": sid})
            assert renamed.status_code == 200
            config = client.get(f"{url}/api2/json/nodes/pve1/qemu/100/config", headers={"X-Scenariod-Session": sid})
            assert config.json()["data"]["name"] == sid  # the write is visible: the same replica
            journal = client.get(f"{url}/_scenariod/journal", params={"session": sid}).json()
            assert journal["count"] == 2
    placed = [set(_sessions(r)) & set(ids) for r in replicas]
    assert placed[0].isdisjoint(placed[1]) and placed[0] | placed[1] == set(ids)
    assert placed[0] and placed[1]  # both replicas carry sessions
    with httpx.Client(
        verify=ssl.create_default_context(cafile=ca), timeout=10, headers={"Authorization": TOKEN}
    ) as client:
        for sid in ids:
            assert client.delete(f"{url}/_scenariod/sessions/{sid}").status_code == 200
    assert not any(set(_sessions(r)) & set(ids) for r in replicas)


def test_default_world_is_read_only_through_the_balancer(balanced: tuple[str, Path, list[Running]]) -> None:
    url, ca, replicas = balanced
    with httpx.Client(
        verify=ssl.create_default_context(cafile=ca), timeout=10, headers={"Authorization": TOKEN}
    ) as client:
        assert client.get(f"{url}/api2/json/nodes").status_code == 200
        refused = client.put(f"{url}/api2/json/nodes/pve1/qemu/100/config", data={"name": "nobody"})
    assert refused.status_code == 409
    body = refused.json()
    assert body["data"] is None and "writes need a session" in body["message"]
    for replica in replicas:  # neither replica's default World saw the write
        config = replica.client.get("/nodes/pve1/qemu/100/config", headers={"Authorization": TOKEN})
        assert config.json()["data"]["name"] == "web-01"
