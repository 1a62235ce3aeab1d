"""A linear-time matcher for patterns Python's backtracking `re` can take exponential time on.

A pattern with a quantifier around a group that itself holds a quantifier or an alternation
(PVE's OCI reference: `[a-z\\d]+(?:(?:[._]|__|[-]*)[a-z\\d]+)*`) backtracks catastrophically on a
near-miss; one request would stall the event loop for seconds.  Such patterns are run here as a
Thompson NFA (Pike VM without captures): time is O(len(text) * len(program)) whatever the input.
Rust's `regex` crate (PBS, PDM) is linear-time too, so for them this is also the faithful engine.
Patterns this cannot express (back-references, look-arounds) keep `re`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from re import _constants as C  # noqa: N812  (sre opcodes: the parse tree's vocabulary)
from re import _parser
from typing import Literal

Pred = Callable[[str], bool]
_MAX_PROGRAM = 20_000  # instructions; a counted repeat expanding past this keeps `re`


class Unsupported(Exception):
    """The parse tree holds an operator this engine does not run."""


def _category(cat: object) -> Pred:
    preds: dict[object, Pred] = {
        C.CATEGORY_DIGIT: str.isdecimal,
        C.CATEGORY_NOT_DIGIT: lambda c: not c.isdecimal(),
        C.CATEGORY_SPACE: str.isspace,
        C.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
        C.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
        C.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
    }
    if cat not in preds:
        raise Unsupported(str(cat))
    return preds[cat]


def _set_pred(items: list[tuple[object, object]]) -> Pred:
    negate = False
    chars: set[str] = set()
    ranges: list[tuple[int, int]] = []
    cats: list[Pred] = []
    for op, arg in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            chars.add(chr(arg))  # type: ignore[arg-type]
        elif op is C.RANGE:
            ranges.append(arg)  # type: ignore[arg-type]
        elif op is C.CATEGORY:
            cats.append(_category(arg))
        else:
            raise Unsupported(str(op))

    def pred(c: str) -> bool:
        hit = c in chars or any(lo <= ord(c) <= hi for lo, hi in ranges) or any(p(c) for p in cats)
        return hit != negate

    return pred


class _Compiler:
    """Parse tree -> program of ("char", pred) / ("split", a, b) / ("jmp", a) / ("at", kind) / ("match",)."""

    def __init__(self) -> None:
        self.prog: list[list[object]] = []

    def emit(self, *ins: object) -> int:
        if len(self.prog) >= _MAX_PROGRAM:
            raise Unsupported("program too large")
        self.prog.append(list(ins))
        return len(self.prog) - 1

    def seq(self, items: list[tuple[object, object]], flags: int) -> None:
        for op, arg in items:
            self.node(op, arg, flags)

    def char(self, pred: Pred, flags: int) -> None:
        if flags & re.IGNORECASE:
            base = pred
            pred = lambda c: base(c) or base(c.lower()) or base(c.upper())  # noqa: E731
        self.emit("char", pred)

    def node(self, op: object, arg: object, flags: int) -> None:
        if op is C.LITERAL:
            lit = chr(arg)  # type: ignore[arg-type]
            self.char(lambda c: c == lit, flags)
        elif op is C.NOT_LITERAL:
            lit = chr(arg)  # type: ignore[arg-type]
            self.char(lambda c: c != lit, flags)
        elif op is C.ANY:
            self.char((lambda c: True) if flags & re.DOTALL else (lambda c: c != "\n"), flags)
        elif op is C.IN:
            self.char(_set_pred(arg), flags)  # type: ignore[arg-type]
        elif op is C.AT:
            self.emit("at", arg)
        elif op is C.SUBPATTERN:
            _group, add, remove, body = arg  # type: ignore[misc]
            self.seq(body, (flags | add) & ~remove)
        elif op is C.BRANCH:
            self.branch(arg[1], flags)  # type: ignore[index]
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            lo, hi, body = arg  # type: ignore[misc]
            self.repeat(lo, hi, body, flags)
        else:
            raise Unsupported(str(op))

    def branch(self, alternatives: list[list[tuple[object, object]]], flags: int) -> None:
        jumps: list[int] = []
        for alt in alternatives[:-1]:
            split = self.emit("split", 0, 0)
            self.prog[split][1] = len(self.prog)
            self.seq(alt, flags)
            jumps.append(self.emit("jmp", 0))
            self.prog[split][2] = len(self.prog)
        self.seq(alternatives[-1], flags)
        for j in jumps:
            self.prog[j][1] = len(self.prog)

    def repeat(self, lo: int, hi: int, body: list[tuple[object, object]], flags: int) -> None:
        for _ in range(lo):
            self.seq(body, flags)
        if hi == C.MAXREPEAT:
            split = self.emit("split", 0, 0)
            self.prog[split][1] = len(self.prog)
            self.seq(body, flags)
            self.emit("jmp", split)
            self.prog[split][2] = len(self.prog)
            return
        ends: list[int] = []
        for _ in range(hi - lo):
            split = self.emit("split", len(self.prog) + 1, 0)
            ends.append(split)
            self.seq(body, flags)
        for s in ends:
            self.prog[s][2] = len(self.prog)


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


def _at(kind: object, text: str, i: int) -> bool:
    n = len(text)
    if kind in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
        return i == 0
    if kind is C.AT_END:
        return i == n or (i == n - 1 and text[i] == "\n")
    if kind is C.AT_END_STRING:
        return i == n
    if kind in (C.AT_BOUNDARY, C.AT_NON_BOUNDARY):
        edge = (i > 0 and _is_word(text[i - 1])) != (i < n and _is_word(text[i]))
        return edge if kind is C.AT_BOUNDARY else not edge
    raise Unsupported(str(kind))


class LinearPattern:
    """`search` in O(len(text) * len(program)); like `re`, None when the pattern does not occur."""

    def __init__(self, source: str, prog: list[list[object]]) -> None:
        self.pattern = source
        self._prog = prog

    def _closure(self, pcs: list[int], text: str, i: int) -> tuple[list[int], bool]:
        """The `char` instructions reachable without consuming input, and whether `match` is."""
        prog = self._prog
        seen: set[int] = set()
        out: list[int] = []
        matched = False
        stack = list(reversed(pcs))
        while stack:
            pc = stack.pop()
            if pc in seen:
                continue
            seen.add(pc)
            ins = prog[pc]
            op = ins[0]
            if op == "char":
                out.append(pc)
            elif op == "split":
                stack.append(ins[2])  # type: ignore[arg-type]
                stack.append(ins[1])  # type: ignore[arg-type]
            elif op == "jmp":
                stack.append(ins[1])  # type: ignore[arg-type]
            elif op == "at":
                if _at(ins[1], text, i):
                    stack.append(pc + 1)
            else:
                matched = True
        return out, matched

    def search(self, text: str) -> Literal[True] | None:
        prog = self._prog
        current: list[int] = []
        for i in range(len(text) + 1):
            current, matched = self._closure(current + [0], text, i)
            if matched:
                return True
            if i == len(text):
                break
            c = text[i]
            current = [pc + 1 for pc in current if prog[pc][1](c)]  # type: ignore[operator]
        return None


def _risky(items: list[tuple[object, object]], inside_repeat: bool = False) -> bool:
    """True when a repeat encloses another repeat or an alternation: the shapes that backtrack."""
    for op, arg in items:
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            body = arg[2]  # type: ignore[index]
            if inside_repeat and arg[1] > 1:  # type: ignore[index]
                return True
            if _risky(body, inside_repeat or arg[1] > 1):  # type: ignore[index]
                return True
        elif op is C.BRANCH:
            if inside_repeat:
                return True
            if any(_risky(alt, inside_repeat) for alt in arg[1]):  # type: ignore[index]
                return True
        elif op in (C.SUBPATTERN, C.ATOMIC_GROUP):
            body = arg[3] if op is C.SUBPATTERN else arg  # type: ignore[index]
            if _risky(body, inside_repeat):  # type: ignore[arg-type]
                return True
    return False


def linear_or_re(python_pattern: str) -> re.Pattern[str] | LinearPattern:
    """`python_pattern` compiled by `re`, or run linearly when its shape can backtrack badly.

    Raises re.error as re.compile does."""
    compiled = re.compile(python_pattern)
    tree = _parser.parse(python_pattern)
    if not _risky(list(tree)):
        return compiled
    comp = _Compiler()
    try:
        comp.seq(list(tree), tree.state.flags)
        comp.emit("match")
    except Unsupported:
        return compiled
    return LinearPattern(python_pattern, comp.prog)
