"""`scenariod snapshot`: copy a live PVE, PBS or PDM (or another scenariod) into a scenario.

The walk follows the bundled API description: every GET whose path parameters bind from
what was already read (a collection's items name its `{param}` child) is read once, with
GETs only (and a login POST when a password is given), at most `concurrency` requests in
flight and at most `rate` per second. What is read is appended to a progress file next to
the output, so that an interrupted run, or one stopped by `--max-requests`, continues where
it stopped. The scenario holds every answer as seed state, secrets redacted.

Not copied (DEFAULT_EXCLUDE, listed in `scenariod snapshot --help`): task lists and logs (the
copy has its own task model), RRD history, logs, guest agent calls (they reach into guests
and fail when the agent is off), reports, and the views scenariod derives from the rest of
the state (cluster resources and status, node and guest status, pending changes, next id):
copied, they would be frozen and no longer follow writes made to the copy.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import ipaddress
import os
import re
import ssl
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from yarl import URL

from . import __version__, wire
from .apidesc import ApiDescription, ApiNode
from .params.values import truthy_flag

DEFAULT_EXCLUDE: tuple[str, ...] = (
    # task lists and logs: UPIDs of the source's past work
    "/cluster/tasks",
    "**/tasks",
    "**/tasks/**",
    "/remotes/tasks/**",
    # history and logs
    "**/rrd",
    "**/rrddata",
    "/nodes/*/syslog",
    "/nodes/*/journal",
    "/cluster/log",
    "**/firewall/log",
    "/nodes/*/report",
    "/nodes/*/ceph/log",
    "/nodes/*/netstat",  # live network counters
    "/nodes/*/lxc/*/interfaces",  # a running container's live interfaces
    # guest agent calls reach into the guest
    "/nodes/*/qemu/*/agent/**",
    # views derived from the rest of the state (frozen if copied)
    "/cluster/resources",
    "/cluster/status",
    "/cluster/nextid",
    "/nodes/*/status",
    "/nodes/*/qemu/*/status/current",
    "/nodes/*/lxc/*/status/current",
    "/nodes/*/qemu/*/pending",
    "/nodes/*/lxc/*/pending",
    "/nodes/*/qemu/*/cloudinit",  # pending cloud-init changes, from the config
    "/nodes/*/*/*/migrate",  # a migration precondition check, computed on each call
    "**/firewall/refs",  # the aliases and IP sets a rule may name, from the firewall config
    "/resources/**",
    "/status/datastore-usage",
    "/remotes/metric-collection/status",
    "/access/ticket",
    "/nodes/*/time",  # the node's clock
    "/access/roles/*",  # a role's privileges as a map: the list's `privs`, read another way
)

# GETs not read because the copy answers them from what is read, exactly as the source does
# (the round trip compares them): a volume's attributes are its content entry and the path its
# storage's configuration gives it. A 10,000-guest cluster holds 10,000 volumes or more, each
# listed on every node of a shared storage: reading them one by one would be most of the walk.
DERIVED_READS: tuple[str, ...] = (
    "/nodes/*/storage/*/content/*",
    "/cluster/backup-info/not-backed-up",  # every guest no backup job takes: from the jobs and guests
)
# A shared storage's content is one list that every node answers: read on one node only.
SHARED_CONTENT = "/nodes/{node}/storage/{storage}/content"

# List entries a server makes up on every read rather than keeps: copied, they would be doubled.
DERIVED_ENTRIES: dict[str, tuple[str, str]] = {
    "/nodes/{node}/qemu/{vmid}/snapshot": ("name", "current"),  # "You are here!"
    "/nodes/{node}/lxc/{vmid}/snapshot": ("name", "current"),
}
# Fields the copy computes from its own content (an edit's `digest`): never copied.
COMPUTED_FIELDS = frozenset({"digest"})
# Fields a read adds from elsewhere (a user's realm type, from its realm; its tokens, from
# its token collection; a backup job's next run, from its schedule and the clock).
LISTED_FIELDS: dict[str, frozenset[str]] = {
    "/access/users": frozenset({"realm-type"}),
    "/access/users/{userid}": frozenset({"tokens"}),
    "/cluster/backup": frozenset({"next-run"}),
}

# Field names whose values are secrets: never written. Key fields of collection items are kept.
_SECRET = re.compile(
    r"^(password|passwd|.*[-_]password|secret|.*[-_]secret|token|.*[-_]token|ticket|"
    r".*[-_]key|privkey|keyring|csrfpreventiontoken)$",
    re.IGNORECASE,
)
_FINGERPRINT = re.compile(r"(fingerprint|^fp$|[-_]fp$)", re.IGNORECASE)
# The secret written for each API token kept: the copy accepts any secret (auth mode any).
REDACTED_SECRET = "redacted"
PROGRESS_SUFFIX = ".partial"
# A token's fields that the scenario's `auth.tokens` entry carries (it replaces the state's entry).
TOKEN_FIELDS: dict[str, Any] = {"privsep": bool, "expire": int, "comment": str}


@dataclass
class Options:
    url: str
    service: str | None = None
    output: Path | None = None
    fmt: str = "yaml"
    token: str | None = None
    user: str | None = None
    password: str | None = None
    ca: str | None = None
    insecure: bool = False
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    defaults: bool = True  # apply DEFAULT_EXCLUDE
    max_requests: int = 0
    concurrency: int | None = None  # None: the default for the source (`pace_defaults`)
    rate: float | None = None
    keep_fingerprints: bool = False
    progress: bool | None = None  # None: a bar on a terminal


# Requests in flight and per second when not given. A real cluster gets 4 and 1,000/s: its API
# serves its own users at the same time. A source on this machine (loopback) is a scenariod or a
# lab: nothing else waits on it, and the caps themselves would be the limit. A 10,000-guest copy
# reads ~64,000 paths; 1,000/s alone takes 64 s, and with 4 in flight each request waits for
# two processes to be scheduled in turn (72 s measured against 48 s with 16; benchmarks/README.md).
POLITE = (4, 1000.0)
LOOPBACK = (16, 0.0)


def pace_defaults(url: str) -> tuple[int, float]:
    """(concurrency, rate) for a source that was given none."""
    host = urlsplit(url).hostname or ""
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    return LOOPBACK if local else POLITE


def pace(opts: Options) -> tuple[int, float]:
    """(concurrency, rate) of this run: as given, else from `pace_defaults`."""
    concurrency, rate = pace_defaults(opts.url)
    return (
        max(1, concurrency if opts.concurrency is None else opts.concurrency),
        rate if opts.rate is None else opts.rate,
    )


class SnapshotError(Exception):
    """A snapshot that cannot go on (bad URL, credentials, unreachable source)."""


# --- path globs --------------------------------------------------------------------------------


def glob_matches(glob: str, path: str) -> bool:
    """`*` matches within one segment, `**` any number of segments (as `when` patterns do)."""
    return any_glob((glob,), path)


def any_glob(globs: tuple[str, ...], path: str) -> bool:
    """Does any of `globs` match `path`? One regular expression for all: a walk asks it per path."""
    return bool(globs) and compile_globs(globs).match(path.rstrip("/") or "/") is not None


@functools.cache
def compile_globs(globs: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("(?:" + "|".join(map(_glob_source, globs)) + r")\Z")


def _glob_source(glob: str) -> str:
    parts = []
    for seg in glob.strip("/").split("/"):
        if seg == "**":
            parts.append("(?:/[^/]*)*")
        else:
            parts.append("/" + fnmatch.translate(seg).removeprefix("(?s:").removesuffix(")\\Z").replace(".*", "[^/]*"))
    return "".join(parts)


# --- the client ----------------------------------------------------------------------------------


class Client:
    """GETs under /api2/json with a token, or a ticket renewed before it expires."""

    def __init__(self, opts: Options, service: str) -> None:
        self.opts = opts
        self.service = service
        self.base = opts.url.rstrip("/") + "/api2/json"
        self.headers: dict[str, str] = {}
        self.ticket_at = 0.0
        self.session: aiohttp.ClientSession | None = None
        self._login_lock = asyncio.Lock()
        if opts.token:
            scheme, sep = wire.TOKEN_SCHEMES[service]
            tokenid, _, secret = opts.token.partition("=")
            if not secret or "!" not in tokenid:
                raise SnapshotError("--token takes USER@REALM!ID=SECRET")
            self.headers["Authorization"] = f"{scheme}={tokenid}{sep}{secret}"

    async def __aenter__(self) -> Client:
        ctx: ssl.SSLContext | bool
        if self.opts.insecure:
            ctx = False
        else:
            ctx = ssl.create_default_context(cafile=self.opts.ca) if self.opts.ca else ssl.create_default_context()
        # Kept connections, one per request in flight; the ticket goes in a header of its own,
        # so no cookie jar is consulted per request.
        connector = aiohttp.TCPConnector(limit=pace(self.opts)[0], ssl=ctx)
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=60), cookie_jar=aiohttp.DummyCookieJar()
        )
        if self.opts.user:
            await self.login()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def login(self) -> None:
        """POST /access/ticket: the only write a snapshot makes, and only with --user."""
        assert self.session is not None
        form = {"username": self.opts.user or "", "password": self.opts.password or ""}
        try:
            async with self.session.post(self.base + "/access/ticket", data=form) as r:
                body = await r.read()
                if r.status != 200:
                    raise SnapshotError(f"login as {self.opts.user} failed: {r.status} {r.reason}")
        except aiohttp.ClientError as exc:
            raise SnapshotError(f"cannot reach {self.opts.url}: {exc}") from exc
        data = orjson.loads(body)["data"]
        self.headers["Cookie"] = f"{wire.COOKIE_NAMES[self.service]}={data['ticket']}"
        self.ticket_at = time.monotonic()

    async def renew_if_old(self) -> None:
        # A ticket lasts wire.TICKET_LIFETIME (2 h): log in again once half of it has passed.
        if self.opts.user and time.monotonic() - self.ticket_at > wire.TICKET_LIFETIME / 2:
            async with self._login_lock:
                if time.monotonic() - self.ticket_at > wire.TICKET_LIFETIME / 2:
                    await self.login()

    async def get(self, path: str) -> tuple[int, Any, str]:
        """(status, data, reason) of GET `path`; connection errors are retried three times."""
        assert self.session is not None
        await self.renew_if_old()
        for attempt in range(4):
            try:
                # `path` is quoted already: the URL is taken as it is, not parsed and quoted again.
                async with self.session.get(URL(self.base + path, encoded=True), headers=self.headers) as r:
                    body = await r.read()
                    if r.status == 401 and self.opts.user and attempt == 0:
                        async with self._login_lock:
                            await self.login()
                        continue
                    if r.status != 200:
                        return r.status, None, r.reason or ""
                    return 200, orjson.loads(body).get("data"), ""
            except (TimeoutError, aiohttp.ClientError) as exc:
                if attempt == 3:
                    raise SnapshotError(f"GET {path}: {exc}") from exc
                await asyncio.sleep(0.2 * (attempt + 1))
        return 401, None, "authentication failure"


# --- the progress file ---------------------------------------------------------------------------


class ProgressFile:
    """What was read so far, one JSON line per path, next to the output: a re-run continues."""

    def __init__(self, path: Path, url: str, service: str) -> None:
        self.path = path
        self.done: dict[str, tuple[int, Any]] = {}
        header = {"source": url, "service": service}
        lines = path.read_bytes().splitlines() if path.exists() else []
        if lines:
            first = orjson.loads(lines[0])
            if first != header:
                raise SnapshotError(f"{path} holds a snapshot of another source; remove it to start over")
            for line in lines[1:]:
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    break  # the line being written when the last run stopped
                self.done[entry["p"]] = (entry["s"], entry.get("d"))
            self.stream = path.open("ab")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.stream = path.open("wb")
            self.stream.write(orjson.dumps(header) + b"\n")
            self.stream.flush()

    def record(self, path: str, status: int, data: Any) -> None:
        self.stream.write(orjson.dumps({"p": path, "s": status, "d": data}) + b"\n")

    def close(self) -> None:
        self.stream.close()


# --- the walk --------------------------------------------------------------------------------------


@dataclass
class Read:
    """One path read: its API node, its segments (unquoted) and its answer's data."""

    node: ApiNode
    segments: tuple[str, ...]
    data: Any


# A path to visit: its API node, its segments (unquoted) and the path as sent (quoted).
Visit = tuple[ApiNode, tuple[str, ...], str]

# Fields that name a list's items when they do not carry the `{param}`'s own name (PBS and PDM
# list datastores by `name` under `{store}`/`{datastore}`).
FALLBACK_KEYS = ("name", "id")


def item_key(item: Any, key: str) -> Any:
    """The value of a list item that binds its collection's `{param}`, or None."""
    if not isinstance(item, dict):
        return None
    if item.get(key) is not None:
        return item[key]
    return next((item[k] for k in FALLBACK_KEYS if item.get(k) is not None), None)


class Walker:
    def __init__(self, opts: Options, api: ApiDescription, client: Client, progress: ProgressFile) -> None:
        self.opts, self.api, self.client, self.progress = opts, api, client, progress
        self.excludes = (*opts.exclude, *((*DEFAULT_EXCLUDE, *DERIVED_READS) if opts.defaults else ()))
        self.includes = tuple(opts.include)
        self.concurrency, self.rate = pace(opts)
        self.read: dict[str, Read] = {}
        self.shared_content: dict[str, str] = {}  # a shared storage -> the path its content is read at
        self.requests = 0
        self.capped = False
        self.queued = 0
        self.failures: dict[tuple[int, str], int] = {}  # (status, API path) -> paths that answered it
        self._next_slot = 0.0
        self.on_progress: Any = None

    def wanted(self, node: ApiNode, path: str) -> bool:
        """Read this GET? Not when excluded, nor when it needs a query parameter we cannot know."""
        return self._template_wanted(node) and not any_glob(self.excludes, path)

    @functools.cache  # noqa: B019 (one walker per run; its API nodes live as long)
    def _template_wanted(self, node: ApiNode) -> bool:
        if "GET" not in node.ops or any_glob(self.excludes, node.path):
            return False
        params = node.ops["GET"].parameters.get("properties") or {}
        return all(spec.get("optional") or "{" + name + "}" in node.segments for name, spec in params.items())

    @functools.cache  # noqa: B019
    def _subtree_wanted(self, node: ApiNode) -> bool:
        """Is anything at or under this API node read? A collection's items are visited only then."""
        children = [*node.literal_children.values(), *([node.param_child] if node.param_child else [])]
        return self._template_wanted(node) or any(self._subtree_wanted(child) for child in children)

    def included(self, node: ApiNode, path: str) -> bool:
        return not self.includes or any_glob(self.includes, path) or any_glob(self.includes, node.path)

    async def run(self) -> None:
        queue: asyncio.Queue[Visit] = asyncio.Queue()
        self._enqueue(queue, (self.api.root, (), ""))
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(self.concurrency)]
        finished = asyncio.create_task(queue.join())
        try:
            # A worker only ends by failing: then the walk stops with its error.
            await asyncio.wait([finished, *workers], return_when=asyncio.FIRST_COMPLETED)
            for w in workers:
                if w.done():
                    w.result()
        finally:
            for task in (finished, *workers):
                task.cancel()
            await asyncio.gather(finished, *workers, return_exceptions=True)

    def _enqueue(self, queue: asyncio.Queue, visit: Visit) -> None:
        self.queued += 1
        queue.put_nowait(visit)

    async def _worker(self, queue: asyncio.Queue) -> None:
        while True:
            visit = await queue.get()
            try:
                for child in await self._visit(*visit):
                    self._enqueue(queue, child)
            finally:
                queue.task_done()

    async def _visit(self, node: ApiNode, segs: tuple[str, ...], quoted: str) -> list[Visit]:
        path = quoted or "/"
        children = [
            (c, (*segs, name), f"{quoted}/{name}")  # literal names need no quoting
            for name, c in node.literal_children.items()
            if self._subtree_wanted(c)
        ]
        if "GET" not in node.ops or node.kind == "index":
            return children  # a directory index answers from the API description itself
        if not self.wanted(node, path):
            return []
        if not self.included(node, path) and node.kind != "collection":
            return children
        storage = self._shared_storage(node, segs, path)
        if storage is not None:
            if self.shared_content.setdefault(storage, path) != path:
                return children  # read on another node: the same list
        status, data = await self._read(path)
        if status != 200:
            if status:  # 0: not read, --max-requests reached
                self.failures[(status, node.path)] = self.failures.get((status, node.path), 0) + 1
            if storage is not None:
                del self.shared_content[storage]  # the next node reads it
            return []
        self.read[path] = Read(node, segs, data)
        child = node.param_child
        if node.kind == "collection" and child is not None and isinstance(data, list) and self._subtree_wanted(child):
            key = node.key_field or node.key or ""
            for item in _without_derived(node, data):
                value = item_key(item, key)
                if value is not None:
                    children.append((child, (*segs, str(value)), f"{quoted}/{quote(str(value), safe='')}"))
        return children

    def _shared_storage(self, node: ApiNode, segs: tuple[str, ...], path: str) -> str | None:
        """The storage whose content this is, when the node's storage list says it is shared."""
        if node.path != SHARED_CONTENT:
            return None
        listed = self.read.get(path.rsplit("/", 2)[0])
        storage = segs[-2]
        for item in listed.data if listed is not None and isinstance(listed.data, list) else ():
            if isinstance(item, dict) and str(item.get("storage")) == storage:
                return storage if truthy_flag(item.get("shared")) else None
        return None

    async def _read(self, path: str) -> tuple[int, Any]:
        if path in self.progress.done:
            status, data = self.progress.done[path]
        else:
            if self.opts.max_requests and self.requests >= self.opts.max_requests:
                self.capped = True
                return 0, None
            self.requests += 1
            await self._pace()
            status, data, _ = await self.client.get(path)
            if status == 401:
                raise SnapshotError(f"GET {path}: 401 authentication failure (check the credentials)")
            self.progress.record(path, status, data)
        if self.on_progress is not None:
            self.on_progress()
        return status, data

    async def _pace(self) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / self.rate
        if slot > now:
            await asyncio.sleep(slot - now)


# --- from answers to a scenario --------------------------------------------------------------------


class Redactor:
    """Drops secret fields (and fingerprints unless kept) and remembers which it dropped."""

    def __init__(self, keep_fingerprints: bool) -> None:
        self.keep_fingerprints = keep_fingerprints
        self.dropped: dict[str, int] = {}

    def secret(self, name: str) -> bool:
        return bool(_SECRET.match(name)) or (not self.keep_fingerprints and bool(_FINGERPRINT.search(name)))

    def clean(self, value: Any, keep: str | None = None) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if k != keep and self.secret(k):
                    self.dropped[k] = self.dropped.get(k, 0) + 1
                    continue
                out[k] = self.clean(v)
            return out
        if isinstance(value, list):
            return [self.clean(v, keep) for v in value]
        if isinstance(value, str) and "=" in value:
            return self._clean_property_string(value)
        return value

    def _clean_property_string(self, text: str) -> str:
        """`hostname=a,fingerprint=XX`: a property string's secret parts go as fields do."""
        parts = text.split(",")
        kept = [p for p in parts if not ("=" in p and self.secret(p.split("=", 1)[0].strip()))]
        for p in parts:
            if p not in kept:
                name = p.split("=", 1)[0].strip()
                self.dropped[name] = self.dropped.get(name, 0) + 1
        return text if len(kept) == len(parts) else ",".join(kept)


def build_state(walker: Walker, redactor: Redactor) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `state` section: each answer at its path, an item's answer merged over its list entry;
    and `routes` for the answers state cannot hold (a collection answering an object, a key
    segment holding '/')."""
    state: dict[str, Any] = {}
    routes: list[dict[str, Any]] = []
    for path in sorted(walker.read, key=_path_order):
        read = walker.read[path]
        node = read.node
        if not walker.included(node, path):
            continue
        keep = (node.key_field or node.key) if node.kind == "collection" else None
        parent = node.parent
        if node.param is not None and parent is not None and parent.kind == "collection":
            keep = parent.key_field or parent.key
        data = redactor.clean(_without_derived(node, read.data), keep)
        key = "/" + "/".join(read.segments)
        storable = not any("/" in s for s in read.segments)
        if node.kind == "collection" and isinstance(data, list):
            data = [_keyed(item, keep or "") for item in data]
            storable = storable and all(isinstance(item, dict) and item.get(keep) is not None for item in data)
        elif node.kind == "collection":
            storable = False
        if not storable:
            routes.append({"when": {"method": "GET", "path": path}, "respond": {"data": data}})
            continue
        if node.kind == "collection" and data == [] and "{" in node.path:
            # An empty collection under an item lists nothing in the copy either: a smaller file
            # starts faster. Top-level ones are kept: an empty /storage is not the default one.
            continue
        if node.param is not None and isinstance(data, dict):
            listed = _listed_item(state, key, keep)
            if listed is not None:
                data = {**listed, **data}
        state[key] = data
    return state, routes


def _without_derived(node: ApiNode, data: Any) -> Any:
    derived = DERIVED_ENTRIES.get(node.path)
    if isinstance(data, list) and derived is not None:
        field_name, value = derived
        data = [item for item in data if not (isinstance(item, dict) and item.get(field_name) == value)]
    dropped = COMPUTED_FIELDS | LISTED_FIELDS.get(node.path, frozenset())
    if isinstance(data, dict):
        data = _without(data, dropped)
    elif isinstance(data, list):
        data = [_without(item, dropped) for item in data]
    return data


def _without(item: Any, fields: frozenset[str]) -> Any:
    if isinstance(item, dict) and fields & item.keys():
        return {k: v for k, v in item.items() if k not in fields}
    return item


def _keyed(item: Any, key: str) -> Any:
    """A list item with its key field, named from a fallback field when it lacks it."""
    value = item_key(item, key)
    if value is None or item.get(key) is not None:
        return item
    return {key: value, **item}


def _path_order(path: str) -> tuple[int, str]:
    return path.count("/"), path


def _listed_item(state: dict[str, Any], path: str, key: str | None) -> dict[str, Any] | None:
    parent, _, name = path.rpartition("/")
    for item in state.get(parent or "/") or ():
        if isinstance(item, dict) and str(item.get(key)) == name:
            return item
    return None


def auth_section(state: dict[str, Any]) -> dict[str, Any]:
    """Users and token ids as read, any secret accepted: the copy can be used at once."""
    users = [{"userid": u["userid"]} for u in state.get("/access/users") or () if isinstance(u, dict) and "userid" in u]
    tokens = []
    for user in users:
        userid = user["userid"]
        for tok in state.get(f"/access/users/{userid}/token") or ():
            name = str(tok.get("tokenid", "")) if isinstance(tok, dict) else ""
            if name:
                tokenid = name if "!" in name else f"{userid}!{name}"
                kept = {k: TOKEN_FIELDS[k](tok[k]) for k in TOKEN_FIELDS if k in tok}
                tokens.append({"tokenid": tokenid, "secret": REDACTED_SECRET, **kept})
    out: dict[str, Any] = {"mode": "any"}
    if users:
        out["users"] = users
    if tokens:
        out["tokens"] = tokens
    return out


def release_of(version: Any) -> str:
    if not isinstance(version, dict):
        return "unknown release"
    return " ".join(str(version[k]) for k in ("version", "release", "repoid") if version.get(k))


def build_scenario(opts: Options, service: str, walker: Walker, version: Any, taken: str) -> tuple[dict, str]:
    """(the scenario document, its header comment)."""
    redactor = Redactor(opts.keep_fingerprints)
    state, routes = build_state(walker, redactor)
    host = urlsplit(opts.url).hostname or "cluster"
    redacted = ", ".join(f"{k} ({n}x)" for k, n in sorted(redactor.dropped.items())) or "nothing"
    source = f"{opts.url} ({wire.PRODUCT_NAMES[service]} {release_of(version)})"
    description = (
        f"Snapshot of {source} taken {taken} by scenariod {__version__}. Redacted: {redacted}; "
        f"passwords and token secrets are never read (auth mode any)."
    )
    if walker.capped:
        description += f" Incomplete: stopped at --max-requests {opts.max_requests}."
    doc = {
        "scenariod": 1,
        "name": f"snapshot-{host}",
        "description": description,
        "service": service,
        "auth": auth_section(state),
        "state": state,
    }
    if routes:
        doc["routes"] = routes
    header = (
        f"# Snapshot of {source}\n# taken {taken} by scenariod {__version__} ({len(walker.read)} paths read)\n"
        f"# Redacted fields: {redacted}.\n# Not copied: task lists and logs, RRD data, logs, guest agent calls and"
        f" derived status views\n# (see `scenariod snapshot --help`). Auth mode `any`: any password or token"
        f" secret is accepted.\n"
    )
    return doc, header


def render(doc: dict[str, Any], header: str, fmt: str) -> bytes:
    """JSON, or YAML whose values are one-line JSON flows: exact, fast, and read by every YAML 1.2 parser."""
    if fmt == "json":
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    out = [header.encode()]
    for key, value in doc.items():
        if key == "state":
            out.append(b"state:\n")
            for path, v in value.items():
                out.append(b"  " + orjson.dumps(path) + b":" + _flow(v) + b"\n")
        else:
            out.append(key.encode() + b":" + _flow(value) + b"\n")
    return b"".join(out)


def _flow(value: Any) -> bytes:
    if isinstance(value, list) and value:
        return b"\n" + b"".join(b"    - " + orjson.dumps(v) + b"\n" for v in value).rstrip(b"\n")
    return b" " + orjson.dumps(value)


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


# --- the command -------------------------------------------------------------------------------


def guess_service(url: str) -> str:
    port = urlsplit(url).port
    for service, default in wire.DEFAULT_PORTS.items():
        if port == default:
            return service
    return "pve"


async def snapshot(opts: Options) -> tuple[dict[str, Any], str, Walker]:
    """Walk the source and build the scenario; the progress file is kept until the output is written."""
    service = opts.service or guess_service(opts.url)
    api = ApiDescription.load(service)
    out = opts.output or Path(f"snapshot-{urlsplit(opts.url).hostname or 'cluster'}.{opts.fmt}")
    progress = ProgressFile(out.with_name(out.name + PROGRESS_SUFFIX), opts.url, service)
    try:
        async with Client(opts, service) as client:
            walker = Walker(opts, api, client, progress)
            with ProgressDisplay(opts, walker):
                await walker.run()
            version = walker.read["/version"].data if "/version" in walker.read else None
        taken = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        doc, header = build_scenario(opts, service, walker, version, taken)
        write_atomically(out, render(doc, header, opts.fmt))
    finally:
        progress.close()
    if not walker.capped:  # complete: nothing left to continue
        progress.path.unlink()
    return doc, str(out), walker


class ProgressDisplay:
    """A rich progress bar of paths read on a terminal; a plain line every 1,000 paths otherwise."""

    def __init__(self, opts: Options, walker: Walker) -> None:
        self.walker = walker
        self.tty = sys.stderr.isatty() if opts.progress is None else opts.progress
        self.count = 0
        self.bar: Any = None

    def __enter__(self) -> ProgressDisplay:
        if self.tty:
            # The total grows as collections are read: the bar shows paths read of paths found so far.
            self.bar = Progress(
                TextColumn("reading"), BarColumn(), MofNCompleteColumn(), TextColumn("paths"), TimeElapsedColumn()
            )
            self.task = self.bar.add_task("read", total=None)
            self.bar.start()
        self.walker.on_progress = self.tick
        return self

    def tick(self) -> None:
        self.count += 1
        if self.bar is not None:
            self.bar.update(self.task, completed=self.count, total=self.walker.queued)
        elif self.count % 1000 == 0:
            print(f"scenariod snapshot: {self.count} paths read", file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def read_password(path: str) -> str:
    """The first line of a password file (a file keeps the password out of `ps` and history)."""
    lines = Path(path).read_text().splitlines()
    return lines[0] if lines else ""


def main(opts: Options) -> int:
    try:
        doc, out, walker = asyncio.run(snapshot(opts))
    except SnapshotError as exc:
        print(f"scenariod snapshot: {exc}", file=sys.stderr)
        return 1
    paths = len(doc["state"])
    failed = sum(walker.failures.values())
    line = f"{out}: {paths} state path(s) from {len(walker.read)} read, {failed} unreadable"
    for (status, template), count in sorted(walker.failures.items()):
        print(f"  {count} x {status} on GET {template}", file=sys.stderr)
    if walker.capped:
        print(f"{line}; stopped at --max-requests {opts.max_requests}: run again to continue", file=sys.stderr)
        return 3
    print(line, file=sys.stderr)
    return 0
