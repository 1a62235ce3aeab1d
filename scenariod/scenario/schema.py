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
