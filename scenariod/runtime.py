"""A scenario compiled for serving: its rule indexes, templates, authenticator and faults.

Built once per load (reload.py builds the next one off the event loop) and swapped whole,
so a request in flight keeps the consistent scenario it started with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from . import generic, wire
from .apidesc import ApiNode, Operation
from .faults import FaultIndex
from .matching import Matcher, RuleIndex, Template
from .proxmox import Handler, handler_for
from .proxmox.access import guard_for as permission_guard
from .proxmox.auth import Authenticator
from .scenario.model import MISSING, Respond, Route, Scenario, TaskRule
from .scenario.seeds import rendered_check


@dataclass(slots=True)
class CompiledRoute:
    """A route rule ready to answer: its `respond` and its compiled templates."""

    respond: Respond
    data: Template | None
    body: Template | None
    headers: Template
    source: str
    index: int  # the route's place in the scenario: its seeded delay draws are its own
    line: int = 0  # of the route in its file, for the log
    # templated data: rendered data -> what does not fit its operation's returns (seeds.py)
    check: Callable[[Any], list[str]] | None = None


def _data_check(scenario: Scenario, route: Route) -> Callable[[Any], list[str]] | None:
    """Literal data was checked when the file loaded; templated data is checked as rendered."""
    data = route.respond.data
    if data is MISSING or not Template(data).dynamic:
        return None
    return rendered_check(scenario.service, scenario.api, route.when)


TARGETS = 4096  # request paths whose Target a Runtime remembers
TARGET_PATH = 512  # characters: a longer path is located anew on every request


@dataclass(slots=True, frozen=True)
class Plan:
    """What a request to one operation needs beyond its parameters, decided once per Runtime:
    the pipeline (`Service.handle_api`) then does per request only what this operation needs."""

    handler: Handler
    is_generic: bool  # generic CRUD answers (its answers may be replayed)
    write_only: frozenset[str]  # secret arguments generic CRUD drops (see Runtime.write_only)
    ancestors: tuple[tuple[int, ApiNode], ...]  # items named on the path that must exist
    replayable: bool  # a GET here may be replayed: a stable handler and no rule can match
    faults: bool  # a scenario fault may match
    routes: bool  # a scenario route may match
    task_rules: bool  # a scenario `tasks` rule may match


@dataclass(slots=True, frozen=True)
class Target:
    """Where a request path leads (steps 1 and 3 of the pipeline), the same on every repeat.

    `segments` and `params` are shared by every request to this path: the pipeline hands each
    request its own copies."""

    fmt: str  # json, extjs, ... as the path says (the pipeline refuses one it does not serve)
    path: str  # the API path, decoded, as the journal and the rules see it
    segments: list[str]
    node: ApiNode | None  # None: no such path in the API description
    params: dict[str, str]
    op: Operation | None  # None: the path takes no such method
    plan: Plan | None


@dataclass(slots=True)
class CompiledTask:
    """A `tasks` rule ready to run: its rule and its log lines as templates."""

    rule: TaskRule
    log: list[tuple[float, Template]]


class Runtime:
    """A scenario compiled for serving (see the module docstring)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        api = scenario.api
        origin = str(scenario.file)
        self.routes: RuleIndex[CompiledRoute] = RuleIndex(
            api,
            (
                (
                    Matcher(r.when, origin),
                    CompiledRoute(
                        r.respond,
                        Template(r.respond.data) if r.respond.data is not MISSING else None,
                        Template(r.respond.body) if r.respond.body is not None else None,
                        Template(r.respond.headers or {}),
                        r.when.source,
                        index,
                        r.line,
                        _data_check(scenario, r),
                    ),
                )
                for index, r in enumerate(scenario.routes)
            ),
        )
        self.tasks: RuleIndex[CompiledTask] = RuleIndex(
            api,
            (
                (Matcher(t.when, origin), CompiledTask(t, [(at, Template(line)) for at, line in t.log]))
                for t in scenario.tasks
            ),
        )
        self.auth = Authenticator(scenario)
        self.permissions = permission_guard(scenario)  # None: the scenario does not check privileges
        self.faults = FaultIndex(scenario)  # falsy when the scenario has none
        self._ruleless: dict[int, bool] = {}
        self._write_only: dict[int, frozenset[str]] = {}
        self._plans: dict[int, Plan] = {}
        self._targets: dict[tuple[str, str], Target] = {}

    def target(self, method: str, raw: str) -> Target:
        """Where `method` (HEAD read as GET) on `raw`, a path from `/api2/` on without its query,
        leads: remembered per method and path (clients repeat theirs), at most `TARGETS` of
        them, each path at most `TARGET_PATH` characters long."""
        key = (method, raw)
        found = self._targets.get(key)
        if found is None:
            found = self._locate(method, raw)
            if len(raw) <= TARGET_PATH:
                if len(self._targets) >= TARGETS:
                    self._targets.clear()
                self._targets[key] = found
        return found

    def _locate(self, method: str, raw: str) -> Target:
        fmt, _, api_path = raw[6:].partition("/")  # after "/api2/"
        segments = api_path.split("/")
        if "" in segments:  # a trailing or doubled slash
            segments = [s for s in segments if s]
        if "%" in api_path:
            segments = [unquote(s) for s in segments]
        path = "/" + "/".join(segments)
        api = self.scenario.api
        resolved = api.resolve_segments(segments)
        if resolved is None and (whole := api.resolve_fragment(segments)) is not None:
            segments, resolved = whole[0], whole[1:]
        if resolved is None:
            return Target(fmt, path, segments, None, {}, None, None)
        node, params = resolved
        op = node.ops.get(method)
        return Target(fmt, path, segments, node, params, op, None if op is None else self.plan(node, op, method))

    def plan(self, node: ApiNode, op: Operation, method: str) -> Plan:
        """The Plan of `method` (the op's method, HEAD read as GET) on `node`."""
        found = self._plans.get(id(op))
        if found is None:
            handler = handler_for(self.scenario.service, method, node.path) or generic.handle
            is_generic = handler is generic.handle
            found = self._plans[id(op)] = Plan(
                handler,
                is_generic,
                self.write_only(node, op) if is_generic and method in ("POST", "PUT") else frozenset(),
                () if getattr(handler, "finds_own_objects", False) else generic.ancestors_to_check(node),
                (is_generic or getattr(handler, "stable", False)) and self.ruleless(node),
                bool(self.faults.candidates(node, method)),
                bool(self.routes.candidates(node, method)),
                bool(self.tasks.candidates(node, method)),
            )
        return found

    def ruleless(self, node: Any) -> bool:
        """No route, fault or task rule can match a GET of this API node."""
        found = self._ruleless.get(id(node))
        if found is None:
            found = self._ruleless[id(node)] = not (
                self.routes.candidates(node, "GET")
                or self.faults.candidates(node, "GET")
                or self.tasks.candidates(node, "GET")
            )
        return found

    def write_only(self, node: ApiNode, op: Operation) -> frozenset[str]:
        """The secret parameters of a create (POST on a collection) or update (PUT on an item)
        that a GET of the item never answers: generic CRUD does not keep them."""
        found = self._write_only.get(id(op))
        if found is None:
            params = set((op.parameters or {}).get("properties") or ())
            secret = params & wire.SECRET_PARAMETERS
            if secret:
                item = node.param_child if node.kind == "collection" else node
                declared = _answered_fields(item) or _answered_fields(item.parent if item is not None else None)
                secret -= declared
            found = self._write_only[id(op)] = frozenset(secret)
        return found


def _answered_fields(node: ApiNode | None) -> set[str]:
    """The properties a GET of `node` declares it answers (of each item, for a list)."""
    op = node.ops.get("GET") if node is not None else None
    returns = op.returns if op is not None else None
    if not isinstance(returns, dict):
        return set()
    if returns.get("type") == "array":
        returns = returns.get("items") or {}
    properties = returns.get("properties")
    return set(properties) if isinstance(properties, dict) else set()
