"""The request log: plain/JSON lines, and the live view's content, fit and cost."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from types import SimpleNamespace

from rich.console import Console

from scenariod.journal import Entry
from scenariod.reqlog import LineLog, LiveLog, status_class


def fake_service(name: str = "two-node", *, last_error: str | None = None, reloads: int = 0) -> SimpleNamespace:
    return SimpleNamespace(
        scenario=SimpleNamespace(name=name, service="pve"),
        url="http://127.0.0.1:8006",
        reloads=reloads,
        last_error=last_error,
    )


def entry(
    i: int = 1,
    method: str = "GET",
    path: str = "/version",
    status: int = 200,
    by: str = "built-in",
    detail: str = "",
    latency: float = 0.0012,
    session: str | None = None,
) -> Entry:
    e = Entry(i, time.time(), method, path, {}, {}, {}, session)
    e.status, e.answered_by, e.detail, e.latency = status, by, detail, latency
    return e


def screen(log: LiveLog, width: int = 140, height: int = 30) -> str:
    console = Console(width=width, height=height, record=True, file=io.StringIO(), color_system=None)
    console.print(log.render(width, height))
    return console.export_text()


def test_status_classes():
    assert [status_class(s) for s in (200, 301, 404, 500, 595, 0)] == ["2xx", "3xx", "4xx", "5xx", "5xx", "none"]


def test_line_log_text_and_json():
    service = fake_service()
    out = io.StringIO()
    log = LineLog(out)
    log(service, entry(path="/nodes", status=200, detail="x" * 500))
    line = out.getvalue().splitlines()[0]
    assert re.match(r"\d\d:\d\d:\d\d 200 GET    /nodes  built-in 1\.2ms  x+…$", line)
    assert len(line) < 200  # a long detail is clipped
    out = io.StringIO()
    log = LineLog(out, fmt="json")
    log(service, entry(path="/nodes", status=404))
    record = json.loads(out.getvalue())
    assert record["scenario"] == "two-node" and record["status"] == 404 and record["path"] == "/nodes"


def test_line_log_events():
    service = fake_service(last_error="a.yaml:3:10: bad\na.yaml:5:1: worse")
    out = io.StringIO()
    LineLog(out).event(service, "reload refused, 2 problem(s):\na.yaml:3:10: bad\na.yaml:5:1: worse", error=True)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("[two-node] ERROR reload refused, 2 problem(s):")
    assert lines[1:] == ["    a.yaml:3:10: bad", "    a.yaml:5:1: worse"]
    out = io.StringIO()
    LineLog(out, fmt="json").event(service, "reload refused", error=True)
    record = json.loads(out.getvalue())
    assert record["event"] == "reload-error" and record["error"].startswith("a.yaml:3:10: bad")
    out = io.StringIO()
    LineLog(out, fmt="json").event(fake_service(reloads=3), "reloaded a.yaml (#3)")
    record = json.loads(out.getvalue())
    assert record["event"] == "reload" and record["reloads"] == 3 and "error" not in record


def test_line_log_writes_its_lines_together_in_order():
    """On a running loop, request lines are kept and written at once (one write, one flush,
    whatever PYTHONUNBUFFERED says), before any event; a cap writes a flood early."""

    class Counting(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            self.writes += 1
            return super().write(text)

    async def serve() -> tuple[Counting, list[str], int]:
        out = Counting()
        log = LineLog(out)
        service = fake_service()
        for i in range(3):
            log(service, entry(i, path=f"/r{i}"))
        assert out.getvalue() == ""  # kept until the timer or an event
        log.event(service, "reloaded a.yaml (#1)")
        before_timer = out.getvalue().splitlines()
        for i in range(3, 3 + LineLog.MAX_PENDING):
            log(service, entry(i, path=f"/r{i}"))
        capped = len(out.getvalue().splitlines())
        await asyncio.sleep(LineLog.FLUSH_AFTER * 3)
        return out, before_timer, capped

    out, before_timer, capped = asyncio.run(serve())
    assert [line.split()[3] for line in before_timer[:3]] == ["/r0", "/r1", "/r2"]
    assert before_timer[3].endswith("reloaded a.yaml (#1)")
    assert capped == 4 + LineLog.MAX_PENDING  # the cap wrote them without waiting for the timer
    assert len(out.getvalue().splitlines()) == 4 + LineLog.MAX_PENDING
    assert out.writes == 3  # the first three lines, the event, the capped batch


def test_live_view_shows_header_counts_and_rows():
    service = fake_service(reloads=2)
    log = LiveLog([service])
    log(service, entry(1, "GET", "/version", 200, "route", "GET /version"))
    log(service, entry(2, "POST", "/nodes/pve1/qemu/100/status/start", 200, "task"))
    log(service, entry(3, "GET", "/nodes/pve9", 500, "built-in", "hostname lookup 'pve9' failed"))
    log(service, entry(4, "GET", "/cluster/status", 0, "fault", "fault #1 (reset)"))
    log(service, entry(5, "GET", "/access/users", 401, "auth", "authentication failure"))
    log.event(service, "reloaded a.yaml (#2, live state kept, 12ms)")
    text = screen(log)
    assert "● two-node  pve  http://127.0.0.1:8006/api2/json  reloads 2" in text
    assert re.search(r"requests 5\s+2xx 2\s+4xx 1\s+5xx 1\s+no answer 1", text), text
    assert re.search(r"GET\s+/version\s+200\s+route\s+1\.2ms\s+GET /version", text), text
    assert re.search(r"POST\s+/nodes/pve1/qemu/100/status/start\s+200\s+task", text), text
    assert re.search(r"GET\s+/cluster/status\s+—\s+fault", text), text
    assert re.search(r"GET\s+/access/users\s+401\s+auth", text), text
    assert re.search(r"reload\s+reloaded a\.yaml \(#2", text), text


def test_live_view_shows_the_last_error_in_the_header():
    errors = "\n".join(f"/s/a.yaml:{n}:3: problem {n}" for n in range(1, 8))
    service = fake_service(last_error=errors)
    log = LiveLog([service])
    log.event(service, "reload refused, 7 problem(s); still serving the last good version:\n" + errors, error=True)
    text = screen(log)
    assert "✗ /s/a.yaml:1:3: problem 1" in text and "✗ /s/a.yaml:4:3: problem 4" in text
    assert "problem 5" not in text.split("time")[0]  # the header keeps to a few lines
    assert "… and 3 more" in text
    assert re.search(r"error\s+reload refused, 7 problem", text)
    # Red in a color terminal.
    console = Console(
        width=120, height=30, record=True, file=io.StringIO(), color_system="truecolor", force_terminal=True
    )
    console.print(log.render(120, 30))
    assert "\x1b[31m  ✗ /s/a.yaml:1:3" in console.export_text(styles=True)


def test_live_view_fits_the_terminal_and_clips_long_paths():
    service = fake_service()
    log = LiveLog([service])
    for i in range(200):
        log(service, entry(i, path=f"/nodes/pve1/qemu/{i}/" + "x" * 300))
    for height in (12, 30, 60):
        text = screen(log, width=100, height=height).rstrip("\n").splitlines()
        assert len(text) <= height - 1, (height, len(text))
        assert all(len(line) <= 100 for line in text)
        assert "/nodes/pve1/qemu/199/" in "\n".join(text)  # the newest rows are the ones shown
        assert "/nodes/pve1/qemu/150/" not in "\n".join(text) or height > 50


def test_live_view_names_the_scenario_when_serving_several():
    a, b = fake_service("alpha"), fake_service("beta")
    log = LiveLog([a, b])
    log(a, entry(1, path="/nodes"))
    log(b, entry(2, path="/datastore"))
    text = screen(log)
    assert "● alpha" in text and "● beta" in text
    assert re.search(r"alpha\s+GET\s+/nodes", text) and re.search(r"beta\s+GET\s+/datastore", text)


def test_feeding_does_not_render_and_rendering_is_capped():
    """10 000 requests cost appends; the view draws at most ~10 frames a second."""
    service = fake_service()
    console = Console(width=120, height=30, file=io.StringIO(), force_terminal=True)
    log = LiveLog([service], console=console, refresh_per_second=10)
    start = time.perf_counter()
    for i in range(10_000):
        log(service, entry(i))
    assert log.frames == 0
    assert time.perf_counter() - start < 2.0  # ~50 ms; slack for a loaded machine
    assert len(log.rows) == 500  # bounded

    async def run_for(seconds: float) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(log.run(stop))
        end = time.monotonic() + seconds
        while time.monotonic() < end:  # a request every millisecond meanwhile
            log(service, entry(0))
            await asyncio.sleep(0.001)
        stop.set()
        await task

    asyncio.run(run_for(1.0))
    assert 2 <= log.frames <= 14, log.frames  # ~10 a second, plus the first and last frames
