"""Proxmox behaviours beyond generic CRUD, registered by (service, method, path template).

Adding a behaviour: put a module anywhere under `scenariod/proxmox/` (subpackages too) and
decorate its functions; the package imports every module it holds when it is first imported,
so there is no list to keep. A path with no behaviour is answered by generic CRUD. The
subpackages named after a service (`SERVICE_PACKAGES`: pbs/, pdm/) hold behaviours of that
service only, and are imported when the registry is first asked about their service: a PVE
server does not import them at start-up (~5 ms, 0.6 MB).

- `@handles(METHOD, TEMPLATE, services)` registers a handler. It takes a `world.Call` and
  returns the answer's data, a `wire.Reply`, or a `tasks.TaskRequest` (or a coroutine that
  the pipeline awaits for one, when it must ask another server); it raises
  `wire.ApiError` to refuse. Lookup is one dict access. A second registration of the same
  (service, method, template) by another function is refused at import: which one answered
  would otherwise depend on import order.
- `@prepares(service)` registers a seeding function that completes a world's seeded state
  (defaults, derived items) before the first request.
- `@on_stop` registers a coroutine function run when a Service stops (closing the HTTP
  client PDM asks its live remotes with).
- `@falls_back(prefix, services, methods)` registers a handler of last resort for the
  operations under `prefix` that have no handler of their own (PBS and PDM run node workers
  on their host). It is a rule, applied at lookup, so it never collides with a registration.

Two contracts every behaviour keeps:

- Seeding functions are idempotent. A reload runs them again over state that they (and the
  requests since) have already completed, and must reach the same state as a fresh start.
- `stable=True` promises that the answer is a function of the request line, the credentials
  and the state only (not of the clock, running tasks, or anything held outside state), so
  the server may replay it for identical GETs until state changes (`world.Answer`).
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..scenario.model import Scenario
    from ..world import Call, World

Handler = Callable[["Call"], Any]
Preparer = Callable[["World", "Scenario"], None]

_HANDLERS: dict[tuple[str, str, str], Handler] = {}
_FALLBACKS: dict[str, list[tuple[str, tuple[str, ...], Handler]]] = {}
_PREPARERS: dict[str, list[Preparer]] = {}
_STOPPERS: list[Callable[[], Awaitable[None]]] = []


class DuplicateHandler(Exception):
    """Two functions claim one operation of one service."""


def _name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def handles(
    method: str,
    template: str,
    services: tuple[str, ...] = ("pve",),
    *,
    finds_own_objects: bool = False,
    stable: bool = False,
) -> Callable[[Handler], Handler]:
    """Register a handler for an operation (by its API path template).

    The pipeline first checks that every item named on the path exists in state (a
    missing guest is Proxmox's error); `finds_own_objects` skips that for handlers whose
    objects live elsewhere (tasks live in the task registry). `stable`: see the module's
    contracts above.
    """

    def register(fn: Handler) -> Handler:
        if finds_own_objects:
            fn.finds_own_objects = True  # type: ignore[attr-defined]
        if stable:
            fn.stable = True  # type: ignore[attr-defined]
        for service in services:
            key = (service, method, template)
            held = _HANDLERS.get(key)
            if held is not None and held is not fn:
                raise DuplicateHandler(
                    f"{service} {method} {template} is registered twice: by {_name(held)} and by {_name(fn)}"
                )
            _HANDLERS[key] = fn
        return fn

    return register


def falls_back(
    prefix: str, services: tuple[str, ...], methods: tuple[str, ...], *, finds_own_objects: bool = False
) -> Callable[[Handler], Handler]:
    """Register a handler for the `methods` under `prefix` that no `handles` claims
    (`finds_own_objects`: as for `handles`)."""

    def register(fn: Handler) -> Handler:
        if finds_own_objects:
            fn.finds_own_objects = True  # type: ignore[attr-defined]
        for service in services:
            _FALLBACKS.setdefault(service, []).append((prefix, methods, fn))
        return fn

    return register


def prepares(*services: str) -> Callable[[Preparer], Preparer]:
    """Register a function that completes a world's seeded state (idempotent: see above)."""

    def register(fn: Preparer) -> Preparer:
        for service in services:
            _PREPARERS.setdefault(service, []).append(fn)
        return fn

    return register


def on_stop(fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """Register a coroutine function a stopping Service runs (on its event loop)."""
    _STOPPERS.append(fn)
    return fn


async def stop_behaviours() -> None:
    for fn in _STOPPERS:
        await fn()


def handler_for(service: str, method: str, template: str) -> Handler | None:
    if service not in _LOADED:
        load_behaviours(service)
    found = _HANDLERS.get((service, method, template))
    if found is None and service in _FALLBACKS:
        for prefix, methods, fallback in _FALLBACKS[service]:
            if method in methods and template.startswith(prefix):
                return fallback
    return found


def prepare_state(world: World, scenario: Scenario) -> None:
    if scenario.service not in _LOADED:
        load_behaviours(scenario.service)
    for fn in _PREPARERS.get(scenario.service, ()):
        fn(world, scenario)


def discover(package: str, later: tuple[str, ...] = ()) -> list[str]:
    """Import every module under `package` (its decorators register it) but those of its
    subpackages named in `later`; the names imported."""
    root = importlib.import_module(package)
    deferred = tuple(f"{package}.{name}." for name in later)
    found = []
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if deferred and f"{info.name}.".startswith(deferred):
            continue
        importlib.import_module(info.name)
        found.append(info.name)
    return found


SERVICE_PACKAGES = ("pbs", "pdm")
BEHAVIOURS = discover(__name__, later=SERVICE_PACKAGES)
_LOADED: set[str] = {"pve"}  # the services whose behaviours are all registered
_loading = threading.Lock()  # a reload prepares its Runtime in a thread


def load_behaviours(service: str) -> None:
    """Register `service`'s own subpackage (`SERVICE_PACKAGES`), once; the registry's
    lookups call this before answering about a service."""
    with _loading:
        if service in _LOADED:
            return
        if service in SERVICE_PACKAGES:
            package = f"{__name__}.{service}"
            BEHAVIOURS.extend((package, *discover(package)))
        _LOADED.add(service)
