"""What scenariod keeps between runs in its cache directory ($SCENARIOD_CACHE).

Two things live there: the self-signed CA and certificates (tls.py), and memos of scenario
texts that loaded clean. A memo says "this exact text passed the JSON Schema, reads as this
document, and its rule sources sit at these lines", so loading the unchanged file again skips
the YAML parsers and jsonschema (their imports alone are most of a small scenario's start-up).
It is keyed by the text's SHA-256 and by the code and schema that judged it, so an edit of
either misses; a miss, or any error reading the cache, just takes the full path. A memo ends
with the SHA-256 of its content: one that is truncated, garbage or of another shape is
removed on reading and written afresh by the full load. The oldest
memos go when there are too many or they take too much room (`MAX_MEMOS`, `MAX_MEMO_BYTES`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .fastload import starts_as_json

MEMO_DIR = "scenarios"
MAX_MEMOS = 256  # older memos are removed beyond this many...
MAX_MEMO_BYTES = 512 << 20  # ...or beyond this size in all
MAX_DOC_TEXT = 64 << 20  # keep the document of texts up to this size (characters)

Position = tuple[int, int]
Positions = dict[tuple[tuple[Any, ...], str], Position]  # (path, "key"|"value") -> (line, column)


def cache_dir() -> Path:
    """$SCENARIOD_CACHE, else the user's cache directory (XDG) + scenariod."""
    explicit = os.environ.get("SCENARIOD_CACHE")
    if explicit:
        path = Path(explicit)
    else:
        path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scenariod"
    path.mkdir(parents=True, exist_ok=True)
    return path


_judges: str | None = None


def _judges_digest() -> str:
    """A digest of what decides validity and positions: the loader's code, the schema, and
    the API descriptions paths are checked against."""
    global _judges
    if _judges is None:
        from . import __version__

        here = Path(__file__).resolve().parent
        digest = hashlib.sha256(__version__.encode())
        for name in (
            *sorted(f"scenario/{p.name}" for p in (here / "scenario").glob("*.py")),  # the loader's package
            "fastload.py",
            "data/scenario.schema.json",
            *sorted(f"data/{p.name}" for p in (here / "data").glob("*.api.json.gz")),  # pinned releases too
        ):
            digest.update((here / name).read_bytes())
        _judges = digest.hexdigest()[:16]
    return _judges


def _memo_file(text: str, api: str | None = None) -> Path:
    # A load with `--api` is judged against that release, not the file's pin: its own memo.
    key = hashlib.sha256((text if api is None else f"{text}\0--api {api}").encode("utf-8", "surrogatepass")).hexdigest()
    return cache_dir() / MEMO_DIR / f"{key[:40]}-{_judges_digest()}.json"


@dataclass(frozen=True, slots=True)
class Memo:
    """What a clean load of one exact text found: its document (None for large texts) and the
    positions its Scenario keeps."""

    doc: dict[str, Any] | None
    positions: Positions


def encode_doc(text: str, doc: dict[str, Any]) -> str | None:
    """The document as the memo keeps it (JSON that round-trips inf and nan), or None: for a
    JSON text (orjson reads the text itself as fast, `fastload.load_known`) and beyond
    `MAX_DOC_TEXT`. Taken before compiling, which may normalize in place."""
    if len(text) > MAX_DOC_TEXT or starts_as_json(text):
        return None
    return json.dumps(doc)


def recall(text: str, api: str | None = None) -> Memo | None:
    """The memo of `text` (loaded with `--api` if given) if it loaded clean before, else None.

    A memo that does not load in any way (truncated, garbage, another shape, its digest not
    matching its content) is removed, so the full load that follows writes it afresh.
    """
    target = _memo_file(text, api)
    try:
        data = target.read_bytes()
    except OSError:
        return None  # never remembered (or an unreadable cache: only speed is lost)
    try:
        body, _, digest = data.rpartition(b"\n")
        if hashlib.sha256(body).hexdigest().encode() != digest:
            raise ValueError("the memo's digest does not match its content")
        raw = orjson.loads(body)
        positions = {(tuple(path), at): (line, col) for path, at, line, col in raw["positions"]}
        doc = json.loads(raw["doc"]) if raw["doc"] is not None else None
        if doc is not None and not isinstance(doc, dict):
            raise TypeError("the memo's document is not a mapping")
        return Memo(doc, positions)
    except (ValueError, KeyError, TypeError):
        with contextlib.suppress(OSError):
            target.unlink(missing_ok=True)
        return None


def remember(text: str, doc: str | None, positions: Positions, api: str | None = None) -> None:
    """Note that `text` loaded clean (with `--api` if given): its encoded document
    (`encode_doc`) and positions."""
    try:
        target = _memo_file(text, api)
        target.parent.mkdir(exist_ok=True)
        rows: list[Sequence[Any]] = [(list(path), at, line, col) for (path, at), (line, col) in positions.items()]
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        body = orjson.dumps({"doc": doc, "positions": rows})
        partial.write_bytes(body + b"\n" + hashlib.sha256(body).hexdigest().encode())
        os.replace(partial, target)  # readers never see half a memo
        _prune(target.parent)
    except OSError:
        pass  # a read-only or full cache only costs the next start its speed


def _prune(folder: Path) -> None:
    memos = [(p.stat(), p) for p in folder.glob("*.json")]
    memos.sort(key=lambda sp: sp[0].st_mtime, reverse=True)  # newest first
    total = 0
    for count, (stat, path) in enumerate(memos, start=1):
        total += stat.st_size
        if count > MAX_MEMOS or total > MAX_MEMO_BYTES:
            path.unlink(missing_ok=True)
