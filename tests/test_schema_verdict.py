"""`schema.is_valid` (the first load's check, without jsonschema) gives jsonschema's verdict.

Every scenario the repository holds, every bad scenario of the suite, and many mutations of
the valid ones (a key dropped, a value of another type, an unknown key) are judged by both;
a file `is_valid` passed that jsonschema refuses would be served with a problem unreported.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from scenariod import filelimits
from scenariod.scenario.schema import _walkable, is_valid, schema_validator

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(
    [
        *ROOT.glob("scenarios/**/*.yaml"),
        *ROOT.glob("examples/*.yaml"),
        *(Path(__file__).parent / "bad_scenarios").glob("*.yaml"),
    ]
)


def _docs() -> Iterator[tuple[str, Any]]:
    for path in FILES:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # not UTF-8: refused before any parser, never reaches the schema
        if filelimits.refusal(text) is not None:
            continue  # a hostile file: likewise
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            continue  # a syntax error: likewise
        if doc is not None:
            yield path.name, doc


DOCS = list(_docs())


def jsonschema_says(doc: Any) -> bool:
    return next(iter(schema_validator().iter_errors(doc)), None) is None


def test_the_bundled_schema_is_walked_without_jsonschema() -> None:
    assert _walkable()  # else is_valid asks jsonschema, and the first start pays its import


@pytest.mark.parametrize(("name", "doc"), DOCS, ids=[n for n, _ in DOCS])
def test_each_file_gets_the_same_verdict(name: str, doc: Any) -> None:
    assert is_valid(doc) == jsonschema_says(doc)


def test_the_files_hold_both_verdicts() -> None:
    verdicts = {jsonschema_says(doc) for _, doc in DOCS}
    assert verdicts == {True, False}


_ODD_VALUES: list[Any] = [None, True, 0, 1.5, -1, "", "x", [], {}, ["a"], {"k": 1}, "GET /x", 100000]


def _places(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _places(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _places(v, (*path, i))


def _mutations(doc: Any, rng: random.Random, count: int) -> Iterator[Any]:
    places = [p for p, _ in _places(doc) if p]
    for _ in range(count):
        out = copy.deepcopy(doc)
        where = rng.choice(places)
        parent = out
        for step in where[:-1]:
            parent = parent[step]
        last = where[-1]
        roll = rng.random()
        if roll < 0.5:
            parent[last] = rng.choice(_ODD_VALUES)  # a value of another type or range
        elif roll < 0.75 and isinstance(parent, dict):
            del parent[last]  # maybe a required key
        elif isinstance(parent, dict):
            parent[f"zz_{last}"] = parent[last]  # a key the schema may not allow
        else:
            parent.append(parent[last])
        yield out


def test_mutated_scenarios_get_the_same_verdict() -> None:
    rng = random.Random(20261129)
    valid = [doc for _, doc in DOCS if jsonschema_says(doc)]
    assert valid
    judged = {True: 0, False: 0}
    for doc in valid:
        for mutated in _mutations(doc, rng, 60):
            verdict = jsonschema_says(mutated)
            assert is_valid(mutated) == verdict, mutated
            judged[verdict] += 1
    assert judged[True] > 50 and judged[False] > 50  # both verdicts were exercised
