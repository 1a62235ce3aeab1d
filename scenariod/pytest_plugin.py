"""pytest plugin: a scenariod server for the test run, and a fresh session for every test.

Installed with scenariod (entry point `pytest11`), so it is active wherever scenariod is
installed; it does nothing until a test asks for one of its fixtures.

Configuration (command line, else ini):

    --scenariod-scenario PATH   scenariod_scenario = PATH   the scenario to serve
    --scenariod-mode MODE       scenariod_mode = MODE       inprocess (default) | subprocess
    --scenariod-http            scenariod_http = true       plain HTTP instead of HTTPS
    --scenariod-url URL         scenariod_url = URL         use a running instance instead
    --scenariod-cacert CA       scenariod_cacert = CA       its CA file (with --scenariod-url)
    --scenariod-token TOKEN     scenariod_token = TOKEN     its control token (with --scenariod-url)

and `@pytest.mark.scenariod("path/to/scenario.yaml")` on a test, class or module (a relative
path is taken from the test file's directory) to serve another scenario for those tests.

Fixtures:

- `scenariod_server` (session scope): the server of the configured scenario: `url`,
  `ca_file`, `scenario`, `control` (a `verify.ControlClient`). Each pytest-xdist worker
  starts its own server on a free port.
- `scenariod` (function scope): a `ScenariodSession`, the test's own World on that server
  (state, journal, tasks, fault counters seeded afresh, discarded after the test): `api_url`,
  `path_prefix`, credentials, `proxmoxer()`, `client()`, `journal()`, `verify()`,
  `assert_called()`, `assert_expectations()`, `state()` and friends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .scenario.model import Scenario
    from .verify import ControlClient

MODES = ("inprocess", "subprocess")
START_TIMEOUT = 60.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("scenariod", "scenariod mock Proxmox server")
    group.addoption(
        "--scenariod-scenario",
        dest="scenariod_scenario",
        metavar="PATH",
        help="scenario file served to the `scenariod` fixture (ini: scenariod_scenario)",
    )
    group.addoption(
        "--scenariod-mode",
        dest="scenariod_mode",
        choices=MODES,
        help="run the server in this process (inprocess, default) or as `scenariod run` (subprocess)",
    )
    group.addoption(
        "--scenariod-api",
        dest="scenariod_api",
        metavar="RELEASE",
        help="serve this bundled Proxmox release, e.g. 8.4, whatever the scenario pins (ini: scenariod_api)",
    )
    group.addoption(
        "--scenariod-http",
        dest="scenariod_http",
        action="store_true",
        default=None,
        help="serve plain HTTP instead of HTTPS (proxmoxer needs HTTPS)",
    )
    group.addoption(
        "--scenariod-url",
        dest="scenariod_url",
        metavar="URL",
        help="use a scenariod instance already running at URL instead of starting one",
    )
    group.addoption(
        "--scenariod-cacert",
        dest="scenariod_cacert",
        metavar="CA",
        help="CA file of the instance given with --scenariod-url",
    )
    group.addoption(
        "--scenariod-token",
        dest="scenariod_token",
        metavar="TOKEN",
        help="control token of the instance given with --scenariod-url",
    )
    parser.addini("scenariod_scenario", "scenario file served to the `scenariod` fixture (relative to the ini file)")
    parser.addini("scenariod_mode", "inprocess (default) or subprocess", default="inprocess")
    parser.addini("scenariod_api", "serve this bundled Proxmox release (overrides the scenario's `api`)")
    parser.addini("scenariod_http", "serve plain HTTP instead of HTTPS", type="bool", default=False)
    parser.addini("scenariod_url", "use a scenariod instance already running at this URL")
    parser.addini("scenariod_cacert", "CA file of the instance given with scenariod_url")
    parser.addini("scenariod_token", "control token of the instance given with scenariod_url")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "scenariod(path): serve this scenario file to the `scenariod` fixture (relative to the test file)",
    )


# --- servers ----------------------------------------------------------------------------------------


class ScenariodServer:
    """A running scenariod instance: where it is, how to trust it, and what it serves."""

    url: str
    ca_file: str | None
    scenario: Scenario
    control_token: str | None = None
    mode: str = ""
    log_file: Path | None = None

    @property
    def control(self) -> ControlClient:
        from .verify import ControlClient

        return ControlClient(self.url, cafile=self.ca_file, token=self.control_token)

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1].rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/", 1)[0])

    @property
    def tls(self) -> bool:
        return self.url.startswith("https:")

    def stop(self) -> None:  # pragma: no cover - overridden
        pass

    def __repr__(self) -> str:
        return f"<scenariod {self.scenario.name} at {self.url} ({self.mode})>"


@contextlib.contextmanager
def certificate_lock(tls: bool) -> Iterator[None]:
    """Serialize the first start of TLS servers across processes (xdist workers): the
    certificate is made once in the shared cache directory, not by several at a time."""
    if not tls:
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    from .cache import cache_dir

    with open(cache_dir() / ".pytest-plugin.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class InProcessServer(ScenariodServer):
    """A Service on a background thread with its own event loop."""

    mode = "inprocess"

    def __init__(self, path: Path, http: bool, api: str | None = None) -> None:
        from .scenario import load_scenario
        from .server import Service

        self.scenario = load_scenario(path, api)
        self.control_token = self.scenario.auth.control_token
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        holder: dict[str, Any] = {}

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            service = Service(self.scenario, host="127.0.0.1", port=0, tls=False if http else None)
            try:
                self.loop.run_until_complete(service.start())
            except BaseException as exc:  # noqa: BLE001 - surfaced to the test below
                holder["error"] = exc
                ready.set()
                return
            holder["service"] = service
            ready.set()
            self.loop.run_forever()
            self.loop.close()

        self.thread = threading.Thread(target=run, name=f"scenariod {self.scenario.name}", daemon=True)
        with certificate_lock(not http and self.scenario.listen.tls):
            self.thread.start()
            if not ready.wait(START_TIMEOUT):
                raise RuntimeError(f"scenariod: {path} did not start within {START_TIMEOUT:.0f}s")
        if "error" in holder:
            raise holder["error"]
        self.service = holder["service"]
        self.url = self.service.url
        self.ca_file = self.service.ca_file

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


_SERVING = re.compile(r"\bat (https?://\S+?)/api2/json(?:\s+\(CA: (.+?)\))?\s*$")


class SubprocessServer(ScenariodServer):
    """`scenariod run FILE --port 0` in a child process; its log goes to a file."""

    mode = "subprocess"
    log_file: Path

    def __init__(self, path: Path, http: bool, log_dir: Path, api: str | None = None) -> None:
        from .scenario import load_scenario

        self.scenario = load_scenario(path, api)
        self.control_token = self.scenario.auth.control_token
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_file = log_dir / f"scenariod-{path.stem}-{os.getpid()}-{next(_counter)}.log"
        cmd = [
            sys.executable,
            "-m",
            "scenariod",
            "run",
            str(path),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-tui",
            "--no-reload",
        ]
        if http:
            cmd.append("--http")
        if api is not None:
            cmd += ["--api", api]
        self._log = open(self.log_file, "w+b")  # noqa: SIM115 - kept open for the child's life
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}
        with certificate_lock(not http and self.scenario.listen.tls):
            self.process = subprocess.Popen(
                cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
            self._wait_until_serving(path)

    def _wait_until_serving(self, path: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            text = self.log_file.read_text("utf-8", "replace")
            for line in text.splitlines():
                m = _SERVING.search(line)
                if m:
                    self.url, self.ca_file = m.group(1), m.group(2)
                    return
            if self.process.poll() is not None:
                raise RuntimeError(f"scenariod run {path} exited with {self.process.returncode}:\n{text}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"scenariod run {path} did not start within {START_TIMEOUT:.0f}s:\n{text}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


class ExternalServer(ScenariodServer):
    """An instance someone else runs (`--scenariod-url`): what it serves is asked of it."""

    mode = "external"

    def __init__(self, url: str, ca_file: str | None, token: str | None) -> None:
        from .scenario import parse_scenario
        from .verify import ControlClient

        self.url = ControlClient(url).base
        self.ca_file = ca_file
        self.control_token = token
        status, info = self.control.request("GET", "scenario")
        if status != 200 or not isinstance(info, dict):
            raise RuntimeError(f"scenariod at {url}: GET /_scenariod/scenario answered {status}: {info}")
        self.scenario = parse_scenario(info["text"], info.get("file") or "<remote>")

    def stop(self) -> None:
        pass


_counter = itertools.count(1)


class ServerPool:
    """The servers of one pytest process (one per xdist worker), started on first use."""

    def __init__(self, config: pytest.Config, log_dir: Path) -> None:
        self.config = config
        self.log_dir = log_dir
        self.servers: dict[Any, ScenariodServer] = {}
        self.failures: dict[Any, str] = {}

    def option(self, name: str) -> Any:
        value = self.config.getoption(name, None)
        if value is None:
            value = self.config.getini(name)
        return value if value not in ("", []) else None

    def default_path(self) -> Path | None:
        cli = self.config.getoption("scenariod_scenario", None)
        if cli:
            return (Path(self.config.invocation_params.dir) / cli).resolve()
        ini = self.config.getini("scenariod_scenario")
        if ini:
            base = Path(self.config.inipath).parent if self.config.inipath else Path(self.config.rootpath)
            return (base / ini).resolve()
        return None

    def get(self, path: Path | None = None) -> ScenariodServer:
        url = self.option("scenariod_url")
        if url and path is None:
            key: Any = ("url", url)
        else:
            path = path or self.default_path()
            if path is None:
                pytest.fail(
                    "scenariod: no scenario to serve; give --scenariod-scenario PATH, the ini option "
                    "scenariod_scenario, or @pytest.mark.scenariod(PATH)",
                    pytrace=False,
                )
            key = ("file", str(path))
        if key in self.failures:
            pytest.fail(self.failures[key], pytrace=False)
        server = self.servers.get(key)
        if server is None:
            try:
                server = self._start(key)
            except Exception as exc:  # noqa: BLE001 - reported once per test that needs it
                self.failures[key] = f"scenariod could not start {key[1]}:\n{exc}"
                pytest.fail(self.failures[key], pytrace=False)
            self.servers[key] = server
        return server

    def _start(self, key: tuple[str, str]) -> ScenariodServer:
        kind, where = key
        if kind == "url":
            return ExternalServer(where, self.option("scenariod_cacert"), self.option("scenariod_token"))
        path = Path(where)
        if not path.is_file():
            raise FileNotFoundError(f"no scenario file {path}")
        http = bool(self.option("scenariod_http"))
        mode = self.option("scenariod_mode") or "inprocess"
        if mode not in MODES:
            raise ValueError(f"scenariod_mode = {mode}: use one of {', '.join(MODES)}")
        api = self.option("scenariod_api")
        if mode == "subprocess":
            return SubprocessServer(path, http, self.log_dir, api)
        return InProcessServer(path, http, api)

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()


# --- sessions ---------------------------------------------------------------------------------------


class Verification(dict):
    """A verification answer (the control API's JSON), true when the expectation is met."""

    @property
    def ok(self) -> bool:
        return bool(self.get("ok"))

    @property
    def count(self) -> int:
        return int(self.get("got", 0))

    @property
    def report(self) -> str:
        from .verify import format_report

        return format_report(self)

    def __bool__(self) -> bool:
        return self.ok


class ScenariodSession:
    """A test's own World on a scenariod server, and helpers to drive and check it."""

    def __init__(self, server: ScenariodServer, session: str) -> None:
        from . import wire

        self.server = server
        self.session = self.id = session
        self.url = server.url
        self.path_prefix = f"_session/{session}"
        self.api_url = f"{server.url}/{self.path_prefix}/api2/json"
        self.ca_file = server.ca_file
        self.host = server.host
        self.port = server.port
        self.scenario = server.scenario
        self.service = server.scenario.service
        self.headers = {"X-Scenariod-Session": session}
        auth = server.scenario.auth
        user = next((u for u in auth.users if u.get("password") is not None), None)
        self.user: str | None = user["userid"] if user else ("root@pam" if auth.mode != "enforce" else None)
        self.password: str | None = str(user["password"]) if user else ("scenariod" if auth.mode != "enforce" else None)
        token = auth.tokens[0] if auth.tokens else None
        self.token_id: str | None = token["tokenid"] if token else None
        self.token_secret: str | None = str(token["secret"]) if token else None
        self.token_header: str | None = None
        if token:
            scheme, sep = wire.TOKEN_SCHEMES[self.service]
            self.token_header = f"{scheme}={self.token_id}{sep}{self.token_secret}"
        self.control = self._control()
        self._closers: list[Any] = []

    def _control(self) -> ControlClient:
        from .verify import ControlClient

        return ControlClient(
            self.server.url, cafile=self.ca_file, token=self.server.control_token, session=self.session
        )

    @property
    def verify_tls(self) -> str | bool:
        """What to give an HTTP client's `verify`: the CA file, or True."""
        return self.ca_file or True

    @property
    def credentials(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "password": self.password,
            "token_id": self.token_id,
            "token_secret": self.token_secret,
        }

    # clients

    def proxmoxer(
        self,
        user: str | None = None,
        password: str | None = None,
        *,
        token: bool | str | None = None,
        token_secret: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """A proxmoxer.ProxmoxAPI bound to this session (password login by default; `token=True`
        uses the scenario's first API token, `token="user@realm!name"` another one)."""
        try:
            from proxmoxer import ProxmoxAPI
        except ImportError:  # pragma: no cover - depends on the environment
            pytest.skip("proxmoxer is not installed")
        if not self.server.tls:
            raise RuntimeError("proxmoxer talks HTTPS only; do not run scenariod with --scenariod-http for it")
        options: dict[str, Any] = {
            "port": self.port,
            "verify_ssl": self.ca_file or True,
            "path_prefix": self.path_prefix,
            "service": self.service.upper(),
            "timeout": 30,
        }
        if token is not None and token is not False and user is None and password is None:
            tokenid = self.token_id if token is True else str(token)
            secret = token_secret if token_secret is not None else self.token_secret
            if not tokenid or secret is None:
                raise ValueError("the scenario declares no API token; pass token='user@realm!name' and token_secret=")
            userid, _, name = tokenid.partition("!")
            options.update(user=userid, token_name=name, token_value=secret)
        else:
            options.update(user=user or self.user, password=password if password is not None else self.password)
        options.update(kwargs)
        return ProxmoxAPI(self.host, **options)

    def client(self, **kwargs: Any) -> Any:
        """An httpx.Client on this session's /api2/json, authenticated with the scenario's
        API token when it declares one (close it, or let the fixture do it)."""
        import httpx

        headers = dict(kwargs.pop("headers", {}) or {})
        if self.token_header and "authorization" not in {k.lower() for k in headers}:
            headers["Authorization"] = self.token_header
        verify: Any = kwargs.pop("verify", None)
        if verify is None:
            verify = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True
        client = httpx.Client(
            base_url=self.api_url, verify=verify, headers=headers, timeout=kwargs.pop("timeout", 30), **kwargs
        )
        self._closers.append(client.close)
        return client

    # journal and verification

    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        ok: tuple[int, ...] = (200,),
    ) -> Any:
        status, answer = self.control.request(method, path, params, body)
        if status not in ok:
            message = answer.get("error") if isinstance(answer, dict) else answer
            raise AssertionError(f"scenariod: {method} /_scenariod/{path} answered {status}: {message}")
        return answer

    def journal(
        self,
        method: str | None = None,
        path: str | None = None,
        status: str | int | None = None,
        since: int | float | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """This session's requests, oldest first (filters as GET /_scenariod/journal)."""
        params = {"method": method, "path": path, "status": status, "since": since, "limit": limit}
        return self._call("GET", "journal", params)["entries"]

    def clear_journal(self) -> int:
        return self._call("DELETE", "journal")["cleared"]

    def verify(
        self,
        when: Any,
        count: int | None = None,
        *,
        min: int | None = None,  # noqa: A002
        max: int | None = None,
        never: bool | None = None,
    ) -> Verification:  # noqa: A002
        """How many of this session's requests match `when` (a "METHOD PATH" string or a
        mapping, as in a scenario); true when the count is as wanted (default: at least once)."""
        body: dict[str, Any] = {"when": when}
        for key, value in (("count", count), ("min", min), ("max", max), ("never", never)):
            if value is not None:
                body[key] = value
        return Verification(self._call("POST", "verify", body=body, ok=(200, 409)))

    def assert_called(
        self,
        when: Any,
        count: int | None = None,
        *,
        min: int | None = None,  # noqa: A002
        max: int | None = None,
    ) -> Verification:  # noqa: A002
        result = self.verify(when, count, min=min, max=max)
        if not result.ok:
            raise AssertionError("scenariod: expected request not made\n" + result.report)
        return result

    def assert_not_called(self, when: Any) -> Verification:
        result = self.verify(when, never=True)
        if not result.ok:
            raise AssertionError("scenariod: unexpected request made\n" + result.report)
        return result

    def expectations(self) -> Verification:
        """The scenario's `expect` section against this session's journal."""
        return Verification(self._call("GET", "verify", ok=(200, 409)))

    def assert_expectations(self) -> Verification:
        result = self.expectations()
        if not result.ok:
            raise AssertionError("scenariod: the scenario's expectations are not met\n" + result.report)
        return result

    # state

    def state(self, path: str | None = None) -> Any:
        """The stored value at an API path (a collection: its items); every path without one."""
        if path is None:
            return self._call("GET", "state")["paths"]
        return self._call("GET", "state", {"path": path})["value"]

    def set_state(self, path: str, value: Any) -> Any:
        return self._call("PUT", "state", {"path": path}, value)["value"]

    def patch_state(self, path: str, value: Any) -> Any:
        return self._call("PATCH", "state", {"path": path}, value)["value"]

    def delete_state(self, path: str) -> None:
        self._call("DELETE", "state", {"path": path})

    def reset(self) -> None:
        """Back to the seed (state, journal, tasks) for this session."""
        self._call("POST", "reset")

    def close(self) -> None:
        for closer in self._closers:
            try:
                closer()
            except Exception:  # noqa: BLE001,S110
                pass
        try:
            self.control.request("DELETE", f"sessions/{self.session}", session=False)
        except Exception:  # noqa: BLE001,S110 - the server may be gone already
            pass

    def __repr__(self) -> str:
        return f"<scenariod session {self.session} at {self.api_url}>"


_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def session_id(nodename: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    slug = _SLUG.sub("-", nodename).strip("-") or "test"
    return f"{worker}-{next(_counter)}-{slug}"[:128]


def _marker_path(request: pytest.FixtureRequest) -> Path | None:
    marker = request.node.get_closest_marker("scenariod")
    if marker is None:
        return None
    raw = marker.args[0] if marker.args else marker.kwargs.get("path")
    if not raw:
        raise pytest.UsageError("@pytest.mark.scenariod needs the scenario's path: @pytest.mark.scenariod('x.yaml')")
    path = Path(raw)
    if not path.is_absolute():
        here = Path(str(request.node.path)).parent
        candidate = here / path
        path = candidate if candidate.exists() else Path(request.config.rootpath) / path
    return path.resolve()


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def scenariod_pool(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    """Every scenariod server this pytest process started (stopped at the end of the run)."""
    pool = ServerPool(request.config, tmp_path_factory.mktemp("scenariod"))
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def scenariod_server(scenariod_pool: ServerPool) -> ScenariodServer:
    """The server of the configured scenario (--scenariod-scenario / scenariod_scenario)."""
    return scenariod_pool.get(None)


@pytest.fixture
def scenariod(request: pytest.FixtureRequest, scenariod_pool: ServerPool) -> Iterator[ScenariodSession]:
    """A fresh session (its own World) on the scenario's server, discarded after the test."""
    server = scenariod_pool.get(_marker_path(request))
    session = ScenariodSession(server, session_id(request.node.name))
    yield session
    session.close()
