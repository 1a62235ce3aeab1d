#!/usr/bin/env python3
"""Regenerate scenariod/data/{pve,pbs,pdm}.api.json.gz from the Proxmox API viewer trees.

    python tools/regen_apidata.py [SOURCE_DIR]

SOURCE_DIR defaults to <repo>/../shared/proxmox-api (see its SOURCES.md). The output is a
flat, compact list of paths with what the mock needs at run time: routing, validation, the
OpenAPI document and deterministic answers. Display-only keys (typetext, verbose_description,
renderer, format_description) are dropped. Output is byte-for-byte reproducible: the tree's
own order, no whitespace, gzip mtime 0, no stored file name.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO.parent / "shared" / "proxmox-api"
DATA_DIR = REPO / "scenariod" / "data"

# service -> (version, product, where the tree was taken from; see SOURCES.md)
SERVICES: dict[str, tuple[str, str, str]] = {
    "pve": (
        "9.2",
        "Proxmox VE",
        "fivetwenty-io/proxmox-apiclient-go _data/apidoc.json at 6f4d4bfd4aed8542dcf9f237c67c52b1e3455902"
        " (extracted from pve.proxmox.com/pve-docs/api-viewer/apidoc.js)",
    ),
    "pbs": (
        "4.2",
        "Proxmox Backup Server",
        "basher83/Proxmox-OpenAPI proxmox-backup-server/apidoc.js at 1941df17f3e4ba00bfe69856effe70f33a6bead9"
        " (downloaded from pbs.proxmox.com/docs/api-viewer/apidoc.js)",
    ),
    "pdm": (
        "1.1.6",
        "Proxmox Datacenter Manager",
        "fivetwenty-io/proxmox-apiclient-go _data/pdm-apidoc.json at 6f4d4bfd4aed8542dcf9f237c67c52b1e3455902"
        " (extracted from pdm.proxmox.com/docs/api-viewer/apidoc.js)",
    ),
}

# Schema keys only the API viewer uses.
DISPLAY_ONLY = frozenset({"typetext", "verbose_description", "renderer", "format_description"})
# Operation keys kept; `method` is added only where it differs from the HTTP verb.
OP_KEYS = (
    "name",
    "description",
    "parameters",
    "returns",
    "permissions",
    "protected",
    "proxyto",
    "allowtoken",
    "download_allowed",
)


def strip_schema(schema: Any) -> Any:
    """Drop display-only keys, recursing only where a value is itself a schema.

    Property maps are walked by name, so a property that happens to be called `typetext`
    survives. An inline `format` is either a schema (PBS/PDM: it has a string `type`) or a
    PVE property-string map of name -> schema (where `type` may be a property name).
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in DISPLAY_ONLY:
            continue
        if key == "properties" and isinstance(value, dict):
            value = {name: strip_schema(prop) for name, prop in value.items()}
        elif key in ("items", "typeSchema", "additionalProperties") and isinstance(value, dict):
            value = strip_schema(value)
        elif key == "format" and isinstance(value, dict):
            if isinstance(value.get("type"), str):
                value = strip_schema(value)
            else:
                value = {name: strip_schema(prop) for name, prop in value.items()}
        elif key in ("oneOf", "anyOf", "allOf") and isinstance(value, list):
            value = [strip_schema(v) for v in value]
        out[key] = value
    return out


def compact_op(verb: str, info: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {}
    for key in OP_KEYS:
        if key in info:
            value = info[key]
            op[key] = strip_schema(value) if key in ("parameters", "returns") else value
    label = info.get("method", verb)
    if label != verb:
        op["method"] = label
    return op


def flatten(tree: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Depth-first, in the tree's own order (index listings keep upstream child order)."""
    out: list[dict[str, Any]] = []
    stack = list(reversed(tree))
    while stack:
        node = stack.pop()
        info = node.get("info") or {}
        out.append({"path": node["path"], "methods": {verb: compact_op(verb, op) for verb, op in info.items()}})
        stack.extend(reversed(node.get("children") or []))
    return out


def build(service: str, source_file: Path) -> tuple[bytes, dict[str, Any]]:
    version, _product, source = SERVICES[service]
    raw = source_file.read_bytes()
    tree = json.loads(gzip.decompress(raw))
    paths = flatten(tree)
    doc = {"service": service, "version": version, "source": source, "paths": paths}
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    stats = {
        "paths": len(paths),
        "ops": sum(len(p["methods"]) for p in paths),
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "json_bytes": len(body),
    }
    return gzip.compress(body, compresslevel=9, mtime=0), stats


NOTICE_HEAD = """\
# Bundled Proxmox API descriptions

{svcs} in this directory are generated by `python tools/regen_apidata.py`
from the Proxmox API viewer trees in `../shared/proxmox-api` (its `SOURCES.md` records where
each tree was obtained and how it was checked). Do not edit them by hand: change the tool
and regenerate.

The generator flattens each tree into a list of paths (method-less intermediate nodes
included) and keeps, per operation, `name`, `description`, `parameters`, `returns`,
`permissions`, `protected`, `proxyto`, `allowtoken`, `download_allowed`, and `method` where
the viewer's label (DOWNLOAD/UPLOAD) differs from the HTTP verb. From schemas it drops only
the viewer's display keys (`typetext`, `verbose_description`, `renderer`,
`format_description`); everything else is as published.

| file | product | version | source | paths | operations | source sha256 (.gz) |
|---|---|---|---|---|---|---|
"""

NOTICE_TAIL = """
## Licence

- The content is Proxmox's API schema, generated by Proxmox's own code. Proxmox publishes
  that code under the GNU Affero General Public License v3; the pve-docs `debian/copyright`
  (proxmox/pve-docs) lists its `*.js` files, which include `api-viewer/apidata.js`, as
  AGPL-3.0-or-later.
- The PVE and PDM trees were taken from fivetwenty-io/proxmox-apiclient-go, which is
  Apache-2.0 (its `NOTICE`: "Copyright 2026 Wayne E. Seguin and Fivetwenty Inc."); it
  states no separate licence for the vendored `_data/` files.
- The PBS tree was taken from basher83/Proxmox-OpenAPI, which is AGPL-3.0 (GNU Affero
  General Public License version 3).

Whoever redistributes these files should honour the AGPL-3.0-or-later terms of the schema
and keep the attributions above.
"""


def main(argv: list[str]) -> int:
    source_dir = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    rows = []
    for service, (version, product, source) in SERVICES.items():
        data, stats = build(service, source_dir / f"{service}.apidoc.json.gz")
        out = DATA_DIR / f"{service}.api.json.gz"
        out.write_bytes(data)
        rows.append(
            f"| `{out.name}` | {product} | {version} | {source} | {stats['paths']} | {stats['ops']}"
            f" | `{stats['source_sha256']}` |"
        )
        print(
            f"{out.relative_to(REPO)}: {stats['paths']} paths, {stats['ops']} ops, "
            f"{stats['json_bytes']} bytes JSON, {len(data)} bytes gz"
        )
    svcs = ", ".join(f"`{s}.api.json.gz`" for s in SERVICES)
    notice = NOTICE_HEAD.format(svcs=svcs) + "\n".join(rows) + "\n" + NOTICE_TAIL
    (DATA_DIR / "APIDATA-NOTICE.md").write_text(notice, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
