"""The request log: a live table on a terminal, one line per request everywhere else.

`LineLog` writes each finished request as one line, as text or JSON (`--no-tui`, stdout
not a terminal, `--log-format json`). `LiveLog` is the live view `scenariod run` shows on
a terminal: the served scenarios (URL, reloads, the last reload error), counts by status
class and the most recent requests. Both are fed the same way: called with (service, entry)
for every finished request, and `event(service, text, error=...)` for reloads.

Feeding is cheap (an append and a counter); `LiveLog` renders on its own timer, at most
`refresh_per_second` times a second and only when something changed, never per request.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from . import __version__

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from .journal import Entry
    from .server import Service

MAX_DETAIL = 120  # long error texts never flood the screen
MAX_PATH = 160


def _clip(text: str, limit: int = MAX_DETAIL) -> str:
    text = text.replace("\n", " ").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_class(status: int) -> str:
    """`2xx`, `4xx`, ...; `none` for a request that got no answer (reset, hang, client left)."""
    return f"{status // 100}xx" if 100 <= status <= 999 else "none"


class LineLog:
    """Writes each finished request as one line (`--no-tui`, or stdout is not a terminal).

    Lines are kept and written together at most every `FLUSH_AFTER` seconds, one write and one
    flush (with `PYTHONUNBUFFERED` set, as in many containers, every write to stdout is a
    system call, which costs more than the rest of the line); events, `MAX_PENDING` lines and
    the end of serving (`flush`) write at once.
    """

    FLUSH_AFTER = 0.05
    MAX_PENDING = 1000

    def __init__(self, stream: IO[str] | None = None, fmt: str = "text", several: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.fmt = fmt
        self.several = several  # prefix lines with the scenario name when serving several
        self._pending: list[str] = []
        self._flush_pending = False
        self._second = -1
        self._stamp = ""

    def __call__(self, service: Service, entry: Entry) -> None:
        if self.fmt == "json":
            record = entry.as_dict()
            record["scenario"] = service.scenario.name
            line = orjson.dumps(record).decode() + "\n"
        else:
            second = int(entry.time)
            if second != self._second:  # strftime once a second, not once a request
                self._second, self._stamp = second, time.strftime("%H:%M:%S", time.localtime(second))
            who = f"[{service.scenario.name}] " if self.several else ""
            session = f" session={entry.session}" if entry.session else ""
            detail = f"  {_clip(entry.detail)}" if entry.detail else ""
            line = (
                f"{self._stamp} {who}{entry.status} {entry.method:<6} {entry.path}{session}"
                f"  {entry.answered_by} {entry.latency * 1000:.1f}ms{detail}\n"
            )
        pending = self._pending
        pending.append(line)
        if self._flush_pending:
            if len(pending) >= self.MAX_PENDING:
                self._write_pending()
            return
        try:
            asyncio.get_running_loop().call_later(self.FLUSH_AFTER, self.flush)
            self._flush_pending = True
        except RuntimeError:  # no event loop (a direct call): write through
            self.flush()

    def _write_pending(self) -> None:
        if self._pending:
            self.stream.write("".join(self._pending))
            self._pending.clear()

    def flush(self) -> None:
        """Write and flush the lines kept so far."""
        self._flush_pending = False
        self._write_pending()
        self.stream.flush()

    def event(self, service: Service, text: str, *, error: bool = False) -> None:
        """Reloads and refused reloads, between request lines (an error's diagnostics indented)."""
        self._write_pending()  # the requests before it first
        if self.fmt == "json":
            record: dict[str, Any] = {
                "time": time.time(),
                "event": "reload-error" if error else "reload",
                "scenario": service.scenario.name,
                "message": text,
                "reloads": service.reloads,
            }
            if error:
                record["error"] = service.last_error
            self.stream.write(orjson.dumps(record).decode() + "\n")
        else:
            first, *rest = text.splitlines() or [""]
            mark = "ERROR " if error else ""
            lines = [f"{time.strftime('%H:%M:%S')} [{service.scenario.name}] {mark}{first}"]
            lines.extend(f"    {line}" for line in rest)
            self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()


# --- the live view --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Event:
    time: float
    service: Service
    text: str
    error: bool


_STATUS_STYLES = {"2xx": "green", "3xx": "cyan", "4xx": "yellow", "5xx": "bold red", "1xx": "blue", "none": "magenta"}
_BY_STYLES = {"fault": "magenta", "route": "cyan", "task": "blue", "auth": "yellow", "control": "dim"}
_CLASSES = ("2xx", "3xx", "4xx", "5xx", "none")
MAX_ERROR_LINES = 4  # per service in the header


class LiveLog:
    """The live request log (rich) for `scenariod run` on a terminal."""

    def __init__(
        self,
        services: Iterable[Service],
        console: Console | None = None,
        refresh_per_second: float = 10,
        keep: int = 500,
        watching: bool = True,
    ) -> None:
        self.services = list(services)
        self.console = console
        self.refresh_per_second = refresh_per_second
        self.rows: deque[tuple[Service, Entry] | _Event] = deque(maxlen=keep)
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.dirty = True
        self.frames = 0  # renders so far (tests check the cap)
        self.watching = watching

    # -- fed by the server (cheap: no rendering here) -----------------------------------------

    def __call__(self, service: Service, entry: Entry) -> None:
        self.rows.append((service, entry))
        self.counts[status_class(entry.status)] += 1
        self.total += 1
        self.dirty = True

    def event(self, service: Service, text: str, *, error: bool = False) -> None:
        file = getattr(service.scenario, "file", None)
        if file is not None and str(file) != Path(file).name:  # the header names it in full
            text = text.replace(str(file), Path(file).name)
        self.rows.append(_Event(time.time(), service, text, error))
        self.dirty = True

    # -- rendering ---------------------------------------------------------------------------

    def render(self, width: int | None = None, height: int | None = None) -> RenderableType:
        from rich import box
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        self.frames += 1
        if width is None or height is None:
            size = self._console().size
            width, height = width or size.width, height or size.height

        head: list[Text] = []
        title = Text.assemble(
            ("scenariod ", "bold"),
            (__version__, "dim"),
            ("  ·  watching for saves" if self.watching else "", "dim"),
            ("  ·  Ctrl-C stops", "dim"),
        )
        head.append(title)
        for service in self.services:
            scenario = service.scenario
            line = Text.assemble(
                ("● ", "red" if service.last_error else "green"),
                (scenario.name, "bold"),
                (f"  {scenario.service}", "cyan"),
                (f"  {service.url}/api2/json", "underline"),
                (f"  reloads {service.reloads}", "dim"),
                (f"  {scenario.file}" if getattr(scenario, "file", None) else "", "dim"),
            )
            line.truncate(width, overflow="ellipsis")
            head.append(line)
            if service.last_error:
                errors = service.last_error.splitlines()
                for text in errors[:MAX_ERROR_LINES]:
                    err = Text(f"  ✗ {text}", style="red")
                    err.truncate(width, overflow="ellipsis")
                    head.append(err)
                if len(errors) > MAX_ERROR_LINES:
                    head.append(Text(f"  ✗ … and {len(errors) - MAX_ERROR_LINES} more", style="red"))

        counts = Text.assemble(("requests ", "dim"), (str(self.total), "bold"))
        for cls in _CLASSES:
            if self.counts[cls] or cls in ("2xx", "4xx", "5xx"):
                counts.append("   ")
                counts.append(f"{'no answer' if cls == 'none' else cls} ", style=_STATUS_STYLES[cls])
                counts.append(str(self.counts[cls]), style="bold")
        head.append(counts)

        several = len(self.services) > 1
        table = Table(box=box.SIMPLE_HEAD, expand=True, show_edge=False, pad_edge=False, padding=(0, 1))
        table.add_column("time", no_wrap=True, width=8, style="dim")
        if several:
            table.add_column("scenario", no_wrap=True, max_width=16, overflow="ellipsis")
        table.add_column("method", no_wrap=True, width=6)
        table.add_column("path", no_wrap=True, overflow="ellipsis", ratio=2, min_width=20)
        table.add_column("status", no_wrap=True, width=6, justify="right")
        table.add_column("by", no_wrap=True, width=8)
        table.add_column("latency", no_wrap=True, width=9, justify="right")
        detail = width >= 110  # the path first: on a narrow terminal the detail goes
        if detail:
            table.add_column("detail", no_wrap=True, overflow="ellipsis", ratio=1, style="dim")

        # What fits: the header above, the table's header row and rule, one line spare.
        fit = max(height - len(head) - 3, 1)
        for row in list(self.rows)[-fit:]:
            if isinstance(row, _Event):
                first, *rest = row.text.splitlines() or [""]
                style = "bold red" if row.error else "bold cyan"
                cells: list[Any] = [time.strftime("%H:%M:%S", time.localtime(row.time))]
                if several:
                    cells.append(row.service.scenario.name)
                cells += [
                    Text("error" if row.error else "reload", style=style),
                    Text(_clip(first, MAX_PATH), style=style),
                    "",
                    "",
                    "",
                ]
                if detail:
                    cells.append(_clip(" ".join(rest)) if rest else "")
                table.add_row(*cells)
                continue
            service, entry = row
            cls = status_class(entry.status)
            path = entry.path + (f"  [{entry.session}]" if entry.session else "")
            cells = [time.strftime("%H:%M:%S", time.localtime(entry.time))]
            if several:
                cells.append(service.scenario.name)
            cells += [
                entry.method,
                _clip(path, MAX_PATH),
                Text(str(entry.status) if entry.status else "—", style=_STATUS_STYLES[cls]),
                Text(entry.answered_by, style=_BY_STYLES.get(entry.answered_by, "")),
                f"{entry.latency * 1000:.1f}ms",
            ]
            if detail:
                cells.append(_clip(entry.detail) if entry.detail else "")
            table.add_row(*cells)
        return Group(*head, table)

    def _console(self) -> Console:
        if self.console is None:
            from rich.console import Console

            self.console = Console()
            self._fit(self.console)
        return self.console

    @staticmethod
    def _fit(console: Console) -> bool:
        """Size the console as the terminal really is (a stale COLUMNS/LINES in the
        environment must not shrink the view); True when that changed its size."""
        import os

        try:
            real = os.get_terminal_size(sys.__stdout__.fileno())  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError):
            return False
        if real.columns <= 0 or real.lines <= 0:  # a pseudo-terminal nobody sized
            return False
        if (real.columns, real.lines) != tuple(console.size):
            console.size = (real.columns, real.lines)
            return True
        return False

    async def run(self, stop: asyncio.Event) -> None:
        """Show the live view until `stop` is set; render at most `refresh_per_second`."""
        from rich.live import Live

        console = self._console()
        interval = 1.0 / self.refresh_per_second
        with Live(
            self.render(),
            console=console,
            auto_refresh=False,
            transient=False,
            redirect_stdout=True,
            redirect_stderr=True,
            vertical_overflow="crop",
        ) as live:
            shown = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(interval)
                now = time.monotonic()
                # Redraw when something changed, the terminal was resized, or (for the
                # clock-driven parts) once a second.
                resized = self._fit(console) if console.is_terminal else False
                if self.dirty or resized or now - shown >= 1.0:
                    self.dirty = False
                    live.update(self.render(), refresh=True)
                    shown = now
            live.update(self.render(), refresh=True)
