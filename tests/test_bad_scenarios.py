"""A corpus of bad scenario files (tests/bad_scenarios/): ordinary mistakes and hostile files.

Each file ends with `# expect: LINE:COLUMN: message` lines (the start of every diagnostic
`scenariod check` must print, in order) and may start with `# args: ...` (options for
`check`, e.g. a lowered bound). Each is checked by `scenariod check` in its own process, as a
user runs it: FILE:LINE:COLUMN diagnostics, exit 1, no traceback, in under a second of CPU
(a hostile file once took 70 s and 4.4 GB; CPU time, unlike wall time, does not depend on
what else the shared machine runs), and never hanging.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent / "bad_scenarios"
FILES = sorted(CORPUS.glob("*.yaml"))
CHECK = [sys.executable, "-m", "scenariod", "check"]


def expectations(path: Path) -> tuple[list[str], list[str]]:
    lines = path.read_bytes().decode("utf-8", "replace").splitlines()
    args = next((line[len("# args: ") :].split() for line in lines if line.startswith("# args: ")), [])
    return args, [line[len("# expect: ") :] for line in lines if line.startswith("# expect: ")]


def check(path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """`scenariod check` on `path`: the process, its CPU seconds and its wall seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([*CHECK, *args, str(path)], capture_output=True, text=True, timeout=30)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, cpu, wall


def diagnostics(done: subprocess.CompletedProcess[str], path: Path) -> list[str]:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert lines[-1].endswith("problem(s) in 1 file(s)")
    prefix = f"{path}:"
    assert all(line.startswith(prefix) for line in lines[:-1]), lines
    return [line[len(prefix) :] for line in lines[:-1]]


def test_the_corpus_is_large_enough() -> None:
    assert len(FILES) >= 40
    assert all(expectations(path)[1] for path in FILES), [p.name for p in FILES if not expectations(p)[1]]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_a_bad_file_is_reported_at_its_line(path: Path) -> None:
    args, expected = expectations(path)
    done, cpu, wall = check(path, *args)
    got = diagnostics(done, path)
    assert len(got) == len(expected), got
    for line, want in zip(got, expected, strict=True):
        assert line.startswith(want), (line, want)
    assert cpu < 1.0, f"{cpu:.2f} s of CPU"
    assert wall < 20


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_file_that_is_not_regular_is_refused_without_blocking(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "scenario.yaml"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would wait for a writer forever
    else:
        path.mkdir()
    done, cpu, _ = check(path)
    assert diagnostics(done, path) == [
        f"1:1: a {'FIFO' if kind == 'fifo' else 'directory'}, not a regular file: "
        "a scenario is read from a regular file"
    ]
    assert cpu < 1.0


def test_a_lifted_bound_lets_the_file_through(tmp_path: Path) -> None:
    """Each refusal names the option that raises its bound, and that option does."""
    path = CORPUS / "hostile-too-many-nodes.yaml"
    done, _, _ = check(path, "--max-yaml-nodes", "100")
    assert "raise it with --max-yaml-nodes N" in done.stderr
    done, _, _ = check(path, "--max-yaml-nodes", "1000")
    assert done.returncode == 0, done.stderr


def test_a_seed_value_of_the_wrong_type(tmp_path: Path) -> None:
    path = tmp_path / "lots.yaml"
    path.write_text("scenariod: 1\nname: lots\nstate:\n  /nodes:\n    - {node: pve1, maxcpu: lots}\n")
    done, _, _ = check(path)
    got = diagnostics(done, path)
    assert got == ['5:28: maxcpu: "lots" is not an integer (the /nodes item schema declares maxcpu as integer)']


def test_an_undeclared_seed_field_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "extra.yaml"
    path.write_text("scenariod: 1\nname: extra\nstate:\n  /nodes:\n    - {node: pve1, rack: r12}\n")
    done, _, _ = check(path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"{path}:5:20: warning: `rack` is not a field of the /nodes item schema (served as seeded)"
    ]
    assert f"{path}: ok" in done.stdout


def test_every_pinned_scenario_checks_clean() -> None:
    files = sorted(str(p) for p in (CORPUS.parent.parent / "scenarios").rglob("*.yaml"))
    done = subprocess.run([*CHECK, *files], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and not done.stderr, done.stderr


def test_fields_real_nodes_answer_are_no_warning(tmp_path: Path) -> None:
    """What a real node answers beyond its API description (apidesc.answered_undeclared): a
    guest's `disk`, a bridge's `bridge_stp`, a netmask as its prefix length, a standard
    repository's description. A field no node answers still warns."""
    path = tmp_path / "answered.yaml"
    path.write_text(
        "scenariod: 1\nname: answered\nstate:\n"
        "  /nodes:\n    - {node: pve1, id: node/pve1, type: node}\n"
        "  /nodes/pve1/qemu:\n    - {vmid: 100, name: a, status: running, disk: 0}\n"
        "  /nodes/pve1/network:\n"
        "    - {iface: vmbr0, type: bridge, netmask: '24', bridge_stp: 'off', families: [inet], priority: 5}\n"
        "  /nodes/pve1/apt/repositories:\n"
        "    {files: [], errors: [], digest: d, infos: [],\n"
        "     standard-repos: [{handle: test, name: Test, description: For testing only., lab: x}]}\n"
    )
    done, _, _ = check(path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"{path}:12:82: warning: `lab` is not a field of the /nodes/{{node}}/apt/repositories schema (served as seeded)"
    ]


def test_a_dotted_netmask_is_not_what_a_node_answers(tmp_path: Path) -> None:
    """pve-common answers an interface's netmask as the prefix length of its CIDR."""
    path = tmp_path / "mask.yaml"
    path.write_text(
        "scenariod: 1\nname: mask\nstate:\n"
        "  /nodes/pve1/network:\n    - {iface: vmbr0, type: bridge, netmask: 255.255.255.0}\n"
    )
    done, _, _ = check(path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f'{path}:5:45: warning: netmask: "255.255.255.0": value does not match the regex pattern'
        " (the /nodes/{node}/network item schema declares netmask)"
    ]


def test_a_repeated_warning_is_counted_after_three(tmp_path: Path) -> None:
    """The same warning at many places: its first three, then one line counting the rest."""
    guests = "".join(f"    - {{vmid: {100 + i}, name: g{i}, rack: r1}}\n" for i in range(6))
    path = tmp_path / "racks.yaml"
    path.write_text(
        f"scenariod: 1\nname: racks\nstate:\n  /nodes/pve1/qemu:\n{guests}  /nodes:\n    - {{node: pve1, row: 2}}\n"
    )
    done, _, _ = check(path)
    assert done.returncode == 0, done.stderr
    rack = "warning: `rack` is not a field of the /nodes/{node}/qemu item schema (served as seeded)"
    assert done.stderr.splitlines() == [
        f"{path}:5:29: {rack}",
        f"{path}:6:29: {rack}",
        f"{path}:7:29: {rack}",
        f"{path}:12:20: warning: `row` is not a field of the /nodes item schema (served as seeded)",
        f"{path}: {rack}: 3 more like this (first at {path}:5:29)",
    ]
