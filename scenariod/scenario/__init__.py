"""Scenario files: what a compiled scenario holds (model), and loading one (compile).

Request-time code imports `scenariod.scenario.model` (and templates, durations): none of
them imports the loader. The loader's entry points are re-exported here, but imported only
when first used (module `__getattr__`), for start-up speed: `import scenariod.scenario.model`
runs this file too, and must not pull in the compiler.

- `model`: `Scenario` and its parts, `MISSING`, `Diagnostic`, `ScenarioInvalid`
- `templates`: `${...}` templates and JMESPath expressions; `durations`: `parse_duration`
- `compile`: `load_scenario`, `parse_scenario`, `check_files` (re-exported here)
- `schema`, `diagnostics`, `positions`: the JSON Schema, the messages for authors, and
  where each node of a file is
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .durations import parse_duration
from .model import (
    MISSING,
    AuthSpec,
    Delay,
    Diagnostic,
    Expect,
    Fault,
    Limits,
    Listen,
    Respond,
    Route,
    Scenario,
    ScenarioInvalid,
    TaskRule,
    When,
    summarized,
)
from .templates import TemplateError, split_template

if TYPE_CHECKING:
    from .compile import check_files, load_scenario, parse_scenario

__all__ = [
    "MISSING",
    "AuthSpec",
    "Delay",
    "Diagnostic",
    "Expect",
    "Fault",
    "Limits",
    "Listen",
    "Respond",
    "Route",
    "Scenario",
    "ScenarioInvalid",
    "TaskRule",
    "TemplateError",
    "When",
    "check_files",
    "load_scenario",
    "parse_duration",
    "parse_scenario",
    "summarized",
    "split_template",
]

_LOADER = frozenset({"check_files", "load_scenario", "parse_scenario"})


def __getattr__(name: str) -> Any:
    if name in _LOADER:
        from . import compile as loader  # the compiler, when first asked for (start-up speed)

        return getattr(loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
