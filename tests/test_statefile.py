"""`scenariod run --state-file`: live state kept across restarts, driven as a user drives it:
`scenariod run` processes, changes over the API, SIGTERM/SIGKILL, a new start, GETs."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import free_port

from scenariod.statefile import CHANGED, decode

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "root@pam!ci"
SECRET = "5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10"
ROOT_AUTH = {"Authorization": f"PVEAPIToken={TOKEN}={SECRET}"}

SCENARIO = """\
scenariod: 1
name: {name}
service: pve
listen: {{port: {port}}}
auth:
  users:
    - {{userid: root@pam, password: secret}}
  tokens:
    - {{tokenid: "{token}", secret: "{secret}"}}
state:
  /nodes:
    - {{node: pve1, status: online}}
  /nodes/pve1/qemu:
    - {{vmid: 100, name: web-01, status: running}}
    - {{vmid: 101, name: db-01, status: stopped}}
  /nodes/pve1/qemu/100/config: {{name: web-01, cores: 2, memory: 2048}}
  /nodes/pve1/qemu/101/config: {{name: db-01, cores: {db_cores}, memory: 8192}}
  /pools:
    - {{poolid: web, comment: Public web tier}}
{extra}"""


def write_scenario(path: Path, name: str = "lab", port: int = 0, db_cores: int = 4, extra: str = "") -> Path:
    path.write_text(SCENARIO.format(name=name, port=port, token=TOKEN, secret=SECRET, db_cores=db_cores, extra=extra))
    return path


class Run:
    """One `scenariod run` process; `urls` from its banner lines, stderr kept in a file."""

    def __init__(self, tmp: Path, *args: str, banners: int = 1) -> None:
        self.err_path = tmp / f"stderr-{time.monotonic_ns()}.txt"
        self.err = self.err_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scenariod", "run", "--http", "--no-tui", "--no-reload", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self.err,
            text=True,
            env={**os.environ, "SCENARIOD_CACHE": str(tmp / "cache")},
        )
        self.urls = []
        for _ in range(banners):
            line = self.proc.stdout.readline()  # type: ignore[union-attr]
            if " at " not in line:
                self.stop(signal.SIGKILL)
                raise AssertionError(f"no banner: {line!r}\n{self.stderr}")
            self.urls.append(line.split(" at ", 1)[1].split()[0].removesuffix("/api2/json"))
        self.url = self.urls[0]

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def stop(self, sig: int = signal.SIGTERM) -> str:
        """Stop it (SIGTERM: a clean stop that saves; SIGKILL: none) and return its stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.communicate(timeout=30)
        self.err.close()
        if sig != signal.SIGKILL:
            assert self.proc.returncode == 0, self.stderr
        return self.stderr


def api(run: Run, method: str, path: str, url: str | None = None, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{url or run.url}/api2/json{path}", headers=ROOT_AUTH, timeout=10, **kwargs)


def config(run: Run, vmid: int, url: str | None = None) -> httpx.Response:
    return api(run, "GET", f"/nodes/pve1/qemu/{vmid}/config", url)


def test_state_changed_through_the_api_survives_a_restart(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "lab.yaml")
    state = tmp_path / "lab.state"
    run = Run(tmp_path, str(scenario), "--port", "0", "--state-file", str(state))
    assert "restored" not in run.stderr  # nothing saved yet: the seed
    assert api(run, "PUT", "/nodes/pve1/qemu/100/config", data={"name": "web-renamed", "cores": 6}).status_code == 200
    assert api(run, "POST", "/pools", data={"poolid": "batch", "comment": "made by a client"}).status_code == 200
    made = api(run, "POST", "/access/users/root@pam/token/robot", data={"privsep": 0}).json()["data"]
    clock = httpx.post(f"{run.url}/_scenariod/clock", json={"advance": "1h"}).json()
    err = run.stop()
    assert f"saved the state to {state}" in err
    assert state.stat().st_mode & 0o777 == 0o600  # it holds token secrets

    run = Run(tmp_path, str(scenario), "--port", "0", "--state-file", str(state))
    try:
        assert f"{state}: restored the saved state" in run.stderr
        cfg = config(run, 100).json()["data"]
        assert (cfg["name"], cfg["cores"]) == ("web-renamed", 6)
        pools = {p["poolid"]: p.get("comment") for p in api(run, "GET", "/pools").json()["data"]}
        assert pools == {"web": "Public web tier", "batch": "made by a client"}
        # The token made through the API still authenticates with the secret it was given.
        robot = {"Authorization": f"PVEAPIToken={made['full-tokenid']}={made['value']}"}
        assert httpx.get(f"{run.url}/api2/json/version", headers=robot).status_code == 200
        wrong = {"Authorization": f"PVEAPIToken={made['full-tokenid']}=00000000-0000-0000-0000-000000000000"}
        assert httpx.get(f"{run.url}/api2/json/version", headers=wrong).status_code == 401
        # The world clock keeps the offset the control API gave it.
        assert httpx.get(f"{run.url}/_scenariod/clock").json()["offset"] == clock["offset"] == 3600
    finally:
        run.stop()


def test_the_save_endpoint_writes_now_and_a_killed_server_starts_from_it(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "lab.yaml")
    state = tmp_path / "not" / "yet" / "lab.state"  # its directory is made at start
    run = Run(tmp_path, str(scenario), "--port", "0", "--state-file", str(state))
    assert api(run, "PUT", "/nodes/pve1/qemu/101/config", data={"memory": 1024}).status_code == 200
    saved = httpx.post(f"{run.url}/_scenariod/state/save")
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["saved"] == str(state) and body["bytes"] == state.stat().st_size and body["paths"] > 5
    assert str(decode(state.read_bytes()).entries[("nodes", "pve1", "qemu", "101", "config")]["memory"]) == "1024"
    # A session is a test's private copy: not what is saved.
    refused = httpx.post(f"{run.url}/_scenariod/state/save", headers={"X-Scenariod-Session": "t1"})
    assert refused.status_code == 400 and "default World" in refused.json()["error"]
    assert httpx.post(f"{run.url}/_scenariod/state/nonsense").status_code == 404
    # A change after the save is lost by a kill (no clean stop); the saved one is not.
    assert api(run, "PUT", "/nodes/pve1/qemu/101/config", data={"memory": 4096}).status_code == 200
    run.stop(signal.SIGKILL)
    run = Run(tmp_path, str(scenario), "--port", "0", "--state-file", str(state))
    try:
        assert str(config(run, 101).json()["data"]["memory"]) == "1024"
    finally:
        run.stop()


def test_save_without_a_state_file_says_how_to_get_one(serve: Any, tmp_path: Path) -> None:
    s = serve(write_scenario(tmp_path / "nosave.yaml"))
    r = httpx.post(f"{s.url}/_scenariod/state/save")
    assert r.status_code == 409 and "--state-file" in r.json()["error"]


def _saved_with_client_changes(tmp_path: Path) -> tuple[Path, Path]:
    """A scenario and a state file in which a client renamed VM 100 and deleted pool `web`."""
    scenario = write_scenario(tmp_path / "lab.yaml")
    state = tmp_path / "lab.state"
    run = Run(tmp_path, str(scenario), "--port", "0", "--state-file", str(state))
    assert api(run, "PUT", "/nodes/pve1/qemu/100/config", data={"name": "web-renamed"}).status_code == 200
    assert api(run, "DELETE", "/pools/web").status_code == 200
    run.stop()
    return scenario, state


def test_a_changed_scenario_starts_from_the_scenario_and_says_so(tmp_path: Path) -> None:
    scenario, state = _saved_with_client_changes(tmp_path)
    write_scenario(scenario, db_cores=8)
    run = Run(tmp_path, str(scenario), "--port", "0", "--state-file", str(state))
    try:
        assert f"{state}: {CHANGED}" in run.stderr
        assert CHANGED == (
            "scenario changed since the state was saved; starting from the scenario (use --keep-state to merge)"
        )
        assert config(run, 100).json()["data"]["name"] == "web-01"  # the seed, not the saved rename
        assert config(run, 101).json()["data"]["cores"] == 8
        assert [p["poolid"] for p in api(run, "GET", "/pools").json()["data"]] == ["web"]
    finally:
        run.stop(signal.SIGKILL)  # no save: the state file still holds the state of the old text
    # The same text served as another release is not the state's scenario either.
    write_scenario(scenario)
    run = Run(tmp_path, str(scenario), "--port", "0", "--state-file", str(state), "--api", "8.4")
    try:
        assert f"{state}: the API release served changed since the state was saved (" in run.stderr
        assert " -> 8.4); starting from the scenario (use --keep-state to merge)" in run.stderr
        assert config(run, 100).json()["data"]["name"] == "web-01"
    finally:
        run.stop(signal.SIGKILL)
    refused = subprocess.run(
        [sys.executable, "-m", "scenariod", "run", str(scenario), "--keep-state"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert refused.returncode == 2 and "--keep-state needs --state-file PATH" in refused.stderr


def test_keep_state_merges_the_saved_state_into_a_changed_scenario(tmp_path: Path) -> None:
    scenario, state = _saved_with_client_changes(tmp_path)
    extra = "  /nodes/pve1/qemu/102/config: {name: new-vm, cores: 1, memory: 512}\n"
    write_scenario(scenario, db_cores=8, extra=extra)
    run = Run(tmp_path, str(scenario), "--port", "0", "--state-file", str(state), "--keep-state")
    try:
        assert "merged the saved state" in run.stderr and "starting from the scenario" not in run.stderr
        # As a hot reload of the edit would have left the live state:
        assert config(run, 100).json()["data"]["name"] == "web-renamed"  # the client's change stays
        assert api(run, "GET", "/pools").json()["data"] == []  # so does the client's deletion
        assert config(run, 101).json()["data"]["cores"] == 8  # what the seed changed follows
        assert config(run, 102).json()["data"]["name"] == "new-vm"  # what the seed added is added
        resources = api(run, "GET", "/cluster/resources", params={"type": "vm"}).json()["data"]
        assert {r["vmid"]: r["name"] for r in resources} == {100: "web-renamed", 101: "db-01", 102: "new-vm"}
    finally:
        run.stop()
    # The merged state was saved against the new text: the next start restores it as it is.
    run = Run(tmp_path, str(scenario), "--port", "0", "--state-file", str(state))
    try:
        assert "restored the saved state" in run.stderr
        assert config(run, 100).json()["data"]["name"] == "web-renamed"
    finally:
        run.stop()


def test_a_backup_server_keeps_localhost_one_with_its_host_name_after_a_restore(tmp_path: Path) -> None:
    """PBS answers for its host also as `localhost`: one subtree under two names, which a
    restore must keep shared (a write through one is read through the other)."""
    state = tmp_path / "pbs.state"
    pbs = {"Authorization": "PBSAPIToken=root@pam!ci:7d1f3a52-4c1e-4b8a-9c55-0e2f6a1b9d03"}
    run = Run(tmp_path, "scenarios/pbs.yaml", "--port", "0", "--state-file", str(state))
    # GET /nodes is root@pam's alone on PBS (no access rule): its ticket, not the token
    login = httpx.post(f"{run.url}/api2/json/access/ticket", data={"username": "root@pam", "password": "secret"})
    root = {"Cookie": f"PBSAuthCookie={login.json()['data']['ticket']}"}
    host = httpx.get(f"{run.url}/api2/json/nodes", headers=root).json()["data"][0]["node"]
    assert host != "localhost"
    put = httpx.put(f"{run.url}/api2/json/nodes/localhost/dns", headers=pbs, data={"search": "saved.example"})
    assert put.status_code == 200, put.text
    run.stop()
    run = Run(tmp_path, "scenarios/pbs.yaml", "--port", "0", "--state-file", str(state))
    try:
        assert httpx.get(f"{run.url}/api2/json/nodes/{host}/dns", headers=pbs).json()["data"]["search"] == (
            "saved.example"
        )
        put = httpx.put(f"{run.url}/api2/json/nodes/{host}/dns", headers=pbs, data={"search": "after.example"})
        assert put.status_code == 200, put.text
        dns = httpx.get(f"{run.url}/api2/json/nodes/localhost/dns", headers=pbs).json()["data"]
        assert dns["search"] == "after.example"
    finally:
        run.stop()


@pytest.mark.parametrize(
    "content",
    [b"\x00\xffnot json at all", b'{"format": "scenariod-state", "version": 1, "paths": [[["nod', b"[1, 2, 3]"],
    ids=["garbage", "torn", "not-a-state-file"],
)
def test_a_corrupt_state_file_is_set_aside_and_the_scenario_served(tmp_path: Path, content: bytes) -> None:
    scenario = write_scenario(tmp_path / "lab.yaml")
    state = tmp_path / "lab.state"
    state.write_bytes(content)
    torn = tmp_path / ".lab.state.abc123.tmp"  # what a save killed mid-write leaves
    torn.write_bytes(b'{"format": "scenariod-st')
    run = Run(tmp_path, str(scenario), "--port", "0", "--state-file", str(state))
    try:
        err = run.stderr
        assert "Traceback" not in err
        assert f"{state}: not a usable state file (" in err and "starting from the scenario" in err
        assert "the file was kept as lab.state.corrupt" in err
        assert "removed a torn temporary state file .lab.state.abc123.tmp" in err and not torn.exists()
        assert (tmp_path / "lab.state.corrupt").read_bytes() == content
        assert config(run, 100).json()["data"]["name"] == "web-01"
    finally:
        run.stop()
    assert decode(state.read_bytes()).entries  # a good file in its place; the bad one still aside
    assert (tmp_path / "lab.state.corrupt").read_bytes() == content


def test_several_files_keep_one_state_file_each_also_across_workers(tmp_path: Path) -> None:
    files = [str(write_scenario(tmp_path / f"{n}.yaml", name=n, port=free_port())) for n in ("alpha", "beta")]
    states = tmp_path / "states"
    run = Run(tmp_path, *files, "--workers", "2", "--state-file", str(states), banners=2)
    by_name = {}
    for url in run.urls:
        by_name[httpx.get(f"{url}/").json()["scenario"]] = url
    for name, url in by_name.items():
        assert api(run, "PUT", "/nodes/pve1/qemu/100/config", url, data={"name": f"{name}-vm"}).status_code == 200
    run.stop()
    assert sorted(p.name for p in states.iterdir()) == ["alpha.state.json", "beta.state.json"]
    run = Run(tmp_path, *files, "--state-file", str(states), banners=2)  # one process now: the same files
    try:
        for url in run.urls:
            name = httpx.get(f"{url}/").json()["scenario"]
            assert config(run, 100, url).json()["data"]["name"] == f"{name}-vm"
    finally:
        run.stop()
    same = [str(write_scenario(tmp_path / f"{n}.yaml", name="twin", port=free_port())) for n in ("one", "two")]
    refused = subprocess.run(
        [sys.executable, "-m", "scenariod", "run", *same, "--state-file", str(states)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert refused.returncode == 2 and "give the scenarios distinct names" in refused.stderr


# --- the acceptance test: kill -9 during saves -------------------------------------------------

KILLS = 50


def test_kill_9_during_saving_never_leaves_an_unloadable_file(tmp_path: Path) -> None:
    """50 times: a server starts from the state file the previous one left, changes the state,
    is asked to save and is killed (SIGKILL) at a random moment of the save. Every start must
    restore a whole file: the last completed save's. The servers are real `scenariod run`
    processes forked from one that imported scenariod once (tests/forkserver.py), so the 50
    starts fit in seconds."""
    scenario = write_scenario(tmp_path / "big.yaml")
    state = tmp_path / "big.state"
    fork = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "forkserver.py"), str(scenario)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "SCENARIOD_CACHE": str(tmp_path / "cache")},
    )
    assert fork.stdin is not None and fork.stdout is not None
    assert fork.stdout.readline() == "ready\n"

    def start(label: object) -> tuple[int, str, str]:
        out, err = tmp_path / f"out-{label}.txt", tmp_path / f"err-{label}.txt"  # one pair per start
        args = ["run", str(scenario), "--http", "--port", "0", "--no-tui", "--no-reload", "--state-file", str(state)]
        fork.stdin.write(" ".join([str(out), str(err), *args]) + "\n")  # type: ignore[union-attr]
        fork.stdin.flush()  # type: ignore[union-attr]
        pid = int(fork.stdout.readline().split()[1])  # type: ignore[union-attr]
        deadline = time.monotonic() + 30
        while " at " not in (banner := out.read_text() if out.exists() else ""):
            assert time.monotonic() < deadline, err.read_text() if err.exists() else "no output"
            time.sleep(0.01)
        return pid, banner.split(" at ", 1)[1].split()[0].removesuffix("/api2/json"), err.read_text()

    def marker(url: str) -> int:
        return int(httpx.get(f"{url}/_scenariod/state", params={"path": "/pools/web"}).json()["value"]["comment"])

    try:
        # A large state (4 MB on disk) so that a save takes a measurable time; in few paths, so
        # that a start (which compares every path with the seed's) stays quick.
        pid, url, _ = start("setup")
        for chunk in range(5):
            pools = [{"poolid": f"p{chunk}-{n:04d}", "comment": "x" * 2000} for n in range(400)]
            assert httpx.patch(f"{url}/_scenariod/state", params={"path": "/pools"}, json=pools).status_code == 200
        httpx.patch(f"{url}/_scenariod/state", params={"path": "/pools/web"}, json={"comment": "0"})
        assert _recv_all(_post_save(url)).startswith(b"HTTP/1.1 200")
        os.kill(pid, signal.SIGKILL)
        # How long a save takes in a server started from the file, as the client sees it.
        pid, url, _ = start("calibrate")
        began = time.monotonic()
        answer = _recv_all(_post_save(url))
        took = time.monotonic() - began
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        os.kill(pid, signal.SIGKILL)

        expected = {0}  # the markers a whole file may hold: the last completed save's
        completed = torn = 0
        began = time.monotonic()
        for i in range(1, KILLS + 1):
            pid, url, err = start(i)
            assert "Traceback" not in err and "corrupt" not in err and "restored the saved state" in err, err
            got = marker(url)
            assert got in expected, f"start {i}: the state file held marker {got}, not one of {expected}"
            completed += i > 1 and got == i - 1
            torn += "removed a torn temporary state file" in err
            expected = {got, i}  # this round's save lands whole, or not at all
            httpx.patch(f"{url}/_scenariod/state", params={"path": "/pools/web"}, json={"comment": str(i)})
            sock = _post_save(url)
            time.sleep(random.uniform(0, took * 1.2))  # mostly mid-save, sometimes after it
            os.kill(pid, signal.SIGKILL)
            sock.close()
        spent = time.monotonic() - began
        print(f"{KILLS} kills in {spent:.1f}s: {torn} mid-write, {completed} after the save ({took * 1000:.0f} ms)")
        pid, url, err = start(KILLS + 1)
        assert "restored the saved state" in err and marker(url) in expected
        os.kill(pid, signal.SIGKILL)
    finally:
        fork.stdin.close()
        fork.wait(10)
    # The kills landed inside saves (a torn temporary file left) and after them (a save completed).
    assert torn > 0 and completed > 0, (torn, completed, took)
    assert not list(tmp_path.glob(".big.state.*.tmp"))[1:]  # at most the last kill's own
    # And the command line itself (a fresh interpreter) loads what the last kill left.
    run = Run(tmp_path, str(scenario), "--port", "0", "--state-file", str(state))
    try:
        assert "restored the saved state" in run.stderr
        assert len(httpx.get(f"{run.url}/_scenariod/state", params={"path": "/pools"}).json()["value"]) == 2001
    finally:
        run.stop(signal.SIGKILL)


def _post_save(url: str) -> socket.socket:
    """Send POST /_scenariod/state/save on a plain socket: at once, with no client to set up,
    so that the kill's delay counts from the request."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST /_scenariod/state/save HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    return sock


def _recv_all(sock: socket.socket) -> bytes:
    with sock:
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
