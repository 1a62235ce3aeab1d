"""`${...}` templates and the JMESPath expressions in them (`if`, `respond.data`, log lines).

Request-time matching renders what these compile; the loader reports what does not compile.
"""

from __future__ import annotations

import functools
import re

import jmespath
from jmespath.exceptions import IncompleteExpressionError, JMESPathError, LexerError, ParseError
from jmespath.parser import ParsedResult

from .diagnostics import clip


class TemplateError(ValueError):
    """A `${...}` template that does not parse; the message is for authors."""


@functools.lru_cache(maxsize=4096)
def compile_expression(expr: str) -> ParsedResult:
    """jmespath.compile with a larger cache; raises jmespath's ParseError subclasses."""
    return jmespath.compile(expr)


def jmespath_problem(exc: JMESPathError) -> str:
    """jmespath's error, in a few words with a 1-based column."""
    if isinstance(exc, IncompleteExpressionError):
        return "the expression is incomplete"
    if isinstance(exc, LexerError):
        where = getattr(exc, "lexer_position", None)
        text = getattr(exc, "message", None) or "cannot read it"
        return f"{text} at column {where + 1}" if isinstance(where, int) else text
    if isinstance(exc, ParseError):
        if getattr(exc, "token_type", None) in ("eof", "EOF"):
            return "the expression ends too early"
        where = getattr(exc, "lex_position", None)
        token = getattr(exc, "token_value", None)
        if isinstance(where, int):
            return f"unexpected {token!r} at column {where + 1}" if token else f"parse error at column {where + 1}"
    first = str(exc).split("\n", 1)[0].rstrip()
    return re.sub(r",? for expression:?$", "", first).rstrip(":").strip() or exc.__class__.__name__


def _closing_brace(s: str, start: int) -> int:
    """Index of the `}` that closes a `${` whose expression starts at `start`, or -1.

    Braces inside JMESPath literals ('raw', "quoted", `json`) do not count."""
    depth = 1
    quote = ""
    i, n = start, len(s)
    while i < n:
        ch = s[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def split_template(s: str) -> list[str | ParsedResult]:
    """Split a template string into literal chunks and compiled JMESPath expressions.

    `${EXPR}` is an expression; `$${` is a literal `${`. Adjacent literals are merged and
    empty ones dropped ("" gives []). A result that is exactly one expression means the
    string takes the expression's typed value; otherwise join the parts, expressions by
    their text. Raises TemplateError (a ValueError) for an unclosed `${`, an empty one, or
    an expression that does not compile.
    """
    parts: list[str | ParsedResult] = []
    buf: list[str] = []
    i, n = 0, len(s)
    while i < n:
        j = s.find("$", i)
        if j < 0:
            buf.append(s[i:])
            break
        buf.append(s[i:j])
        if s.startswith("$${", j):
            buf.append("${")
            i = j + 3
        elif s.startswith("${", j):
            end = _closing_brace(s, j + 2)
            if end < 0:
                raise TemplateError(f"`{clip(s[j:])}` has no closing }} for its ${{")
            expr = s[j + 2 : end]
            if not expr.strip():
                raise TemplateError("`${}` is empty; write a JMESPath expression inside, e.g. ${params.vmid}")
            try:
                compiled = compile_expression(expr)
            except JMESPathError as exc:
                raise TemplateError(
                    f"`${{{clip(expr)}}}` is not a valid JMESPath expression: {jmespath_problem(exc)}"
                ) from None
            literal = "".join(buf)
            if literal:
                parts.append(literal)
            buf = []
            parts.append(compiled)
            i = end + 1
        else:
            buf.append("$")
            i = j + 1
    literal = "".join(buf)
    if literal:
        parts.append(literal)
    return parts
