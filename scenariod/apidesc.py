"""The bundled Proxmox API descriptions, and the router over them.

`ApiDescription.load("pve")` reads `data/pve.api.json.gz` (written by
`tools/regen_apidata.py`) into a segment trie of `ApiNode`s, each holding its `Operation`s.
`ApiDescription.load("pve", "8.4")` pins an earlier release: `data/pve-8.4.api.json.gz`
holds only what differs from the newest description, and is rebuilt over it here.
Routing a request costs one dict lookup per path segment, whatever the size of the API.
Everything per operation that is costly (its parameters schema, stored as JSON text in the
newest descriptions, and the parameter validator) is built on first use, because loading is
on the startup path.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from . import wire

if TYPE_CHECKING:
    from .params import Validator

_DATA_SUFFIX = ".api.json.gz"
_ANSWERED_FILE = "answered-undeclared.json"
# A release file's marker for "as in the newest description" (tools/regen_apidata.py SAME).
_SAME = "="

# Calls whose `returns` schema says something other than what the server does, checked
# against the Proxmox sources. True: answers a task UPID; False: answers something else.
_UPID_OVERRIDES: dict[str, dict[tuple[str, str], bool]] = {
    "pve": {
        # Bare-string returns that are a lock token, monitor output and nothing task-like.
        ("POST", "/cluster/sdn/lock"): False,
        ("POST", "/nodes/{node}/qemu/{vmid}/monitor"): False,
        ("POST", "/nodes/{node}/replication/{id}/schedule_now"): False,
    },
    "pbs": {
        # The #[api] macro declares no return type, but the handlers return the worker's UPID.
        ("POST", "/admin/prune/{id}/run"): True,
        ("POST", "/admin/sync/{id}/run"): True,
        ("POST", "/admin/verify/{id}/run"): True,
        ("POST", "/pull"): True,
        ("POST", "/push"): True,
        ("POST", "/nodes/{node}/services/{service}/start"): True,
        ("POST", "/nodes/{node}/services/{service}/stop"): True,
        ("POST", "/nodes/{node}/services/{service}/restart"): True,
        ("POST", "/nodes/{node}/services/{service}/reload"): True,
    },
}

_UPID_WORDS = re.compile(r"\b(?:task|upid)", re.IGNORECASE)
_LINK_FIELD = re.compile(r"^\{([^{}/]+)\}$")


class UnknownApi(LookupError):
    """No bundled description for the requested service or version; the message lists them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Operation:
    """One (path, HTTP method) of the API, as the description declares it."""

    __slots__ = (
        "node",
        "method",
        "label",
        "name",
        "description",
        "parameters",
        "returns",
        "permissions",
        "protected",
        "proxyto",
        "allowtoken",
        "download_allowed",
        "returns_upid",
        "_validator",
        "_parameters_text",
    )

    parameters: dict[str, Any]

    def __init__(self, node: ApiNode, method: str, raw: dict[str, Any], returns_upid: bool) -> None:
        self.node = node
        self.method = method
        # PBS/PDM label streaming calls DOWNLOAD/UPLOAD; the HTTP verb is still `method`.
        self.label: str = raw.get("method", method)
        self.name: str | None = raw.get("name")
        self.description: str = raw.get("description") or ""
        parameters = raw.get("parameters")
        if isinstance(parameters, str):  # the newest descriptions' JSON text: parsed on first use
            self._parameters_text = parameters
        else:
            self.parameters = parameters or {}
        self.returns: dict[str, Any] = raw.get("returns") or {}
        self.permissions: dict[str, Any] | None = raw.get("permissions")
        self.protected = bool(raw.get("protected"))
        self.proxyto: str | None = raw.get("proxyto")
        # Only PVE says; PBS and PDM accept API tokens everywhere.
        self.allowtoken = bool(raw.get("allowtoken", 1))
        self.download_allowed = bool(raw.get("download_allowed"))
        self.returns_upid = returns_upid
        self._validator: Validator | None = None

    def __getattr__(self, name: str) -> Any:
        # Only while the `parameters` slot is unset: parsed once, a plain slot read after that.
        if name != "parameters":
            raise AttributeError(name)
        self.parameters = orjson.loads(self._parameters_text) or {}
        return self.parameters

    @property
    def path(self) -> str:
        return self.node.path

    @property
    def validator(self) -> Validator:
        """Compiled on first use: most operations of a description are never called."""
        if self._validator is None:
            from .params import compile_validator

            self._validator = compile_validator(self)
        return self._validator

    def __repr__(self) -> str:
        return f"<Operation {self.method} {self.node.path}>"


class ApiNode:
    """One path template of the API and its place in the routing trie.

    `kind` drives the generic behaviour: a `collection` has a `{param}` child (`key` names
    it; `key_field` is the item field that carries the key in its listing, e.g. `name` for
    snapshots keyed by `{snapname}`), an `index` lists its literal children under
    `index_field`, and everything else is a `leaf`.
    """

    __slots__ = (
        "path",
        "segments",
        "parent",
        "literal_children",
        "param_child",
        "param",
        "ops",
        "kind",
        "key",
        "key_field",
        "index_field",
        "param_at",
    )

    def __init__(self, segments: tuple[str, ...], parent: ApiNode | None) -> None:
        self.path = "/" + "/".join(segments)
        self.segments = segments
        self.parent = parent
        self.literal_children: dict[str, ApiNode] = {}
        self.param_child: ApiNode | None = None
        last = segments[-1] if segments else ""
        self.param: str | None = last[1:-1] if _is_param(last) else None
        # (name, index) of every {param} on the path, outermost first: routing reads a path's
        # parameters from its segments without walking up the trie
        inherited = parent.param_at if parent is not None else ()
        self.param_at: tuple[tuple[str, int], ...] = (
            (*inherited, (self.param, len(segments) - 1)) if self.param is not None else inherited
        )
        self.ops: dict[str, Operation] = {}
        self.kind = "leaf"
        self.key: str | None = None
        self.key_field: str | None = None
        self.index_field: str | None = None

    def children(self) -> Iterator[ApiNode]:
        yield from self.literal_children.values()
        if self.param_child is not None:
            yield self.param_child

    def __repr__(self) -> str:
        return f"<ApiNode {self.path} {self.kind}>"


class ApiDescription:
    """A whole Proxmox API (one service, one version) with its router."""

    def __init__(
        self, service: str, version: str, source: str, paths: list[dict[str, Any]], facts: dict[str, Any] | None = None
    ) -> None:
        self.service = service
        self.version = version
        self.source = source
        # What a node of this release reports (PVE: version, repoid, kernel); None elsewhere.
        self.facts = facts
        # The trie root; PVE's tree has no "/" entry, so there it is a method-less node
        # that is not in `nodes`.
        self.root = ApiNode((), None)
        self.nodes: list[ApiNode] = []
        self.by_template: dict[str, ApiNode] = {}
        overrides = _UPID_OVERRIDES.get(service, {})
        for entry in paths:
            node = self._insert(entry["path"])
            for method, raw in entry["methods"].items():
                upid = overrides.get((method, node.path))
                if upid is None:
                    upid = _returns_upid(method, raw.get("returns") or {})
                node.ops[method] = Operation(node, method, raw, upid)
            self.nodes.append(node)
            self.by_template[node.path] = node
        self._classify(self.root)

    @classmethod
    def load(cls, service: str, version: str | None = None) -> ApiDescription:
        """The bundled description of `service`; `version` may be a prefix ("8" for the
        newest 8.x bundled); None is the newest."""
        return _load(service.lower(), None if version is None else str(version).strip())

    def has(self, path: str, method: str | None = None, param: str | None = None) -> bool:
        """Whether a path (a template, a concrete path or a `when` pattern) reaches an
        operation here, with `method` if given, taking `param` if given."""
        for node in self.match_template([s for s in path.split("/") if s]):
            for verb, op in node.ops.items():
                if method is not None and verb != method:
                    continue
                if param is None or param in (op.parameters.get("properties") or {}):
                    return True
        return False

    def _insert(self, path: str) -> ApiNode:
        node = self.root
        segments = tuple(s for s in path.split("/") if s)
        for i, seg in enumerate(segments):
            if _is_param(seg):
                child = node.param_child
                if child is None:
                    child = node.param_child = ApiNode(segments[: i + 1], node)
                elif child.segments[-1] != seg:
                    raise ValueError(f"{path}: {seg} beside {child.path} (one parameter per level)")
            else:
                child = node.literal_children.get(seg)
                if child is None:
                    child = node.literal_children[seg] = ApiNode(segments[: i + 1], node)
            node = child
        return node

    def _classify(self, node: ApiNode) -> None:
        get = node.ops.get("GET")
        if node.param_child is not None:
            node.kind = "collection"
            node.key = node.param_child.param
            node.key_field = _link_field(get) or node.key
        elif node.literal_children:
            field = _link_field(get) or _subdir_index(get)
            if field is not None:
                node.kind = "index"
                node.index_field = field
        for child in node.children():
            self._classify(child)

    # --- routing --------------------------------------------------------------------------

    def resolve(self, path: str) -> tuple[ApiNode, dict[str, str]] | None:
        """Route a decoded path relative to /api2/json ('/nodes/pve1/qemu/100/config')."""
        path = path.strip("/")
        return self.resolve_segments(path.split("/") if path else [])

    def resolve_segments(self, segments: Sequence[str]) -> tuple[ApiNode, dict[str, str]] | None:
        """Route already split (and individually decoded) segments.

        Use this when a segment may contain an encoded '/' (%2F), which decoding the whole
        path first would split. Literal segments win over `{param}`; a literal branch that
        dead-ends falls back to the parameter branch.
        """
        node = self.root
        i, n = 0, len(segments)
        pending: list[tuple[ApiNode, int]] = []
        while i < n:
            seg = segments[i]
            literal = node.literal_children.get(seg)
            param = node.param_child if seg else None
            if literal is not None:
                if param is not None:
                    pending.append((param, i + 1))
                node, i = literal, i + 1
            elif param is not None:
                node, i = param, i + 1
            elif pending:
                node, i = pending.pop()
            else:
                return None
        return node, {name: segments[at] for name, at in node.param_at}

    def resolve_fragment(self, segments: Sequence[str]) -> tuple[list[str], ApiNode, dict[str, str]] | None:
        """Route a path whose last parameter takes the rest of it, slashes and all; None if none does.

        PVE registers storage content with `fragmentDelimiter => ''` (pve-storage's
        PVE::API2::Storage::Status: volume IDs may contain '/'), so a client that sends
        `.../content/local:iso/x.iso` unencoded (proxmoxer, hence community.proxmox) reaches
        `{volume}`. Asked only when ordinary routing fails, so the hot path pays nothing.
        """
        for template in wire.WHOLE_FRAGMENT_PATHS.get(self.service, ()):
            depth = len(template)
            if len(segments) <= depth + 1 or any(
                not _is_param(t) and t != seg for t, seg in zip(template, segments, strict=False)
            ):
                continue
            joined = [*segments[:depth], "/".join(segments[depth:])]
            resolved = self.resolve_segments(joined)
            if resolved is not None:
                return joined, *resolved
        return None

    def path_nodes(self, segments: Sequence[str]) -> list[ApiNode | None]:
        """The node `resolve_segments` finds for each prefix of `segments`, from the root
        (the empty prefix) to the whole path; None where a prefix is no API path.

        One walk instead of one routing per prefix: the router only backtracks from a node
        with both literal children and a {param} child, and from the first such node on,
        each prefix is routed on its own. Seeding 100,000 guests leans on this.
        """
        out: list[ApiNode | None] = [self.root]
        node: ApiNode | None = self.root
        walking = True
        for i, seg in enumerate(segments, start=1):
            if walking and node is not None and node.literal_children and node.param_child is not None:
                walking = False
            if walking:
                if node is not None:
                    node = node.literal_children.get(seg) or (node.param_child if seg else None)
            else:
                resolved = self.resolve_segments(segments[:i])
                node = resolved[0] if resolved is not None else None
            out.append(node)
        return out

    def match_template(self, pattern_segments: Sequence[str]) -> list[ApiNode]:
        """The nodes a `when` path pattern can reach, sorted by path.

        Pattern segments: a literal (matches that literal or any `{param}` template
        segment), `{name}` or `*` (any one segment), `**` (the rest, possibly nothing).
        """
        pattern = [s for s in pattern_segments if s]
        found: dict[int, ApiNode] = {}
        self._match(self.root, pattern, 0, found)
        return sorted(found.values(), key=lambda n: n.path)

    def _match(self, node: ApiNode, pattern: list[str], i: int, found: dict[int, ApiNode]) -> None:
        if i == len(pattern):
            found[id(node)] = node
            return
        pat = pattern[i]
        if pat == "**":
            self._match(node, pattern, i + 1, found)
            for child in node.children():
                self._match(child, pattern, i, found)
            return
        if pat == "*" or _is_param(pat):
            nexts: Iterator[ApiNode] | list[ApiNode] = node.children()
        else:
            literal = node.literal_children.get(pat)
            nexts = [c for c in (literal, node.param_child) if c is not None]
        for child in nexts:
            self._match(child, pattern, i + 1, found)

    def nearest(self, path: str) -> str | None:
        """The closest real path template, for "did you mean" ('/nodes/pve1/qemus' ->
        '/nodes/{node}/qemu'). Error path only: it may look at every template."""
        import difflib  # not on the startup path

        segments = [s for s in path.split("/") if s]
        node = self.root
        for i, seg in enumerate(segments):
            child = node.literal_children.get(seg)
            if child is None and node.param_child is not None:
                child = node.param_child
            if child is None:
                close = difflib.get_close_matches(seg, list(node.literal_children), n=1, cutoff=0.6)
                if close:
                    child = node.literal_children[close[0]]
            if child is None:
                rest = "/".join(segments[i:])
                return self._closest_template(node.path.rstrip("/") + "/" + rest)
            node = child
        if node.ops:
            return node.path
        return self._closest_template(node.path)

    def _closest_template(self, text: str) -> str | None:
        import difflib

        templates = [n.path for n in self.nodes if n.ops and n.path != text]
        close = difflib.get_close_matches(text, templates, n=1, cutoff=0.6)
        return close[0] if close else None

    def operations(self) -> Iterator[tuple[ApiNode, Operation]]:
        """Every (node, operation), sorted by path then method name."""
        for node in sorted(self.nodes, key=lambda n: n.path):
            for method in sorted(node.ops):
                yield node, node.ops[method]

    def __repr__(self) -> str:
        return f"<ApiDescription {self.service} {self.version}: {len(self.nodes)} paths>"


def _is_param(segment: str) -> bool:
    return len(segment) > 2 and segment[0] == "{" and segment[-1] == "}"


def _link_field(get: Operation | None) -> str | None:
    """PVE's listings name the item field that forms each child's path: links [{href: '{x}'}]."""
    if get is None or get.returns.get("type") != "array":
        return None
    for link in get.returns.get("links") or ():
        m = _LINK_FIELD.match(link.get("href", ""))
        if m:
            return m.group(1)
    return None


def _subdir_index(get: Operation | None) -> str | None:
    """proxmox-router's list_subdirs_api_method (PBS, PDM) declares no return schema, but
    answers [{"subdir": name}, ...]."""
    if get is not None and get.description == "Directory index." and get.returns.get("type") in (None, "null"):
        return "subdir"
    return None


def _returns_upid(method: str, returns: dict[str, Any]) -> bool:
    """Whether the call answers a worker task's UPID.

    PBS and PDM say so (a UPID pattern, "Unique Process/Task Identifier", "A remote UPID");
    PVE mostly returns a bare string, so a non-GET string with no description, pattern or
    format counts too (exceptions are in _UPID_OVERRIDES). A GET never starts a task.
    """
    if method == "GET" or returns.get("type") != "string":
        return False
    pattern = returns.get("pattern") or ""
    description = returns.get("description") or ""
    if "UPID" in pattern or _UPID_WORDS.search(description):
        return True
    return not description and not pattern and "format" not in returns


def _data_dir() -> Path:
    # the package's own folder, not importlib.resources (its import, zipfile's included, cost
    # each start ~1.5 ms): scenariod is installed as files (cache.py reads the same folder)
    return Path(__file__).resolve().parent / "data"


def _bundled_services() -> list[str]:
    return sorted(
        entry.name[: -len(_DATA_SUFFIX)]
        for entry in _data_dir().iterdir()
        if entry.name.endswith(_DATA_SUFFIX) and "-" not in entry.name
    )


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


@cache
def bundled_releases(service: str) -> tuple[str, ...]:
    """Every bundled release of `service`, oldest first ("7.4", ..., "9.2" for PVE)."""
    prefix = f"{service}-"
    pinned = [
        entry.name[len(prefix) : -len(_DATA_SUFFIX)]
        for entry in _data_dir().iterdir()
        if entry.name.startswith(prefix) and entry.name.endswith(_DATA_SUFFIX)
    ]
    return tuple(sorted({*pinned, _newest_version(service)}, key=_version_key))


def _bundled_summary() -> str:
    return "; ".join(f"{s} {', '.join(bundled_releases(s))}" for s in _bundled_services()) or "none"


@cache
def _read(name: str) -> dict[str, Any]:
    """One data file, parsed (the newest description's raw paths are the base of the others)."""
    doc: dict[str, Any] = orjson.loads(gzip.decompress((_data_dir() / f"{name}{_DATA_SUFFIX}").read_bytes()))
    return doc


@cache
def answered_undeclared(service: str) -> dict[str, dict[str, Any]]:
    """Per path template: the fields real `service` nodes answer that the description does not
    declare (`fields`), and declared fields they answer in another shape (`answered_as`), from
    `data/answered-undeclared.json` with the Proxmox source of each. Seeds are held to these,
    not warned about: a snapshot of a real node holds them."""
    doc: dict[str, Any] = orjson.loads((_data_dir() / _ANSWERED_FILE).read_bytes())
    facts: dict[str, dict[str, Any]] = doc.get(service, {})
    return facts


def _newest_version(service: str) -> str:
    if service not in _bundled_services():
        raise UnknownApi(f"no bundled API description for '{service}' (bundled: {_bundled_summary()})")
    version: str = _read(service)["version"]
    return version


@cache
def _load_service(service: str) -> ApiDescription:
    _newest_version(service)  # an unknown service raises here
    doc = _read(service)
    return ApiDescription(doc["service"], doc["version"], doc["source"], doc["paths"], doc.get("facts"))


def _rebuilt(entry: dict[str, Any], base: dict[str, Any] | None) -> dict[str, Any]:
    """A release's operation from its stored difference to the newest one (`base`)."""
    if entry == _SAME:
        assert base is not None
        return base
    if base is None:
        return entry
    op = {key: base[key] for key in entry.get(_SAME, ())}
    for key, value in entry.items():
        if key == _SAME:
            continue
        props = value.get("properties") if isinstance(value, dict) else None
        if isinstance(props, dict) and _SAME in props.values():
            base_props = base[key]["properties"]
            value = {**value, "properties": {k: base_props[k] if v == _SAME else v for k, v in props.items()}}
        op[key] = value
    return op


def _parsed(op: dict[str, Any]) -> dict[str, Any]:
    """A newest description's raw operation with its `parameters` text parsed."""
    text = op.get("parameters")
    return {**op, "parameters": orjson.loads(text)} if isinstance(text, str) else op


@cache
def _load_release(service: str, release: str) -> ApiDescription:
    doc = _read(f"{service}-{release}")
    base = {
        entry["path"]: {verb: _parsed(op) for verb, op in entry["methods"].items()}
        for entry in _read(doc["base"])["paths"]
    }
    paths = []
    for entry in doc["paths"]:
        here = base.get(entry["path"], {})
        methods = {verb: _rebuilt(op, here.get(verb)) for verb, op in entry["methods"].items()}
        paths.append({"path": entry["path"], "methods": methods})
    return ApiDescription(doc["service"], doc["version"], doc["source"], paths, doc.get("facts"))


@cache
def _load(service: str, version: str | None) -> ApiDescription:
    if version is None:
        return _load_service(service)
    wanted = [p for p in version.split(".") if p]
    matching = [r for r in bundled_releases(service) if wanted and r.split(".")[: len(wanted)] == wanted]
    if not matching:
        raise UnknownApi(
            f"no bundled API description for {service} version '{version}' (bundled: {_bundled_summary()})"
        )
    release = matching[-1]
    return _load_service(service) if release == _newest_version(service) else _load_release(service, release)


def releases_having(service: str, path: str, method: str | None = None, param: str | None = None) -> list[str]:
    """The bundled releases of `service` whose API has `path` (a template, a concrete path
    or a `when` pattern), with `method` and taking `param` when given; oldest first.

    Loads every release: for diagnostics (`scenariod check`), never on the request path.
    """
    return [r for r in bundled_releases(service) if _load(service, r).has(path, method, param)]


def missing_from(api: ApiDescription, path: str, method: str | None = None, param: str | None = None) -> str | None:
    """ "X is not in PVE 8.4's API (it is in 9.0, 9.1, 9.2)" when another bundled release has
    what `api` lacks; None when none has it (then it is simply no API path)."""
    if api.has(path, method, param):
        return None
    others = releases_having(api.service, path, method, param)
    if not others:
        return None
    what = path if method is None else f"{method} {path}"
    if param is not None:
        what = f"parameter `{param}` of {what}"
    return f"{what} is not in {api.service.upper()} {api.version}'s API (it is in {', '.join(others)})"
