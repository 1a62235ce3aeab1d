"""Where each node of a scenario file is, however the file was read.

ruamel.yaml's round trip (`yaml_loader`) knows every node's line and column; it is the exact
reading, used for files with problems. The fast reading (fastload) knows only the plain
values and where each top-level section's text is; a `Positions` object answers for either,
and says when it cannot tell (then the file is read again the exact way).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from .. import cache, fastload
from .model import MISSING

# The sections whose positions a valid scenario keeps: rule sources (`FILE:LINE`).
POSITIONED = ("routes", "faults", "tasks", "expect")


def yaml_loader() -> Any:
    """A round-trip YAML reader that records duplicate keys instead of stopping at the first."""
    # ruamel.yaml is imported when a file is first read this way, for start-up speed: valid
    # files are read by fastload, and remembered ones (cache.py) are not read at all.
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


def key_text(key: Any) -> str:
    if isinstance(key, str):
        return str(key)
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, (int, float)):
        return str(key)
    return str(key)


def plain(x: Any) -> Any:
    """Round-trip nodes -> plain dict/list/str/int/float/bool/None (dates -> ISO text)."""
    if isinstance(x, dict):
        return {key_text(k): plain(v) for k, v in x.items()}
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
        return [plain(v) for v in x]
    if isinstance(x, (datetime.datetime, datetime.date)):
        return x.isoformat()
    if isinstance(x, (set, frozenset)):
        return [plain(v) for v in x]
    value = getattr(x, "value", MISSING)  # TaggedScalar and friends
    if value is not MISSING:
        return plain(value)
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    return str(x)


def position_in(root: Any, path: Sequence, at: str) -> tuple[int, int]:
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
                orig = next((ok for ok in node if key_text(ok) == k), MISSING)
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


class Positions:
    """1-based (line, column) of the nodes of one file by path, of a value or (at="key") of
    its key; `find` answers None when this reading cannot tell.

    - `Positions.exact(text, root)`: ruamel.yaml's tree of the whole file; it knows every node.
    - `Positions.fast(text, doc, sections, known, entries)`: after the fast reading. A rule
      section (`POSITIONED`), or one entry of `state` (`entries`: a seed `check` warns about),
      is read alone with ruamel.yaml when first asked about, and trusted only if it reads to
      the same values. `known`: the positions a memo remembers (cache.py) of a clean load of
      this text, whose document may come without sections.

    Every position looked up is kept in `found`: a clean load's memo remembers them.
    """

    def __init__(
        self,
        text: str,
        root: Any = None,
        doc: Any = None,
        sections: dict[str, fastload.Section] | None = None,
        known: cache.Positions | None = None,
        entries: dict[str, fastload.Section] | None = None,
    ) -> None:
        self.text = text
        self.root = root
        self.doc = doc
        self.sections = sections
        self.known = known
        self.entries = entries or {}
        self.found: cache.Positions = {}
        self._section_trees: dict[tuple[str, ...], tuple[Any, int, int] | None] = {}

    @classmethod
    def exact(cls, text: str, root: Any) -> Positions:
        return cls(text, root=root)

    @classmethod
    def fast(
        cls,
        text: str,
        doc: Any,
        sections: dict[str, fastload.Section],
        known: cache.Positions | None = None,
        entries: dict[str, fastload.Section] | None = None,
    ) -> Positions:
        return cls(text, doc=doc, sections=sections, known=known, entries=entries)

    def find(self, path: Sequence, at: str = "value") -> tuple[int, int] | None:
        key = (tuple(path), at)
        if self.known is not None and key in self.known:
            return self.known[key]
        tree = self._tree_for(path)
        if tree is None:
            return None
        root, first_line, first_col = tree
        inside = path[1:] if self.sections is not None and path[0] not in POSITIONED else path  # an entry's tree
        line, col = position_in(root, inside, at)
        found = self.found[key] = (first_line + line + 1, (first_col if line == 0 else 0) + col + 1)
        return found

    def _tree_for(self, path: Sequence) -> tuple[Any, int, int] | None:
        """The ruamel tree that holds `path`, and the 0-based line and column where its text
        starts in the file (the whole file's tree, or after a fast reading its section's)."""
        if self.sections is None:
            return self.root, 0, 0
        if path and path[0] in POSITIONED:
            where = (path[0],)
            section, value = self.sections.get(path[0]), self.doc[path[0]]
        elif len(path) > 1 and path[0] == fastload.ENTRIES_OF and path[1] in self.entries:
            where = (path[0], path[1])
            section, value = self.entries[path[1]], self.doc[path[0]][path[1]]
        else:
            return None
        if where not in self._section_trees:
            self._section_trees[where] = self._read_section(where[-1], section, value)
        return self._section_trees[where]

    def _read_section(self, name: str, section: fastload.Section | None, value: Any) -> tuple[Any, int, int] | None:
        """One section (or entry) `name: value` read alone the exact way; None unless it reads the same."""
        if section is None:  # a memo's document has no sections
            return None
        piece = self.text[section.start : section.end]
        try:
            tree = yaml_loader().load("{" + piece + "}" if section.flow else piece)
        except Exception:  # noqa: BLE001 - any doubt: the exact reading decides
            return None
        if not isinstance(tree, dict) or plain(tree) != {name: value}:
            return None
        line, col = fastload.line_col(self.text, section.start)
        return tree, line, col - 1 if section.flow else col  # "{" came before the section
