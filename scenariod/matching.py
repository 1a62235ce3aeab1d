"""Matching requests against `when`, the request context, and `${...}` templates.

Rules are indexed by the API node their path can reach, so a request only tests the rules
that could match it: cost grows with the rules on its own path, not with the scenario.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import jmespath
import jmespath.functions
import orjson
from jmespath.exceptions import JMESPathError

from .apidesc import ApiDescription, ApiNode
from .request import Request
from .scenario.model import When
from .scenario.templates import split_template

R = TypeVar("R")

log = logging.getLogger("scenariod")
_MAX_FAILURES_LOGGED = 16  # distinct errors logged per rule

Reader = Callable[[str], Any]


class _Functions(jmespath.functions.Functions):
    """JMESPath with `state(path)`: the current state at an API path."""

    def __init__(self, reader: Reader) -> None:
        super().__init__()
        self._reader = reader

    @jmespath.functions.signature({"types": ["string"]})
    def _func_state(self, path: str) -> Any:
        return self._reader(path)


def jmespath_options(reader: Reader) -> jmespath.Options:
    """Options giving expressions `state(path)`; built once per world, not per request."""
    return jmespath.Options(custom_functions=_Functions(reader))


# --- when ----------------------------------------------------------------------------------


class Matcher:
    """A compiled `when`. `origin` names the scenario file in the warning an `if` that fails
    at request time gives (such a rule does not match)."""

    __slots__ = ("when", "origin", "pattern", "methods", "query", "headers", "body", "expr", "failures")

    def __init__(self, when: When, origin: str = "") -> None:
        self.when = when
        self.origin = origin
        self.failures: set[str] = set()  # the errors already logged: each once, not per request
        self.pattern: tuple[str, ...] | None = (
            tuple(s for s in when.path.split("/") if s) if when.path is not None else None
        )
        self.methods = when.methods
        self.query = when.query
        self.headers = when.headers
        self.body = when.body
        self.expr = jmespath.compile(when.if_expr) if when.if_expr else None

    def nodes(self, api: ApiDescription) -> list[ApiNode] | None:
        """The API nodes this matcher can reach (None: any path)."""
        if self.pattern is None:
            return None
        return api.match_template(list(self.pattern))

    def match(self, req: Request) -> dict[str, str] | None:
        """Bound `{name}` parameters when the request matches, else None."""
        if self.methods is not None and req.method not in self.methods:
            return None
        bound: dict[str, str] = {}
        if self.pattern is not None and not match_path(self.pattern, req.segments, bound):
            return None
        if self.query and not _subset(self.query, req.query):
            return None
        if self.headers and not _subset(self.headers, req.headers):
            return None
        if self.body and not _subset(self.body, req.body):
            return None
        if self.expr is not None:
            try:
                if not req.search(self.expr):
                    return None
            except JMESPathError as exc:  # e.g. starts_with() of a field the request lacks
                self._failed(exc, req)
                return None
        return bound

    def _failed(self, exc: JMESPathError, req: Request) -> None:
        text = str(exc)
        if text in self.failures or len(self.failures) >= _MAX_FAILURES_LOGGED:
            return
        self.failures.add(text)
        log.warning(
            "%s:%d: `if: %s` failed on %s %s, the rule does not match: %s",
            self.origin or "<scenario>",
            self.when.line,
            self.when.if_expr,
            req.method,
            req.path,
            text,
        )


def match_path(pattern: tuple[str, ...], segments: Sequence[str], bound: dict[str, str]) -> bool:
    """Does a `when` path pattern match these segments? `{name}` binds into `bound`, `*` is one
    segment, `**` the rest (the control API filters the journal with it too)."""
    n = len(segments)
    for i, pat in enumerate(pattern):
        if pat == "**":
            return True
        if i >= n:
            return False
        seg = segments[i]
        if pat == "*":
            continue
        if pat[0] == "{" and pat[-1] == "}":
            bound[pat[1:-1]] = seg
        elif pat != seg:
            return False
    return len(pattern) == n


def _subset(expected: dict[str, Any], actual: Mapping[str, Any]) -> bool:
    for key, want in expected.items():
        if key not in actual:
            return False
        got = actual[key]
        if got != want and _text(got) != _text(want):
            return False
    return True


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


class RuleIndex(Generic[R]):
    """Rules in scenario order, looked up by (API node, method)."""

    def __init__(self, api: ApiDescription, rules: Iterable[tuple[Matcher, R]]) -> None:
        self._by_node: dict[int, dict[str, list[tuple[int, Matcher, R]]]] = {}
        self._anywhere: list[tuple[int, Matcher, R]] = []
        self.rules: list[tuple[Matcher, R]] = list(rules)
        for order, (matcher, rule) in enumerate(self.rules):
            entry = (order, matcher, rule)
            nodes = matcher.nodes(api)
            if nodes is None:
                self._anywhere.append(entry)
                continue
            for node in nodes:
                per_method = self._by_node.setdefault(id(node), {})
                methods = matcher.methods or ("*",)
                for m in methods:
                    per_method.setdefault(m, []).append(entry)
        # Pre-merge the per-method and any-method lists once so lookup is a dict access.
        self._merged: dict[tuple[int, str], tuple[tuple[Matcher, R], ...]] = {}

    def candidates(self, node: ApiNode, method: str) -> tuple[tuple[Matcher, R], ...]:
        key = (id(node), method)
        found = self._merged.get(key)
        if found is None:
            per_method = self._by_node.get(id(node), {})
            entries = per_method.get(method, []) + per_method.get("*", []) + self._anywhere
            entries.sort(key=lambda e: e[0])
            found = self._merged[key] = tuple((m, r) for _, m, r in entries if m.methods is None or method in m.methods)
        return found

    def first(self, node: ApiNode, req: Request) -> tuple[R, dict[str, str]] | None:
        for matcher, rule in self.candidates(node, req.method):
            bound = matcher.match(req)
            if bound is not None:
                return rule, bound
        return None

    def __bool__(self) -> bool:
        return bool(self.rules)


# --- templates -----------------------------------------------------------------------------


class Template:
    """A value whose strings may hold `${EXPR}`; renders against a request context."""

    __slots__ = ("value", "dynamic")

    def __init__(self, value: Any) -> None:
        self.value = _compile(value)
        self.dynamic = _is_dynamic(self.value)

    def render(self, req: Request, extra: dict[str, Any] | None = None) -> Any:
        if not self.dynamic:
            return self.value
        return _render(self.value, req, extra)


class _Parts:
    __slots__ = ("parts",)

    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts


def _compile(value: Any) -> Any:
    if isinstance(value, str):
        if "${" not in value:
            return value
        parts = split_template(value)
        if all(isinstance(p, str) for p in parts):
            return "".join(parts)
        return _Parts(parts)
    if isinstance(value, dict):
        return {k: _compile(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_compile(v) for v in value]
    return value


def _is_dynamic(value: Any) -> bool:
    if isinstance(value, _Parts):
        return True
    if isinstance(value, dict):
        return any(_is_dynamic(v) for v in value.values())
    if isinstance(value, list):
        return any(_is_dynamic(v) for v in value)
    return False


def _render(value: Any, req: Request, extra: dict[str, Any] | None) -> Any:
    if isinstance(value, _Parts):
        parts = value.parts
        if extra:
            ctx = {**req.context(), **extra}
            search = lambda e: e.search(ctx, options=req.options)  # noqa: E731
        else:
            search = req.search
        if len(parts) == 1 and not isinstance(parts[0], str):
            return search(parts[0])
        return "".join(p if isinstance(p, str) else _as_text(search(p)) for p in parts)
    if isinstance(value, dict):
        return {k: _render(v, req, extra) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, req, extra) for v in value]
    return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return str(value)
    return orjson.dumps(value).decode()
