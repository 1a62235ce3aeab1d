"""Hostile scenario files refused before any YAML parser builds a document.

A scenario file is trusted to describe a mock, not to exhaust the process that reads it. A
FIFO or device would block the reader forever; a 1 KB "billion laughs" file (anchors aliased
inside anchors) expands to 10^12 nodes in whatever walks the document (the schema check, the
memo, seeding); YAML nested 10,000 deep overflows the recursive composers; a huge scalar or
file is memory spent before anything could be said about it. So, before ruamel.yaml or the
fast loader builds anything:

- `read_bytes` refuses a path that is not a regular file (without opening it, so a FIFO never
  blocks) and a file beyond `file_bytes`;
- `refusal` reads the text once through libyaml's C event parser, counting nodes as aliases
  would expand them (arithmetically: an alias adds its anchor's node count, nothing is
  copied), the nesting depth and scalar lengths, and answers the first bound crossed with
  its position. The loader calls it before the exact (ruamel.yaml) reading; the fast reader
  (fastload.py) checks the same bounds in its own single pass (`json_within_bounds` for JSON)
  and leaves a text beyond them to the exact path, so a valid file is parsed only once.

The bounds bind the process, not the file: a hostile file must not be able to raise the bounds
its own reading runs under. Defaults are in `DEFAULTS`; `scenariod run` and `check` override
them with --max-file-bytes, --max-yaml-nodes, --max-yaml-depth and --max-scalar-chars.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
from dataclasses import dataclass, fields, replace
from itertools import accumulate
from pathlib import Path

__all__ = [
    "DEFAULTS",
    "FileLimits",
    "Refused",
    "add_options",
    "apply_options",
    "current",
    "json_within_bounds",
    "override",
    "read_bytes",
    "refusal",
]


@dataclass(frozen=True, slots=True)
class FileLimits:
    """Bounds on one scenario file; each names the command-line option that raises it."""

    file_bytes: int = 256 << 20  # the largest generated scale scenarios are ~30 MB
    yaml_nodes: int = 5_000_000  # nodes once aliases expand (keys, values and collections)
    yaml_depth: int = 200  # nested collections; far below what the recursive composers survive
    scalar_chars: int = 16 << 20

    @staticmethod
    def option(name: str) -> str:
        return "--max-" + name.replace("_", "-")


DEFAULTS = FileLimits()
_current = DEFAULTS


def override(**values: int | None) -> None:
    """Apply the command line's bounds (None: keep the default) for every later read."""
    global _current
    _current = replace(DEFAULTS, **{k: v for k, v in values.items() if v is not None})


def add_options(parser: argparse.ArgumentParser) -> None:
    """--max-file-bytes N and its siblings, for `run` and `check`."""
    for name in limit_names():
        default = getattr(DEFAULTS, name)
        parser.add_argument(
            FileLimits.option(name),
            type=int,
            metavar="N",
            dest=f"max_{name}",
            help=f"scenario file bound (default {default:,})",
        )


def apply_options(args: argparse.Namespace) -> None:
    override(**{name: getattr(args, f"max_{name}", None) for name in limit_names()})


def current() -> FileLimits:
    return _current


def limit_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(FileLimits))


class Refused(OSError):
    """The file crosses a bound; `line` and `column` are 1-based. An OSError, so that code
    reading files as it may fail reading them handles it too."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


def _bound(name: str, limit: int, what: str) -> str:
    return f"{what} (limit {name}: {limit:,}; raise it with {FileLimits.option(name)} N)"


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes; Refused for a non-regular file or one beyond `file_bytes`.

    Stat first and open non-blocking, so a FIFO or device never blocks the reader; fstat again
    after opening in case the path was swapped in between. OSError as reading raises it.
    """
    limits = _current
    _check_stat(os.stat(path), limits)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        _check_stat(os.fstat(fd), limits)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limits.file_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > limits.file_bytes:  # it grew after the stat
        raise Refused(1, 1, _bound("file_bytes", limits.file_bytes, "the file is too large"))
    return data


_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _check_stat(st: os.stat_result, limits: FileLimits) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise Refused(1, 1, f"{kind}, not a regular file: a scenario is read from a regular file")
    if st.st_size > limits.file_bytes:
        raise Refused(1, 1, _bound("file_bytes", limits.file_bytes, f"the file is too large: {st.st_size:,} bytes"))


def refusal(text: str) -> tuple[int, int, str] | None:
    """(line, column, message) of the first bound `text` crosses, or None.

    Text libyaml cannot read is left to the exact loader, which reports it at its position
    (it composes without expanding aliases, so nothing large is built before that error).
    """
    from yaml import YAMLError, _yaml  # PyYAML's libyaml binding; imported late for start-up speed
    from yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent

    limits = _current
    max_nodes, max_depth, max_chars = limits.yaml_nodes, limits.yaml_depth, limits.scalar_chars
    get_event = _yaml.CParser(text).get_event
    anchors: dict[str, int] = {}  # anchor -> nodes it stands for
    opened: list[tuple[int, str | None]] = []  # open collections: (nodes counted before it, anchor)
    nodes = 0
    try:
        while (event := get_event()) is not None:
            if isinstance(event, ScalarEvent):
                nodes += 1
                if len(event.value) > max_chars:
                    return _at(event, _bound("scalar_chars", max_chars, f"a scalar of {len(event.value):,} characters"))
                if event.anchor is not None:
                    anchors[event.anchor] = 1
            elif isinstance(event, CollectionStartEvent):
                opened.append((nodes, event.anchor))
                nodes += 1
                if len(opened) > max_depth:
                    return _at(event, _bound("yaml_depth", max_depth, f"collections nested {len(opened)} deep"))
            elif isinstance(event, CollectionEndEvent):
                before, anchor = opened.pop()
                if anchor is not None:
                    anchors[anchor] = nodes - before
            elif isinstance(event, AliasEvent):
                nodes += anchors.get(event.anchor, 1)  # an unknown alias is the loader's to report
            else:
                continue
            if nodes > max_nodes:
                how = " through aliases" if isinstance(event, AliasEvent) else ""
                return _at(
                    event, _bound("yaml_nodes", max_nodes, f"the document expands to over {max_nodes:,} nodes{how}")
                )
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is not None and "nesting depth" in str(getattr(exc, "problem", "")):  # libyaml's own bound (1000)
            what = f"collections nested over {min(max_depth, 1000)} deep"
            return mark.line + 1, mark.column + 1, _bound("yaml_depth", max_depth, what)
        return None
    return None


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_within_bounds(text: str) -> bool:
    """A JSON text's nesting and strings are within the bounds (JSON has no aliases).

    For the fast reader of JSON (fastload.py), which must not pay for a YAML event pass: the
    strings cut out and the brackets left counted, at the speed of the `re` module.
    """
    limits = _current
    structure = _JSON_STRING.sub("", text)
    if len(text) - len(structure) > limits.scalar_chars and any(
        m.end() - m.start() - 2 > limits.scalar_chars for m in _JSON_STRING.finditer(text)
    ):
        return False
    brackets = _NOT_BRACKET.sub("", structure)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) <= limits.yaml_depth


def _at(event: object, message: str) -> tuple[int, int, str]:
    mark = event.start_mark  # type: ignore[attr-defined]
    return mark.line + 1, mark.column + 1, message
