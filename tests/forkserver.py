"""A fork server for tests that start `scenariod run` many times (the kill -9 loop of
tests/test_statefile.py): the interpreter and scenariod are imported once, then every line
read from stdin ("STDOUT-FILE STDERR-FILE ARG...") forks a child that runs the real command
line, `scenariod.cli.main(ARG...)`, with its stdout (the banner, the request log) and stderr
in those files; the child's pid is printed. The child is a whole `scenariod run` process,
minus 0.7 s of imports per start.
"""

from __future__ import annotations

import os
import sys

import scenariod.reload  # noqa: F401  (what `run` imports lazily: once here, for every child)
import scenariod.reqlog  # noqa: F401
import scenariod.server  # noqa: F401
import scenariod.statefile  # noqa: F401
from scenariod.cli import main as cli_main
from scenariod.scenario import load_scenario


def serve_forks() -> None:
    load_scenario(sys.argv[1])  # the API description and the cache memo, once
    print("ready", flush=True)
    for line in sys.stdin:
        outfile, errfile, *argv = line.split()
        pid = os.fork()
        if pid == 0:
            for fd, name in ((1, outfile), (2, errfile)):
                os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
            sys.stdin.close()
            code = 1
            try:
                code = cli_main(argv)
            finally:
                os._exit(code)
        print(f"forked {pid}", flush=True)
        while True:  # reap the children killed so far
            try:
                done, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if done == 0:
                break


if __name__ == "__main__":
    serve_forks()
