"""What changed in a Proxmox API between two releases (`scenariod routes --diff 8.4 9.1`).

Compares operations (path and method) and their parameters; free-text descriptions are
left out, since they change with every release and change nothing a client sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .apidesc import ApiDescription

# Schema keys that only document: a change in them alone is no change of the API.
_PROSE = frozenset({"description", "title", "verbose_description", "typetext", "format_description"})


def diff_lines(old: ApiDescription, new: ApiDescription) -> list[str]:
    """Readable lines, sorted by path then method: `+ METHOD path` (added), `- METHOD path`
    (removed), `~ METHOD path` (changed) followed by its indented parameter changes."""
    lines: list[str] = []
    old_ops = {(node.path, op.method): op for node, op in old.operations()}
    new_ops = {(node.path, op.method): op for node, op in new.operations()}
    for path, method in sorted(old_ops.keys() | new_ops.keys()):
        before, after = old_ops.get((path, method)), new_ops.get((path, method))
        if before is None:
            lines.append(f"+ {method:<7}{path}")
        elif after is None:
            lines.append(f"- {method:<7}{path}")
        else:
            changes = list(_param_changes(_props(before.parameters), _props(after.parameters)))
            if changes:
                lines.append(f"~ {method:<7}{path}")
                lines.extend(f"      {change}" for change in changes)
    return lines


def _props(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties")
    return props if isinstance(props, dict) else {}


def _param_changes(old: dict[str, Any], new: dict[str, Any]) -> Iterator[str]:
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            yield f"+ parameter {name}{_summary(new[name])}"
        elif name not in new:
            yield f"- parameter {name}"
        else:
            changes = _schema_changes(old[name], new[name])
            if changes:
                yield f"~ parameter {name}: {'; '.join(changes)}"


def _summary(schema: Any) -> str:
    if not isinstance(schema, dict):
        return ""
    kind = schema.get("type", "")
    return f" ({kind}{', optional' if schema.get('optional') else ''})" if kind else ""


def _schema_changes(old: Any, new: Any) -> list[str]:
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [] if old == new else [f"{_short(old)} -> {_short(new)}"]
    out: list[str] = []
    for key in sorted((old.keys() | new.keys()) - _PROSE):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key == "enum" and isinstance(a, list) and isinstance(b, list):
            added = [str(v) for v in b if v not in a]
            removed = [str(v) for v in a if v not in b]
            parts = ([f"+{', +'.join(added)}"] if added else []) + ([f"-{', -'.join(removed)}"] if removed else [])
            out.append(f"enum {' '.join(parts) or 'reordered'}")
        elif isinstance(a, dict) and isinstance(b, dict):
            # A property string's keys (PVE `format` maps) or a nested schema: name what moved.
            added = sorted(b.keys() - a.keys())
            removed = sorted(a.keys() - b.keys())
            changed = sorted(k for k in a.keys() & b.keys() if k not in _PROSE and _schema_changes(a[k], b[k]))
            parts = [f"+{k}" for k in added] + [f"-{k}" for k in removed] + [f"~{k}" for k in changed]
            if parts:
                out.append(f"{key} {' '.join(parts)}")
        else:
            out.append(f"{key} {_short(a)} -> {_short(b)}")
    return out


def _short(value: Any, limit: int = 40) -> str:
    text = "(none)" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
