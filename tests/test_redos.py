"""Patterns that backtrack exponentially in Python's `re` answer in linear time (no ReDoS)."""

from __future__ import annotations

import re
import time

import pytest
from conftest import Running

from scenariod.params.linear import LinearPattern, linear_or_re
from scenariod.params.regexes import perl_pattern

# PVE's OCI reference pattern (POST /nodes/{node}/storage/{storage}/oci-registry-pull): `re`
# took over 3 s on 40 `a`s followed by a character that cannot match.
_NEAR_MISS = "a" * 40 + "!"


def test_an_oci_reference_near_miss_is_refused_within_a_second(two_node: Running) -> None:
    started = time.monotonic()
    r = two_node.client.post("/nodes/pve1/storage/local/oci-registry-pull", data={"reference": _NEAR_MISS}, timeout=30)
    elapsed = time.monotonic() - started
    assert r.status_code == 400
    assert "reference" in r.json()["errors"]
    assert elapsed < 1.0, f"took {elapsed:.2f}s"
    # and a well-formed reference still passes the pattern
    r = two_node.client.post(
        "/nodes/pve1/storage/local/oci-registry-pull", data={"reference": "docker.io/library/alpine:latest"}
    )
    assert "reference" not in (r.json().get("errors") or {})


@pytest.mark.parametrize(
    "pattern",
    [r"^(a|ab)*c$", r"(?:x[-]*y)+", r"^\w+(?:\.\w+)*$", r"^(?:[a-c]{1,3})+$", r"^[^x]+(?:x|yy)*\Z", r"^(?i:ab|c)+$"],
)
def test_the_linear_engine_agrees_with_re(pattern: str) -> None:
    linear = linear_or_re(pattern)
    assert isinstance(linear, LinearPattern)
    alphabet = "abcxyAB-._\n"
    texts = [""] + [alphabet[i % 11] * (i % 4) + alphabet[(i * 7) % 11] + alphabet[(i * 3) % 11] for i in range(200)]
    for text in texts:
        assert bool(linear.search(text)) == bool(re.search(pattern, text)), text


def test_simple_patterns_keep_re() -> None:
    assert isinstance(perl_pattern(r"[a-z][a-z0-9\-]*"), re.Pattern)
