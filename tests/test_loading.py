"""The fast reading of scenario files (fastload) against the exact one (ruamel.yaml).

A file read the fast way must give the very Scenario the exact way gives, rule sources
(`line`) included; whatever the fast way cannot be sure of, and every diagnostic, goes to
the exact way, so problems are reported as before, with FILE:LINE:COLUMN.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scenariod import fastload
from scenariod.apidesc import ApiDescription
from scenariod.scenario import Scenario, ScenarioInvalid, check_files, load_scenario
from scenariod.scenario import schema as scenario_schema
from scenariod.scenario.compile import FileCompiler
from scenariod.scenario.positions import plain, yaml_loader
from scenariod.state import StateStore, seed

ROOT = Path(__file__).resolve().parent.parent
REPO_SCENARIOS = sorted([*ROOT.glob("scenarios/**/*.yaml"), *ROOT.glob("examples/*.yaml")])

RULES = """\
scenariod: 1
name: rules
auth:
  tokens:
    - {tokenid: "root@pam!ci", secret: s3cret}
state:
  /nodes: [{node: pve1}]
  /nodes/pve1/qemu:
    - {vmid: 100, name: web, status: running}
  /nodes/pve1/qemu/100/config: {name: web, memory: 2048}
routes:
  - when: GET /version
    respond: {data: {version: "9.1"}}
  - when:
      method: POST
      path: /nodes/{node}/qemu
    respond: {status: 500}
faults:
  - when: GET /cluster/resources
    delay: 2s
tasks:
  - when: POST /nodes/{node}/qemu/{vmid}/status/start
    duration: 1s
    log: ["starting ${params.vmid}", {at: 500ms, line: done}]
expect:
  - when: GET /nodes
    count: 1
"""


def exactly(text: str, file: str = "<string>") -> Scenario:
    """The Scenario as the exact (ruamel round-trip) reading builds it."""
    c = FileCompiler(file, text, Path.cwd())
    assert c.parse()
    c.validate()
    result = c.build()
    assert result is not None and not c.diags, c.diags
    return result


def rule_lines(s: Scenario) -> list[tuple[int, int]]:
    rules = [*s.routes, *s.faults, *s.tasks, *s.expect]
    return [(r.line, r.when.line) for r in rules]


def test_fast_reading_is_taken_for_json_and_plain_yaml() -> None:
    assert fastload.load(RULES) is not None
    assert fastload.load(json.dumps({"scenariod": 1, "name": "x"})) is not None


@pytest.mark.parametrize("path", REPO_SCENARIOS, ids=lambda p: p.name)
def test_repository_scenarios_read_the_same_both_ways(path: Path) -> None:
    text = path.read_text()
    assert load_scenario(path) == exactly(text, str(path))


@pytest.mark.parametrize("indent", [None, 2], ids=["compact", "indented"])
def test_json_gives_the_same_scenario_as_yaml(tmp_path: Path, indent: int | None) -> None:
    from_yaml = load_scenario(_write(tmp_path, "s.yaml", RULES))
    doc = plain(yaml_loader().load(RULES))
    path = _write(tmp_path, "s.json", json.dumps(doc, indent=indent))
    from_json = load_scenario(path)
    differs = {"file", "text", "routes", "faults", "tasks", "expect"}  # rules differ in their lines only
    for name in Scenario.__dataclass_fields__:
        if name not in differs:
            assert getattr(from_json, name) == getattr(from_yaml, name), name
    assert _without_lines(from_json) == _without_lines(from_yaml)
    # ...and the lines are those of the JSON file, as the exact reading finds them
    assert rule_lines(from_json) == rule_lines(exactly(path.read_text()))
    if indent:
        lines = path.read_text().splitlines()
        assert '"when": "GET /version"' in lines[from_json.routes[0].when.line - 1]
        assert '"when": "GET /cluster/resources"' in lines[from_json.faults[0].when.line - 1]


def test_rule_lines_in_yaml(tmp_path: Path) -> None:
    s = load_scenario(_write(tmp_path, "s.yaml", RULES))
    assert rule_lines(s) == rule_lines(exactly(RULES))
    lines = RULES.splitlines()
    assert lines[s.routes[0].line - 1] == "  - when: GET /version"
    assert lines[s.routes[1].when.line - 1] == "      method: POST"
    assert lines[s.tasks[0].line - 1].startswith("  - when: POST /nodes/{node}/qemu/{vmid}/status/start")
    assert lines[s.expect[0].line - 1] == "  - when: GET /nodes"


def test_rule_lines_in_a_flow_style_yaml_file(tmp_path: Path) -> None:
    text = (
        "# a comment, then one flow mapping\n"
        "{scenariod: 1, name: f,\n routes: [\n  {when: GET /version, respond: {status: 204}}]}\n"
    )
    assert fastload.load(text) is not None
    s = load_scenario(_write(tmp_path, "f.yaml", text))
    assert rule_lines(s) == rule_lines(exactly(text)) == [(4, 4)]


def test_lines_are_counted_as_ruamel_counts_them(tmp_path: Path) -> None:
    # CR LF and CR break lines; NEL, LS and PS do not in YAML 1.2 (libyaml, 1.1, disagrees)
    text = RULES.replace("name: rules", 'name: rules\ndescription: "a\u2028b"').replace("\n", "\r\n")
    assert fastload.load(text) is None  # the YAML reading leaves it to the exact one
    doc = plain(yaml_loader().load(text))
    path = _write(tmp_path, "s.json", json.dumps(doc, indent=1, ensure_ascii=False).replace("\n", "\r\n"), newline="")
    assert fastload.load(path.read_bytes().decode()) is not None  # the JSON reading takes it
    s = load_scenario(path)
    assert rule_lines(s) == rule_lines(exactly(path.read_bytes().decode()))
    crlf = RULES.replace("\n", "\r\n")
    s = load_scenario(_write(tmp_path, "s.yaml", crlf, newline=""))
    assert rule_lines(s) == rule_lines(exactly(RULES))


SCALARS = """\
ints: [0, 7, -3, +4, 0x1F, 0o17, 017, 1_000, 0b101, 12345678901234567890]
floats: [1.5, -0.0, 1e3, 1.5E-3, .5, 1., 1_0.5, .inf, -.Inf, +.INF]
bools: [true, True, TRUE, false, False, FALSE, yes, no, on, off, y, n]
nulls: [null, Null, NULL, ~, ]
strings: ['1', "2", abc, "tab\\there", '', 1.2.3, 0x, 0o8, 08, 0b2, -, .5.5, 1e, +, "\\u00e9"]
blocks:
  literal: |
    line one
      indented
  folded: >
    folded
    text

    paragraph
  kept: |+
    kept

  stripped: >-
    stripped
anchors: {a: &a [1, {b: c}], b: *a}
"empty value":
nested: [[], {}, [[1]], {a: {b: {c: [null]}}}]
"""


def test_plain_scalars_are_typed_as_ruamel_types_them() -> None:
    loaded = fastload.load(SCALARS)
    assert loaded is not None
    expected = plain(yaml_loader().load(SCALARS))
    assert json.dumps(loaded.doc, sort_keys=True) == json.dumps(expected, sort_keys=True)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\na: 2\n",  # duplicate key: the exact reading reports it
        '{"a": 1, "a": 2}',
        '{"a": {"b": 1, "b": 2}}',
        "a: !!str 5\n",  # tags
        "a: !custom x\n",
        "a: {<<: {b: 1}}\n",  # merge keys
        "a: 2024-01-01\n",  # timestamps
        "1: x\n",  # keys that are not strings
        "a: 1\n---\nb: 2\n",  # two documents
        "%YAML 1.1\n---\na: yes\n",
        "- a\n",  # not a mapping
        "",
        "a: [1\n",  # syntax errors
        "a: &x [*x]\n",  # an alias to a collection still open
    ],
)
def test_what_the_fast_reading_leaves_to_the_exact_one(text: str) -> None:
    assert fastload.load(text) is None


@pytest.mark.parametrize(
    "text",
    [
        '{"scenariod": 1, "name": "x",}  # YAML, not JSON\n',
        '{"scenariod": 1, "name": NaN}',
    ],
)
def test_flow_yaml_that_is_not_json_is_read_as_yaml(text: str) -> None:
    loaded = fastload.load(text)
    assert loaded is not None and loaded.doc == plain(yaml_loader().load(text))


def test_json_errors_report_file_line_column(tmp_path: Path) -> None:
    bad_syntax = '{\n  "scenariod": 1,\n  "name": "x",\n  "state": {"/nodes": [1, 2}\n}\n'
    path = _write(tmp_path, "bad.json", bad_syntax)
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(path)
    assert [str(d) for d in info.value.diagnostics] == [
        f"{path}:4:28: YAML syntax error: expected ',' or ']', but got '}}'"
    ]
    dup = '{\n  "scenariod": 1,\n  "name": "x",\n  "name": "y"\n}\n'
    assert [str(d) for d in check_files([_write(tmp_path, "dup.json", dup)])] == [
        f"{tmp_path / 'dup.json'}:4:3: duplicate key 'name' (first at line 3)"
    ]
    schema = '{"scenariod": 1, "name": "x",\n "routes": [{"when": "GET /version", "respond": {"status": "ok"}}]}'
    assert [str(d) for d in check_files([_write(tmp_path, "schema.json", schema)])] == [
        f"{tmp_path / 'schema.json'}:2:60: `status: ok` must be a whole number"
    ]


def test_problems_in_a_large_state_keep_their_positions(tmp_path: Path) -> None:
    items = "".join(f"    - {{vmid: {100 + i}, name: vm{i}}}\n" for i in range(300))
    text = (
        f"scenariod: 1\nname: x\nstate:\n  /nodes: [{{node: pve1}}]\n  /nodes/pve1/qemu:\n{items}    - {{vmid: 105}}\n"
    )
    assert [str(d) for d in check_files([_write(tmp_path, "big.yaml", text)])] == [
        f"{tmp_path / 'big.yaml'}:306:14: vmid 105 appears twice under /nodes/pve1/qemu (first at line 11)"
    ]


def test_state_is_validated_as_a_mapping_only_while_the_schema_asks_no_more(monkeypatch: pytest.MonkeyPatch) -> None:
    assert scenario_schema.state_is_free_form()
    schema = json.loads(json.dumps(scenario_schema.load_schema()))
    schema["$defs"]["state"]["minProperties"] = 1
    monkeypatch.setattr(scenario_schema, "load_schema", lambda: schema)
    scenario_schema.state_is_free_form.cache_clear()
    try:
        assert not scenario_schema.state_is_free_form()
    finally:
        scenario_schema.state_is_free_form.cache_clear()


def test_a_state_that_is_no_mapping_is_still_reported(tmp_path: Path) -> None:
    assert [d.message for d in check_files([_write(tmp_path, "s.yaml", "scenariod: 1\nname: x\nstate: [1]\n")])] == [
        "`state: [1]` must be a mapping"
    ]


def test_path_nodes_route_every_prefix_as_the_router_does() -> None:
    for service in ("pve", "pbs", "pdm"):
        api = ApiDescription.load(service)
        for template in api.by_template:
            segs = [s if not s.startswith("{") else "x1" for s in template.split("/") if s] + ["nope"]
            for i, node in enumerate(api.path_nodes(segs)):
                resolved = api.resolve_segments(segs[:i])
                assert node is (resolved[0] if resolved else None), (service, segs[:i])


def test_seeding_copies_the_scenarios_values() -> None:
    s = exactly(RULES)
    store = StateStore()
    seed(store, s.api, s.state)
    config = store.get("/nodes/pve1/qemu/100/config")
    assert config == s.state["/nodes/pve1/qemu/100/config"]
    assert config is not s.state["/nodes/pve1/qemu/100/config"]
    config["memory"] = 1
    assert s.state["/nodes/pve1/qemu/100/config"]["memory"] == 2048


def _write(tmp_path: Path, name: str, text: str, newline: str | None = None) -> Path:
    path = tmp_path / name
    with open(path, "w", encoding="utf-8", newline=newline) as f:
        f.write(textwrap.dedent(text) if not text.startswith("{") else text)
    return path


def _without_lines(s: Scenario) -> list:
    import dataclasses

    def strip(rule: object) -> object:
        when = dataclasses.replace(rule.when, line=0)  # type: ignore[attr-defined]
        return dataclasses.replace(rule, line=0, when=when)  # type: ignore[type-var]

    return [strip(r) for r in (*s.routes, *s.faults, *s.tasks, *s.expect)]


def _many_guests(nodes: int, per_node: int, fmt: str) -> str:
    """A large valid scenario, JSON or block YAML; node pve2's guest 7 holds an undeclared `rack`."""
    state: dict[str, object] = {"/nodes": [{"node": f"pve{n}"} for n in range(nodes)]}
    for n in range(nodes):
        guests: list[dict[str, object]] = []
        for i in range(per_node):
            guest: dict[str, object] = {"vmid": 100 + n * per_node + i, "name": f"g{n}-{i}", "status": "running"}
            if (n, i) == (2, 7):
                guest["rack"] = "r12"
            guests.append(guest)
        state[f"/nodes/pve{n}/qemu"] = guests
    doc = {"scenariod": 1, "name": "many", "state": state}
    if fmt == "json":
        return json.dumps(doc, indent=2)
    lines = ["scenariod: 1", "name: many", "state:"]
    for path, items in state.items():
        lines.append(f"  {path}:")
        lines += ["    - {" + ", ".join(f"{k}: {v}" for k, v in item.items()) + "}" for item in items]
    return "\n".join(lines) + "\n"


def _check_large(
    tmp_path: Path, fmt: str, text: str, needle: str
) -> tuple[Path, int, int, subprocess.CompletedProcess[str], float]:
    """`scenariod check` of `text` as a file: its path, the line and column of `needle` in it,
    what check did, and the CPU seconds it took."""
    path = tmp_path / f"many.{fmt}"
    path.write_text(text)
    offset = text.index(needle)
    line, column = text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "scenariod", "check", str(path)], capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return path, line, column, done, after.ru_utime - before.ru_utime


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_a_warning_in_a_large_file_is_placed_without_the_exact_reading_of_it(tmp_path: Path, fmt: str) -> None:
    """`scenariod check` of a large file warns at the very place the exact reading names, in
    a fraction of the CPU time that reading would take (it reads the one state entry)."""
    text = _many_guests(20, 300, fmt)
    path, line, column, done, cpu = _check_large(tmp_path, fmt, text, '"rack"' if fmt == "json" else "rack:")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"{path}:{line}:{column}: warning: `rack` is not a field of the /nodes/{{node}}/qemu item schema (served as seeded)"
    ]
    assert cpu < 1.5  # the exact reading of the whole file: 2.5 s and more
    root = yaml_loader().load(text)  # the exact reading places it there too
    assert tuple(root["state"]["/nodes/pve2/qemu"][7].lc.key("rack")) == (line - 1, column - 1)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_a_wrong_seed_in_a_large_file_is_placed_without_the_exact_reading_of_it(tmp_path: Path, fmt: str) -> None:
    """A seed the API could never answer, in a large file: refused at its place, quickly."""
    text = _many_guests(20, 300, fmt)
    text = (
        text.replace('"status": "running"', '"status": "lots"', 1)
        if fmt == "json"
        else text.replace("status: running", "status: lots", 1)
    )
    path, line, column, done, cpu = _check_large(tmp_path, fmt, text, '"lots"' if fmt == "json" else "lots")
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[0].startswith(f'{path}:{line}:{column}: status: "lots"')
    assert done.stderr.splitlines()[-1] == "1 problem(s) in 1 file(s)"
    assert cpu < 1.5


def test_the_fast_reading_types_plain_scalars_with_ruamels_yaml_12_table() -> None:
    # fastload keeps a copy (it does not import ruamel.yaml): it must stay ruamel's own table
    from ruamel.yaml.resolver import implicit_resolvers

    theirs = tuple((tag, rx.pattern, rx.flags, tuple(first)) for v, tag, rx, first in implicit_resolvers if (1, 2) in v)
    assert fastload.YAML12_RESOLVERS == theirs
