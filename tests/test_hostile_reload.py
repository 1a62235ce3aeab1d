"""A hostile file saved over a served scenario (filelimits.py): the reload is refused at its
line in under a second, the last good version keeps serving, /health answers throughout,
restoring the good file works, and SIGTERM still stops the process."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
from test_reload import (  # noqa: F401
    Cli,
    cli,
    save_by_rename,
    save_in_place,
    scenario,
    served_version,
    wait_for,
    warm_up,
)

CORPUS = Path(__file__).resolve().parent / "bad_scenarios"


def test_an_alias_bomb_saved_over_a_served_scenario_is_refused(cli, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "scenario.yaml"
    c = cli(scenario("0"))
    warm_up(c.client, path, "1")  # the watcher is watching
    health_url = c.api.replace("/api2/json", "/health")
    slowest: list[float] = []
    failures: list[str] = []
    stop = threading.Event()

    client = httpx.Client(timeout=30)

    def poll_health() -> None:
        with client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    status = client.get(health_url).status_code
                except httpx.HTTPError as exc:
                    status = repr(exc)
                if status != 200:
                    failures.append(str(status))
                slowest.append(time.monotonic() - started)
                time.sleep(0.01)

    poller = threading.Thread(target=poll_health, daemon=True)
    poller.start()
    wait_for(lambda: slowest, timeout=30)  # polling before the bomb is saved
    try:
        anchors = (CORPUS / "hostile-billion-laughs.yaml").read_text().split("x-bomb:", 1)[1]
        bomb = scenario("2") + "x-bomb:" + anchors  # 10^13 nodes, expanded, from 1 KB
        line = next(n for n, x in enumerate(bomb.splitlines(), start=1) if x.startswith("  a6:"))
        saved = time.monotonic()
        save_by_rename(path, bomb)
        wait_for(lambda: any("ERROR reload refused" in x for x in c.lines), timeout=10)
        assert time.monotonic() - saved < 5
        wait_for(lambda: any(f"{path}:" in x and "--max-yaml-nodes" in x for x in c.lines))
        refusal = next(x.strip() for x in c.lines if f"{path}:" in x and "--max-yaml-nodes" in x)
        assert refusal.startswith(f"{path}:{line}:")  # at the alias that crosses 5,000,000 nodes
        assert served_version(c.client) == "1"  # the last good version serves on
        save_in_place(path, scenario("3"))  # restoring a good file works
        wait_for(lambda: served_version(c.client) == "3", timeout=10)
    finally:
        stop.set()
        poller.join(10)
    assert not failures, failures
    assert slowest and max(slowest) < 5.0, max(slowest)  # it answered throughout (a bomb once hung it for good)
    assert c.stop() == 0  # SIGTERM stops it
    assert c.lines[-1] == "scenariod: stopped"


def test_a_fifo_saved_over_a_served_scenario_never_blocks(cli, tmp_path: Path) -> None:  # noqa: F811
    import os

    path = tmp_path / "scenario.yaml"
    c = cli(scenario("0"))
    warm_up(c.client, path, "1")  # the watcher is watching
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    os.replace(fifo, path)  # opening it for reading would wait for a writer forever
    wait_for(lambda: any("a FIFO, not a regular file" in x for x in c.lines), timeout=10)
    assert httpx.get(c.api.replace("/api2/json", "/health"), timeout=5).status_code == 200
    assert served_version(c.client) == "1"
    path.unlink()
    save_in_place(path, scenario("2"))
    wait_for(lambda: served_version(c.client) == "2", timeout=10)
    assert c.stop() == 0
