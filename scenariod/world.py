"""A world is one copy of everything a client can change: state, tasks, journal, counters.

The server has a default world; each test session (`/_session/{id}/...`) gets its own,
so parallel tests never see each other's changes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .journal import Journal
from .matching import Request, jmespath_options
from .state import StateStore, seed

if TYPE_CHECKING:
    from .apidesc import ApiNode, Operation
    from .scenario.model import Scenario
    from .server import Runtime


MAX_ANSWERS = 4096  # replayable answers kept per world
MAX_ANSWER_BYTES = 64 << 20  # and their encoded size


@dataclass(slots=True)
class Answer:
    """An encoded GET answer, replayed for identical repeats while nothing it depends on changed.

    Only answers that are a function of (request line, credentials, state) are kept: no rule of
    the scenario could match the request and its behaviour reads state alone. It holds for one
    Runtime (a reload drops it), one state generation (any write drops it), and until `until`
    on the world's clock (the caller's ticket or account expires).
    """

    runtime: Runtime
    generation: int
    until: float
    path: str
    fmt: str
    query: dict[str, Any]
    user: str
    payload: bytes


class World:
    """State plus everything else a session owns."""

    def __init__(self, scenario: Scenario, name: str = "default") -> None:
        from .tasks import TaskRegistry  # tasks depends on world's Call; import late

        self.name = name
        self.store = StateStore()
        self.fault_counts: dict[int, int] = {}
        self.journal = Journal(scenario.limits.journal)
        self.tasks = TaskRegistry(scenario)
        self.options = jmespath_options(self.read)
        self.cache: dict[Any, tuple[int, Any]] = {}
        self.secrets: dict[str, dict[str, str]] = {"passwords": {}, "tokens": {}}
        self.clock_offset = 0.0  # seconds the control API moved this world's clock forward
        self.answers: dict[Hashable, Answer] = {}  # replayable GET answers (see Answer)
        self._answer_bytes = 0
        self.seed_from(scenario)

    def seed_from(self, scenario: Scenario) -> None:
        from .proxmox import prepare_state

        seed(self.store, scenario.api, scenario.state)
        prepare_state(self, scenario)

    def cached(self, key: Any, build: Callable[[], Any]) -> Any:
        """A value computed once per state generation (views of an unchanged cluster are free)."""
        hit = self.cache.get(key)
        generation = self.store.generation
        if hit is not None and hit[0] == generation:
            return hit[1]
        value = build()
        self.cache[key] = (generation, value)
        return value

    def keep_answer(self, key: Hashable, answer: Answer) -> None:
        """Remember a replayable answer; past the bounds, forget them all (they are cheap to redo)."""
        if len(self.answers) >= MAX_ANSWERS or self._answer_bytes + len(answer.payload) > MAX_ANSWER_BYTES:
            self.answers.clear()
            self._answer_bytes = 0
        replaced = self.answers.get(key)
        if replaced is not None:  # a stale answer of the same request
            self._answer_bytes -= len(replaced.payload)
        self.answers[key] = answer
        self._answer_bytes += len(answer.payload)

    def read(self, path: str) -> Any:
        """What `state(path)` returns in expressions: the stored answer for a GET of `path`."""
        from .generic import read_path

        return read_path(self, path)


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
    user: str = "root@pam"
    args: dict[str, Any] = field(default_factory=dict)
    as_task: bool = False  # a scenario `tasks` rule matched: answer with a UPID whatever the op

    @property
    def store(self) -> StateStore:
        return self.world.store

    @property
    def path(self) -> str:
        return self.request.path
