"""The request journal: a bounded record of what clients asked and what answered them.

The live request log renders it, the control API filters and verifies against it. It is a
ring buffer bounded in entries (`limits.journal`) and in bytes (`limits.journal_bytes`), so a
long CI run, or clients sending megabyte bodies, do not grow memory without limit. Each entry
keeps its body clipped (`clip`: strings and collections within `limits.body_bytes`, nesting
within `limits.body_depth`), so whatever a client sends, the journal, `verify` and the request
log can always encode it. Secrets are masked where entries are shown (`Entry.as_dict`), not
where they are kept: expectations may match on them.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .redact import masked

if TYPE_CHECKING:
    from .scenario.model import Limits

# What answered a request, as the request log names it.
FAULT, ROUTE, TASK, AUTH, BUILTIN, CONTROL = "fault", "route", "task", "auth", "built-in", "control"


@dataclass(slots=True)
class Entry:
    """One request as the journal keeps it (a docstring also spares dataclass building one with inspect at import)."""

    id: int
    time: float  # wall clock, seconds
    method: str
    path: str  # the API path, without /api2/json
    query: dict[str, Any]
    body: dict[str, Any]
    headers: Mapping[str, str]  # the request's own case-insensitive headers
    session: str | None = None
    fmt: str = "json"
    status: int = 0
    answered_by: str = BUILTIN
    detail: str = ""  # which rule or fault, or the error message
    latency: float = 0.0  # seconds
    user: str | None = None
    size: int = 0  # what the journal counts against limits.journal_bytes

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "query": masked(self.query),
            "body": masked(self.body),
            "session": self.session,
            "status": self.status,
            "answered_by": self.answered_by,
            "detail": self.detail,
            "latency_ms": round(self.latency * 1000, 3),
            "user": self.user,
        }


ENTRY_BYTES = 600  # an entry's own fields and objects, beside what a client sent
HEADER_BYTES = 64  # a header, as counted (reading each one's length would cost every request more)


def clip(value: Any, budget: int, depth: int) -> tuple[Any, int]:
    """`value` cut to about `budget` bytes of text and `depth` levels, and the bytes it holds.

    A long string keeps its head and says how much was cut; a collection past the budget keeps
    its first items and says how many were left out; one nested deeper than `depth` is
    replaced by a note. A flat mapping of strings within the budget (nearly every form and
    query) is returned as it is, after one pass over it.
    """
    if type(value) is dict:
        size = 0
        for key, item in value.items():
            if type(item) is not str:
                break
            size += len(key) + len(item)
        else:
            if size <= budget:
                return value, size
    return _clip(value, budget, depth)


def _clip(value: Any, budget: int, depth: int) -> tuple[Any, int]:
    if isinstance(value, str):
        if len(value) <= budget:
            return value, len(value)
        head = value[: max(budget, 0)]
        return f"{head}…[{len(value) - len(head)} more characters]", len(head) + 32
    if isinstance(value, dict | list):
        if depth <= 0:
            return f"…[{type(value).__name__} nested deeper than the journal keeps]", 48
        used = 0
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for n, (key, item) in enumerate(value.items()):
                if used >= budget:
                    out["…"] = f"{len(value) - n} more keys"
                    break
                key, key_size = _clip(str(key), budget - used, 0)
                out[key], size = _clip(item, budget - used - key_size, depth - 1)
                used += key_size + size + 2
            return out, used
        items: list[Any] = []
        for n, item in enumerate(value):
            if used >= budget:
                items.append(f"…[{len(value) - n} more items]")
                break
            kept, size = _clip(item, budget - used, depth - 1)
            items.append(kept)
            used += size + 2
        return items, used
    return value, 8


class Journal:
    """Recent requests, oldest first, at most `limits.journal` of them and `limits.journal_bytes`."""

    ids = itertools.count(1)  # entry ids, unique across journals (the control API's entries too)

    def __init__(self, limits: Limits) -> None:
        self._entries: deque[Entry] = deque()
        self.listeners: list[Callable[[Entry], None]] = []
        self.total = 0
        self.bytes = 0
        self.apply(limits)

    def apply(self, limits: Limits) -> None:
        """Take the (reloaded) scenario's bounds; entries beyond them go at once."""
        self.max_entries, self.max_bytes = limits.journal, limits.journal_bytes
        self.body_bytes, self.body_depth = limits.body_bytes, limits.body_depth
        self._trim()

    def _trim(self) -> None:
        entries = self._entries
        while entries and (len(entries) > self.max_entries or self.bytes > self.max_bytes):
            self.bytes -= entries.popleft().size

    def open(
        self,
        method: str,
        path: str,
        query: dict[str, Any],
        body: dict[str, Any],
        headers: Mapping[str, str],
        session: str | None,
        fmt: str,
    ) -> Entry:
        size = ENTRY_BYTES + len(path) + HEADER_BYTES * len(headers)
        if body:
            body, body_size = clip(body, self.body_bytes, self.body_depth)
            size += body_size
        if query:
            query, query_size = clip(query, self.body_bytes, 2)
            size += query_size
        entry = Entry(next(self.ids), time.time(), method, path, query, body, headers, session, fmt, size=size)
        entries = self._entries
        entries.append(entry)
        self.total += 1
        if len(entries) > self.max_entries:  # a full journal (the steady state): the oldest goes
            size -= entries.popleft().size
        self.bytes += size
        if self.bytes > self.max_bytes:
            self._trim()
        return entry

    def close(self, entry: Entry) -> None:
        for listener in self.listeners:
            listener(entry)

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
