"""The file bounds (scenariod/filelimits.py) cost a valid file nothing extra: the fast reader
checks them in its own pass, and the full guard runs only before the exact reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SCENARIOS

from scenariod import filelimits, scenario
from scenariod.scenario import ScenarioInvalid, load_scenario


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("name", ["two-node.yaml", "showcase.yaml"])
def test_a_valid_file_is_read_once(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_: str) -> None:
        raise AssertionError("the separate guard pass ran on a valid file")

    monkeypatch.setattr(filelimits, "refusal", refuse)
    assert load_scenario(SCENARIOS / name).name


def test_a_valid_json_file_within_the_bounds_loads(tmp_path: Path) -> None:
    doc = {"scenariod": 1, "name": "j", "description": "brackets [[[[ {{ in strings are not nesting ]]", "x-a": [[[1]]]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    assert load_scenario(path).description == doc["description"]


def test_json_bounds_count_nesting_not_brackets_in_strings() -> None:
    assert filelimits.json_within_bounds(json.dumps({"a": "[" * 500, "b": "]" * 500 + "\\"}))
    deep = "[" * 201 + "]" * 201
    assert not filelimits.json_within_bounds('{"a": ' + deep + "}")
    hidden = '{"a": "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "b": ' + deep + "}"
    assert not filelimits.json_within_bounds(hidden)


def test_bounds_are_process_wide_and_named_in_the_refusal(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("scenariod: 1\nname: s\nx-list: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n")
    assert load_scenario(path).name == "s"
    try:
        filelimits.override(yaml_nodes=10)
        with pytest.raises(ScenarioInvalid) as caught:
            scenario.parse_scenario(path.read_text() + "# edited\n", path)
        assert str(caught.value).startswith(f"{path}:3:") and "--max-yaml-nodes" in str(caught.value)
    finally:
        filelimits.override()
    assert filelimits.current() == filelimits.DEFAULTS
