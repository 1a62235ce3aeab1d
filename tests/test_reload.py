"""Hot reload over real HTTP: a saved edit is served, a bad one is refused, live state follows.

The servers here watch their files with the real watcher (`scenariod.reload.watch`) and
the files are saved as editors save them: written in place, or written to a temporary file
and renamed over the original.

Run this file as a script to measure save-to-served latency:

    python tests/test_reload.py [RUNS]
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = """\
scenariod: 1
name: reload-test
service: pve
time_scale: 0
auth: {mode: none}
state:
  /nodes:
    - {node: pve1}
  /nodes/pve1/qemu:
    - {vmid: 100, name: NAME100, status: running}
    - {vmid: 101, name: db-01, status: stopped}
  /nodes/pve1/qemu/100/config: {name: NAME100, cores: 2, memory: 2048}
EXTRA
routes:
  - when: GET /version
    respond:
      data: {version: "VERSION", release: "9.1", repoid: "abc"}
  - when: GET /cluster/log
    respond:
      delay: 600ms
      data: [{msg: "VERSION"}]
faults:
  - when: GET /cluster/tasks
    hang: true
"""


def scenario(version: str = "1", name100: str = "web-01", extra: str = "") -> str:
    return SCENARIO.replace("VERSION", version).replace("NAME100", name100).replace("EXTRA\n", extra)


def save_in_place(path: Path, text: str) -> None:
    path.write_text(text)


def save_by_rename(path: Path, text: str) -> None:
    """As vim, VS Code and most editors save: a temporary file renamed over the original."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


SAVES: dict[str, Callable[[Path, str], None]] = {"in-place": save_in_place, "rename": save_by_rename}


def served_version(client: httpx.Client) -> str:
    r = client.get("/version")
    assert r.status_code == 200, r.text
    return r.json()["data"]["version"]


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.002) -> float:
    """Seconds until `predicate()` is truthy; fails the test after `timeout`."""
    start = time.perf_counter()
    while True:
        if predicate():
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {predicate}")
        time.sleep(interval)


def save_and_time(
    client: httpx.Client, path: Path, text: str, version: str, save: Callable[[Path, str], None]
) -> float:
    """Save, then poll until the new version answers: the save-to-served latency."""
    start = time.perf_counter()
    save(path, text)
    wait_for(lambda: served_version(client) == version, timeout=5, interval=0)
    return time.perf_counter() - start


def warm_up(client: httpx.Client, path: Path, version: str) -> None:
    """The first save, repeated until served: the watch is surely set up after it."""
    for _ in range(20):
        save_in_place(path, scenario(version))
        try:
            wait_for(lambda: served_version(client) == version, timeout=1)
            return
        except AssertionError:
            continue
    raise AssertionError("the watcher never picked up a save")


# --- an in-process server with the real watcher ---------------------------------------------------


@pytest.fixture
def watched(serve, tmp_path) -> Iterator[Callable[..., Any]]:
    """watched(text, reset=False) -> Running, its file watched as `scenariod run` watches it."""
    from scenariod.reload import watch

    started: list[tuple[Any, asyncio.Event, Any]] = []

    def _watched(text: str, reset: bool = False) -> Any:
        running = serve(text)
        running.file = tmp_path / "scenario.yaml"
        stop = asyncio.Event()
        future = asyncio.run_coroutine_threadsafe(watch([running.service], reset=reset, stop_event=stop), running.loop)
        running.call(lambda: asyncio.sleep(0.05))  # the watch task has started: inotify is set up
        started.append((running, stop, future))
        for _ in range(20):  # the first save, repeated until reloaded: the watch is surely set up
            save_in_place(running.file, text)
            try:
                wait_for(lambda: running.service.reloads > 0, timeout=1)
                break
            except AssertionError:
                continue
        return running

    yield _watched
    for running, stop, future in started:
        running.loop.call_soon_threadsafe(stop.set)
        future.result(10)


def test_a_saved_edit_is_served_within_300ms(watched):
    running = watched(scenario("0"))
    reloads = running.service.reloads
    times = []
    for i, (_how, save) in enumerate(list(SAVES.items()) * 3, start=1):
        times.append(save_and_time(running.client, running.file, scenario(str(i)), str(i), save))
    assert running.service.reloads >= reloads + len(times)
    assert running.service.last_error is None
    # The contract is 300 ms; a loaded CI machine gets slack here, the median is reported by
    # `python tests/test_reload.py`.
    assert statistics.median(times) < 1.0, times


def test_an_invalid_edit_keeps_serving_and_reports_where(watched):
    running = watched(scenario("1"))
    wait_for(lambda: served_version(running.client) == "1")
    reloads = running.service.reloads
    bad = scenario("2").replace("time_scale: 0", "time_scale: soon")
    line = bad.splitlines().index("time_scale: soon") + 1
    save_by_rename(running.file, bad)
    wait_for(lambda: running.service.last_error is not None)
    error = running.service.last_error
    assert re.match(rf"^{re.escape(str(running.file))}:{line}:\d+: ", error), error
    assert served_version(running.client) == "1"  # the last good version still answers
    assert running.service.reloads == reloads
    # A YAML syntax error, the same way.
    save_in_place(running.file, scenario("3") + "broken: [\n")
    wait_for(lambda: running.service.last_error != error)
    assert "YAML syntax error" in running.service.last_error
    assert re.match(rf"^{re.escape(str(running.file))}:\d+:\d+: ", running.service.last_error)
    assert served_version(running.client) == "1"
    # The next good save recovers and clears the error.
    save_by_rename(running.file, scenario("4"))
    wait_for(lambda: served_version(running.client) == "4")
    assert running.service.last_error is None
    assert running.service.reloads == reloads + 1


def _qemu(client: httpx.Client, prefix: str = "") -> dict[int, dict[str, Any]]:
    r = client.get(f"{prefix}/nodes/pve1/qemu")
    assert r.status_code == 200, r.text
    return {vm["vmid"]: vm for vm in r.json()["data"]}


def _client_changes(client: httpx.Client, prefix: str = "") -> None:
    """What a client does: stops VM 100, changes its memory, creates VM 150."""
    assert client.post(f"{prefix}/nodes/pve1/qemu/100/status/stop").status_code == 200
    assert client.put(f"{prefix}/nodes/pve1/qemu/100/config", data={"memory": "4096"}).status_code == 200
    assert client.post(f"{prefix}/nodes/pve1/qemu", data={"vmid": "150", "name": "client-vm"}).status_code == 200
    vms = _qemu(client, prefix)
    assert vms[100]["status"] == "stopped" and 150 in vms


def test_live_state_follows_the_seed_change(watched):
    running = watched(scenario("1"))
    client = running.client
    session = f"{running.url}/_session/t1/api2/json"
    _client_changes(client)
    _client_changes(client, session)
    # The seed: VM 100 renamed, VM 101 gone, VM 102 new.
    added = "  /nodes/pve1/qemu/102/config: {name: new-02, cores: 1, memory: 1024}\n"
    text = scenario("2", name100="web-renamed", extra=added).replace(
        "    - {vmid: 101, name: db-01, status: stopped}\n", ""
    )
    save_by_rename(running.file, text)
    wait_for(lambda: served_version(client) == "2")
    for prefix in ("", session):  # the default world and a session's, the same way
        vms = _qemu(client, prefix)
        assert vms[100]["name"] == "web-renamed"  # the seed's rename, live
        assert vms[100]["status"] == "stopped"  # what the client did, kept
        assert 101 not in vms  # removed from the seed: removed live
        assert vms[102]["name"] == "new-02"  # added to the seed: added live
        assert vms[150]["name"] == "client-vm"  # created by the client: kept
        config = client.get(f"{prefix}/nodes/pve1/qemu/100/config").json()["data"]
        assert config["name"] == "web-renamed"
        assert int(config["memory"]) == 4096  # the client's change the seed did not touch
        assert config["cores"] == 2
        resources = client.get(f"{prefix}/cluster/resources", params={"type": "vm"}).json()["data"]
        names = {r["vmid"]: r["name"] for r in resources}
        assert names[100] == "web-renamed" and 101 not in names and 150 in names  # derived views follow
        assert client.get(f"{prefix}/nodes/pve1/qemu/101/config").status_code == 500  # as PVE: no such VM


def test_client_changes_to_declared_users_survive_a_reload(watched):
    """Re-deriving state after a reload must not re-declare over what clients changed."""
    users = "  /access/groups:\n    - {groupid: ops}\n"
    text = scenario("1", extra=users).replace(
        "auth: {mode: none}",
        "auth:\n  users:\n    - {userid: root@pam, password: secret}\n"
        "    - {userid: ci@pve, password: old-secret, comment: the CI robot}",
    )
    running = watched(text)
    running.login()
    client = running.client
    assert client.put("/access/users/ci@pve", data={"comment": "changed by a client"}).status_code == 200
    r = client.put("/access/password", data={"userid": "ci@pve", "password": "new-secret"})
    assert r.status_code == 200, r.text
    assert client.post("/access/ticket", data={"username": "ci@pve", "password": "old-secret"}).status_code == 401
    save_by_rename(running.file, text.replace('version: "1"', 'version: "2"'))
    wait_for(lambda: served_version(client) == "2")
    assert client.get("/access/users/ci@pve").json()["data"]["comment"] == "changed by a client"
    login = client.post("/access/ticket", data={"username": "ci@pve", "password": "new-secret"})
    assert login.status_code == 200, login.text
    assert client.post("/access/ticket", data={"username": "ci@pve", "password": "old-secret"}).status_code == 401
    # What the seed does change is changed live.
    save_by_rename(running.file, text.replace('version: "1"', 'version: "3"').replace("the CI robot", "the robot"))
    wait_for(lambda: served_version(client) == "3")
    assert client.get("/access/users/ci@pve").json()["data"]["comment"] == "the robot"


def test_reset_on_reload_starts_from_the_seed(watched):
    running = watched(scenario("1"), reset=True)
    client = running.client
    session = f"{running.url}/_session/t2/api2/json"
    _client_changes(client)
    _client_changes(client, session)
    save_by_rename(running.file, scenario("2", name100="web-renamed"))
    wait_for(lambda: served_version(client) == "2")
    for prefix in ("", session):
        vms = _qemu(client, prefix)
        assert set(vms) == {100, 101}
        assert vms[100]["status"] == "running" and vms[100]["name"] == "web-renamed"
        assert client.get(f"{prefix}/nodes/pve1/qemu/100/config").json()["data"]["memory"] == 2048


def _arrived(running: Any, path: str) -> bool:
    """The server has begun answering a request for `path` (it is in the journal)."""
    return any(e.path == path for e in running.service.world.journal)


def test_a_request_in_flight_finishes_with_the_scenario_it_started_with(watched):
    running = watched(scenario("1"))
    result: dict[str, Any] = {}

    def slow() -> None:  # the route answers after 600 ms
        result["r"] = httpx.get(f"{running.api}/cluster/log", timeout=10)

    thread = threading.Thread(target=slow)
    thread.start()
    wait_for(lambda: _arrived(running, "/cluster/log"))
    save_by_rename(running.file, scenario("2"))
    wait_for(lambda: served_version(running.client) == "2")
    thread.join(10)
    assert result["r"].json()["data"] == [{"msg": "1"}]
    assert running.client.get("/cluster/log").json()["data"] == [{"msg": "2"}]


def test_a_reload_releases_hung_requests(watched):
    running = watched(scenario("1"))
    outcome: dict[str, Any] = {}

    def hung() -> None:
        start = time.perf_counter()
        try:
            httpx.get(f"{running.api}/cluster/tasks", timeout=10)
            outcome["how"] = "answered"
        except httpx.HTTPError as exc:
            outcome["how"] = type(exc).__name__
        outcome["took"] = time.perf_counter() - start

    thread = threading.Thread(target=hung)
    thread.start()
    wait_for(lambda: _arrived(running, "/cluster/tasks"))
    time.sleep(0.1)
    assert thread.is_alive()
    save_by_rename(running.file, scenario("2"))
    thread.join(5)
    assert not thread.is_alive() and outcome["took"] < 5, outcome


def test_no_request_fails_during_a_burst_of_reloads(watched):
    running = watched(scenario("1"))
    failures: list[str] = []
    done = threading.Event()
    counts = {"requests": 0}

    def client_loop() -> None:
        with httpx.Client(base_url=running.api, timeout=10) as client:
            while not done.is_set():
                for path in ("/version", "/nodes/pve1/qemu", "/cluster/resources", "/nodes/pve1/qemu/100/config"):
                    try:
                        r = client.get(path)
                        if r.status_code != 200:
                            failures.append(f"{path}: {r.status_code} {r.text[:200]}")
                    except httpx.HTTPError as exc:
                        failures.append(f"{path}: {type(exc).__name__}: {exc}")
                    counts["requests"] += 1

    threads = [threading.Thread(target=client_loop) for _ in range(3)]
    for t in threads:
        t.start()
    reloads = running.service.reloads
    saves = list(SAVES.values())
    for i in range(2, 42):
        saves[i % 2](running.file, scenario(str(i), name100=f"web-{i}"))
        time.sleep(0.025)
    wait_for(lambda: served_version(running.client) == "41")
    done.set()
    for t in threads:
        t.join(10)
    assert not failures, failures[:5]
    assert counts["requests"] > 100
    assert running.service.reloads - reloads >= 5  # saves 25 ms apart: many are reloads of their own
    assert _qemu(running.client)[100]["name"] == "web-41"
    assert running.service.last_error is None


def test_reload_of_a_scenario_object_and_the_journal_survives(serve):
    """Service.reload() without a watcher (the control API's way): the journal stays."""
    from scenariod.scenario import parse_scenario

    running = serve(scenario("1"))
    assert served_version(running.client) == "1"
    before = len(running.service.world.journal)
    new = parse_scenario(scenario("2"), running.service.scenario.file)
    assert running.call(lambda: running.service.reload(new)) is True
    assert served_version(running.client) == "2"
    assert len(running.service.world.journal) == before + 1
    assert running.call(lambda: running.service.reload(new, reset=True)) is True
    assert len(running.service.world.journal) == before + 1  # the request history is not state
    assert running.service.reloads == 2


def test_seeds_are_built_only_when_an_edit_touches_what_they_are_built_from(serve, monkeypatch):
    """An edit of routes or faults compares no seeds (two seeds of 100,000 guests take seconds);
    an edit of the state still reaches live state."""
    from scenariod import reload as reload_module
    from scenariod.scenario import parse_scenario

    running = serve(scenario("1"))
    file = running.service.scenario.file
    compared: list[int] = []
    real = reload_module.diff_seeds
    monkeypatch.setattr(reload_module, "diff_seeds", lambda a, b: compared.append(1) or real(a, b))
    assert running.call(lambda: running.service.reload(parse_scenario(scenario("2"), file))) is True
    assert served_version(running.client) == "2" and compared == []
    assert running.call(lambda: running.service.reload(parse_scenario(scenario("2", name100="web-99"), file)))
    assert compared == [1]
    assert running.client.get("/nodes/pve1/qemu/100/config").json()["data"]["name"] == "web-99"


# --- the command line ---------------------------------------------------------------------------------


class Cli:
    """`scenariod run FILE --http --port 0 --no-tui` as a subprocess, its log lines collected."""

    def __init__(self, path: Path, *extra: str) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scenariod", "run", str(path), "--http", "--port", "0", "--no-tui", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_for(lambda: any(" at http://" in line for line in self.lines), timeout=30)
        first = next(line for line in self.lines if " at http://" in line)
        self.api = re.search(r"at (http://\S+/api2/json)", first).group(1)
        self.client = httpx.Client(base_url=self.api, timeout=10)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> int:
        self.client.close()
        self.proc.terminate()
        try:
            return self.proc.wait(10)
        finally:
            self._reader.join(5)


@pytest.fixture
def cli(tmp_path) -> Iterator[Callable[..., Cli]]:
    running: list[Cli] = []

    def _cli(text: str, *extra: str) -> Cli:
        path = tmp_path / "scenario.yaml"
        path.write_text(text)
        c = Cli(path, *extra)
        running.append(c)
        return c

    yield _cli
    for c in running:
        if c.proc.poll() is None:
            c.stop()


def test_scenariod_run_reloads_on_save_and_logs_it(cli, tmp_path):
    path = tmp_path / "scenario.yaml"
    c = cli(scenario("0"))
    warm_up(c.client, path, "1")
    took = save_and_time(c.client, path, scenario("2"), "2", save_by_rename)
    assert took < 1.0
    # A bad save: logged with FILE:LINE:COLUMN, the last good version keeps answering.
    bad = scenario("3").replace("time_scale: 0", "time_scale: soon")
    line = bad.splitlines().index("time_scale: soon") + 1
    save_by_rename(path, bad)
    wait_for(lambda: any("ERROR reload refused" in x for x in c.lines))
    wait_for(lambda: any(x.strip().startswith(f"{path}:{line}:") for x in c.lines))
    assert served_version(c.client) == "2"
    health = httpx.get(c.api.replace("/api2/json", "/_scenariod/health")).json()  # the control API shows it too
    assert health["last_error"].startswith(f"{path}:{line}:") and "`time_scale: soon`" in health["last_error"]
    save_in_place(path, scenario("4"))
    wait_for(lambda: served_version(c.client) == "4")
    assert c.stop() == 0
    assert any(re.search(r"\[reload-test\] reloaded .*scenario\.yaml \(#\d+, live state kept", x) for x in c.lines)
    assert c.lines[-1] == "scenariod: stopped"


def test_scenariod_run_reset_on_reload(cli, tmp_path):
    path = tmp_path / "scenario.yaml"
    c = cli(scenario("0"), "--reset-on-reload", "--log-format", "json")
    warm_up(c.client, path, "1")
    assert c.client.post("/nodes/pve1/qemu/100/status/stop").status_code == 200
    assert _qemu(c.client)[100]["status"] == "stopped"
    save_by_rename(path, scenario("2"))
    wait_for(lambda: served_version(c.client) == "2")
    assert _qemu(c.client)[100]["status"] == "running"
    assert c.stop() == 0
    assert any('"event":"reload"' in x and "reset to the seed" in x for x in c.lines)


def test_scenariod_run_no_reload(cli, tmp_path):
    path = tmp_path / "scenario.yaml"
    c = cli(scenario("0"), "--no-reload")
    save_by_rename(path, scenario("1"))
    time.sleep(0.5)
    assert served_version(c.client) == "0"
    assert c.stop() == 0


# --- the live view in a terminal -------------------------------------------------------------------


def _screen_tmux(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_live_request_log_in_a_terminal(tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text(scenario("1"))
    session = f"scenariod-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    command = f"cd {ROOT} && exec {sys.executable} -m scenariod run {path} --http --port 0"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "150", "-y", "30", command], check=True)
    try:
        wait_for(lambda: "reloads 0" in _screen_tmux(session), timeout=30, interval=0.1)
        screen = _screen_tmux(session)
        url = re.search(r"(http://127\.0\.0\.1:\d+)/api2/json", screen).group(1)
        with httpx.Client(base_url=f"{url}/api2/json", timeout=10) as client:
            assert served_version(client) == "1"
            assert client.get("/nodes/pve1/qemu").status_code == 200
            assert client.get("/nodes/pve1/qemu/999/config").status_code == 500
            assert client.post("/nodes/pve1/qemu/100/status/stop").status_code == 200
            assert client.get("/nope").status_code == 501
            wait_for(lambda: "/nope" in _screen_tmux(session), timeout=10, interval=0.1)
            screen = _screen_tmux(session)
            assert "reload-test" in screen and f"{url}/api2/json" in screen
            assert re.search(r"GET\s+/version\s+200\s+route", screen), screen
            assert re.search(r"POST\s+/nodes/pve1/qemu/100/status/stop\s+200\s+task", screen), screen
            assert re.search(r"GET\s+/nodes/pve1/qemu/999/config\s+500\s+built-in", screen), screen
            assert re.search(r"requests 5\s+2xx 3\s+4xx 0\s+5xx 2", screen), screen
            # A bad save: the header shows where, in the file's terms; serving goes on.
            bad = scenario("2").replace("time_scale: 0", "time_scale: soon")
            save_by_rename(path, bad)
            wait_for(lambda: "✗ " in _screen_tmux(session), timeout=10, interval=0.1)
            screen = _screen_tmux(session)
            line = bad.splitlines().index("time_scale: soon") + 1
            assert f"✗ {path}:{line}:" in screen, screen
            assert re.search(r"error\s+reload refused", screen), screen
            save_by_rename(path, scenario("3"))
            wait_for(lambda: served_version(client) == "3")
            wait_for(
                lambda: "reloads 1" in _screen_tmux(session) and "✗ " not in _screen_tmux(session),
                timeout=10,
                interval=0.1,
            )
            print(_screen_tmux(session))
    finally:
        subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], capture_output=True)
        time.sleep(0.5)
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_the_live_request_log_on_a_pty(tmp_path):
    """No tmux needed: the real command on a pseudo-terminal draws the live view."""
    import pty
    import select

    path = tmp_path / "scenario.yaml"
    path.write_text(scenario("1"))
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 140, 0, 0))
    env = {**os.environ, "COLUMNS": "140", "LINES": "30", "TERM": "xterm-256color"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scenariod", "run", str(path), "--http", "--port", "0"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    out = bytearray()

    def pump(seconds: float) -> str:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    out.extend(os.read(master, 65536))
                except OSError:
                    break
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode("utf-8", "replace"))

    try:
        text = ""
        for _ in range(300):
            text = pump(0.1)
            if "reloads 0" in text:
                break
        assert "● reload-test  pve  http://127.0.0.1:" in text, text[-2000:]
        url = re.search(r"(http://127\.0\.0\.1:\d+)/api2/json", text).group(1)
        assert httpx.get(f"{url}/api2/json/version").status_code == 200
        for _ in range(50):
            text = pump(0.1)
            if re.search(r"GET\s+/version\s+200\s+route", text):
                break
        assert re.search(r"GET\s+/version\s+200\s+route", text), text[-2000:]
        assert "requests 1" in text
    finally:
        proc.terminate()
        proc.wait(10)
        os.close(master)


# --- the measurement ------------------------------------------------------------------------------------


def measure(runs: int = 20) -> dict[str, list[float]]:
    """Save-to-served latency of `scenariod run` (a subprocess, over HTTP), by save style."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenario.yaml"
        path.write_text(scenario("0"))
        c = Cli(path)
        try:
            warm_up(c.client, path, "1")
            out: dict[str, list[float]] = {name: [] for name in SAVES}
            version = 1
            for _ in range(runs):
                for name, save in SAVES.items():
                    version += 1
                    time.sleep(0.1)  # separate saves: each one is its own reload
                    out[name].append(save_and_time(c.client, path, scenario(str(version)), str(version), save))
            return out
        finally:
            c.stop()


if __name__ == "__main__":
    results = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
    for name, times in results.items():
        ms = sorted(t * 1000 for t in times)
        print(
            f"{name:9} n={len(ms)} median={statistics.median(ms):.1f}ms min={ms[0]:.1f}ms "
            f"p90={ms[int(len(ms) * 0.9) - 1]:.1f}ms max={ms[-1]:.1f}ms"
        )


def test_the_readme_walkthrough_maxcpu_lots(watched):
    """README "A first edit": `maxcpu: lots` is reported at its line; the last good scenario serves."""
    good = (ROOT / "scenarios" / "two-node.yaml").read_text()
    running = watched(good)
    running.login()
    reloads = running.service.reloads
    bad = good.replace("maxcpu: 16,", "maxcpu: lots,", 1)
    line = next(i for i, text in enumerate(bad.splitlines(), 1) if "maxcpu: lots" in text)
    column = bad.splitlines()[line - 1].index("lots") + 1
    save_by_rename(running.file, bad)
    wait_for(lambda: running.service.last_error is not None)
    assert running.service.last_error.startswith(
        f'{running.file}:{line}:{column}: maxcpu: "lots" is not an integer'
        " (the /nodes item schema declares maxcpu as integer)"
    )
    assert running.service.reloads == reloads
    r = running.client.get("/nodes/pve1/status")
    assert r.status_code == 200 and r.json()["data"]["cpuinfo"]["cpus"] == 16
    resources = running.client.get("/cluster/resources", params={"type": "node"}).json()["data"]
    assert {n["node"]: n["maxcpu"] for n in resources}["pve1"] == 16
