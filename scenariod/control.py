"""The control API under /_scenariod/: journal, verification, state, reset, sessions, scenario.

JSON in, JSON out, for tests and tools; docs/control-api.md is the reference. Every endpoint
acts on the default World, or on a session's World with `?session=ID`, the
`X-Scenariod-Session` header, or the `/_session/ID/_scenariod/...` prefix (created from the
seed on first use, as API requests create it). Reading endpoints also take `session=*`: the
default World and every session together.

When a control token is set (`auth.control_token`, `--control-token`), every request needs
`Authorization: Bearer TOKEN`; otherwise 401.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import fnmatch
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import orjson
from aiohttp import web

from . import __version__, filelimits
from . import scenario as scenarios  # its loader is imported on first use (start-up speed)
from .answer import JSON_HEADERS
from .clock import clock
from .journal import CONTROL, Entry, Journal
from .matching import match_path
from .proxmox.auth import same_secret
from .request import MAX_BODY_DEPTH, too_deep
from .scenario import ScenarioInvalid, parse_duration
from .state import MISSING, ensure_ancestors, normalize, split
from .verify import CLOSEST, check, entry_json

if TYPE_CHECKING:
    from .server import Service
    from .world import World

PREFIX = "/_scenariod"
SESSION_HEADER = "X-Scenariod-Session"
ALL = "*"
VERIFY_FAILED = 409  # GET/POST /_scenariod/verify when an expectation is not met


class ControlError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        headers={**JSON_HEADERS, **(headers or {})},
    )


class Ctl:
    """One control request: the service, the parsed request, and the World(s) it targets."""

    def __init__(
        self, service: Service, request: web.BaseRequest, method: str, rest: list[str], session: str | None
    ) -> None:
        self.service = service
        self.request = request
        self.method = method
        self.rest = rest  # path segments after /_scenariod/<endpoint>
        self.query = request.query
        self.session = session

    def world(self) -> World:
        """The one World this request acts on (a session's is created on first use)."""
        sid = self.session
        if sid is None:
            return self.service.world
        if sid == ALL:
            raise ControlError(400, "session=* reads every World; this endpoint acts on one: give a session id")
        return self.service.session_world(sid)

    def worlds(self) -> list[World]:
        """The Worlds a reading endpoint reads: one, or all of them with session=*."""
        if self.session == ALL:
            return [self.service.world, *self.service.sessions.values()]
        return [self.world()]

    def entries(self) -> list[Entry]:
        worlds = self.worlds()
        if len(worlds) == 1:
            return list(worlds[0].journal)
        return sorted((e for w in worlds for e in w.journal), key=lambda e: e.id)

    async def body(self) -> Any:
        """The JSON body; refused when it is not JSON or nested deeper than any answer could
        show it again (state stored from it must always be readable)."""
        seconds = self.service.scenario.limits.client_timeout
        try:
            async with asyncio.timeout(seconds):
                raw = await self.request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise ControlError(413, f"the request body is too large: {exc.text}") from None
        except TimeoutError:  # the connection closes after the answer (see Service.start)
            raise ControlError(
                408, f"the request body did not arrive within {seconds:g}s (limits.client_timeout)"
            ) from None
        if not raw.strip():
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ControlError(400, f"the request body is not JSON: {exc}") from None
        if too_deep(raw, value, MAX_BODY_DEPTH):
            raise ControlError(400, f"the request body is nested deeper than {MAX_BODY_DEPTH} levels")
        return value


Handler = Callable[[Ctl], Awaitable[web.StreamResponse]]


async def handle_control(
    service: Service, request: web.BaseRequest, raw: str, session: str | None
) -> web.StreamResponse:
    """Answer a request under /_scenariod/ (`raw`: its path without the query string)."""
    started = time.perf_counter()
    method = "GET" if request.method == "HEAD" else request.method
    segments = [unquote(s) for s in raw[len(PREFIX) :].split("/") if s]
    name = segments[0] if segments else ""
    try:
        token = service.control_token
        if token is not None and not _bearer_ok(request.headers.get("Authorization", ""), token):
            raise ControlError(
                401, "the control API needs `Authorization: Bearer TOKEN` (auth.control_token or --control-token)"
            )
        if session is None:
            session = request.query.get("session") or request.headers.get(SESSION_HEADER) or None
        if session is not None and session != ALL and not service.valid_session_id(session):
            raise ControlError(400, f"invalid session id {session[:140]!r}: 1-128 letters, digits or -_.:@+~=")
        methods = ENDPOINTS.get(name)
        if methods is None:
            raise ControlError(
                404, f"no control endpoint {raw}", endpoints=sorted(f"{PREFIX}/{n}" for n in ENDPOINTS if n)
            )
        handler = methods.get(method)
        if handler is None:
            allowed = ", ".join(sorted(methods))
            raise ControlError(405, f"{PREFIX}/{name} takes {allowed}, not {method}", allow=allowed)
        response = await handler(Ctl(service, request, method, segments[1:], session))
    except ControlError as err:
        headers = {}
        if err.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="scenariod"'
        if err.status == 405:
            headers["Allow"] = err.extra.get("allow", "")
        response = _json({"error": err.message, **err.extra}, err.status, headers)
    if name != "health":  # readiness polling would flood the request log
        _log(service, request, raw, session, response.status, started)
    return response


def _bearer_ok(header: str, token: str) -> bool:
    scheme, _, value = header.strip().partition(" ")
    return scheme.lower() == "bearer" and same_secret(value.strip(), token)


def _log(
    service: Service, request: web.BaseRequest, raw: str, session: str | None, status: int, started: float
) -> None:
    """Show the control request in the live request log (it is not part of any journal)."""
    if not service.listeners:
        return
    query = dict(request.query) if request.query_string else {}
    entry = Entry(
        id=next(Journal.ids),
        time=time.time(),
        method=request.method,
        path=raw,
        query=query,
        body={},
        headers=request.headers,
        session=session,
        fmt="control",
        status=status,
        answered_by=CONTROL,
        latency=time.perf_counter() - started,
    )
    service.emit(entry)


# --- endpoints -----------------------------------------------------------------------------------


async def index(ctl: Ctl) -> web.StreamResponse:
    return _json(
        {
            "scenariod": __version__,
            "endpoints": {f"{PREFIX}/{n}": sorted(m) for n, m in ENDPOINTS.items() if n},
            "docs": "docs/control-api.md",
        }
    )


async def health(ctl: Ctl) -> web.StreamResponse:
    service = ctl.service
    return _json(
        {
            "status": "ok",
            "service": service.scenario.service,
            "scenario": service.scenario.name,
            "scenariod": __version__,
            "sessions": len(service.sessions),
            "reloads": service.reloads,
            "last_error": service.last_error,
        }
    )


async def scenario_info(ctl: Ctl) -> web.StreamResponse:
    service = ctl.service
    s = service.scenario
    return _json(
        {
            "name": s.name,
            "description": s.description,
            "file": str(s.file),
            "service": s.service,
            "api": s.api.version,
            "url": service.url,
            "tls": bool(service.tls),
            "ca_file": service.ca_file,
            "expectations": len(s.expect),
            "limits": {**asdict(s.limits), "file": asdict(filelimits.current())},
            "reloads": service.reloads,
            "last_error": service.last_error,
            "text": s.text,
        }
    )


# journal


async def journal_get(ctl: Ctl) -> web.StreamResponse:
    q = ctl.query
    keep = _journal_filters(q)
    entries = [e for e in ctl.entries() if all(f(e) for f in keep)]
    limit = q.get("limit")
    if limit is not None:
        n = _int(limit, "limit", minimum=0)
        entries = entries[-n:] if n else []
    return _json({"count": len(entries), "session": ctl.session, "entries": [entry_json(e) for e in entries]})


async def journal_delete(ctl: Ctl) -> web.StreamResponse:
    cleared = 0
    for world in ctl.worlds():
        cleared += len(world.journal)
        world.journal.clear()
    return _json({"cleared": cleared, "session": ctl.session})


def _journal_filters(q: Any) -> list[Callable[[Entry], bool]]:
    keep: list[Callable[[Entry], bool]] = []
    if q.get("method"):
        methods = {m.strip().upper() for m in q["method"].split(",") if m.strip()}
        keep.append(lambda e: e.method in methods)
    if q.get("path"):
        keep.append(path_filter(q["path"]))
    if q.get("status"):
        keep.append(_status_filter(q["status"]))
    if q.get("since"):
        keep.append(_since_filter(q["since"]))
    if q.get("answered_by"):
        what = {a.strip() for a in q["answered_by"].split(",")}
        keep.append(lambda e: e.answered_by in what)
    return keep


def path_filter(text: str) -> Callable[[Entry], bool]:
    """A `when`-style pattern (`{x}` and `*`: one segment, `**`: the rest), or a glob when a
    `*` or `?` sits inside a segment (`/nodes/*/qemu*`); /api2/json is optional."""
    pattern = normalize(text.strip())
    segs = [s for s in pattern.split("/") if s]
    is_glob = any(("*" in s and s not in ("*", "**")) or "?" in s or "[" in s for s in segs) or "**" in segs[:-1]
    if is_glob:
        return lambda e: fnmatch.fnmatchcase(e.path, pattern)
    pat = tuple(segs)
    return lambda e: match_path(pat, [s for s in e.path.split("/") if s], {})


def _status_filter(text: str) -> Callable[[Entry], bool]:
    exact: set[int] = set()
    classes: set[int] = set()
    for word in (w.strip().lower() for w in text.split(",") if w.strip()):
        if len(word) == 3 and word[0].isdigit() and word[1:] == "xx":
            classes.add(int(word[0]))
        elif word.isdigit():
            exact.add(int(word))
        else:
            raise ControlError(400, f"status={text}: give codes or classes, like 200, 4xx or 2xx,501")
    return lambda e: e.status in exact or e.status // 100 in classes


def _since_filter(text: str) -> Callable[[Entry], bool]:
    try:
        value = float(text)
    except ValueError:
        try:
            stamp = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ControlError(400, f"since={text}: give an entry id, a unix time or an ISO 8601 time") from None
        if stamp.tzinfo is None:
            stamp = stamp.astimezone()
        value = stamp.timestamp()
        return lambda e: e.time >= value
    if value < 1e9:  # an entry id: the entries after it
        return lambda e: e.id > value
    return lambda e: e.time >= value


# verification


async def verify_get(ctl: Ctl) -> web.StreamResponse:
    """The scenario's `expect` section against the journal."""
    scenario = ctl.service.scenario
    entries = ctl.entries()
    options = ctl.worlds()[0].options
    closest = _closest(ctl.query.get("closest"))
    checks = []
    for exp in scenario.expect:
        c = check(exp.when, exp.min, exp.max, entries, scenario.api, options, exp.description, closest)
        c["line"] = exp.line
        checks.append(c)
    return _report(ctl, checks, str(scenario.file))


async def verify_post(ctl: Ctl) -> web.StreamResponse:
    """`{"when": ..., "count"|"min"|"max"|"never"}`, or `{"expect": [...]}` (a file's section)."""
    body = await ctl.body()
    if not isinstance(body, dict):
        raise ControlError(400, 'post {"when": ..., "count": N} (or min/max/never), or {"expect": [...]}')
    closest = _closest(body.get("closest", ctl.query.get("closest")))
    scenario = ctl.service.scenario
    entries = ctl.entries()
    options = ctl.worlds()[0].options
    if "expect" in body:
        items = body["expect"]
        if not isinstance(items, list):
            raise ControlError(400, "`expect` must be a list of expectations, as in a scenario file")
        expects = compile_expectations(scenario, items)
        checks = [check(e.when, e.min, e.max, entries, scenario.api, options, e.description, closest) for e in expects]
        return _report(ctl, checks, None)
    item = {k: v for k, v in body.items() if k not in ("closest", "session")}
    (exp,) = compile_expectations(scenario, [item])
    c = check(exp.when, exp.min, exp.max, entries, scenario.api, options, exp.description, closest)
    c["count"] = c["got"]
    c["session"] = ctl.session
    return _json(c, 200 if c["ok"] else VERIFY_FAILED)


def _report(ctl: Ctl, checks: list[dict[str, Any]], file: str | None) -> web.Response:
    ok = all(c["ok"] for c in checks)
    report = {
        "ok": ok,
        "scenario": ctl.service.scenario.name,
        "file": file,
        "session": ctl.session,
        "failed": sum(1 for c in checks if not c["ok"]),
        "expectations": checks,
    }
    return _json(report, 200 if ok else VERIFY_FAILED)


def _closest(value: Any) -> int:
    if value is None:
        return CLOSEST
    return _int(value, "closest", minimum=0)


def compile_expectations(scenario: Any, items: list[Any]) -> list[Any]:
    """Expectations written as in a scenario's `expect` section, checked the same way."""
    doc = {"scenariod": 1, "name": "verify", "service": scenario.service, "api": scenario.api.version, "expect": items}
    try:
        compiled = scenarios.parse_scenario(json.dumps(doc, default=str), "<verify>")
    except ScenarioInvalid as exc:
        problems = [d.message for d in exc.diagnostics]
        raise ControlError(400, "; ".join(problems), problems=problems) from None
    return list(compiled.expect)


# state


async def state_get(ctl: Ctl) -> web.StreamResponse:
    store = ctl.world().store
    raw = ctl.query.get("path")
    if raw is None:
        under = ctl.query.get("under")
        if under is not None:
            return _json({"paths": dict(store.walk(normalize(under)))})
        return _json({"paths": store.export()})
    return state_answer(ctl, normalize(raw))


async def state_post(ctl: Ctl) -> web.StreamResponse:
    """`POST /_scenariod/state/save`: write the default World's state to `--state-file` now."""
    if ctl.rest != ["save"]:
        raise ControlError(404, f"no control endpoint {PREFIX}/state/{'/'.join(ctl.rest)}; POST {PREFIX}/state/save")
    if ctl.session is not None:
        raise ControlError(400, "only the default World is saved; sessions are a test's private copies")
    state_file = ctl.service.state_file
    if state_file is None:
        raise ControlError(409, "nowhere to save: start with `scenariod run FILE --state-file PATH`")
    try:
        return _json(await state_file.save(ctl.service))
    except OSError as exc:
        raise ControlError(500, f"cannot save the state to {state_file.path}: {exc.strerror or exc}") from None


def state_answer(ctl: Ctl, path: str) -> web.Response:
    """The value at `path` (a collection: its items), or 404."""
    store = ctl.world().store
    node = _api_node(ctl, path)
    if node is not None and node.kind == "collection":
        return _json({"path": path, "kind": "collection", "value": store.items(path)})
    value = store.get(path)
    if value is MISSING:
        if store.exists(path):
            return _json({"path": path, "kind": "collection", "value": store.items(path)})
        raise ControlError(404, f"nothing is stored at {path}")
    return _json({"path": path, "kind": "value", "value": value})


async def state_put(ctl: Ctl) -> web.StreamResponse:
    path, node = _writable_path(ctl)
    value = await ctl.body()
    world = ctl.world()
    store = world.store
    api = ctl.service.scenario.api
    if node.kind == "collection" and isinstance(value, list):
        items = _keyed_items(node, path, value)
        keep = {k for k, _ in items}
        for key in store.keys(path):
            if key not in keep:
                store.delete([*split(path), key])
        ensure_ancestors(store, api, path)
        for key, item in items:
            store.set([*split(path), key], item)
        if not items and store.get(path) is MISSING:
            store.set(path, {})  # an explicitly empty collection exists
    else:
        ensure_ancestors(store, api, path)
        store.set(path, value)
    world.cache.clear()
    return state_answer(ctl, path)


async def state_patch(ctl: Ctl) -> web.StreamResponse:
    path, node = _writable_path(ctl)
    patch = await ctl.body()
    world = ctl.world()
    store = world.store
    api = ctl.service.scenario.api
    ensure_ancestors(store, api, path)
    if node.kind == "collection" and isinstance(patch, list):
        for key, item in _keyed_items(node, path, patch):
            item_path = [*split(path), key]
            current = store.get(item_path)
            store.set(item_path, merge(current, item) if current is not MISSING else _drop_nulls(item))
    else:
        current = store.get(path)
        store.set(path, merge(current, patch) if current is not MISSING else _drop_nulls(patch))
    world.cache.clear()
    return state_answer(ctl, path)


async def state_delete(ctl: Ctl) -> web.StreamResponse:
    raw = ctl.query.get("path")
    if not raw:
        raise ControlError(400, "DELETE /_scenariod/state needs ?path=API-PATH (path=/ removes everything)")
    path = normalize(raw)
    world = ctl.world()
    if not world.store.exists(path):
        raise ControlError(404, f"nothing is stored at {path}")
    world.store.delete(path)
    world.cache.clear()
    return _json({"deleted": path, "session": ctl.session})


def _api_node(ctl: Ctl, path: str) -> Any:
    resolved = ctl.service.scenario.api.resolve(path)
    return resolved[0] if resolved else None


def _writable_path(ctl: Ctl) -> tuple[str, Any]:
    raw = ctl.query.get("path")
    if not raw:
        raise ControlError(400, f"{ctl.method} /_scenariod/state needs ?path=API-PATH")
    path = normalize(raw)
    node = _api_node(ctl, path)
    if node is None:
        scenario = ctl.service.scenario
        near = scenario.api.nearest(path)
        hint = f"; did you mean {near}?" if near else ""
        raise ControlError(400, f"{path} is not a path of the {scenario.service.upper()} API{hint}")
    return path, node


def _keyed_items(node: Any, path: str, items: list[Any]) -> list[tuple[str, Any]]:
    field = node.key_field or node.key
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or item.get(field) is None:
            raise ControlError(400, f"item {i} of {path} needs its key `{field}`")
        out.append((str(item[field]), copy.deepcopy(item)))
    return out


def merge(current: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386): mappings merge recursively, null removes a key, anything
    else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(current) if isinstance(current, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    return copy.deepcopy(value)


# reset, clock


async def reset(ctl: Ctl) -> web.StreamResponse:
    """Back to the seed: a fresh World from the scenario as it is now."""
    service = ctl.service
    scenario = service.scenario
    if ctl.session == ALL or ctl.query.get("all") in ("1", "true", "yes"):
        dropped = list(service.sessions)
        for sid in dropped:
            service.drop_session(sid)
        service.reset_world()
        return _json({"reset": "default", "sessions_discarded": dropped})
    if ctl.session is None:
        service.reset_world()
        return _json({"reset": "default"})
    sid = ctl.session
    service.drop_session(sid)
    service.session_world(sid)
    return _json({"reset": sid, "scenario": scenario.name})


async def reload(ctl: Ctl) -> web.StreamResponse:
    """Load the scenario's file again now (as a save does when the file is watched);
    `{"reset": true}`: fresh Worlds instead of live state following the seed's change."""
    body = await ctl.body()
    reset_worlds = bool(body.get("reset")) if isinstance(body, dict) else False
    service = ctl.service
    ok = await service.reload(reset=reset_worlds)
    return _json({"ok": ok, "reloads": service.reloads, "last_error": service.last_error}, 200 if ok else 422)


async def clock_get(ctl: Ctl) -> web.StreamResponse:
    world = ctl.world()
    return _json({"offset": world.clock_offset, "now": clock(world)})


async def clock_post(ctl: Ctl) -> web.StreamResponse:
    """`{"advance": "2h"}` moves the World's clock forward (tickets age); `{"offset": 0}` sets it."""
    body = await ctl.body()
    world = ctl.world()
    if not isinstance(body, dict) or not ({"advance", "offset"} & set(body)):
        raise ControlError(400, 'post {"advance": "2h"} or {"offset": SECONDS}')
    try:
        if "offset" in body:
            world.clock_offset = float(body["offset"])
        if "advance" in body:
            world.clock_offset += parse_duration(body["advance"])
    except (TypeError, ValueError) as exc:
        raise ControlError(400, str(exc)) from None
    world.cache.clear()
    return await clock_get(ctl)


# sessions


async def sessions_get(ctl: Ctl) -> web.StreamResponse:
    service = ctl.service
    if ctl.rest:
        sid = ctl.rest[0]
        if sid not in service.sessions:
            raise ControlError(404, f"no session {sid}")
        return _json(_session_json(service, sid))
    return _json(
        {
            "limit": service.scenario.limits.sessions,
            "count": len(service.sessions),
            "sessions": [_session_json(service, sid) for sid in service.sessions],
        }
    )


async def sessions_post(ctl: Ctl) -> web.StreamResponse:
    """Create a session: `{"id": ...}` or a generated id."""
    body = await ctl.body()
    sid = body.get("id") if isinstance(body, dict) else None
    sid = sid or ctl.session or f"s-{secrets.token_hex(6)}"
    if not isinstance(sid, str) or not ctl.service.valid_session_id(sid):
        raise ControlError(400, f"invalid session id {str(sid)[:140]!r}: 1-128 letters, digits or -_.:@+~=")
    existed = sid in ctl.service.sessions
    ctl.service.session_world(sid)
    return _json(_session_json(ctl.service, sid), 200 if existed else 201)


async def sessions_delete(ctl: Ctl) -> web.StreamResponse:
    service = ctl.service
    if not ctl.rest:
        dropped = list(service.sessions)
        for sid in dropped:
            service.drop_session(sid)
        return _json({"deleted": dropped})
    sid = ctl.rest[0]
    if not service.drop_session(sid):
        raise ControlError(404, f"no session {sid}")
    return _json({"deleted": [sid]})


def _session_json(service: Service, sid: str) -> dict[str, Any]:
    world = service.sessions[sid]
    created, used = service.session_times.get(sid, (None, None))
    return {
        "id": sid,
        "created": created,
        "last_used": used,
        "requests": world.journal.total,
        "api_path": f"/_session/{sid}/api2/json",
    }


def _int(value: Any, name: str, minimum: int = 0) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ControlError(400, f"{name}={value}: give a whole number") from None
    if n < minimum:
        raise ControlError(400, f"{name}={value}: give a number of at least {minimum}")
    return n


ENDPOINTS: dict[str, dict[str, Handler]] = {
    "": {"GET": index},
    "health": {"GET": health},
    "scenario": {"GET": scenario_info},
    "journal": {"GET": journal_get, "DELETE": journal_delete},
    "verify": {"GET": verify_get, "POST": verify_post},
    "state": {"GET": state_get, "POST": state_post, "PUT": state_put, "PATCH": state_patch, "DELETE": state_delete},
    "reset": {"POST": reset},
    "reload": {"POST": reload},
    "clock": {"GET": clock_get, "POST": clock_post},
    "sessions": {"GET": sessions_get, "POST": sessions_post, "DELETE": sessions_delete},
}
