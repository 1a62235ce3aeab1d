"""A world is one copy of everything a client can change: state, tasks, journal, counters.

The server has a default world; each test session (`/_session/{id}/...`) gets its own,
so parallel tests never see each other's changes.

This is the core the pipeline and the behaviours stand on, so it imports nothing above it:
what completes a world's seed (the Proxmox preparers) and what evaluates expressions over
it (JMESPath with `state(path)`) are handed in by whoever builds the World (the Service).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .journal import Journal
from .state import MISSING, StateStore, normalize, seed
from .tasks import TaskRegistry

if TYPE_CHECKING:
    from .apidesc import ApiNode, Operation
    from .request import Request
    from .scenario.model import Scenario


# Completes a world's seeded state (defaults, derived items). A reload runs the seeders again
# over live state, so they must be idempotent.
Seeder = Callable[["World", "Scenario"], None]
# Builds the options expressions are evaluated with, given the world's `read` (for `state(path)`).
OptionsFor = Callable[[Callable[[str], Any]], Any]


@dataclass(slots=True)
class Answer:
    """An encoded GET answer, replayed for identical repeats while nothing it depends on changed.

    Only answers that are a function of (request line, credentials, state) are kept: no rule of
    the scenario could match the request and its behaviour reads state alone. It holds for one
    Runtime (a reload drops it), one state generation (any write drops it), and until `until`
    on the world's clock (the caller's ticket or account expires).
    """

    runtime: object  # the Runtime that answered, compared by identity only
    generation: int
    until: float
    path: str
    fmt: str
    query: dict[str, Any]
    user: str
    payload: bytes


class World:
    """State plus everything else a session owns, for one version of the scenario."""

    def __init__(
        self,
        scenario: Scenario,
        name: str = "default",
        *,
        seeders: Sequence[Seeder] = (),
        options_for: OptionsFor | None = None,
        authkey: bytes | None = None,
    ) -> None:
        self.scenario = scenario
        self.name = name
        self.seeders = seeders
        self.store = StateStore()
        self.fault_counts: dict[int, int] = {}  # matches per fault rule (its `times`/`after` gates)
        self.route_counts: dict[int, int] = {}  # delayed answers per route (seeded delay draws)
        self.journal = Journal(scenario.limits)
        self.tasks = TaskRegistry(scenario)
        self.options = options_for(self.read) if options_for is not None else None
        self.cache: dict[Any, tuple[int, Any]] = {}
        self.secrets: dict[str, dict[str, str]] = {"passwords": {}, "tokens": {}}
        # What tickets and CSRF tokens are signed with (a node's authkey): the Service hands every
        # World of one instance the same key, so its tickets outlive resets and reloads and no
        # other instance accepts them.
        self.authkey = authkey if authkey is not None else os.urandom(32)
        self.clock_offset = 0.0  # seconds the control API moved this world's clock forward
        self.answers: dict[Hashable, Answer] = {}  # replayable GET answers (see Answer)
        self._answer_bytes = 0
        seed(self.store, scenario.api, scenario.state)
        self.prepare()

    def prepare(self) -> None:
        """Run the seeders over the current state (a reload calls it again after the seed diff)."""
        for seeder in self.seeders:
            seeder(self, self.scenario)

    def retarget(self, scenario: Scenario) -> None:
        """Serve a new version of the scenario: its limits and rules apply, cached views go stale."""
        self.scenario = scenario
        self.tasks.scenario = scenario
        self.journal.apply(scenario.limits)
        self.fault_counts.clear()  # the fault rules were recompiled: `times`/`after` start over
        self.route_counts.clear()
        self.store.touch()  # a new generation: every cached view is built again

    def cached(self, key: Any, build: Callable[[], Any], section: str | None = None) -> Any:
        """A value computed once per state generation (views of an unchanged cluster are free),
        or once per version of one `section` (`access`) for a value that reads nothing else."""
        hit = self.cache.get(key)
        generation = self.store.generation if section is None else self.store.version(section)
        if hit is not None and hit[0] == generation:
            return hit[1]
        value = build()
        self.cache[key] = (generation, value)
        return value

    def keep_answer(self, key: Hashable, answer: Answer) -> None:
        """Remember a replayable answer; past the bounds, forget them all (they are cheap to redo)."""
        limits = self.scenario.limits  # limits.answers and limits.answer_bytes
        if len(self.answers) >= limits.answers or self._answer_bytes + len(answer.payload) > limits.answer_bytes:
            self.answers.clear()
            self._answer_bytes = 0
        replaced = self.answers.get(key)
        if replaced is not None:  # a stale answer of the same request
            self._answer_bytes -= len(replaced.payload)
        self.answers[key] = answer
        self._answer_bytes += len(answer.payload)

    def read(self, path: str) -> Any:
        """The stored answer for a GET of `path`, or None: what `state(path)` shows expressions."""
        path = normalize(path)
        resolved = self.scenario.api.resolve(path)
        if resolved is None:
            return None
        node, _ = resolved
        if node.kind == "collection":
            return self.store.items(path)
        value = self.store.get(path)
        return None if value is MISSING else value


@dataclass(slots=True)
class Call:
    """One API request on its way through the pipeline to a behaviour."""

    scenario: Scenario
    world: World
    node: ApiNode
    op: Operation
    method: str
    segments: list[str]
    params: dict[str, str]
    request: Request
    user: str | None = "root@pam"  # None: nobody authenticated (auth is off)
    args: dict[str, Any] = field(default_factory=dict)
    as_task: bool = False  # a scenario `tasks` rule matched: answer with a UPID whatever the op

    @property
    def store(self) -> StateStore:
        return self.world.store

    @property
    def path(self) -> str:
        return self.request.path

    @property
    def actor(self) -> str:
        """Whom a task or a new object is attributed to: the caller, or root@pam with auth off."""
        return self.user or "root@pam"
