"""`scenariod run --workers N`: serve the files from N processes under one parent.

One Python process serves at most one core's worth of requests. With several files (an
estate: clusters, Backup Servers, a PDM), the parent splits them over N worker processes,
each a plain `scenariod run` of its share. Every file's service lives in exactly one worker,
so its state stays consistent; services reach each other only over HTTP, which is also why
the same files can be split over several machines (see the README).

The parent:
- starts the workers and relays their log lines into one stream (each line names its
  scenario), so the output reads as one server's;
- watches every file and tells the worker that serves it to reload it (SIGHUP: the worker
  reloads those of its files whose text changed; an invalid edit keeps the last good version,
  as without workers);
- stops them all on Ctrl-C or SIGTERM, and stops the rest when one of them exits (a file
  invalid at start-up exits 1 with its FILE:LINE:COLUMN messages, as without workers).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

STOP_GRACE = 10.0  # seconds a worker gets to stop cleanly before it is killed
RELAY_CHUNK = 1 << 16  # bytes of a worker's output read at once


def partition(files: list[str], workers: int) -> list[list[str]]:
    """Each file in exactly one group: the largest first, onto the group with the least bytes.

    File size stands in for load (guests and state); groups keep the command line's order.
    """
    count = max(1, min(workers, len(files)))
    loads = [0] * count
    owner: dict[int, int] = {}
    for index in sorted(range(len(files)), key=lambda i: -_size(files[i])):
        group = loads.index(min(loads))
        owner[index] = group
        loads[group] += _size(files[index]) or 1
    return [[f for i, f in enumerate(files) if owner[i] == g] for g in range(count)]


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def worker_argv(args: argparse.Namespace, files: list[str]) -> list[str]:
    """The `scenariod run` command line of one worker: the parent's options, its files."""
    argv = [sys.executable, "-m", "scenariod", "run", "--worker", "--no-tui", "--no-reload"]
    argv += ["--log-format", args.log_format]
    if args.host:
        argv += ["--host", args.host]
    if args.http:
        argv.append("--http")
    if args.reset_on_reload:
        argv.append("--reset-on-reload")
    if args.api:
        argv += ["--api", args.api]
    if args.state_file:  # a directory (run() makes it): each worker keeps its own files' state there
        argv += ["--state-file", args.state_file] + (["--keep-state"] if args.keep_state else [])
    for flag, value in (("--journal-size", args.journal_size), ("--task-limit", args.task_limit)):
        if value is not None:
            argv += [flag, str(value)]
    return argv + files


async def supervise(args: argparse.Namespace) -> int:
    """Run the workers until a signal or until one of them exits; the exit status to return."""
    groups = partition(args.files, args.workers)
    env = dict(os.environ)
    # A worker's stdout is our pipe, and its request log batches its writes (reqlog.LineLog,
    # a flush every 50 ms); PYTHONUNBUFFERED (common in containers and CI) would turn that
    # into a write per request in the worker and a wake-up per request here, a third of a
    # core at 15,000 requests a second. What the user sees is our output, flushed as it comes.
    env.pop("PYTHONUNBUFFERED", None)
    if args.control_token:  # through the environment: a command line is readable by every local user
        env["SCENARIOD_CONTROL_TOKEN"] = args.control_token
    procs = [
        await asyncio.create_subprocess_exec(*worker_argv(args, group), stdout=asyncio.subprocess.PIPE, env=env)
        for group in groups
    ]
    owners = {os.path.realpath(f): proc for proc, group in zip(procs, groups, strict=True) for f in group}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    relays = [asyncio.create_task(_relay(proc)) for proc in procs]
    exits = [asyncio.create_task(proc.wait()) for proc in procs]
    watcher = None if args.no_reload else asyncio.create_task(_watch(owners, stop))
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopping, *exits], return_when=asyncio.FIRST_COMPLETED)
    status = 0
    for task in exits:
        if task in done and task.result() != 0:
            status = 1
    stop.set()
    await _stop_all(procs)
    await asyncio.gather(*relays, return_exceptions=True)
    if watcher is not None:
        watcher.cancel()
    stopping.cancel()
    return status


async def _relay(proc: asyncio.subprocess.Process) -> None:
    """Copy a worker's output to our stdout in whole lines (lines of workers never interleave).

    Whatever has arrived is copied at once (its complete lines, one write and one flush), not
    line by line: a worker logs every request, and a flush per line is a system call per
    request. Nor is a line's length bounded, as readline()'s 64 KiB was: a longer line ended
    the relay, and the worker then blocked on its full pipe.
    """
    assert proc.stdout is not None
    out = sys.stdout.buffer
    partial = b""  # the start of a line whose end has not arrived yet
    while chunk := await proc.stdout.read(RELAY_CHUNK):
        partial += chunk
        end = partial.rfind(b"\n") + 1
        if end:
            out.write(partial[:end])
            out.flush()
            partial = partial[end:]
    if partial:
        out.write(partial)
        out.flush()


async def _watch(owners: dict[str, asyncio.subprocess.Process], stop: asyncio.Event) -> None:
    """Tell a worker to reload when one of its files is saved (editors rename over the file)."""
    from watchfiles import awatch  # lazy, as in reload.py: start-up does not wait for it

    roots = sorted({os.path.dirname(path) for path in owners})
    async for changes in awatch(*roots, stop_event=stop, recursive=False, debounce=50, step=20):
        told = set()
        for _change, raw in changes:
            proc = owners.get(os.path.realpath(raw)) or owners.get(os.path.abspath(raw))
            if proc is not None and proc.returncode is None and id(proc) not in told:
                told.add(id(proc))
                proc.send_signal(signal.SIGHUP)


async def _stop_all(procs: list[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def run(args: argparse.Namespace) -> int:
    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        print(f"scenariod: no such file: {', '.join(missing)}", file=sys.stderr)
        return 1
    if args.state_file:  # several files: PATH is a directory, and an existing one to every worker
        try:
            os.makedirs(args.state_file, exist_ok=True)
        except OSError as exc:
            print(f"scenariod: --state-file {args.state_file}: cannot make it a directory: {exc}", file=sys.stderr)
            return 2
    return asyncio.run(supervise(args))
