"""Pinned PVE releases (`api: "8.4"`, `--api`): what each release serves, over HTTP, and
what `scenariod check` and `scenariod routes` say about them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from scenariod import cache
from scenariod.apidesc import ApiDescription, UnknownApi, bundled_releases, missing_from, releases_having
from scenariod.scenario import ScenarioInvalid, load_scenario

ROOT = Path(__file__).resolve().parent.parent

# release -> what a node of it reports, a GET path added after it, and a parameter added
# after it (method, path, parameter) that the newest release takes. Facts from Proxmox's
# changelogs (pve-manager, pve-kernel) and API trees (pve-docs), written out independently
# of scenariod's data so the tests can fail.
RELEASES: dict[str, dict[str, Any]] = {
    "7.4": {
        "version": "7.4-20",
        "kernel": "5.15.",
        "later_path": "/cluster/mapping/pci",
        "later_param": ("POST", "/cluster/ha/resources", "failback"),
    },
    "8.4": {
        "version": "8.4.21",
        "kernel": "6.8.",
        "later_path": "/cluster/bulk-action/guest",
        "later_param": ("POST", "/cluster/ha/resources", "failback"),
    },
    "9.0": {
        "version": "9.0.18",
        "kernel": "6.14.",
        "later_path": "/cluster/sdn/dry-run",
        "later_param": ("POST", "/cluster/ha/resources", "auto-rebalance"),
    },
    "9.1": {
        "version": "9.1.19",
        "kernel": "6.17.",
        "later_path": "/cluster/qemu",
        "later_param": ("POST", "/cluster/ha/resources", "auto-rebalance"),
    },
}

PINNED = """\
scenariod: 1
name: pinned-{release}
api: "{release}"
auth: {{mode: none}}
state:
  /nodes:
    - {{node: pve1, status: online, maxcpu: 4, maxmem: 8589934592}}
"""


@pytest.fixture(params=sorted(RELEASES), ids=lambda r: f"pve-{r}")
def pinned(request: pytest.FixtureRequest, serve: Any) -> tuple[str, Any]:
    release = request.param
    return release, serve(PINNED.format(release=release))


def test_a_later_path_answers_501_under_the_pin(pinned: tuple[str, Any], serve: Any) -> None:
    release, running = pinned
    path = RELEASES[release]["later_path"]
    r = running.client.get(path)
    assert r.status_code == 501, r.text
    assert path in r.reason_phrase
    newest = serve(PINNED.replace('api: "{release}"\n', "").format(release=release))
    assert newest.client.get(path).status_code != 501  # the newest release has it


def test_a_later_parameter_is_refused_as_the_release_refuses_it(pinned: tuple[str, Any], serve: Any) -> None:
    release, running = pinned
    method, path, param = RELEASES[release]["later_param"]
    body = {"sid": "vm:100", param: 1}
    r = running.client.request(method, path, data=body)
    assert r.status_code == 400, r.text
    errors = r.json()["errors"]
    assert errors == {param: "property is not defined in schema and the schema does not allow additional properties"}
    newest = serve(PINNED.replace('api: "{release}"\n', "").format(release=release))
    refused = newest.client.request(method, path, data=body)
    assert param not in (refused.json().get("errors") or {})


def test_version_and_node_status_answer_the_release(pinned: tuple[str, Any]) -> None:
    release, running = pinned
    facts = RELEASES[release]
    version = running.client.get("/version").json()["data"]
    assert version["version"] == facts["version"]
    assert version["release"] == release
    status = running.client.get("/nodes/pve1/status").json()["data"]
    assert status["pveversion"] == f"pve-manager/{facts['version']}/{version['repoid']}"
    assert status["kversion"].startswith(f"Linux {facts['kernel']}")
    assert status["current-kernel"]["release"].startswith(facts["kernel"])


def test_an_enum_is_the_release_s(serve: Any) -> None:
    # The ACME DNS plugin `beget` came with PVE 9.x: 8.4 refuses it as a value of `api`.
    old = serve(PINNED.format(release="8.4"))
    r = old.client.post("/cluster/acme/plugins", data={"id": "dns1", "type": "dns", "api": "beget"})
    assert r.status_code == 400
    assert "api" in r.json()["errors"]
    new = serve(PINNED.format(release="9.1"))
    r = new.client.post("/cluster/acme/plugins", data={"id": "dns1", "type": "dns", "api": "beget"})
    assert "api" not in (r.json().get("errors") or {})


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_check_reports_a_state_path_the_pin_lacks_at_its_line(release: str, tmp_path: Path) -> None:
    path = RELEASES[release]["later_path"]
    file = tmp_path / "x.yaml"
    file.write_text(PINNED.format(release=release) + f"  {path}: []\n")
    with pytest.raises(ScenarioInvalid) as err:
        load_scenario(file)
    (diag,) = err.value.diagnostics
    later = [r for r in ("7.4", "8.4", "9.0", "9.1", "9.2") if r > release and r != "7.4"]
    having = releases_having("pve", path)
    assert having and set(having) <= set(later)
    assert str(diag) == f"{file}:8:3: {path} is not in PVE {release}'s API (it is in {', '.join(having)})"
    file.write_text(file.read_text().replace(f'api: "{release}"\n', ""))
    load_scenario(file)  # the newest release has it


def test_check_reports_rules_and_parameters_the_pin_lacks(tmp_path: Path) -> None:
    file = tmp_path / "rules.yaml"
    file.write_text(
        textwrap.dedent(
            """\
            scenariod: 1
            name: rules
            api: "8.4"
            routes:
              - when: GET /cluster/bulk-action/guest
                respond: {data: []}
              - when:
                  method: POST
                  path: /cluster/ha/resources
                  body: {failback: 1}
                respond: {data: null}
            """
        )
    )
    with pytest.raises(ScenarioInvalid) as err:
        load_scenario(file)
    assert [str(d) for d in err.value.diagnostics] == [
        f"{file}:5:11: /cluster/bulk-action/guest is not in PVE 8.4's API (it is in 9.0, 9.1, 9.2)",
        f"{file}:10:14: parameter `failback` of POST /cluster/ha/resources is not in PVE 8.4's API"
        " (it is in 9.0, 9.1, 9.2)",
    ]
    load_scenario(file, api="9.1")  # `--api` overrides the file's pin


def test_releases_having() -> None:
    assert releases_having("pve", "/cluster/sdn/fabrics") == ["9.0", "9.1", "9.2"]
    assert releases_having("pve", "/nodes/{node}/qemu", "POST") == ["7.4", "8.4", "9.0", "9.1", "9.2"]
    assert releases_having("pve", "/nodes/pve1/qemu/100/config", "GET") == ["7.4", "8.4", "9.0", "9.1", "9.2"]
    assert releases_having("pve", "/cluster/ha/resources", "POST", "auto-rebalance") == ["9.2"]
    assert releases_having("pve", "/cluster/ha/resources", "DELETE") == []
    assert releases_having("pve", "/no/such/path") == []
    api = ApiDescription.load("pve", "8.4")
    assert missing_from(api, "/nodes/{node}/qemu") is None  # 8.4 has it
    assert missing_from(api, "/no/such/path") is None  # nobody has it


def test_pins_resolve_to_bundled_releases() -> None:
    assert bundled_releases("pve") == ("7.4", "8.4", "9.0", "9.1", "9.2")
    assert ApiDescription.load("pve", "8").version == "8.4"
    assert ApiDescription.load("pve", "7").version == "7.4"
    assert ApiDescription.load("pve", "9") is ApiDescription.load("pve")
    with pytest.raises(UnknownApi) as err:
        ApiDescription.load("pve", "8.3")
    assert "pve 7.4, 8.4, 9.0, 9.1, 9.2" in err.value.message


@pytest.mark.parametrize(
    ("release", "paths", "ops"), [("7.4", 365, 540), ("8.4", 400, 605), ("9.0", 432, 646), ("9.1", 435, 649)]
)
def test_release_counts_match_their_sources(release: str, paths: int, ops: int) -> None:
    # The counts SOURCES.md gives for each pve-docs tree: nothing lost in the compact storage.
    api = ApiDescription.load("pve", release)
    assert len(api.nodes) == paths
    assert len(list(api.operations())) == ops


def scenariod(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scenariod", *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_routes_lists_a_release() -> None:
    result = scenariod("routes", "--api", "7.4", "/cluster/mapping*")
    assert result.returncode == 0
    assert result.stdout == ""  # PVE 7.4 has no resource mappings
    assert "0 operation(s), pve 7.4" in result.stderr
    result = scenariod("routes", "--api", "8.4", "/cluster/mapping/pci")
    assert result.stdout.split()[:2] == ["GET", "/cluster/mapping/pci"]


def test_routes_diff_lists_added_removed_and_changed() -> None:
    result = scenariod("routes", "--diff", "8.4", "9.1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "+ GET    /cluster/bulk-action/guest" in lines
    at = lines.index("~ POST   /cluster/ha/resources")
    assert "      + parameter failback (boolean, optional)" in lines[at + 1 : at + 4]
    assert any(line.startswith("- ") for line in lines)
    heads = [(line[9:], line[2:9].strip()) for line in lines if not line.startswith(" ")]
    assert heads == sorted(heads)  # stable order: path, then method
    assert scenariod("routes", "--diff", "8.4", "9.1").stdout == result.stdout
    assert scenariod("routes", "--diff", "8.4", "8.3").returncode == 1


def test_check_and_run_take_api(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text("scenariod: 1\nname: s\nstate:\n  /cluster/sdn/fabrics/fabric: []\n")
    assert scenariod("check", str(file)).returncode == 0
    result = scenariod("check", "--api", "8.4", str(file))
    assert result.returncode == 1
    assert f"{file}:4:3: /cluster/sdn/fabrics/fabric is not in PVE 8.4's API (it is in 9.0, 9.1, 9.2)" in result.stderr
    result = scenariod("check", "--api", "8.3", str(file))
    assert f"{file}:1:1: `--api 8.3`: no bundled API description" in result.stderr


def test_example_ci_matrix_runs_the_same_tests_against_three_releases() -> None:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((ROOT / "examples" / "github-actions-releases.yml").read_text())
    job = workflow["jobs"]["against-pve"]
    releases = job["strategy"]["matrix"]["pve"]
    assert len(releases) == 3
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert 'pytest examples/pytest --scenariod-api "${{ matrix.pve }}"' in runs
    check = next(r for r in runs if r.startswith("scenariod check"))
    for release in releases:  # the check step passes for every release of the matrix
        args = check.replace('"${{ matrix.pve }}"', release).split()[1:]
        result = scenariod(*args)
        assert result.returncode == 0, result.stderr


def test_a_reload_keeps_the_command_line_pin(serve: Any, tmp_path: Path) -> None:
    file = tmp_path / "scenario.yaml"
    file.write_text(PINNED.replace('api: "{release}"\n', "").format(release="x"))
    running = serve(file)
    assert running.client.get("/version").json()["data"]["release"] == "9.2"
    # As `scenariod run --api 8.4` loads it; then the file is edited and re-read.
    assert running.call(lambda: running.service.reload(load_scenario(file, "8.4"))) is True
    file.write_text(file.read_text().replace("name: pinned-x", "name: edited"))
    assert running.call(lambda: running.service.reload()) is True
    assert running.service.scenario.name == "edited"
    assert running.client.get("/version").json()["data"]["version"] == "8.4.21"


def test_memos_are_kept_per_api_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path / "cache"))
    file = tmp_path / "m.yaml"
    file.write_text(
        PINNED.replace('api: "{release}"\n', "").format(release="m") + "  /cluster/sdn/fabrics/fabric: []\n"
    )
    text = file.read_text()
    load_scenario(file)  # clean under the newest release: remembered
    assert cache.recall(text) is not None and cache.recall(text, "8.4") is None
    with pytest.raises(ScenarioInvalid):  # the memo of the unpinned load does not judge 8.4
        load_scenario(file, "8.4")
    load_scenario(file, "9.1")
    assert cache.recall(text, "9.1") is not None
    assert load_scenario(file, "9.1").api.version == "9.1"  # from its memo
