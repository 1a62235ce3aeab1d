"""The state store: what the mock cluster holds, as a tree of concrete API paths.

A collection's items live at their own paths (`/nodes/pve1/qemu/100`), so that deleting
an item removes everything below it and listing a collection is a walk over one node's
children. `generation` changes on every write, so derived views can be cached until then;
`version(section)` changes with every write below one top-level segment, so what reads only
that section (a token's verdict reads `/access`) outlives writes elsewhere.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from .apidesc import ApiDescription, ApiNode
from .gcpause import gc_paused
from .scenario.model import MISSING  # the package's one "no value" (absent paths here)


class _Node:
    __slots__ = ("value", "children")

    def __init__(self) -> None:
        self.value: Any = MISSING
        # Most nodes are leaves (every item of a large collection): they share the one empty
        # _LEAF until something is stored below them (`_kids`), 64 bytes less per item.
        self.children: dict[str, _Node] = _LEAF

    def __deepcopy__(self, memo: dict[int, Any]) -> _Node:
        other = memo[id(self)] = _Node()  # an aliased subtree (`alias`) stays one in the copy
        other.value = copy.deepcopy(self.value, memo)
        if self.children is not _LEAF:
            other.children = {seg: copy.deepcopy(child, memo) for seg, child in self.children.items()}
        return other


_LEAF: dict[str, _Node] = {}  # never written: `_kids` gives a node its own dict first


def _kids(node: _Node) -> dict[str, _Node]:
    """`node`'s children, to add to."""
    if node.children is _LEAF:
        node.children = {}
    return node.children


def normalize(path: str) -> str:
    """`/api2/json/nodes/` -> `/nodes`; the one spelling every module uses."""
    if path.startswith("/api2/json"):
        path = path[len("/api2/json") :]
    path = path.strip("/")
    return "/" + path if path else "/"


PathLike = str | tuple[str, ...] | list[str]


def split(path: PathLike) -> list[str]:
    """Segments of a path; a tuple or list is taken as already split (keys may hold '/')."""
    if isinstance(path, str):
        return [s for s in path.split("/") if s]
    return list(path)


def join(segs: PathLike) -> str:
    return "/" + "/".join(split(segs))


class StateStore:
    """A tree of values keyed by concrete API path segments."""

    def __init__(self) -> None:
        self._root = _Node()
        self.generation = 0
        self._sections: dict[str, int] = {}  # writes below each top-level segment
        self._anywhere = 0  # writes that name no one section (the root, `touch`)

    def version(self, section: str) -> int:
        """A number that changes with every write below `/section`, and with every write that
        names no section (`touch`): what a view of that section alone is cached on."""
        return self._sections.get(section, 0) + self._anywhere

    def _wrote(self, segs: list[str] | tuple[str, ...]) -> None:
        self.generation += 1
        if segs:
            sections = self._sections
            sections[segs[0]] = sections.get(segs[0], 0) + 1
        else:
            self._anywhere += 1

    # -- reading ---------------------------------------------------------------------------

    def _find(self, path: PathLike) -> _Node | None:
        node = self._root
        for seg in split(path) if isinstance(path, str) else path:  # segments as given: no copy
            node = node.children.get(seg)  # type: ignore[assignment]
            if node is None:
                return None
        return node

    def get(self, path: PathLike, default: Any = MISSING) -> Any:
        node = self._find(path)
        if node is None or node.value is MISSING:
            return default
        return node.value

    def has(self, path: PathLike) -> bool:
        node = self._find(path)
        return node is not None and node.value is not MISSING

    def exists(self, path: PathLike) -> bool:
        """True when anything is stored at or below `path`."""
        return self._find(path) is not None

    def items(self, path: PathLike) -> list[Any]:
        """The values stored directly below `path` (a collection's items), in insertion order."""
        node = self._find(path)
        if node is None:
            return []
        return [c.value for c in node.children.values() if c.value is not MISSING]

    def keys(self, path: PathLike) -> list[str]:
        node = self._find(path)
        if node is None:
            return []
        return [k for k, c in node.children.items() if c.value is not MISSING]

    def export(self) -> dict[str, Any]:
        """Every stored value by path: what the control API shows."""
        out: dict[str, Any] = {}

        def walk(node: _Node, prefix: str) -> None:
            if node.value is not MISSING:
                out[prefix or "/"] = node.value
            for seg, child in node.children.items():
                walk(child, f"{prefix}/{seg}")

        walk(self._root, "")
        return out

    def walk(self, path: PathLike = "/") -> Iterator[tuple[str, Any]]:
        """Every value at or below `path` with its path, parents first."""
        for segs, value in self.entries(path):
            yield join(segs), value

    def entries(self, path: PathLike = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
        """`walk` with paths as segments, for callers whose keys may hold '/' (a joined path
        would not split back into the same keys)."""
        node = self._find(path)
        if node is None:
            return
        stack = [(tuple(split(path)), node)]
        while stack:
            segs, n = stack.pop()
            if n.value is not MISSING:
                yield segs, n.value
            stack.extend((segs + (s,), c) for s, c in reversed(n.children.items()))

    # -- writing ---------------------------------------------------------------------------

    def set(self, path: PathLike, value: Any) -> None:
        node = self._root
        segs = split(path) if isinstance(path, str) else path  # segments as given: no copy
        for seg in segs:
            child = node.children.get(seg)
            if child is None:
                child = _kids(node)[seg] = _Node()
            node = child
        node.value = value
        self._wrote(segs)

    def setdefault(self, path: PathLike, value: Any) -> Any:
        current = self.get(path)
        if current is MISSING:
            self.set(path, value)
            return value
        return current

    def delete(self, path: PathLike) -> bool:
        """Remove the value at `path` and everything below it."""
        segs = split(path)
        if segs:
            parent = self._find(segs[:-1])
            if parent is None or segs[-1] not in parent.children:
                return False
            del parent.children[segs[-1]]
        else:
            self._root = _Node()
        self._wrote(segs)
        return True

    def move(self, src: PathLike, dst: PathLike) -> None:
        """Move a subtree (a migrated guest changes node with everything below it)."""
        segs = split(src)
        parent = self._find(segs[:-1])
        if parent is None or segs[-1] not in parent.children:
            return
        subtree = parent.children.pop(segs[-1])
        dsegs = split(dst)
        node = self._root
        for seg in dsegs[:-1]:
            node = _kids(node).setdefault(seg, _Node())
        _kids(node)[dsegs[-1]] = subtree
        self._wrote(segs)
        self._wrote(dsegs)

    def clear(self, path: PathLike) -> bool:
        """Remove the value at `path` but keep what is stored below it (`delete` removes both)."""
        node = self._find(path)
        if node is None or node.value is MISSING:
            return False
        node.value = MISSING
        self._wrote(split(path))
        return True

    def alias(self, path: PathLike, target: PathLike) -> bool:
        """Make `path` a second name for the subtree at `target`: from then on a write through
        either name is read through both (PBS and PDM answer for their host as `localhost`).

        What was stored under `path` only is kept, moved under `target` (where both hold a
        value, `target`'s wins). False when nothing is stored at or below `target`, or the two
        already are one.
        """
        segs, tsegs = split(path), split(target)
        shared = self._find(tsegs)
        if shared is None or self._find(segs) is shared:
            return False
        if segs[: len(tsegs)] == tsegs or tsegs[: len(segs)] == segs:
            raise ValueError(f"{join(segs)} cannot name its own ancestor or descendant {join(tsegs)}")
        for below, value in list(self.entries(segs)):
            moved = [*tsegs, *below[len(segs) :]]
            if not self.has(moved):
                self.set(moved, value)
        parent = self._root
        for seg in segs[:-1]:
            parent = _kids(parent).setdefault(seg, _Node())
        _kids(parent)[segs[-1]] = shared
        self._wrote(segs)
        self._wrote(tsegs)
        return True

    def touch(self) -> None:
        """Mark a change made in place to a stored value (anywhere: every section's version moves)."""
        self._wrote(())

    def copy(self) -> StateStore:
        other = StateStore()
        other._root = copy.deepcopy(self._root)
        return other


# --- seeding -----------------------------------------------------------------------------------


def coerce_key(collection: ApiNode, key: str) -> Any:
    """Item keys come from path segments as text; store them typed as the API declares."""
    child = collection.param_child
    if child is not None and _key_is_integer(collection):
        try:
            return int(key)
        except ValueError:
            return key
    return key


def _key_is_integer(collection: ApiNode) -> bool:
    get = collection.ops.get("GET")
    if get is not None:
        props = (get.returns.get("items") or {}).get("properties") or {}
        spec = props.get(collection.key_field or collection.key)
        if spec is not None:
            return spec.get("type") == "integer"
    child = collection.param_child
    for op in child.ops.values() if child else ():
        spec = (op.parameters.get("properties") or {}).get(collection.key)
        if spec is not None:
            return spec.get("type") == "integer"
    return False


def ensure_ancestors(store: StateStore, api: ApiDescription, path: PathLike) -> None:
    """Seeding `/nodes/pve1/qemu/100/config` implies node pve1 and guest 100 exist."""
    segs = split(path)
    _descend(store, segs, api.path_nodes(segs))
    store.touch()


def _descend(store: StateStore, segs: list[str], nodes: list[ApiNode | None]) -> _Node:
    """The tree node at `segs`, made on the way down with the collection items the path
    implies (`nodes`: the API node of each prefix, `path_nodes`). One walk from the root,
    where has() and set() per item would walk from the root again for each."""
    tree = store._root
    for i, seg in enumerate(segs):
        child = tree.children.get(seg)
        if child is None:
            child = _kids(tree)[seg] = _Node()
        collection = nodes[i]  # the API node of segs[:i]: is `seg` one of its items?
        if collection is not None and collection.kind == "collection" and child.value is MISSING:
            child.value = {collection.key_field or collection.key: coerce_key(collection, seg)}
        tree = child
    return tree


_ATOMIC = frozenset({str, int, float, bool, type(None)})


def copy_plain(value: Any) -> Any:
    """A deep copy of plain data (dicts, lists, scalars), many times faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: v if type(v) in _ATOMIC else copy_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [v if type(v) in _ATOMIC else copy_plain(v) for v in value]
    return value


def seed(store: StateStore, api: ApiDescription, state: dict[str, Any]) -> None:
    """Load a scenario's `state` section (already validated) into `store`.

    Values are copied: each world changes its own, and the scenario stays as loaded.
    """
    with gc_paused():
        _seed(store, api, state)


def _seed(store: StateStore, api: ApiDescription, state: dict[str, Any]) -> None:
    for raw_path, value in state.items():
        segs = split(normalize(raw_path))
        nodes = api.path_nodes(segs)
        node = nodes[-1]
        if node is None:
            continue
        tree = _descend(store, segs, nodes)
        if node.kind == "collection" and isinstance(value, list):
            key_field = node.key_field or node.key
            for item in value:
                key = item.get(key_field)
                if key is None:
                    continue
                item_node = tree.children.get(str(key))
                if item_node is None:
                    item_node = _kids(tree)[str(key)] = _Node()
                item_node.value = copy_plain(item)
            if not value and tree.value is MISSING:
                tree.value = {}  # an explicitly empty collection: remember it exists
        else:
            tree.value = copy_plain(value)
    store.touch()
