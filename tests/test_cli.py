"""The command line as a user runs it: check, schema, routes, run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def scenariod(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scenariod", *args], capture_output=True, text=True, cwd=ROOT, timeout=60, **kwargs
    )


def test_check_accepts_every_pinned_scenario():
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scenarios").rglob("*.yaml"))
    result = scenariod("check", *files)
    assert result.returncode == 0, result.stderr
    assert all(f"{f}: ok" in result.stdout for f in files)


def test_check_reports_file_line_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "scenariod: 1\nname: bad\nstate:\n  /nodes/pve1/qemus: []\nfaults:\n  - when: GET /version\n    delay: soon\n"
    )
    result = scenariod("check", str(bad))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"{bad}:4:3: ") and "did you mean /nodes/{node}/qemu" in line for line in lines), lines
    assert any(
        line.startswith(f"{bad}:7:12: ") and "`delay: soon` is not a duration; write 250ms, 2s or 1m" in line
        for line in lines
    ), lines


def test_check_reports_yaml_syntax_errors(tmp_path):
    bad = tmp_path / "syntax.yaml"
    bad.write_text("scenariod: 1\nname: [unclosed\n")
    result = scenariod("check", str(bad))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{bad}:") and "YAML syntax error" in result.stderr


def test_run_refuses_an_invalid_file_with_its_position(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenariod: 1\nname: bad\nservice: pvx\n")
    result = scenariod("run", str(bad), "--http", "--port", "0")
    assert result.returncode == 1
    assert f"{bad}:3:10: " in result.stderr and "pve, pbs, pdm" in result.stderr


def test_schema_prints_the_json_schema():
    result = scenariod("schema")
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"state", "routes", "faults", "tasks", "auth"} <= set(schema["properties"])


def test_routes_lists_every_operation_and_filters():
    everything = scenariod("routes")
    assert len(everything.stdout.splitlines()) == 675
    qemu = scenariod("routes", "/nodes/*/qemu/*/status/*").stdout.splitlines()
    assert any(line.startswith("POST   /nodes/{node}/qemu/{vmid}/status/start (task)") for line in qemu)
    assert len(scenariod("routes", "--service", "pbs").stdout.splitlines()) == 367
    assert len(scenariod("routes", "--service", "pdm").stdout.splitlines()) == 327


def test_run_serves_until_interrupted(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scenariod",
            "run",
            "scenarios/two-node.yaml",
            "--http",
            "--port",
            "0",
            "--no-tui",
            "--journal-size",
            "2",
            "--task-limit",
            "5",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SCENARIOD_CACHE": str(tmp_path)},
    )
    try:
        banner = proc.stdout.readline()
        assert "two-node (pve) at http://127.0.0.1:" in banner, banner + proc.stderr.read()
        url = banner.split(" at ", 1)[1].split()[0].removesuffix("/api2/json")
        assert httpx.get(f"{url}/health").status_code == 200
        r = httpx.post(f"{url}/api2/json/access/ticket", data={"username": "root@pam", "password": "secret"})
        assert r.json()["data"]["username"] == "root@pam"
        # The limits flags bound the journal and the task list, whatever the file says.
        assert httpx.get(f"{url}/_scenariod/scenario").json()["limits"]["journal"] == 2
        assert httpx.get(f"{url}/_scenariod/scenario").json()["limits"]["tasks"] == 5
        for _ in range(3):
            httpx.get(f"{url}/api2/json/version")
        assert len(httpx.get(f"{url}/_scenariod/journal").json()["entries"]) == 2
    finally:
        proc.send_signal(2)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "POST   /access/ticket" in out
