"""The generic stateful CRUD behaviour: how every API path answers without special handling.

Inferred from the API description: a collection lists its items and creates new ones, an
item is read, updated and deleted with everything below it, a directory index lists its
literal children, and a leaf answers its stored value, or a deterministic value generated
from its `returns` schema, which it then keeps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson

from . import synth, wire
from .apidesc import ApiNode
from .state import MISSING, StateStore, coerce_key, join
from .tasks import TaskRequest, task_type_for
from .world import Call

# Parameters Proxmox uses to steer an update rather than to set a value.
_CONTROL_PARAMS = frozenset({"delete", "digest", "revert", "skiplock", "background_delay"})


def handle(call: Call) -> Any:
    method = call.method
    node = call.node
    if method == "GET":
        return _get(call)
    if method == "POST":
        if node.kind == "collection":
            return _finish(call, _create(call))
        if node.param is not None and "GET" in node.ops and not call.store.has(call.segments):
            return _finish(call, _create_at_item(call))
        if "GET" in node.ops and node.kind == "leaf":
            return _finish(call, _update(call))
        return _finish(call, None)
    if method == "PUT":
        return _finish(call, _update(call))
    if method == "DELETE":
        return _finish(call, _delete(call))
    raise wire.not_implemented(method, call.path)


# --- reading ---------------------------------------------------------------------------------


def _get(call: Call) -> Any:
    node, store, segs = call.node, call.store, call.segments
    if node.kind == "collection" and call.op.returns.get("type") == "array":
        if not _filters(node, call.args):
            return call.world.cached(("items", *segs), lambda: wire.Encoded(store.items(segs)))
        return filter_items(node, store.items(segs), call.args)
    stored = store.get(segs)
    if node.param is not None and stored is MISSING:
        raise _missing_item(node, segs, call.params)
    if stored is not MISSING and node.kind != "index":
        return with_digest(call.op.returns, stored, call.scenario.service)
    if node.kind == "index":
        return [{node.index_field: seg} for seg in node.literal_children]
    value = synth.generate(call.op.returns, call.scenario.seed, join(segs), call.params, store.keys("/nodes"))
    store.set(segs, value)
    # The digest of the value as kept, so that the first answer's digest guards an update too.
    return with_digest(call.op.returns, value, call.scenario.service)


def _filters(node: ApiNode, args: dict[str, Any]) -> dict[str, Any]:
    """The query parameters of a listing that are item fields (not path parameters)."""
    if not args:
        return {}
    fields = ((node.ops["GET"].returns.get("items") or {}).get("properties") or {}).keys()
    return {k: v for k, v in args.items() if k in fields and "{" + k + "}" not in node.segments}


def filter_items(node: ApiNode, items: list[Any], args: dict[str, Any]) -> list[Any]:
    """Filter a listing on query parameters that are item fields, as Proxmox's lists do."""
    wanted = _filters(node, args)
    if not wanted:
        return items
    return [
        item
        for item in items
        if isinstance(item, dict) and all(_field_matches(item.get(k), v) for k, v in wanted.items())
    ]


def _field_matches(have: Any, want: Any) -> bool:
    if have is None:
        return False
    if have == want or str(have) == str(want):
        return True
    if isinstance(have, str) and "," in have:
        return str(want) in have.split(",")
    return False


_HASHES = {service: getattr(hashlib, name) for service, name in wire.DIGEST_ALGORITHMS.items()}


def digest_of(value: Any, service: str) -> str:
    """The `digest` `service` hands out for edits (SHA-1 on PVE, SHA-256 on PBS and PDM), over
    the value's canonical JSON without its own `digest`: the same content, the same digest."""
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "digest"}
    return _HASHES[service](orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def with_digest(returns: dict[str, Any], value: Any, service: str) -> Any:
    """`value` with its `digest` when the answer's schema declares one."""
    if isinstance(value, dict) and "digest" in (returns.get("properties") or {}):
        return {**value, "digest": digest_of(value, service)}
    return value


# --- checks ----------------------------------------------------------------------------------


def check_ancestors(store: StateStore, node: ApiNode, segs: list[str], params: dict[str, str]) -> None:
    """Every item named on the path must exist: a missing guest is an error, never invented."""
    check_items(store, ancestors_to_check(node), segs, params)


def ancestors_to_check(node: ApiNode) -> tuple[tuple[int, ApiNode], ...]:
    """The items `check_ancestors` looks for below `node`'s path, root first: (how many
    segments name the item, its node); the same for every path of `node`, so computed once."""
    chain = []
    cur: ApiNode | None = node
    while cur is not None and cur.parent is not None:
        chain.append(cur)
        cur = cur.parent
    chain.reverse()
    return tuple(
        (depth, n)
        for depth, n in enumerate(chain, start=1)
        if n.param is not None and n is not node and n.parent is not None and n.parent.kind == "collection"
    )


def check_items(
    store: StateStore, items: tuple[tuple[int, ApiNode], ...], segs: list[str], params: dict[str, str]
) -> None:
    """Each of `items` (from `ancestors_to_check`) must be stored, else Proxmox's error for it."""
    for depth, n in items:
        if not store.has(segs[:depth]):
            raise _missing_item(n, segs[:depth], params)


def _missing_item(node: ApiNode, segs: list[str], params: dict[str, str]) -> wire.ApiError:
    parent = node.parent
    return wire.missing_object(parent.path if parent else "/", segs[-1], params)


def _check_digest(call: Call, current: Any) -> None:
    want = call.args.get("digest")
    if want and isinstance(current, dict) and str(want) != digest_of(current, call.scenario.service):
        raise wire.DIGEST_MISMATCH


# --- writing ---------------------------------------------------------------------------------

Effect = Callable[[], Any]


def _fields(call: Call, drop: tuple[str, ...] = (), into: dict[str, Any] | None = None) -> dict[str, Any]:
    """The values a write sets: its arguments without path parameters, control keys and
    `drop`, added to `into` (a new item's key first) or to a new dict."""
    params = call.params
    out = {} if into is None else into
    for k, v in call.args.items():
        if k not in params and k not in _CONTROL_PARAMS and k not in drop:
            out[k] = v
    return out


def _create(call: Call) -> Effect:
    node, store = call.node, call.store
    key_name = node.key or ""
    field_name = node.key_field or key_name  # snapshots are keyed by {snapname}, listed by `name`
    key = call.args.get(key_name, call.args.get(field_name))
    if key is None:
        key = _next_key(store, node, call.segments)
    item_path = [*call.segments, str(key)]
    if store.has(item_path):
        raise wire.already_exists(node.path, str(key), call.params)
    item = _fields(call, (key_name, field_name), {field_name: coerce_key(node, str(key))})

    def effect() -> Any:
        store.set(item_path, item)
        return item

    return effect


def _create_at_item(call: Call) -> Effect:
    node, store, segs = call.node, call.store, call.segments
    parent = node.parent
    key_name = (parent.key_field if parent else None) or node.param or ""
    item = _fields(call, (), {key_name: coerce_key(parent, segs[-1]) if parent else segs[-1]})

    def effect() -> Any:
        store.set(segs, item)
        return item

    return effect


def _update(call: Call) -> Effect:
    node, store, segs = call.node, call.store, call.segments
    current = store.get(segs)
    if current is MISSING:
        if node.param is not None:
            raise _missing_item(node, segs, call.params)
        get = node.ops.get("GET")
        current = (
            synth.generate(get.returns, call.scenario.seed, join(segs), call.params, store.keys("/nodes"))
            if get
            else {}
        )
    _check_digest(call, current)
    fields = _fields(call)
    removed = _delete_list(call.args.get("delete"))

    def effect() -> Any:
        value = store.get(segs)
        if value is MISSING or not isinstance(value, dict):
            value = dict(current) if isinstance(current, dict) else {}
        else:
            value = dict(value)
        value.update(fields)
        for key in removed:
            value.pop(key, None)
        store.set(segs, value)
        return None

    return effect


def _delete_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [k for k in str(value).replace(";", ",").replace(" ", ",").split(",") if k]


def _delete(call: Call) -> Effect:
    node, store, segs = call.node, call.store, call.segments
    if node.param is not None:
        if not store.has(segs):
            raise _missing_item(node, segs, call.params)
        return lambda: store.delete(segs)
    if node.kind == "collection" and node.key in call.args:
        item = [*segs, str(call.args[node.key])]
        if not store.has(item):
            raise _missing_item(node.param_child or node, item, call.params)
        return lambda: store.delete(item)
    return lambda: None


def _next_key(store: StateStore, node: ApiNode, segs: list[str]) -> str:
    keys = store.keys(segs)
    numbers = [int(k) for k in keys if k.isdigit()]
    if numbers or not keys:
        return str(max(numbers, default=0) + 1)
    return f"{node.key}{len(keys) + 1}"


def _finish(call: Call, effect: Effect | None) -> Any:
    """Apply the effect now, or hand it to a task when Proxmox answers this call with a UPID."""
    if call.op.returns_upid or call.as_task:
        return TaskRequest(
            node=call.params.get("node") or first_node(call.store),
            type=task_type_for(call.method, call.node.path),
            id=task_id_for(call),
            user=call.actor,
            effect=effect,
        )
    if effect is not None:
        effect()
    returns = call.op.returns
    if not returns or returns.get("type") in (None, "null"):
        return None
    return synth.generate(
        returns, call.scenario.seed, f"{call.method} {call.path}", call.params, call.store.keys("/nodes")
    )


def task_id_for(call: Call) -> str:
    for name in ("vmid", "storage", "store", "name", "id"):
        if name in call.params:
            return call.params[name]
    if "vmid" in call.args:
        return str(call.args["vmid"])
    return ""


def first_node(store: StateStore) -> str:
    keys = store.keys("/nodes")
    return keys[0] if keys else "localhost"
