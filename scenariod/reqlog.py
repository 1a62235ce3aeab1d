"""The request log: one line per request, as text or JSON, for terminals and CI logs alike."""

from __future__ import annotations

import sys
import time
from typing import IO, TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from .journal import Entry
    from .server import Service

MAX_DETAIL = 120  # long error texts never flood the screen


def _clip(text: str, limit: int = MAX_DETAIL) -> str:
    text = text.replace("\n", " ").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class LineLog:
    """Writes each finished request as one line (`--no-tui`, or stdout is not a terminal)."""

    def __init__(self, stream: IO[str] | None = None, fmt: str = "text", several: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.fmt = fmt
        self.several = several  # prefix lines with the scenario name when serving several

    def __call__(self, service: "Service", entry: "Entry") -> None:
        if self.fmt == "json":
            record = entry.as_dict()
            record["scenario"] = service.scenario.name
            self.stream.write(orjson.dumps(record).decode() + "\n")
        else:
            stamp = time.strftime("%H:%M:%S", time.localtime(entry.time))
            who = f"[{service.scenario.name}] " if self.several else ""
            session = f" session={entry.session}" if entry.session else ""
            detail = f"  {_clip(entry.detail)}" if entry.detail else ""
            self.stream.write(
                f"{stamp} {who}{entry.status} {entry.method:<6} {entry.path}{session}"
                f"  {entry.answered_by} {entry.latency * 1000:.1f}ms{detail}\n"
            )
        self.stream.flush()

    def event(self, service: "Service", text: str) -> None:
        """Reloads and reload errors, between request lines."""
        if self.fmt == "json":
            self.stream.write(orjson.dumps({"event": text, "scenario": service.scenario.name}).decode() + "\n")
        else:
            self.stream.write(f"{time.strftime('%H:%M:%S')} [{service.scenario.name}] {text}\n")
        self.stream.flush()
