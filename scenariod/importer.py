"""`scenariod import`: other mocks' data as a scenario, so their users move over in one command.

Two inputs are understood:
- proxmox-sdk's mock data file: a JSON or YAML mapping keyed by `/api2/json/...` paths (a
  concrete path, or a template such as `/api2/json/nodes/{node}/qemu` that applies to every
  binding), each value the answer's data (lists for collections);
- fakepve's guests file: `{"guests": [{vmid, name, type, node, status, config, template,
  lock, ...}]}`.

Every entry is either imported or reported at FILE:LINE (ruamel.yaml reads JSON too and
gives the lines): unknown paths, values state cannot hold, items without their key, and
views that disagree with each other (a guest in /cluster/resources missing from its node's
list is added there, and said).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from .apidesc import ApiDescription
from .snapshot import render, write_atomically

API_PREFIX = "/api2/json"
GUEST_TYPES = ("qemu", "lxc")
# fakepve guest fields that shape timing and faults, which a scenario expresses as `tasks` and
# `faults` rules: reported, not converted.
FAKEPVE_BEHAVIOUR = ("shutdown_secs", "start_secs", "stop_secs", "start_error", "ha_state", "agent", "acpi")
FAKEPVE_FIELDS = ("vmid", "name", "type", "node", "status", "qmpstatus", "config", "template", "lock", "ostemplate")
# /cluster/resources fields carried over to a node's or guest's list item when the item is missing.
NODE_FIELDS = ("status", "maxcpu", "cpu", "maxmem", "mem", "maxdisk", "disk", "uptime", "level")
GUEST_FIELDS = ("name", "status", "maxcpu", "cpu", "maxmem", "mem", "maxdisk", "disk", "uptime", "template", "tags")


@dataclass
class Import:
    """The state being built and what was said about the input."""

    file: str
    api: ApiDescription
    state: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    skipped: int = 0

    def report(self, line: int, message: str, dropped: bool = True) -> None:
        self.problems.append(f"{self.file}:{line}: {message}")
        self.skipped += dropped


def _line(container: Any, key: Any) -> int:
    try:
        if isinstance(key, int):
            return int(container.lc.item(key)[0]) + 1
        return int(container.lc.key(key)[0]) + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return getattr(getattr(container, "lc", None), "line", 0) + 1


def plain(value: Any) -> Any:
    """ruamel's containers as dicts and lists (what the writers take)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# --- proxmox-sdk ----------------------------------------------------------------------------------


def import_sdk(imp: Import, doc: dict[str, Any]) -> None:
    concrete = [k for k in doc if "{" not in str(k)]
    templates = sorted((k for k in doc if "{" in str(k)), key=lambda k: str(k).count("/"))
    for key in concrete + templates:
        line = _line(doc, key)
        raw = str(key)
        if not raw.startswith(API_PREFIX + "/"):
            imp.report(line, f"{raw!r} is not an /api2/json/... path; not imported")
            continue
        value = doc[key]
        if isinstance(value, dict) and set(value) == {"data"}:
            value = value["data"]  # the whole answer, envelope included
        path = raw[len(API_PREFIX) :].rstrip("/") or "/"
        for concrete_path in _expand(imp, path, line):
            _put(imp, concrete_path, value, line, doc[key])
    resources = imp.state.pop("/cluster/resources", None)
    if resources is not None:
        _from_resources(imp, resources, _line(doc, API_PREFIX + "/cluster/resources"))
    _check_guest_nodes(imp)


def _expand(imp: Import, path: str, line: int) -> list[str]:
    """A template's concrete paths: each `{param}` bound to the items already imported."""
    paths = [""]
    for seg in path.strip("/").split("/"):
        if not (seg.startswith("{") and seg.endswith("}")):
            paths = [f"{p}/{seg}" for p in paths]
            continue
        bound = []
        for p in paths:
            node = imp.api.resolve(p or "/")
            items = imp.state.get(p)
            key = node[0].key_field or node[0].key if node else None
            if isinstance(items, list) and key:
                bound += [f"{p}/{item[key]}" for item in items if isinstance(item, dict) and key in item]
        if not bound:
            imp.report(line, f"{path}: nothing imported binds {seg}; not imported")
            return []
        paths = bound
    return paths or ["/"]


def _put(imp: Import, path: str, value: Any, line: int, source: Any) -> None:
    resolved = imp.api.resolve(path)
    if resolved is None:
        near = imp.api.nearest(path)
        hint = f" (did you mean {near}?)" if near else ""
        imp.report(line, f"{path} is not a path of the PVE API{hint}; not imported")
        return
    node, _ = resolved
    if "GET" not in node.ops:
        imp.report(line, f"{path} has no GET; not imported")
        return
    value = plain(value)
    if node.kind == "collection" and node.ops["GET"].returns.get("type") == "array":
        if not isinstance(value, list):
            imp.report(line, f"{path} is a collection: a list of items was expected; not imported")
            return
        key = node.key_field or node.key
        kept = []
        for i, item in enumerate(value):
            if isinstance(item, dict) and item.get(key) is not None:
                kept.append(item)
            else:
                imp.report(_line(source, i), f"{path}: item {i + 1} has no {key!r}; not imported")
        value = kept
    imp.state[path] = value


def _from_resources(imp: Import, resources: Any, line: int) -> None:
    """/cluster/resources is derived by scenariod: its entries become nodes, guests and storages."""
    if not isinstance(resources, list):
        imp.report(line, "/cluster/resources: a list was expected; not imported")
        return
    nodes = imp.state.setdefault("/nodes", [])
    for entry in resources:
        if not isinstance(entry, dict):
            imp.report(line, f"/cluster/resources: {entry!r} is not an entry; not imported")
            continue
        kind, node = entry.get("type"), entry.get("node")
        if kind == "node" and node:
            if not _find(nodes, "node", node):
                nodes.append({"node": node, **{k: entry[k] for k in NODE_FIELDS if k in entry}})
        elif kind in GUEST_TYPES and node and entry.get("vmid") is not None:
            _resource_guest(imp, entry, kind, node, line)
        elif kind == "storage" and entry.get("storage"):
            storages = imp.state.setdefault("/storage", [])
            if not _find(storages, "storage", entry["storage"]):
                cfg = {"storage": entry["storage"], "type": entry.get("plugintype", "dir")}
                cfg.update({k: entry[k] for k in ("content", "shared") if k in entry})
                storages.append(cfg)
        elif kind == "pool" and entry.get("pool"):
            pools = imp.state.setdefault("/pools", [])
            if not _find(pools, "poolid", entry["pool"]):
                pools.append({"poolid": entry["pool"]})
        else:
            imp.report(line, f"/cluster/resources: entry {entry.get('id') or entry!r} not understood; not imported")


def _resource_guest(imp: Import, entry: dict[str, Any], kind: str, node: str, line: int) -> None:
    vmid = int(entry["vmid"])
    listing = imp.state.setdefault(f"/nodes/{node}/{kind}", [])
    item = _find(listing, "vmid", vmid)
    if item is None:
        imp.report(line, f"/cluster/resources: {kind} {vmid} is not in /nodes/{node}/{kind}; added there", False)
        listing.append({"vmid": vmid, **{k: entry[k] for k in GUEST_FIELDS if k in entry}})
        return
    for name in ("name", "status"):
        if name in entry and name in item and entry[name] != item[name]:
            imp.report(
                line,
                f"/cluster/resources: {kind} {vmid} has {name} {entry[name]!r}, /nodes/{node}/{kind} says "
                f"{item[name]!r}; kept the node's list",
                False,
            )


def _find(items: list[Any], key: str, value: Any) -> dict[str, Any] | None:
    return next((i for i in items if isinstance(i, dict) and str(i.get(key)) == str(value)), None)


def _check_guest_nodes(imp: Import) -> None:
    """Guests listed under a node that /nodes lacks: the node is added, and said."""
    nodes = imp.state.setdefault("/nodes", [])
    for path in list(imp.state):
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "nodes" and not _find(nodes, "node", parts[1]):
            imp.report(0, f"node {parts[1]} has {path} but is not in /nodes; added there", False)
            nodes.append({"node": parts[1], "status": "online"})
    if not nodes:
        del imp.state["/nodes"]


# --- fakepve ------------------------------------------------------------------------------------------


def import_fakepve(imp: Import, guests: Any, line: int) -> None:
    if not isinstance(guests, list):
        imp.report(line, "`guests` must be a list; nothing imported")
        return
    nodes: dict[str, None] = {}
    seen: set[int] = set()
    for i, guest in enumerate(guests):
        at = _line(guests, i)
        if not isinstance(guest, dict) or guest.get("vmid") is None:
            imp.report(at, f"guest {i + 1} has no vmid; not imported")
            continue
        kind = str(guest.get("type", "qemu"))
        if kind not in GUEST_TYPES:
            imp.report(at, f"guest {guest['vmid']}: type {kind!r} is neither qemu nor lxc; not imported")
            continue
        vmid, node = int(guest["vmid"]), str(guest.get("node", "pve1"))
        nodes[node] = None
        for key in guest:
            if key in FAKEPVE_BEHAVIOUR:
                imp.report(
                    _line(guest, key),
                    f"guest {vmid}: {key} is timing or fault behaviour; express it as "
                    "a `tasks` or `faults` rule (not converted)",
                    False,
                )
            elif key not in FAKEPVE_FIELDS:
                imp.report(_line(guest, key), f"guest {vmid}: unknown field {key!r}; not imported", False)
        config = plain(guest.get("config") or {})
        name = guest.get("name") or config.get("name" if kind == "qemu" else "hostname")
        if name:
            config.setdefault("name" if kind == "qemu" else "hostname", name)
        if guest.get("lock"):
            config["lock"] = guest["lock"]
        if guest.get("template"):
            config["template"] = 1
        if guest.get("ostemplate") and kind == "lxc":
            config.setdefault("ostemplate", guest["ostemplate"])
        item: dict[str, Any] = {"vmid": vmid, "status": guest.get("status", "stopped")}
        if name:
            item["name"] = name
        if guest.get("template"):
            item["template"] = 1
        if vmid in seen:
            imp.report(at, f"guest {vmid} appears twice; the second is not imported")
            continue
        seen.add(vmid)
        imp.state.setdefault(f"/nodes/{node}/{kind}", []).append(item)
        imp.state[f"/nodes/{node}/{kind}/{vmid}/config"] = config
    imp.state = {"/nodes": [{"node": n, "status": "online"} for n in nodes], **imp.state}


# --- the command ----------------------------------------------------------------------------------


def convert(file: str) -> Import:
    """Read FILE (either format) into an Import; raises OSError or YAMLError if unreadable."""
    doc = YAML(typ="rt").load(Path(file).read_text())
    imp = Import(file, ApiDescription.load("pve"))
    if isinstance(doc, dict) and "guests" in doc and not any(str(k).startswith("/") for k in doc):
        for key in doc:
            if key != "guests":
                imp.report(_line(doc, key), f"unknown top-level key {key!r} in a fakepve guests file; not imported")
        import_fakepve(imp, doc["guests"], _line(doc, "guests"))
    elif isinstance(doc, dict):
        import_sdk(imp, doc)
    else:
        imp.report(1, "expected proxmox-sdk mock data (a mapping of /api2/json paths) or a fakepve guests file")
    return imp


def main(file: str, output: str | None) -> int:
    try:
        imp = convert(file)
    except OSError as exc:
        print(f"{file}: cannot read: {exc.strerror}", file=sys.stderr)
        return 1
    except YAMLError as exc:
        print(f"{file}: not JSON or YAML: {exc}", file=sys.stderr)
        return 1
    for problem in imp.problems:
        print(problem, file=sys.stderr)
    doc = {
        "scenariod": 1,
        "name": f"imported-{Path(file).stem}",
        "description": f"Imported from {Path(file).name} by `scenariod import`",
        "service": "pve",
        "auth": {"mode": "any"},
        "state": imp.state,
    }
    header = (
        f"# Imported from {file} by `scenariod import`: {len(imp.problems)} remark(s), {imp.skipped} not imported\n"
    )
    text = render(doc, header, "json" if output and output.endswith(".json") else "yaml")
    if output:
        write_atomically(Path(output), text)
    else:
        sys.stdout.buffer.write(text)
    return 1 if imp.skipped else 0
