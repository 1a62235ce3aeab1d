"""A broken cache never stops a start (cache.py memos, tls.py certificates): whatever is in a
file that does not load, it is set aside and made again, and the server serves HTTPS."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
from conftest import SCENARIOS, start_service

from scenariod import cache
from scenariod.scenario import load_scenario

TWO_NODE = SCENARIOS / "two-node.yaml"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("SCENARIOD_CACHE", str(path))
    return path


def served_over_https() -> str:
    """Start two-node over HTTPS from the cache as it is; the version a verified client reads."""
    running, stop = start_service(TWO_NODE, tls=True)
    try:
        verify = ssl.create_default_context(cafile=running.ca_file)
        r = httpx.get(f"{running.api}/version", verify=verify, headers={"Authorization": TOKEN})
        assert r.status_code == 200, r.text
        return r.json()["data"]["version"]
    finally:
        stop()


TOKEN = "PVEAPIToken=root@pam!ci=5e1f8f7a-1c1d-4c1b-9a4e-0d6f3f1e2a10"


def memo_of(text: str) -> Path:
    return cache._memo_file(text)  # noqa: SLF001 - the test breaks that very file


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage \x00\xff",
        b'{"doc": "[1, 2]", "positions": []}',  # another shape, no digest
        b'{"doc": null, "positions": [[1, 2]]}',
        None,  # truncated: the first half of a good memo
    ],
    ids=["empty", "garbage", "shape", "positions", "truncated"],
)
def test_a_memo_that_does_not_load_is_ignored_and_rewritten(folder: Path, content: bytes | None) -> None:
    text = TWO_NODE.read_text()
    load_scenario(TWO_NODE)  # a clean load remembers the text
    memo = memo_of(text)
    good = memo.read_bytes()
    assert cache.recall(text) is not None
    memo.write_bytes(good[: len(good) // 2] if content is None else content)
    assert cache.recall(text) is None  # not trusted...
    assert served_over_https()  # ...and no traceback: the full load serves
    assert memo.read_bytes() == good  # rewritten by that load
    assert cache.recall(text) is not None


def test_a_memo_of_the_right_digest_but_another_shape_is_ignored(folder: Path) -> None:
    import hashlib

    text = TWO_NODE.read_text()
    load_scenario(TWO_NODE)
    body = b'{"doc": "[1, 2]", "positions": []}'
    memo_of(text).write_bytes(body + b"\n" + hashlib.sha256(body).hexdigest().encode())
    assert cache.recall(text) is None
    assert served_over_https()


@pytest.mark.parametrize(
    ("name", "breakage"),
    [
        ("127.0.0.1-cert.pem", "truncate"),
        ("127.0.0.1-key.pem", "garbage"),
        ("127.0.0.1-key.pem", "empty"),
        ("ca.pem", "garbage"),
        ("ca-key.pem", "garbage"),
        ("ca-key.pem", "missing"),
    ],
)
def test_a_certificate_or_key_that_does_not_load_is_made_again(
    folder: Path, name: str, breakage: str, capfd: pytest.CaptureFixture[str]
) -> None:
    served_over_https()  # makes the CA and the certificate
    target = folder / name
    if breakage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif breakage == "garbage":
        target.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    elif breakage == "empty":
        target.write_bytes(b"")
    else:
        target.unlink()
    if name == "ca-key.pem":  # the CA key is read only to issue a certificate: make one needed
        (folder / "127.0.0.1-key.pem").write_bytes(b"garbage")
    capfd.readouterr()
    served_over_https()
    err = capfd.readouterr().err
    assert "did not load" in err and "Traceback" not in err
    assert served_over_https()  # and the made-again files are kept: no message the next time
    assert "did not load" not in capfd.readouterr().err
