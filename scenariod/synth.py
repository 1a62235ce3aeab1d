"""Deterministic values generated from a `returns` schema.

A GET leaf that the scenario did not seed still answers something of the declared type.
The value depends only on the scenario's `seed`, the concrete path and the schema, so the
same scenario answers the same bytes on every run.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

# Plausible values for the named string formats clients look at.
_FORMAT_VALUES: dict[str, Any] = {
    "pve-node": lambda r: "pve",
    "pve-storage-id": lambda r: r.choice(["local", "local-lvm"]),
    "pve-vmid": lambda r: r.randint(100, 999),
    "pve-configid": lambda r: f"cfg{r.randint(0, 99)}",
    "pve-poolid": lambda r: "pool1",
    "pve-userid": lambda r: "root@pam",
    "pve-realm": lambda r: "pam",
    "pve-bridge-id": lambda r: "vmbr0",
    "pve-iface": lambda r: f"eno{r.randint(1, 4)}",
    "ipv4": lambda r: f"192.0.2.{r.randint(2, 254)}",
    "ipv6": lambda r: f"2001:db8::{r.randint(1, 0xFFFF):x}",
    "ip": lambda r: f"192.0.2.{r.randint(2, 254)}",
    "CIDRv4": lambda r: f"192.0.2.{r.randint(2, 254)}/24",
    "CIDRv6": lambda r: "2001:db8::/64",
    "CIDR": lambda r: f"192.0.2.{r.randint(2, 254)}/24",
    "mac-addr": lambda r: "BC:24:11:" + ":".join(f"{r.randint(0, 255):02X}" for _ in range(3)),
    "email": lambda r: "admin@example.com",
    "email-opt": lambda r: "admin@example.com",
    "pve-tag": lambda r: "prod",
}

_NAMED_STRINGS: dict[str, Any] = {
    "digest": lambda r: "%040x" % r.getrandbits(160),
    "upid": lambda r: (
        f"UPID:pve:{r.randint(1000, 0xFFFFF):08X}:{r.randint(1, 0xFFFFFF):08X}:"
        f"{r.randint(0x60000000, 0x6FFFFFFF):08X}:qmstart:100:root@pam:"
    ),
    "node": lambda r: "pve",
    "storage": lambda r: "local",
    "name": lambda r: f"item{r.randint(1, 99)}",
    "type": None,
    "status": None,
    "version": lambda r: "9.2.0",
    "release": lambda r: "9.2",
    "repoid": lambda r: "%08x" % r.getrandbits(32),
    "comment": lambda r: "",
    "description": lambda r: "",
    "ip": lambda r: f"192.0.2.{r.randint(2, 254)}",
}


def rng_for(seed: int, path: str) -> random.Random:
    digest = hashlib.blake2b(f"{seed}\0{path}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def generate(schema: dict[str, Any], seed: int, path: str, params: dict[str, str] | None = None) -> Any:
    """A value of the schema's declared type, the same for the same (seed, path)."""
    return _value(schema or {}, rng_for(seed, path), params or {}, None, 0)


def _value(schema: dict[str, Any], r: random.Random, params: dict[str, str], name: str | None, depth: int) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if "enum" in schema and schema["enum"]:
        return r.choice(list(schema["enum"]))
    if name is not None and name in params and kind in ("string", "integer", None):
        value = params[name]
        if kind == "integer":
            try:
                return int(value)
            except ValueError:
                pass
        return value
    if kind == "object" or (kind is None and "properties" in schema):
        return _object(schema, r, params, depth)
    if kind == "array":
        if depth > 3:
            return []
        items = schema.get("items") or {}
        return [_value(items, r, params, None, depth + 1) for _ in range(r.randint(1, 3))]
    if kind == "integer":
        lo = int(schema.get("minimum", 0))
        hi = int(schema.get("maximum", max(lo, 0) + 4096))
        return r.randint(lo, max(lo, min(hi, lo + 1_000_000)))
    if kind == "number":
        lo = float(schema.get("minimum", 0))
        hi = float(schema.get("maximum", lo + 1))
        return round(r.uniform(lo, hi), 4)
    if kind == "boolean":
        return r.randint(0, 1)
    if kind == "string":
        return _string(schema, r, name)
    if kind == "null":
        return None
    return None


def _object(schema: dict[str, Any], r: random.Random, params: dict[str, str], depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        if sub.get("optional") and (depth > 1 or r.random() < 0.5):
            continue
        out[key] = _value(sub, r, params, key, depth + 1)
    return out


def _string(schema: dict[str, Any], r: random.Random, name: str | None) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMAT_VALUES:
        return str(_FORMAT_VALUES[fmt](r))
    if name is not None:
        make = _NAMED_STRINGS.get(name)
        if make is not None:
            return str(make(r))
    text = f"{name or 'value'}{r.randint(1, 999)}"
    limit = schema.get("maxLength")
    return text[: int(limit)] if limit else text
