"""Test helpers: real servers on free ports, driven over real HTTP(S) by real clients."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scenariod.scenario import load_scenario
from scenariod.server import Service

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def free_port() -> int:
    """A port nothing listens on now (for a server whose port a test must know beforehand)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    """A Service on its own event loop thread, with sync helpers for tests."""

    def __init__(self, service: Service, loop: asyncio.AbstractEventLoop) -> None:
        self.service = service
        self.loop = loop
        self.url = service.url
        self.api = f"{service.url}/api2/json"
        self.ca_file = service.ca_file
        verify = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else False
        self.client = httpx.Client(base_url=self.api, verify=verify, timeout=10)

    def call(self, fn: Any) -> Any:
        """Run a coroutine function on the server's loop (e.g. to reload)."""
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(10)

    def login(self, username: str = "root@pam", password: str = "secret") -> dict[str, Any]:
        r = self.client.post("/access/ticket", data={"username": username, "password": password})
        r.raise_for_status()
        data = r.json()["data"]
        self.client.cookies.set(self.service.runtime.auth.cookie, data["ticket"])
        self.client.headers["CSRFPreventionToken"] = data["CSRFPreventionToken"]
        return data


def start_service(path: Path, tls: bool = False, **kwargs: Any) -> tuple[Running, Any]:
    scenario = load_scenario(path)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        service = Service(scenario, host="127.0.0.1", port=0, tls=tls, **kwargs)
        try:
            loop.run_until_complete(service.start())
        except BaseException as exc:  # surface start-up failures to the test
            holder["error"] = exc
            ready.set()
            return
        holder["service"] = service
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(30)
    if "error" in holder:
        raise holder["error"]
    running = Running(holder["service"], loop)

    def stop() -> None:
        running.client.close()
        asyncio.run_coroutine_threadsafe(running.service.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    return running, stop


def serving(path: Path, tls: bool = False, login: bool = False) -> Iterator[Running]:
    """A fixture's body: `path` served (logged in as root@pam if asked) until the fixture ends."""
    running, stop = start_service(path, tls=tls)
    try:
        if login:
            running.login()
        yield running
    finally:
        stop()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """serve(yaml_text_or_path, tls=False) -> Running; stopped after the test."""
    stops: list[Any] = []

    def _serve(source: str | Path, tls: bool = False, **kwargs: Any) -> Running:
        if isinstance(source, Path):
            path = source
        else:
            path = tmp_path / "scenario.yaml"
            path.write_text(textwrap.dedent(source))
        running, stop = start_service(path, tls=tls, **kwargs)
        stops.append(stop)
        return running

    yield _serve
    for stop in stops:
        stop()


@pytest.fixture(scope="module")
def two_node() -> Iterator[Running]:
    """scenarios/two-node.yaml over plain HTTP, logged in as root@pam; shared by a module."""
    yield from serving(SCENARIOS / "two-node.yaml", login=True)


# --- Ansible's community.proxmox, unchanged, against a served scenario (test_ansible*.py) -------

ANSIBLE_HEADER = """
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/community.proxmox.proxmox:
      api_host: 127.0.0.1
      api_port: "{{ api_port_number }}"
      api_user: root@pam
      api_password: secret
      validate_certs: false
  tasks:
"""
ANSIBLE_RECAP = re.compile(r"^localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@pytest.fixture
def ansible_https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    """two-node.yaml over HTTPS for ansible-playbook; skipped without ansible, except in CI."""
    try:
        import ansible  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("ansible is not installed: the [test] extra installs it")
        pytest.skip("ansible is not installed (pip install -e '.[test]')")
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path))
    yield from serving(SCENARIOS / "two-node.yaml", tls=True)


def run_playbook(tasks: str, port: int, tmp: Path, **extra: str) -> tuple[int, list[str]]:
    """Run one playbook (root@pam by default; `extra` as -e vars); its `changed` count and changed tasks."""
    playbook = tmp / "play.yml"
    playbook.write_text(ANSIBLE_HEADER + tasks)
    bindir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "ANSIBLE_NOCOLOR": "1",
        # ansible's scratch space in the test's own directory, not the (maybe read-only) home
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp / "ansible-remote"),
    }
    variables = json.dumps({"api_port_number": port, **extra})
    run = subprocess.run(
        [str(bindir / "ansible-playbook"), str(playbook), "-e", variables],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    recap = ANSIBLE_RECAP.search(run.stdout)
    assert run.returncode == 0 and recap, run.stdout[-4000:] + run.stderr[-2000:]
    changed = re.findall(r"^TASK \[(.+?)\] \*+\nchanged:", run.stdout, re.M)
    return int(recap.group(2)), changed
