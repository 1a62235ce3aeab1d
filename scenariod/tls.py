"""The self-signed certificate a scenario serves HTTPS with, made on first use and kept.

A CA and a server certificate for localhost and the listen address are written to the
user's cache directory, so a client can verify against `ca.pem` run after run.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import cache_dir

if TYPE_CHECKING:
    import trustme

    from .scenario.model import Listen


def local_ca_file() -> Path:
    """Where the local CA that signs every instance's certificate is kept (it may not exist yet)."""
    return cache_dir() / "ca.pem"


def ensure_certificate(host: str) -> tuple[Path, Path, Path]:
    """(ca.pem, cert.pem, key.pem) for `host`, created once and reused.

    Several processes may start at once on a fresh cache (pytest-xdist workers): creation
    runs under a file lock, so no one reads a certificate whose key another is writing.
    A file that does not load (truncated, garbage, a key of another certificate) is made
    again, with a line on stderr saying so: a broken cache never stops a start.
    """
    import fcntl

    folder = cache_dir()
    ca_file, ca_key_file, cert_file, key_file = (
        local_ca_file(),
        folder / "ca-key.pem",
        folder / f"{_safe(host)}-cert.pem",
        folder / f"{_safe(host)}-key.pem",
    )
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ca_ok = _loads(_check_ca, ca_file)
        if ca_ok and _loads(_check_pair, cert_file, key_file):
            return ca_file, cert_file, key_file
        import trustme

        ca = _load_ca(ca_file, ca_key_file) if ca_ok else None
        if ca is None:
            ca = trustme.CA(organization_name="scenariod", organization_unit_name="scenariod local CA")
            ca.private_key_pem.write_to_path(str(ca_key_file))
            os.chmod(ca_key_file, 0o600)
            ca.cert_pem.write_to_path(str(ca_file))
        names = {"localhost", "127.0.0.1", "::1", socket.gethostname()}
        if host not in ("0.0.0.0", "::", ""):
            names.add(host)
        cert = ca.issue_cert(*sorted(names))
        cert.private_key_pem.write_to_path(str(key_file))
        os.chmod(key_file, 0o600)
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
    return ca_file, cert_file, key_file


def _loads(check: Callable[..., object], *files: Path) -> bool:
    """The files exist and `check` reads them; a broken one is said on stderr (it is made again)."""
    if not all(f.exists() for f in files):
        return False
    try:
        check(*files)
    except (OSError, ValueError, ssl.SSLError) as exc:
        names = " and ".join(str(f) for f in files)
        print(f"scenariod: {names} did not load ({exc}); making new ones", file=sys.stderr)
        return False
    return True


def _check_ca(ca_file: Path) -> None:
    ssl.create_default_context(cafile=str(ca_file))


def _check_pair(cert_file: Path, key_file: Path) -> None:
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(str(cert_file), str(key_file))


def _load_ca(ca_file: Path, ca_key_file: Path) -> trustme.CA | None:
    """The CA to issue from, or None (with a line on stderr) when its key is missing or broken."""
    import trustme

    if not ca_key_file.exists():
        return None
    try:
        return trustme.CA.from_pem(ca_file.read_bytes(), ca_key_file.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        print(f"scenariod: {ca_key_file} did not load ({exc}); making a new CA", file=sys.stderr)
        return None


def server_context(listen: Listen, host: str) -> tuple[ssl.SSLContext, str | None]:
    """The server's TLS context and the CA file clients can verify against (None if user-given)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if listen.cert and listen.key:
        ctx.load_cert_chain(listen.cert, listen.key)
        return ctx, None
    ca_file, cert_file, key_file = ensure_certificate(host)
    ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx, str(ca_file)


def _safe(host: str) -> str:
    return "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in host) or "any"
