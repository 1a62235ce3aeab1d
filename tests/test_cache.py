"""Memos of scenario texts that loaded clean (scenariod/cache.py): an unchanged file loads
without the YAML parsers and jsonschema, into the very Scenario a full load builds."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_loading import REPO_SCENARIOS, RULES, exactly

from scenariod import cache, fastload
from scenariod.scenario import ScenarioInvalid, load_scenario, positions
from scenariod.scenario import compile as scenario_compile
from scenariod.scenario.positions import plain, yaml_loader


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SCENARIOD_CACHE", str(folder))
    return folder


READ = fastload.load


def no_reading_and_no_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, parsing or validating a text fails the test."""

    def refuse(*_: object) -> None:
        raise AssertionError("a remembered text was read or validated again")

    monkeypatch.setattr(fastload, "load", refuse)
    monkeypatch.setattr(scenario_compile, "schema_validator", refuse)
    monkeypatch.setattr(scenario_compile, "is_valid", refuse)
    monkeypatch.setattr(scenario_compile, "yaml_loader", refuse)
    monkeypatch.setattr(positions, "yaml_loader", refuse)


@pytest.mark.parametrize("path", REPO_SCENARIOS, ids=lambda p: p.name)
def test_a_remembered_file_loads_to_the_same_scenario(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_scenario(path)
    no_reading_and_no_schema(monkeypatch)
    again = load_scenario(path)
    monkeypatch.undo()
    assert again == first == exactly(path.read_text(), str(path))


def test_rule_positions_come_back_from_the_memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    first = load_scenario(path)
    no_reading_and_no_schema(monkeypatch)
    again = load_scenario(path)
    assert [(r.line, r.when.line, r.when.source) for r in (*again.routes, *again.faults, *again.tasks)] == [
        (r.line, r.when.line, r.when.source) for r in (*first.routes, *first.faults, *first.tasks)
    ]


def test_an_edit_is_judged_afresh(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(RULES)
    load_scenario(path)
    path.write_text(RULES.replace("delay: 2s", "delay: soon"))
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenario(path)
    assert "delay" in str(caught.value) and f"{path}:" in str(caught.value)


def test_invalid_files_leave_no_memo(tmp_path: Path, fresh_cache: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("scenariod: 1\nname: bad\nfaults: 3\n")
    with pytest.raises(ScenarioInvalid):
        load_scenario(path)
    assert not list((fresh_cache / cache.MEMO_DIR).glob("*.json"))


def test_a_damaged_memo_is_ignored(tmp_path: Path, fresh_cache: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(RULES)
    first = load_scenario(path)
    for memo in (fresh_cache / cache.MEMO_DIR).glob("*.json"):
        memo.write_bytes(b'{"doc": "{\\"truncated')
    assert load_scenario(path) == first


def test_json_texts_keep_positions_and_read_with_orjson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    path = tmp_path / "s.json"
    path.write_text(json.dumps(plain(yaml_loader().load(RULES)), indent=1))
    first = load_scenario(path)
    memo = cache.recall(path.read_text())
    assert memo is not None and memo.doc is None and memo.positions
    no_reading_and_no_schema(monkeypatch)  # orjson reads it: not fastload.load, not ruamel
    assert load_scenario(path) == first


def test_old_memos_are_pruned(tmp_path: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "MAX_MEMOS", 3)
    for i in range(5):
        (tmp_path / "s.yaml").write_text(RULES.replace("name: web", f"name: web{i}"))
        load_scenario(tmp_path / "s.yaml")
    assert len(list((fresh_cache / cache.MEMO_DIR).glob("*.json"))) == 3


def test_large_texts_keep_positions_but_not_their_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "MAX_DOC_TEXT", 10)
    path = tmp_path / "s.yaml"
    path.write_text(RULES)
    first = load_scenario(path)
    memo = cache.recall(RULES)
    assert memo is not None and memo.doc is None and memo.positions
    no_reading_and_no_schema(monkeypatch)
    monkeypatch.setattr(fastload, "load", READ)  # the text is read again, but not validated
    assert load_scenario(path) == first
