"""Field-aware generated values: what a property's name, format, enum and bounds make of it."""

from __future__ import annotations

import re
import time

from test_placeholders import _placeholder

from scenariod import synth

SCHEMA = {
    "type": "object",
    "properties": {
        name: {"type": kind}
        for name, kind in {
            "nextduedate": "string",
            "regdate": "string",
            "devpath": "string",
            "hwaddr": "string",
            "ctime": "integer",
            "size": "integer",
            "uuid": "string",
            "node": "string",
            "version": "string",
            "digest": "string",
            "fingerprint": "string",
            "address": "string",
            "email": "string",
            "url": "string",
            "volid": "string",
            "active": "boolean",
            "level": "string",
            "key": "string",
            "health": "string",
            "starttime": "string",
        }.items()
    },
}


def test_values_follow_the_property_names():
    v = synth.generate(SCHEMA, 7, "/x", nodes=["pve1", "pve2"])
    anchor = synth.ANCHOR_EPOCH
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", v["nextduedate"]) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v["regdate"])
    assert v["nextduedate"] > time.strftime("%Y-%m-%d", time.gmtime(anchor)) > v["regdate"]
    assert v["devpath"].startswith("/dev/") and v["hwaddr"].startswith("BC:24:11:")
    assert anchor - 31 * 86400 < v["ctime"] <= anchor and v["size"] >= 1024**3
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}", v["uuid"])
    assert v["node"] in ("pve1", "pve2") and re.fullmatch(r"\d+\.\d+\.\d+", v["version"])
    assert re.fullmatch(r"[0-9a-f]{40}", v["digest"]) and len(v["fingerprint"].split(":")) == 32
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", v["address"]) and "@" in v["email"] and v["url"].startswith("https://")
    assert re.fullmatch(r"[a-z-]+:vm-\d+-disk-\d+", v["volid"]) and v["active"] in (0, 1)
    assert v["health"] == "PASSED" and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", v["starttime"])
    assert not any(isinstance(x, str) and _placeholder(k, x, "") for k, x in v.items())


def test_enum_format_bounds_and_property_strings():
    schema = {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["notfound", "active"]},
            "ip": {"type": "string", "format": "ipv4"},
            "storages": {"type": "string", "format": "pve-storage-id-list"},
            "pct": {"type": "integer", "minimum": 0, "maximum": 100},
            "net0": {"type": "string", "format": {"model": {"type": "string", "default_key": 1, "enum": ["virtio"]},
                                                  "bridge": {"type": "string", "format": "pve-bridge-id"}}},
            "anything": {"type": "string"},
            "lines": {"type": "array", "items": {"type": "object", "properties": {}}},
        },
    }  # fmt: skip
    for seed in range(20):
        v = synth.generate(schema, seed, "/y")
        assert v["status"] in ("notfound", "active") and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", v["ip"])
        assert v["storages"] in ("local", "local-lvm") and 0 <= v["pct"] <= 100
        assert v["net0"] == "virtio,bridge=vmbr0" and v["lines"] == []
        assert v["anything"] and not _placeholder("anything", v["anything"], "")


def test_the_same_seed_and_path_answer_the_same_value():
    assert synth.generate(SCHEMA, 1, "/a", nodes=["n1"]) == synth.generate(SCHEMA, 1, "/a", nodes=["n1"])
    assert synth.generate(SCHEMA, 1, "/a") != synth.generate(SCHEMA, 2, "/a")
