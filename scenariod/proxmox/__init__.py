"""Proxmox behaviours beyond generic CRUD, registered by (service, method, path template).

A handler takes a `world.Call` and returns the answer's data, a `wire.Reply`, or a
`tasks.TaskRequest`; it raises `wire.ApiError` to refuse. Lookup is one dict access.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..scenario.model import Scenario
    from ..world import Call, World

Handler = Callable[["Call"], Any]

_HANDLERS: dict[tuple[str, str, str], Handler] = {}
Preparer = Callable[["World", "Scenario"], None]
_PREPARERS: dict[str, list[Preparer]] = {}


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
    objects live elsewhere (tasks live in the task registry). `stable`: the answer depends on
    the request and state alone (not on the clock or running tasks), so the server may replay
    it for identical GETs until state changes (world.Answer).
    """

    def register(fn: Handler) -> Handler:
        if finds_own_objects:
            fn.finds_own_objects = True  # type: ignore[attr-defined]
        if stable:
            fn.stable = True  # type: ignore[attr-defined]
        for service in services:
            _HANDLERS[(service, method, template)] = fn
        return fn

    return register


def prepares(*services: str) -> Callable[[Preparer], Preparer]:
    """Register a function that completes a world's seeded state (defaults, derived items)."""

    def register(fn: Preparer) -> Preparer:
        for service in services:
            _PREPARERS.setdefault(service, []).append(fn)
        return fn

    return register


def handler_for(service: str, method: str, template: str) -> Handler | None:
    return _HANDLERS.get((service, method, template))


def prepare_state(world: World, scenario: Scenario) -> None:
    for fn in _PREPARERS.get(scenario.service, ()):
        fn(world, scenario)


# Importing the behaviour modules registers their handlers.
from . import auth, cluster, guests, pbs, pdm, tasks  # noqa: E402,F401
