"""Shared pieces of the benchmarks: servers as processes, load drivers, measurements.

Everything listens on and targets 127.0.0.1 only, every load run is bounded in time, and
every process started here is stopped here (by its own pid).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS_VENV = HERE / ".peers-venv"
PEER_PACKAGES = {"fakepve": "0.5.0", "proxmox-sdk": "0.0.15"}  # pinned: the figures name them
HOST = "127.0.0.1"

TOKEN_ID = "root@pam!ci"
TOKEN_SECRET = "5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10"  # scenarios/two-node.yaml's token
AUTH = f"PVEAPIToken={TOKEN_ID}={TOKEN_SECRET}"

SERVER_CPU = 0  # on a 2-core machine: the server on one core, the load generator on the other
CLIENT_CPU = 1


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def pin(cpu: int) -> Callable[[], None] | None:
    """A preexec_fn that pins the child to one core, when there are at least two."""
    if cpus() < 2 or not hasattr(os, "sched_setaffinity"):
        return None

    def _pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return _pin


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def write_results(out_dir: Path, name: str, res: dict[str, Any], md: str) -> None:
    """`name`.json and `name`.md in `out_dir`; the tables also to stdout."""
    (out_dir / f"{name}.json").write_text(json.dumps(res, indent=1) + "\n")
    (out_dir / f"{name}.md").write_text(md)
    print(md)
    log(f"written: {out_dir / f'{name}.json'}, {out_dir / f'{name}.md'}")


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used so far (threads included)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15 of stat)


def median(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


# --- servers ---------------------------------------------------------------------------------


@dataclass
class ServerSpec:
    """How to start one server on a port and transport."""

    name: str
    argv: Callable[[int, bool], list[str]]  # (port, tls) -> argv
    env: Callable[[], dict[str, str]] = lambda: {}
    post_form: bool = True  # POST parameters in a form body (False: in the query string)
    auth_checked: bool = True  # does it check the API token at all
    note: str = ""


@dataclass
class Running:
    spec: ServerSpec
    proc: subprocess.Popen
    port: int
    tls: bool
    log_path: Path
    started: float
    ready_after: float | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen, grace: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def start_server(
    spec: ServerSpec,
    tls: bool,
    workdir: Path,
    *,
    port: int | None = None,
    wait_path: str = "/api2/json/nodes",
    timeout: float = 60.0,
    pinned: bool = True,
) -> Running:
    """Start a server and wait for the first authenticated 200 on `wait_path`."""
    port = port or free_port()
    argv = spec.argv(port, tls)
    env = {**os.environ, **spec.env()}
    log_path = workdir / f"{spec.name}-{'https' if tls else 'http'}-{port}.log"
    out = open(log_path, "wb")
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        preexec_fn=pin(SERVER_CPU) if pinned else None,
        cwd=str(workdir),
    )
    out.close()
    running = Running(spec, proc, port, tls, log_path, started)
    try:
        running.ready_after = wait_ready(running, wait_path, timeout)
    except Exception:
        running.stop()
        raise
    return running


def _client_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # all servers share one self-signed certificate; wrk does not verify either
    return ctx


_CTX = _client_context()


def connection(port: int, tls: bool, timeout: float = 10.0) -> http.client.HTTPConnection:
    if tls:
        return http.client.HTTPSConnection(HOST, port, timeout=timeout, context=_CTX)
    return http.client.HTTPConnection(HOST, port, timeout=timeout)


def request(
    port: int,
    tls: bool,
    method: str,
    path: str,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    conn: http.client.HTTPConnection | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    own = conn is None
    conn = conn or connection(port, tls, timeout)
    hdrs = {"Authorization": AUTH, **(headers or {})}
    if body is not None:
        hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        if own:
            conn.close()


def wait_ready(running: Running, path: str, timeout: float) -> float:
    """Seconds from spawn to the first 200 on `path` with the API token (polls every 5 ms)."""
    deadline = running.started + timeout
    last = ""
    while time.perf_counter() < deadline:
        if running.proc.poll() is not None:
            raise RuntimeError(
                f"{running.spec.name} exited with {running.proc.returncode}; see {running.log_path}:\n"
                + _tail(running.log_path)
            )
        try:
            status, body = request(running.port, running.tls, "GET", path, timeout=2.0)
            if status == 200:
                return time.perf_counter() - running.started
            last = f"HTTP {status} {body[:200]!r}"
        except (OSError, http.client.HTTPException) as exc:
            last = repr(exc)
        time.sleep(0.005)
    raise RuntimeError(
        f"{running.spec.name} not ready after {timeout}s (last: {last}); see {running.log_path}:\n"
        + _tail(running.log_path)
    )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- load ------------------------------------------------------------------------------------


@dataclass
class Load:
    """One endpoint's load: method, path (with "{n}" for a counter), form body."""

    name: str
    method: str
    path: str
    body: str | None = None
    limit: int = 0


@dataclass
class LoadResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int
    issued: int
    cpu_us_per_req: float | None = None  # the server's CPU time per answered request
    raw: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d.pop("raw")
        return d


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def wrk_command(url: str, load: Load, connections: int, duration: float) -> tuple[list[str], dict[str, str]]:
    """argv and environment of one wrk run (one thread) with benchmarks/wrk/bench.lua."""
    env = {
        **os.environ,
        "BENCH_METHOD": load.method,
        "BENCH_PATH": load.path,
        "BENCH_BODY": load.body or "",
        "BENCH_AUTH": AUTH,
        "BENCH_LIMIT": str(load.limit),
    }
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(HERE / "wrk" / "bench.lua"),
        url,
    ]
    return argv, env


def bench_json(stdout: str, what: str = "load generator") -> dict[str, Any]:
    """The `BENCH_JSON {...}` line a load generator printed."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"{what} gave no result:\n{stdout}")
    return json.loads(line[len("BENCH_JSON ") :])


def drive(driver: str, running: Running, load: Load, connections: int, duration: float) -> LoadResult:
    """Run one bounded load against a running server; returns its figures."""
    if driver == "wrk":
        argv, env = wrk_command(running.url, load, connections, duration)
    else:
        env = dict(os.environ)
        argv = [
            sys.executable,
            str(HERE / "loadgen.py"),
            "--url",
            running.url,
            "--path",
            load.path,
            "--method",
            load.method,
            "--header",
            f"Authorization: {AUTH}",
            "--connections",
            str(connections),
            "--duration",
            str(duration),
            "--limit",
            str(load.limit),
        ]
        if load.body is not None:
            argv += ["--body", load.body]
    cpu0 = cpu_seconds(running.pid)
    proc = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=duration + 60, preexec_fn=pin(CLIENT_CPU), cwd=str(ROOT)
    )
    cpu1 = cpu_seconds(running.pid)
    raw = bench_json(proc.stdout + proc.stderr, f"{driver} (exit {proc.returncode})")
    dur = raw["duration_us"] / 1e6
    return LoadResult(
        requests=raw["requests"],
        duration_s=round(dur, 3),
        rps=round(raw["requests"] / dur, 1) if dur else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        non2xx=raw["status_errors"],
        socket_errors=raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"],
        issued=raw.get("issued", 0),
        cpu_us_per_req=round((cpu1 - cpu0) / raw["requests"] * 1e6, 1)
        if cpu0 is not None and cpu1 is not None and raw["requests"]
        else None,
        raw=raw,
    )


def drive_workflow(running: Running, concurrency: int, duration: float, vmid_base: int) -> dict[str, Any]:
    """Run benchmarks/workflow.py (proxmoxer, HTTPS) against a running server for `duration` s.

    Returns its BENCH_JSON figures plus `wps` (workflows per second) and the server's CPU
    seconds over the run (`server_cpu_s`), the client pinned to the load generator's core.
    """
    argv = [
        sys.executable,
        str(HERE / "workflow.py"),
        "--port",
        str(running.port),
        "--token",
        f"{TOKEN_ID}={TOKEN_SECRET}",
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration),
        "--vmid-base",
        str(vmid_base),
    ]
    cpu0 = cpu_seconds(running.pid)
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration + 300, preexec_fn=pin(CLIENT_CPU), cwd=str(ROOT)
    )
    cpu1 = cpu_seconds(running.pid)
    out = bench_json(proc.stdout + proc.stderr, f"workflow.py (exit {proc.returncode})")
    out["wps"] = round(out["workflows"] / out["duration_s"], 2) if out["duration_s"] else 0.0
    out["server_cpu_s"] = round(cpu1 - cpu0, 3) if cpu0 is not None and cpu1 is not None else None
    return out


# --- peers -----------------------------------------------------------------------------------


def ensure_peers_venv() -> Path:
    """benchmarks/.peers-venv with the pinned peers from PyPI; created on first use."""
    py = PEERS_VENV / "bin" / "python"
    marker = PEERS_VENV / ".installed"
    want = " ".join(f"{k}=={v}" for k, v in sorted(PEER_PACKAGES.items()))
    if py.exists() and marker.exists() and marker.read_text().strip() == want:
        return py
    log(f"creating {PEERS_VENV} with {want} (pip, from PyPI) ...")
    if not py.exists():
        subprocess.run([_base_python(), "-m", "venv", str(PEERS_VENV)], check=True, timeout=300)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *want.split()], check=True, timeout=900)
    marker.write_text(want + "\n")
    return py


def _base_python() -> str:
    """A Python to build the peers venv with (not the project venv's, so it stays separate)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return base


def peers_python() -> Path:
    return PEERS_VENV / "bin" / "python"


# --- a quiet machine ---------------------------------------------------------------------------


def _cpu_times() -> tuple[int, int]:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(x) for x in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values[:8]), idle


def busy_fraction(window: float = 0.5) -> float:
    """Share of all CPUs busy during `window` seconds (our idle servers use ~0)."""
    try:
        t0, i0 = _cpu_times()
        time.sleep(window)
        t1, i1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return 0.0
    total = t1 - t0
    return 0.0 if total <= 0 else max(0.0, 1.0 - (i1 - i0) / total)


def wait_quiet(max_wait: float, threshold: float = 0.15) -> float:
    """Wait (at most `max_wait` s) until other processes leave the CPUs; returns the last busy share."""
    deadline = time.monotonic() + max_wait
    busy = busy_fraction()
    while busy > threshold and time.monotonic() < deadline:
        busy = busy_fraction(1.0)
    return busy


def precompile_scenariod(extra_env: dict[str, str] | None = None) -> str | None:
    """Write scenariod's bytecode (__pycache__, git-ignored) as an install or a first run would.

    With PYTHONDONTWRITEBYTECODE set (as on these machines) an editable install never gets
    .pyc files, and every start would compile scenariod from source; the startup figures
    would then measure the compiler. Returns the package folder compiled.
    """
    env = {**os.environ, **(extra_env or {})}
    probe = subprocess.run(
        [sys.executable, "-c", "import scenariod, os; print(os.path.dirname(scenariod.__file__))"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile_dir(),
        timeout=60,
    )
    folder = probe.stdout.strip()
    if not folder:
        return None
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", folder],
        env=env,
        cwd=tempfile_dir(),
        timeout=300,
        capture_output=True,
    )
    return folder


def tempfile_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


def install_wrk() -> bool:
    """apt-get install -y wrk (Debian's package), when root and apt-get are there."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        log("cannot install wrk here (needs root and apt-get)")
        return False
    log("installing wrk: apt-get install -y wrk")
    proc = subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, timeout=600)
        proc = subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True, text=True, timeout=600)
    return have_wrk()
