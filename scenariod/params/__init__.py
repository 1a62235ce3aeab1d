"""Parameter validation as Proxmox does it: types, named formats, property strings.

An operation's `parameters` schema (as published in the API viewer data) is compiled once
into a `Validator` of its dialect, read from the data itself (or forced with `dialect=`):

- `PveValidator` (pve.py): Perl PVE::JSONSchema + PVE::RESTHandler, with the wording of
  those modules and of the registered format verifiers (formats.py).
- `RustValidator` (rust.py): proxmox-schema, for PBS and PDM.

Every error text lives in `WORDING` (wording.py); regexes.py translates both dialects'
patterns, values.py holds what they share.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .pve import PveValidator
from .rust import RustValidator
from .validator import INDEX_LIMITS, Validator
from .values import split_list
from .wording import WORDING

__all__ = ["INDEX_LIMITS", "WORDING", "PveValidator", "RustValidator", "Validator", "compile_validator", "split_list"]

_DIALECTS: dict[str, type[Validator]] = {
    "pve": PveValidator,
    "rust": RustValidator,
    "pbs": RustValidator,
    "pdm": RustValidator,
}


def _rust_data(parameters: Mapping[str, Any]) -> bool:
    """PBS/PDM publish JSON booleans for additionalProperties and `optional`, and `/.../`
    patterns; PVE's data has 0/1 and bare patterns."""
    if isinstance(parameters.get("additionalProperties"), bool):
        return True
    for schema in (parameters.get("properties") or {}).values():
        if isinstance(schema, dict):
            pattern = schema.get("pattern")
            if isinstance(pattern, str) and len(pattern) >= 2 and pattern[0] == "/" and pattern[-1] == "/":
                return True
            if isinstance(schema.get("optional"), bool):
                return True
    return False


def compile_validator(op_or_parameters: Any, dialect: str | None = None) -> Validator:
    """Compile an Operation (anything with `.parameters`) or a `parameters` dict.

    `dialect` is "pve", or "rust"/"pbs"/"pdm"; by default it is read from the data.
    """
    parameters = getattr(op_or_parameters, "parameters", op_or_parameters)
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, Mapping):
        raise TypeError(f"parameters schema must be a mapping, not {type(parameters).__name__}")
    if dialect is None:
        cls: type[Validator] = RustValidator if _rust_data(parameters) else PveValidator
    elif dialect in _DIALECTS:
        cls = _DIALECTS[dialect]
    else:
        raise ValueError(f"unknown parameter dialect {dialect!r}")
    return cls(parameters)
