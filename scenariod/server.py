"""The HTTP server: one Service per scenario file, and the request pipeline.

`Service.handle_api` is the whole pipeline, top to bottom, in the order of its numbered
steps: 0. replay (an identical GET whose answer cannot have changed), 1. find where the path
leads (format, API node, operation and its plan: remembered per path, runtime.Target), 2. parse
query and body (before refusing, so the journal shows what was sent even for an unknown path),
3. refuse a path or method the API description does not have, 4. faults, 5. auth, 6. routes,
7. validate parameters, 8. behave (a Proxmox handler, else generic CRUD; a handler that asks
another server returns a coroutine, awaited here; a task request becomes a UPID), 9. answer
(envelope, replay memo, journal). Each step is a call into the module that owns it.

The Service also owns its Worlds: it builds them (`new_world`, with the Proxmox preparers as
seeders), starts them afresh (`reset_world`) and swaps in a reload prepared by reload.py
(`swap`). Nothing else assigns its `world`, `sessions` or `runtime`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import ssl
import time
from collections.abc import Awaitable
from dataclasses import replace
from ipaddress import ip_address
from pathlib import Path
from types import CoroutineType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import orjson
from aiohttp import web
from jmespath.exceptions import JMESPathError

from . import __version__, faults, generic, wire
from .answer import JSON_HEADERS, json_answer, json_response
from .clock import clock
from .control import handle_control
from .gcpause import release_built
from .journal import AUTH, BUILTIN, FAULT, ROUTE, TASK, Entry
from .matching import jmespath_options
from .openapi import build_openapi
from .proxmox import prepare_state, stop_behaviours
from .reload import apply_diff, reload_service
from .request import MAX_BODY_DEPTH, Request, too_deep
from .runtime import CompiledRoute, Runtime
from .scenario.model import Scenario
from .tasks import TaskRequest
from .tls import server_context
from .world import Answer, Call, World

if TYPE_CHECKING:
    from .reload import Prepared
    from .statefile import StateFile

log = logging.getLogger("scenariod")

_READ_METHODS = frozenset({"GET", "HEAD"})
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


class _Site(web.TCPSite):
    """aiohttp's TCPSite with the TLS handshake bounded by limits.client_timeout as well: TCPSite
    passes asyncio no `ssl_handshake_timeout`, whose default (60 s) lets a client that connects
    and never speaks hold its connection that long."""

    def __init__(
        self,
        runner: web.ServerRunner,
        server: web.Server,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        handshake_timeout: float,
    ) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context, reuse_address=True)
        self._serve = (server, host, port, ssl_context, handshake_timeout)
        self.bound_port = port

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner (which stops it)
        server, host, port, ssl_context, handshake_timeout = self._serve
        listening = await asyncio.get_running_loop().create_server(
            server,
            host,
            port,
            ssl=ssl_context,
            reuse_address=True,
            ssl_handshake_timeout=handshake_timeout if ssl_context is not None else None,
        )
        self._server = listening
        self.bound_port = listening.sockets[0].getsockname()[1]


class Service:
    """One scenario served on one listener."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        host: str | None = None,
        port: int | None = None,
        tls: bool | None = None,
        control_token: str | None = None,
        limits: dict[str, int | None] | None = None,
    ) -> None:
        # The command line's limits (--journal-size, --task-limit) win over every version of the file.
        self.limit_overrides = {k: v for k, v in (limits or {}).items() if v is not None}
        self.authkey = os.urandom(32)  # signs this instance's tickets (World.authkey)
        scenario = self.adopt(scenario)
        self.runtime = Runtime(scenario)
        self.world = self.new_world(scenario=scenario)
        self.sessions: dict[str, World] = {}  # least recently used first (see session_world)
        self.session_times: dict[str, list[float]] = {}  # id -> [created, last used] (wall clock)
        self._control_token = control_token  # overrides the scenario's auth.control_token
        self.host = host or scenario.listen.host or "127.0.0.1"
        # Off loopback the control API is never open: without a token given, one is generated.
        self._generated_token = None if is_loopback(self.host) else secrets.token_urlsafe(24)
        self.port = port if port is not None else (scenario.listen.port or wire.DEFAULT_PORTS[scenario.service])
        self.tls = scenario.listen.tls if tls is None else tls
        self.listeners: list[Any] = []  # callables(service, entry) fed every finished request
        self.reloads = 0
        self.last_error: str | None = None
        self._runner: web.ServerRunner | None = None
        self.ca_file: str | None = None
        self.hangs = faults.Hangs()  # requests held by `hang` faults (issue 4)
        self.state_file: StateFile | None = None  # `run --state-file` (statefile.py) sets it
        self._attach(self.world)

    @property
    def scenario(self) -> Scenario:
        return self.runtime.scenario

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def adopt(self, scenario: Scenario) -> Scenario:
        """The scenario as this service serves it: with the command line's limits applied."""
        if not self.limit_overrides:
            return scenario
        return replace(scenario, limits=replace(scenario.limits, **self.limit_overrides))

    # -- worlds ------------------------------------------------------------------------------

    def new_world(self, name: str = "default", scenario: Scenario | None = None) -> World:
        """A World of `scenario` (default: the one served), seeded and completed by the Proxmox
        preparers; not attached to the request log (reload.py builds throwaway ones to diff)."""
        scenario = scenario if scenario is not None else self.scenario
        return World(scenario, name, seeders=(prepare_state,), options_for=jmespath_options, authkey=self.authkey)

    def reset_world(self) -> World:
        """Back to the seed: a fresh default World from the scenario as it is now (its
        predecessor's tasks stop; the request log follows the new journal)."""
        old = self.world
        old.tasks.cancel_all()
        release_built()
        self.world = self._attach(self.new_world(old.name))
        return self.world

    def swap(self, prepared: Prepared) -> None:
        """Serve a reload prepared by reload.py against the scenario served now: one synchronous
        step on the event loop, so no request sees half of it. Hung requests are released."""
        scenario = prepared.scenario
        self.release_hangs()
        release_built()
        if prepared.reset:
            self.world = self._fresh(self.world, scenario)
            for sid, world in list(self.sessions.items()):  # in place: the order is the LRU order
                self.sessions[sid] = self._fresh(world, scenario)
        else:
            for world in (self.world, *self.sessions.values()):
                apply_diff(world, prepared.diff, scenario)
        self.runtime = prepared.runtime
        self.reloads += 1
        self.last_error = None

    def _fresh(self, old: World, scenario: Scenario) -> World:
        """A fresh World in place of `old` that keeps its journal (the request history is not state)."""
        old.tasks.cancel_all()
        world = self.new_world(old.name, scenario)
        world.journal = old.journal
        world.journal.apply(scenario.limits)
        return world

    def _attach(self, world: World) -> World:
        world.journal.listeners.append(self.emit)
        return world

    def emit(self, entry: Entry) -> None:
        """Feed a finished request to the listeners (the request logs)."""
        for listener in self.listeners:
            listener(self, entry)

    # -- sessions: a World per parallel test (/_session/{id}/api2/..., X-Scenariod-Session) --

    @staticmethod
    def valid_session_id(sid: str) -> bool:
        """1-128 ASCII letters, digits and `-_.:@+~=`."""
        return 0 < len(sid) <= 128 and all(c.isascii() and (c.isalnum() or c in "-_.:@+~=") for c in sid)

    def session_world(self, sid: str) -> World:
        """The session's World, seeded on first use (the control API creates sessions so);
        beyond `limits.sessions`, the least recently used session is discarded."""
        world = self.sessions.get(sid)
        return self.admit_session(sid, world if world is not None else self._attach(self.new_world(sid)))

    def api_session_world(self, sid: str) -> World:
        """The World an API request of session `sid` runs in: the session's, or a provisional
        one that becomes the session's only once the request authenticates (`admit_session`),
        so requests without credentials neither create sessions nor evict others."""
        world = self.sessions.get(sid)
        if world is None:
            return self._attach(self.new_world(sid))
        return self.admit_session(sid, world)

    def admit_session(self, sid: str, world: World) -> World:
        """Make `world` the session's World, as its most recently used; returns the session's
        World (an earlier one stays when two first requests raced)."""
        now = time.time()
        current = self.sessions.pop(sid, None)
        if current is None:
            limit = max(1, self.scenario.limits.sessions)
            while len(self.sessions) >= limit:
                self.drop_session(next(iter(self.sessions)))
            self.session_times[sid] = [now, now]
            current = world
        else:
            self.session_times.setdefault(sid, [now, now])[1] = now
        self.sessions[sid] = current  # (re)inserted last: the dict is in least-recent-use order
        return current

    def drop_session(self, sid: str) -> bool:
        """Discard a session's World (its tasks stop); False when there was none."""
        world = self.sessions.pop(sid, None)
        self.session_times.pop(sid, None)
        if world is None:
            return False
        world.tasks.cancel_all()
        return True

    @property
    def control_token(self) -> str | None:
        """The bearer token /_scenariod/ requires: `--control-token`, else `auth.control_token`,
        else (listening beyond loopback) one generated for this run."""
        if self._control_token is not None:
            return self._control_token
        token = self.scenario.auth.control_token
        return token if token is not None else self._generated_token

    @property
    def control_notice(self) -> str | None:
        """What to print once on stderr (never in a log line) when the control token in use was
        generated for this run: the API is reachable beyond this machine."""
        if self._generated_token is None or self.control_token != self._generated_token:
            return None
        return (
            f"the control API {self.url}/_scenariod/ is reachable beyond this machine: it needs "
            f"`Authorization: Bearer {self._generated_token}` (generated for this run; "
            f"set --control-token or auth.control_token to choose one)"
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        ssl_context = None
        if self.tls:
            ssl_context, self.ca_file = server_context(self.scenario.listen, self.host)
        # A client has limits.client_timeout to send each request's headers (aiohttp's keep-alive
        # timer runs from the connection or the previous answer until a request is parsed), and
        # as long to send the rest of a body that was not read (lingering) before it is closed.
        timeout = self.scenario.limits.client_timeout
        server = web.Server(self.handle, handler_cancellation=True, keepalive_timeout=timeout, lingering_time=timeout)
        self._runner = web.ServerRunner(server, access_log=None)
        await self._runner.setup()
        site = _Site(self._runner, server, self.host, self.port, ssl_context, timeout)
        await site.start()
        if self.port == 0:  # an ephemeral port was asked for: learn which one we got
            self.port = site.bound_port

    def release_hangs(self, stopping: bool = False) -> None:
        """Close the connections of requests held by `hang` faults: on reload and on stop.
        `stopping` also cuts delay and dribble faults short, so they never hold a stop up."""
        self.hangs.release(stopping)

    async def reload(self, source: Scenario | str | Path | None = None, *, reset: bool = False) -> bool:
        """Serve a new version of the scenario (hot reload, issue 4); see reload.py.

        `source`: a loaded Scenario, a file, or None for this service's own file. Loading
        runs off the event loop; the swap of Runtime and state is one synchronous step, so a
        request in flight finishes against the Runtime it started with. Live state follows
        the seed's change (`reset`: fresh Worlds instead). An invalid file keeps the last
        good version serving, sets `last_error` and returns False; a good one clears it.
        """
        return await reload_service(self, source, reset=reset)

    async def stop(self) -> None:
        self.release_hangs(stopping=True)
        self.world.tasks.cancel_all()
        for world in self.sessions.values():
            world.tasks.cancel_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await stop_behaviours()

    # -- the front door -----------------------------------------------------------------------

    def handle(self, request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        """Every request: an API call of the default World goes straight into the pipeline (no
        coroutine in between on the hot path), the rest through `_door`."""
        raw = request.raw_path.split("?", 1)[0]
        if raw.startswith("/api2/") and not request.headers.get("X-Scenariod-Session"):
            return self.handle_api(request, raw, self.world, None)
        return self._door(request, raw)

    async def _door(self, request: web.BaseRequest, raw: str) -> web.StreamResponse:
        """Sessions (/_session/{id}/..., X-Scenariod-Session), the control API and the few other paths."""
        if raw.startswith("/api2/"):
            sid = request.headers["X-Scenariod-Session"]
            if not self.valid_session_id(sid):
                return _json({"error": f"invalid session id {sid[:140]!r}: 1-128 letters, digits or -_.:@+~="}, 400)
            return await self.handle_api(request, raw, self.api_session_world(sid), sid)
        if raw.startswith("/_session/"):  # /_session/{id}/api2/... and /_session/{id}/_scenariod/...
            sid, _, rest = raw[10:].partition("/")
            sid = unquote(sid)
            if not self.valid_session_id(sid):
                return _json({"error": f"invalid session id {sid[:140]!r}: 1-128 letters, digits or -_.:@+~="}, 400)
            if rest.startswith("api2/"):
                return await self.handle_api(request, "/" + rest, self.api_session_world(sid), sid)
            if rest == "_scenariod" or rest.startswith("_scenariod/"):
                return await handle_control(self, request, "/" + rest, sid)
            return web.Response(status=404, text="Not Found\n")
        if raw == "/_scenariod" or raw.startswith("/_scenariod/"):
            return await handle_control(self, request, raw, None)
        if raw == "/health":
            return _json({"status": "ok"})
        if raw == "/":
            scenario = self.scenario
            return _json(
                {
                    "service": scenario.service,
                    "product": wire.PRODUCT_NAMES[scenario.service],
                    "scenario": scenario.name,
                    "scenariod": __version__,
                    "api": scenario.api.version,
                }
            )
        if raw == "/openapi.json":
            return web.Response(body=orjson.dumps(build_openapi(self.scenario.api, self.url)), headers=JSON_HEADERS)
        return web.Response(status=404, text="Not Found\n")

    # -- the pipeline ---------------------------------------------------------------------------

    async def handle_api(
        self, request: web.BaseRequest, raw: str, world: World, session: str | None
    ) -> web.StreamResponse:
        started = time.perf_counter()
        runtime = self.runtime  # one consistent scenario for the whole request
        scenario = runtime.scenario
        target = request.raw_path  # aiohttp builds some request properties anew at each read
        method = request.method
        has_body = request.body_exists

        # 0. a repeat of a GET whose answer depends on nothing that changed since: replay it
        replay_key = None
        if method in _READ_METHODS and not has_body:
            headers = request.headers
            replay_key = (target, headers.get("Authorization"), headers.get("Cookie"))
            answer = world.answers.get(replay_key)
            if (
                answer is not None
                and answer.runtime is runtime
                and answer.generation == world.store.generation
                and clock(world) < answer.until
            ):
                entry = world.journal.open("GET", answer.path, answer.query, {}, headers, session, answer.fmt)
                entry.user = answer.user
                response = json_answer(request, answer.payload)
                return self._finish(entry, world, response, 200, BUILTIN, "", started)

        # 1. format and path (and 3., where they lead: both remembered per path, runtime.py)
        if method == "HEAD":
            method = "GET"
        where = runtime.target(method, raw)
        fmt, path = where.fmt, where.path
        extjs = fmt == "extjs"

        # 2. parse query and body (before refusing anything, so the journal shows what was sent)
        raw_query = target.partition("?")[2]  # read here, not through yarl's MultiDict
        if "#" in raw_query:  # a fragment is not part of the query
            raw_query = raw_query.partition("#")[0]
        query = _form(raw_query) if raw_query else {}
        try:
            if not has_body:
                body = {}
            elif (whole := _buffered_body(request, ctype := _content_type(request))) is not None:
                body = _parameters(ctype, whole)  # it came with the headers: no wait
            else:
                async with asyncio.timeout(scenario.limits.client_timeout):  # a stalled body is cut off
                    body = await _read_body(request, ctype)
        except TimeoutError:
            body = {}
            entry = world.journal.open(method, path, query, body, {}, session, fmt)
            late = wire.ApiError(408, wire.status_message(408))
            response = _error(late, extjs)
            response.force_close()  # and aiohttp closes the connection once lingering ends (see start)
            return self._finish(entry, world, response, 408, BUILTIN, late.message, started)
        except wire.ApiError as err:
            body = {}
            entry = world.journal.open(method, path, query, body, {}, session, fmt)
            return self._finish(entry, world, _error(err, extjs), err.status, BUILTIN, err.message, started)
        headers = request.headers  # case-insensitive; lower-cased only if an expression reads it
        entry = world.journal.open(method, path, query, body, headers, session, fmt)

        if fmt not in wire.FORMATS:
            unknown = wire.not_implemented(method, path, fmt)
            return self._finish(entry, world, _error(unknown, False), 501, BUILTIN, unknown.message, started)

        # 3. a path or method the API description does not have
        node, op, plan = where.node, where.op, where.plan
        if node is None or op is None or plan is None:
            unknown = wire.not_implemented(method, path, fmt)
            return self._finish(entry, world, _error(unknown, extjs), 501, BUILTIN, unknown.message, started)
        segments, params = list(where.segments), dict(where.params)  # this request's own
        req = Request(method, path, segments, params, query, body, headers, world.options)

        # A session's first request runs in a provisional World, which becomes the session's
        # only if the request authenticates (before faults: they may answer in its stead).
        if session is not None and self.sessions.get(session) is not world:
            try:
                if runtime.auth.authenticate(request, method, world, node, req) is not None:
                    world = self.admit_session(session, world)
            except wire.ApiError:
                pass  # refused: step 5 answers so, and the World is forgotten

        # 4. faults, before everything the scenario does not break (see faults.py): the first
        # fault that fires answers with an error, breaks the connection, or (delay, truncate,
        # dribble) lets the request go on and shapes its answer in _finish.
        if plan.faults:
            fired = runtime.faults.pick(node, req, world)
            if fired is not None:
                if fired.error is not None:
                    response = _error(fired.error, extjs)
                    return self._finish(entry, world, response, fired.error.status, FAULT, fired.detail, started)
                try:
                    dropped = await fired.apply(request, entry, self.hangs)
                except asyncio.CancelledError:  # the client left during a delay or a hang: no answer
                    self._record(entry, world, 0, FAULT, fired.detail + "; client went away", started)
                    raise
                if dropped is not None:
                    return self._finish(entry, world, dropped, 0, FAULT, fired.detail, started)

        # 5. auth
        try:
            user = runtime.auth.authenticate(request, method, world, node, req)
        except wire.ApiError as err:
            return self._finish(entry, world, _error(err, extjs), err.status, AUTH, err.message, started)
        req.user = entry.user = user

        # 6. the scenario's routes
        if plan.routes:
            found = runtime.routes.first(node, req)
            if found is not None:
                route, bound = found
                try:
                    response = await self._respond(route, req, bound, extjs, world, scenario.seed)
                except JMESPathError as exc:  # a `${...}` that fails on this request
                    failed = wire.ApiError(500, f"scenariod: the route `{route.source}` could not render: {exc}")
                    return self._finish(entry, world, _error(failed, extjs), 500, ROUTE, failed.message, started)
                return self._finish(entry, world, response, response.status, ROUTE, route.source, started)

        # 7. parameter validation, 8. behaviour, as this operation's Plan says
        call = Call(scenario, world, node, op, method, segments, params, req, user)
        answered_by = BUILTIN
        try:
            raw_args = {**query, **body, **params} if body else ({**query, **params} if query else dict(params))
            if len(raw_args) != len(query) + len(body) + len(params) and scenario.service == "pve":  # a name repeated
                _refuse_repeated_path_parameter(params, query, body)
            if runtime.permissions is not None:  # PVE checks privileges before it verifies parameters
                runtime.permissions(call, raw_args)
            args = call.args = op.validator.validate(raw_args)
            task_rule = runtime.tasks.first(node, req) if plan.task_rules else None
            if task_rule is not None:
                call.as_task = True
            for name in plan.write_only:
                args.pop(name, None)  # a secret Proxmox keeps apart and never answers
            if plan.ancestors:
                generic.check_items(world.store, plan.ancestors, segments, params)
            result = plan.handler(call)
            if type(result) is CoroutineType:  # a behaviour that asks another server (PDM's live remotes)
                result = await result
            if runtime.permissions is not None and method == "GET":  # a list shows what the caller may see
                result = runtime.permissions.visible(call, result)
            if session is not None and call.user is not None and self.sessions.get(session) is not world:
                self.admit_session(session, world)  # a login in a provisional World succeeded
            if isinstance(result, TaskRequest):
                if task_rule is None:
                    result = world.tasks.start(result)
                else:
                    compiled = task_rule[0]
                    rule_log = [(at, str(line.render(req))) for at, line in compiled.log]
                    result = world.tasks.start(result, compiled.rule, rule_log)
                answered_by = TASK
        except wire.ApiError as err:
            return self._finish(entry, world, _error(err, extjs), err.status, BUILTIN, err.message, started)
        except Exception as exc:  # a bug of ours must still answer in Proxmox's shape
            log.exception("internal error on %s %s", method, path)
            bug = wire.ApiError(500, f"scenariod internal error: {type(exc).__name__}: {exc}")
            return self._finish(entry, world, _error(bug, extjs), 500, BUILTIN, bug.message, started)

        # 9. envelope
        if isinstance(result, wire.Encoded):
            payload = wire.encode_extjs(result.data) if extjs else result.json
        else:
            if isinstance(result, wire.Reply):
                data, extra = result.data, result.extra
            else:
                data, extra = result, None
            payload = wire.encode_extjs(data, 200, extra) if extjs else wire.encode_json(data, extra)
        if replay_key is not None and user is not None and answered_by is BUILTIN and plan.replayable:
            world.keep_answer(
                replay_key,
                Answer(
                    runtime,
                    world.store.generation,
                    runtime.auth.horizon(request, user, world),
                    path,
                    fmt,
                    query,
                    user,
                    payload,
                ),
            )
        response = json_answer(request, payload) if entry.answered_by is not FAULT else json_response(payload)
        return self._finish(entry, world, response, 200, answered_by, "", started)

    def _finish(
        self,
        entry: Entry,
        world: World,
        response: web.StreamResponse,
        status: int,
        answered_by: str,
        detail: str,
        started: float,
    ) -> web.StreamResponse:
        if entry.answered_by is FAULT:  # a delay, truncate or dribble fault fired in step 4
            response, answered_by, detail = faults.settle(entry, response, answered_by, detail)
        self._record(entry, world, status, answered_by, detail, started)
        return response

    @staticmethod
    def _record(entry: Entry, world: World, status: int, answered_by: str, detail: str, started: float) -> None:
        """Close the request's journal entry (the request logs hear of it)."""
        entry.status = status
        entry.answered_by = answered_by
        entry.detail = detail
        entry.latency = time.perf_counter() - started
        world.journal.close(entry)

    async def _respond(
        self, route: CompiledRoute, req: Request, bound: dict[str, str], extjs: bool, world: World, seed: int
    ) -> web.Response:
        """A route's `respond`: its data in the envelope, or its raw body, after its delay.

        A random delay is drawn from the scenario's seed: the n-th delayed answer of a route in
        a World waits the same on every run with the same seed."""
        respond = route.respond
        if bound:
            req.params = {**req.params, **bound}
            req._context = None
        if respond.delay is not None:
            n = world.route_counts.get(route.index, 0) + 1
            world.route_counts[route.index] = n
            rng = faults.seeded_rng(int(seed), route.index, n, "route delay")
            await asyncio.sleep(faults.draw_delay(respond.delay, rng))
        headers = dict(JSON_HEADERS)
        headers.update({k: str(v) for k, v in route.headers.render(req).items()})
        status = respond.status
        if route.body is not None:
            body = route.body.render(req)
            text = body if isinstance(body, str) else orjson.dumps(body).decode()
            return web.Response(text=text, status=status, headers=headers)
        if route.data is None and status >= 400:
            err = wire.ApiError(status, wire.status_message(status))
            return _error(err, extjs, headers)
        data = route.data.render(req) if route.data is not None else None
        if route.check is not None and status < 300:
            for problem in route.check(data):  # served as rendered: the author sees why it looks odd
                log.warning("%s:%d: respond.data as rendered: %s", self.scenario.file, route.line, problem)
        if extjs:
            return web.Response(body=wire.encode_extjs(data, status), headers=headers)
        return web.Response(body=wire.encode_json(data), status=status, headers=headers)


# --- helpers ----------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """Does `host` (an address or localhost) reach this machine only?"""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, headers=JSON_HEADERS)


def _error(err: wire.ApiError, extjs: bool, headers: dict[str, str] | None = None) -> web.Response:
    if extjs:
        return web.Response(body=wire.extjs_error_body(err), headers=headers or JSON_HEADERS)
    return web.Response(
        body=wire.error_body(err),
        status=err.status,
        reason=wire.reason_for(err.message),
        headers=headers or JSON_HEADERS,
    )


def _multi(pairs: Any) -> dict[str, Any]:
    """Multipart form parameters; a repeated key keeps all its values (Proxmox array parameters)."""
    out: dict[str, Any] = {}
    for key, value in pairs.items():
        if not isinstance(value, str):  # an uploaded file: pveproxy passes its name as the parameter
            value = getattr(value, "filename", None)
            if not isinstance(value, str):
                continue
        if key in out:
            _repeat(out, key, value)
        else:
            out[key] = value
    return out


def _refuse_repeated_path_parameter(params: dict[str, str], query: dict[str, Any], body: dict[str, Any]) -> None:
    """pve-http-server's rest_handler: a query or body parameter naming a path parameter must hold
    the same value (compared as strings), else 400 before the privilege check. PBS and PDM keep
    the path's value (as proxmox-rest-server does with a JSON body)."""
    clashes = [n for n, v in params.items() if (n in query and str(query[n]) != v) or (n in body and str(body[n]) != v)]
    if clashes:
        raise wire.path_parameter_conflict(min(clashes))  # rest_handler checks them in sorted order


def _form(text: str) -> dict[str, Any]:
    """A query string or form body, read as `parse_qsl(text, keep_blank_values=True)` reads it
    (`&`-separated, `+` a space, %-escapes as UTF-8 with U+FFFD for a bad byte), straight into
    the parameters: a repeated key keeps all its values. A pair with no escape is taken as is,
    so the usual request pays two splits per parameter and no decoding."""
    out: dict[str, Any] = {}
    for pair in text.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        if "%" in pair or "+" in pair:
            key = unquote(key.replace("+", " "))
            value = unquote(value.replace("+", " "))
        if key in out:
            _repeat(out, key, value)
        else:
            out[key] = value
    return out


def _repeat(out: dict[str, Any], key: str, value: str) -> None:
    previous = out[key]
    out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]


def _content_type(request: web.BaseRequest) -> str:
    ctype = request.headers.get("Content-Type")
    return _FORM if ctype == _FORM else request.content_type  # else aiohttp parses the header


def _buffered_body(request: web.BaseRequest, ctype: str) -> bytes | None:
    """The whole body, taken from the buffer, when it arrived with the headers (the usual small
    form): no read loop, no timer. None when it must be awaited, or is multipart."""
    content = request.content
    if not content.is_eof() or ctype == _MULTIPART:
        return None
    raw = content.read_nowait()
    if len(raw) > request.client_max_size:
        raise _too_large(web.HTTPRequestEntityTooLarge(request.client_max_size, len(raw)))
    return raw


async def _read_body(request: web.BaseRequest, ctype: str) -> dict[str, Any]:
    """A body still arriving (or multipart), read in full; parsed as `_parameters` says."""
    try:
        if ctype == _MULTIPART:
            return _multi(await request.post())
        raw = await request.read()
    except (ValueError, LookupError) as exc:  # no boundary, an unknown charset, a part not UTF-8
        raise wire.malformed_body("form data", str(exc)) from None
    except web.HTTPRequestEntityTooLarge as exc:
        raise _too_large(exc) from None
    return _parameters(ctype, raw)


def _too_large(exc: web.HTTPRequestEntityTooLarge) -> wire.ApiError:
    return wire.ApiError(413, exc.text or "Request Entity Too Large")


def _parameters(ctype: str, raw: bytes) -> dict[str, Any]:
    """Form-encoded or JSON parameters, as Proxmox accepts both; hostile bodies answer 400.

    A form is read as pveproxy reads it: UTF-8 whatever the charset says, a byte that is not
    UTF-8 read as U+FFFD (parameter validation then judges the value). A JSON body nested
    deeper than `MAX_BODY_DEPTH` is refused: nothing could serve such a value back."""
    if not raw.strip():
        return {}
    if ctype == "application/json":
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise wire.malformed_body("JSON", str(exc)) from None
        if not isinstance(value, dict):
            raise wire.malformed_body("JSON", "expected an object of parameters")
        if too_deep(raw, value, MAX_BODY_DEPTH):
            raise wire.malformed_body("JSON", f"nested deeper than {MAX_BODY_DEPTH} levels")
        return value
    # A form, or a body without a content type: Proxmox parses it as a form (repeated keys too).
    return _form(raw.decode("utf-8", "replace"))
