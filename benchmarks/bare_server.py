"""The ceiling: a bare aiohttp server with no logic at all.

Every GET answers a fixed body (`{"data": []}` by default, or the bytes of `--body-file`,
which the scale benchmark uses to serve a pre-serialized /cluster/resources), every other
method reads its request body and answers `{"data": null}` (or the bytes of
`--write-body-file`: the workflow ceiling answers every write with a UPID and every GET
with a finished task's status). `--route PATH=FILE` gives
one path its own pre-serialized body (a dict lookup per request). It uses the same low-level
`aiohttp.web.Server` and the same kind of TLS context as scenariod, so the difference
between the two is what scenariod does per request. `--one-block` answers as scenariod does
(scenariod/answer.py: a small 200 JSON answer written as one block of bytes, not through
`web.Response`): the like-for-like ceiling, where the default is aiohttp's own.

    python benchmarks/bare_server.py --port 18000 [--cert CERT --key KEY] [--body-file FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
from collections.abc import Callable

from aiohttp import web

_HEADERS = {"Content-Type": "application/json;charset=UTF-8"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", help="PEM certificate: serve HTTPS")
    parser.add_argument("--key", help="PEM key for --cert")
    parser.add_argument("--body-file", help='answer GETs with these bytes instead of {"data": []}')
    parser.add_argument("--write-body-file", help='answer other methods with these bytes instead of {"data": null}')
    parser.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="PATH=FILE",
        help="answer GETs of PATH (query ignored) with the bytes of FILE (repeatable)",
    )
    parser.add_argument(
        "--one-block", action="store_true", help="answer as scenariod does (scenariod.answer.json_answer)"
    )
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the benchmark servers listen on loopback only")
    get_body = b'{"data":[]}'
    if args.body_file:
        with open(args.body_file, "rb") as f:
            get_body = f.read()
    routes: dict[str, bytes] = {}
    for spec in args.route:
        path, _, name = spec.partition("=")
        with open(name, "rb") as f:
            routes[path] = f.read()
    other_body = b'{"data":null}'
    if args.write_body_file:
        with open(args.write_body_file, "rb") as f:
            other_body = f.read()
    asyncio.run(serve(args, get_body, other_body, routes))


def _answer_with(one_block: bool) -> Callable[[web.BaseRequest, bytes], web.StreamResponse]:
    if one_block:
        from scenariod.answer import json_answer  # only then: the default ceiling imports nothing of scenariod

        return json_answer
    return lambda request, body: web.Response(body=body, headers=_HEADERS)


async def serve(args: argparse.Namespace, get_body: bytes, other_body: bytes, routes: dict[str, bytes]) -> None:

    answer = _answer_with(args.one_block)

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if request.method in ("GET", "HEAD"):
            if routes:
                return answer(request, routes.get(request.raw_path.split("?", 1)[0], get_body))
            return answer(request, get_body)
        if request.body_exists:
            await request.read()
        return answer(request, other_body)

    ssl_context = None
    if args.cert:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.cert, args.key)
    runner = web.ServerRunner(web.Server(handle), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, ssl_context=ssl_context, reuse_address=True)
    await site.start()
    scheme = "https" if ssl_context else "http"
    print(f"bare aiohttp server at {scheme}://{args.host}:{args.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    main()
