"""Seeded values checked against what the API declares its GET answers hold.

A seed the API could never answer (`maxcpu: lots` on a node) would reach clients as is, or
break our own views that compute with it; it is refused at its line instead. The scalar
rules (enums, ranges, patterns, named formats, property strings such as `net0`) are the
parameter validators' (params/), run over the value's text; JSON types are checked here.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ..apidesc import answered_undeclared
from ..params import compile_validator
from ..params.values import Invalid
from .diagnostics import clip, fmt

# (relative path below the seeded value, "value" | "key" (where to point), message, is an error)
Finding = tuple[tuple, str, str, bool]

_INDEXED = re.compile(r"(.*?)\d+\Z")
_NOUN = {"integer": "an integer", "number": "a number", "boolean": "a boolean", "string": "a string"}
_RULES = ("enum", "pattern", "format", "minimum", "maximum", "minLength", "maxLength")
_STRICT_RULES = ("enum", "minimum", "maximum")
# Seed shorthands a behaviour module expands before serving (proxmox/pbs/model.py
# normalize_snapshot): field -> what may stand for its declared type.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)\Z")
# Fields of scenariod's own, by path template, that a behaviour module reads (and strips
# where Proxmox would not answer them): a PBS snapshot that fails verification
# (proxmox/pbs/maintenance.py), a PDM view's datastore usage and PBS host name
# (proxmox/pdm/resources.py, model.py), a node's corosync id (proxmox/cluster.py: /cluster/status
# answers it; GET /nodes answers it too, where a real node would not).
_INTEGER = {"type": "integer"}
_SCENARIOD_FIELDS: dict[str, dict[str, Mapping[str, Any]]] = {
    "/nodes": {"nodeid": _INTEGER},
    "/admin/datastore/{store}/snapshots": {"corrupt": {"type": "boolean"}},
    "/pbs/remotes/{remote}/datastore": {"total": _INTEGER, "used": _INTEGER},
    "/pbs/remotes/{remote}/datastore/{datastore}/snapshots": {"corrupt": {"type": "boolean"}},
    "/pbs/remotes/{remote}/status": {"hostname": {"type": "string"}},
}
# Declared fields the server answers in another shape, with the shape it serves: PBS lists a
# snapshot's files as archive entries ({filename, crypt-mode, size}) where its description
# says strings, and PDM's view of PBS passes them through.
_SERVED_AS: dict[str, dict[str, Mapping[str, Any]]] = {
    "/admin/datastore/{store}/snapshots": {"files": {"type": "array"}},
    "/pbs/remotes/{remote}/datastore/{datastore}/snapshots": {"files": {"type": "array"}},
}
# JSON numbers the server can encode: a seed beyond them would fail every answer holding it.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
_SHORTHANDS: dict[str, Any] = {
    "backup-time": lambda v: isinstance(v, str) and bool(_RFC3339.match(v)),  # RFC 3339 for epoch seconds
    "verification": lambda v: isinstance(v, str),  # the state alone: {state, upid} is derived
}


def _type_ok(type_: str, value: Any) -> bool:
    """Whether `value` is a JSON value of `type_`. Strict on purpose: the server and its views
    compute with seeds as the API declares them, so "16" for an integer would be served as a
    string no client expects, and fail the first view that adds it up."""
    kind = type(value)
    if type_ == "integer":
        return kind is int
    if type_ == "number":
        return kind is int or kind is float
    if type_ == "boolean":
        return kind is bool or (kind is int and value in (0, 1))  # Proxmox writes booleans as 0/1
    if type_ == "string":
        return kind is str or kind is int or kind is float  # YAML reads `name: 100` as a number
    if type_ == "object":
        return kind is dict
    if type_ == "array":
        return kind is list
    return True  # null, any, or a type the data does not name: nothing to hold it to


def _encodable(value: Any) -> bool:
    """No integer in `value` beyond what JSON answers carry (orjson: 64 bits)."""
    if type(value) is int:
        return _INT_MIN <= value <= _INT_MAX
    if isinstance(value, dict):
        return all(_encodable(v) for v in value.values())
    if isinstance(value, list):
        return all(_encodable(v) for v in value)
    return True


def _show(value: Any) -> str:
    """A seeded value as a message quotes it: strings in double quotes, so `"16"` is not `16`."""
    return json.dumps(clip(value)) if isinstance(value, str) else fmt(value)


def _text(value: Any) -> str:
    if value is True or value is False:
        return "1" if value else "0"
    return str(value)


class SeedChecker:
    """One service's returns schemas compiled lazily, shared by every seeded path of a file."""

    def __init__(self, service: str) -> None:
        self.rust = service != "pve"
        self.answered = answered_undeclared(service)
        self.as_answered: dict[tuple[str, int], Mapping[str, Any]] = {}  # (template, id(schema)) -> its patch
        self.validator = compile_validator({}, "rust" if self.rust else "pve")
        self.rules: dict[int, Any] = {}  # id(schema) -> the validator's compiled check
        self.keep: list[Any] = []  # the schemas whose ids key `rules`, kept alive
        # (id(properties), field) -> the declared field it is one edit from: a snapshot of a large
        # cluster holds the same undeclared field in thousands of items (`disk` of each guest).
        self.near: dict[tuple[int, str], str | None] = {}

    def check(
        self,
        schema: Mapping[str, Any],
        value: Any,
        template: str,
        where: str,
        writable: Mapping[str, Any],
        keys: frozenset[str] = frozenset(),
    ) -> Iterator[Finding]:
        """Findings for `value` held to `schema` of path `template`; `where` names the schema.

        `writable` are the fields (and their parameter schemas) the API accepts when the value
        is created or updated: a real node stores and answers them, so where the GET omits
        them they are held to those schemas instead.
        `keys` (an item's key fields) are left to the checks of collection items."""
        extra = _SCENARIOD_FIELDS.get(template)
        if extra:
            writable = {**writable, **extra}
        facts = self.answered.get(template)
        if facts is not None:
            schema = self._as_answered(template, schema, facts)
        served_as = _SERVED_AS.get(template)
        if served_as and isinstance(schema.get("properties"), dict):
            schema = {**schema, "properties": {**schema["properties"], **served_as}}
        if isinstance(value, dict) and schema.get("type") in ("object", None):
            yield from self._object(schema, value, (), where, writable, keys)
        else:
            yield from self._value(schema, value, (), where, None)

    def _value(
        self, schema: Mapping[str, Any], value: Any, rel: tuple, where: str, name: str | None
    ) -> Iterator[Finding]:
        if value is None:
            return  # Proxmox answers an unset optional field as null (osdid-list: null)
        if isinstance(value, str) and "${" in value:
            return  # a template (respond.data): rendered, and checked, per request
        type_ = schema.get("type")
        if type(value) is int and not _INT_MIN <= value <= _INT_MAX:
            label = name if name is not None else "the value"
            yield rel, "value", f"{label}: {value} is a number no JSON answer can carry", True
            return
        if type_ == "object" and isinstance(value, str) and schema.get("properties"):
            return  # its property-string form: releases differ (PVE 7.4's prune-backups is one)
        if isinstance(type_, str) and not _type_ok(type_, value):
            shorthand = _SHORTHANDS.get(name or "")
            if shorthand is not None and shorthand(value):
                return
            label = name if name is not None else "the value"
            noun = _NOUN.get(type_, f"an {type_}" if type_[0] in "aeiou" else f"a {type_}")
            yield rel, "value", f"{label}: {_show(value)} is not {noun} (the {where} declares {label} as {type_})", True
            return
        if type_ == "object" or (type_ is None and isinstance(value, dict) and "properties" in schema):
            if isinstance(value, dict):
                yield from self._object(schema, value, rel, where, {})
            return
        if type_ == "array":
            items = schema.get("items")
            if isinstance(items, dict):
                for i, item in enumerate(value):
                    yield from self._value(items, item, rel + (i,), where, f"{name or 'item'}[{i}]")
            return
        if value is None or not any(k in schema for k in _RULES):
            return
        if self.rust and isinstance(schema.get("format"), dict):
            return  # PDM's views of PVE hold PVE property strings (net0: virtio=MAC) proxmox-schema cannot parse
        check = self.rules.get(id(schema))
        if check is None:
            check = self.validator.prop(schema)
            self.rules[id(schema)] = check
            self.keep.append(schema)
        label = name if name is not None else "the value"
        try:
            check(_text(value), label)
        except Invalid as exc:
            problem = "; ".join(str(m).strip() for m in exc.args[0].values()) if exc.args else "invalid"
            # Proxmox never holds its answers to their named formats and patterns (a PVE node
            # answers `netmask: "24"` against `ipv4mask`): those are warnings. Enums, ranges and
            # property strings are what clients parse and compute with: errors.
            strict = isinstance(schema.get("format"), dict) or any(k in schema for k in _STRICT_RULES)
            yield rel, "value", f"{label}: {_show(value)}: {problem} (the {where} declares {label})", strict

    def _object(
        self,
        schema: Mapping[str, Any],
        value: dict,
        rel: tuple,
        where: str,
        writable: Mapping[str, Any],
        keys: frozenset[str] = frozenset(),
    ) -> Iterator[Finding]:
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            return  # an object the description leaves open (rrddata items): nothing to hold it to
        for key, sub in value.items():
            field = str(key)
            if field in keys:
                continue
            decl = props.get(field)
            if decl is None:
                m = _INDEXED.match(field)
                decl = props.get(f"{m.group(1)}[n]") if m else None
            if decl is None:
                decl = writable.get(field)
            if isinstance(decl, dict):
                yield from self._value(decl, sub, rel + (key,), where, field)
                continue
            if decl is not None:
                continue
            if not _encodable(sub):
                yield rel + (key,), "value", f"{field}: {_show(sub)} is a number no JSON answer can carry", True
                continue
            near = self._near(props, field)
            if near is not None:
                yield rel + (key,), "key", f"`{field}` is not a field of the {where}; did you mean {near}?", True
            elif not schema.get("additionalProperties"):
                yield rel + (key,), "key", f"`{field}` is not a field of the {where} (served as seeded)", False

    def _as_answered(self, template: str, schema: Mapping[str, Any], facts: Mapping[str, Any]) -> Mapping[str, Any]:
        """`schema` with what real nodes answer at `template` (apidesc.answered_undeclared)."""
        known = (template, id(schema))
        if known not in self.as_answered:
            self.keep.append(schema)
            patched = schema
            for name, decl in facts.get("fields", {}).items():
                patched = _with_field(patched, name.split("."), decl, replace=False)
            for name, decl in facts.get("answered_as", {}).items():
                patched = _with_field(patched, name.split("."), decl, replace=True)
            self.as_answered[known] = patched
        return self.as_answered[known]

    def _near(self, props: dict[str, Any], field: str) -> str | None:
        """The declared field `field` is a typo of, if any."""
        known = (id(props), field)
        if known not in self.near:
            self.keep.append(props)
            near = difflib.get_close_matches(field, list(props), n=1, cutoff=0.8)
            # `method6` beside `method` is PVE's IPv6 twin, not a typo
            typo = near and _one_edit(field, near[0]) and not (field[:-1] == near[0] and field[-1].isdigit())
            self.near[known] = near[0] if typo else None
        return self.near[known]


def _with_field(schema: Mapping[str, Any], parts: list[str], decl: Any, replace: bool) -> Mapping[str, Any]:
    """A copy of `schema` with field `parts` (through object properties and array items) held
    to `decl`; a field the schema declares keeps its declaration unless `replace`."""
    items = schema.get("items")
    if schema.get("type") == "array" and isinstance(items, dict):
        return {**schema, "items": _with_field(items, parts, decl, replace)}
    props = schema.get("properties")
    if not isinstance(props, dict):
        return schema
    head, rest = parts[0], parts[1:]
    if rest:
        sub = props.get(head)
        return {**schema, "properties": {**props, head: _with_field(sub, rest, decl, replace)}} if sub else schema
    if head in props and not replace:
        return schema
    return {**schema, "properties": {**props, head: decl}}


def route_operation(api: Any, when: Any) -> tuple[Any, Any] | None:
    """The one (API node, Operation) a route's `when` names, whose returns its data must fit;
    None when it names several (several schemas) or none."""
    if when.path is None:
        return None
    nodes = [n for n in api.match_template([s for s in when.path.split("/") if s]) if n.ops]
    methods = when.methods or frozenset({"GET"})
    ops = [(n, n.ops[m]) for n in nodes for m in sorted(methods) if m in n.ops]
    return ops[0] if len(ops) == 1 else None


def writable_fields(collection: Any, item: Any) -> dict[str, Any]:
    """Fields a client may set on what a path holds, with their parameter schemas: its
    collection's create (POST) and the item's update (PUT/POST). The GET's own parameters
    (its keys, a listing's filters) are known names too, held to nothing: a filter's enum
    says what may be asked, not what is answered."""
    fields: dict[str, Any] = {}
    for node, methods in ((collection, ("GET", "POST")), (item, ("GET", "POST", "PUT"))):
        for method in methods if node is not None else ():
            op = node.ops.get(method)
            props = (op.parameters or {}).get("properties") if op is not None else None
            if isinstance(props, dict):
                fields.update(dict.fromkeys(props, {}) if method == "GET" else props)
    if collection is not None and collection.key:
        fields.setdefault(collection.key, {})
    return fields


def rendered_check(service: str, api: Any, when: Any) -> Any:
    """For a route whose data holds templates: a function from the rendered data to the
    messages of what does not fit its operation's returns (None: nothing to check against)."""
    found = route_operation(api, when) if api is not None else None
    if found is None:
        return None
    node, op = found
    checker = SeedChecker(service)
    where = f"{op.method} {node.path} returns schema"
    writable = writable_fields(node.parent, node)

    def check(data: Any) -> list[str]:
        return [m for _rel, _at, m, error in checker.check(op.returns, data, node.path, where, writable) if error]

    return check


def _one_edit(a: str, b: str) -> bool:
    """`a` and `b` differ by one insertion, deletion, substitution or adjacent swap."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))
