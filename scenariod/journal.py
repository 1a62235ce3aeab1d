"""The request journal: a bounded record of what clients asked and what answered them.

The live request log renders it, the control API filters and verifies against it. It is a
ring buffer, so a long CI run does not grow memory without limit.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# What answered a request, as the request log names it.
FAULT, ROUTE, TASK, AUTH, BUILTIN, CONTROL = "fault", "route", "task", "auth", "built-in", "control"


@dataclass(slots=True)
class Entry:
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "body": self.body,
            "session": self.session,
            "status": self.status,
            "answered_by": self.answered_by,
            "detail": self.detail,
            "latency_ms": round(self.latency * 1000, 3),
            "user": self.user,
        }


class Journal:
    """Recent requests, oldest first, at most `size` of them."""

    ids = itertools.count(1)  # entry ids, unique across journals (the control API's entries too)

    def __init__(self, size: int = 1000) -> None:
        self._entries: deque[Entry] = deque(maxlen=size)
        self.listeners: list[Callable[[Entry], None]] = []
        self.total = 0

    def resize(self, size: int) -> None:
        if size != self._entries.maxlen:
            self._entries = deque(self._entries, maxlen=size)

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
        entry = Entry(next(self.ids), time.time(), method, path, query, body, headers, session, fmt)
        self._entries.append(entry)
        self.total += 1
        return entry

    def close(self, entry: Entry) -> None:
        for listener in self.listeners:
            listener(entry)

    def clear(self) -> None:
        self._entries.clear()

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
