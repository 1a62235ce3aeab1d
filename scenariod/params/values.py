"""What both dialects share: the check closures' type, their failure, and values as the
API data writes them (Perl's numbers, strings and truth; PBS/PDM data follows the same form).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

# Accepted values remembered per parameter (the scalar checks of both dialects).
MEMO_SIZE = 512


class Invalid(Exception):
    """Raised by a check closure; `errors` maps error paths to messages."""

    __slots__ = ("errors",)

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors


Check = Callable[[Any, str], Any]

# --- values as Perl reads and prints them (the API data is Perl's) -----------------------------

INT_RE = re.compile(r"^[+-]?\d+$")
MAX_INT_DIGITS = 4000  # below Python's int() conversion limit (4300 digits)


def beyond_range(s: str, kind: int, max_msg: str, min_msg: str, type_msg: str) -> str:
    """The error for a number too long to convert: Perl reads it as +-inf, so PVE refuses it
    against the schema's maximum (minimum); without one, it is no number this mock can hold."""
    negative = s.lstrip().startswith("-")
    return (min_msg if negative else max_msg) or type_msg.format(type="integer" if kind == 1 else "number", value=s)


NUM_RE = re.compile(r"^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$")
_BOOL_TRUE_RE = re.compile(r"^(1|on|yes|true)$", re.I)
_BOOL_FALSE_RE = re.compile(r"^(0|off|no|false)$", re.I)
_SPLIT_SEP_RE = re.compile(r"[,;]")
_SPLIT_WS_RE = re.compile(r"\s+")


def perl_num(value: float | int) -> str:
    """A Perl number as Perl prints it (%.15g)."""
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.15g}"


def perl_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, (int, float)):
        return perl_num(value)
    return str(value)


def perl_true(value: Any) -> bool:
    if isinstance(value, str):
        return value != "" and value != "0"
    return bool(value)


def parse_boolean(value: str) -> int | None:
    """PVE::JSONSchema::parse_boolean."""
    if _BOOL_TRUE_RE.match(value):
        return 1
    if _BOOL_FALSE_RE.match(value):
        return 0
    return None


def split_list(text: str) -> list[str]:
    """PVE::Tools::split_list: NUL-, comma-, semicolon- or whitespace-separated items."""
    if not text:
        return []
    if "\0" in text:
        parts = text.split("\0")
    else:
        parts = _SPLIT_WS_RE.split(_SPLIT_SEP_RE.sub(" ", text).lstrip())
    while parts and parts[-1] == "":  # Perl's split drops trailing empty fields
        parts.pop()
    return parts


def limit_text(limit: Any) -> str:
    return limit if isinstance(limit, str) else perl_num(limit)


def as_number(limit: Any) -> float | int | None:
    if isinstance(limit, bool):
        return int(limit)
    if isinstance(limit, (int, float)):
        return limit
    if isinstance(limit, str) and NUM_RE.match(limit):
        return int(limit) if INT_RE.match(limit) else float(limit)
    return None


def truthy_flag(value: Any) -> bool:
    """`optional`, `default_key`, ... are 1/0, JSON booleans or strings ('1') in the data."""
    return perl_true(value) if value is not None else False
