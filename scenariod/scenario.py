"""Scenario files: loading, validation with positions, and normalization.

A scenario file is read into plain Python values (dict, list, str, int, float, bool, None),
validated against the JSON Schema in `data/scenario.schema.json`, checked against the
service's API description (paths, methods, collection keys, JMESPath expressions), and
compiled into frozen dataclasses. Every problem found is reported as a `Diagnostic` that
prints as `FILE:LINE:COLUMN: message`, pointing at the YAML node at fault, in words for
authors.

Two readings give the same values (see `_Compiler`): the fast one (fastload: JSON, or YAML
through libyaml) for valid files, with the few positions a Scenario keeps found by reading
its small rule sections with ruamel.yaml; and the exact one, ruamel.yaml's round trip of
the whole file, where every node knows its line and column: it reports the problems.

Public surface:

- `load_scenario(path) -> Scenario`, `parse_scenario(text, file) -> Scenario`; both raise
  `ScenarioInvalid` (its `diagnostics` list; `str()` gives them one per line).
- `check_files(paths) -> list[Diagnostic]`: every problem of every file (empty when valid).
- `parse_duration(value) -> float`: `250ms`, `2s`, `1.5s`, `1m`, `2h`, `1m30s`, or a bare
  number of seconds; `ValueError` with the author message otherwise.
- `split_template(s) -> list[str | ParsedResult]`: the `${EXPR}` template parser.
- `load_schema() -> dict`, `SCHEMA_PATH`.
- the dataclasses `Scenario`, `Listen`, `AuthSpec`, `Limits`, `When`, `Route`, `Respond`,
  `Delay`, `Fault`, `TaskRule`, `Expect`, and the `MISSING` sentinel.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import json
import math
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from . import cache, fastload
from .apidesc import missing_from
from .gcpause import gc_paused

__all__ = [
    "MISSING",
    "SCHEMA_PATH",
    "AuthSpec",
    "Delay",
    "Diagnostic",
    "Expect",
    "Fault",
    "Limits",
    "Listen",
    "Respond",
    "Route",
    "Scenario",
    "ScenarioInvalid",
    "TaskRule",
    "TemplateError",
    "When",
    "check_files",
    "compile_expression",
    "load_scenario",
    "load_schema",
    "parse_duration",
    "parse_scenario",
    "split_template",
]

SCHEMA_PATH = Path(__file__).with_name("data") / "scenario.schema.json"

METHODS = ("GET", "POST", "PUT", "DELETE")
EFFECTS = ("delay", "error", "reset", "hang", "truncate", "empty", "garbage", "dribble")
DEFAULT_GARBAGE_BYTES = 128
DEFAULT_DRIBBLE_CHUNKS = 10
DEFAULT_TICKET_LIFETIME = 7200.0


# --- the sentinel and the dataclasses -------------------------------------------------------


class _Missing:
    """The type of `MISSING`: "no value given" where None is a value (e.g. `respond.data`)."""

    __slots__ = ()
    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"

    def __copy__(self) -> _Missing:
        return self

    def __deepcopy__(self, memo: dict) -> _Missing:
        return self


MISSING: Any = _Missing()


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in a file; `line` and `column` are 1-based (0: the file as a whole)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        if self.line <= 0:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ScenarioInvalid(Exception):
    """A scenario file has problems; `diagnostics` lists all of them, in file order."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))

    def __str__(self) -> str:
        return "\n".join(str(d) for d in self.diagnostics)


class TemplateError(ValueError):
    """A `${...}` template that does not parse; the message is for authors."""


@dataclass(frozen=True, slots=True)
class Listen:
    """`listen`: None means "not given" (the command line and the service defaults decide).

    `tls` is True unless the file says `tls: false`; with `tls: {cert, key}`, `cert` and `key`
    are the file paths resolved against the scenario file's directory.
    """

    host: str | None = None
    port: int | None = None
    tls: bool = True
    cert: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class AuthSpec:
    """`auth`, with defaults applied.

    `mode`: "enforce" | "any" | "none" (default enforce when users or tokens are declared).
    `users`: dicts with userid, enable (bool, default True) and expire (int, 0 = never)
    always present, and password, groups (list[str]; a comma-separated string is split),
    comment, email, firstname, lastname only when the file gives them (a user without
    `password` cannot log in with a password).
    `tokens`: dicts with tokenid ("user@realm!name"), userid, name (the part after '!'),
    secret, privsep (bool, default False), expire (int, default 0), and comment when given.
    `ticket_lifetime` in seconds (default 7200). `control_token`: required as
    `Authorization: Bearer <token>` on /_scenariod/ when not None.
    """

    mode: str = "any"
    users: tuple[dict, ...] = ()
    tokens: tuple[dict, ...] = ()
    ticket_lifetime: float = DEFAULT_TICKET_LIFETIME
    control_token: str | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """`limits`: requests kept in the journal, tasks kept per instance, sessions at once, and
    how long a slow client may take to send a request."""

    journal: int = 1000
    tasks: int = 1000
    sessions: int = 100
    client_timeout: float = 10.0  # seconds a client has to send a request's headers, and its body


@dataclass(frozen=True, slots=True)
class When:
    """A compiled-to-plain `when`.

    `methods`: upper-case method names, None for any method (absent or ANY).
    `path`: the normalized pattern ('/nodes/{node}/qemu/**'; '/' for the root), None for any
    path (mapping form without `path`). `query`, `body`: values as written (plain types).
    `headers`: lower-case names, string values. `if_expr`: the JMESPath text (it compiles).
    `source`: the `when` as the author wrote it (string form) or a one-line rendering of the
    mapping form, for display. `line`: 1-based line of the `when` value.
    """

    methods: frozenset[str] | None
    path: str | None
    query: dict | None = None
    headers: dict | None = None
    body: dict | None = None
    if_expr: str | None = None
    source: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class Delay:
    """A delay: `fixed` (`seconds`), `uniform` (`min`..`max`) or `lognormal` (`median`,
    `sigma`, capped at `max`; `max` is `math.inf` when the file gives no cap)."""

    kind: str
    seconds: float = 0.0
    min: float = 0.0
    max: float = 0.0
    median: float = 0.0
    sigma: float = 0.0


@dataclass(frozen=True, slots=True)
class Respond:
    """`respond`: `data` is MISSING when not given (None is a valid `data: null`); `body` is
    the raw body or None. Strings in data/body/header values may hold `${...}` templates
    (they compile; render them with `split_template`)."""

    data: Any = MISSING
    body: str | None = None
    status: int = 200
    headers: dict = field(default_factory=dict)
    delay: Delay | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """One `routes` entry; `line` of the entry, `index` in the list."""

    when: When
    respond: Respond
    line: int = 0
    index: int = 0


@dataclass(frozen=True, slots=True)
class Fault:
    """One `faults` entry.

    `effect` is one of delay, error, reset, hang, truncate, empty, garbage, dribble.
    `delay` is set for the delay effect; `error` for the error effect as
    {"status": int (default 500), "message": str | None (None: the status's usual wording),
    "errors": dict[str, str] | None}; `garbage_bytes` (default 128) for garbage;
    `dribble_seconds` and `dribble_chunks` (default 10) for dribble (0 otherwise).
    Gates are None when not given. `index`: position in `faults` (for gate counters).
    """

    when: When
    effect: str
    delay: Delay | None = None
    error: dict | None = None
    garbage_bytes: int = 0
    dribble_seconds: float = 0.0
    dribble_chunks: int = 0
    probability: float | None = None
    times: int | None = None
    after: int | None = None
    index: int = 0
    line: int = 0


@dataclass(frozen=True, slots=True)
class TaskRule:
    """One `tasks` entry. `duration` in seconds before time_scale (None: the default).
    `log`: (at seconds, line template) in time order; a plain string line takes the `at` of
    the line before it (0 for the first). `exitstatus` "OK" or the failure text."""

    when: When
    duration: float | None = None
    log: tuple[tuple[float, str], ...] = ()
    exitstatus: str = "OK"
    type: str | None = None
    line: int = 0
    index: int = 0


@dataclass(frozen=True, slots=True)
class Expect:
    """One `expect` entry: between `min` and `max` (None: no upper bound) matching requests.
    count N -> N..N; never -> 0..0; min/max as given (min defaults to 0 when only max is
    given); none of them -> 1..None (at least once)."""

    when: When
    description: str | None = None
    min: int = 1
    max: int | None = None
    line: int = 0
    index: int = 0


@dataclass(frozen=True, slots=True)
class Scenario:
    """A loaded, valid scenario file.

    `api` is the `apidesc.ApiDescription` served; `api_override` the `--api` release that
    chose it over the file's pin (a reload keeps it). `state` maps normalized concrete paths
    ('/nodes/pve1/qemu': leading '/', no /api2/json, no trailing '/') to plain values (a
    list of item mappings for collection paths). `text` is the file's source.
    """

    file: Path
    name: str
    description: str | None
    service: str
    api: Any
    listen: Listen
    seed: int
    time_scale: float
    auth: AuthSpec
    state: dict[str, Any]
    routes: tuple[Route, ...]
    faults: tuple[Fault, ...]
    tasks: tuple[TaskRule, ...]
    expect: tuple[Expect, ...]
    limits: Limits
    text: str
    api_override: str | None = None


# --- durations --------------------------------------------------------------------------------

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION_PART = re.compile(r"\s*(" + _NUM + r")\s*(ms|s|m|h|d)\s*")
_BARE_NUMBER = re.compile(r"\s*(" + _NUM + r")\s*")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds in a duration: `250ms`, `2s`, `1.5s`, `1m`, `2h`, `1d`, `1m30s` (parts add up),
    or a bare number (int, float or numeric string) of seconds. Raises ValueError with the
    author message (`` `soon` is not a duration; write 250ms, 2s or 1m ``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value >= 0 and math.isfinite(value):
            return float(value)
    elif isinstance(value, str):
        m = _BARE_NUMBER.fullmatch(value)
        if m:
            return float(m.group(1))
        total, pos, n = 0.0, 0, len(value)
        while pos < n:
            m = _DURATION_PART.match(value, pos)
            if m is None:
                break
            total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
            pos = m.end()
        else:
            if n:
                return total
    raise ValueError(f"`{_fmt(value)}` is not a duration; write 250ms, 2s or 1m")


# --- templates --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def compile_expression(expr: str) -> ParsedResult:
    """jmespath.compile with a larger cache; raises jmespath's ParseError subclasses."""
    return jmespath.compile(expr)


def _jmespath_problem(exc: JMESPathError) -> str:
    """jmespath's error, in a few words with a 1-based column."""
    from jmespath.exceptions import IncompleteExpressionError, LexerError, ParseError

    if isinstance(exc, IncompleteExpressionError):
        return "the expression is incomplete"
    if isinstance(exc, LexerError):
        where = getattr(exc, "lexer_position", None)
        text = getattr(exc, "message", None) or "cannot read it"
        return f"{text} at column {where + 1}" if isinstance(where, int) else text
    if isinstance(exc, ParseError):
        if getattr(exc, "token_type", None) in ("eof", "EOF"):
            return "the expression ends too early"
        where = getattr(exc, "lex_position", None)
        token = getattr(exc, "token_value", None)
        if isinstance(where, int):
            return f"unexpected {token!r} at column {where + 1}" if token else f"parse error at column {where + 1}"
    first = str(exc).split("\n", 1)[0].rstrip()
    return re.sub(r",? for expression:?$", "", first).rstrip(":").strip() or exc.__class__.__name__


def _closing_brace(s: str, start: int) -> int:
    """Index of the `}` that closes a `${` whose expression starts at `start`, or -1.

    Braces inside JMESPath literals ('raw', "quoted", `json`) do not count."""
    depth = 1
    quote = ""
    i, n = start, len(s)
    while i < n:
        ch = s[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def split_template(s: str) -> list[str | ParsedResult]:
    """Split a template string into literal chunks and compiled JMESPath expressions.

    `${EXPR}` is an expression; `$${` is a literal `${`. Adjacent literals are merged and
    empty ones dropped ("" gives []). A result that is exactly one expression means the
    string takes the expression's typed value; otherwise join the parts, expressions by
    their text. Raises TemplateError (a ValueError) for an unclosed `${`, an empty one, or
    an expression that does not compile.
    """
    parts: list[str | ParsedResult] = []
    buf: list[str] = []
    i, n = 0, len(s)
    while i < n:
        j = s.find("$", i)
        if j < 0:
            buf.append(s[i:])
            break
        buf.append(s[i:j])
        if s.startswith("$${", j):
            buf.append("${")
            i = j + 3
        elif s.startswith("${", j):
            end = _closing_brace(s, j + 2)
            if end < 0:
                raise TemplateError(f"`{_clip(s[j:])}` has no closing }} for its ${{")
            expr = s[j + 2 : end]
            if not expr.strip():
                raise TemplateError("`${}` is empty; write a JMESPath expression inside, e.g. ${params.vmid}")
            try:
                compiled = compile_expression(expr)
            except JMESPathError as exc:
                raise TemplateError(
                    f"`${{{_clip(expr)}}}` is not a valid JMESPath expression: {_jmespath_problem(exc)}"
                ) from None
            literal = "".join(buf)
            if literal:
                parts.append(literal)
            buf = []
            parts.append(compiled)
            i = end + 1
        else:
            buf.append("$")
            i = j + 1
    literal = "".join(buf)
    if literal:
        parts.append(literal)
    return parts


# --- the schema -------------------------------------------------------------------------------

_schema_lock = threading.Lock()
_schema: dict | None = None
_validator: Any = None
_def_names: dict[int, str] = {}


def load_schema() -> dict:
    """The scenario JSON Schema (parsed once per process; do not modify it)."""
    global _schema
    if _schema is None:
        with _schema_lock:
            if _schema is None:
                _schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return _schema


_ANNOTATIONS = frozenset({"title", "description", "examples", "default", "$comment", "deprecated"})
_ROOT_KEYWORDS = _ANNOTATIONS | {
    "$schema",
    "$id",
    "$defs",
    "type",
    "required",
    "properties",
    "patternProperties",
    "additionalProperties",
}


def _only_a_mapping(sub: Any, schema: dict) -> bool:
    """True when `sub` asks no more of a value than to be a mapping (its items are free-form)."""
    if sub is True:
        return True
    if not isinstance(sub, dict) or not set(sub) <= _ANNOTATIONS | {"$ref", "type", "additionalProperties"}:
        return False
    if sub.get("type", "object") != "object":
        return False
    extra = sub.get("additionalProperties", True)
    if extra is not True and not (isinstance(extra, dict) and set(extra) <= _ANNOTATIONS):
        return False
    ref = sub.get("$ref")
    if ref is None:
        return True
    if not ref.startswith("#/$defs/") or ref[8:] not in schema["$defs"]:
        return False
    return _only_a_mapping(schema["$defs"][ref[8:]], schema)


@functools.cache
def _state_is_free_form() -> bool:
    """Whether the schema asks nothing of `state` but to be a mapping.

    Then validating the file with an empty mapping as its `state` finds the very same
    problems, and a state of 100,000 guests costs nothing to validate. A constraint added
    to the schema for `state` turns this off by itself.
    """
    schema = load_schema()
    if not set(schema) <= _ROOT_KEYWORDS:
        return False
    applying = [schema.get("properties", {}).get("state", True)]
    applying += [sub for pattern, sub in schema.get("patternProperties", {}).items() if re.search(pattern, "state")]
    return all(_only_a_mapping(sub, schema) for sub in applying)


def _get_validator() -> Any:
    global _validator
    if _validator is None:
        from jsonschema import Draft202012Validator

        schema = load_schema()
        with _schema_lock:
            if _validator is None:
                _def_names.update({id(v): k for k, v in schema["$defs"].items()})
                _validator = Draft202012Validator(schema)
    return _validator


# --- YAML loading -----------------------------------------------------------------------------


def _yaml_loader() -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import RoundTripConstructor

    class _Constructor(RoundTripConstructor):
        """Round-trip constructor that records duplicate keys instead of stopping at the first."""

        def check_mapping_key(self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any) -> bool:
            if key in mapping:
                first = None
                try:
                    first = mapping.lc.key(key)[0] + 1
                except Exception:  # noqa: BLE001 - merged keys have no position
                    pass
                dups = self.__dict__.setdefault("scenariod_duplicates", [])
                dups.append((key, key_node.start_mark, first))
                return False
            return True

    y = YAML(typ="rt")
    y.Constructor = _Constructor
    return y


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return str(key)
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, (int, float)):
        return str(key)
    return str(key)


def _plain(x: Any) -> Any:
    """Round-trip nodes -> plain dict/list/str/int/float/bool/None (dates -> ISO text)."""
    if isinstance(x, dict):
        return {_key_text(k): _plain(v) for k, v in x.items()}
    if isinstance(x, str):
        return str(x)
    if isinstance(x, bool):
        return bool(x)
    if isinstance(x, int):
        if type(x).__name__ == "ScalarBoolean":
            return bool(x)
        return int(x)
    if isinstance(x, float):
        return float(x)
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (datetime.datetime, datetime.date)):
        return x.isoformat()
    if isinstance(x, (set, frozenset)):
        return [_plain(v) for v in x]
    value = getattr(x, "value", MISSING)  # TaggedScalar and friends
    if value is not MISSING:
        return _plain(value)
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    return str(x)


# --- author-friendly rendering ----------------------------------------------------------------

_LOOKS_TYPED = re.compile(r"^(?:[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|true|false|null|~)$", re.I)
_PLAIN_SCALAR = re.compile(r"^[^\s'\"{}\[\],&*#?|<>=!%@`-][^\n]*$")


def _clip(s: str, limit: int = 60) -> str:
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _flow(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        if (
            v
            and v == v.strip()
            and _PLAIN_SCALAR.match(v)
            and ": " not in v
            and not v.endswith(":")
            and not _LOOKS_TYPED.match(v)
        ):
            return v
        return "'" + v.replace("'", "''").replace("\n", "\\n") + "'"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_flow(x) for x in v) + "]"
    return str(v)


def _fmt(v: Any, limit: int = 48) -> str:
    text = _flow(v)
    if len(text) > limit:
        if isinstance(v, dict):
            return "{…}"
        if isinstance(v, (list, tuple)):
            return "[…]"
        return text[: limit - 1] + "…"
    return text


_TYPE_NOUNS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}

_NOUNS: dict[tuple, str] = {
    (): "a scenario",
    ("listen",): "`listen`",
    ("listen", "tls"): "`listen.tls`",
    ("auth",): "`auth`",
    ("auth", "users", "#"): "a user",
    ("auth", "tokens", "#"): "a token",
    ("routes", "#"): "a route",
    ("routes", "#", "respond"): "a route's `respond`",
    ("faults", "#"): "a fault",
    ("faults", "#", "error"): "a fault's `error`",
    ("tasks", "#"): "a task",
    ("tasks", "#", "log", "#"): "a log line",
    ("expect", "#"): "an expectation",
    ("limits",): "`limits`",
}


def _shape(path: Sequence) -> tuple:
    return tuple("#" if isinstance(p, int) else p for p in path)


def _noun(path: Sequence) -> str:
    shape = _shape(path)
    if shape in _NOUNS:
        return _NOUNS[shape]
    if shape and shape[-1] == "when":
        return "a `when` mapping"
    if shape and shape[-1] == "delay":
        return "a delay mapping"
    if shape and isinstance(path[-1], str):
        return f"`{path[-1]}`"
    if len(shape) >= 2 and isinstance(path[-2], str):
        return f"an item of `{path[-2]}`"
    return "this mapping"


def _in_noun(path: Sequence) -> str:
    return "at the top level" if not path else f"in {_noun(path)}"


def _label(path: Sequence, value: Any) -> str:
    """`key: value` for a mapping entry, `value` in `list` for a list item."""
    if not path:
        return "the file"
    last = path[-1]
    if isinstance(last, str):
        return f"`{last}: {_fmt(value)}`"
    if len(path) >= 2 and isinstance(path[-2], str):
        return f"`{_fmt(value)}` in `{path[-2]}`"
    return f"`{_fmt(value)}`"


def _did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


# --- translating jsonschema errors ------------------------------------------------------------

Problem = tuple[tuple, str, str]  # (instance path, "value" | "key", message)


def _branches(err: Any) -> list[list[Any]]:
    groups: list[list[Any]] = [[] for _ in err.validator_value]
    for c in err.context or ():
        groups[c.relative_schema_path[0]].append(c)
    return groups


def _fits(errors: list[Any]) -> bool:
    """False when the branch fails on the instance's own type (the author meant another)."""
    for e in errors:
        if len(e.relative_path) == 0:
            if e.validator == "type":
                return False
            if e.validator in ("anyOf", "oneOf") and e.context:
                if not any(_fits(b) for b in _branches(e) if b):
                    return False
    return True


def _branch_title(branch: dict) -> str:
    if "$ref" in branch:
        branch = load_schema()["$defs"][branch["$ref"].rsplit("/", 1)[-1]]
    if "title" in branch:
        return branch["title"]
    if "const" in branch:
        return _fmt(branch["const"])
    t = branch.get("type")
    if isinstance(t, list):
        return " or ".join(_TYPE_NOUNS.get(x, x) for x in t)
    if t:
        return _TYPE_NOUNS.get(t, t)
    return "something else"


def _one_of(choices: list[str]) -> str:
    """'a, b or c'; "true or false" counts as two choices."""
    items: list[str] = []
    for c in choices:
        items.extend(["true", "false"] if c == _TYPE_NOUNS["boolean"] else [c])
    if len(items) == 1:
        return items[0]
    if items[-2:] == ["true", "false"] and len(items) > 2:
        return ", ".join(items[:-2]) + ", true or false"
    return ", ".join(items[:-1]) + " or " + items[-1]


def _present(instance: Any, keys: Iterable[str]) -> list[str]:
    if not isinstance(instance, dict):
        return []
    keyset = set(keys)
    return [k for k in instance if k in keyset]


_COUNT_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


def _h_duration(e: Any) -> list[Problem]:
    path = tuple(e.absolute_path)
    return [(path, "value", f"{_label(path, e.instance)} is not a duration; write 250ms, 2s or 1m")]


def _h_delay_range(e: Any) -> list[Problem]:
    if not isinstance(e.instance, dict):  # the type error says it all
        return []
    path = tuple(e.absolute_path)
    inst = e.instance if isinstance(e.instance, dict) else {}
    uniform = [k for k in ("min",) if k in inst]
    lognormal = [k for k in ("median", "sigma") if k in inst]
    if uniform and lognormal:
        msg = "a delay mapping is either {min, max} (uniform) or {median, sigma, max} (log-normal), not both"
    elif uniform or ("max" in inst and not lognormal):
        msg = "a uniform delay needs both 'min' and 'max'"
    elif lognormal:
        msg = "a log-normal delay needs both 'median' and 'sigma'"
    else:
        msg = "a delay mapping needs {min, max} (uniform) or {median, sigma} (log-normal)"
    return [(path, "value", msg)]


def _h_fault_effects(e: Any) -> list[Problem]:
    if not isinstance(e.instance, dict):  # the type error says it all
        return []
    path = tuple(e.absolute_path)
    effects = _present(e.instance, EFFECTS)
    if not effects:
        return [(path, "value", "a fault needs an effect: one of " + ", ".join(EFFECTS))]
    n = len(effects)
    return [
        (
            path + (effects[1],),
            "key",
            f"a fault has {_COUNT_WORDS.get(n, str(n))} effects ({', '.join(effects)}); give each fault exactly one",
        )
    ]


def _h_respond_not(e: Any) -> list[Problem]:
    if not isinstance(e.instance, dict):  # the type error says it all
        return []
    path = tuple(e.absolute_path)
    return [(path + ("body",), "key", f"{_noun(path)} has both 'data' and 'body'; give one of them")]


def _h_expect_not(e: Any) -> list[Problem]:
    if not isinstance(e.instance, dict):  # the type error says it all
        return []
    path = tuple(e.absolute_path)
    keys = _present(e.instance, ("count", "min", "max", "never"))
    at = keys[1] if len(keys) > 1 else None
    return [
        (
            path + ((at,) if at else ()),
            "key" if at else "value",
            f"an expectation takes `count`, `min`/`max` or `never`, not {' and '.join(keys)} together",
        )
    ]


def _h_method(e: Any) -> list[Problem]:
    path = tuple(e.absolute_path)
    return [
        (
            path,
            "value",
            f"{_label(path, e.instance)} is not a method of the Proxmox API; use GET, POST, PUT, DELETE or ANY",
        )
    ]


def _h_when_string(e: Any) -> list[Problem]:
    path = tuple(e.absolute_path)
    return [(path, "value", f'{_label(path, e.instance)} must be "METHOD PATH" or "PATH", e.g. "GET /version"')]


def _h_userid(e: Any) -> list[Problem]:
    path = tuple(e.absolute_path)
    return [(path, "value", f"{_label(path, e.instance)} must look like user@realm, e.g. root@pam")]


_HANDLERS: dict[tuple[str, str], Any] = {
    ("duration", "anyOf"): _h_duration,
    ("delayRange", "anyOf"): _h_delay_range,
    ("delayRange", "not"): _h_delay_range,
    ("fault", "oneOf"): _h_fault_effects,
    ("respond", "not"): _h_respond_not,
    ("expect", "not"): _h_expect_not,
    ("method", "pattern"): _h_method,
    ("whenString", "pattern"): _h_when_string,
    ("userid", "pattern"): _h_userid,
}

_PATTERN_HINTS = {
    "tokenid": "must look like user@realm!name, e.g. root@pam!ci",
    "type": "must be one word without ':' (a UPID type such as qmstart)",
    "path": "must be a path without spaces, e.g. /nodes/{node}/qemu",
}


def _translate(e: Any) -> list[Problem]:
    name = _def_names.get(id(e.schema))
    handler = _HANDLERS.get((name, e.validator)) if name else None
    if handler is not None:
        return handler(e)
    path = tuple(e.absolute_path)
    v = e.validator
    inst = e.instance
    if v in ("anyOf", "oneOf"):
        groups = _branches(e)
        fitting = [g for g in groups if g and _fits(g)]
        if len(fitting) == 1:
            return [p for sub in fitting[0] for p in _translate(sub)]
        if len(fitting) > 1:
            from jsonschema.exceptions import best_match

            return _translate(best_match([x for g in fitting for x in g]))
        return [
            (path, "value", f"{_label(path, inst)} must be {_one_of([_branch_title(b) for b in e.validator_value])}")
        ]
    if v == "additionalProperties":
        props = e.schema.get("properties", {})
        patterns = list(e.schema.get("patternProperties", {}))
        out = []
        for key in inst:
            if key in props or any(re.search(p, key) for p in patterns):
                continue
            guess = _did_you_mean(key, props)
            if guess:
                msg = f"unknown key '{key}' {_in_noun(path)}; did you mean '{guess}'?"
            else:
                msg = f"unknown key '{key}' {_in_noun(path)} (it takes {', '.join(props)})"
            out.append((path + (key,), "key", msg))
        return out
    if v == "required":
        return [
            (path, "value", f"{_noun(path)} needs '{k}'")
            for k in e.validator_value
            if isinstance(inst, dict) and k not in inst
        ]
    if v == "type":
        types = e.validator_value if isinstance(e.validator_value, list) else [e.validator_value]
        msg = f"{_label(path, inst)} must be {_one_of([_TYPE_NOUNS.get(t, t) for t in types])}"
        if "string" in types and isinstance(inst, (int, float, bool)):
            msg += "; put it in quotes"
        return [(path, "value", msg)]
    if v == "enum":
        return [
            (path, "value", f"{_label(path, inst)} must be one of {', '.join(_flow(x) for x in e.validator_value)}")
        ]
    if v == "const":
        if path == ("scenariod",):
            return [
                (path, "value", f"{_label(path, inst)}: this scenariod reads format version 1; write `scenariod: 1`")
            ]
        if e.validator_value is True and path and isinstance(path[-1], str):
            return [(path, "value", f"{_label(path, inst)} must be true (or leave `{path[-1]}` out)")]
        return [(path, "value", f"{_label(path, inst)} must be {_fmt(e.validator_value)}")]
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        lo, hi = e.schema.get("minimum"), e.schema.get("maximum")
        if lo is not None and hi is not None:
            msg = f"must be between {_fmt(lo)} and {_fmt(hi)}"
        elif v == "minimum":
            msg = f"must be at least {_fmt(lo)}"
        elif v == "maximum":
            msg = f"must be at most {_fmt(hi)}"
        elif v == "exclusiveMinimum":
            msg = f"must be more than {_fmt(e.validator_value)}"
        else:
            msg = f"must be less than {_fmt(e.validator_value)}"
        return [(path, "value", f"{_label(path, inst)} {msg}")]
    if v in ("minLength", "minItems", "minProperties"):
        return [(path, "value", f"{_label(path, inst)} must not be empty")]
    if v == "pattern":
        key = path[-1] if path and isinstance(path[-1], str) else ""
        hint = _PATTERN_HINTS.get(key, "does not have the expected form")
        return [(path, "value", f"{_label(path, inst)} {hint}")]
    if v == "not":
        return [(path, "value", f"{_label(path, inst)} is not allowed here")]
    return [(path, "value", f"{_label(path, inst)}: {e.message}")]


# --- the compiler -----------------------------------------------------------------------------

# The sections whose positions a valid scenario keeps: rule sources (`FILE:LINE`).
_POSITIONED = ("routes", "faults", "tasks", "expect")


class _Retry(Exception):
    """The fast reading needs a position it does not have (a diagnostic): read exactly."""


_API_PREFIX = "/api2/json"
_PARAM_SEGMENT = re.compile(r"^\{[A-Za-z0-9_.-]+\}$")
_EXAMPLE_VALUES = {"node": "pve1", "vmid": "100", "storage": "local", "userid": "root@pam", "remote": "remote1"}


def _strip_prefix(path: str) -> str:
    p = path.strip()
    for prefix in (_API_PREFIX, _API_PREFIX[1:]):
        if p == prefix or p.startswith(prefix + "/"):
            return p[len(prefix) :]
    return p


def _normalize_path(path: str) -> str:
    if path.startswith("/") and not path.startswith(_API_PREFIX) and _NORMAL_PATH.fullmatch(path):
        return path  # already normal: the common case, 100,000 times in a large state
    segments = [s for s in _strip_prefix(path).split("/") if s]
    return "/" + "/".join(segments)


_NORMAL_PATH = re.compile(r"(?:/[^/\s]+)+")


def _method_order(m: str) -> tuple:
    return (METHODS.index(m) if m in METHODS else len(METHODS), m)


def _position_in(root: Any, path: Sequence, at: str) -> tuple[int, int]:
    """0-based line and column of the node at `path` in a ruamel tree (its key: at="key")."""
    node = root
    lc = getattr(node, "lc", None)
    line, col = (lc.line, lc.col) if lc is not None and lc.line is not None else (0, 0)
    last = len(path) - 1
    for step, k in enumerate(path):
        key_pos = value_pos = None
        child: Any = MISSING
        if isinstance(node, dict):
            orig = k
            if k not in node:
                orig = next((ok for ok in node if _key_text(ok) == k), MISSING)
            if orig is not MISSING:
                child = node[orig]
                try:
                    key_pos = tuple(node.lc.key(orig))
                    value_pos = tuple(node.lc.value(orig))
                except Exception:  # noqa: BLE001 - merged keys carry no position
                    pass
        elif isinstance(node, list) and isinstance(k, int) and 0 <= k < len(node):
            child = node[k]
            try:
                key_pos = value_pos = tuple(node.lc.item(k))
            except Exception:  # noqa: BLE001
                pass
        if child is MISSING:
            break
        clc = getattr(child, "lc", None)
        if value_pos is None and clc is not None and clc.line is not None:
            value_pos = (clc.line, clc.col)
        if value_pos is not None:
            line, col = value_pos
        if at == "key" and step == last and key_pos is not None:
            line, col = key_pos
        node = child
    return line, col


class _Compiler:
    """One file: diagnostics, positions, and the Scenario built from it.

    It reads the file one of two ways. The exact way (`parse`) keeps ruamel.yaml's whole
    tree, so every diagnostic has its position. The fast way (`read_fast`) keeps only plain
    values and the extent of each top-level section; the positions a valid scenario keeps
    (rule sources) come from reading those small sections alone with ruamel.yaml. Any
    diagnostic raises `_Retry` there, and the file is read again the exact way.
    """

    def __init__(self, file: str, text: str, base_dir: Path, api_pin: str | None = None) -> None:
        self.file = file
        self.text = text
        self.base_dir = base_dir
        self.api_pin = api_pin  # `--api RELEASE`: overrides the file's `api`
        self.diags: list[Diagnostic] = []
        self.root: Any = None
        self.doc: Any = None
        self.bad: list[tuple] = []
        self.service_label = "PVE"
        self.sections: dict[str, fastload.Section] | None = None  # set by the fast reading
        self.section_roots: dict[str, tuple[Any, int, int]] = {}
        self.known: cache.Positions | None = None  # remembered from a clean load of this text
        self.found: cache.Positions = {}  # positions looked up, for the memo

    # diagnostics and positions

    def add_at(self, line: int, column: int, message: str) -> None:
        if self.sections is not None:
            raise _Retry
        self.diags.append(Diagnostic(self.file, line, column, message))

    def add(self, path: Sequence, message: str, at: str = "value") -> None:
        if self.sections is not None:
            raise _Retry
        line, col = self.position(path, at)
        self.add_at(line, col, message)

    def position(self, path: Sequence, at: str = "value") -> tuple[int, int]:
        """1-based line and column of the node at `path` (of its key with at="key")."""
        key = (tuple(path), at)
        if self.known is not None and key in self.known:
            return self.known[key]
        root, first_line, first_col = self.tree_for(path)
        line, col = _position_in(root, path, at)
        found = self.found[key] = (first_line + line + 1, (first_col if line == 0 else 0) + col + 1)
        return found

    def tree_for(self, path: Sequence) -> tuple[Any, int, int]:
        """The ruamel tree that holds `path`, and the 0-based line and column where its text
        starts in the file (the whole file's tree, or after a fast reading its section's)."""
        if self.sections is None:
            return self.root, 0, 0
        if not path or path[0] not in _POSITIONED:
            raise _Retry
        name = path[0]
        if name not in self.section_roots:
            self.section_roots[name] = self.read_section(name)
        return self.section_roots[name]

    def read_section(self, name: str) -> tuple[Any, int, int]:
        """One top-level section read alone the exact way; `_Retry` unless it reads the same."""
        section = self.sections.get(name)  # type: ignore[union-attr]
        if section is None:  # a memo's document has no sections: read the file exactly
            raise _Retry
        piece = self.text[section.start : section.end]
        try:
            tree = _yaml_loader().load("{" + piece + "}" if section.flow else piece)
        except Exception:  # noqa: BLE001 - any doubt: read the whole file exactly
            raise _Retry from None
        if not isinstance(tree, dict) or _plain(tree) != {name: self.doc[name]}:
            raise _Retry
        line, col = fastload.line_col(self.text, section.start)
        return tree, line, col - 1 if section.flow else col  # "{" came before the section

    def line_of(self, path: Sequence) -> int:
        return self.position(path)[0]

    def clean(self, path: tuple) -> bool:
        """No schema problem at or below `path`."""
        n = len(path)
        return not any(b[:n] == path for b in self.bad)

    def get(self, path: Sequence, default: Any = None) -> Any:
        node = self.doc
        for k in path:
            if isinstance(node, dict) and k in node:
                node = node[k]
            elif isinstance(node, list) and isinstance(k, int) and 0 <= k < len(node):
                node = node[k]
            else:
                return default
        return node

    # stage 1: YAML

    def compile_fast(self) -> Scenario | None:
        """The fast reading of a valid file, remembered for its next load (cache.py); None
        when only the exact reading may read it or it has problems (`_Retry`)."""
        if not self.read_fast():
            return None
        doc = cache.encode_doc(self.text, self.doc)  # before build(), which may normalize in place
        try:
            self.validate()
            result = self.build()
        except _Retry:
            return None
        if result is not None:
            cache.remember(self.text, doc, self.found, self.api_pin)
        return result

    def compile_remembered(self, memo: cache.Memo) -> Scenario | None:
        """A text that loaded clean before: its remembered document (a JSON text is read
        again with orjson) and positions, and no schema check; None as `compile_fast`."""
        doc = memo.doc if memo.doc is not None else fastload.load_known(self.text)
        if doc is not None:
            self.doc, self.sections = doc, {}
        elif not self.read_fast():
            return None
        self.known = memo.positions
        try:
            return self.build()
        except _Retry:
            return None

    def read_fast(self) -> bool:
        """Plain values without positions (see fastload); False when only `parse` may read it."""
        loaded = fastload.load(self.text)
        if loaded is None:
            return False
        self.doc, self.sections = loaded.doc, loaded.sections
        return True

    def parse(self) -> bool:
        from ruamel.yaml.error import MarkedYAMLError, YAMLError

        if not self.text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in self.text.splitlines()):
            self.add_at(1, 1, "the file is empty; a scenario needs at least `scenariod: 1` and `name`")
            return False
        loader = _yaml_loader()
        try:
            root = loader.load(self.text)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "cannot parse"
            line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            if problem == "but found another document":
                problem = "a scenario file holds one YAML document, and a second one starts here"
            self.add_at(line, col, f"YAML syntax error: {problem}")
            return False
        except YAMLError as exc:
            self.add_at(1, 1, f"YAML syntax error: {exc}")
            return False
        for key, mark, first in getattr(loader.constructor, "scenariod_duplicates", ()):
            where = f" (first at line {first})" if first else ""
            self.add_at(mark.line + 1, mark.column + 1, f"duplicate key '{_key_text(key)}'{where}")
        if root is None:
            self.add_at(1, 1, "the file is empty; a scenario needs at least `scenariod: 1` and `name`")
            return False
        self.root = root
        if not isinstance(root, dict):
            what = "a list" if isinstance(root, list) else f"`{_fmt(_plain(root))}`"
            self.add(
                (),
                f"a scenario file must be a mapping of keys (scenariod, name, state, routes, ...), not {what}",
            )
            return False
        self.doc = _plain(root)
        return True

    # stage 2: schema

    def validate(self) -> None:
        validator = _get_validator()
        seen: set[tuple] = set()
        doc = self.doc
        if isinstance(doc.get("state"), dict) and _state_is_free_form():
            doc = {**doc, "state": {}}
        for err in validator.iter_errors(doc):
            self.bad.append(tuple(err.absolute_path))
            for path, at, msg in _translate(err):
                self.bad.append(tuple(path))
                line, col = self.position(path, at)
                if (line, col, msg) in seen:
                    continue
                seen.add((line, col, msg))
                self.add_at(line, col, msg)

    # stage 3: checks beyond the schema, and normalization

    def build(self) -> Scenario | None:
        doc = self.doc
        service = doc.get("service", "pve") if self.clean(("service",)) else None
        if service is not None:
            self.service_label = str(service).upper()
        api = self.load_api(service)
        listen = self.listen()
        auth = self.auth()
        state = self.state(api)
        routes = tuple(self.route(i, api) for i in range(len(self.items("routes"))))
        faults = tuple(self.fault(i, api) for i in range(len(self.items("faults"))))
        tasks = tuple(self.task(i, api) for i in range(len(self.items("tasks"))))
        expect = tuple(self.expect(i, api) for i in range(len(self.items("expect"))))
        limits = self.limits()
        if self.diags:
            return None
        return Scenario(
            file=Path(self.file),
            name=doc["name"],
            description=doc.get("description"),
            service=service,
            api=api,
            listen=listen,
            seed=int(doc.get("seed", 0)),
            time_scale=float(doc.get("time_scale", 1)),
            auth=auth,
            state=state,
            routes=routes,
            faults=faults,
            tasks=tasks,
            expect=expect,
            limits=limits,
            text=self.text,
            api_override=self.api_pin,
        )

    def items(self, section: str) -> list:
        value = self.doc.get(section)
        return value if isinstance(value, list) else []

    def load_api(self, service: str | None) -> Any:
        if service is None or not self.clean(("api",)):
            return None
        pin = self.doc.get("api") if self.api_pin is None else self.api_pin
        pin_text = None
        if pin is not None:
            pin_text = str(int(pin)) if isinstance(pin, float) and pin.is_integer() else str(pin)
        from .apidesc import ApiDescription, UnknownApi

        try:
            return ApiDescription.load(service, pin_text)
        except UnknownApi as exc:
            detail = getattr(exc, "message", None) or str(exc)
            if self.api_pin is None:
                self.add(("api",), f'`api: "{pin_text}"`: {detail}')
            else:  # the command line's, not the file's
                self.add_at(1, 1, f"`--api {pin_text}`: {detail}")
        if pin_text is None:
            return None
        try:  # check the rest of the file against the bundled description all the same
            return ApiDescription.load(service)
        except UnknownApi:
            return None

    def duration(self, path: tuple, default: float | None = None) -> float | None:
        value = self.get(path, MISSING)
        if value is MISSING:
            return default
        try:
            return parse_duration(value)
        except ValueError:
            if self.clean(path):  # the schema has not already said so
                self.add(path, f"{_label(path, value)} is not a duration; write 250ms, 2s or 1m")
            return default

    def delay(self, path: tuple) -> Delay | None:
        value = self.get(path, MISSING)
        if value is MISSING or not self.clean(path):
            return None
        if isinstance(value, dict):
            if "min" in value:
                lo = self.duration(path + ("min",), 0.0) or 0.0
                hi = self.duration(path + ("max",), 0.0) or 0.0
                if hi < lo:
                    self.add(
                        path + ("max",), f"`max: {_fmt(value['max'])}` is shorter than `min: {_fmt(value['min'])}`"
                    )
                return Delay("uniform", min=lo, max=hi)
            median = self.duration(path + ("median",), 0.0) or 0.0
            cap = self.duration(path + ("max",), math.inf)
            return Delay("lognormal", median=median, sigma=float(value.get("sigma", 0)), max=cap)
        return Delay("fixed", seconds=self.duration(path, 0.0) or 0.0)

    def listen(self) -> Listen:
        spec = self.doc.get("listen")
        if not isinstance(spec, dict):
            return Listen()
        tls = spec.get("tls", True)
        cert = key = None
        if isinstance(tls, dict):
            if self.clean(("listen", "tls")):
                cert = self.tls_file(("listen", "tls", "cert"))
                key = self.tls_file(("listen", "tls", "key"))
            tls = True
        return Listen(host=spec.get("host"), port=spec.get("port"), tls=bool(tls), cert=cert, key=key)

    def tls_file(self, path: tuple) -> str:
        value = self.get(path)
        resolved = (self.base_dir / Path(value).expanduser()).resolve()
        if not resolved.is_file():
            self.add(path, f"`{path[-1]}: {_fmt(value)}`: no such file ({resolved})")
        return str(resolved)

    def auth(self) -> AuthSpec:
        spec = self.doc.get("auth")
        if not isinstance(spec, dict):
            return AuthSpec()
        users: list[dict] = []
        tokens: list[dict] = []
        seen: dict[str, tuple] = {}  # id -> where it is first declared
        for i, u in enumerate(spec.get("users") if isinstance(spec.get("users"), list) else []):
            path = ("auth", "users", i)
            if not isinstance(u, dict) or not self.clean(path):
                continue
            uid = u["userid"]
            if uid in seen:
                self.add(path + ("userid",), f"user {uid} is declared twice (first at line {self.line_of(seen[uid])})")
            seen.setdefault(uid, path + ("userid",))
            user = {"userid": uid, "enable": u.get("enable", True), "expire": u.get("expire", 0)}
            for k in ("password", "groups", "comment", "email", "firstname", "lastname"):
                if k in u:
                    user[k] = u[k]
            if isinstance(user.get("groups"), str):
                user["groups"] = [g.strip() for g in user["groups"].split(",") if g.strip()]
            users.append(user)
        seen = {}
        for i, t in enumerate(spec.get("tokens") if isinstance(spec.get("tokens"), list) else []):
            path = ("auth", "tokens", i)
            if not isinstance(t, dict) or not self.clean(path):
                continue
            tid = t["tokenid"]
            if tid in seen:
                self.add(
                    path + ("tokenid",), f"token {tid} is declared twice (first at line {self.line_of(seen[tid])})"
                )
            seen.setdefault(tid, path + ("tokenid",))
            userid, _, name = tid.rpartition("!")
            token = {
                "tokenid": tid,
                "userid": userid,
                "name": name,
                "secret": t["secret"],
                "privsep": t.get("privsep", False),
                "expire": t.get("expire", 0),
            }
            if "comment" in t:
                token["comment"] = t["comment"]
            tokens.append(token)
        mode = spec.get("mode") or ("enforce" if users or tokens else "any")
        lifetime = self.duration(("auth", "ticket_lifetime"), DEFAULT_TICKET_LIFETIME)
        return AuthSpec(
            mode=mode,
            users=tuple(users),
            tokens=tuple(tokens),
            ticket_lifetime=DEFAULT_TICKET_LIFETIME if lifetime is None else lifetime,
            control_token=spec.get("control_token"),
        )

    def did_you_mean(self, api: Any, path: str) -> str:
        try:
            guess = api.nearest(path)
        except Exception:  # noqa: BLE001 - a suggestion is a nicety
            guess = None
        return f"; did you mean {guess}?" if guess else ""

    def state(self, api: Any) -> dict[str, Any]:
        spec = self.doc.get("state")
        out: dict[str, Any] = {}
        if not isinstance(spec, dict):
            return out
        if self.known is not None:  # a memo: these exact paths passed the checks below before
            return {_normalize_path(key): value for key, value in spec.items()}
        seen: dict[str, str] = {}  # normalized path -> the key that first gave it
        for key, value in spec.items():
            kpath = ("state", key)
            norm = _normalize_path(key)
            segments = norm.split("/")[1:] if norm != "/" else []
            if "{" in norm or "}" in norm:
                concrete = "/" + "/".join(
                    _EXAMPLE_VALUES.get(s[1:-1], s[1:-1] + "1") if _PARAM_SEGMENT.match(s) else s for s in segments
                )
                self.add(kpath, f"state keys are concrete paths; write {concrete}, not {norm}", "key")
                continue
            if "*" in norm and any(s in ("*", "**") for s in segments):
                self.add(
                    kpath, f"state keys are concrete paths; `{key}` is a pattern (patterns belong in `when`)", "key"
                )
                continue
            if norm in seen:
                first = seen[norm]
                line = self.position(("state", first), "key")[0]
                self.add(kpath, f"`{key}` is the same path as `{first}` (line {line})", "key")
                continue
            seen[norm] = key
            if api is not None:
                node = api.path_nodes(segments)[-1]
                if node is None:
                    self.add(
                        kpath,
                        missing_from(api, norm)
                        or f"`{key}` is not a path of the {self.service_label} API{self.did_you_mean(api, norm)}",
                        "key",
                    )
                    continue
                if "GET" not in node.ops:
                    have = ", ".join(sorted(node.ops, key=_method_order)) or "no operations"
                    self.add(
                        kpath,
                        f"`{key}` cannot hold state: {node.path} has no GET in the {self.service_label} API (it has {have})",
                        "key",
                    )
                    continue
                if node.kind == "collection":
                    self.collection_items(kpath, norm, value, node)
            out[norm] = value
        return out

    def collection_items(self, kpath: tuple, norm: str, value: Any, node: Any) -> None:
        # Items carry the child's {param} name (vmid) or, where the listing names it
        # differently, the listing's field (snapshots: name for {snapname}).
        names = [node.key]
        field_name = getattr(node, "key_field", None)
        if field_name and field_name != node.key:
            names.insert(0, field_name)
        wanted = " or ".join(f"'{n}'" for n in names)
        item_template = f"{node.path.rstrip('/')}/{{{node.key}}}"
        if not isinstance(value, list):
            self.add(kpath, f"{norm} is a collection; give a list of items, each with {wanted}")
            return
        seen: dict[str, tuple] = {}  # key -> where it first appears
        for i, item in enumerate(value):  # kept lean: it runs for every seeded guest
            if not isinstance(item, dict):
                self.add(kpath + (i,), f"an item under {norm} must be a mapping with {wanted}")
                continue
            keyname = next((n for n in names if n in item), None)
            if keyname is None:
                self.add(kpath + (i,), f"an item under {norm} needs {wanted} (the key of {item_template})")
                continue
            kv = item[keyname]
            text = kv if type(kv) is str else str(kv)
            if (type(kv) is not int and type(kv) is not str) or not text or "/" in text:
                self.add(kpath + (i, keyname), f"`{keyname}: {_fmt(kv)}` must be a name or a number without '/'")
                continue
            if text in seen:
                first = kpath + seen[text]
                self.add(
                    kpath + (i, keyname),
                    f"{keyname} {text} appears twice under {norm} (first at line {self.line_of(first)})",
                )
                continue
            seen[text] = (i, keyname)

    def pattern(self, path: tuple, raw: str) -> str | None:
        """Normalize a `when` path pattern; report what is wrong with it at `path`."""
        if "?" in raw:
            self.add(path, f"`{raw}`: a `when` path has no query string; use the mapping form with `query:`")
            return None
        norm = _strip_prefix(raw)
        segments = [s for s in norm.split("/") if s]
        names: set[str] = set()
        ok = True
        for i, seg in enumerate(segments):
            if seg == "**":
                if i != len(segments) - 1:
                    self.add(path, f"`**` must be the last segment of a path pattern (`{raw}`)")
                    ok = False
            elif seg == "*":
                continue
            elif "{" in seg or "}" in seg:
                if not _PARAM_SEGMENT.match(seg):
                    self.add(
                        path, f"`{seg}` in `{raw}`: a {{name}} placeholder must be a whole segment, like /qemu/{{vmid}}"
                    )
                    ok = False
                elif seg[1:-1] in names:
                    self.add(path, f"`{seg}` appears twice in `{raw}`; give each placeholder its own name")
                    ok = False
                else:
                    names.add(seg[1:-1])
            elif "*" in seg:
                self.add(path, f"`{seg}` in `{raw}`: `*` and `**` must be whole segments")
                ok = False
        return ("/" + "/".join(segments)) if ok else None

    def when(self, path: tuple, api: Any) -> When | None:
        value = self.get(path, MISSING)
        if value is MISSING or not self.clean(path):
            return None
        line = self.line_of(path)
        methods: frozenset[str] | None = None
        pattern: str | None = None
        method_path = path_path = path
        query = headers = body = None
        if_expr = None
        ok = True
        if isinstance(value, str):
            source = value.strip()
            words = source.split()
            if len(words) == 1:
                raw = words[0]
                if raw.upper() in (*METHODS, "ANY") and not raw.startswith("/"):
                    self.add(
                        path,
                        f"`when: {source}` needs a path; write `{raw.upper()} /version`, or `{raw.upper()} /**` for every path",
                    )
                    return None
                method_word = None
            else:
                method_word, raw = words[0], words[1]
            if method_word is not None:
                upper = method_word.upper()
                if upper not in (*METHODS, "ANY"):
                    self.add(
                        path, f"`{method_word}` is not a method of the Proxmox API; use GET, POST, PUT, DELETE or ANY"
                    )
                    ok = False
                elif upper != "ANY":
                    methods = frozenset({upper})
            pattern = self.pattern(path, raw)
        else:
            method_path, path_path = path + ("method",), path + ("path",)
            m = value.get("method")
            if m is not None:
                names = [m] if isinstance(m, str) else list(m)
                upper = {n.upper() for n in names}
                methods = None if "ANY" in upper else frozenset(upper)
            if "path" in value:
                raw = value["path"]
                pattern = self.pattern(path_path, raw)
                if pattern is None:
                    ok = False
            query = value.get("query")
            if "headers" in value:
                headers = {k.lower(): _header_text(v) for k, v in value["headers"].items()}
            body = value.get("body")
            if "if" in value:
                if_expr = value["if"]
                try:
                    compile_expression(if_expr)
                except JMESPathError as exc:
                    self.add(
                        path + ("if",),
                        f"`if: {_clip(if_expr)}` is not a valid JMESPath expression: {_jmespath_problem(exc)}",
                    )
                    ok = False
            source = _when_source(methods, pattern, query, headers, body, if_expr)
        if isinstance(value, str) and pattern is None:
            ok = False
        if ok and api is not None and pattern is not None:
            self.check_when_api(api, methods, pattern, path_path, method_path)
            self.check_when_params(api, methods, pattern, path, {"query": query, "body": body})
        return When(
            methods=methods,
            path=pattern,
            query=query,
            headers=headers,
            body=body,
            if_expr=if_expr,
            source=source,
            line=line,
        )

    def check_when_api(
        self, api: Any, methods: frozenset[str] | None, pattern: str, path_path: tuple, method_path: tuple
    ) -> None:
        segments = [s for s in pattern.split("/") if s]
        # Nodes without operations (intermediate paths) answer 501 before any rule runs.
        nodes = [n for n in api.match_template(segments) if n.ops]
        if not nodes:
            self.add(
                path_path,
                missing_from(api, pattern)
                or f"`{pattern}` is not a path of the {self.service_label} API{self.did_you_mean(api, pattern)}",
            )
            return
        if not methods:
            return
        have = sorted({m for n in nodes for m in n.ops}, key=_method_order)
        have_text = ", ".join(have) or "no operations"
        written = self.get(method_path)
        for m in sorted(methods, key=_method_order):
            if m in have:
                continue
            at = method_path
            if isinstance(written, list):  # point at the list item
                at = method_path + (next(i for i, w in enumerate(written) if w.upper() == m),)
            if len(nodes) == 1:
                self.add(
                    at,
                    missing_from(api, pattern, m) or f"{m} is not an operation of {nodes[0].path} (it has {have_text})",
                )
            else:
                self.add(
                    at,
                    f"{m} is not an operation of any of the {len(nodes)} API paths `{pattern}` matches (they have {have_text})",
                )

    def check_when_params(
        self, api: Any, methods: frozenset[str] | None, pattern: str, path: tuple, parts: dict[str, Any]
    ) -> None:
        """A `query`/`body` parameter the API served lacks but another bundled release has
        (matching it could never happen here)."""
        method = next(iter(methods)) if methods and len(methods) == 1 else None
        for part, value in parts.items():
            for name in value if isinstance(value, dict) else ():
                if not api.has(pattern, method, str(name)):
                    note = missing_from(api, pattern, method, str(name))
                    if note:
                        self.add(path + (part, name), note, "key")

    def template(self, path: tuple, value: Any) -> None:
        """Check every `${...}` in the strings of `value` (recursively)."""
        if isinstance(value, str):
            if "${" in value:
                try:
                    split_template(value)
                except TemplateError as exc:
                    self.add(path, str(exc))
        elif isinstance(value, dict):
            for k, v in value.items():
                self.template(path + (k,), v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.template(path + (i,), v)

    def route(self, i: int, api: Any) -> Route | None:
        path = ("routes", i)
        item = self.get(path)
        if not isinstance(item, dict):
            return None
        when = self.when(path + ("when",), api)
        rpath = path + ("respond",)
        spec = self.get(rpath)
        respond = None
        if isinstance(spec, dict):
            if self.clean(rpath + ("data",)):
                self.template(rpath + ("data",), spec.get("data"))
            if isinstance(spec.get("body"), str):
                self.template(rpath + ("body",), spec["body"])
            headers = spec.get("headers") if isinstance(spec.get("headers"), dict) else {}
            headers = {str(k): _header_text(v) for k, v in headers.items()}
            for k in headers:
                self.template(rpath + ("headers", k), headers[k])
            respond = Respond(
                data=spec.get("data", MISSING),
                body=spec.get("body"),
                status=spec.get("status", 200),
                headers=headers,
                delay=self.delay(rpath + ("delay",)),
            )
        return Route(when=when, respond=respond, line=self.line_of(path), index=i)  # type: ignore[arg-type]

    def fault(self, i: int, api: Any) -> Fault | None:
        path = ("faults", i)
        item = self.get(path)
        if not isinstance(item, dict):
            return None
        when = self.when(path + ("when",), api)
        effects = [e for e in EFFECTS if e in item]
        effect = effects[0] if effects else ""
        delay = self.delay(path + ("delay",)) if effect == "delay" else None
        error = None
        if effect == "error" and isinstance(item["error"], dict):
            spec = item["error"]
            error = {"status": spec.get("status", 500), "message": spec.get("message"), "errors": spec.get("errors")}
        garbage_bytes = 0
        if effect == "garbage":
            g = item["garbage"]
            garbage_bytes = g.get("bytes", DEFAULT_GARBAGE_BYTES) if isinstance(g, dict) else DEFAULT_GARBAGE_BYTES
        dribble_seconds, dribble_chunks = 0.0, 0
        if effect == "dribble":
            d = item["dribble"]
            if isinstance(d, dict):
                dribble_seconds = self.duration(path + ("dribble", "duration"), 0.0) or 0.0
                dribble_chunks = d.get("chunks", DEFAULT_DRIBBLE_CHUNKS)
            else:
                dribble_seconds = self.duration(path + ("dribble",), 0.0) or 0.0
                dribble_chunks = DEFAULT_DRIBBLE_CHUNKS
        probability = item.get("probability")
        return Fault(
            when=when,  # type: ignore[arg-type]
            effect=effect,
            delay=delay,
            error=error,
            garbage_bytes=garbage_bytes,
            dribble_seconds=dribble_seconds,
            dribble_chunks=dribble_chunks,
            probability=None if probability is None else float(probability),
            times=item.get("times"),
            after=item.get("after"),
            index=i,
            line=self.line_of(path),
        )

    def task(self, i: int, api: Any) -> TaskRule | None:
        path = ("tasks", i)
        item = self.get(path)
        if not isinstance(item, dict):
            return None
        when = self.when(path + ("when",), api)
        log: list[tuple[float, str]] = []
        at = 0.0
        lines = item.get("log") if isinstance(item.get("log"), list) else []
        for j, entry in enumerate(lines):
            lpath = path + ("log", j)
            if isinstance(entry, str):
                self.template(lpath, entry)
                log.append((at, entry))
            elif isinstance(entry, dict) and isinstance(entry.get("line"), str):
                if "at" in entry:
                    got = self.duration(lpath + ("at",))
                    at = at if got is None else got
                self.template(lpath + ("line",), entry["line"])
                log.append((at, entry["line"]))
        log.sort(key=lambda pair: pair[0])
        return TaskRule(
            when=when,  # type: ignore[arg-type]
            duration=self.duration(path + ("duration",)),
            log=tuple(log),
            exitstatus=item.get("exitstatus", "OK"),
            type=item.get("type"),
            line=self.line_of(path),
            index=i,
        )

    def expect(self, i: int, api: Any) -> Expect | None:
        path = ("expect", i)
        item = self.get(path)
        if not isinstance(item, dict):
            return None
        when = self.when(path + ("when",), api)
        lo: int = 1
        hi: int | None = None
        if "count" in item:
            lo = hi = item["count"]
        elif item.get("never") is True:
            lo, hi = 0, 0
        elif "min" in item or "max" in item:
            lo = item.get("min", 0)
            hi = item.get("max")
            if isinstance(lo, int) and isinstance(hi, int) and hi < lo and self.clean(path):
                self.add(path + ("max",), f"`max: {hi}` is less than `min: {lo}`")
        return Expect(
            when=when,  # type: ignore[arg-type]
            description=item.get("description"),
            min=lo,
            max=hi,
            line=self.line_of(path),
            index=i,
        )

    def limits(self) -> Limits:
        spec = self.doc.get("limits")
        if not isinstance(spec, dict):
            return Limits()
        d = Limits()
        return Limits(
            journal=spec.get("journal", d.journal),
            tasks=spec.get("tasks", d.tasks),
            sessions=spec.get("sessions", d.sessions),
            client_timeout=parse_duration(spec["client_timeout"]) if "client_timeout" in spec else d.client_timeout,
        )


def _header_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _when_source(
    methods: frozenset[str] | None, pattern: str | None, query: Any, headers: Any, body: Any, if_expr: str | None
) -> str:
    words = []
    if methods:
        words.append("|".join(sorted(methods, key=_method_order)))
    words.append(pattern or "/**")
    if query:
        words.append("query " + _flow(query))
    if headers:
        words.append("headers " + _flow(headers))
    if body:
        words.append("body " + _flow(body))
    if if_expr:
        words.append("if " + if_expr)
    return " ".join(words)


# --- entry points -----------------------------------------------------------------------------


def _compile_text(text: str, file: str, base_dir: Path, api: str | None = None) -> Scenario:
    with gc_paused():
        return _compile(text, file, base_dir, api)


def _compile(text: str, file: str, base_dir: Path, api: str | None) -> Scenario:
    """The fast reading when it is sure and the file is valid, else the exact one."""
    memo = cache.recall(text, api)  # this exact text loaded clean before: no parsing, no schema
    fast = _Compiler(file, text, base_dir, api)
    result = fast.compile_remembered(memo) if memo is not None else fast.compile_fast()
    if result is not None:
        return result
    c = _Compiler(file, text, base_dir, api)
    if c.parse():
        c.validate()
        result = c.build()
        if result is not None and not c.diags:
            return result
    diags = sorted(set(c.diags), key=lambda d: (d.line, d.column, d.message))
    raise ScenarioInvalid(diags)


def parse_scenario(text: str, file: str | Path = "<string>", api: str | None = None) -> Scenario:
    """Compile scenario YAML text; `file` names it in diagnostics and anchors relative paths;
    `api` (a release such as "8.4") overrides the text's `api` pin."""
    base = Path(file).parent if str(file) != "<string>" else Path.cwd()
    return _compile_text(text, str(file), base, api)


def load_scenario(path: str | Path, api: str | None = None) -> Scenario:
    """Load, validate and compile a scenario file. Raises ScenarioInvalid with every problem.
    `api` (a release such as "8.4") overrides the file's `api` pin."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ScenarioInvalid([Diagnostic(name, 0, 0, f"cannot read the file: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioInvalid([Diagnostic(name, line, col, "the file is not UTF-8 text")]) from None
    return _compile_text(text, name, Path(path).parent, api)


def check_files(paths: Iterable[str | Path], api: str | None = None) -> list[Diagnostic]:
    """Every problem in every file, in order (an empty list when all files are valid)."""
    out: list[Diagnostic] = []
    for p in paths:
        try:
            load_scenario(p, api)
        except ScenarioInvalid as exc:
            out.extend(exc.diagnostics)
    return out
