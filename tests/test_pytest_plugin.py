"""The pytest plugin, run as users run it: pytest in a subprocess, with and without xdist."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import SCENARIOS, start_service

pytest_plugins = ["pytester"]

TWO_NODE = SCENARIOS / "two-node.yaml"

OTHER = """\
scenariod: 1
name: other
auth: {mode: none}
state:
  /nodes: [{node: solo}]
expect:
  - when: GET /nodes
"""

SUITE = """
import json, os
import pytest


def test_proxmoxer_in_a_fresh_session(scenariod):
    pve = scenariod.proxmoxer()
    assert {n["node"] for n in pve.nodes.get()} == {"pve1", "pve2"}
    pve.nodes("pve1").qemu(100).config.put(name="renamed")
    assert pve.nodes("pve1").qemu(100).config.get()["name"] == "renamed"
    assert scenariod.state("/nodes/pve1/qemu/100/config")["name"] == "renamed"
    scenariod.assert_called("PUT /nodes/{node}/qemu/{vmid}/config", count=1)
    scenariod.assert_not_called("DELETE /nodes/**")
    entries = scenariod.journal(method="PUT")
    assert [e["session"] for e in entries] == [scenariod.session]


def test_the_next_test_starts_from_the_seed(scenariod, scenariod_server):
    pve = scenariod.proxmoxer(token=True)
    assert pve.nodes("pve1").qemu(100).config.get()["name"] == "web-01"
    assert scenariod.journal(path="/nodes/pve1/qemu/100/config")[0]["user"] == "root@pam!ci"
    # the previous test's session was discarded at its teardown
    status, sessions = scenariod_server.control.request("GET", "sessions")
    assert [s["id"] for s in sessions["sessions"]] == [scenariod.session]


def test_failure_messages_show_the_closest_requests(scenariod):
    client = scenariod.client()
    assert client.get("/cluster/resources", params={"type": "storage"}).status_code == 200
    with pytest.raises(AssertionError) as err:
        scenariod.assert_called({"method": "GET", "path": "/cluster/resources", "query": {"type": "vm"}})
    text = str(err.value)
    assert "wanted at least once, got 0" in text
    assert "GET /cluster/resources?type=storage -> 200" in text
    assert "query.type storage != vm" in text
    result = scenariod.verify("GET /cluster/resources", count=1)
    assert result and result.count == 1


def test_state_helpers(scenariod):
    scenariod.patch_state("/nodes/pve1/qemu/100/config", {"cores": 12})
    scenariod.set_state("/pools", [{"poolid": "x"}])
    client = scenariod.client()
    assert client.get("/nodes/pve1/qemu/100/config").json()["data"]["cores"] == 12
    assert [p["poolid"] for p in client.get("/pools").json()["data"]] == ["x"]
    scenariod.delete_state("/pools/x")
    assert client.get("/pools").json()["data"] == []
    scenariod.reset()
    assert [p["poolid"] for p in client.get("/pools").json()["data"]] == ["web"]
    assert scenariod.api_url.endswith(f"/_session/{scenariod.session}/api2/json")
    assert scenariod.user == "root@pam" and scenariod.password == "secret"
    assert scenariod.token_id == "root@pam!ci"


def test_where_it_ran(scenariod, scenariod_server):
    out = os.environ["WHERE_IT_RAN"]
    with open(os.path.join(out, scenariod.session + ".json"), "w") as f:
        json.dump({"url": scenariod_server.url, "worker": os.environ.get("PYTEST_XDIST_WORKER")}, f)
"""


def write_suite(pytester: pytest.Pytester, **ini: str) -> None:
    lines = "\n".join(f"{k} = {v}" for k, v in ini.items())
    pytester.makeini(f"[pytest]\n{lines}\n")
    pytester.makepyfile(test_suite=SUITE)


def run(pytester: pytest.Pytester, *args: str, where: Path | None = None) -> pytest.RunResult:
    os.environ["WHERE_IT_RAN"] = str(where or pytester.path)  # restored by the _env fixture
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=240)


def test_in_process_with_the_ini_option(pytester):
    write_suite(pytester, scenariod_scenario=str(TWO_NODE))
    result = run(pytester, "-v")
    result.assert_outcomes(passed=5)


def test_xdist_sessions_isolate_parallel_tests(pytester):
    write_suite(pytester, scenariod_scenario=str(TWO_NODE))
    pytester.makepyfile(
        test_more="\n".join(
            f"def test_more_{i}(scenariod):\n"
            f"    pve = scenariod.proxmoxer()\n"
            f"    pve.nodes('pve1').qemu(100).config.put(name='w{i}')\n"
            f"    assert pve.nodes('pve1').qemu(100).config.get()['name'] == 'w{i}'\n"
            f"    scenariod.assert_called('PUT /nodes/pve1/qemu/100/config', count=1)\n"
            for i in range(8)
        )
    )
    # (the test that lists the server's sessions assumes one test at a time per server)
    result = run(pytester, "-n", "2", "-k", "not next_test_starts")
    result.assert_outcomes(passed=12)


def test_xdist_workers_use_different_ports(pytester, tmp_path):
    pytester.makeini(f"[pytest]\nscenariod_scenario = {TWO_NODE}\n")
    pytester.makepyfile(
        test_where="\n".join(
            "import json, os, time\n"
            f"def test_{i}(scenariod, scenariod_server):\n"
            "    time.sleep(0.2)\n"
            "    p = os.path.join(os.environ['WHERE_IT_RAN'], scenariod.session + '.json')\n"
            "    open(p, 'w').write(json.dumps({'url': scenariod_server.url, 'worker': os.environ.get('PYTEST_XDIST_WORKER')}))\n"
            for i in range(6)
        )
    )
    where = tmp_path / "where"
    where.mkdir()
    result = run(pytester, "-n", "2", where=where)
    result.assert_outcomes(passed=6)
    runs = [json.loads(p.read_text()) for p in where.glob("*.json")]
    by_worker: dict[str, set[str]] = {}
    for r in runs:
        by_worker.setdefault(r["worker"], set()).add(r["url"])
    assert set(by_worker) == {"gw0", "gw1"}
    assert all(len(urls) == 1 for urls in by_worker.values())  # one server per worker
    assert by_worker["gw0"] != by_worker["gw1"]  # each on its own port


def test_subprocess_mode_and_the_command_line_option(pytester):
    write_suite(pytester)
    result = run(pytester, "--scenariod-scenario", str(TWO_NODE), "--scenariod-mode", "subprocess")
    result.assert_outcomes(passed=5)


def test_marker_serves_another_scenario(pytester):
    pytester.makeini(f"[pytest]\nscenariod_scenario = {TWO_NODE}\n")
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / "other.yaml").write_text(OTHER)
    pytester.makepyfile(
        test_marker="""
import pytest


@pytest.mark.scenariod("scenarios/other.yaml")
def test_other(scenariod):
    assert scenariod.scenario.name == "other"
    client = scenariod.client()
    assert [n["node"] for n in client.get("/nodes").json()["data"]] == ["solo"]
    scenariod.assert_expectations()


@pytest.mark.scenariod("scenarios/other.yaml")
def test_other_expectations_fail(scenariod):
    with pytest.raises(AssertionError, match="GET /nodes: wanted at least once, got 0"):
        scenariod.assert_expectations()


def test_default(scenariod):
    assert scenariod.scenario.name == "two-node"
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=3)


def test_plain_http_option(pytester):
    pytester.makeini(f"[pytest]\nscenariod_scenario = {TWO_NODE}\nscenariod_http = true\n")
    pytester.makepyfile(
        test_http="""
import pytest


def test_http(scenariod):
    assert scenariod.url.startswith("http://") and scenariod.ca_file is None
    assert scenariod.client().get("/nodes").status_code == 200
    with pytest.raises(RuntimeError, match="HTTPS"):
        scenariod.proxmoxer()
"""
    )
    run(pytester).assert_outcomes(passed=1)


@pytest.mark.parametrize("mode", ["inprocess", "subprocess"])
def test_the_api_option_serves_a_pinned_release(pytester, mode):
    pytester.makeini(f"[pytest]\nscenariod_scenario = {TWO_NODE}\nscenariod_mode = {mode}\n")
    pytester.makepyfile(
        test_release="""
def test_release(scenariod):
    client = scenariod.client()
    assert client.get("/version").json()["data"]["version"] == "8.4.21"
    assert client.get("/cluster/bulk-action/guest").status_code == 501  # came with PVE 9.0
"""
    )
    run(pytester, "--scenariod-api", "8.4").assert_outcomes(passed=1)


def test_a_running_instance_by_url(pytester):
    running, stop = start_service(TWO_NODE, tls=True)
    try:
        write_suite(pytester)
        result = run(
            pytester, "--scenariod-url", running.url, "--scenariod-cacert", running.ca_file, "-k", "not where_it_ran"
        )
        result.assert_outcomes(passed=4)
        # every test's session was discarded; the default World was never touched
        assert running.service.sessions == {}
        assert len(running.service.world.journal) == 0
    finally:
        stop()


def test_no_scenario_configured_is_explained(pytester):
    pytester.makepyfile(test_none="def test_none(scenariod):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no scenario to serve*--scenariod-scenario*"])


def test_an_invalid_scenario_is_explained(pytester):
    bad = pytester.path / "bad.yaml"
    bad.write_text("scenariod: 1\nname: bad\nseed: lots\n")
    pytester.makeini("[pytest]\nscenariod_scenario = bad.yaml\n")
    pytester.makepyfile(test_bad="def test_a(scenariod):\n    pass\n\ndef test_b(scenariod):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([f"*{bad}:3:7:*"])


def test_help_lists_the_options(pytester):
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--scenariod-scenario*", "*--scenariod-mode*"])
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["*@pytest.mark.scenariod(path)*"])


def test_examples_suite_passes(pytester):
    """examples/pytest runs as its README says, with its own pytest.ini, in parallel."""
    examples = Path(__file__).resolve().parent.parent / "examples" / "pytest"
    result = run(pytester, str(examples), "-n", "2")
    result.assert_outcomes(passed=7)


def test_session_ids_are_valid():
    from scenariod.pytest_plugin import session_id
    from scenariod.server import Service

    sid = session_id("test_x[param/with spaces::and-more" + "y" * 200 + "]")
    assert Service.valid_session_id(sid)


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    """The inner pytest runs see neither this run's xdist worker nor its options."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    monkeypatch.setenv("WHERE_IT_RAN", "")
