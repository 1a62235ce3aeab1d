"""Bind every GET path of an API from a running server's seeded state, for sweep tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from scenariod.apidesc import ApiDescription, ApiNode
from scenariod.state import StateStore

TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (int, bool),
    "null": (type(None),),
}


def bindings(api: ApiDescription, store: StateStore) -> Iterator[tuple[ApiNode, str | None]]:
    """(node, concrete path) for every GET path; the path is None when it cannot be bound."""
    for node in api.nodes:
        if "GET" not in node.ops:
            continue
        yield node, _bind(node, store)


def _bind(node: ApiNode, store: StateStore) -> str | None:
    """The first binding of the path's parameters to seeded items, trying each in turn."""

    def walk(i: int, concrete: list[str]) -> list[str] | None:
        if i == len(node.segments):
            return concrete
        seg = node.segments[i]
        if not seg.startswith("{"):
            return walk(i + 1, [*concrete, seg])
        for key in store.keys(concrete):
            found = walk(i + 1, [*concrete, key])
            if found is not None:
                return found
        return None

    bound = walk(0, [])
    return None if bound is None else "/" + "/".join(quote(s, safe="") for s in bound)


def required_query(node: ApiNode) -> dict[str, Any] | None:
    """Values for the GET's required non-path parameters, or None if one cannot be made up."""
    params = node.ops["GET"].parameters.get("properties") or {}
    path_params = {s[1:-1] for s in node.segments if s.startswith("{")}
    out: dict[str, Any] = {}
    for name, spec in params.items():
        if name in path_params or spec.get("optional"):
            continue
        if spec.get("enum"):
            out[name] = spec["enum"][0]
        elif spec.get("type") in ("integer", "number"):
            out[name] = spec.get("minimum", 1)
        elif spec.get("type") == "boolean":
            out[name] = 0
        else:
            return None
    return out


def type_ok(returns: dict[str, Any], value: Any) -> bool:
    kind = returns.get("type")
    if kind is None or kind == "any":
        return True
    kinds = kind if isinstance(kind, list) else [kind]
    allowed = tuple(t for k in kinds for t in TYPES.get(k, (object,)))
    if returns.get("optional") and value is None:
        return True
    return isinstance(value, allowed)
