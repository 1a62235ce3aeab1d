"""No answer a person would recognise as fake: a sweep of every bindable GET path of every
pinned scenario for placeholders (`<field><digits>`) and values outside the declared enum or
format of the path's `returns` schema."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import SCENARIOS, Running, serving
from sweep import bindings, required_query

PINNED = sorted(p for p in SCENARIOS.rglob("*.yaml"))

# What a named format must look like (params.py's formats; the ones generated values use).
FORMATS: dict[str, re.Pattern[str]] = {
    "ipv4": re.compile(r"^\d{1,3}(\.\d{1,3}){3}$"),
    "ipv6": re.compile(r"^[0-9a-fA-F:]+$"),
    "mac-addr": re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"),
    "CIDRv4": re.compile(r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$"),
    "pve-vmid": re.compile(r"^\d+$"),
    "pve-node": re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$"),
    "pve-storage-id": re.compile(r"^[a-z][a-z0-9\-_.]*[a-z0-9]$", re.I),
    "email": re.compile(r"^[^@\s]+@[^@\s]+$"),
}


def _placeholder(key: str, value: str, authored: str) -> bool:
    """`value` is `key` (or the generator's anonymous `value`/`item`) followed by digits, and
    not a name the scenario's author wrote (a datastore `store1` is theirs to choose)."""
    m = re.fullmatch(r"(.*?)(\d+)", value)
    if m is None or value in authored:
        return False
    stem = m.group(1).lower()
    return bool(stem) and stem in {key.lower(), "value", "item"}


def problems(schema: dict[str, Any], value: Any, where: str, authored: str, key: str = "value") -> list[str]:
    """Placeholders anywhere in `value`; enum and format breaches where the schema declares them."""
    out: list[str] = []
    schema = schema if isinstance(schema, dict) else {}
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            sub = props.get(k) or (extra if isinstance(extra, dict) else {})
            out += problems(sub, v, f"{where}.{k}", authored, str(k))
    elif isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        for i, v in enumerate(value):
            out += problems(items, v, f"{where}[{i}]", authored, key)
    elif isinstance(value, str):
        if _placeholder(key, value, authored):
            out.append(f"{where}: placeholder {value!r}")
        enum = schema.get("enum")
        if enum and value not in [str(e) for e in enum]:
            out.append(f"{where}: {value!r} not in enum {enum}")
        pattern = FORMATS.get(str(schema.get("format")))
        if pattern is not None and value and not pattern.match(value):
            out.append(f"{where}: {value!r} is not a {schema['format']}")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        enum = schema.get("enum")
        if enum and value not in enum and str(value) not in [str(e) for e in enum]:
            out.append(f"{where}: {value!r} not in enum {enum}")
    return out


def sweep(running: Running, authored: str) -> tuple[int, list[str]]:
    api = running.service.scenario.api
    store = running.service.world.store
    checked, found = 0, []
    for node, path in bindings(api, store):
        query = required_query(node)
        if path is None or query is None or "{upid}" in node.path:
            continue
        r = running.client.get(path, params=query)
        if r.status_code != 200 or "json" not in r.headers.get("content-type", ""):
            continue
        checked += 1
        found += problems(node.ops["GET"].returns, r.json().get("data"), path, authored)
    return checked, found


@pytest.mark.parametrize("path", PINNED, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_no_placeholder_and_no_value_outside_its_declared_enum_or_format(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path))
    for running in serving(path, login=True):
        started = time.perf_counter()
        checked, found = sweep(running, path.read_text())
        with capsys.disabled():
            print(f"\n{path.name}: {checked} GET paths checked in {time.perf_counter() - started:.2f}s")
        assert checked >= 40, checked
        assert not found, "\n".join(found)
