"""The self-signed certificate a scenario serves HTTPS with, made on first use and kept.

A CA and a server certificate for localhost and the listen address are written to the
user's cache directory, so a client can verify against `ca.pem` run after run.
"""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import cache_dir

if TYPE_CHECKING:
    from .scenario import Listen


def local_ca_file() -> Path:
    """Where the local CA that signs every instance's certificate is kept (it may not exist yet)."""
    return cache_dir() / "ca.pem"


def ensure_certificate(host: str) -> tuple[Path, Path, Path]:
    """(ca.pem, cert.pem, key.pem) for `host`, created once and reused.

    Several processes may start at once on a fresh cache (pytest-xdist workers): creation
    runs under a file lock, so no one reads a certificate whose key another is writing.
    """
    import fcntl

    folder = cache_dir()
    ca_file, cert_file, key_file = (
        local_ca_file(),
        folder / f"{_safe(host)}-cert.pem",
        folder / f"{_safe(host)}-key.pem",
    )
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ca_file.exists() and cert_file.exists() and key_file.exists():
            return ca_file, cert_file, key_file
        import trustme

        ca_key_file = folder / "ca-key.pem"
        if ca_file.exists() and ca_key_file.exists():
            ca = trustme.CA.from_pem(ca_file.read_bytes(), ca_key_file.read_bytes())
        else:
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
