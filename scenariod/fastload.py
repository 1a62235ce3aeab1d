"""Fast reading of scenario text into plain values, without positions.

ruamel.yaml's round-trip loader (scenario/positions.py) knows where every node is, but it is pure
Python and reads a 28 MB scenario in minutes. This module reads the same text into the
same plain values (dict, list, str, int, float, bool, None) in seconds: JSON (which is
YAML 1.2) with the standard library's C decoder, other YAML from libyaml's events with
ruamel.yaml's own YAML 1.2 resolver table. It records where each top-level section's
text starts and ends, so that positions can be found later by reading one small section
with ruamel.yaml.

It answers None whenever it cannot be sure to read the text exactly as ruamel.yaml does:
syntax errors, duplicate keys, tags, merge keys, timestamps, keys that are not strings,
more than one document, a root that is not a mapping. The caller then takes the slow,
exact path, which also reports the problem with its position.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import filelimits

__all__ = ["Loaded", "Section", "line_col", "load", "load_known", "starts_as_json"]


@dataclass(frozen=True, slots=True)
class Section:
    """Where a top-level `key: value` is in the text: `text[start:end]`.

    `flow`: the section is part of a flow mapping (JSON); read it alone as "{" + text + "}".
    Otherwise it is whole lines of a block mapping, readable alone as they are.
    """

    start: int
    end: int
    flow: bool


# The section whose entries' extents are kept too: it is what grows (a snapshot of 10,000
# guests), and a warning in it is placed by reading its one entry, not the whole section.
ENTRIES_OF = "state"


@dataclass(frozen=True, slots=True)
class Loaded:
    """A document read without positions: its plain values, its top-level sections, and the
    extents of the entries of its `ENTRIES_OF` section (each readable alone as a section is)."""

    doc: dict[str, Any]
    sections: dict[str, Section]
    entries: dict[str, Section] = field(default_factory=dict)


class _Unsure(Exception):
    """The fast reading might differ from ruamel.yaml's: let the exact path read the text."""


def load(text: str) -> Loaded | None:
    """The document in `text` as plain values, or None when only the exact path may read it."""
    from yaml import YAMLError

    if starts_as_json(text):
        try:
            return _load_json(text, _skip_space(text, 0))
        except (ValueError, LookupError, _Unsure):
            pass  # not JSON after all (YAML flow style, comments): read it as YAML
    try:
        return _load_yaml(text)
    except (YAMLError, ValueError, LookupError, RecursionError, _Unsure):
        return None


def starts_as_json(text: str) -> bool:
    """The text opens as a JSON object does (it may still be YAML in flow style)."""
    return text.startswith("{", _skip_space(text, 0))


def line_col(text: str, offset: int) -> tuple[int, int]:
    """0-based line and column of `offset`, counting line breaks as ruamel.yaml does."""
    if "\r" not in text:
        return text.count("\n", 0, offset), offset - (text.rfind("\n", 0, offset) + 1)
    line = line_start = 0
    for m in _BREAK.finditer(text, 0, offset):
        line, line_start = line + 1, m.end()
    return line, offset - line_start


_BREAK = re.compile("\r\n|[\r\n]")  # YAML 1.2's line breaks
_YAML11_BREAK = re.compile("[\x85\u2028\u2029]")  # libyaml breaks lines there too
_SPACE = re.compile(r"[ \t\n\r]*")


def _skip_space(text: str, pos: int) -> int:
    return _SPACE.match(text, pos).end()  # type: ignore[union-attr]


# --- JSON -----------------------------------------------------------------------------------


def load_known(text: str) -> dict[str, Any] | None:
    """A JSON text that read clean before (a memo says so: scenariod/cache.py) read with orjson,
    several times faster than the key-by-key, duplicate-checking reading `load` makes; None
    when it is not JSON or orjson refuses it (the caller then reads it with `load`)."""
    import orjson

    if not starts_as_json(text):
        return None
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        raise _Unsure("duplicate key")
    return d


def _no_constant(name: str) -> Any:
    raise _Unsure(f"{name} is not JSON")  # NaN, Infinity: YAML reads them as strings


def _load_json(text: str, pos: int) -> Loaded:
    """The top-level object key by key, so that each section's extent is known."""
    if not filelimits.json_within_bounds(text):
        raise _Unsure("beyond a file bound")  # the exact path refuses it at its position
    decoder = json.JSONDecoder(object_pairs_hook=_unique_pairs, parse_constant=_no_constant)
    doc, sections, entries, pos = _json_object(decoder, text, pos, ENTRIES_OF)
    if _skip_space(text, pos + 1) != len(text):
        raise _Unsure("text after the document")
    return Loaded(doc, sections, entries)


def _json_object(
    decoder: json.JSONDecoder, text: str, pos: int, inner: str | None = None
) -> tuple[dict[str, Any], dict[str, Section], dict[str, Section], int]:
    """The object at `pos` key by key: its values, each key's extent, those of the entries of
    its `inner` key's object, and the position of its closing brace."""
    doc: dict[str, Any] = {}
    sections: dict[str, Section] = {}
    entries: dict[str, Section] = {}
    pos = _skip_space(text, pos + 1)
    while text[pos] != "}":
        key_start = pos
        key, pos = decoder.raw_decode(text, pos)
        pos = _skip_space(text, pos)
        if not isinstance(key, str) or key in doc or text[pos] != ":":
            raise _Unsure("expected a new key and ':'")
        pos = _skip_space(text, pos + 1)
        if key == inner and text[pos] == "{":
            doc[key], entries, _, pos = _json_object(decoder, text, pos)
            pos += 1
        else:
            doc[key], pos = decoder.raw_decode(text, pos)
        sections[key] = Section(key_start, pos, flow=True)
        pos = _skip_space(text, pos)
        if text[pos] == ",":
            pos = _skip_space(text, pos + 1)
            if text[pos] == "}":
                raise _Unsure("a trailing comma")  # YAML allows it, JSON does not
        elif text[pos] != "}":
            raise _Unsure("expected ',' or '}'")
    return doc, sections, entries, pos


# --- YAML -----------------------------------------------------------------------------------

_MERGE = "tag:yaml.org,2002:merge"


def _int(text: str) -> int:
    """ruamel.yaml's reading of a YAML 1.2 int (underscores, 0b/0o/0x, leading zeros)."""
    digits = text.replace("_", "")
    sign = 1
    if digits[0] in "+-":
        sign = -1 if digits[0] == "-" else 1
        digits = digits[1:]
    base = {"0b": 2, "0o": 8, "0x": 16}.get(digits[:2])
    return sign * (int(digits[2:], base) if base else int(digits))


def _float(text: str) -> float:
    """ruamel.yaml's reading of a YAML 1.2 float."""
    digits = text.replace("_", "").lower()
    sign = -1.0 if digits[0] == "-" else 1.0
    digits = digits.lstrip("+-")
    if digits == ".inf":
        return sign * math.inf
    if digits == ".nan":
        return math.nan
    return sign * float(digits)


def _unsure(text: str) -> Any:
    raise _Unsure(f"`{text}` needs the exact reader")  # merge keys, timestamps, `=`


_CONVERT: dict[str, Callable[[str], Any]] = {
    "tag:yaml.org,2002:bool": lambda text: text.lower() == "true",
    "tag:yaml.org,2002:null": lambda text: None,
    "tag:yaml.org,2002:int": _int,
    "tag:yaml.org,2002:float": _float,
}


# ruamel.yaml's YAML 1.2 implicit resolvers: the rows of ruamel.yaml.resolver.implicit_resolvers
# for (1, 2), in its order: tag, pattern, flags, the first characters each applies to. Copied,
# so that the fast reading does not import ruamel.yaml (~19 ms of a first start);
# tests/test_loading.py checks that it is still ruamel's table.
YAML12_RESOLVERS: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    ("tag:yaml.org,2002:bool", "^(?:true|True|TRUE|false|False|FALSE)$", re.X | re.U, ("t", "T", "f", "F")),
    (
        "tag:yaml.org,2002:float",
        "^(?:\n         [-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+]?[0-9]+)?\n        |[-+]?(?:[0-9][0-9_]*)"
        "(?:[eE][-+]?[0-9]+)\n        |[-+]?\\.[0-9_]+(?:[eE][-+][0-9]+)?\n        |[-+]?\\.(?:inf|Inf|INF)\n"
        "        |\\.(?:nan|NaN|NAN))$",
        re.X | re.U,
        tuple("-+0123456789."),
    ),
    (
        "tag:yaml.org,2002:int",
        "^(?:[-+]?0b[0-1_]+\n        |[-+]?0o?[0-7_]+\n        |[-+]?[0-9_]+\n        |[-+]?0x[0-9a-fA-F_]+)$",
        re.X | re.U,
        tuple("-+0123456789"),
    ),
    ("tag:yaml.org,2002:merge", "^(?:<<)$", re.U, ("<",)),
    ("tag:yaml.org,2002:null", "^(?: ~\n        |null|Null|NULL\n        | )$", re.X | re.U, ("~", "n", "N", "")),
    (
        "tag:yaml.org,2002:timestamp",
        "^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]\n        |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?\n"
        "        (?:[Tt]|[ \\t]+)[0-9][0-9]?\n        :[0-9][0-9] :[0-9][0-9] (?:\\.[0-9]*)?\n"
        "        (?:[ \\t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
        re.X | re.U,
        tuple("0123456789"),
    ),
    ("tag:yaml.org,2002:value", "^(?:=)$", re.U, ("=",)),
    ("tag:yaml.org,2002:yaml", "^(?:!|&|\\*)$", re.U, ("!", "&", "*")),
)


def _resolvers() -> dict[str, list[tuple[Any, Callable[[str], Any]]]]:
    """ruamel.yaml's YAML 1.2 implicit resolvers, by first character (the same table)."""
    table: dict[str, list[tuple[Any, Callable[[str], Any]]]] = {}
    for tag, pattern, flags, first in YAML12_RESOLVERS:
        regexp = re.compile(pattern, flags)
        for ch in first:
            table.setdefault(ch, []).append((regexp, _CONVERT.get(tag, _unsure)))
    return table


_RESOLVE: dict[str, list[tuple[Any, Callable[[str], Any]]]] | None = None


def _plain_scalar(text: str) -> Any:
    """The value of an untagged plain scalar, as ruamel.yaml's YAML 1.2 resolver types it."""
    for regexp, convert in _RESOLVE.get(text[:1], ()):  # type: ignore[union-attr]
        if regexp.match(text):
            return convert(text)
    return text


def _load_yaml(text: str) -> Loaded:
    """Build the document from libyaml's events (no node tree: a fraction of the memory)."""
    global _RESOLVE
    from yaml import _yaml  # PyYAML's libyaml binding
    from yaml.events import (
        AliasEvent,
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
        StreamEndEvent,
    )

    if _YAML11_BREAK.search(text):
        raise _Unsure("NEL, LS or PS: line breaks to libyaml, text to YAML 1.2")
    if _RESOLVE is None:
        _RESOLVE = _resolvers()
    get_event = _yaml.CParser(text).get_event
    anchors: dict[str, Any] = {}
    # The file bounds (filelimits.py), checked on the way: past one, the exact path refuses the
    # text at its position. `nodes` counts as aliases would expand; `sizes`: each anchor's nodes.
    limits = filelimits.current()
    max_depth, max_chars, nodes = limits.yaml_depth, limits.scalar_chars, 0
    sizes: dict[str, int] = {}
    # Open collections: [container, anchor, the key awaiting its value (mappings), start mark,
    # nodes counted before it]
    stack: list[list[Any]] = []
    root: Any = None
    documents = 0
    root_keys: list[tuple[str, Any, Any]] = []  # (key, start mark, end mark of its value)
    inner_keys: list[tuple[str, Any, Any]] = []  # the same for the entries of ENTRIES_OF
    block_root = block_inner = False
    no_key = _NO_KEY
    while True:
        event = get_event()
        kind = type(event)
        if kind is ScalarEvent:
            if event.tag is not None:
                raise _Unsure("tag")
            if len(event.value) > max_chars:
                raise _Unsure("a scalar beyond the file bounds")
            nodes += 1
            value = _plain_scalar(event.value) if event.implicit[0] else event.value
            anchor = event.anchor
            if anchor is not None:
                sizes[anchor] = 1
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.tag is not None:
                raise _Unsure("tag")
            if not stack and kind is MappingStartEvent:
                block_root = not event.flow_style
            elif len(stack) == 1 and kind is MappingStartEvent and stack[0][2] == ENTRIES_OF:
                block_inner = not event.flow_style
            if len(stack) >= max_depth:
                raise _Unsure("nested beyond the file bounds")
            stack.append([{} if kind is MappingStartEvent else [], event.anchor, no_key, event.start_mark, nodes])
            nodes += 1
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            value, anchor, _, _, before = stack.pop()
            if anchor is not None:
                sizes[anchor] = nodes - before
        elif kind is AliasEvent:
            value, anchor = anchors[event.anchor], None  # KeyError: unknown or still open
            nodes += sizes[event.anchor]
            if nodes > limits.yaml_nodes:
                raise _Unsure("aliases expand beyond the file bounds")
        elif kind is DocumentStartEvent:
            documents += 1
            if documents > 1 or event.version is not None:
                raise _Unsure("several documents, or a %YAML directive")
            continue
        elif kind is StreamEndEvent:
            break
        else:  # stream start, document end
            continue
        if anchor is not None:
            anchors[anchor] = value
        if not stack:
            root = value
            continue
        frame = stack[-1]
        container = frame[0]
        if type(container) is list:
            container.append(value)
        elif frame[2] is no_key:
            if type(value) is not str or value in container:
                raise _Unsure("a key that is not a new string")
            frame[2] = value
            if len(stack) == 1:
                root_keys.append((value, event.start_mark, None))
            elif len(stack) == 2 and stack[0][2] == ENTRIES_OF:
                inner_keys.append((value, event.start_mark, None))
        else:
            container[frame[2]] = value
            frame[2] = no_key
            if len(stack) == 1:
                key, mark, _ = root_keys[-1]
                root_keys[-1] = (key, mark, event.end_mark)
            elif len(stack) == 2 and stack[0][2] == ENTRIES_OF:
                key, mark, _ = inner_keys[-1]
                inner_keys[-1] = (key, mark, event.end_mark)
    if type(root) is not dict:
        raise _Unsure("the root is not a mapping")
    if nodes > limits.yaml_nodes:
        raise _Unsure("more nodes than the file bounds")
    sections = _yaml_sections(text, root_keys, block_root)
    inner = sections.get(ENTRIES_OF)
    entries = _yaml_sections(text, inner_keys, block_inner, inner.end if inner is not None else len(text))
    return Loaded(root, sections, entries)


class _NoKey:
    __slots__ = ()


_NO_KEY = _NoKey()


def _yaml_sections(
    text: str, root_keys: list[tuple[str, Any, Any]], block: bool, end: int | None = None
) -> dict[str, Section]:
    """Block mappings: whole lines from a key's line to the next key's line (the last one's to
    `end`); flow: key to value."""
    sections: dict[str, Section] = {}
    if not block:
        for key, mark, value_end in root_keys:
            sections[key] = Section(mark.index, value_end.index, flow=True)
        return sections
    starts = [mark.index - mark.column for _, mark, _ in root_keys] + [len(text) if end is None else end]
    for i, (key, _, _) in enumerate(root_keys):
        sections[key] = Section(starts[i], starts[i + 1], flow=False)
    return sections
