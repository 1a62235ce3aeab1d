"""Which request fields and headers hold secrets, and masking them wherever requests are shown.

One list for the request log (text and JSON lines), the journal as the control API answers it
and `verify`'s reports: passwords (`password`, `new-password`, `confirmation-password`, a
realm's bind password), ticket values, API token secrets, and Proxmox's other write-only
fields (notification endpoints' `token`, `password` and `secret`, storage `keyring` and
`encryption-key`, ACME `eab-hmac-key`, OpenID `client-key`, a custom certificate's `key`).
A name is secret when it is in `SECRET_FIELDS` or ends with one of `SECRET_SUFFIXES`,
compared in lower case.

Stored journal entries keep the values (an expectation may match a login's password); only
what leaves the process is masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MASK = "<redacted>"

SECRET_FIELDS = frozenset(
    {
        "password",
        "new-password",
        "confirmation-password",
        "oldpassword",
        "ticket",
        "secret",
        "token",
        "keyring",
        "key",
    }
)
SECRET_SUFFIXES = ("password", "secret", "-key", "token", "ticket")
SECRET_HEADERS = frozenset({"authorization", "cookie", "csrfpreventiontoken"})


def is_secret(name: str) -> bool:
    low = name.lower()
    return low in SECRET_FIELDS or low.endswith(SECRET_SUFFIXES)


def masked(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """`values` with every secret field's value masked (the same mapping when none is)."""
    if not any(is_secret(k) for k in values):
        return values
    return {k: MASK if is_secret(k) else v for k, v in values.items()}


def masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with lower-case names, credentials masked."""
    return {k.lower(): MASK if k.lower() in SECRET_HEADERS else v for k, v in headers.items()}
