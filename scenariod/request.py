"""A parsed API request as the scenario's rules, templates and behaviours see it.

It sits in the core (below matching) because a `world.Call` carries one: behaviours read it,
`when` patterns and `${...}` templates (matching.py) evaluate over its context.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jmespath


class Request:
    """What a rule sees of a request: the `when` fields and the JMESPath context."""

    __slots__ = ("method", "path", "segments", "params", "query", "body", "headers", "user", "_context", "options")

    def __init__(
        self,
        method: str,
        path: str,
        segments: Sequence[str],
        params: dict[str, str],
        query: dict[str, Any],
        body: dict[str, Any],
        headers: Mapping[str, str],
        options: jmespath.Options,  # the World's: they give expressions `state(path)`
        user: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.segments = segments
        self.params = params
        self.query = query
        self.body = body
        self.headers = headers
        self.user = user
        self.options = options
        self._context: dict[str, Any] | None = None

    def context(self) -> dict[str, Any]:
        """The request context of the contract: method, path, params, query, body, headers, user."""
        if self._context is None:
            self._context = {
                "method": self.method,
                "path": self.path,
                "params": self.params,
                "query": self.query,
                "body": self.body,
                "headers": {k.lower(): v if v.isascii() else _unicode(v) for k, v in self.headers.items()},
                "user": self.user,
            }
        return self._context

    def search(self, expression: Any) -> Any:
        return expression.search(self.context(), options=self.options)


def _unicode(value: str) -> str:
    """A header value as text any answer can carry: its bytes that were not UTF-8 (surrogate
    escapes from aiohttp) read as U+FFFD, as pveproxy reads parameters."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# The deepest JSON value a client may send (request bodies, the control API's state): every
# answer that shows a value wraps it a few levels deeper, and orjson serialises at most 255.
MAX_BODY_DEPTH = 64


def too_deep(raw: bytes, value: Any, limit: int) -> bool:
    """Does `value` (parsed from `raw`) hold more than `limit` nested containers? Counting the opening
    brackets of `raw` first keeps the walk off every ordinary body."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    return _depth_over(value, limit - 1)


def _depth_over(value: Any, limit: int) -> bool:
    if limit < 0:
        return True
    if isinstance(value, dict):
        return any(_depth_over(v, limit - 1) for v in value.values())
    if isinstance(value, list):
        return any(_depth_over(v, limit - 1) for v in value)
    return False
