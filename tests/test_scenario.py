"""Scenario files: schema, diagnostics with positions, checks against the API, normalization."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jmespath
import pytest
from jsonschema import Draft202012Validator

from scenariod import scenario as sc
from scenariod.scenario import (
    MISSING,
    AuthSpec,
    Delay,
    Diagnostic,
    Expect,
    Fault,
    Limits,
    Listen,
    Respond,
    Route,
    Scenario,
    ScenarioInvalid,
    TaskRule,
    TemplateError,
    When,
    check_files,
    load_scenario,
    parse_duration,
    split_template,
)
from scenariod.scenario.model import EFFECTS
from scenariod.scenario.schema import SCHEMA_PATH, load_schema

ROOT = Path(__file__).resolve().parent.parent
HEAD = "scenariod: 1\nname: t\n"


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    """'LINE:COL: message' for every diagnostic of a file holding `text`."""
    path = write(tmp_path, text)
    out = []
    for d in check_files([path]):
        assert d.file == str(path)
        out.append(f"{d.line}:{d.column}: {d.message}")
    return out


def one(tmp_path: Path, text: str) -> str:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


# --- the schema itself -------------------------------------------------------------------------


def test_schema_is_valid_2020_12_and_symlinked() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://scenariod.dev/schema/scenario.schema.json"
    link = ROOT / "schema" / "scenario.schema.json"
    assert link.is_symlink()
    assert str(link.readlink()) == "../scenariod/data/scenario.schema.json"
    assert json.loads(link.read_text()) == schema


def _walk_properties(node: object, where: str, found: list[tuple[str, dict]]) -> None:
    if isinstance(node, dict):
        for kw in ("properties", "$defs", "patternProperties"):
            for name, sub in (node.get(kw) or {}).items():
                found.append((f"{where}/{kw}/{name}", sub))
        for key, value in node.items():
            _walk_properties(value, f"{where}/{key}", found)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk_properties(value, f"{where}/{i}", found)


def test_every_property_and_definition_has_a_description() -> None:
    schema = load_schema()
    found: list[tuple[str, dict]] = []
    _walk_properties(schema, "#", found)
    assert len(found) > 100
    missing = [where for where, sub in found if not sub.get("description")]
    assert missing == []
    assert schema.get("description")


def test_schema_covers_the_vocabulary() -> None:
    schema = load_schema()
    defs = schema["$defs"]
    assert set(schema["properties"]) >= {
        "scenariod",
        "name",
        "description",
        "service",
        "api",
        "listen",
        "seed",
        "time_scale",
        "auth",
        "state",
        "routes",
        "faults",
        "tasks",
        "expect",
        "limits",
    }
    assert set(defs["auth"]["properties"]) == {
        "mode",
        "users",
        "tokens",
        "ticket_lifetime",
        "control_token",
        "permissions",
    }
    assert set(defs["fault"]["properties"]) == {"when", *EFFECTS, "probability", "times", "after"}
    assert set(defs["respond"]["properties"]) == {"data", "body", "status", "headers", "delay"}
    assert set(defs["task"]["properties"]) == {"when", "duration", "log", "exitstatus", "type"}
    assert set(defs["expect"]["properties"]) == {"when", "description", "count", "min", "max", "never"}
    assert set(defs["limits"]["properties"]) == {
        "journal",
        "tasks",
        "sessions",
        "journal_bytes",
        "body_bytes",
        "body_depth",
        "answers",
        "answer_bytes",
        "remote_cache",
        "remote_timeout",
        "remote_fetches",
        "client_timeout",
    }
    assert set(defs["whenMap"]["properties"]) == {"method", "path", "query", "headers", "body", "if"}
    assert "2s" in defs["duration"]["examples"]
    assert defs["duration"]["anyOf"][1]["pattern"]


def test_the_repository_scenarios_are_valid() -> None:
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        assert check_files([path]) == [], path


# --- durations and templates -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("250ms", 0.25),
        ("2s", 2.0),
        ("1.5s", 1.5),
        ("1m", 60.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1m30s", 90.0),
        ("1h 30m", 5400.0),
        (" 3s ", 3.0),
        ("0", 0.0),
        ("4", 4.0),
        ("0.5", 0.5),
        (".5s", 0.5),
        (3, 3.0),
        (0.25, 0.25),
        (0, 0.0),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["soon", "", "2x", "s", "-1s", "1s-", -1, True, None, [1], "1.2.3s", math.inf])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(bad)
    assert "is not a duration; write 250ms, 2s or 1m" in str(info.value)


def test_parse_duration_message() -> None:
    with pytest.raises(ValueError, match=r"^`soon` is not a duration; write 250ms, 2s or 1m$"):
        parse_duration("soon")


def test_schema_pattern_agrees_with_parse_duration() -> None:
    import re

    pattern = re.compile(load_schema()["$defs"]["duration"]["anyOf"][1]["pattern"])
    for text in ["250ms", "2s", "1.5s", "1m", "2h", "1m30s", " 3s ", "5", ".5s", "soon", "", "2x", "-1s"]:
        try:
            parse_duration(text)
            ok = True
        except ValueError:
            ok = False
        assert bool(pattern.search(text)) == ok, text


def _shape(parts: list) -> list:
    return [p if isinstance(p, str) else ("expr", p.expression) for p in parts]


def test_split_template() -> None:
    assert split_template("") == []
    assert split_template("plain text") == ["plain text"]
    assert _shape(split_template("${params.vmid}")) == [("expr", "params.vmid")]
    assert _shape(split_template("starting VM ${params.vmid} on ${params.node}")) == [
        "starting VM ",
        ("expr", "params.vmid"),
        " on ",
        ("expr", "params.node"),
    ]
    assert split_template("cost: $${price} and $5") == ["cost: ${price} and $5"]
    assert _shape(split_template("$${a}${b}")) == ["${a}", ("expr", "b")]
    # braces inside JMESPath literals and multi-select hashes
    assert _shape(split_template("${{a: b}}")) == [("expr", "{a: b}")]
    assert _shape(split_template("x${'}'}y")) == ["x", ("expr", "'}'"), "y"]
    assert _shape(split_template('${`{"k": 1}`.k}')) == [("expr", '`{"k": 1}`.k')]
    parsed = split_template("${params.vmid}")[0]
    assert isinstance(parsed, jmespath.parser.ParsedResult)
    assert parsed.search({"params": {"vmid": 100}}) == 100


@pytest.mark.parametrize(
    "text, message",
    [
        ("${params.}", "`${params.}` is not a valid JMESPath expression: the expression ends too early"),
        ("a ${x", "`${x` has no closing } for its ${"),
        ("${}", "`${}` is empty; write a JMESPath expression inside, e.g. ${params.vmid}"),
        ("${a ||}", "`${a ||}` is not a valid JMESPath expression: the expression is incomplete"),
    ],
)
def test_split_template_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        split_template(text)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


# --- YAML-level problems -----------------------------------------------------------------------


def test_diagnostic_format_and_exception(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "service: pvx\n")
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(path)
    assert info.value.diagnostics == [Diagnostic(str(path), 3, 10, "`service: pvx` must be one of pve, pbs, pdm")]
    assert str(info.value) == f"{path}:3:10: `service: pvx` must be one of pve, pbs, pdm"
    assert str(Diagnostic("f.yaml", 0, 0, "cannot read")) == "f.yaml: cannot read"


def test_str_lists_every_diagnostic_one_per_line(tmp_path: Path) -> None:
    path = write(tmp_path, "scenariod: 1\nservice: pvx\n")
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(path)
    assert str(info.value).splitlines() == [
        f"{path}:1:1: a scenario needs 'name'",
        f"{path}:2:10: `service: pvx` must be one of pve, pbs, pdm",
    ]


def test_yaml_syntax_error(tmp_path: Path) -> None:
    text = HEAD + "routes:\n  - when: GET /version\n    respond: {data: [1, 2}\n"
    assert problems(tmp_path, text) == ["5:26: YAML syntax error: expected ',' or ']', but got '}'"]
    assert problems(tmp_path, HEAD + "  bad: indent\n") == [
        "3:6: YAML syntax error: mapping values are not allowed here"
    ]
    assert problems(tmp_path, HEAD + "---\nname: y\n") == [
        "3:1: YAML syntax error: a scenario file holds one YAML document, and a second one starts here"
    ]
    assert problems(tmp_path, HEAD + "description: *nope\n") == [
        "3:14: YAML syntax error: found undefined alias 'nope'"
    ]


def test_duplicate_keys_are_all_reported(tmp_path: Path) -> None:
    text = """\
        scenariod: 1
        name: x
        name: y
        state:
          /nodes: []
          /nodes: []
        """
    assert problems(tmp_path, text) == [
        "3:1: duplicate key 'name' (first at line 2)",
        "6:3: duplicate key '/nodes' (first at line 5)",
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# just a comment\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    assert problems(tmp_path, text) == ["1:1: the file is empty; a scenario needs at least `scenariod: 1` and `name`"]


def test_not_a_mapping(tmp_path: Path) -> None:
    assert problems(tmp_path, "- a\n- b\n") == [
        "1:1: a scenario file must be a mapping of keys (scenariod, name, state, routes, ...), not a list"
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert [str(d) for d in check_files([missing])] == [f"{missing}: cannot read the file: No such file or directory"]


def test_check_files_collects_all_files(tmp_path: Path) -> None:
    good = write(tmp_path, HEAD, "good.yaml")
    bad = write(tmp_path, "scenariod: 1\n", "bad.yaml")
    assert [str(d) for d in check_files([good, bad, good])] == [f"{bad}:1:1: a scenario needs 'name'"]


# --- schema problems, in words -----------------------------------------------------------------


def test_top_level_problems(tmp_path: Path) -> None:
    text = """\
        scenariod: 2
        nme: x
        service: pvx
        time_scale: -1
        seed: abc
        api: [9]
        """
    assert problems(tmp_path, text) == [
        "1:1: a scenario needs 'name'",
        "1:12: `scenariod: 2`: this scenariod reads format version 1; write `scenariod: 1`",
        "2:1: unknown key 'nme' at the top level; did you mean 'name'?",
        "3:10: `service: pvx` must be one of pve, pbs, pdm",
        "4:13: `time_scale: -1` must be at least 0",
        "5:7: `seed: abc` must be a whole number",
        "6:6: `api: [9]` must be a string or a number",
    ]


def test_unknown_key_without_a_close_match_lists_the_keys(tmp_path: Path) -> None:
    assert (
        one(tmp_path, HEAD + "limits: {zzz: 1}\n")
        == "3:10: unknown key 'zzz' in `limits` (it takes journal, tasks, sessions, journal_bytes, body_bytes, "
        "body_depth, answers, answer_bytes, remote_cache, remote_timeout, remote_fetches, client_timeout)"
    )


def test_x_keys_hold_anchors(tmp_path: Path) -> None:
    text = HEAD + textwrap.dedent("""\
        x-answer: &answer {data: {version: "9.1"}}
        routes:
          - when: GET /version
            respond: *answer
          - when: GET /cluster/status
            respond:
              <<: *answer
              status: 201
        """)
    s = load_scenario(write(tmp_path, text))
    assert s.routes[0].respond.data == {"version": "9.1"}
    assert s.routes[1].respond == Respond(data={"version": "9.1"}, status=201)


# Each case: what follows HEAD in a file, and every diagnostic it draws, in file order
# (`test_problems`, after API_PROBLEMS, checks them).
SCHEMA_PROBLEMS = [
    pytest.param(
        'listen: {port: 70000, tls: "yes", hots: x}\n',
        [
            "3:16: `port: 70000` must be between 0 and 65535",
            "3:28: `tls: yes` must be true, false or a {cert, key} mapping",
            "3:35: unknown key 'hots' in `listen`; did you mean 'host'?",
        ],
        id="listen",
    ),
    pytest.param(
        """\
        auth:
          mode: strict
          users:
            - {userid: root, password: 1}
            - {password: x}
            - {userid: b@pve, groups: [1]}
            - {userid: a@pve}
            - {userid: a@pve}
          tokens:
            - {tokenid: "root@pam", secret: x}
            - {tokenid: "root@pam!ci"}
            - {tokenid: "root@pam!t", secret: s}
            - {tokenid: "root@pam!t", secret: s}
          ticket_lifetime: forever
        """,
        [
            "4:9: `mode: strict` must be one of enforce, any, none",
            "6:16: `userid: root` must look like user@realm, e.g. root@pam",
            "6:32: `password: 1` must be a string; put it in quotes",
            "7:7: a user needs 'userid'",
            "8:32: `1` in `groups` must be a string; put it in quotes",
            "10:16: user a@pve is declared twice (first at line 9)",
            "12:17: `tokenid: root@pam` must look like user@realm!name, e.g. root@pam!ci",
            "13:7: a token needs 'secret'",
            "15:17: token root@pam!t is declared twice (first at line 14)",
            "16:20: `ticket_lifetime: forever` is not a duration; write 250ms, 2s or 1m",
        ],
        id="auth",
    ),
    pytest.param(
        """\
        routes:
          - when: GET /version
            respnd: {data: 1}
          - when: FETCH /version
            respond: {data: 1, body: "x", status: 700}
          - when: 5
            respond: {delay: soon, headers: {X-A: [1]}}
          - respond: {}
          - when: {method: PATCH, path: /version, iff: x}
            respond: {delay: {min: 1s}}
          - when: {}
            respond: {delay: {median: 1s, min: 1s, max: 2s}}
          - when: GET /version
            respond: {delay: {max: 1s, min: 2s}}
        """,
        [
            "4:5: a route needs 'respond'",
            "5:5: unknown key 'respnd' in a route; did you mean 'respond'?",
            "6:11: `FETCH` is not a method of the Proxmox API; use GET, POST, PUT, DELETE or ANY",
            "7:24: a route's `respond` has both 'data' and 'body'; give one of them",
            "7:43: `status: 700` must be between 100 and 599",
            '8:11: `when: 5` must be a "METHOD PATH" string or a mapping',
            "9:22: `delay: soon` is not a duration; write 250ms, 2s or 1m",
            "9:43: `X-A: [1]` must be a string, a number, true or false",
            "10:5: a route needs 'when'",
            "11:20: `method: PATCH` is not a method of the Proxmox API; use GET, POST, PUT, DELETE or ANY",
            "11:43: unknown key 'iff' in a `when` mapping; did you mean 'if'?",
            "12:22: a uniform delay needs both 'min' and 'max'",
            "13:11: `when: {}` must not be empty",
            "14:22: a delay mapping is either {min, max} (uniform) or {median, sigma, max} (log-normal), not both",
            "16:28: `max: 1s` is shorter than `min: 2s`",
        ],
        id="routes",
    ),
    pytest.param(
        """\
        faults:
          - when: GET /cluster/resources
            delay: 1s
            error: {status: 500}
          - when: GET /cluster/resources
            probability: 2
          - when: GET /cluster/resources
            reset: false
          - when: GET /cluster/resources
            garbage: 5
          - when: GET /cluster/resources
            dribble: slow
          - when: GET /cluster/resources
            hang: true
            times: 0
            after: -1
          - when: GET /cluster/resources
            empty: true
            truncate: true
            reset: true
          - when: GET /cluster/resources
            error: {status: 99, errors: {vmid: 1}}
        """,
        [
            "6:5: a fault has two effects (delay, error); give each fault exactly one",
            "7:5: a fault needs an effect: one of delay, error, reset, hang, truncate, empty, garbage, dribble",
            "8:18: `probability: 2` must be between 0 and 1",
            "10:12: `reset: false` must be true (or leave `reset` out)",
            "12:14: `garbage: 5` must be true or a {bytes} mapping",
            "14:14: `dribble: slow` is not a duration; write 250ms, 2s or 1m",
            "17:12: `times: 0` must be at least 1",
            "18:12: `after: -1` must be at least 0",
            "21:5: a fault has three effects (empty, truncate, reset); give each fault exactly one",
            "24:21: `status: 99` must be between 100 and 599",
            "24:40: `vmid: 1` must be a string; put it in quotes",
        ],
        id="faults",
    ),
    pytest.param(
        """\
        tasks:
          - when: POST /nodes/{node}/qemu/{vmid}/status/start
            duration: soon
            log: [5, {at: 1s}, {at: later, line: x}]
            type: "a:b"
            exitstatus: 1
        expect:
          - when: GET /version
            count: 1
            min: 2
          - when: GET /version
            never: false
          - {when: GET /version, min: 3, max: 1}
          - {when: GET /version, count: -1}
        limits: {journal: 0, tasks: x}
        """,
        [
            "5:15: `duration: soon` is not a duration; write 250ms, 2s or 1m",
            "6:11: `5` in `log` must be a string or an {at, line} mapping",
            "6:14: a log line needs 'line'",
            "6:29: `at: later` is not a duration; write 250ms, 2s or 1m",
            "7:11: `type: a:b` must be one word without ':' (a UPID type such as qmstart)",
            "8:17: `exitstatus: 1` must be a string; put it in quotes",
            "12:5: an expectation takes `count`, `min`/`max` or `never`, not count and min together",
            "14:12: `never: false` must be true (or leave `never` out)",
            "15:39: `max: 1` is less than `min: 3`",
            "16:33: `count: -1` must be at least 0",
            "17:19: `journal: 0` must be at least 1",
            "17:29: `tasks: x` must be a whole number",
        ],
        id="tasks-and-expect",
    ),
    pytest.param(
        "routes: {when: x}\nstate: []\nauth: yes\n",
        [
            "3:9: `routes: {when: x}` must be a list",
            "4:8: `state: []` must be a mapping",
            "5:7: `auth: yes` must be a mapping",
        ],
        id="sections-of-the-wrong-type",
    ),
    pytest.param(
        """\
        faults: [GET /x]
        expect: [5]
        routes: [{when: GET /version, respond: 5}, {when: GET /version, respond: {delay: [1]}}]
        tasks: [{when: [GET]}, {when: GET /version, log: "one line"}]
        """,
        [
            "3:10: `GET /x` in `faults` must be a mapping",
            "4:10: `5` in `expect` must be a mapping",
            "5:40: `respond: 5` must be a mapping",
            "5:82: `delay: [1]` must be a duration (250ms, 2s, 1m) or a {min, max} or {median, sigma, max} mapping",
            '6:16: `when: [GET]` must be a "METHOD PATH" string or a mapping',
            "6:50: `log: one line` must be a list",
        ],
        id="items-of-the-wrong-type",
    ),
]


def test_tls_files_must_exist(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("x")
    text = HEAD + "listen:\n  tls: {cert: c.pem, key: k.pem}\n"
    assert problems(tmp_path, text) == [f"4:27: `key: k.pem`: no such file ({(tmp_path / 'k.pem').resolve()})"]
    assert one(tmp_path, HEAD + "listen: {tls: {cert: c.pem}}\n") == "3:15: `listen.tls` needs 'key'"


# --- checks against the API description --------------------------------------------------------


def test_api_pin(tmp_path: Path) -> None:
    msg = one(tmp_path, HEAD + 'api: "6"\n')
    assert msg.startswith("3:6: `api: \"6\"`: no bundled API description for pve version '6' (bundled: ")
    assert "pve 7.4, 8.4, 9.0, 9.1, 9.2" in msg
    s = load_scenario(write(tmp_path, HEAD + "api: 9\n"))
    assert s.api.version == "9.2"
    assert load_scenario(write(tmp_path, HEAD + 'api: "8"\n')).api.version == "8.4"  # the newest 8.x bundled


# As SCHEMA_PROBLEMS: problems found against the API description.
API_PROBLEMS = [
    pytest.param(
        """\
        state:
          /nodes/pve1/qemus: []
          /nodes/{node}/qemu: []
          /api2/json/nodes:
            - {node: pve1}
            - {status: online}
            - {node: pve1}
            - plain
          /nodes/: []
          /nodes/pve1/qemu/100/status/start: {}
          /nodes/pve1/qemu: {vmid: 100}
          /cluster/*: {}
          /nodes/pve2/qemu:
            - {vmid: 100}
            - {vmid: "100"}
            - {vmid: [1]}
            - {vmid: "a/b"}
        """,
        [
            "4:3: `/nodes/pve1/qemus` is not a path of the PVE API; did you mean /nodes/{node}/qemu?",
            "5:3: state keys are concrete paths; write /nodes/pve1/qemu, not /nodes/{node}/qemu",
            "8:7: an item under /nodes needs 'node' (the key of /nodes/{node})",
            "9:14: node pve1 appears twice under /nodes (first at line 7)",
            "10:7: an item under /nodes must be a mapping with 'node'",
            "11:3: `/nodes/` is the same path as `/api2/json/nodes` (line 6)",
            "12:3: `/nodes/pve1/qemu/100/status/start` cannot hold state: "
            "/nodes/{node}/qemu/{vmid}/status/start has no GET in the PVE API (it has POST)",
            "13:21: /nodes/pve1/qemu is a collection; give a list of items, each with 'vmid'",
            "14:3: state keys are concrete paths; `/cluster/*` is a pattern (patterns belong in `when`)",
            "17:14: vmid 100 appears twice under /nodes/pve2/qemu (first at line 16)",
            "18:14: `vmid: [1]` must be a name or a number without '/'",
            "19:14: `vmid: a/b` must be a name or a number without '/'",
        ],
        id="state",
    ),
    pytest.param(
        """\
        state:
          /nodes/pve1/qemu/100/snapshot:
            - {name: before-upgrade}
            - {snapname: other}
            - {description: no key}
        """,
        [
            "7:7: an item under /nodes/pve1/qemu/100/snapshot needs 'name' or 'snapname' "
            "(the key of /nodes/{node}/qemu/{vmid}/snapshot/{snapname})",
        ],
        id="items-may-carry-the-listing-field",
    ),
    pytest.param(
        """\
        routes:
          - {when: POST /version, respond: {}}
          - {when: GET /nodes/pve1/qemus, respond: {}}
          - {when: GET, respond: {}}
          - {when: GET /nodes/**/qemu, respond: {}}
          - {when: "GET /nodes/qemu-{vmid}", respond: {}}
          - {when: "GET /nodes/{node}/qemu/{node}", respond: {}}
          - {when: "GET /nodes?type=x", respond: {}}
          - {when: {method: [GET, post], path: /version}, respond: {}}
          - {when: {path: /nodes/pve1/qemus}, respond: {}}
          - {when: PUT /nodes/*/qemu/*/status/*, respond: {}}
          - {when: {if: "a ||"}, respond: {}}
          - {when: GET /, respond: {}}
        """,
        [
            "4:12: POST is not an operation of /version (it has GET)",
            "5:12: `/nodes/pve1/qemus` is not a path of the PVE API; did you mean /nodes/{node}/qemu?",
            "6:12: `when: GET` needs a path; write `GET /version`, or `GET /**` for every path",
            "7:12: `**` must be the last segment of a path pattern (`/nodes/**/qemu`)",
            "8:12: `qemu-{vmid}` in `/nodes/qemu-{vmid}`: "
            "a {name} placeholder must be a whole segment, like /qemu/{vmid}",
            "9:12: `{node}` appears twice in `/nodes/{node}/qemu/{node}`; give each placeholder its own name",
            "10:12: `/nodes?type=x`: a `when` path has no query string; use the mapping form with `query:`",
            "11:27: POST is not an operation of /version (it has GET)",
            "12:19: `/nodes/pve1/qemus` is not a path of the PVE API; did you mean /nodes/{node}/qemu?",
            "13:12: PUT is not an operation of any of the 8 API paths `/nodes/*/qemu/*/status/*` matches "
            "(they have GET, POST)",
            "14:17: `if: a ||` is not a valid JMESPath expression: the expression is incomplete",
            "15:12: `/` is not a path of the PVE API",
        ],
        id="when",
    ),
    pytest.param(
        """\
        faults: [{when: GET /nodez, reset: true}]
        tasks: [{when: GET /nodez}]
        expect: [{when: GET /nodez}]
        """,
        [
            "3:17: `/nodez` is not a path of the PVE API; did you mean /nodes?",
            "4:16: `/nodez` is not a path of the PVE API; did you mean /nodes?",
            "5:17: `/nodez` is not a path of the PVE API; did you mean /nodes?",
        ],
        id="when-in-every-section",
    ),
    pytest.param(
        """\
        routes:
          - when: GET /version
            respond:
              data: {a: [1, "${params.}"], b: "$${not.checked"}
              headers: {X-A: "${x", X-B: "${ok}"}
          - when: GET /cluster/status
            respond: {body: "${}"}
        tasks:
          - when: POST /nodes/{node}/qemu/{vmid}/status/start
            log: ["${params.vmid", {at: 1s, line: "${a ||}"}, "fine ${params.node}"]
        state:
          /cluster/options: {keyboard: "${not a template here"}
        """,
        [
            "6:21: `${params.}` is not a valid JMESPath expression: the expression ends too early",
            "7:22: `${x` has no closing } for its ${",
            "9:21: `${}` is empty; write a JMESPath expression inside, e.g. ${params.vmid}",
            "12:11: `${params.vmid` has no closing } for its ${",
            "12:43: `${a ||}` is not a valid JMESPath expression: the expression is incomplete",
        ],
        id="templates-where-they-render",
    ),
]


@pytest.mark.parametrize(("body", "expected"), SCHEMA_PROBLEMS + API_PROBLEMS)
def test_problems(tmp_path: Path, body: str, expected: list[str]) -> None:
    assert problems(tmp_path, HEAD + textwrap.dedent(body)) == expected


def test_other_services(tmp_path: Path) -> None:
    text = """\
        scenariod: 1
        name: backup
        service: pbs
        state:
          /admin/datastore: [{store: store1}]
        routes:
          - {when: GET /, respond: {data: []}}
          - {when: GET /version, respond: {data: {version: "4.0"}}}
          - {when: GET /nodes/localhost/qemu, respond: {}}
        """
    assert problems(tmp_path, text) == [
        "9:12: `/nodes/localhost/qemu` is not a path of the PBS API; did you mean /nodes/{node}?",
    ]
    pdm = load_scenario(write(tmp_path, "scenariod: 1\nname: dm\nservice: pdm\n"))
    assert pdm.service == "pdm" and pdm.api.service == "pdm"


# --- normalization -----------------------------------------------------------------------------

FULL = """\
# yaml-language-server: $schema=../schema/scenario.schema.json
scenariod: 1
name: full
description: Every key
service: pve
api: "9"
listen: {host: 0.0.0.0, port: 8106, tls: {cert: c.pem, key: k.pem}}
seed: 42
time_scale: 0.5
auth:
  mode: enforce
  users:
    - {userid: root@pam, password: secret}
    - {userid: ci@pve, enable: false, expire: 1900000000, groups: "ops, ci", comment: robot, email: ci@example.com}
  tokens:
    - {tokenid: "root@pam!ci", secret: s3cret, privsep: true, expire: 5, comment: pipeline}
    - {tokenid: "ci@pve!x", secret: "y"}
  ticket_lifetime: 5m
  control_token: hunter2
state:
  /api2/json/nodes/:
    - {node: pve1, status: online}
  nodes/pve1/qemu:
    - {vmid: 100, name: web-01, status: running, when: 2024-01-02}
  /cluster/options: {keyboard: en-us}
routes:
  - when: GET /version
    respond:
      data: {version: "9.1.2"}
  - when:
      method: [get, PUT]
      path: /api2/json/nodes/{node}/qemu/{vmid}/config/
      query: {timeframe: hour}
      headers: {X-Test: "1"}
      body: {cf: AVERAGE}
      if: "query.timeframe == 'hour'"
    respond:
      status: 202
      headers: {Retry-After: 5, X-Flag: true}
      body: "${params.vmid}"
      delay: {median: 200ms, sigma: 0.5}
  - when: ANY /nodes/**
    respond: {data: null, delay: {min: 100ms, max: 2s}}
  - when: "/cluster/*"
    respond: {status: 204, delay: 1.5}
faults:
  - when: GET /cluster/resources
    delay: 250ms
  - when: "POST /nodes/pve2/**"
    error: {status: 595, message: "no route to host"}
    times: 2
  - when: GET /nodes/pve1/qemu/100/status/current
    reset: true
    probability: 0.25
    after: 3
  - {when: GET /version, hang: true}
  - {when: GET /version, truncate: true}
  - {when: GET /version, empty: true}
  - {when: GET /version, garbage: true}
  - {when: GET /version, garbage: {bytes: 7}}
  - {when: GET /version, dribble: 5s}
  - {when: GET /version, dribble: {duration: 1m, chunks: 3}}
  - {when: GET /version, error: {errors: {vmid: bad}}}
tasks:
  - when: POST /nodes/{node}/qemu/{vmid}/status/start
    duration: 2s
    log:
      - "starting VM ${params.vmid} on ${params.node}"
      - {at: 1500ms, line: "  boot ok"}
      - "  still booting"
      - {at: 1s, line: "early"}
    exitstatus: "command failed"
    type: qmstart
  - when: POST /nodes/{node}/qemu
expect:
  - when: POST /access/ticket
    description: the client logs in
    count: 1
  - {when: GET /version, never: true}
  - {when: GET /version, min: 2}
  - {when: GET /version, max: 4}
  - {when: GET /version, min: 1, max: 3}
  - {when: GET /version}
limits: {journal: 10, tasks: 20, sessions: 3}
"""


def L(snippet: str, exact: bool = False) -> int:
    """1-based line of the first line of FULL containing (or, exact, being) `snippet`."""
    lines = FULL.splitlines()
    return next(i for i, line in enumerate(lines, 1) if (line.strip() == snippet if exact else snippet in line))


def test_full_vocabulary_loads(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("cert")
    (tmp_path / "k.pem").write_text("key")
    path = write(tmp_path, FULL, "full.yaml")
    s = load_scenario(path)
    assert isinstance(s, Scenario)
    assert s.file == path
    assert s.text == FULL
    assert (s.name, s.description, s.service, s.seed, s.time_scale) == ("full", "Every key", "pve", 42, 0.5)
    assert s.api.service == "pve" and s.api.version.startswith("9")
    assert s.listen == Listen(
        host="0.0.0.0",
        port=8106,
        tls=True,
        cert=str((tmp_path / "c.pem").resolve()),
        key=str((tmp_path / "k.pem").resolve()),
    )
    assert s.auth == AuthSpec(
        mode="enforce",
        users=(
            {"userid": "root@pam", "password": "secret", "enable": True, "expire": 0},
            {
                "userid": "ci@pve",
                "enable": False,
                "expire": 1900000000,
                "groups": ["ops", "ci"],
                "comment": "robot",
                "email": "ci@example.com",
            },
        ),
        tokens=(
            {
                "tokenid": "root@pam!ci",
                "userid": "root@pam",
                "name": "ci",
                "secret": "s3cret",
                "privsep": True,
                "expire": 5,
                "comment": "pipeline",
            },
            {"tokenid": "ci@pve!x", "userid": "ci@pve", "name": "x", "secret": "y", "privsep": False, "expire": 0},
        ),
        ticket_lifetime=300.0,
        control_token="hunter2",
    )
    assert s.state == {
        "/nodes": [{"node": "pve1", "status": "online"}],
        "/nodes/pve1/qemu": [{"vmid": 100, "name": "web-01", "status": "running", "when": "2024-01-02"}],
        "/cluster/options": {"keyboard": "en-us"},
    }
    assert type(s.state["/nodes"]) is list and type(s.state["/nodes"][0]) is dict
    assert type(s.state["/nodes/pve1/qemu"][0]["vmid"]) is int

    r0, r1, r2, r3 = s.routes
    assert r0 == Route(
        when=When(methods=frozenset({"GET"}), path="/version", source="GET /version", line=L("- when: GET /version")),
        respond=Respond(data={"version": "9.1.2"}),
        line=L("- when: GET /version"),
        index=0,
    )
    assert r1.when == When(
        methods=frozenset({"GET", "PUT"}),
        path="/nodes/{node}/qemu/{vmid}/config",
        query={"timeframe": "hour"},
        headers={"x-test": "1"},
        body={"cf": "AVERAGE"},
        if_expr="query.timeframe == 'hour'",
        source="GET|PUT /nodes/{node}/qemu/{vmid}/config query {timeframe: hour} headers {x-test: '1'} "
        "body {cf: AVERAGE} if query.timeframe == 'hour'",
        line=L("method: [get, PUT]"),
    )
    assert r1.respond == Respond(
        data=MISSING,
        body="${params.vmid}",
        status=202,
        headers={"Retry-After": "5", "X-Flag": "true"},
        delay=Delay("lognormal", median=0.2, sigma=0.5, max=math.inf),
    )
    assert r1.line == L("method: [get, PUT]") - 1 and r1.index == 1
    assert r2.when.methods is None and r2.when.path == "/nodes/**"
    assert r2.respond == Respond(data=None, delay=Delay("uniform", min=0.1, max=2.0))
    assert r2.respond.data is None
    assert r3.when == When(methods=None, path="/cluster/*", source="/cluster/*", line=L('- when: "/cluster/*"'))
    assert r3.respond == Respond(status=204, delay=Delay("fixed", seconds=1.5))

    f = s.faults
    assert [x.effect for x in f] == [
        "delay",
        "error",
        "reset",
        "hang",
        "truncate",
        "empty",
        "garbage",
        "garbage",
        "dribble",
        "dribble",
        "error",
    ]
    assert f[0] == Fault(
        when=When(
            frozenset({"GET"}),
            "/cluster/resources",
            source="GET /cluster/resources",
            line=L("- when: GET /cluster/resources"),
        ),
        effect="delay",
        delay=Delay("fixed", seconds=0.25),
        index=0,
        line=L("- when: GET /cluster/resources"),
    )
    assert f[1].error == {"status": 595, "message": "no route to host", "errors": None}
    assert (f[1].times, f[1].probability, f[1].after) == (2, None, None)
    assert f[1].when.path == "/nodes/pve2/**"
    assert (f[2].probability, f[2].after, f[2].times, f[2].index) == (0.25, 3, None, 2)
    assert (f[6].garbage_bytes, f[7].garbage_bytes) == (128, 7)
    assert (f[8].dribble_seconds, f[8].dribble_chunks) == (5.0, 10)
    assert (f[9].dribble_seconds, f[9].dribble_chunks) == (60.0, 3)
    assert f[10].error == {"status": 500, "message": None, "errors": {"vmid": "bad"}}
    assert f[3].delay is None and f[3].error is None and f[3].garbage_bytes == 0

    t0, t1 = s.tasks
    assert t0 == TaskRule(
        when=When(
            frozenset({"POST"}),
            "/nodes/{node}/qemu/{vmid}/status/start",
            source="POST /nodes/{node}/qemu/{vmid}/status/start",
            line=L("- when: POST /nodes/{node}/qemu/{vmid}/status/start"),
        ),
        duration=2.0,
        log=(
            (0.0, "starting VM ${params.vmid} on ${params.node}"),
            (1.0, "early"),
            (1.5, "  boot ok"),
            (1.5, "  still booting"),
        ),
        exitstatus="command failed",
        type="qmstart",
        line=L("- when: POST /nodes/{node}/qemu/{vmid}/status/start"),
        index=0,
    )
    assert t1 == TaskRule(
        when=When(
            frozenset({"POST"}),
            "/nodes/{node}/qemu",
            source="POST /nodes/{node}/qemu",
            line=L("- when: POST /nodes/{node}/qemu", exact=True),
        ),
        line=L("- when: POST /nodes/{node}/qemu", exact=True),
        index=1,
    )
    assert t1.duration is None and t1.exitstatus == "OK" and t1.type is None and t1.log == ()

    assert [(e.min, e.max) for e in s.expect] == [(1, 1), (0, 0), (2, None), (0, 4), (1, 3), (1, None)]
    assert s.expect[0] == Expect(
        when=When(
            frozenset({"POST"}), "/access/ticket", source="POST /access/ticket", line=L("- when: POST /access/ticket")
        ),
        description="the client logs in",
        min=1,
        max=1,
        line=L("- when: POST /access/ticket"),
        index=0,
    )
    assert s.limits == Limits(journal=10, tasks=20, sessions=3)


def test_defaults(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, HEAD))
    assert (s.service, s.seed, s.time_scale, s.description) == ("pve", 0, 1.0, None)
    assert s.listen == Listen(host=None, port=None, tls=True, cert=None, key=None)
    assert s.auth == AuthSpec(mode="any", users=(), tokens=(), ticket_lifetime=7200.0, control_token=None)
    assert s.limits == Limits(journal=1000, tasks=1000, sessions=100)
    assert (s.state, s.routes, s.faults, s.tasks, s.expect) == ({}, (), (), (), ())
    assert type(s.time_scale) is float

    s = load_scenario(
        write(tmp_path, HEAD + "auth:\n  tokens: [{tokenid: a@pve!t, secret: x}]\nlisten: {tls: false}\n")
    )
    assert s.auth.mode == "enforce" and s.listen.tls is False
    s = load_scenario(write(tmp_path, HEAD + "auth: {mode: none, users: [{userid: a@pve}]}\n"))
    assert s.auth.mode == "none"


def test_dataclasses_are_frozen_and_slotted() -> None:
    for cls in (Scenario, Listen, AuthSpec, Limits, When, Delay, Respond, Route, Fault, TaskRule, Expect, Diagnostic):
        assert "__slots__" in cls.__dict__, cls
        assert cls.__dataclass_params__.frozen, cls  # type: ignore[attr-defined]
    assert repr(MISSING) == "MISSING" and not MISSING
    import copy

    assert copy.deepcopy(MISSING) is MISSING
    assert Respond().data is MISSING


def test_plain_values_downstream(tmp_path: Path) -> None:
    text = HEAD + textwrap.dedent("""\
        routes:
          - when: GET /version
            respond:
              data: {i: 1, f: 1.5, b: true, n: null, s: "x", l: [1, {k: v}], 100: numeric-key, t: !!str 5}
        """)
    data = load_scenario(write(tmp_path, text)).routes[0].respond.data
    assert data == {
        "i": 1,
        "f": 1.5,
        "b": True,
        "n": None,
        "s": "x",
        "l": [1, {"k": "v"}],
        "100": "numeric-key",
        "t": "5",
    }

    def types(v: object) -> set:
        if isinstance(v, dict):
            return {type(v)} | {t for x in v.values() for t in types(x)} | {type(k) for k in v}
        if isinstance(v, list):
            return {type(v)} | {t for x in v for t in types(x)}
        return {type(v)}

    assert types(data) <= {dict, list, str, int, float, bool, type(None)}
    assert jmespath.search("l[1].k", data) == "v"


def test_string_when_forms(tmp_path: Path) -> None:
    text = HEAD + textwrap.dedent("""\
        expect:
          - {when: "get /version"}
          - {when: "  /version  "}
          - {when: "any /api2/json/version"}
          - {when: "api2/json/nodes/{node}/"}
          - {when: {method: ANY}}
          - {when: {method: [GET, any], path: /version}}
        """)
    whens = [e.when for e in load_scenario(write(tmp_path, text)).expect]
    assert [(w.methods, w.path) for w in whens] == [
        (frozenset({"GET"}), "/version"),
        (None, "/version"),
        (None, "/version"),
        (None, "/nodes/{node}"),
        (None, None),
        (None, "/version"),
    ]
    assert whens[0].source == "get /version"
    assert whens[4].source == "/**"


def test_load_time(tmp_path: Path) -> None:
    """A two-node-sized file loads in well under a tenth of a second once warm."""
    load_scenario(ROOT / "scenarios" / "two-node.yaml")
    start = time.perf_counter()
    for _ in range(5):
        load_scenario(ROOT / "scenarios" / "two-node.yaml")
    assert (time.perf_counter() - start) / 5 < 0.1


def test_parse_scenario_from_text() -> None:
    s = sc.parse_scenario(HEAD + "routes: [{when: GET /version, respond: {data: 1}}]\n")
    assert s.file == Path("<string>") and s.routes[0].respond.data == 1
    with pytest.raises(ScenarioInvalid) as info:
        sc.parse_scenario("scenariod: 1\n", "inline.yaml")
    assert str(info.value) == "inline.yaml:1:1: a scenario needs 'name'"


def test_schema_examples_are_valid() -> None:
    schema = load_schema()
    checked = 0

    def walk(node: object) -> None:
        nonlocal checked
        if isinstance(node, dict):
            for example in node.get("examples", []):
                sub = {k: v for k, v in node.items() if k != "examples"}
                validator = Draft202012Validator({**sub, "$defs": schema["$defs"]})
                assert list(validator.iter_errors(example)) == [], (node.get("description"), example)
                checked += 1
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert checked > 40


def test_request_time_imports_leave_the_loader_out() -> None:
    """The model (what serving reads) and the server import no YAML parser, no jsonschema and
    no compiler; the package's loader entry points load the compiler when first asked for."""
    probe = (
        "import sys, scenariod.scenario.model, scenariod.server\n"
        "heavy = ('jsonschema', 'ruamel', 'yaml', 'scenariod.scenario.compile')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))\n"
        "from scenariod.scenario import load_scenario\n"
        "print(load_scenario.__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "scenariod.scenario.compile"]


def test_one_missing_sentinel() -> None:
    """The state store's "no value" and the model's are the same falsy object, kept by copies."""
    import copy
    import pickle

    from scenariod import state

    assert state.MISSING is MISSING
    assert not MISSING and repr(MISSING) == "MISSING"
    assert copy.deepcopy({"v": MISSING})["v"] is MISSING
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    assert state.StateStore().get("/nodes/pve1") is MISSING


def test_the_model_classes_behave_as_frozen_dataclasses() -> None:
    # model.frozen shares its methods instead of generating them (start-up time): each model
    # class must still behave as @dataclass(frozen=True, slots=True) does, twin for twin.
    import copy
    import dataclasses
    import pickle

    from scenariod.scenario import model

    twin_of = {
        cls: dataclasses.dataclass(frozen=True, slots=True)(
            type(
                cls.__name__,
                (),
                {
                    "__annotations__": {f.name: f.type for f in dataclasses.fields(cls)},
                    "__qualname__": cls.__qualname__,
                    **{
                        f.name: dataclasses.field(default=f.default, default_factory=f.default_factory)
                        if f.default_factory is not dataclasses.MISSING
                        else f.default
                        for f in dataclasses.fields(cls)
                        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
                    },
                },
            )
        )
        for cls in (model.Listen, model.Limits, model.Respond, model.Delay, model.When)
    }
    samples = {
        model.Listen: [(), ("h", 1), {"port": 8006, "tls": False}],
        model.Limits: [(), {"journal": 5, "remote_cache": 1.5}],
        model.Respond: [(), {"data": None, "status": 404, "headers": {"a": "b"}}],
        model.Delay: [("fixed",), {"kind": "uniform", "min": 1.0, "max": 2.5}],
        model.When: [(frozenset({"GET"}), "/x"), {"methods": None, "path": None, "line": 3}],
    }
    for cls, twin in twin_of.items():
        made = []
        for args in samples[cls]:
            ours = cls(**args) if isinstance(args, dict) else cls(*args)
            theirs = twin(**args) if isinstance(args, dict) else twin(*args)
            assert repr(ours) == repr(theirs)
            assert [getattr(ours, f.name) for f in dataclasses.fields(cls)] == [
                getattr(theirs, f.name) for f in dataclasses.fields(twin)
            ]
            assert ours == copy.deepcopy(ours) == pickle.loads(pickle.dumps(ours))
            assert ours == dataclasses.replace(ours) and dataclasses.asdict(ours) == dataclasses.asdict(ours)
            try:
                assert hash(ours) == hash(copy.copy(ours))
            except TypeError:  # a dict field: unhashable, as the dataclass is
                with pytest.raises(TypeError):
                    hash(theirs)
            with pytest.raises(dataclasses.FrozenInstanceError):
                ours.line = 1  # type: ignore[misc]
            with pytest.raises(dataclasses.FrozenInstanceError):
                del ours.line  # type: ignore[misc]
            made.append(ours)
        assert made[0] != made[1]
        assert made[0] != twin(*samples[cls][0])  # another class: never equal, as between dataclasses
        assert cls.__match_args__ == twin.__match_args__
        with pytest.raises(TypeError):
            cls(*range(len(dataclasses.fields(cls)) + 1))
        with pytest.raises(TypeError):
            cls(no_such_field=1)
    assert model.Respond().headers is not model.Respond().headers  # a fresh default each
    with pytest.raises(TypeError):
        model.Route(model.When(None, None))  # `respond` is required
