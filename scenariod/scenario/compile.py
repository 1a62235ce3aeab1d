"""The compiler: a scenario file into a `Scenario`, or every problem in it.

A scenario file is read into plain Python values (dict, list, str, int, float, bool, None),
validated against the JSON Schema (schema.py), checked against the service's API
description (paths, methods, collection keys, JMESPath expressions), and compiled into the
frozen dataclasses of model.py. Every problem found is reported as a `Diagnostic` that
prints as `FILE:LINE:COLUMN: message`, pointing at the YAML node at fault, in words for
authors (diagnostics.py).

Two readings give the same values (see `FileCompiler`): the fast one (fastload: JSON, or
YAML through libyaml) for valid files, with the few positions a Scenario keeps found by
reading its small rule sections with ruamel.yaml; and the exact one, ruamel.yaml's round
trip of the whole file, where every node knows its line and column: it reports the
problems. positions.py answers "where is this node" for both.

Entry points (re-exported by the package): `load_scenario(path)`, `parse_scenario(text,
file)`, both raising `ScenarioInvalid`; `check_files(paths) -> list[Diagnostic]`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jmespath.exceptions import JMESPathError

from .. import cache, fastload, filelimits
from ..apidesc import ApiDescription, UnknownApi, missing_from
from ..gcpause import gc_paused
from ..params import Validator, compile_validator
from ..wire import ApiError
from .diagnostics import clip, flow, fmt, label, translate
from .durations import parse_duration
from .model import (
    DEFAULT_DRIBBLE_CHUNKS,
    DEFAULT_GARBAGE_BYTES,
    DEFAULT_TICKET_LIFETIME,
    EFFECTS,
    METHODS,
    MISSING,
    AuthSpec,
    Delay,
    Diagnostic,
    Expect,
    Fault,
    Limits,
    Listen,
    Respond,
    Route,
    Scenario,
    ScenarioInvalid,
    TaskRule,
    When,
)
from .positions import Positions, key_text, plain, yaml_loader
from .schema import is_valid, schema_validator, state_is_free_form
from .seeds import Finding, SeedChecker, route_operation, writable_fields
from .templates import TemplateError, compile_expression, jmespath_problem, split_template

__all__ = ["FileCompiler", "check_files", "load_scenario", "parse_scenario"]

_API_PREFIX = "/api2/json"
_PARAM_SEGMENT = re.compile(r"^\{[A-Za-z0-9_.-]+\}$")
_EXAMPLE_VALUES = {"node": "pve1", "vmid": "100", "storage": "local", "userid": "root@pam", "remote": "remote1"}


def _strip_prefix(path: str) -> str:
    p = path.strip()
    for prefix in (_API_PREFIX, _API_PREFIX[1:]):
        if p == prefix or p.startswith(prefix + "/"):
            return p[len(prefix) :]
    return p


def _normalize_path(path: str) -> str:
    if path.startswith("/") and not path.startswith(_API_PREFIX) and _NORMAL_PATH.fullmatch(path):
        return path  # already normal: the common case, 100,000 times in a large state
    segments = [s for s in _strip_prefix(path).split("/") if s]
    return "/" + "/".join(segments)


_NORMAL_PATH = re.compile(r"(?:/[^/\s]+)+")


def _method_order(m: str) -> tuple:
    return (METHODS.index(m) if m in METHODS else len(METHODS), m)


class FileCompiler:
    """One file: diagnostics, positions, and the Scenario built from it.

    It reads the file one of two ways. The exact way (`parse`) keeps ruamel.yaml's whole
    tree, so every diagnostic has its position. The fast way (`read_fast`) keeps only plain
    values and the extent of each top-level section (see `Positions`). Only the exact reading
    reports problems: a fast one that meets a problem, or a position it cannot tell, marks
    itself `unsure`, and its result is dropped for the exact reading of the file.
    """

    def __init__(self, file: str, text: str, base_dir: Path, api_pin: str | None = None, warnings: bool = True) -> None:
        self.file = file
        self.text = text
        self.base_dir = base_dir
        self.api_pin = api_pin  # `--api RELEASE`: overrides the file's `api`
        self.diags: list[Diagnostic] = []
        self.doc: Any = None
        self.bad: list[tuple] = []
        self.service_label = "PVE"
        self.positions = Positions(text)  # replaced by the reading
        self.exact = False  # read by `parse`: the reading that reports problems
        self.unsure = False  # a fast reading met what only the exact one may report
        self.remembered = False  # compiled from a memo: its state paths passed the checks before
        self.seeds: SeedChecker | None = None  # made on the first seeded path
        self.path_checks: dict[tuple[int, str], Validator | None] = {}  # (id(node), parameter) -> its check
        self.warnings: list[Diagnostic] = []  # seeds the API does not declare: served, but shown
        # A fast reading's seeds the API could never answer, placed by reading their one state entry
        # (a 10,000-guest file is not read the exact way for one wrong value).
        self.seed_errors: list[Diagnostic] = []
        # Only `check` shows warnings: a load to serve does not place them (each placed one reads
        # its state entry the exact way; a large file may warn in every entry).
        self.want_warnings = warnings

    # diagnostics and positions

    def add_at(self, line: int, column: int, message: str) -> None:
        if not self.exact:
            self.unsure = True
            return
        self.diags.append(Diagnostic(self.file, line, column, message))

    def add(self, path: Sequence, message: str, at: str = "value") -> None:
        if not self.exact:
            self.unsure = True
            return
        line, col = self.position(path, at)
        self.add_at(line, col, message)

    def position(self, path: Sequence, at: str = "value") -> tuple[int, int]:
        """1-based line and column of the node at `path` (of its key with at="key")."""
        found = self.positions.find(path, at)
        if found is None:
            self.unsure = True
            return 0, 0  # never shown: an unsure reading's result is dropped
        return found

    def line_of(self, path: Sequence) -> int:
        return self.position(path)[0]

    def clean(self, path: tuple) -> bool:
        """No schema problem at or below `path`."""
        n = len(path)
        return not any(b[:n] == path for b in self.bad)

    def get(self, path: Sequence, default: Any = None) -> Any:
        node = self.doc
        for k in path:
            if isinstance(node, dict) and k in node:
                node = node[k]
            elif isinstance(node, list) and isinstance(k, int) and 0 <= k < len(node):
                node = node[k]
            else:
                return default
        return node

    # stage 1: YAML

    def compile_fast(self) -> Scenario | None:
        """The fast reading of a valid file, remembered for its next load (cache.py); None
        when only the exact reading may read it, or it has problems (`unsure`)."""
        if not self.read_fast():
            return None
        doc = cache.encode_doc(self.text, self.doc)  # before build(), which may normalize in place
        self.validate()
        result = None if self.unsure else self.build()
        if result is None or self.unsure:
            return None
        if self.seed_errors:  # the only problems, each placed: what the exact reading would report
            raise ScenarioInvalid(sorted(set(self.seed_errors), key=lambda d: (d.line, d.column, d.message)))
        if filelimits.current() == filelimits.DEFAULTS:  # see _compile: memos stand for the default bounds
            cache.remember(self.text, doc, self.positions.found, self.api_pin)
        return result

    def compile_remembered(self, memo: cache.Memo) -> Scenario | None:
        """A text that loaded clean before: its remembered document (a JSON text is read
        again with orjson) and positions, and no schema check; None as `compile_fast`."""
        doc = memo.doc if memo.doc is not None else fastload.load_known(self.text)
        if doc is not None:
            self.doc = doc
            self.positions = Positions.fast(self.text, doc, {}, memo.positions)
        elif not self.read_fast():
            return None
        else:
            self.positions.known = memo.positions
        self.remembered = True
        result = self.build()
        return None if self.unsure else result

    def read_fast(self) -> bool:
        """Plain values without positions (see fastload); False when only `parse` may read it."""
        loaded = fastload.load(self.text)
        if loaded is None:
            return False
        self.doc = loaded.doc
        self.positions = Positions.fast(self.text, loaded.doc, loaded.sections, entries=loaded.entries)
        return True

    def parse(self) -> bool:
        """The exact reading: ruamel.yaml's tree of the whole file, and its syntax errors."""
        # ruamel.yaml is imported here, for start-up speed: most loads never read this way
        from ruamel.yaml.error import MarkedYAMLError, YAMLError

        self.exact = True
        if not self.text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in self.text.splitlines()):
            self.add_at(1, 1, "the file is empty; a scenario needs at least `scenariod: 1` and `name`")
            return False
        loader = yaml_loader()
        try:
            root = loader.load(self.text)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "cannot parse"
            line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            if problem == "but found another document":
                problem = "a scenario file holds one YAML document, and a second one starts here"
            self.add_at(line, col, f"YAML syntax error: {problem}")
            return False
        except YAMLError as exc:
            self.add_at(1, 1, f"YAML syntax error: {exc}")
            return False
        for key, mark, first in getattr(loader.constructor, "scenariod_duplicates", ()):
            where = f" (first at line {first})" if first else ""
            self.add_at(mark.line + 1, mark.column + 1, f"duplicate key '{key_text(key)}'{where}")
        if root is None:
            self.add_at(1, 1, "the file is empty; a scenario needs at least `scenariod: 1` and `name`")
            return False
        self.positions = Positions.exact(self.text, root)
        if not isinstance(root, dict):
            what = "a list" if isinstance(root, list) else f"`{fmt(plain(root))}`"
            self.add(
                (),
                f"a scenario file must be a mapping of keys (scenariod, name, state, routes, ...), not {what}",
            )
            return False
        self.doc = plain(root)
        return True

    # stage 2: schema

    def validate(self) -> None:
        doc = self.doc
        if isinstance(doc.get("state"), dict) and state_is_free_form():
            doc = {**doc, "state": {}}
        if not self.exact:  # the fast reading: a problem sends the file to the exact one, which words it
            self.unsure = not is_valid(doc)
            return
        validator = schema_validator()
        seen: set[tuple] = set()
        for err in validator.iter_errors(doc):
            self.bad.append(tuple(err.absolute_path))
            for path, at, msg in translate(err):
                self.bad.append(tuple(path))
                line, col = self.position(path, at)
                if (line, col, msg) in seen:
                    continue
                seen.add((line, col, msg))
                self.add_at(line, col, msg)

    # stage 3: checks beyond the schema, and normalization

    def build(self) -> Scenario | None:
        doc = self.doc
        service = doc.get("service", "pve") if self.clean(("service",)) else None
        if service is not None:
            self.service_label = str(service).upper()
        api = self.load_api(service)
        listen = self.listen()
        auth = self.auth()
        state = self.state(api)
        routes = tuple(self.route(i, api) for i in range(len(self.items("routes"))))
        faults = tuple(self.fault(i, api) for i in range(len(self.items("faults"))))
        tasks = tuple(self.task(i, api) for i in range(len(self.items("tasks"))))
        expect = tuple(self.expect(i, api) for i in range(len(self.items("expect"))))
        limits = self.limits()
        if self.diags:
            return None
        return Scenario(
            file=Path(self.file),
            name=doc["name"],
            description=doc.get("description"),
            service=service,
            api=api,
            listen=listen,
            seed=int(doc.get("seed", 0)),
            time_scale=float(doc.get("time_scale", 1)),
            auth=auth,
            state=state,
            routes=routes,
            faults=faults,
            tasks=tasks,
            expect=expect,
            limits=limits,
            text=self.text,
            api_override=self.api_pin,
            warnings=tuple(self.warnings),
        )

    def items(self, section: str) -> list:
        value = self.doc.get(section)
        return value if isinstance(value, list) else []

    def load_api(self, service: str | None) -> Any:
        if service is None or not self.clean(("api",)):
            return None
        pin = self.doc.get("api") if self.api_pin is None else self.api_pin
        pin_text = None
        if pin is not None:
            pin_text = str(int(pin)) if isinstance(pin, float) and pin.is_integer() else str(pin)
        try:
            return ApiDescription.load(service, pin_text)
        except UnknownApi as exc:
            detail = getattr(exc, "message", None) or str(exc)
            if self.api_pin is None:
                self.add(("api",), f'`api: "{pin_text}"`: {detail}')
            else:  # the command line's, not the file's
                self.add_at(1, 1, f"`--api {pin_text}`: {detail}")
        if pin_text is None:
            return None
        try:  # check the rest of the file against the bundled description all the same
            return ApiDescription.load(service)
        except UnknownApi:
            return None

    def duration(self, path: tuple, default: float | None = None) -> float | None:
        value = self.get(path, MISSING)
        if value is MISSING:
            return default
        try:
            return parse_duration(value)
        except ValueError:
            if self.clean(path):  # the schema has not already said so
                self.add(path, f"{label(path, value)} is not a duration; write 250ms, 2s or 1m")
            return default

    def delay(self, path: tuple) -> Delay | None:
        value = self.get(path, MISSING)
        if value is MISSING or not self.clean(path):
            return None
        if isinstance(value, dict):
            if "min" in value:
                lo = self.duration(path + ("min",), 0.0) or 0.0
                hi = self.duration(path + ("max",), 0.0) or 0.0
                if hi < lo:
                    self.add(path + ("max",), f"`max: {fmt(value['max'])}` is shorter than `min: {fmt(value['min'])}`")
                return Delay("uniform", min=lo, max=hi)
            median = self.duration(path + ("median",), 0.0) or 0.0
            cap = self.duration(path + ("max",), math.inf)
            return Delay("lognormal", median=median, sigma=float(value.get("sigma", 0)), max=cap)
        return Delay("fixed", seconds=self.duration(path, 0.0) or 0.0)

    def listen(self) -> Listen:
        spec = self.doc.get("listen")
        if not isinstance(spec, dict):
            return Listen()
        tls = spec.get("tls", True)
        cert = key = None
        if isinstance(tls, dict):
            if self.clean(("listen", "tls")):
                cert = self.tls_file(("listen", "tls", "cert"))
                key = self.tls_file(("listen", "tls", "key"))
            tls = True
        return Listen(host=spec.get("host"), port=spec.get("port"), tls=bool(tls), cert=cert, key=key)

    def tls_file(self, path: tuple) -> str:
        value = self.get(path)
        resolved = (self.base_dir / Path(value).expanduser()).resolve()
        if not resolved.is_file():
            self.add(path, f"`{path[-1]}: {fmt(value)}`: no such file ({resolved})")
        return str(resolved)

    def auth(self) -> AuthSpec:
        spec = self.doc.get("auth")
        if not isinstance(spec, dict):
            return AuthSpec()
        users: list[dict] = []
        tokens: list[dict] = []
        seen: dict[str, tuple] = {}  # id -> where it is first declared
        for i, u in enumerate(spec.get("users") if isinstance(spec.get("users"), list) else []):
            path = ("auth", "users", i)
            if not isinstance(u, dict) or not self.clean(path):
                continue
            uid = u["userid"]
            if uid in seen:
                self.add(path + ("userid",), f"user {uid} is declared twice (first at line {self.line_of(seen[uid])})")
            seen.setdefault(uid, path + ("userid",))
            user = {"userid": uid, "enable": u.get("enable", True), "expire": u.get("expire", 0)}
            for k in ("password", "groups", "comment", "email", "firstname", "lastname"):
                if k in u:
                    user[k] = u[k]
            if isinstance(user.get("groups"), str):
                user["groups"] = [g.strip() for g in user["groups"].split(",") if g.strip()]
            users.append(user)
        seen = {}
        for i, t in enumerate(spec.get("tokens") if isinstance(spec.get("tokens"), list) else []):
            path = ("auth", "tokens", i)
            if not isinstance(t, dict) or not self.clean(path):
                continue
            tid = t["tokenid"]
            if tid in seen:
                self.add(
                    path + ("tokenid",), f"token {tid} is declared twice (first at line {self.line_of(seen[tid])})"
                )
            seen.setdefault(tid, path + ("tokenid",))
            userid, _, name = tid.rpartition("!")
            token = {
                "tokenid": tid,
                "userid": userid,
                "name": name,
                "secret": t["secret"],
                "privsep": t.get("privsep", False),
                "expire": t.get("expire", 0),
            }
            if "comment" in t:
                token["comment"] = t["comment"]
            tokens.append(token)
        mode = spec.get("mode") or ("enforce" if users or tokens else "any")
        lifetime = self.duration(("auth", "ticket_lifetime"), DEFAULT_TICKET_LIFETIME)
        return AuthSpec(
            mode=mode,
            users=tuple(users),
            tokens=tuple(tokens),
            ticket_lifetime=DEFAULT_TICKET_LIFETIME if lifetime is None else lifetime,
            control_token=spec.get("control_token"),
            permissions=spec.get("permissions", "enforce"),
        )

    def did_you_mean(self, api: Any, path: str) -> str:
        try:
            guess = api.nearest(path)
        except Exception:  # noqa: BLE001 - a suggestion is a nicety
            guess = None
        return f"; did you mean {guess}?" if guess else ""

    def state(self, api: Any) -> dict[str, Any]:
        spec = self.doc.get("state")
        out: dict[str, Any] = {}
        if not isinstance(spec, dict):
            return out
        if self.remembered:  # these exact paths passed the checks below before
            return {_normalize_path(key): value for key, value in spec.items()}
        seen: dict[str, str] = {}  # normalized path -> the key that first gave it
        for key, value in spec.items():
            kpath = ("state", key)
            norm = _normalize_path(key)
            segments = norm.split("/")[1:] if norm != "/" else []
            if "{" in norm or "}" in norm:
                concrete = "/" + "/".join(
                    _EXAMPLE_VALUES.get(s[1:-1], s[1:-1] + "1") if _PARAM_SEGMENT.match(s) else s for s in segments
                )
                self.add(kpath, f"state keys are concrete paths; write {concrete}, not {norm}", "key")
                continue
            if "*" in norm and any(s in ("*", "**") for s in segments):
                self.add(
                    kpath, f"state keys are concrete paths; `{key}` is a pattern (patterns belong in `when`)", "key"
                )
                continue
            if norm in seen:
                first = seen[norm]
                line = self.position(("state", first), "key")[0]
                self.add(kpath, f"`{key}` is the same path as `{first}` (line {line})", "key")
                continue
            seen[norm] = key
            if api is not None:
                node = api.path_nodes(segments)[-1]
                if node is None:
                    self.add(
                        kpath,
                        missing_from(api, norm)
                        or f"`{key}` is not a path of the {self.service_label} API{self.did_you_mean(api, norm)}",
                        "key",
                    )
                    continue
                if "GET" not in node.ops:
                    have = ", ".join(sorted(node.ops, key=_method_order)) or "no operations"
                    self.add(
                        kpath,
                        f"`{key}` cannot hold state: {node.path} has no GET in the {self.service_label} API"
                        f" (it has {have})",
                        "key",
                    )
                    continue
                if node.kind == "collection":
                    self.collection_items(kpath, norm, value, node)
                elif node.kind == "index" and isinstance(value, list) and value:
                    self.index_given_list(kpath, norm, node)
                    continue
                resolved = api.resolve(norm)
                params = resolved[1] if resolved is not None else {}
                refused = [p for p in (self.path_value_problem(node, n, v, n) for n, v in params.items()) if p]
                if refused:
                    self.add(kpath, f"`{key}`: {refused[0]}", "key")
                    continue
                self.key_matches_path(kpath, norm, value, params)
                self.seed_values(kpath, norm, value, node, params)
            out[norm] = value
        return out

    def index_given_list(self, kpath: tuple, norm: str, node: Any) -> None:
        """A list seeded on an index (/remotes) would be invisible: name its collection."""
        collections = [c for c in node.literal_children.values() if c.kind == "collection"]
        if len(collections) == 1:
            works = norm.rstrip("/") + "/" + collections[0].segments[-1]
            hint = f"; seed its collection {works}"
        else:
            hint = f"; its entries are {', '.join(sorted(node.literal_children))}" if node.literal_children else ""
        self.add(kpath, f"{norm} is an index, not a collection: a list here is never served{hint}")

    def key_matches_path(self, kpath: tuple, norm: str, value: Any, params: dict[str, str]) -> None:
        """A key field in a seed (vmid: 101 under /nodes/pve1/qemu/100/config) must be its path's."""
        if not isinstance(value, dict):
            return
        for param, given in params.items():
            if param in value and type(value[param]) in (str, int) and str(value[param]) != given:
                works = "/".join(str(value[param]) if seg == given else seg for seg in norm.split("/"))
                self.add(
                    kpath + (param,),
                    f"`{param}: {fmt(value[param])}` does not match the path {norm} ({param} {given});"
                    f" seed it under {works}",
                )

    def seed_values(self, kpath: tuple, norm: str, value: Any, node: Any, params: dict[str, str]) -> None:
        """Every seeded value held to the GET's declared returns (see seeds.py)."""
        returns = node.ops["GET"].returns
        if self.seeds is None:
            self.seeds = SeedChecker(self.doc.get("service", "pve"))
        if node.kind == "collection" or (returns.get("type") == "array" and isinstance(value, list)):
            items = returns.get("items")
            if not isinstance(items, dict) or not isinstance(value, list):
                return
            where = f"{node.path} item schema"
            writable = writable_fields(node, node.param_child)
            keys = frozenset(k for k in (node.key, node.key_field) if k)
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    self.key_matches_path(kpath + (i,), norm, item, params)
                    self.seed_findings(kpath + (i,), self.seeds.check(items, item, node.path, where, writable, keys))
        elif isinstance(value, dict) and returns.get("type") in ("object", None) and returns.get("properties"):
            writable = writable_fields(node.parent, node)
            where = f"{node.path} schema"
            keys = frozenset(params)  # the path's own keys: key_matches_path holds them to the path
            self.seed_findings(kpath, self.seeds.check(returns, value, node.path, where, writable, keys))

    def seed_findings(self, base: tuple, findings: Iterable[Finding], warn: bool = False) -> None:
        """Errors at their place; warnings (all of them with `warn`) kept where `check` asks for them."""
        for rel, at, message, error in findings:
            if error and not warn and self.exact:
                self.add(base + rel, message, at)
            elif error and not warn:
                line, col = self.position(base + rel, at)  # unplaced: `unsure`, for the exact reading
                self.seed_errors.append(Diagnostic(self.file, line, col, message))
            elif self.exact or self.want_warnings:
                # a fast reading places it by reading its one state entry, else it is `unsure`
                line, col = self.position(base + rel, at)
                self.warnings.append(Diagnostic(self.file, line, col, message, warning=True))

    def collection_items(self, kpath: tuple, norm: str, value: Any, node: Any) -> None:
        # Items carry the child's {param} name (vmid) or, where the listing names it
        # differently, the listing's field (snapshots: name for {snapname}).
        names = [node.key]
        field_name = getattr(node, "key_field", None)
        if field_name and field_name != node.key:
            names.insert(0, field_name)
        wanted = " or ".join(f"'{n}'" for n in names)
        item_template = f"{node.path.rstrip('/')}/{{{node.key}}}"
        if not isinstance(value, list):
            self.add(kpath, f"{norm} is a collection; give a list of items, each with {wanted}")
            return
        seen: dict[str, tuple] = {}  # key -> where it first appears
        child = node.param_child
        for i, item in enumerate(value):  # kept lean: it runs for every seeded guest
            if not isinstance(item, dict):
                self.add(kpath + (i,), f"an item under {norm} must be a mapping with {wanted}")
                continue
            keyname = next((n for n in names if n in item), None)
            if keyname is None:
                self.add(kpath + (i,), f"an item under {norm} needs {wanted} (the key of {item_template})")
                continue
            kv = item[keyname]
            text = kv if type(kv) is str else str(kv)
            if (type(kv) is not int and type(kv) is not str) or not text or ("/" in text and node.key != "volume"):
                self.add(kpath + (i, keyname), f"`{keyname}: {fmt(kv)}` must be a name or a number without '/'")
                continue
            problem = child is not None and self.path_value_problem(child, node.key, kv, keyname)
            if problem:
                self.add(kpath + (i, keyname), problem)
                continue
            if text in seen:
                first = kpath + seen[text]
                self.add(
                    kpath + (i, keyname),
                    f"{keyname} {text} appears twice under {norm} (first at line {self.line_of(first)})",
                )
                continue
            seen[text] = (i, keyname)

    def path_value_problem(self, node: Any, param: str, value: Any, name: str) -> str | None:
        """Why the API refuses `value` as `node`'s path parameter `param` (the server answers 400
        to every request under /nodes/pve/qemu/abc, so a seed there is never served), or None."""
        key = (id(node), param)
        check = self.path_checks.get(key, MISSING)
        if check is MISSING:
            op = node.ops.get("GET")
            schema = ((op.parameters or {}).get("properties") or {}).get(param) if op is not None else None
            dialect = "pve" if self.doc.get("service", "pve") == "pve" else "rust"
            check = self.path_checks[key] = (
                compile_validator({"type": "object", "properties": {param: schema}}, dialect=dialect)
                if isinstance(schema, dict)
                else None
            )
        if check is None:
            return None
        try:
            check.validate({param: value if type(value) is str else str(value)})
        except ApiError as err:
            why = (err.errors or {}).get(param, err.message).strip()
            return f"{name} {value} cannot name an item of {node.path}: {why}"
        return None

    def pattern(self, path: tuple, raw: str) -> str | None:
        """Normalize a `when` path pattern; report what is wrong with it at `path`."""
        if "?" in raw:
            self.add(path, f"`{raw}`: a `when` path has no query string; use the mapping form with `query:`")
            return None
        norm = _strip_prefix(raw)
        segments = [s for s in norm.split("/") if s]
        names: set[str] = set()
        ok = True
        for i, seg in enumerate(segments):
            if seg == "**":
                if i != len(segments) - 1:
                    self.add(path, f"`**` must be the last segment of a path pattern (`{raw}`)")
                    ok = False
            elif seg == "*":
                continue
            elif "{" in seg or "}" in seg:
                if not _PARAM_SEGMENT.match(seg):
                    self.add(
                        path, f"`{seg}` in `{raw}`: a {{name}} placeholder must be a whole segment, like /qemu/{{vmid}}"
                    )
                    ok = False
                elif seg[1:-1] in names:
                    self.add(path, f"`{seg}` appears twice in `{raw}`; give each placeholder its own name")
                    ok = False
                else:
                    names.add(seg[1:-1])
            elif "*" in seg:
                self.add(path, f"`{seg}` in `{raw}`: `*` and `**` must be whole segments")
                ok = False
        return ("/" + "/".join(segments)) if ok else None

    def when(self, path: tuple, api: Any) -> When | None:
        value = self.get(path, MISSING)
        if value is MISSING or not self.clean(path):
            return None
        line = self.line_of(path)
        methods: frozenset[str] | None = None
        pattern: str | None = None
        method_path = path_path = path
        query = headers = body = None
        if_expr = None
        ok = True
        if isinstance(value, str):
            source = value.strip()
            words = source.split()
            if len(words) == 1:
                raw = words[0]
                if raw.upper() in (*METHODS, "ANY") and not raw.startswith("/"):
                    self.add(
                        path,
                        f"`when: {source}` needs a path; write `{raw.upper()} /version`,"
                        f" or `{raw.upper()} /**` for every path",
                    )
                    return None
                method_word = None
            else:
                method_word, raw = words[0], words[1]
            if method_word is not None:
                upper = method_word.upper()
                if upper not in (*METHODS, "ANY"):
                    self.add(
                        path, f"`{method_word}` is not a method of the Proxmox API; use GET, POST, PUT, DELETE or ANY"
                    )
                    ok = False
                elif upper != "ANY":
                    methods = frozenset({upper})
            pattern = self.pattern(path, raw)
        else:
            method_path, path_path = path + ("method",), path + ("path",)
            m = value.get("method")
            if m is not None:
                names = [m] if isinstance(m, str) else list(m)
                upper = {n.upper() for n in names}
                methods = None if "ANY" in upper else frozenset(upper)
            if "path" in value:
                raw = value["path"]
                pattern = self.pattern(path_path, raw)
                if pattern is None:
                    ok = False
            query = value.get("query")
            if "headers" in value:
                headers = {k.lower(): _header_text(v) for k, v in value["headers"].items()}
            body = value.get("body")
            if "if" in value:
                if_expr = value["if"]
                try:
                    compile_expression(if_expr)
                except JMESPathError as exc:
                    self.add(
                        path + ("if",),
                        f"`if: {clip(if_expr)}` is not a valid JMESPath expression: {jmespath_problem(exc)}",
                    )
                    ok = False
            source = _when_source(methods, pattern, query, headers, body, if_expr)
        if isinstance(value, str) and pattern is None:
            ok = False
        if ok and api is not None and pattern is not None:
            self.check_when_api(api, methods, pattern, path_path, method_path)
            self.check_when_params(api, methods, pattern, path, {"query": query, "body": body})
        return When(
            methods=methods,
            path=pattern,
            query=query,
            headers=headers,
            body=body,
            if_expr=if_expr,
            source=source,
            line=line,
        )

    def check_when_api(
        self, api: Any, methods: frozenset[str] | None, pattern: str, path_path: tuple, method_path: tuple
    ) -> None:
        segments = [s for s in pattern.split("/") if s]
        # Nodes without operations (intermediate paths) answer 501 before any rule runs.
        nodes = [n for n in api.match_template(segments) if n.ops]
        if not nodes:
            self.add(
                path_path,
                missing_from(api, pattern)
                or f"`{pattern}` is not a path of the {self.service_label} API{self.did_you_mean(api, pattern)}",
            )
            return
        if not methods:
            return
        have = sorted({m for n in nodes for m in n.ops}, key=_method_order)
        have_text = ", ".join(have) or "no operations"
        written = self.get(method_path)
        for m in sorted(methods, key=_method_order):
            if m in have:
                continue
            at = method_path
            if isinstance(written, list):  # point at the list item
                at = method_path + (next(i for i, w in enumerate(written) if w.upper() == m),)
            if len(nodes) == 1:
                self.add(
                    at,
                    missing_from(api, pattern, m) or f"{m} is not an operation of {nodes[0].path} (it has {have_text})",
                )
            else:
                self.add(
                    at,
                    f"{m} is not an operation of any of the {len(nodes)} API paths `{pattern}` matches"
                    f" (they have {have_text})",
                )

    def check_when_params(
        self, api: Any, methods: frozenset[str] | None, pattern: str, path: tuple, parts: dict[str, Any]
    ) -> None:
        """A `query`/`body` parameter the API served lacks but another bundled release has
        (matching it could never happen here)."""
        method = next(iter(methods)) if methods and len(methods) == 1 else None
        for part, value in parts.items():
            for name in value if isinstance(value, dict) else ():
                if not api.has(pattern, method, str(name)):
                    note = missing_from(api, pattern, method, str(name))
                    if note:
                        self.add(path + (part, name), note, "key")

    def template(self, path: tuple, value: Any) -> None:
        """Check every `${...}` in the strings of `value` (recursively)."""
        if isinstance(value, str):
            if "${" in value:
                try:
                    split_template(value)
                except TemplateError as exc:
                    self.add(path, str(exc))
        elif isinstance(value, dict):
            for k, v in value.items():
                self.template(path + (k,), v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.template(path + (i,), v)

    def route(self, i: int, api: Any) -> Route | None:
        path = ("routes", i)
        item = self.get(path)
        if not isinstance(item, dict):
            return None
        when = self.when(path + ("when",), api)
        rpath = path + ("respond",)
        spec = self.get(rpath)
        respond = None
        if isinstance(spec, dict):
            if self.clean(rpath + ("data",)):
                self.template(rpath + ("data",), spec.get("data"))
            if isinstance(spec.get("body"), str):
                self.template(rpath + ("body",), spec["body"])
            headers = spec.get("headers") if isinstance(spec.get("headers"), dict) else {}
            headers = {str(k): _header_text(v) for k, v in headers.items()}
            for k in headers:
                self.template(rpath + ("headers", k), headers[k])
            if api is not None and when is not None and "data" in spec and self.clean(rpath + ("data",)):
                self.respond_data(rpath + ("data",), spec["data"], when, api)
            respond = Respond(
                data=spec.get("data", MISSING),
                body=spec.get("body"),
                status=spec.get("status", 200),
                headers=headers,
                delay=self.delay(rpath + ("delay",)),
            )
        return Route(when=when, respond=respond, line=self.line_of(path), index=i)  # type: ignore[arg-type]

    def respond_data(self, path: tuple, data: Any, when: When, api: Any) -> None:
        """Literal `respond.data` held to the returns of the one operation its `when` names, as
        seeds are, but each mismatch a warning: a route may answer on purpose what no node would
        (to try a client against a broken one). `${...}` strings are rendered per request and
        checked then (runtime.py)."""
        found = route_operation(api, when)
        if found is None:
            return  # several operations, several schemas: no one to hold the data to
        node, op = found
        if self.seeds is None:
            self.seeds = SeedChecker(self.doc.get("service", "pve"))
        where = f"{op.method} {node.path} returns schema"
        findings = self.seeds.check(op.returns, data, node.path, where, writable_fields(node.parent, node))
        self.seed_findings(path, findings, warn=True)

    def fault(self, i: int, api: Any) -> Fault | None:
        path = ("faults", i)
        item = self.get(path)
        if not isinstance(item, dict):
            return None
        when = self.when(path + ("when",), api)
        effects = [e for e in EFFECTS if e in item]
        effect = effects[0] if effects else ""
        delay = self.delay(path + ("delay",)) if effect == "delay" else None
        error = None
        if effect == "error" and isinstance(item["error"], dict):
            spec = item["error"]
            error = {"status": spec.get("status", 500), "message": spec.get("message"), "errors": spec.get("errors")}
        garbage_bytes = 0
        if effect == "garbage":
            g = item["garbage"]
            garbage_bytes = g.get("bytes", DEFAULT_GARBAGE_BYTES) if isinstance(g, dict) else DEFAULT_GARBAGE_BYTES
        dribble_seconds, dribble_chunks = 0.0, 0
        if effect == "dribble":
            d = item["dribble"]
            if isinstance(d, dict):
                dribble_seconds = self.duration(path + ("dribble", "duration"), 0.0) or 0.0
                dribble_chunks = d.get("chunks", DEFAULT_DRIBBLE_CHUNKS)
            else:
                dribble_seconds = self.duration(path + ("dribble",), 0.0) or 0.0
                dribble_chunks = DEFAULT_DRIBBLE_CHUNKS
        probability = item.get("probability")
        return Fault(
            when=when,  # type: ignore[arg-type]
            effect=effect,
            delay=delay,
            error=error,
            garbage_bytes=garbage_bytes,
            dribble_seconds=dribble_seconds,
            dribble_chunks=dribble_chunks,
            probability=None if probability is None else float(probability),
            times=item.get("times"),
            after=item.get("after"),
            index=i,
            line=self.line_of(path),
        )

    def task(self, i: int, api: Any) -> TaskRule | None:
        path = ("tasks", i)
        item = self.get(path)
        if not isinstance(item, dict):
            return None
        when = self.when(path + ("when",), api)
        log: list[tuple[float, str]] = []
        at = 0.0
        lines = item.get("log") if isinstance(item.get("log"), list) else []
        for j, entry in enumerate(lines):
            lpath = path + ("log", j)
            if isinstance(entry, str):
                self.template(lpath, entry)
                log.append((at, entry))
            elif isinstance(entry, dict) and isinstance(entry.get("line"), str):
                if "at" in entry:
                    got = self.duration(lpath + ("at",))
                    at = at if got is None else got
                self.template(lpath + ("line",), entry["line"])
                log.append((at, entry["line"]))
        log.sort(key=lambda pair: pair[0])
        return TaskRule(
            when=when,  # type: ignore[arg-type]
            duration=self.duration(path + ("duration",)),
            log=tuple(log),
            exitstatus=item.get("exitstatus", "OK"),
            type=item.get("type"),
            line=self.line_of(path),
            index=i,
        )

    def expect(self, i: int, api: Any) -> Expect | None:
        path = ("expect", i)
        item = self.get(path)
        if not isinstance(item, dict):
            return None
        when = self.when(path + ("when",), api)
        lo: int = 1
        hi: int | None = None
        if "count" in item:
            lo = hi = item["count"]
        elif item.get("never") is True:
            lo, hi = 0, 0
        elif "min" in item or "max" in item:
            lo = item.get("min", 0)
            hi = item.get("max")
            if isinstance(lo, int) and isinstance(hi, int) and hi < lo and self.clean(path):
                self.add(path + ("max",), f"`max: {hi}` is less than `min: {lo}`")
        return Expect(
            when=when,  # type: ignore[arg-type]
            description=item.get("description"),
            min=lo,
            max=hi,
            line=self.line_of(path),
            index=i,
        )

    def limits(self) -> Limits:
        spec = self.doc.get("limits")
        if not isinstance(spec, dict):
            return Limits()
        values = {k: v for k, v in spec.items() if k in Limits.__dataclass_fields__}
        d = Limits()
        # durations, written as `2s` or seconds; a zero cache lifetime asks the remote every time
        values["remote_cache"] = self.duration(("limits", "remote_cache"), d.remote_cache) or 0.0
        values["remote_timeout"] = self.duration(("limits", "remote_timeout"), d.remote_timeout) or d.remote_timeout
        values["client_timeout"] = self.duration(("limits", "client_timeout"), d.client_timeout) or d.client_timeout
        return Limits(**values)


def _header_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _when_source(
    methods: frozenset[str] | None, pattern: str | None, query: Any, headers: Any, body: Any, if_expr: str | None
) -> str:
    words = []
    if methods:
        words.append("|".join(sorted(methods, key=_method_order)))
    words.append(pattern or "/**")
    if query:
        words.append("query " + flow(query))
    if headers:
        words.append("headers " + flow(headers))
    if body:
        words.append("body " + flow(body))
    if if_expr:
        words.append("if " + if_expr)
    return " ".join(words)


# --- entry points -----------------------------------------------------------------------------


def _compile_text(text: str, file: str, base_dir: Path, api: str | None = None, warnings: bool = False) -> Scenario:
    with gc_paused():
        return _compile(text, file, base_dir, api, warnings)


def _compile(text: str, file: str, base_dir: Path, api: str | None, warnings: bool) -> Scenario:
    """The fast reading when it is sure and the file is valid, else the exact one; `warnings`:
    every warning placed too (a memo holds none: its load skipped the seed checks)."""
    # This exact text loaded clean before: no parsing, no schema. A memo says the text passed the
    # default file bounds; under other bounds (`--max-yaml-nodes` ...) the text is judged afresh.
    usable = filelimits.current() == filelimits.DEFAULTS and not warnings
    memo = cache.recall(text, api) if usable else None
    fast = FileCompiler(file, text, base_dir, api, warnings)
    result = fast.compile_remembered(memo) if memo is not None else fast.compile_fast()
    if result is not None:
        return result
    if (refused := filelimits.refusal(text)) is not None:  # hostile files stop before ruamel.yaml
        raise ScenarioInvalid([Diagnostic(file, *refused)])
    c = FileCompiler(file, text, base_dir, api)
    if c.parse():
        c.validate()
        result = c.build()
        if result is not None and not c.diags:
            return result
    diags = sorted(set(c.diags), key=lambda d: (d.line, d.column, d.message))
    raise ScenarioInvalid(diags)


def parse_scenario(text: str, file: str | Path = "<string>", api: str | None = None) -> Scenario:
    """Compile scenario YAML text; `file` names it in diagnostics and anchors relative paths;
    `api` (a release such as "8.4") overrides the text's `api` pin."""
    base = Path(file).parent if str(file) != "<string>" else Path.cwd()
    return _compile_text(text, str(file), base, api)


def load_scenario(path: str | Path, api: str | None = None, warnings: bool = False) -> Scenario:
    """Load, validate and compile a scenario file. Raises ScenarioInvalid with every problem.
    `api` (a release such as "8.4") overrides the file's `api` pin; with `warnings`, the
    scenario's `warnings` are found and placed (slower: `scenariod check`)."""
    name = str(path)
    try:
        raw = filelimits.read_bytes(path)
    except filelimits.Refused as exc:
        raise ScenarioInvalid([Diagnostic(name, exc.line, exc.column, exc.message)]) from None
    except OSError as exc:
        raise ScenarioInvalid([Diagnostic(name, 0, 0, f"cannot read the file: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioInvalid([Diagnostic(name, line, col, "the file is not UTF-8 text")]) from None
    return _compile_text(text, name, Path(path).parent, api, warnings)


def check_files(paths: Iterable[str | Path], api: str | None = None, warnings: bool = False) -> list[Diagnostic]:
    """Every problem in every file, in order (an empty list when all files are valid); with
    `warnings`, each valid file's warnings too (`scenariod check` shows them)."""
    out: list[Diagnostic] = []
    for p in paths:
        try:
            scenario = load_scenario(p, api, warnings)
            if warnings:
                out.extend(scenario.warnings)
        except ScenarioInvalid as exc:
            out.extend(exc.diagnostics)
    return out
