"""Verification: how many journal entries match a `when`, and the nearest misses when too few do.

Used by the control API (`POST/GET /_scenariod/verify`). `format_report` turns its JSON
answers into the readable text that `scenariod verify` prints and the pytest plugin puts in
assertion messages; it needs nothing but the JSON, so clients can use it too.

A check (one expectation) answers, as JSON:

    {"description": str | None, "when": "GET /version", "wanted": "at least 1",
     "min": 1, "max": null, "got": 0, "ok": false,
     "requests": [entry, ...],          # the matching requests (the last MAX_SHOWN)
     "closest": [entry + {"differences": ["method POST != GET", ...]}, ...]}

`closest` is given when fewer requests matched than wanted: the journal entries nearest to
the `when` by method, path, query, headers, body and `if`, each with what differed, written
`FIELD REQUEST-VALUE != WANTED-VALUE` or `FIELD missing`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .matching import Matcher
from .redact import masked_headers
from .request import Request

if TYPE_CHECKING:
    import jmespath

    from .journal import Entry
    from .scenario.model import When

MAX_SHOWN = 10  # matching requests listed per check
CLOSEST = 3  # nearest misses listed per failed check


def wanted_text(lo: int, hi: int | None) -> str:
    if hi is None:
        return f"at least {lo}" if lo != 1 else "at least once"
    if lo == hi == 0:
        return "never"
    if lo == hi:
        return "exactly once" if lo == 1 else f"exactly {lo}"
    if lo == 0:
        return f"at most {hi}"
    return f"between {lo} and {hi}"


def entry_json(entry: Entry, headers: bool = True) -> dict[str, Any]:
    """A journal entry as the control API shows it (secrets masked: `redact`)."""
    out = entry.as_dict()
    out["format"] = entry.fmt
    if headers:
        out["headers"] = masked_headers(entry.headers)
    return out


def to_request(entry: Entry, api: Any, options: jmespath.Options) -> Request:
    """The Request a rule would have seen for a journal entry (path parameters re-resolved)."""
    segments = [s for s in entry.path.split("/") if s]
    resolved = api.resolve_segments(segments) if api is not None else None
    params = dict(resolved[1]) if resolved else {}
    return Request(
        entry.method, entry.path, segments, params, entry.query, entry.body, entry.headers, options, entry.user
    )


def matches(matcher: Matcher, req: Request) -> bool:
    try:
        return matcher.match(req) is not None
    except Exception:  # noqa: BLE001 - an `if` that fails on this request does not match it
        return False


def check(
    when: When,
    lo: int,
    hi: int | None,
    entries: Iterable[Entry],
    api: Any,
    options: jmespath.Options,
    description: str | None = None,
    closest: int = CLOSEST,
) -> dict[str, Any]:
    """One expectation against journal entries (oldest first)."""
    matcher = Matcher(when)
    hits: list[Entry] = []
    misses: list[tuple[Entry, Request]] = []
    for entry in entries:
        req = to_request(entry, api, options)
        if matches(matcher, req):
            hits.append(entry)
        else:
            misses.append((entry, req))
    got = len(hits)
    ok = got >= lo and (hi is None or got <= hi)
    out: dict[str, Any] = {
        "description": description,
        "when": when.source,
        "wanted": wanted_text(lo, hi),
        "min": lo,
        "max": hi,
        "got": got,
        "ok": ok,
        "requests": [entry_json(e, headers=False) for e in hits[-MAX_SHOWN:]],
    }
    if got < lo and closest > 0:
        scored = []
        for order, (entry, req) in enumerate(misses):
            score, diffs = differences(matcher, req)
            scored.append((score, -order, entry, diffs))
        scored.sort(key=lambda t: (t[0], t[1]))
        out["closest"] = [{**entry_json(e, headers=False), "differences": diffs} for _, _, e, diffs in scored[:closest]]
    else:
        out["closest"] = []
    return out


# --- nearest misses -----------------------------------------------------------------------------


def differences(matcher: Matcher, req: Request) -> tuple[float, list[str]]:
    """(distance, what differed) between a `when` and a request that it does not match."""
    diffs: list[str] = []
    score = 0.0
    if matcher.methods is not None and req.method not in matcher.methods:
        diffs.append(f"method {req.method} != {'|'.join(sorted(matcher.methods))}")
        score += 1.0
    if matcher.pattern is not None:
        sim = path_similarity(matcher.pattern, req.segments)
        if sim < 1.0:
            wanted = "/" + "/".join(matcher.pattern)
            diffs.append(f"path {req.path} != {wanted}")
            ratio = difflib.SequenceMatcher(None, req.path, wanted).ratio()
            score += 2.0 * (1.0 - sim) + 0.5 * (1.0 - ratio) + 0.25
    for section, wanted_map, got_map in (
        ("query", matcher.query, req.query),
        ("headers", matcher.headers, req.headers),
        ("body", matcher.body, req.body),
    ):
        for key, want in (wanted_map or {}).items():
            if key not in got_map:
                diffs.append(f"{section}.{key} missing")
                score += 0.5
            else:
                got = got_map[key]
                if got != want and _text(got) != _text(want):
                    diffs.append(f"{section}.{key} {_show(got)} != {_show(want)}")
                    score += 0.4
    if matcher.expr is not None:
        try:
            truthy = bool(req.search(matcher.expr))
            problem = None if truthy else f"if `{matcher.when.if_expr}` is false"
        except Exception as exc:  # noqa: BLE001
            problem = f"if `{matcher.when.if_expr}` failed: {exc}"
        if problem:
            diffs.append(problem)
            score += 0.5
    if not diffs:  # matched after all (the journal changed, or state() did)
        diffs.append("matches now")
    return score, diffs


def path_similarity(pattern: Sequence[str], segments: Sequence[str]) -> float:
    """1.0 when the segments match the pattern; less the fewer aligned segments match."""
    rest = bool(pattern) and pattern[-1] == "**"
    fixed = pattern[:-1] if rest else pattern
    same = 0
    for pat, seg in zip(fixed, segments, strict=False):
        if pat == "*" or (pat.startswith("{") and pat.endswith("}")) or pat == seg:
            same += 1
    total = len(fixed) if rest else max(len(fixed), len(segments))
    if total == 0:
        return 1.0
    return same / total


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else json.dumps(value)
    return json.dumps(value, default=str)


# --- the readable report --------------------------------------------------------------------------


def _request_line(e: Mapping[str, Any]) -> str:
    query = e.get("query") or {}
    qs = ("?" + "&".join(f"{k}={v}" for k, v in query.items())) if query else ""
    body = e.get("body") or {}
    body_text = f"  body {json.dumps(body, default=str)}" if body else ""
    if len(body_text) > 100:
        body_text = body_text[:99] + "…"
    session = f"  [session {e['session']}]" if e.get("session") else ""
    return f"#{e.get('id')} {e.get('method')} {e.get('path')}{qs} -> {e.get('status')}{body_text}{session}"


def check_lines(c: Mapping[str, Any], where: str | None = None, marks: tuple[str, str] = ("✔", "✘")) -> list[str]:
    mark = marks[0] if c.get("ok") else marks[1]
    label = c.get("when", "")
    if c.get("description"):
        label = f"{c['description']} ({label})"
    prefix = f"{where}: " if where else ""
    lines = [f"{mark} {prefix}{label}: wanted {c.get('wanted')}, got {c.get('got')}"]
    if c.get("ok"):
        return lines
    hi = c.get("max")
    if hi is not None and c.get("got", 0) > hi:
        lines.append("    matching requests:")
        lines.extend(f"      {_request_line(e)}" for e in c.get("requests") or [])
    closest = c.get("closest") or []
    if closest:
        lines.append("    closest requests:")
        for e in closest:
            lines.append(f"      {_request_line(e)}")
            lines.extend(f"          {d}" for d in e.get("differences") or [])
    elif c.get("got", 0) < c.get("min", 0):
        lines.append("    no requests in the journal to compare with")
    return lines


def format_report(
    report: Mapping[str, Any], wheres: Sequence[str | None] | None = None, marks: tuple[str, str] = ("✔", "✘")
) -> str:
    """Readable text for a report (`{"ok", "expectations": [...]}`) or one check."""
    if "expectations" not in report:
        return "\n".join(check_lines(report, marks=marks))
    checks = report.get("expectations") or []
    lines: list[str] = []
    for i, c in enumerate(checks):
        where = wheres[i] if wheres and i < len(wheres) else None
        lines.extend(check_lines(c, where, marks))
    failed = sum(1 for c in checks if not c.get("ok"))
    if not checks:
        lines.append("no expectations to check (the scenario has no `expect` section)")
    elif failed:
        lines.append(f"{failed} of {len(checks)} expectation(s) failed")
    else:
        lines.append(f"all {len(checks)} expectation(s) met")
    return "\n".join(lines)


# --- the client side: `scenariod verify`, the pytest plugin -------------------------------------


class ControlClientError(Exception):
    """A control API request that could not be made or was refused."""


class ControlClient:
    """A small stdlib client for a scenariod instance's control API.

    `url` is the instance's base URL; a trailing `/api2/json` is ignored, and a trailing
    `/_session/ID` (or `session=`) selects that session's World.
    """

    def __init__(
        self,
        url: str,
        *,
        cafile: str | None = None,
        insecure: bool = False,
        token: str | None = None,
        session: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        import ssl

        base = url.rstrip("/")
        for suffix in ("/api2/json", "/api2/extjs", "/api2"):
            if base.endswith(suffix):
                base = base[: -len(suffix)]
        marker = base.rfind("/_session/")
        if marker >= 0:
            session = session or base[marker + len("/_session/") :].strip("/") or None
            base = base[:marker]
        self.base = base
        self.session = session
        self.token = token
        self.timeout = timeout
        self.context: ssl.SSLContext | None = None
        if base.startswith("https:"):
            if insecure:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            elif cafile:
                ctx = ssl.create_default_context(cafile=cafile)
            else:  # the system's CAs, plus scenariod's own CA when this machine made one
                ctx = ssl.create_default_context()
                try:
                    from .cache import cache_dir

                    ca = cache_dir() / "ca.pem"
                    if ca.is_file():
                        ctx.load_verify_locations(cafile=str(ca))
                except (OSError, ssl.SSLError):
                    pass
            self.context = ctx

    def request(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None, session: bool = True
    ) -> tuple[int, Any]:
        """(status, decoded JSON) of `METHOD /_scenariod/PATH`; raises ControlClientError when unreachable."""
        import urllib.error
        import urllib.parse
        import urllib.request

        query = {k: v for k, v in (params or {}).items() if v is not None}
        if session and self.session and "session" not in query:
            query["session"] = self.session
        url = f"{self.base}/_scenariod/{path.lstrip('/')}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as resp:  # noqa: S310
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ControlClientError(f"cannot reach {self.base}: {reason}") from None
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            raise ControlClientError(f"{method} {url}: {status}, not JSON: {raw[:200]!r}") from None

    def verify(self, when: Any = None, expect: list[Any] | None = None, **counts: Any) -> tuple[int, Any]:
        if expect is not None:
            return self.request("POST", "verify", body={"expect": expect})
        if when is None:
            return self.request("GET", "verify")
        return self.request("POST", "verify", body={"when": when, **{k: v for k, v in counts.items() if v is not None}})


def run_verify(
    url: str,
    file: str | None = None,
    *,
    session: str | None = None,
    cafile: str | None = None,
    insecure: bool = False,
    token: str | None = None,
    as_json: bool = False,
    out: Any = None,
    err: Any = None,
) -> int:
    """`scenariod verify URL [FILE]`: 0 when every expectation is met, 1 otherwise."""
    import os
    import sys

    out = out or sys.stdout
    err = err or sys.stderr
    token = token or os.environ.get("SCENARIOD_CONTROL_TOKEN") or None
    client = ControlClient(url, cafile=cafile, insecure=insecure, token=token, session=session)
    wheres: list[str | None] | None = None
    try:
        if file is not None:
            from ruamel.yaml import YAML

            from .scenario import ScenarioInvalid, load_scenario

            try:
                scenario = load_scenario(file)
            except ScenarioInvalid as exc:
                print(exc, file=err)
                return 1
            raw = (YAML(typ="safe").load(scenario.text) or {}).get("expect") or []
            wheres = [f"{file}:{e.line}" for e in scenario.expect]
            status, report = client.verify(expect=raw)
        else:
            status, report = client.verify()
    except ControlClientError as exc:
        print(f"scenariod verify: {exc}", file=err)
        return 1
    if status not in (200, 409) or not isinstance(report, dict) or "expectations" not in report:
        message = report.get("error") if isinstance(report, dict) else report
        print(f"scenariod verify: {client.base} answered {status}: {message}", file=err)
        return 1
    if as_json:
        print(json.dumps(report, indent=2), file=out)
        return 0 if report.get("ok") else 1
    if wheres is None and report.get("file"):
        wheres = [f"{report['file']}:{c.get('line')}" if c.get("line") else None for c in report["expectations"]]
    where = f" (session {report['session']})" if report.get("session") else ""
    print(f"scenariod verify: {report.get('scenario')} at {client.base}{where}", file=out)
    marks = ("✔", "✘") if _can_print("✔✘", out) else ("ok", "FAIL")
    print(format_report(report, wheres, marks), file=out)
    return 0 if report.get("ok") else 1


def _can_print(text: str, stream: Any) -> bool:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
        return True
    except (UnicodeEncodeError, LookupError):
        return False
