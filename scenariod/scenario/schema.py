"""The scenario JSON Schema (`data/scenario.schema.json`) and its validator."""

from __future__ import annotations

import functools
import json
import re
import threading
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).parent.parent / "data" / "scenario.schema.json"

_schema_lock = threading.Lock()
_schema: dict | None = None
_validator: Any = None
def_names: dict[int, str] = {}  # id of a `$defs` schema -> its name (translating errors)


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
def state_is_free_form() -> bool:
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


# --- whether a document is valid, without jsonschema -------------------------------------------
#
# The first load of a file reads it the fast way and only needs to know whether it is valid
# (a problem sends it to the exact reading, where jsonschema finds and words every error).
# Importing jsonschema and running it was most of that first start, so `is_valid` walks the
# schema itself. It knows the keywords below, with Draft 2020-12's meaning as jsonschema
# implements it (types, `equal`, `re.search` for patterns); a schema using any other keyword
# turns it off (`_walkable`), and jsonschema answers instead.

_CHECKED = frozenset(
    {
        "$ref",
        "type",
        "required",
        "properties",
        "patternProperties",
        "additionalProperties",
        "items",
        "anyOf",
        "oneOf",
        "not",
        "const",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "pattern",
        "minProperties",
        "minItems",
    }
)
_UNCHECKED = _ANNOTATIONS | {"$schema", "$id", "$defs"}


def is_valid(doc: Any) -> bool:
    """Whether `doc` passes the scenario schema (the validator's verdict, found faster)."""
    schema = load_schema()
    if not _walkable():
        return next(iter(schema_validator().iter_errors(doc)), None) is None
    return _valid(schema, doc, schema["$defs"])


@functools.cache
def _walkable() -> bool:
    """Whether every schema in the file uses only keywords `_valid` knows, and local `$ref`s."""
    schema = load_schema()
    defs = schema.get("$defs", {})

    def ok(sub: Any) -> bool:
        if isinstance(sub, bool):
            return True
        if not isinstance(sub, dict) or not set(sub) <= _CHECKED | _UNCHECKED:
            return False
        ref = sub.get("$ref")
        if ref is not None and not (ref.startswith("#/$defs/") and ref[8:] in defs):
            return False
        subs = [*sub.get("properties", {}).values(), *sub.get("patternProperties", {}).values()]
        subs += [sub[k] for k in ("additionalProperties", "items", "not") if k in sub]
        subs += [*sub.get("anyOf", ()), *sub.get("oneOf", ())]
        return all(ok(s) for s in subs)

    return all(ok(s) for s in (schema, *defs.values()))


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return name == "number" or (name == "integer" and (isinstance(value, int) or value.is_integer()))


def _equal(one: Any, two: Any) -> bool:
    """JSON equality as jsonschema's `equal`: true is not 1, 1 is 1.0, containers item by item."""
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_equal(one[k], two[k]) for k in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return type(one) is type(two) and one == two
    return bool(one == two)


def _valid(sub: Any, value: Any, defs: dict[str, Any]) -> bool:
    if sub is True or sub is False:
        return sub
    if "$ref" in sub and not _valid(defs[sub["$ref"][8:]], value, defs):
        return False
    kind = sub.get("type")
    if kind is not None and not (
        _is_type(value, kind) if isinstance(kind, str) else any(_is_type(value, k) for k in kind)
    ):
        return False
    if "const" in sub and not _equal(value, sub["const"]):
        return False
    if "enum" in sub and not any(_equal(value, e) for e in sub["enum"]):
        return False
    if isinstance(value, dict):
        if not _valid_object(sub, value, defs):
            return False
    elif isinstance(value, list):
        items = sub.get("items", True)
        if len(value) < sub.get("minItems", 0) or not all(_valid(items, v, defs) for v in value):
            return False
    elif isinstance(value, str):
        if len(value) < sub.get("minLength", 0) or ("pattern" in sub and not re.search(sub["pattern"], value)):
            return False
    elif _is_type(value, "number"):
        if ("minimum" in sub and value < sub["minimum"]) or ("maximum" in sub and value > sub["maximum"]):
            return False
    if "anyOf" in sub and not any(_valid(s, value, defs) for s in sub["anyOf"]):
        return False
    if "oneOf" in sub and sum(1 for s in sub["oneOf"] if _valid(s, value, defs)) != 1:
        return False
    return not ("not" in sub and _valid(sub["not"], value, defs))


def _valid_object(sub: dict[str, Any], value: dict[str, Any], defs: dict[str, Any]) -> bool:
    if len(value) < sub.get("minProperties", 0) or not all(k in value for k in sub.get("required", ())):
        return False
    props = sub.get("properties", {})
    patterns = sub.get("patternProperties", {})
    extra = sub.get("additionalProperties", True)
    for key, item in value.items():
        matched = False
        if key in props:
            matched = True
            if not _valid(props[key], item, defs):
                return False
        for pattern, psub in patterns.items():
            if re.search(pattern, key):
                matched = True
                if not _valid(psub, item, defs):
                    return False
        if not matched and extra is not True and not _valid(extra, item, defs):
            return False
    return True


def schema_validator() -> Any:
    """The schema's Draft 2020-12 validator (built once per process)."""
    global _validator
    if _validator is None:
        # jsonschema is imported when a file is first validated: its import is most of a small
        # scenario's start-up, and a file remembered by cache.py is never validated.
        from jsonschema import Draft202012Validator

        schema = load_schema()
        with _schema_lock:
            if _validator is None:
                def_names.update({id(v): k for k, v in schema["$defs"].items()})
                _validator = Draft202012Validator(schema)
    return _validator
