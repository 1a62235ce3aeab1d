"""Perl (PVE) and Rust (PBS/PDM) regular expressions, translated to Python's `re`."""

from __future__ import annotations

import functools
import re

from .linear import LinearPattern, linear_or_re

_POSIX_CLASSES = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "xdigit": "0-9a-fA-F",
    "lower": "a-z",
    "upper": "A-Z",
    "space": r" \t\n\r\f\v",
    "blank": r" \t",
    "punct": r"!-/:-@\[-`{-~",
    "cntrl": r"\x00-\x1f\x7f",
    "print": r"\x20-\x7e",
    "graph": r"\x21-\x7e",
    "word": r"\w",
}
_PERL_FLAGS_GROUP_RE = re.compile(r"\(\?\^([a-z]*)([:)])")


def _translate_class(body: str, negated: bool) -> str:
    """Translate the inside of a bracket expression, expanding POSIX classes."""
    # A class that is just one negated POSIX class, e.g. [[:^cntrl:]]
    m = re.fullmatch(r"\[:\^(\w+):\]", body)
    if m and not negated and m.group(1) in _POSIX_CLASSES:
        return "[^" + _POSIX_CLASSES[m.group(1)] + "]"

    def repl(mm: re.Match[str]) -> str:
        name = mm.group(1)
        if name not in _POSIX_CLASSES:
            raise re.error(f"unknown POSIX class {name}")
        return _POSIX_CLASSES[name]

    if "[:^" in body:
        raise re.error("negated POSIX class inside a class")
    return ("[^" if negated else "[") + re.sub(r"\[:(\w+):\]", repl, body) + "]"


def _translate_regex(pattern: str, rust: bool) -> str:
    """Perl/Rust regex syntax to Python `re` syntax (best effort; may raise re.error)."""

    # Perl's stringified qr// groups: (?^:...), (?^i:...), (?^u:...)
    def flags(m: re.Match[str]) -> str:
        f = "".join(ch for ch in m.group(1) if ch in "imsx")
        return "(?" + f + m.group(2) if f else "(?" + (":" if m.group(2) == ":" else ":)")

    pattern = _PERL_FLAGS_GROUP_RE.sub(flags, pattern)
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "z":
                out.append(r"\Z")
            elif nxt == "Z":
                out.append(r"(?=\n?\Z)")
            elif nxt == "h":
                out.append(r"[ \t]")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[":
            # find the end of the bracket expression (POSIX classes and escapes inside)
            j = i + 1
            negated = False
            if j < n and pattern[j] == "^":
                negated = True
                j += 1
            start = j
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                if pattern[j] == "\\":
                    j += 2
                    continue
                if pattern[j] == "[" and j + 1 < n and pattern[j + 1] == ":":
                    end = pattern.find(":]", j + 2)
                    if end < 0:
                        raise re.error("unterminated POSIX class")
                    j = end + 2
                    continue
                j += 1
            if j >= n:
                raise re.error("unterminated character class")
            out.append(_translate_class(pattern[start:j], negated))
            i = j + 1
            continue
        if ch == "$" and rust:
            out.append(r"\Z")  # Rust's $ is the very end of the text
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


Compiled = re.Pattern[str] | LinearPattern


@functools.cache
def perl_pattern(pattern: str) -> Compiled | None:
    """A PVE `pattern` compiled, or None when Python cannot express it (then it accepts).

    PVE::JSONSchema matches `$value =~ m/^$pattern$/` (no grouping around the pattern).  A shape
    that backtracks exponentially runs on the linear-time engine (see linear.py)."""
    try:
        return linear_or_re("^" + _translate_regex(pattern, False) + "$")
    except (re.error, RecursionError, ValueError):
        return None


@functools.cache
def rust_pattern(pattern: str) -> Compiled | None:
    """A proxmox-schema `pattern` (written `/.../`) compiled, or None as `perl_pattern`."""
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        pattern = pattern[1:-1]
    try:
        return linear_or_re(_translate_regex(pattern, True))
    except (re.error, RecursionError, ValueError):
        return None
