"""`scenariod run --workers N`: files split over processes, one parent that reloads and stops them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from conftest import free_port

from scenariod.workers import partition

SCENARIO = """\
scenariod: 1
name: {name}
service: pve
listen: {{port: {port}}}
auth: {{mode: none}}
state:
  /nodes/pve/qemu:
    - {{vmid: 100, name: {vm}, status: running}}
"""


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _listener_pid(port: int) -> int:
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    return int(out.split("pid=")[1].split(",")[0])


def _wait_for(fn, timeout: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = fn()
            if value:
                return value
        except (httpx.HTTPError, OSError, IndexError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(0.1)


def test_partition_puts_each_file_in_one_group(tmp_path: Path) -> None:
    files = []
    for i, size in enumerate((500, 100, 400, 300, 50)):
        path = tmp_path / f"f{i}.yaml"
        path.write_text("x" * size)
        files.append(str(path))
    groups = partition(files, 2)
    assert sorted(f for g in groups for f in g) == sorted(files)
    sizes = [sum(os.stat(f).st_size for f in g) for g in groups]
    assert max(sizes) - min(sizes) <= 150  # 500+100+50 against 400+300
    assert partition(files[:1], 4) == [files[:1]]


def test_workers_serve_reload_and_stop(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    paths = []
    for name, port in zip(("alpha", "beta"), ports, strict=True):
        path = tmp_path / f"{name}.yaml"
        path.write_text(SCENARIO.format(name=name, port=port, vm="web-01"))
        paths.append(str(path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "scenariod", "run", "--workers", "2", "--http", "--no-tui", *paths],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        urls = [f"http://127.0.0.1:{port}/api2/json" for port in ports]
        for url in urls:
            _wait_for(lambda url=url: httpx.get(url + "/nodes/pve/qemu").status_code == 200)
        # each file's service lives in its own worker, a child of the parent
        children = _children(proc.pid)
        owners = [_listener_pid(port) for port in ports]
        assert len(children) == 2 and sorted(owners) == sorted(children)
        # state stays in its worker: a write to alpha is seen by alpha, not beta
        assert httpx.post(urls[0] + "/nodes/pve/qemu/100/status/stop").status_code == 200
        beta = httpx.get(urls[1] + "/nodes/pve/qemu/100/status/current").json()["data"]
        assert beta["status"] == "running"
        # the parent watches the files and has the owner reload its file
        Path(paths[1]).write_text(SCENARIO.format(name="beta", port=ports[1], vm="renamed"))
        _wait_for(lambda: httpx.get(urls[1] + "/nodes/pve/qemu").json()["data"][0]["name"] == "renamed")
        assert httpx.get(urls[0] + "/nodes/pve/qemu").json()["data"][0]["name"] == "web-01"
        # one log stream: the parent relays each worker's lines, naming the scenario
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "alpha (pve) at http://127.0.0.1" in out and "beta (pve) at http://127.0.0.1" in out
    assert "[alpha] 200 POST" in out and "[beta] reloaded" in out
    for pid in children:  # no worker outlives the parent
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_an_invalid_file_stops_every_worker(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(SCENARIO.format(name="good", port=free_port(), vm="web-01"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenariod: 1\nname: bad\nseed: lots\n")
    r = subprocess.run(
        [sys.executable, "-m", "scenariod", "run", "--workers", "2", "--http", "--no-tui", str(good), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert f"{bad}:3:7:" in r.stderr


def test_a_log_line_over_64_kib_keeps_the_worker_serving(tmp_path: Path) -> None:
    """The parent relays a worker's output whatever a line's length (a JSON log line carries the
    request body): were the relay to stop, the worker would block on its full pipe."""
    ports = [free_port(), free_port()]
    paths = []
    for name, port in zip(("alpha", "beta"), ports, strict=True):
        path = tmp_path / f"{name}.yaml"
        # the journal keeps (and the log line carries) the whole 100 KB body
        path.write_text(SCENARIO.format(name=name, port=port, vm="web-01") + "limits: {body_bytes: 200000}\n")
        paths.append(str(path))
    argv = [sys.executable, "-m", "scenariod", "run", "--workers", "2", "--http", "--no-tui", "--no-reload"]
    proc = subprocess.Popen([*argv, "--log-format", "json", *paths], stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)  # drain our end
    reader.start()
    try:
        url = f"http://127.0.0.1:{ports[0]}/api2/json"
        _wait_for(lambda: httpx.get(url + "/nodes/pve/qemu").status_code == 200)
        long = "x" * 100_000
        httpx.post(url + "/pools", data={"poolid": "long", "comment": long}, timeout=10)
        for i in range(100):  # 400 KB of lines after the long one: more than the pipe and the reader hold
            httpx.post(url + "/pools", data={"poolid": f"p{i}", "comment": "y" * 4000}, timeout=10)
        assert httpx.get(url + "/nodes/pve/qemu", timeout=10).status_code == 200
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(30)
    finally:
        if proc.poll() is None:  # SIGTERM first: the parent stops its workers (killing it would orphan them)
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    out = "".join(lines)
    assert long in out and '"p99"' in out
