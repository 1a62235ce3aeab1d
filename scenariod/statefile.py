"""`run --state-file`: the default World's live state, kept across restarts.

What is saved is what clients changed and a restart would otherwise lose: the state store
(every path and value), the secrets clients set (user passwords, API token secrets) and the
World's clock offset (ages and expiry dates were set against it). Not saved: the request
journal (history, not state), tasks (a restart ends them; their effects on state are kept),
fault counters, replay memos and sessions (a session is a test's private copy).

A save writes the whole file to a temporary file in the target's directory, fsyncs it,
renames it over the target and fsyncs the directory: at every instant the target is either
the previous save or the new one, whole. A process killed mid-save leaves at most a torn
temporary file, which the next start removes and never reads.

On start the file is loaded when it was saved from the same scenario text (its SHA-256) and
API release. A changed scenario starts from the scenario, or with `--keep-state` as a hot
reload of the change would leave the saved state: the saved state is restored into a World
of the scenario it was saved with (the file keeps its text), and follows the seed's change
to the new one (reload.py's seed diff). A file that cannot be used is renamed aside
(`.corrupt`), never overwritten by the next save, and the server starts from the scenario.

With several FILEs, PATH is a directory holding `NAME.state.json` per scenario name (also
when PATH is an existing directory with one FILE): each `run --workers` worker saves its own.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from . import __version__
from .reload import Segs, apply_diff, apply_values, diff_states, seed_change
from .scenario import ScenarioInvalid, parse_scenario

if TYPE_CHECKING:
    from .scenario import Scenario
    from .server import Service  # annotations only: the Service holds a StateFile
    from .world import World

FORMAT = "scenariod-state"
VERSION = 1  # bumped when the file's layout changes; a file of another version is set aside
SUFFIX = ".state.json"
CHANGED = "scenario changed since the state was saved; starting from the scenario (use --keep-state to merge)"


class StateFileError(Exception):
    """A --state-file that cannot be used as given (the command line's fault, not the file's)."""


def state_paths(target: str | Path, scenarios: list[Scenario]) -> list[Path]:
    """The file each scenario's state is kept in: PATH itself for one FILE, else (or when PATH
    is an existing directory) PATH/NAME.state.json, the directory created if need be."""
    target = Path(target)
    one = len(scenarios) == 1 and not target.is_dir()
    try:  # made now, not at the first save: a save must not fail for a missing directory
        (target.parent if one else target).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateFileError(f"--state-file {target}: cannot make its directory: {exc.strerror or exc}") from None
    if one:
        return [target]
    paths: dict[Path, str] = {}
    for scenario in scenarios:
        path = target / (re.sub(r"[^A-Za-z0-9._-]", "_", scenario.name) + SUFFIX)
        if path in paths:
            raise StateFileError(
                f"--state-file {target}: {paths[path]} and {scenario.file} both keep their state in {path.name}"
                " (one file per scenario name): give the scenarios distinct names"
            )
        paths[path] = str(scenario.file)
    return list(paths)


@dataclass(slots=True)
class Saved:
    """A state file as read back: what it was saved from, and the state."""

    sha256: str
    api: str
    api_override: str | None
    file: str
    text: str
    clock_offset: float
    secrets: dict[str, dict[str, str]]
    entries: dict[Segs, Any]


class StateFile:
    """One Service's state file: restored once at start, saved on demand and at stop."""

    def __init__(self, path: str | Path, keep_state: bool = False) -> None:
        self.path = Path(path)
        self.keep_state = keep_state
        self._lock = asyncio.Lock()  # saves in order: an older snapshot never lands after a newer one

    # -- saving ----------------------------------------------------------------------------------

    async def save(self, service: Service) -> dict[str, Any]:
        """Snapshot the default World on the event loop (one consistent instant), write it off
        the loop. Raises OSError when the file cannot be written (the old one stays)."""
        async with self._lock:
            started = time.perf_counter()
            data, count = encode(service.world, service.scenario)
            await asyncio.to_thread(write_atomically, self.path, data)
            took = (time.perf_counter() - started) * 1000
        return {"saved": str(self.path), "paths": count, "bytes": len(data), "took_ms": round(took, 1)}

    # -- restoring --------------------------------------------------------------------------------

    def restore(self, service: Service) -> list[str]:
        """Load the saved state into the Service's default World if it applies; the messages to
        print (why it was not loaded, what was set aside). Never raises for a bad file."""
        notes = [f"removed a torn temporary state file {p.name}" for p in remove_torn(self.path)]
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return notes
        except OSError as exc:
            return [*notes, self._set_aside(f"cannot read the saved state ({exc.strerror or exc})")]
        try:
            saved = decode(raw)
        except ValueError as exc:
            return [*notes, self._set_aside(f"not a usable state file ({exc})")]
        scenario = service.scenario
        same = saved.sha256 == text_sha256(scenario.text) and saved.api == scenario.api.version
        if same:
            restore_into(service.world, saved.entries, saved.secrets, saved.clock_offset)
            return [*notes, f"{self.path}: restored the saved state ({len(saved.entries)} paths)"]
        if not self.keep_state:
            if saved.sha256 == text_sha256(scenario.text):  # the same text, served as another release
                was, now = saved.api, scenario.api.version
                what = f"the API release served changed since the state was saved ({was} -> {now})"
                return [*notes, f"{self.path}: {what}; starting from the scenario (use --keep-state to merge)"]
            return [*notes, f"{self.path}: {CHANGED}"]
        try:
            merged = merge(service, saved)
        except ScenarioInvalid as exc:
            first = exc.diagnostics[0].message if exc.diagnostics else str(exc)
            return [*notes, self._set_aside(f"the scenario it was saved from no longer loads: {first}")]
        except Exception as exc:  # a bug of ours, or values no scenario could seed: say so, serve on
            return [*notes, self._set_aside(f"cannot merge it: {type(exc).__name__}: {exc}")]
        if merged is None:
            return [
                *notes,
                f"{self.path}: the state was saved from another product's scenario; starting from the scenario",
            ]
        restore_into(service.world, dict(merged.store.entries()), merged.secrets, merged.clock_offset)
        return [*notes, f"{self.path}: scenario changed since the state was saved; merged the saved state into it"]

    def _set_aside(self, why: str) -> str:
        """Rename an unusable file out of the way (the next save must not silently replace it)."""
        aside = self.path.with_name(self.path.name + ".corrupt")
        n = 0
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{self.path.name}.corrupt.{n}")
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            return f"{self.path}: {why}; starting from the scenario (could not set it aside: {exc.strerror or exc})"
        return f"{self.path}: {why}; starting from the scenario; the file was kept as {aside.name}"


# --- the file -------------------------------------------------------------------------------------


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def encode(world: World, scenario: Scenario) -> tuple[bytes, int]:
    """The state file's bytes and the number of paths in it. Paths are kept as segments: an
    item key may hold '/' (a joined path would not split back into the same keys)."""
    entries = [[list(segs), value] for segs, value in world.store.entries()]
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "scenariod": __version__,
        "saved": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "scenario": {
            "name": scenario.name,
            "file": str(scenario.file),
            "sha256": text_sha256(scenario.text),
            "api": scenario.api.version,
            "api_override": scenario.api_override,
            "text": scenario.text,  # what --keep-state diffs a changed scenario against
        },
        "clock_offset": world.clock_offset,
        "secrets": world.secrets,
        "paths": entries,
    }
    return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS), len(entries)


def decode(raw: bytes) -> Saved:
    """A state file read back; ValueError (saying what is wrong) for anything else."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError("not a scenariod state file")
    if doc.get("version") != VERSION:
        raise ValueError(f"format version {doc.get('version')!r}; this scenariod reads version {VERSION}")
    try:
        meta = doc["scenario"]
        paths = doc["paths"]
        secrets = doc["secrets"]
        offset = doc["clock_offset"]
        if not (isinstance(paths, list) and isinstance(secrets, dict) and isinstance(offset, (int, float))):
            raise TypeError
        if not all(isinstance(v, dict) and all(isinstance(s, str) for s in v.values()) for v in secrets.values()):
            raise TypeError
        entries: dict[Segs, Any] = {}
        for segs, value in paths:
            if not (isinstance(segs, list) and all(isinstance(s, str) for s in segs)):
                raise TypeError
            entries[tuple(segs)] = value
        fields = (meta["sha256"], meta["api"], meta["file"], meta["text"])
        if not all(isinstance(f, str) for f in fields) or not isinstance(meta.get("api_override"), (str, type(None))):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise ValueError("its contents are not laid out as a state file's") from None
    return Saved(
        meta["sha256"],
        meta["api"],
        meta.get("api_override"),
        meta["file"],
        meta["text"],
        float(offset),
        secrets,
        entries,
    )


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that no instant (a crash included) shows anything but the
    old file or the new one, whole: temporary file, fsync, rename, fsync of the directory."""
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)  # mode 0600: secrets
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def remove_torn(path: Path) -> list[Path]:
    """Remove temporary files a killed save left beside `path` (never read: they may be torn)."""
    removed = []
    for tmp in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


# --- restoring ------------------------------------------------------------------------------------


def restore_into(world: World, entries: dict[Segs, Any], secrets: dict[str, dict[str, str]], offset: float) -> None:
    """Make a World's state exactly `entries` (and its secrets and clock), in place: the tree's
    shared subtrees (PBS/PDM `/nodes/localhost`) stay shared, which a rebuilt store would lose."""
    current = dict(world.store.entries())
    apply_values(world, diff_states(current, entries, world.secrets, secrets))
    world.clock_offset = offset
    world.cache.clear()
    world.answers.clear()


def merge(service: Service, saved: Saved) -> World | None:
    """`--keep-state` with a changed scenario: the saved state where a hot reload from the saved
    scenario to the served one would have left it; None when they serve different products.
    Raises ScenarioInvalid when the saved text no longer loads."""
    old = service.adopt(parse_scenario(saved.text, saved.file, saved.api_override))
    new = service.scenario
    if old.service != new.service:  # another product: nothing carries over (as on reload)
        return None
    world = service.new_world(scenario=old)
    restore_into(world, saved.entries, saved.secrets, saved.clock_offset)
    apply_diff(world, seed_change(old, new, lambda s: service.new_world(scenario=s)), new)
    return world
