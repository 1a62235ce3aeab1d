#!/usr/bin/env python3
"""Regenerate scenariod/data/*.api.json.gz from the Proxmox API viewer trees.

    python tools/regen_apidata.py [SOURCE_DIR]

Writes {pve,pbs,pdm}.api.json.gz (the newest description of each product) and one
pve-RELEASE.api.json.gz per pinnable PVE release (see PVE_RELEASES). A release file stores
only what differs from the newest PVE description: an operation equal to the newest one's
at the same path and verb is written "=", and inside an operation that differs, the keys
listed under "=" and every parameter or return property written "=" are the newest one's.
That keeps the four older releases at about a quarter of their full size; apidesc.py
rebuilds them on load.

SOURCE_DIR defaults to <repo>/../shared/proxmox-api (see its SOURCES.md). The output is a
flat, compact list of paths with what the mock needs at run time: routing, validation, the
OpenAPI document and deterministic answers. Display-only keys (typetext, verbose_description,
renderer, format_description) are dropped. Output is byte-for-byte reproducible: the tree's
own order, no whitespace, gzip mtime 0, no stored file name.

In the newest descriptions each operation's `parameters` schema is stored as JSON text (a
string inside the document): apidesc.py parses it on the operation's first use, so that
loading a description (on every start) builds only what routing needs.
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

# Pinnable PVE releases: the API tree (pve-docs' apidata.js at the last update of each
# release line, see SOURCES.md) and what a node of that release reports. `version` and
# `repoid` are the last pve-manager point release of the line and the commit it was built
# from (proxmox/pve-manager "bump version to ..."); the kernel is the default kernel series
# of the release at that date (proxmox/pve-kernel debian/changelog, build time in UTC).
# The newest tree (pve.api.json.gz) is pinned as "9.2".
PVE_RELEASES: dict[str, dict[str, Any]] = {
    "7.4": {
        "source": "proxmox/pve-docs api-viewer/apidata.js at 287a95c (pve-docs 7.4-2, 2023-05-18)",
        "facts": {
            "version": "7.4-20",
            "repoid": "5d6e3351",
            "kernel": ["5.15.158-2-pve", "#1 SMP PVE 5.15.158-2 (2024-07-26T13:11Z)"],
        },
    },
    "8.4": {
        "source": "proxmox/pve-docs api-viewer/apidata.js at 46601a3 (pve-docs 8.3.2, the API of PVE 8.4, 2025-04-09)",
        "facts": {
            "version": "8.4.21",
            "repoid": "2606ac850d46da29",
            "kernel": ["6.8.12-42-pve", "#1 SMP PREEMPT_DYNAMIC PMX 6.8.12-42 (2026-08-12T11:28Z)"],
        },
    },
    "9.0": {
        "source": "proxmox/pve-docs api-viewer/apidata.js at a90cd12 (pve-docs 9.0.8, 2025-11-17)",
        "facts": {
            "version": "9.0.18",
            "repoid": "5cacb35d7ee87217",
            "kernel": ["6.14.11-4-pve", "#1 SMP PREEMPT_DYNAMIC PMX 6.14.11-4 (2025-10-10T08:04Z)"],
        },
    },
    "9.1": {
        "source": "proxmox/pve-docs api-viewer/apidata.js at a8736b6 (pve-docs 9.1.2, 2026-04-30)",
        "facts": {
            "version": "9.1.19",
            "repoid": "076d7c3c108f0346",
            "kernel": ["6.17.13-11-pve", "#1 SMP PREEMPT_DYNAMIC PMX 6.17.13-11 (2026-05-20T09:37Z)"],
        },
    },
}
NEWEST_PVE_FACTS: dict[str, Any] = {
    "version": "9.2.11",
    "repoid": "f6997e698c7933ea",
    "kernel": ["7.0.14-12-pve", "#1 SMP PREEMPT_DYNAMIC PMX 7.0.14-12 (2026-08-11T11:05Z)"],
}
# A release file's marker for "the same as in the newest description".
SAME = "="

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


def read_tree(source_file: Path) -> tuple[list[dict[str, Any]], str]:
    """The flattened tree of a source file, and the sha256 of the file."""
    raw = source_file.read_bytes()
    return flatten(json.loads(gzip.decompress(raw))), hashlib.sha256(raw).hexdigest()


def write(out: Path, doc: dict[str, Any], paths: list[dict[str, Any]], sha: str) -> dict[str, Any]:
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    data = gzip.compress(body, compresslevel=9, mtime=0)
    out.write_bytes(data)
    stats = {"paths": len(paths), "ops": sum(len(p["methods"]) for p in paths), "source_sha256": sha}
    print(
        f"{out.relative_to(REPO)}: {stats['paths']} paths, {stats['ops']} ops,"
        f" {len(body)} bytes JSON, {len(data)} bytes gz"
    )
    return stats


def parameters_as_text(paths: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The paths with each operation's `parameters` as compact JSON text (see the module's doc)."""
    return [
        {
            "path": p["path"],
            "methods": {
                verb: {
                    k: json.dumps(v, ensure_ascii=False, separators=(",", ":")) if k == "parameters" else v
                    for k, v in op.items()
                }
                for verb, op in p["methods"].items()
            },
        }
        for p in paths
    ]


def delta_props(schema: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """A parameters/returns schema whose properties equal to the base's are written SAME."""
    props, base_props = schema.get("properties"), base.get("properties")
    if not isinstance(props, dict) or not isinstance(base_props, dict):
        return schema
    out = dict(schema)
    out["properties"] = {k: SAME if base_props.get(k) == v else v for k, v in props.items()}
    return out


def delta_op(op: dict[str, Any], base: dict[str, Any] | None) -> Any:
    """An operation of a release as stored: SAME, or its keys with those equal to base's listed under SAME."""
    if base is None:
        return op
    if op == base:
        return SAME
    out: dict[str, Any] = {}
    same = [key for key, value in op.items() if key in base and base[key] == value]
    for key, value in op.items():
        if key in same:
            continue
        if key in ("parameters", "returns") and isinstance(value, dict) and isinstance(base.get(key), dict):
            value = delta_props(value, base[key])
        out[key] = value
    if same:
        out[SAME] = same
    return out


def release_doc(release: str, paths: list[dict[str, Any]], newest: list[dict[str, Any]]) -> dict[str, Any]:
    base = {p["path"]: p["methods"] for p in newest}
    delta = [
        {
            "path": p["path"],
            "methods": {v: delta_op(op, base.get(p["path"], {}).get(v)) for v, op in p["methods"].items()},
        }
        for p in paths
    ]
    spec = PVE_RELEASES[release]
    return {
        "service": "pve",
        "version": release,
        "source": spec["source"],
        "base": "pve",
        "facts": spec["facts"],
        "paths": delta,
    }


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
`format_description`); everything else is as published. In the newest descriptions
(`pve`, `pbs`, `pdm`) each operation's `parameters` schema is stored as JSON text, which
scenariod parses on the operation's first use.

| file | product | version | source | paths | operations | source sha256 (.gz) |
|---|---|---|---|---|---|---|
"""

NOTICE_RELEASES = """
The `pve-RELEASE.api.json.gz` files are the API of earlier PVE releases, for `api:` pins.
Each stores only what differs from `pve.api.json.gz` (an operation, operation key or
property equal to the newest one's is written `"="`); scenariod rebuilds the full
description on load. Their `facts` (and those of `pve.api.json.gz`) are what a node of the
release reports in `GET /version` and node status: the last pve-manager point release of
the line and its commit (proxmox/pve-manager), and the default kernel of that date
(proxmox/pve-kernel).
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
- The earlier PVE releases (`pve-RELEASE.api.json.gz`) were taken from proxmox/pve-docs
  itself (`api-viewer/apidata.js`), AGPL-3.0-or-later.
- The PBS tree was taken from basher83/Proxmox-OpenAPI, which is AGPL-3.0 (GNU Affero
  General Public License version 3).

Whoever redistributes these files should honour the AGPL-3.0-or-later terms of the schema
and keep the attributions above.
"""


def main(argv: list[str]) -> int:
    source_dir = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for stale in DATA_DIR.glob("pve-*.api.json.gz"):  # a release dropped from PVE_RELEASES
        stale.unlink()
    rows = []
    newest: dict[str, list[dict[str, Any]]] = {}
    for service, (version, product, source) in SERVICES.items():
        paths, sha = read_tree(source_dir / f"{service}.apidoc.json.gz")
        newest[service] = paths
        doc: dict[str, Any] = {"service": service, "version": version, "source": source, "paths": paths}
        if service == "pve":
            doc["facts"] = NEWEST_PVE_FACTS
        out = DATA_DIR / f"{service}.api.json.gz"
        stats = write(out, {**doc, "paths": parameters_as_text(paths)}, paths, sha)
        rows.append(
            f"| `{out.name}` | {product} | {version} | {source} | {stats['paths']} | {stats['ops']}"
            f" | `{stats['source_sha256']}` |"
        )
    for release, spec in PVE_RELEASES.items():
        paths, sha = read_tree(source_dir / f"pve-{release}.apidoc.json.gz")
        out = DATA_DIR / f"pve-{release}.api.json.gz"
        stats = write(out, release_doc(release, paths, newest["pve"]), paths, sha)
        rows.append(
            f"| `{out.name}` | Proxmox VE | {release} | {spec['source']} | {stats['paths']} | {stats['ops']}"
            f" | `{stats['source_sha256']}` |"
        )
    files = [f"`{s}.api.json.gz`" for s in SERVICES] + [f"`pve-{r}.api.json.gz`" for r in PVE_RELEASES]
    notice = NOTICE_HEAD.format(svcs=", ".join(files)) + "\n".join(rows) + "\n" + NOTICE_RELEASES + NOTICE_TAIL
    (DATA_DIR / "APIDATA-NOTICE.md").write_text(notice, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
