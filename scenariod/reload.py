"""Hot reload: watch scenario files, and serve a saved edit without losing live state.

A save is loaded and compiled off the event loop. If it is valid, the Service swaps in a
new `Runtime` in one synchronous step (a request in flight keeps the Runtime it started
with), and every World's live state follows *the change between the old and the new seed*:

- a value the seed changed is changed live; for mappings only the keys the seed changed,
  so fields clients changed and the seed did not are kept (a VM renamed in the seed is
  renamed live and keeps the status a client gave it);
- a path the new seed no longer has is removed live (only paths of the old seed: what
  clients created is kept);
- a path the new seed adds is added live.

Both seeds are built fresh (`Service.new_world`: seed plus the derived defaults), so what is
compared is exactly what a fresh start would serve; an edit that leaves everything a seed is
built from alone (routes, faults, tasks, expect) skips building them. `--reset-on-reload` starts fresh
instead. An invalid save keeps the last good Runtime serving and sets `Service.last_error`
(the diagnostics, `FILE:LINE:COLUMN: message`) until a good save clears it.

This module prepares a reload and keeps the seed diff; the Service swaps it in (`Service.swap`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import filelimits
from . import scenario as scenarios  # its loader is imported on first use (start-up speed)
from .runtime import Runtime
from .scenario import ScenarioInvalid
from .state import MISSING, StateStore, copy_plain

if TYPE_CHECKING:
    from .scenario.model import Scenario
    from .server import Service  # annotations only: the Service calls into this module
    from .world import World

log = logging.getLogger("scenariod.reload")

# awatch tuning: yield a batch once no new event came for STEP ms (at most DEBOUNCE ms after
# the first). An editor's save (write, or write-temp-and-rename) is one batch, and a saved
# edit is served well within 300 ms (see tests/test_reload.py for the measurement).
DEBOUNCE_MS = 50
STEP_MS = 10

Segs = tuple[str, ...]


# --- the seed diff ------------------------------------------------------------------------------


@dataclass(slots=True)
class SeedDiff:
    """What changed between two seeded stores, path by path, in store order (parents first)."""

    old_seed: dict[Segs, Any] = field(default_factory=dict)
    new_seed: dict[Segs, Any] = field(default_factory=dict)
    sets: list[tuple[Segs, Any, Any]] = field(default_factory=list)  # (path, old or MISSING, new)
    removals: list[Segs] = field(default_factory=list)
    inner: frozenset[Segs] = frozenset()  # paths with something of the new seed below them
    secrets: dict[str, tuple[dict[str, str], dict[str, str]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.sets or self.removals or any(o != n for o, n in self.secrets.values()))


# Scenario fields a fresh World's seed does not depend on: an edit of only these leaves it alone.
_NOT_SEEDED = frozenset({"file", "text", "listen", "limits", "routes", "faults", "tasks", "expect"})


def seed_change(old: Scenario, new: Scenario, build: Callable[[Scenario], World]) -> SeedDiff:
    """The change between the seeds of two versions of a scenario, each built by `build` (a
    fresh World). Seeds are only built and compared when a field they depend on changed: most
    edits are of routes and faults, and building two seeds of 100,000 guests takes seconds."""
    if all(getattr(old, f.name) == getattr(new, f.name) for f in fields(old) if f.name not in _NOT_SEEDED):
        return SeedDiff()
    return diff_seeds(build(old), build(new))


def diff_seeds(old: World, new: World) -> SeedDiff:
    """The change from `old`'s seeded state to `new`'s (both fresh Worlds)."""
    return diff_states(dict(old.store.entries()), dict(new.store.entries()), old.secrets, new.secrets)


def diff_states(
    before: dict[Segs, Any],
    after: dict[Segs, Any],
    old_secrets: dict[str, dict[str, str]],
    new_secrets: dict[str, dict[str, str]],
) -> SeedDiff:
    """The change from one state (path -> value, and secrets) to another: two seeds on reload;
    a fresh World and a saved state when statefile.py restores one."""
    diff = SeedDiff(old_seed=before, new_seed=after, inner=frozenset(p[:i] for p in after for i in range(len(p))))
    for path, value in after.items():
        prev = before.get(path, MISSING)
        if prev is MISSING or prev != value:
            diff.sets.append((path, prev, value))
    diff.removals = [p for p in before if p not in after]  # paths the new state no longer has
    for kind in ("passwords", "tokens"):
        diff.secrets[kind] = (dict(old_secrets.get(kind, {})), dict(new_secrets.get(kind, {})))
    return diff


def _merge(live: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`live` with the key-level change from `old` to `new` (nested mappings likewise)."""
    out = dict(live)
    for key, value in new.items():
        prev = old.get(key, MISSING)
        if prev is not MISSING and prev == value:
            continue  # the seed did not change it: whatever clients made of it stays
        cur = out.get(key, MISSING)
        if isinstance(value, dict) and isinstance(prev, dict) and isinstance(cur, dict):
            out[key] = _merge(cur, prev, value)
        else:
            out[key] = copy_plain(value)
    for key in old:
        if key not in new:
            out.pop(key, None)
    return out


def apply_diff(world: World, diff: SeedDiff, scenario: Scenario) -> None:
    """Bring a live World along with a seed change (see the module docstring)."""
    if not diff:  # the edit left the seed alone (routes, faults, tasks...): nothing to do
        world.retarget(scenario)
        return
    apply_values(world, diff)

    # Derived fields follow (a guest's list item takes its name from its config, ...): the
    # World's seeders run again. They also re-declare what the seed declares, which must
    # not undo what clients changed and the seed did not: that is put back after.
    values = {path: (dict(v) if isinstance(v, dict) else v) for path, v in world.store.entries()}
    secrets = {kind: dict(v) for kind, v in world.secrets.items()}
    world.retarget(scenario)
    world.prepare()
    _keep_client_changes(world, diff, values, secrets)


def apply_values(world: World, diff: SeedDiff) -> None:
    """The values and secrets of `diff` applied to a World's live state, as `apply_diff` says;
    applied to a World whose state is the diff's old side, it leaves exactly the new side."""
    store = world.store
    for path in diff.removals:
        if path in diff.inner:
            store.clear(path)  # the value went, its subtree did not
        else:
            store.delete(path)
    for path, old, new in diff.sets:
        live = store.get(path)
        if old is MISSING:  # a path the new seed adds
            if _client_deleted_an_ancestor(store, diff, path):
                continue
            if isinstance(live, dict) and isinstance(new, dict):
                store.set(path, {**live, **copy_plain(new)})
            else:
                store.set(path, copy_plain(new))
        elif live is MISSING:
            continue  # a client deleted what the seed changes: the deletion stands
        elif isinstance(live, dict) and isinstance(old, dict) and isinstance(new, dict):
            merged = _merge(live, old, new)
            if merged != live:
                store.set(path, merged)
        else:
            store.set(path, copy_plain(new))
    for kind, (old_s, new_s) in diff.secrets.items():
        live_s = world.secrets.setdefault(kind, {})
        for key, value in new_s.items():
            if old_s.get(key) != value:
                live_s[key] = value
        for key in old_s:
            if key not in new_s:
                live_s.pop(key, None)


def _client_deleted_an_ancestor(store: StateStore, diff: SeedDiff, path: Segs) -> bool:
    """True when the new seed adds `path` below an item both seeds have and a client deleted."""
    for i in range(len(path) - 1, 0, -1):
        parent = path[:i]
        if parent in diff.new_seed:
            return parent in diff.old_seed and not store.has(parent)
    return False


def _keep_client_changes(
    world: World, diff: SeedDiff, before: dict[Segs, Any], secrets: dict[str, dict[str, str]]
) -> None:
    """Undo what the preparers re-declared over a client's change the seed did not make.

    A key is put back when the preparers set it to the seed's value, the seed did not
    change it (old seed == new seed there) and the live value before differed from it:
    only a client can have made that difference. Derived fields differ from the seed's
    value whenever live inputs differ, so they are not touched.
    """
    store = world.store
    changed = {path: old for path, old, _ in diff.sets}
    for path, value in store.entries():
        live = before.get(path, MISSING)
        if live is MISSING or live == value or not (isinstance(live, dict) and isinstance(value, dict)):
            continue
        new = diff.new_seed.get(path)
        old = changed.get(path, new)
        if not (isinstance(new, dict) and isinstance(old, dict)):
            continue
        restored = dict(value)
        for key, now in value.items():
            if (
                key in live
                and live[key] != now
                and key in new
                and now == new[key]
                and old.get(key, MISSING) == new[key]
            ):
                restored[key] = live[key]
        if restored != value:
            store.set(path, restored)
    for kind, (old_s, new_s) in diff.secrets.items():
        live_s, was = world.secrets.get(kind, {}), secrets.get(kind, {})
        for key, now in list(live_s.items()):
            if key in was and was[key] != now and new_s.get(key) == now and old_s.get(key) == now:
                live_s[key] = was[key]


# --- a reload ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Prepared:
    """A reload computed off the event loop, ready for `Service.swap`."""

    scenario: Scenario
    runtime: Runtime
    reset: bool  # fresh Worlds instead of live state following `diff`
    diff: SeedDiff
    started: float


def prepare(service: Service, source: Scenario | str | Path | None, reset: bool) -> Prepared:
    """Load (raises ScenarioInvalid), compile, and diff the seeds. Safe to run in a thread."""
    started = time.perf_counter()
    old = service.scenario
    if source is None or isinstance(source, (str, Path)):
        scenario = scenarios.load_scenario(source if source is not None else old.file, old.api_override)
    else:
        scenario = source
    scenario = service.adopt(scenario)
    runtime = Runtime(scenario)
    reset = reset or scenario.service != old.service  # another product: nothing carries over
    diff = SeedDiff() if reset else seed_change(old, scenario, lambda s: service.new_world(scenario=s))
    return Prepared(scenario, runtime, reset, diff, started)


async def reload_service(service: Service, source: Scenario | str | Path | None = None, *, reset: bool = False) -> bool:
    """Reload one Service; True when the new version is served, False when it was refused.

    One at a time per Service: a slow older load must not land after a newer one, and a
    prepared reload is swapped in against the very scenario it was diffed from."""
    lock = _locks.get(service)
    if lock is None:
        lock = _locks[service] = asyncio.Lock()
    async with lock:
        return await _reload(service, source, reset)


_locks: weakref.WeakKeyDictionary[Service, asyncio.Lock] = weakref.WeakKeyDictionary()


async def _reload(service: Service, source: Scenario | str | Path | None, reset: bool) -> bool:
    name = str(source) if isinstance(source, (str, Path)) else str(service.scenario.file)
    try:
        prepared = await asyncio.to_thread(prepare, service, source, reset)
    except ScenarioInvalid as exc:
        service.last_error = str(exc)
        count = len(exc.diagnostics)
        announce(
            service,
            f"reload refused, {count} problem(s); still serving the last good version:\n{service.last_error}",
            error=True,
        )
        return False
    except Exception as exc:  # a bug of ours must not stop the server serving the last good version
        log.exception("reloading %s failed", name)
        service.last_error = f"{name}: reload failed: {type(exc).__name__}: {exc}"
        announce(service, service.last_error, error=True)
        return False
    old = service.scenario
    try:
        service.swap(prepared)
    except Exception as exc:  # a bug of ours: say so, and keep watching
        log.exception("applying the reload of %s failed", name)
        service.last_error = f"{name}: reload failed: {type(exc).__name__}: {exc}"
        announce(service, service.last_error, error=True)
        return False
    took = (time.perf_counter() - prepared.started) * 1000
    how = "reset to the seed" if prepared.reset else "live state kept"
    note = ""
    if old.listen != prepared.scenario.listen:
        note = "; listen changes take effect on restart"
    announce(service, f"reloaded {name} (#{service.reloads}, {how}, {took:.0f}ms){note}")
    return True


def announce(service: Service, text: str, *, error: bool = False) -> None:
    """Tell the request logs (LineLog, LiveLog) about a reload or a refused one."""
    for listener in service.listeners:
        event = getattr(listener, "event", None)  # request logs have one; plain callables do not
        if event is not None:
            event(service, text, error=error)


# --- watching the files ---------------------------------------------------------------------------


def _targets(services: Iterable[Service]) -> tuple[dict[str, Service], dict[str, Service]]:
    """Exact file paths to watch, and directories where any change counts (symlinked files)."""
    files: dict[str, Service] = {}
    dirs: dict[str, Service] = {}
    for service in services:
        path = Path(service.scenario.file)
        files[os.path.abspath(path)] = service
        real = os.path.realpath(path)
        files[real] = service
        if os.path.islink(path):
            # A symlinked file (e.g. a Kubernetes ConfigMap) changes by swapping a link in
            # its directory: any change there is checked against the served text.
            dirs[os.path.dirname(os.path.abspath(path))] = service
    return files, dirs


async def watch(
    services: list[Service],
    *,
    reset: bool = False,
    stop_event: asyncio.Event | None = None,
    debounce: int = DEBOUNCE_MS,
    step: int = STEP_MS,
) -> None:
    """Reload each service when its file is saved, until `stop_event` is set.

    The parent directories are watched (editors save by writing a temporary file and
    renaming it over the original, which a watch on the file itself would lose).
    """
    from watchfiles import awatch  # lazy for start-up speed: only a watching `run` needs it

    files, link_dirs = _targets(services)
    roots = sorted({os.path.dirname(p) for p in files} | set(link_dirs))

    def wanted(_change: Any, path: str) -> bool:
        path = os.path.abspath(path)
        return path in files or os.path.dirname(path) in link_dirs

    try:
        async for changes in awatch(
            *roots, watch_filter=wanted, debounce=debounce, step=step, stop_event=stop_event, recursive=False
        ):
            await _handle(changes, files, link_dirs, reset)
    except Exception as exc:  # serving goes on without reloads; say why
        log.exception("watching %s failed", ", ".join(roots))
        for service in services:
            announce(service, f"watching for saves stopped: {type(exc).__name__}: {exc}", error=True)


async def _handle(
    changes: set[tuple[Any, str]], files: dict[str, Service], link_dirs: dict[str, Service], reset: bool
) -> None:
    touched: list[Service] = []
    for _change, raw in changes:
        path = os.path.abspath(raw)
        service = files.get(path)
        if service is None:
            service = link_dirs.get(os.path.dirname(path))
            if service is None or not _text_changed(service):
                continue
        if service not in touched:
            touched.append(service)
    for service in touched:
        await _reload_file(service, reset)


async def reload_changed(services: Iterable[Service], reset: bool = False) -> None:
    """Reload those services whose file changed (a worker's SIGHUP from `run --workers`)."""
    for service in services:
        if _text_changed(service):
            await _reload_file(service, reset)


def _text_changed(service: Service) -> bool:
    try:
        text = filelimits.read_bytes(service.scenario.file).decode("utf-8-sig", "replace")  # never a FIFO
    except OSError:
        return False
    return text != service.scenario.text or service.last_error is not None


async def _reload_file(service: Service, reset: bool) -> None:
    path = Path(service.scenario.file)
    if not path.exists():
        # Mid-rename (the event of the new file follows), or removed for good: say so if it
        # stays away, and keep serving the last version either way.
        asyncio.get_running_loop().call_later(0.5, _gone, service, path)
        return
    await service.reload(reset=reset)


def _gone(service: Service, path: Path) -> None:
    if not path.exists():
        announce(service, f"{path} was removed; still serving the last version")
