"""What the loader tells scenario authors: values rendered the way they wrote them, and
jsonschema's errors translated into one sentence each, pointing at the node at fault.

`translate(error)` gives `Problem`s: (instance path, "value" | "key", message); the compiler
turns each into a `Diagnostic` at that node's position.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from .model import EFFECTS
from .schema import def_names, load_schema

# --- author-friendly rendering ----------------------------------------------------------------

_LOOKS_TYPED = re.compile(r"^(?:[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|true|false|null|~)$", re.I)
_PLAIN_SCALAR = re.compile(r"^[^\s'\"{}\[\],&*#?|<>=!%@`-][^\n]*$")


def clip(s: str, limit: int = 60) -> str:
    return s if len(s) <= limit else s[: limit - 1] + "…"


def flow(v: Any) -> str:
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
        return "{" + ", ".join(f"{flow(k)}: {flow(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(flow(x) for x in v) + "]"
    return str(v)


def fmt(v: Any, limit: int = 48) -> str:
    text = flow(v)
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


def label(path: Sequence, value: Any) -> str:
    """`key: value` for a mapping entry, `value` in `list` for a list item."""
    if not path:
        return "the file"
    last = path[-1]
    if isinstance(last, str):
        return f"`{last}: {fmt(value)}`"
    if len(path) >= 2 and isinstance(path[-2], str):
        return f"`{fmt(value)}` in `{path[-2]}`"
    return f"`{fmt(value)}`"


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
        return fmt(branch["const"])
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
    return [(path, "value", f"{label(path, e.instance)} is not a duration; write 250ms, 2s or 1m")]


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
            f"{label(path, e.instance)} is not a method of the Proxmox API; use GET, POST, PUT, DELETE or ANY",
        )
    ]


def _h_when_string(e: Any) -> list[Problem]:
    path = tuple(e.absolute_path)
    return [(path, "value", f'{label(path, e.instance)} must be "METHOD PATH" or "PATH", e.g. "GET /version"')]


def _h_userid(e: Any) -> list[Problem]:
    path = tuple(e.absolute_path)
    return [(path, "value", f"{label(path, e.instance)} must look like user@realm, e.g. root@pam")]


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


def translate(e: Any) -> list[Problem]:
    name = def_names.get(id(e.schema))
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
            return [p for sub in fitting[0] for p in translate(sub)]
        if len(fitting) > 1:
            # imported here, not at the top, for start-up speed: request-time code imports
            # this module (durations), and jsonschema is loaded only once a file is validated
            from jsonschema.exceptions import best_match

            return translate(best_match([x for g in fitting for x in g]))
        return [
            (path, "value", f"{label(path, inst)} must be {_one_of([_branch_title(b) for b in e.validator_value])}")
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
        msg = f"{label(path, inst)} must be {_one_of([_TYPE_NOUNS.get(t, t) for t in types])}"
        if "string" in types and isinstance(inst, (int, float, bool)):
            msg += "; put it in quotes"
        return [(path, "value", msg)]
    if v == "enum":
        return [(path, "value", f"{label(path, inst)} must be one of {', '.join(flow(x) for x in e.validator_value)}")]
    if v == "const":
        if path == ("scenariod",):
            return [
                (path, "value", f"{label(path, inst)}: this scenariod reads format version 1; write `scenariod: 1`")
            ]
        if e.validator_value is True and path and isinstance(path[-1], str):
            return [(path, "value", f"{label(path, inst)} must be true (or leave `{path[-1]}` out)")]
        return [(path, "value", f"{label(path, inst)} must be {fmt(e.validator_value)}")]
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        lo, hi = e.schema.get("minimum"), e.schema.get("maximum")
        if lo is not None and hi is not None:
            msg = f"must be between {fmt(lo)} and {fmt(hi)}"
        elif v == "minimum":
            msg = f"must be at least {fmt(lo)}"
        elif v == "maximum":
            msg = f"must be at most {fmt(hi)}"
        elif v == "exclusiveMinimum":
            msg = f"must be more than {fmt(e.validator_value)}"
        else:
            msg = f"must be less than {fmt(e.validator_value)}"
        return [(path, "value", f"{label(path, inst)} {msg}")]
    if v in ("minLength", "minItems", "minProperties"):
        return [(path, "value", f"{label(path, inst)} must not be empty")]
    if v == "pattern":
        key = path[-1] if path and isinstance(path[-1], str) else ""
        hint = _PATTERN_HINTS.get(key, "does not have the expected form")
        return [(path, "value", f"{label(path, inst)} {hint}")]
    if v == "not":
        return [(path, "value", f"{label(path, inst)} is not allowed here")]
    return [(path, "value", f"{label(path, inst)}: {e.message}")]


# The sections whose positions a valid scenario keeps: rule sources (`FILE:LINE`).
