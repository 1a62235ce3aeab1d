"""The command line: run, check, schema, routes, verify, fleet, snapshot, import.

Each command imports what it needs inside its own function: lazy for start-up speed only
(`check` imports neither aiohttp nor the server). These imports dodge no cycle: cli is at
the top of the import order (tests/test_layers.py).
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import gc
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, filelimits, wire
from .gcpause import serve_built

if TYPE_CHECKING:
    from .apidesc import ApiDescription
    from .statefile import StateFile


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    filelimits.apply_options(args)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    return args.func(args)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scenariod", description="Declarative mock server for the Proxmox REST APIs.")
    p.add_argument("--version", action="version", version=f"scenariod {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="serve scenario files (one listener each)")
    run.add_argument("files", nargs="+", metavar="FILE")
    run.add_argument("--host", help="address to bind (default 127.0.0.1, or the file's listen.host)")
    run.add_argument("--port", type=int, help="port (only with one FILE; 0 picks a free one)")
    run.add_argument("--http", action="store_true", help="serve plain HTTP instead of HTTPS")
    run.add_argument("--no-tui", action="store_true", help="plain log lines even on a terminal")
    run.add_argument("--log-format", choices=("text", "json"), default="text", help="log line format")
    run.add_argument("--reset-on-reload", action="store_true", help="start from the seed on every reload")
    run.add_argument("--no-reload", action="store_true", help="do not watch the files")
    run.add_argument(
        "--control-token", help="require this token on /_scenariod/ (default: the file's auth.control_token)"
    )
    run.add_argument("--journal-size", type=int, help="requests kept in the journal (default: limits.journal)")
    run.add_argument("--task-limit", type=int, help="tasks kept per world (default: limits.tasks)")
    run.add_argument(
        "--workers", type=int, default=1, help="serve the files from N processes (each file in one; default 1)"
    )
    run.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # a worker of `--workers`
    run.add_argument(
        "--api", metavar="RELEASE", help="serve this bundled release, e.g. 8.4 (overrides the files' `api`)"
    )
    filelimits.add_options(run)
    run.add_argument(
        "--state-file",
        metavar="PATH",
        help="keep the live state across restarts: saved on stop and on POST /_scenariod/state/save, loaded on"
        " start while the scenario is unchanged (several FILEs: PATH is a directory, NAME.state.json each)",
    )
    run.add_argument(
        "--keep-state", action="store_true", help="with --state-file: merge the saved state into a changed scenario"
    )
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate scenario files; exit 1 with FILE:LINE:COLUMN errors")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--api", metavar="RELEASE", help="check against this bundled release (overrides `api`)")
    filelimits.add_options(check)
    check.set_defaults(func=cmd_check)

    schema = sub.add_parser("schema", help="print the JSON Schema of scenario files")
    schema.set_defaults(func=cmd_schema)

    routes = sub.add_parser("routes", help="list the API paths and methods served")
    routes.add_argument("pattern", nargs="?", help="a glob over paths, e.g. '/nodes/*/qemu*'")
    routes.add_argument("--service", choices=wire.SERVICES, default="pve")
    routes.add_argument("--api", metavar="RELEASE", help="a bundled release, e.g. 7.4 (default: the newest)")
    routes.add_argument(
        "--diff", nargs=2, metavar=("OLD", "NEW"), help="what was added, removed or changed between two releases"
    )
    routes.set_defaults(func=cmd_routes)

    verify = sub.add_parser("verify", help="check a running instance's journal against expectations; exit 1 if unmet")
    verify.add_argument("url", metavar="URL", help="the instance, e.g. https://127.0.0.1:8006 (or .../_session/ID)")
    verify.add_argument(
        "file", nargs="?", metavar="FILE", help="check this file's `expect` section (default: the served scenario's)"
    )
    verify.add_argument("--session", help="check this session's journal (`*`: every session and the default)")
    verify.add_argument(
        "--cacert", metavar="CA", help="CA file to verify HTTPS with (default: the system's and scenariod's own)"
    )
    verify.add_argument("-k", "--insecure", action="store_true", help="do not verify the HTTPS certificate")
    verify.add_argument("--token", help="the control token (default: $SCENARIOD_CONTROL_TOKEN)")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=cmd_verify)

    fleet = sub.add_parser("fleet", help="write a consistent estate: VE clusters, Backup Servers and a PDM over them")
    fleet.add_argument("outdir", metavar="OUTDIR")
    fleet.add_argument("--clusters", type=int, required=True, help="VE clusters (1-99)")
    fleet.add_argument("--nodes-per-cluster", type=int, default=3, help="nodes in each cluster (default 3)")
    fleet.add_argument("--guests-per-cluster", type=int, default=20, help="guests in each cluster (default 20)")
    fleet.add_argument("--pbs", type=int, default=0, help="Backup Servers holding the clusters' backups")
    fleet.add_argument("--pdm", action="store_true", help="add a Datacenter Manager with every instance as a remote")
    fleet.add_argument("--seed", type=int, default=42, help="the estate is the same for the same seed")
    fleet.add_argument(
        "--base-port", type=int, default=20000, help="VE i on BASE+i-1, PBS j on BASE+500+j-1, PDM BASE+999"
    )
    fleet.set_defaults(func=cmd_fleet)
    _snapshot_parser(sub)
    _import_parser(sub)
    return p


def cmd_fleet(args: argparse.Namespace) -> int:
    from .fleet import write_fleet  # lazy: keeps `scenariod run` start-up free of it

    try:
        paths = write_fleet(
            Path(args.outdir),
            args.clusters,
            args.nodes_per_cluster,
            args.guests_per_cluster,
            pbs=args.pbs,
            pdm=args.pdm,
            seed=args.seed,
            base_port=args.base_port,
        )
    except ValueError as exc:
        print(f"scenariod fleet: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


def _snapshot_parser(sub: argparse._SubParsersAction) -> None:
    snap = sub.add_parser(
        "snapshot",
        help="copy a live PVE/PBS/PDM (or scenariod) into a scenario, reading it with GETs only",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=SNAPSHOT_HELP,
    )
    snap.add_argument("url", metavar="URL", help="the source, e.g. https://pve1.example.com:8006")
    snap.add_argument("-o", "--output", metavar="FILE", help="the scenario to write (default: snapshot-HOST.yaml)")
    snap.add_argument("--token", metavar="USER@REALM!ID=SECRET", help="read with this API token")
    snap.add_argument("--user", metavar="USER@REALM", help="log in as this user (with --password-file)")
    snap.add_argument("--password-file", metavar="F", help="the password, first line of F")
    snap.add_argument("--ca", metavar="FILE", help="CA file to verify HTTPS with (default: the system's)")
    snap.add_argument("-k", "--insecure", action="store_true", help="do not verify the HTTPS certificate")
    snap.add_argument("--service", choices=wire.SERVICES, help="pve, pbs or pdm (default: from the port, else pve)")
    snap.add_argument("--format", choices=("yaml", "json"), default="yaml", help="output format (json: large clusters)")
    snap.add_argument("--include", action="append", default=[], metavar="GLOB", help="copy only matching paths")
    snap.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="do not read matching paths")
    snap.add_argument("--no-default-excludes", action="store_true", help="read what is skipped by default too")
    snap.add_argument("--max-requests", type=int, default=0, metavar="N", help="stop after N requests (0: no cap)")
    snap.add_argument(
        "--concurrency", type=int, metavar="N", help="requests in flight (default 4; 16 for a source on loopback)"
    )
    snap.add_argument(
        "--rate",
        type=float,
        metavar="N",
        help="requests per second at most (0: no cap; default 1000, no cap on loopback)",
    )
    snap.add_argument("--keep-fingerprints", action="store_true", help="keep certificate fingerprints")
    snap.add_argument("--no-progress", action="store_true", help="plain progress lines even on a terminal")
    snap.set_defaults(func=cmd_snapshot)


SNAPSHOT_HELP = """\
Read a live Proxmox VE, Backup Server or Datacenter Manager (or another scenariod) through
its API and write a scenario that serves the same cluster: `scenariod run FILE`.

What is read: every GET of the bundled API description whose path parameters bind from
what was already read (a collection's items name its children), with GETs only (plus a
login POST with --user), --concurrency requests in flight and at most --rate per second:
4 and 1,000/s for a cluster, whose API serves its users meanwhile; 16 and no cap for a
source on this machine (127.0.0.1, ::1, localhost: a scenariod or a lab), where those caps
would be the limit (a 10,000-guest cluster is ~64,000 reads; benchmarks/README.md).
What is read is kept in FILE.partial: an interrupted run, or one stopped by --max-requests
(exit status 3), continues from it when run again; it is removed once complete.

Not read by default (--no-default-excludes reads them): task lists and logs, RRD data,
syslog/journal/cluster/ceph/firewall logs, node reports, live counters (netstat, container
interfaces), guest agent calls, /access/ticket, and the views scenariod derives from the
rest (/cluster/resources, /cluster/status, /cluster/nextid, node and guest status, pending
changes, cloud-init and migration checks, firewall refs, PBS datastore usage, PDM
/resources and metric collection status): copied, they would stay frozen while the copy
changes. GETs that need a query parameter are skipped. --exclude adds to these. Nor read,
since the copy answers them from what is read: a volume's attributes (its content entry and
its storage's path), the guests no backup job includes, and a shared storage's content on
more than one node (the same list).

Values that state cannot hold (a collection answering an object, items without their key)
are written as `routes`. Exit status: 0 done, 1 error, 3 stopped at --max-requests.

Secrets are never written: fields named password, secret, token, ticket, privkey, keyring
(and *-password, *-secret, *-token, *-key), the same parts of property strings
(`hostname=h,fingerprint=..`), and certificate fingerprints unless --keep-fingerprints; the
file's header and description list what was dropped. The written `auth` keeps user and
token ids with `mode: any`, so any password or token secret logs in.
"""


def cmd_snapshot(args: argparse.Namespace) -> int:
    from .snapshot import Options, main, read_password

    if args.token and args.user:
        print("scenariod snapshot: give --token or --user, not both", file=sys.stderr)
        return 2
    if args.user and not args.password_file:
        print("scenariod snapshot: --user needs --password-file", file=sys.stderr)
        return 2
    opts = Options(
        url=args.url,
        service=args.service,
        output=Path(args.output) if args.output else None,
        fmt=args.format,
        token=args.token,
        user=args.user,
        password=read_password(args.password_file) if args.password_file else None,
        ca=args.ca,
        insecure=args.insecure,
        include=args.include,
        exclude=args.exclude,
        defaults=not args.no_default_excludes,
        max_requests=args.max_requests,
        concurrency=args.concurrency,
        rate=args.rate,
        keep_fingerprints=args.keep_fingerprints,
        progress=False if args.no_progress else None,
    )
    return main(opts)


def _import_parser(sub: argparse._SubParsersAction) -> None:
    imp = sub.add_parser("import", help="convert proxmox-sdk mock data or a fakepve guest list into a scenario")
    imp.add_argument("file", metavar="FILE", help="proxmox-sdk mock data (JSON or YAML) or a fakepve guest list")
    imp.add_argument("-o", "--output", metavar="OUT", help="the scenario to write (default: stdout)")
    imp.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from .importer import main as import_main

    return import_main(args.file, args.output)


def cmd_verify(args: argparse.Namespace) -> int:
    from .verify import run_verify

    return run_verify(
        args.url,
        args.file,
        session=args.session,
        cafile=args.cacert,
        insecure=args.insecure,
        token=args.token,
        as_json=args.json,
    )


def cmd_check(args: argparse.Namespace) -> int:
    from .scenario import check_files, summarized

    found = check_files(args.files, args.api, warnings=True)
    for line in summarized(found):
        print(line, file=sys.stderr)
    problems = [d for d in found if not d.warning]  # warnings are shown; only errors fail
    if problems:
        print(f"{len(problems)} problem(s) in {len(args.files)} file(s)", file=sys.stderr)
        return 1
    for name in args.files:
        print(f"{name}: ok")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write((Path(__file__).resolve().parent / "data" / "scenario.schema.json").read_text())
    return 0


def cmd_routes(args: argparse.Namespace) -> int:
    from .apidesc import ApiDescription, UnknownApi

    try:
        api = ApiDescription.load(args.service, args.api)
        if args.diff:
            old, new = (ApiDescription.load(args.service, release) for release in args.diff)
    except UnknownApi as exc:
        print(f"scenariod: {exc}", file=sys.stderr)
        return 1
    if args.diff:
        return _print_diff(old, new, args.pattern)
    count = 0
    for node, op in api.operations():
        if args.pattern and not fnmatch.fnmatchcase(node.path, args.pattern):
            continue
        marks = " (task)" if op.returns_upid else ""
        print(f"{op.method:<7}{node.path}{marks}  {_first_line(op.description)}")
        count += 1
    print(f"{count} operation(s), {args.service} {api.version}", file=sys.stderr)
    return 0


def _print_diff(old: ApiDescription, new: ApiDescription, pattern: str | None) -> int:
    from .apidiff import diff_lines

    counts = {"+": 0, "-": 0, "~": 0}
    shown = True
    for line in diff_lines(old, new):
        if line[0] != " ":  # an operation; its parameter lines follow it
            shown = not pattern or fnmatch.fnmatchcase(line[9:], pattern)
            if shown:
                counts[line[0]] += 1
        if shown:
            print(line)
    print(
        f"{old.service} {old.version} -> {new.version}: {counts['+']} added, {counts['-']} removed,"
        f" {counts['~']} changed operation(s)",
        file=sys.stderr,
    )
    return 0


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0][:80]


def cmd_run(args: argparse.Namespace) -> int:
    # Start-up builds long-lived, acyclic structures (scenario, API description, state): no
    # cyclic collection until serving (collections that walk a growing heap and free nothing).
    gc.disable()
    from .scenario import ScenarioInvalid, load_scenario

    if args.port is not None and len(args.files) > 1:
        print("scenariod: --port applies to one FILE; give each file its own listen.port", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("scenariod: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.keep_state and not args.state_file:
        print("scenariod: --keep-state needs --state-file PATH", file=sys.stderr)
        return 2
    if args.workers > 1 and len(args.files) > 1 and not args.worker:
        from . import workers  # lazy: a single process never needs it

        return workers.run(args)
    if args.worker and not args.control_token:  # the parent passes it through the environment
        args.control_token = os.environ.get("SCENARIOD_CONTROL_TOKEN")
    scenarios = []
    failed = False
    for name in args.files:
        try:
            scenarios.append(load_scenario(name, args.api))
        except ScenarioInvalid as exc:
            print(exc, file=sys.stderr)
            failed = True
        except OSError as exc:
            print(f"{name}: cannot read: {exc.strerror}", file=sys.stderr)
            failed = True
    if failed:
        return 1
    state_files: list[StateFile] = []
    if args.state_file:
        from .statefile import StateFile, StateFileError, state_paths

        try:
            state_files = [StateFile(p, args.keep_state) for p in state_paths(args.state_file, scenarios)]
        except StateFileError as exc:
            print(f"scenariod: {exc}", file=sys.stderr)
            return 2
    try:
        asyncio.run(_serve(scenarios, args, state_files))
    except OSError as exc:
        print(f"scenariod: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(scenarios: list, args: argparse.Namespace, state_files: list[StateFile]) -> None:
    from .reqlog import LineLog, LiveLog
    from .server import Service

    services = [
        Service(
            s,
            host=args.host,
            port=args.port,
            tls=False if args.http else None,
            control_token=getattr(args, "control_token", None),
            limits={"journal": args.journal_size, "tasks": args.task_limit},
        )
        for s in scenarios
    ]
    if state_files:  # restored before serving: no request sees the seed first
        for service, state_file in zip(services, state_files, strict=True):
            service.state_file = state_file
            for note in state_file.restore(service):
                print(f"scenariod: {note}", file=sys.stderr, flush=True)
    # The live view on a terminal; plain lines (text or JSON) otherwise, or with --no-tui.
    tui = not args.no_tui and args.log_format == "text" and sys.stdout.isatty()
    watching = not getattr(args, "no_reload", False)
    several = len(services) > 1 or args.worker  # a worker's lines join its siblings' in one stream
    log = LiveLog(services, watching=watching) if tui else LineLog(fmt=args.log_format, several=several)
    for service in services:
        await service.start()
        service.listeners.append(log)
        if service.control_notice:  # before the URL line: a reader of that line may stop us at once
            print(f"scenariod: {service.control_notice}", file=sys.stderr, flush=True)
        ca = f"  (CA: {service.ca_file})" if service.ca_file else ""
        print(
            f"scenariod {__version__}: {service.scenario.name} ({service.scenario.service}) "
            f"at {service.url}/api2/json{ca}",
            flush=True,
        )
    serve_built()  # and collect from here on
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    background = []
    if args.worker:  # the parent watches the files; SIGHUP says one of ours changed
        from .reload import reload_changed

        def reload_soon() -> None:
            background.append(asyncio.create_task(reload_changed(services, reset=args.reset_on_reload)))

        loop.add_signal_handler(signal.SIGHUP, reload_soon)
    if watching:  # hot reload: a saved edit is served within a few tens of milliseconds
        from .reload import watch

        background.append(asyncio.create_task(watch(services, reset=args.reset_on_reload, stop_event=stop)))
    if isinstance(log, LiveLog):
        background.append(asyncio.create_task(log.run(stop)))
    try:
        await stop.wait()
    finally:
        stop.set()
        if background:
            _, pending = await asyncio.wait(background, timeout=2)
            for task in pending:
                task.cancel()
        for service in services:
            await service.stop()
        for service in services:  # after the listeners closed: nothing changes the state any more
            if service.state_file is not None:
                try:
                    saved = await service.state_file.save(service)
                    print(f"scenariod: saved the state to {saved['saved']}", file=sys.stderr, flush=True)
                except OSError as exc:
                    print(f"scenariod: cannot save the state: {exc}", file=sys.stderr, flush=True)
        if isinstance(log, LineLog):
            log.flush()  # the request lines kept since the last write
        print("scenariod: stopped", flush=True)
