"""Faults: the failures real clusters produce, injected before auth, routes and built-in behaviour.

How a request meets the scenario's `faults` (step 4 of `Service.handle_api`):

- Every fault whose `when` matches the request counts it, in the request's world (each
  session has its own counters), whether or not its gates let it fire and whether or not an
  earlier fault fired. The counter is the request's number `n` for that fault, from 1.
- The gates then apply in this order: `after` (n must be greater than after), `times` (n must
  be at most after + times: the first `times` matches once `after` has let its N through),
  `probability` (a draw in [0, 1) below the probability). The draw is a pure function of the
  scenario's `seed`, the fault's position and `n`, so the same scenario gives the same
  outcomes on every run, and each session its own run of them.
- The first fault, in file order, whose gates let it fire is the only one that applies; a
  fault that matches but does not fire lets the request on to the next fault.
- Faults run before authentication, so `user` is null in a fault's `if` expression.

What the effects do:

- `error`: answers at once in Proxmox's error shape (the message's first line is the HTTP
  reason phrase; `/api2/extjs` answers HTTP 200 with `success: 0`).
- `delay`: waits, then the request goes on through auth, routes and behaviour as usual.
- `reset`: aborts the TCP connection (RST) without a response.
- `empty`: closes the connection without sending a byte.
- `garbage`: sends N seeded random bytes (not HTTP) and closes.
- `hang`: never answers; the connection is closed when the scenario reloads or the server
  stops (`Service.release_hangs`).
- `truncate`: the request goes on; its answer is sent with its full Content-Length but only
  the first half of its body, then the connection is closed.
- `dribble`: the request goes on; its answer is complete and valid, but its body is sent in
  `chunks` pieces spread evenly over the duration (the last piece at the end of it).

The journal: answers given or broken by a fault are `answered_by: fault` with a detail such as
`fault #2 (error 595) at scenarios/x.yaml:31` (faults are numbered from 1 in file order). A
delay leaves the answer to whatever answers next and prefixes its detail with
`delay 250ms by fault #1; `. Requests whose connection was broken have status 0.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import math
import random
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import wire
from .journal import FAULT
from .matching import Matcher, RuleIndex
from .request import Request

if TYPE_CHECKING:
    from .apidesc import ApiNode
    from .journal import Entry
    from .scenario.model import Delay, Fault, Scenario
    from .world import World

# Effects that let the request go on through the pipeline (and may shape its delivery).
_GO_ON = frozenset({"delay", "truncate", "dribble"})


def draw_delay(delay: Delay, rng: random.Random) -> float:
    """Seconds to wait for a `delay`: fixed, uniform in [min, max], or log-normal capped at max."""
    if delay.kind == "fixed":
        return delay.seconds
    if delay.kind == "uniform":
        return rng.uniform(delay.min, delay.max)
    value = delay.median * math.exp(delay.sigma * rng.gauss(0.0, 1.0))
    return min(value, delay.max) if delay.max else value


def _digest(seed: int, index: int, n: int, purpose: str) -> int:
    """64 deterministic bits for the n-th match of fault `index` under `seed`."""
    h = hashlib.blake2b(f"{seed}:{index}:{n}:{purpose}".encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big")


def draw_unit(seed: int, index: int, n: int) -> float:
    """The probability draw in [0, 1) for the n-th match of fault `index`."""
    return _digest(seed, index, n, "probability") / 2.0**64


def seeded_rng(seed: int, index: int, n: int, purpose: str) -> random.Random:
    """The random source for the n-th draw of rule `index` under `seed`: repeatable per seed."""
    return random.Random(_digest(seed, index, n, purpose))


def garbage(seed: int, index: int, n: int, count: int) -> bytes:
    """The bytes the `garbage` effect sends for the n-th match of fault `index`."""
    return seeded_rng(seed, index, n, "garbage").randbytes(count)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms"


def _display_path(file: Path) -> str:
    try:
        return str(file.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(file)


# --- compiled faults --------------------------------------------------------------------------


@dataclass(slots=True)
class CompiledFault:
    """A fault rule ready to match: its rule, its number and its compiled parts."""

    fault: Fault
    number: int  # 1-based, as the journal names it
    label: str  # "fault #2 (error 595) at scenarios/x.yaml:31"
    error: wire.ApiError | None


def _effect_text(f: Fault) -> str:
    if f.effect == "error":
        return f"error {f.error['status'] if f.error else 500}"
    if f.effect == "garbage":
        return f"garbage {f.garbage_bytes} bytes"
    if f.effect == "dribble":
        return f"dribble {f.dribble_chunks} chunks over {_ms(f.dribble_seconds)}"
    if f.effect == "delay" and f.delay is not None and f.delay.kind == "fixed":
        return f"delay {_ms(f.delay.seconds)}"
    return f.effect


def _error_of(f: Fault) -> wire.ApiError | None:
    if f.effect != "error":
        return None
    spec = f.error or {}
    status = int(spec.get("status") or 500)
    errors = spec.get("errors") or None
    message = spec.get("message")
    if message is None:
        message = wire.PARAMETER_VERIFICATION_FAILED if errors and status == 400 else wire.status_message(status)
    message = str(message).rstrip("\n") or "Error"
    return wire.ApiError(status, message, {str(k): str(v) for k, v in errors.items()} if errors else None)


class FaultIndex(RuleIndex[CompiledFault]):
    """The scenario's faults by API node, with their gates. Falsy when there are none."""

    def __init__(self, scenario: Scenario) -> None:
        where = _display_path(scenario.file)
        self.seed = int(scenario.seed)
        super().__init__(
            scenario.api,
            (
                (
                    Matcher(f.when, where),
                    CompiledFault(
                        f, f.index + 1, f"fault #{f.index + 1} ({_effect_text(f)}) at {where}:{f.line}", _error_of(f)
                    ),
                )
                for f in scenario.faults
            ),
        )

    def pick(self, node: ApiNode, req: Request, world: World) -> Fired | None:
        """Count the request for every fault it matches; the first one whose gates open fires."""
        fired: Fired | None = None
        counts = world.fault_counts
        for matcher, compiled in self.candidates(node, req.method):
            if matcher.match(req) is None:
                continue
            f = compiled.fault
            n = counts[f.index] = counts.get(f.index, 0) + 1
            if fired is not None:
                continue
            after = f.after or 0
            if n <= after:
                continue
            if f.times is not None and n > after + f.times:
                continue
            if f.probability is not None and draw_unit(self.seed, f.index, n) >= f.probability:
                continue
            fired = Fired(compiled, n, self.seed)
        return fired


# --- a fault that fired -------------------------------------------------------------------------


class Fired:
    """One fault firing on one request."""

    __slots__ = ("compiled", "n", "seed", "entry", "note", "outcome", "hangs")

    def __init__(self, compiled: CompiledFault, n: int, seed: int) -> None:
        self.compiled = compiled
        self.n = n
        self.seed = seed
        self.entry: Entry | None = None
        self.note = ""  # the delay's detail prefix
        self.outcome = ""  # how it ended, when that is news ("server stopped")
        self.hangs: Hangs | None = None

    @property
    def effect(self) -> str:
        return self.compiled.fault.effect

    @property
    def error(self) -> wire.ApiError | None:
        return self.compiled.error

    @property
    def detail(self) -> str:
        return f"{self.compiled.label}; {self.outcome}" if self.outcome else self.compiled.label

    async def apply(self, request: web.BaseRequest, entry: Entry, hangs: Hangs) -> web.StreamResponse | None:
        """Carry out every effect but `error` (the pipeline renders that one).

        Returns a response that sends nothing when the fault broke the connection (reset,
        empty, garbage, hang); None when the request goes on (delay, truncate, dribble), in
        which case `settle` (called by the pipeline's `_finish`) shapes the final answer.
        """
        f = self.compiled.fault
        effect = f.effect
        entry.answered_by = FAULT  # what the journal shows while the request is in flight
        entry.detail = self.compiled.label
        self.hangs = hangs
        if effect in _GO_ON:
            self.entry = entry
            if effect == "delay" and f.delay is not None:
                seconds = draw_delay(f.delay, seeded_rng(self.seed, f.index, self.n, "delay"))
                self.note = f"delay {_ms(seconds)} by fault #{self.compiled.number}"
                entry.detail = self.note
                if not await hangs.sleep(seconds):  # the server stops: do not hold it up
                    self.outcome = "server stopped"
                    return _close(request)
            PENDING.set(self)
            return None
        transport = request.transport
        if effect == "hang":
            await hangs.hold()
            self.outcome = "server stopped" if hangs.stopping else "released"
            return _close(request)
        if transport is None:  # the client is gone already
            pass
        elif effect == "reset":
            _reset(transport)
        elif effect == "garbage":
            transport.write(garbage(self.seed, f.index, self.n, f.garbage_bytes))
            transport.close()
        else:  # empty
            transport.close()
        return Dropped()


def _close(request: web.BaseRequest) -> Dropped:
    transport = request.transport
    if transport is not None:
        transport.close()
    return Dropped()


def _reset(transport: asyncio.BaseTransport) -> None:
    """Abort with a TCP RST (SO_LINGER 0), not an orderly FIN."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()  # type: ignore[attr-defined]


# The delay/truncate/dribble fault of the request being handled, for `settle`. Each request
# runs in its own task (aiohttp copies the context), so this never leaks between requests.
PENDING: contextvars.ContextVar[Fired | None] = contextvars.ContextVar("scenariod_fault", default=None)


def settle(entry: Entry, response: Any, answered_by: str, detail: str) -> tuple[Any, str, str]:
    """The final answer of a request a going-on fault (delay, truncate, dribble) fired on.

    Called by the pipeline's `_finish` when `entry.answered_by` is still FAULT: returns the
    response to send, and what the journal says answered it and why.
    """
    fired = PENDING.get()
    if fired is None or fired.entry is not entry:
        return response, answered_by, detail
    PENDING.set(None)
    if fired.effect == "delay":
        return response, answered_by, f"{fired.note}; {detail}" if detail else fired.note
    inner = f"{answered_by}: {detail}" if detail else answered_by
    shaped = Shaped.wrap(response, fired)
    if shaped is None:  # nothing we can cut up (a streamed body): deliver it as it is
        return response, answered_by, detail
    label = fired.compiled.label
    if fired.effect == "truncate":
        label = f"{label}: {shaped.cut} of {len(shaped.payload)} bytes"
    return shaped, FAULT, f"{label}; {inner}"


# --- delivery -------------------------------------------------------------------------------------


class Dropped(web.StreamResponse):
    """What the pipeline returns once a fault broke the connection: aiohttp sends nothing more."""

    async def prepare(self, request: web.BaseRequest) -> Any:
        raise ConnectionResetError("connection broken by a scenariod fault")


class Shaped(web.StreamResponse):
    """A complete, valid answer delivered badly: truncated, or dribbled."""

    def __init__(self, inner: web.Response, payload: bytes, fired: Fired) -> None:
        super().__init__(status=inner.status, reason=inner.reason, headers=inner.headers)
        for name, morsel in inner.cookies.items():
            self.cookies[name] = morsel
        self.payload = payload
        self.content_length = len(payload)  # the full length: the client expects it all
        f = fired.compiled.fault
        self.effect = f.effect
        self.cut = len(payload) // 2
        self.seconds = f.dribble_seconds
        self.chunks = max(1, f.dribble_chunks)
        self.hangs = fired.hangs

    @classmethod
    def wrap(cls, response: Any, fired: Fired) -> Shaped | None:
        if type(response) is not web.Response:
            return None
        body = response.body
        if isinstance(body, (bytearray, memoryview)):
            body = bytes(body)
        if body is None:
            body = b""
        if not isinstance(body, bytes):
            return None
        return cls(response, body, fired)

    async def write_eof(self, data: bytes = b"") -> None:
        if self._eof_sent:
            return
        if self._must_be_empty_body or self._req is None:
            await super().write_eof()
            return
        if self.effect == "truncate":
            if self.cut:
                await self.write(self.payload[: self.cut])
            transport = self._req.transport
            if transport is not None:
                transport.close()  # flushes what was written, then FIN
            raise ConnectionResetError("answer truncated by a scenariod fault")
        # dribble: pieces k = 1..N at k/N of the duration
        payload = self.payload
        pieces = min(self.chunks, len(payload)) or 1
        loop = asyncio.get_running_loop()
        start = loop.time()
        size = len(payload)
        for k in range(1, pieces + 1):
            delay = start + self.seconds * k / pieces - loop.time()
            if delay > 0 and not await self._sleep(delay):  # the server stops: end it here
                transport = self._req.transport if self._req is not None else None
                if transport is not None:
                    transport.close()
                raise ConnectionResetError("dribble cut short: the server stops")
            piece = payload[size * (k - 1) // pieces : size * k // pieces]
            if piece:
                await self.write(piece)
        await super().write_eof()

    async def _sleep(self, seconds: float) -> bool:
        if self.hangs is None:
            await asyncio.sleep(seconds)
            return True
        return await self.hangs.sleep(seconds)


# --- hangs ------------------------------------------------------------------------------------------


class Hangs:
    """Requests held by faults on one Service: `hang`s until the next release (reload or stop);
    delays and dribbles only until the server stops, so that stopping is never held up."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self.stopping = False
        self.held = 0

    async def hold(self) -> None:
        """Wait for the next release (at once when the server is stopping)."""
        if self.stopping:
            return
        if self._event is None:
            self._event = asyncio.Event()
        event = self._event
        self.held += 1
        try:
            await event.wait()
        finally:
            self.held -= 1

    async def sleep(self, seconds: float) -> bool:
        """Sleep; False (at once) when the server starts stopping meanwhile."""
        if self.stopping:
            return False
        if self._stop is None:
            self._stop = asyncio.Event()
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            return True
        return False

    def release(self, stopping: bool = False) -> None:
        """Let every held request go (its connection is closed); later hangs wait anew.
        `stopping`: the server stops; also cut delays and dribbles short, and hold nothing more."""
        if stopping:
            self.stopping = True
            if self._stop is not None:
                self._stop.set()
        if self._event is not None:
            self._event.set()
            self._event = None
