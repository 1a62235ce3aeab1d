"""A scenario compiled for serving: its rule indexes, templates, authenticator and faults.

Built once per load (reload.py builds the next one off the event loop) and swapped whole,
so a request in flight keeps the consistent scenario it started with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .faults import FaultIndex
from .matching import Matcher, RuleIndex, Template
from .proxmox.access import guard_for as permission_guard
from .proxmox.auth import Authenticator
from .scenario.model import MISSING, Respond, Route, Scenario, TaskRule
from .scenario.seeds import rendered_check


@dataclass(slots=True)
class CompiledRoute:
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


@dataclass(slots=True)
class CompiledTask:
    rule: TaskRule
    log: list[tuple[float, Template]]


class Runtime:
    """A scenario compiled for serving (see the module docstring)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        api = scenario.api
        self.routes: RuleIndex[CompiledRoute] = RuleIndex(
            api,
            (
                (
                    Matcher(r.when),
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
            ((Matcher(t.when), CompiledTask(t, [(at, Template(line)) for at, line in t.log])) for t in scenario.tasks),
        )
        self.auth = Authenticator(scenario)
        self.permissions = permission_guard(scenario)  # None: the scenario does not check privileges
        self.faults = FaultIndex(scenario)  # falsy when the scenario has none
        self._ruleless: dict[int, bool] = {}

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
