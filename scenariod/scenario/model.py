"""A compiled scenario: the values request-time code reads, and what a load reports.

Request-time modules (server, matching, faults, tasks, world, generic, proxmox/*) import
this module only: it imports nothing of the loader (no ruamel.yaml, no jsonschema, no
compiler), so serving a scenario never pays for reading one.

- the dataclasses `Scenario`, `Listen`, `AuthSpec`, `Limits`, `When`, `Route`, `Respond`,
  `Delay`, `Fault`, `TaskRule`, `Expect`;
- `MISSING`, the one "no value" sentinel of the package (the state store uses it too);
- `Diagnostic` and `ScenarioInvalid`, what a load that found problems raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING as _NO_DEFAULT
from dataclasses import FrozenInstanceError, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar, dataclass_transform

METHODS = ("GET", "POST", "PUT", "DELETE")
EFFECTS = ("delay", "error", "reset", "hang", "truncate", "empty", "garbage", "dribble")
DEFAULT_GARBAGE_BYTES = 128
DEFAULT_DRIBBLE_CHUNKS = 10
DEFAULT_TICKET_LIFETIME = 7200.0


# --- the sentinel -----------------------------------------------------------------------------


class _Missing:
    """The type of `MISSING`: "no value given" where None is a value (`respond.data`, an
    absent path in the state store). Falsy, one instance, and kept by copy and pickle, so
    `is MISSING` holds wherever the value travels."""

    __slots__ = ()
    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"

    def __copy__(self) -> _Missing:
        return self

    def __deepcopy__(self, memo: dict) -> _Missing:
        return self


MISSING: Any = _Missing()


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in a file; `line` and `column` are 1-based (0: the file as a whole).

    A `warning` (a seeded field the API does not declare) is shown but does not refuse the file."""

    file: str
    line: int
    column: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        text = f"warning: {self.message}" if self.warning else self.message
        if self.line <= 0:
            return f"{self.file}: {text}"
        return f"{self.file}:{self.line}:{self.column}: {text}"


# How many times one warning is shown before the rest are counted: a snapshot of a large
# cluster can hold the same undeclared field in each of thousands of items.
SHOWN_ALIKE = 3


def summarized(diagnostics: Sequence[Diagnostic], shown: int = SHOWN_ALIKE) -> list[str]:
    """The lines `scenariod check` prints: every error; each warning (one file, one message) at
    its first `shown` places, and for the rest one line that counts them and names the first."""
    lines: list[str] = []
    alike: dict[tuple[str, str], list[Diagnostic]] = {}
    for diag in diagnostics:
        same = alike.setdefault((diag.file, diag.message), []) if diag.warning else None
        if same is not None:
            same.append(diag)
            if len(same) > shown:
                continue
        lines.append(str(diag))
    for (file, message), same in alike.items():
        if len(same) > shown:
            first = f"{file}:{same[0].line}:{same[0].column}"
            lines.append(f"{file}: warning: {message}: {len(same) - shown} more like this (first at {first})")
    return lines


class ScenarioInvalid(Exception):
    """A scenario file has problems; `diagnostics` lists all of them, in file order."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))

    def __str__(self) -> str:
        return "\n".join(str(d) for d in self.diagnostics)


# --- the dataclasses --------------------------------------------------------------------------
#
# `@frozen` is `@dataclass(frozen=True, slots=True)` with the methods shared instead of
# generated: dataclass compiles six methods per frozen class with `exec` (~0.6 ms a class), and
# every scenariod process builds these classes at start-up. They are dataclasses all the same
# (`fields`, `replace`, `asdict`), and ==, hash, repr, immutability and pickling behave as
# dataclass's (tests/test_scenario.py compares them with a @dataclass twin).

_C = TypeVar("_C")
# what a @dataclass(frozen=True, slots=True) declares of itself (one empty class, built once)
_FROZEN_PARAMS = dataclass(frozen=True, slots=True)(type("_Frozen", (), {})).__dataclass_params__  # type: ignore[attr-defined]


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def frozen(cls: type[_C]) -> type[_C]:
    made: Any = dataclass(cls, init=False, repr=False, eq=False, slots=True)  # fields and slots only
    made._specs = tuple((f.name, f.default, f.default_factory) for f in fields(made))
    made.__dataclass_params__ = _FROZEN_PARAMS
    made.__init__, made.__repr__, made.__eq__, made.__hash__ = _init, _repr, _eq, _hash
    made.__setattr__, made.__delattr__ = _refuse_set, _refuse_delete
    made.__getstate__, made.__setstate__ = _getstate, _setstate
    result: type[_C] = made
    return result


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    specs = type(self)._specs
    if len(args) > len(specs):
        raise TypeError(f"{type(self).__name__}() takes {len(specs)} positional arguments but {len(args)} were given")
    for i, (name, default, factory) in enumerate(specs):
        if i < len(args):
            if name in kwargs:
                raise TypeError(f"{type(self).__name__}() got multiple values for argument '{name}'")
            value = args[i]
        elif name in kwargs:
            value = kwargs.pop(name)
        elif default is not _NO_DEFAULT:
            value = default
        elif factory is not _NO_DEFAULT:
            value = factory()
        else:
            raise TypeError(f"{type(self).__name__}() missing required argument: '{name}'")
        object.__setattr__(self, name, value)
    if kwargs:
        raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument '{next(iter(kwargs))}'")


def _values(self: Any) -> tuple[Any, ...]:
    return tuple([getattr(self, name) for name, _, _ in type(self)._specs])


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name, _, _ in type(self)._specs)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        return _values(self) == _values(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(_values(self))


def _refuse_set(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_delete(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _getstate(self: Any) -> list[Any]:
    return list(_values(self))


def _setstate(self: Any, state: list[Any]) -> None:
    for (name, _, _), value in zip(type(self)._specs, state, strict=True):
        object.__setattr__(self, name, value)


@frozen
class Listen:
    """`listen`: None means "not given" (the command line and the service defaults decide).

    `tls` is True unless the file says `tls: false`; with `tls: {cert, key}`, `cert` and `key`
    are the file paths resolved against the scenario file's directory.
    """

    host: str | None = None
    port: int | None = None
    tls: bool = True
    cert: str | None = None
    key: str | None = None


@frozen
class AuthSpec:
    """`auth`, with defaults applied.

    `mode`: "enforce" | "any" | "none" (default enforce when users or tokens are declared).
    `users`: dicts with userid, enable (bool, default True) and expire (int, 0 = never)
    always present, and password, groups (list[str]; a comma-separated string is split),
    comment, email, firstname, lastname only when the file gives them (a user without
    `password` cannot log in with a password).
    `tokens`: dicts with tokenid ("user@realm!name"), userid, name (the part after '!'),
    secret, privsep (bool, default False), expire (int, default 0), and comment when given.
    `ticket_lifetime` in seconds (default 7200). `control_token`: required as
    `Authorization: Bearer <token>` on /_scenariod/ when not None.
    """

    mode: str = "any"
    users: tuple[dict, ...] = ()
    tokens: tuple[dict, ...] = ()
    ticket_lifetime: float = DEFAULT_TICKET_LIFETIME
    control_token: str | None = None
    permissions: str = "enforce"  # privilege checks (PVE, PBS, PDM) on every call under mode enforce; "off" skips them


@frozen
class Limits:
    """`limits`: what an instance keeps in memory (the schema documents each); for a PDM, how
    long a live remote's answers are kept, how long one may take, and how many remote requests
    run at once (proxmox/pdm/remote_client.py)."""

    journal: int = 1000
    tasks: int = 1000
    sessions: int = 100
    journal_bytes: int = 16 << 20
    body_bytes: int = 16 << 10
    body_depth: int = 32
    answers: int = 4096
    answer_bytes: int = 64 << 20
    remote_cache: float = 5.0
    remote_timeout: float = 10.0
    remote_fetches: int = 16
    client_timeout: float = 10.0  # seconds a client has to send a request's headers, and its body


@frozen
class When:
    """A compiled-to-plain `when`.

    `methods`: upper-case method names, None for any method (absent or ANY).
    `path`: the normalized pattern ('/nodes/{node}/qemu/**'; '/' for the root), None for any
    path (mapping form without `path`). `query`, `body`: values as written (plain types).
    `headers`: lower-case names, string values. `if_expr`: the JMESPath text (it compiles).
    `source`: the `when` as the author wrote it (string form) or a one-line rendering of the
    mapping form, for display. `line`: 1-based line of the `when` value.
    """

    methods: frozenset[str] | None
    path: str | None
    query: dict | None = None
    headers: dict | None = None
    body: dict | None = None
    if_expr: str | None = None
    source: str = ""
    line: int = 0


@frozen
class Delay:
    """A delay: `fixed` (`seconds`), `uniform` (`min`..`max`) or `lognormal` (`median`,
    `sigma`, capped at `max`; `max` is `math.inf` when the file gives no cap)."""

    kind: str
    seconds: float = 0.0
    min: float = 0.0
    max: float = 0.0
    median: float = 0.0
    sigma: float = 0.0


@frozen
class Respond:
    """`respond`: `data` is MISSING when not given (None is a valid `data: null`); `body` is
    the raw body or None. Strings in data/body/header values may hold `${...}` templates
    (they compile; render them with `split_template`)."""

    data: Any = MISSING
    body: str | None = None
    status: int = 200
    headers: dict = field(default_factory=dict)
    delay: Delay | None = None


@frozen
class Route:
    """One `routes` entry; `line` of the entry, `index` in the list."""

    when: When
    respond: Respond
    line: int = 0
    index: int = 0


@frozen
class Fault:
    """One `faults` entry.

    `effect` is one of delay, error, reset, hang, truncate, empty, garbage, dribble.
    `delay` is set for the delay effect; `error` for the error effect as
    {"status": int (default 500), "message": str | None (None: the status's usual wording),
    "errors": dict[str, str] | None}; `garbage_bytes` (default 128) for garbage;
    `dribble_seconds` and `dribble_chunks` (default 10) for dribble (0 otherwise).
    Gates are None when not given. `index`: position in `faults` (for gate counters).
    """

    when: When
    effect: str
    delay: Delay | None = None
    error: dict | None = None
    garbage_bytes: int = 0
    dribble_seconds: float = 0.0
    dribble_chunks: int = 0
    probability: float | None = None
    times: int | None = None
    after: int | None = None
    index: int = 0
    line: int = 0


@frozen
class TaskRule:
    """One `tasks` entry. `duration` in seconds before time_scale (None: the default).
    `log`: (at seconds, line template) in time order; a plain string line takes the `at` of
    the line before it (0 for the first). `exitstatus` "OK" or the failure text."""

    when: When
    duration: float | None = None
    log: tuple[tuple[float, str], ...] = ()
    exitstatus: str = "OK"
    type: str | None = None
    line: int = 0
    index: int = 0


@frozen
class Expect:
    """One `expect` entry: between `min` and `max` (None: no upper bound) matching requests.
    count N -> N..N; never -> 0..0; min/max as given (min defaults to 0 when only max is
    given); none of them -> 1..None (at least once)."""

    when: When
    description: str | None = None
    min: int = 1
    max: int | None = None
    line: int = 0
    index: int = 0


@frozen
class Scenario:
    """A loaded, valid scenario file.

    `api` is the `apidesc.ApiDescription` served; `api_override` the `--api` release that
    chose it over the file's pin (a reload keeps it). `state` maps normalized concrete paths
    ('/nodes/pve1/qemu': leading '/', no /api2/json, no trailing '/') to plain values (a
    list of item mappings for collection paths). `text` is the file's source.
    """

    file: Path
    name: str
    description: str | None
    service: str
    api: Any
    listen: Listen
    seed: int
    time_scale: float
    auth: AuthSpec
    state: dict[str, Any]
    routes: tuple[Route, ...]
    faults: tuple[Fault, ...]
    tasks: tuple[TaskRule, ...]
    expect: tuple[Expect, ...]
    limits: Limits
    text: str
    api_override: str | None = None
    warnings: tuple[Diagnostic, ...] = ()
