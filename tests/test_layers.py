"""The package's import order: each layer imports only from its own layer and those below it,
and no modules import each other in a cycle.

Layers, bottom first (ARCHITECTURE.md):
1. the core: Proxmox facts, the API description and parameter validation, the scenario model,
   state, journal, tasks, the request, the clock, the World
2. what the pipeline matches requests with and breaks them with: matching, faults
3. behaviours and what is compiled from them: generic, proxmox, runtime, synth, openapi
4. the server and its surfaces: server, reload, control, verify, logs, TLS, cli, the plugin

Units are the top-level modules and packages under scenariod/ (`scenariod.scenario.model`
counts as `scenario`, `scenariod.proxmox.pbs.datastores` as `proxmox`), so a module split
into a package keeps its place. Every unit must be placed: a new module fails here until it
is given a layer on purpose.

What counts:
- imports at module level and inside functions: both run, so both are dependencies (a
  function-level import is as much a cycle as a top-level one, only later);
- imports under `if TYPE_CHECKING:` count for the layer order (an annotation that names a
  higher layer is knowledge of it) but not for cycles (they never run, so mutual annotations
  within a layer, such as reload.py naming the Service that calls it, form no import cycle).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "scenariod"

LAYERS: list[set[str]] = [
    {
        "__init__",  # the version only
        "wire",
        "gcpause",
        "fastload",
        "cache",
        "filelimits",  # hostile scenario files, refused before any parser builds them
        "redact",  # the one list of secret fields
        "tls",  # the certificate files: node views read the served certificate's fingerprint
        "apidesc",
        "params",  # below apidesc: an Operation compiles its validator on first use
        "scenario",  # the model, and the loading that checks files against apidesc
        "state",
        "journal",
        "tasks",
        "request",
        "answer",  # a 200 JSON answer as bytes on the wire (the bare benchmark server uses it too)
        "clock",
        "world",
    },
    {"matching", "faults"},
    {"generic", "synth", "proxmox", "openapi", "runtime"},
    {
        "server",
        "reload",
        "control",
        "verify",
        "reqlog",
        "cli",
        "pytest_plugin",
        "__main__",
        "fleet",
        "workers",
        "apidiff",
        "snapshot",
        "importer",
        "statefile",  # a Service's state file: restores through reload's seed diff
    },
]

LAYER_OF = {unit: n for n, units in enumerate(LAYERS) for unit in units}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(module: str) -> str:
    """The top-level unit of a scenariod module: `scenariod.proxmox.auth` -> `proxmox`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported scenariod module, under TYPE_CHECKING) for every import in a file."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        if node.level:
            base = package.split(".")
            base = base[: len(base) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        # `from X import name` imports X.name when that is a module, else X itself
        return [f"{source}.{a.name}" if _is_module(f"{source}.{a.name}") else source for a in node.names]

    def visit(node: ast.AST, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child.test):
                for inner in child.body:
                    visit_one(inner, True)
                for inner in child.orelse:
                    visit_one(inner, typing_only)
            else:
                visit_one(child, typing_only)

    def visit_one(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.extend((t, typing_only) for t in targets(node) if t == "scenariod" or t.startswith("scenariod."))
        visit(node, typing_only)

    visit_one(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return found


@functools.cache
def _graph() -> dict[str, list[tuple[str, str, bool]]]:
    """unit -> [(importing module, imported unit, typing only)], edges within a unit left out."""
    graph: dict[str, list[tuple[str, str, bool]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        unit = _unit(module)
        edges = graph.setdefault(unit, [])
        for target, typing_only in _imports(path):
            if _unit(target) != unit:
                edges.append((module, _unit(target), typing_only))
    return graph


def test_every_unit_has_a_layer():
    unplaced = sorted(set(_graph()) - set(LAYER_OF))
    assert not unplaced, f"place these in a layer of tests/test_layers.py: {unplaced}"
    assert not set(LAYER_OF) - set(_graph()), f"layers name units that do not exist: {set(LAYER_OF) - set(_graph())}"


def test_no_layer_imports_a_higher_one():
    graph = _graph()
    upward = [
        f"{module} (layer {LAYER_OF[unit] + 1}) imports scenariod.{target} (layer {LAYER_OF[target] + 1})"
        + (" under TYPE_CHECKING" if typing_only else "")
        for unit, edges in graph.items()
        for module, target, typing_only in edges
        if unit in LAYER_OF and target in LAYER_OF and LAYER_OF[target] > LAYER_OF[unit]
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycle():
    graph = {unit: {t for _, t, typing_only in edges if not typing_only} for unit, edges in _graph().items()}
    cycles: list[list[str]] = []
    done: set[str] = set()

    def walk(unit: str, trail: list[str]) -> None:
        if unit in trail:
            cycles.append([*trail[trail.index(unit) :], unit])
            return
        if unit in done:
            return
        for target in sorted(graph.get(unit, ())):
            walk(target, [*trail, unit])
        done.add(unit)

    for unit in sorted(graph):
        walk(unit, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_imports_inside_functions_and_under_type_checking():
    """The parse itself: a function-level import and a TYPE_CHECKING one are both found,
    and told apart (a checker that missed them would pass any layout)."""
    found = dict(_imports(PACKAGE / "reload.py"))
    assert found.get("scenariod.server") is True  # annotations only
    assert found.get("scenariod.runtime") is False
    cli = dict(_imports(PACKAGE / "cli.py"))
    assert cli.get("scenariod.server") is False  # imported inside main's helpers
