"""PVE's named formats (`pve-vmid`, `pve-storage-id`, `ip`, `pve-userid`, ..., with their
`-list` and `-opt` variants): each verifier returns None (valid) or the Perl `die` text.

The checks and texts are those of the registered verifiers in pve-common,
pve-access-control and pve-storage; `named_format(name)` finds one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .values import perl_true, split_list
from .wording import WORDING

_PW = WORDING["pve"]


class _Lazy:
    """A pattern compiled on its first search, then searched as compiled (`search` is the
    compiled pattern's own method from then on). Compiling every format's pattern at import
    cost each start ~7 ms (the IPv6 ones most), though most formats are never checked."""

    __slots__ = ("search", "_args")

    def __init__(self, regex: str, flags: int = 0) -> None:
        self._args = (regex, flags)
        self.search: Callable[[str], re.Match[str] | None] = self._first_search

    def _first_search(self, value: str) -> re.Match[str] | None:
        self.search = re.compile(*self._args).search
        return self.search(value)


_BLANK_RE = re.compile(r"^\s*$")
_FORMAT_SUFFIX_RE = re.compile(r"^(.*?)(?:-(list|opt|alist))?$")

_IPV4OCTET = r"(?:25[0-5]|(?:2[0-4]|1[0-9]|[1-9])?[0-9])"
_IPV4RE = rf"(?:(?:{_IPV4OCTET}\.){{3}}{_IPV4OCTET})"
_IPV6H16 = r"(?:[0-9a-fA-F]{1,4})"
_IPV6LS32 = rf"(?:(?:{_IPV4RE}|{_IPV6H16}:{_IPV6H16}))"
_IPV6RE = (
    "(?:"
    rf"(?:(?:(?:{_IPV6H16}:){{6}}){_IPV6LS32})|"
    rf"(?:(?:::(?:{_IPV6H16}:){{5}}){_IPV6LS32})|"
    rf"(?:(?:(?:{_IPV6H16})?::(?:{_IPV6H16}:){{4}}){_IPV6LS32})|"
    rf"(?:(?:(?:(?:{_IPV6H16}:){{0,1}}{_IPV6H16})?::(?:{_IPV6H16}:){{3}}){_IPV6LS32})|"
    rf"(?:(?:(?:(?:{_IPV6H16}:){{0,2}}{_IPV6H16})?::(?:{_IPV6H16}:){{2}}){_IPV6LS32})|"
    rf"(?:(?:(?:(?:{_IPV6H16}:){{0,3}}{_IPV6H16})?::(?:{_IPV6H16}:){{1}}){_IPV6LS32})|"
    rf"(?:(?:(?:(?:{_IPV6H16}:){{0,4}}{_IPV6H16})?::){_IPV6LS32})|"
    rf"(?:(?:(?:(?:{_IPV6H16}:){{0,5}}{_IPV6H16})?::){_IPV6H16})|"
    rf"(?:(?:(?:(?:{_IPV6H16}:){{0,6}}{_IPV6H16})?::))"
    ")"
)
_IPV4_FULL = _Lazy(rf"^(?:{_IPV4RE})$")
_IPV6_FULL = _Lazy(rf"^(?:{_IPV6RE})$")
_CIDRV4 = _Lazy(rf"^(?:{_IPV4RE})(?:/(\d+))$")
_CIDRV6 = _Lazy(rf"^(?:{_IPV6RE})(?:/(\d+))$")
_DNS_LABEL = r"([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)"
_DNS_NAME = _Lazy(rf"^({_DNS_LABEL}\.)*{_DNS_LABEL}$")
_EMAIL_USER_RE = r"[\w\+\-\~]+(\.[\w\+\-\~]+)*"
_EMAIL = _Lazy(rf"^{_EMAIL_USER_RE}@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*$")
_EMAIL_USER = _Lazy(rf"^{_EMAIL_USER_RE}$")
_REALM_RE = r"[A-Za-z][A-Za-z0-9\.\-_]+"
_USER_RE = r"[^\s:/]+"
_ID_RE = _Lazy(r"^[a-z][a-z0-9\-\_\.]*[a-z0-9]$", re.I)
# Every pattern compiled once (on first use): a verifier runs per request, and
# re.search(pattern, ...) pays a lookup in re's cache each time.
_USERID_RE = _Lazy(rf"^({_USER_RE})\@({_REALM_RE})$")
_VLAN_RE = _Lazy(r"^(\d+)(?:-(\d+))?$")
_STARTUP_PART_RE = _Lazy(r"^(order=)?(\d+)$|^up=(\d+)$|^down=(\d+)$")
_POOLID_RE = _Lazy(r"^[A-Za-z0-9\.\-_]+(?:/[A-Za-z0-9\.\-_]+){0,2}$")
_DIR_OVERRIDE_RE = _Lazy(r"^([a-z]+)=([^.]*(?:\.?[^.]+)+)$")
_IDMAP_PAIR_RE = _Lazy(r"^([^:]+):([^:]+)$")
_TFA_HEX_RE = _Lazy(r"^v2-0x[0-9a-fA-F]{16,128}$")
_TFA_B32_RE = _Lazy(r"^v2-[A-Z2-7=]{16,128}$")
_TFA_OLD_RE = _Lazy(r"^(?:[A-Z2-7=]{16}|[A-Fa-f0-9]{40})$")
_IPV4_CONFIG_WORD_RE = _Lazy(r"^(?:dhcp|manual)$")
_IPV6_CONFIG_WORD_RE = _Lazy(r"^(?:auto|dhcp|manual)$")
_IPV4_MASKS = {
    ".".join(str((((0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF) >> s) & 0xFF) for s in (24, 16, 8, 0))
    for bits in range(0, 33)
}
_STORAGE_CONTENT = {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import", "none"}


def _regex_format(name: str, regex: str, flags: int = 0) -> Callable[[str], str | None]:
    compiled = _Lazy(regex, flags)
    message = _PW["format:" + name]

    def verify(value: str) -> str | None:
        if compiled.search(value):
            return None
        return message.format(value=value)

    return verify


def _fmt_ip(value: str) -> bool:
    return bool(_IPV4_FULL.search(value) or _IPV6_FULL.search(value))


def _cidr_ok(regex: _Lazy, value: str, top: int) -> bool:
    m = regex.search(value)
    return bool(m) and 7 < int(m.group(1)) <= top


def _fmt_message(name: str, ok: bool, value: str) -> str | None:
    return None if ok else _PW["format:" + name].format(value=value)


def _verify_vlan(value: str) -> str | None:
    m = _VLAN_RE.search(value)
    if not m:
        return _PW["format:pve-vlan-id-or-range"].format(value=value)
    start, end = m.group(1), m.group(2)
    if not 2 <= int(start) <= 4094:
        return _PW["format:pve-vlan-tag"].format(value=start)
    if end is not None and perl_true(end):
        if not 2 <= int(end) <= 4094:
            return _PW["format:pve-vlan-tag"].format(value=end)
        if int(start) >= int(end):
            return _PW["format:pve-vlan-range-order"].format(value=value)
    return None


def _verify_startup(value: str) -> str | None:
    ok = perl_true(value)
    if ok:
        for part in value.split(","):
            if _BLANK_RE.match(part):
                continue
            if not _STARTUP_PART_RE.search(part):
                ok = False
                break
    return _fmt_message("pve-startup-order", ok, value)


def _verify_userid(value: str) -> str | None:
    name = value if perl_true(value) else ""
    if len(name) < 3:
        return _PW["format:pve-userid-short"].format(value=name)
    if len(name) > 64:
        return _PW["format:pve-userid-long"].format(value=name, length=len(name))
    if _USERID_RE.search(name):
        return None
    return _PW["format:pve-userid"].format(value=name)


def _verify_poolid(value: str) -> str | None:
    parts = value.split("/")
    while parts and parts[-1] == "":
        parts.pop()
    if len(parts) > 3:
        return _PW["format:pve-poolid-depth"].format(value=value)
    if _POOLID_RE.search(value):
        return None
    return _PW["format:pve-poolid"].format(value=value)


def _verify_dir_override(value: str) -> str | None:
    m = _DIR_OVERRIDE_RE.search(value)
    if m and m.group(1) in _STORAGE_CONTENT:
        rel = m.group(2)
        if len(rel) < 1023 and not any(len(p) >= 255 for p in rel.split("/")):
            return None
    return _PW["format:pve-dir-override"].format(value=value)


def _idmap_verifier(id_format: str) -> Callable[[str], str | None]:
    """storage-pair / bridge-pair: PVE::JSONSchema::parse_idmap over one list entry."""

    def verify(value: str) -> str | None:
        check = _PVE_FORMATS[id_format]
        entries: set[str] = set()
        default = identity = False
        for entry in split_list(value):
            if entry == "1":
                identity = True
                continue
            m = _IDMAP_PAIR_RE.search(entry)
            if m:
                source, target = m.group(1), m.group(2)
                err = check(source) or check(target)
                if err:
                    return _PW["format:idmap-entry"].format(entry=entry, message=err) + "\n"
                if source in entries:
                    return _PW["format:idmap-duplicate"].format(value=source) + "\n"
                entries.add(source)
            else:
                err = check(entry)
                if err:
                    return _PW["format:idmap-entry"].format(entry=entry, message=err) + "\n"
                if default:
                    return _PW["format:idmap-default-twice"] + "\n"
                default = True
        if identity and (default or entries):
            return _PW["format:idmap-identity"] + "\n"
        return None

    return verify


def _verify_tfa_secret(value: str) -> str | None:
    ok = bool(_TFA_HEX_RE.search(value) or _TFA_B32_RE.search(value) or _TFA_OLD_RE.search(value))
    return _fmt_message("pve-tfa-secret", ok, value)


_PVE_FORMATS: dict[str, Callable[[str], str | None]] = {
    "string": lambda value: None,
    "urlencoded": _regex_format("urlencoded", r"^[-%a-zA-Z0-9_.!~*'()]*$"),
    "pve-configid": _regex_format("pve-configid", r"^[a-z][a-z0-9_-]+$", re.I),
    "pve-storage-id": lambda v: None if _ID_RE.search(v) else _PW["format:pve-storage-id"].format(value=v),
    "acme-plugin-id": lambda v: None if _ID_RE.search(v) else _PW["format:acme-plugin-id"].format(value=v),
    "pve-bridge-id": _regex_format("pve-bridge-id", r"^[-_.\w\d]+$"),
    "pve-vmid": _regex_format("pve-vmid", r"^[1-9][0-9]{2,8}$"),
    "pve-node": _regex_format("pve-node", r"^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)$"),
    "mac-addr": _regex_format("mac-addr", r"^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$", re.I),
    "ipv4": lambda v: _fmt_message("ipv4", bool(_IPV4_FULL.search(v)), v),
    "ipv6": lambda v: _fmt_message("ipv6", bool(_IPV6_FULL.search(v)), v),
    "ip": lambda v: _fmt_message("ip", _fmt_ip(v), v),
    "ldap-simple-attr": _regex_format("ldap-simple-attr", r"^[a-zA-Z0-9]+$"),
    "ipv4mask": lambda v: _fmt_message("ipv4mask", v in _IPV4_MASKS, v),
    "CIDRv6": lambda v: _fmt_message("CIDRv6", _cidr_ok(_CIDRV6, v, 128), v),
    "CIDRv4": lambda v: _fmt_message("CIDRv4", _cidr_ok(_CIDRV4, v, 32), v),
    "CIDR": lambda v: _fmt_message("CIDR", _cidr_ok(_CIDRV4, v, 32) or _cidr_ok(_CIDRV6, v, 128), v),
    "pve-ipv4-config": lambda v: _fmt_message(
        "pve-ipv4-config", bool(_IPV4_CONFIG_WORD_RE.search(v)) or _cidr_ok(_CIDRV4, v, 32), v
    ),
    "pve-ipv6-config": lambda v: _fmt_message(
        "pve-ipv6-config", bool(_IPV6_CONFIG_WORD_RE.search(v)) or _cidr_ok(_CIDRV6, v, 128), v
    ),
    "email": lambda v: _fmt_message("email", bool(_EMAIL.search(v)), v),
    "email-or-username": lambda v: _fmt_message(
        "email-or-username", bool(_EMAIL.search(v) or _EMAIL_USER.search(v)), v
    ),
    "dns-name": lambda v: _fmt_message("dns-name", bool(_DNS_NAME.search(v)), v),
    "pve-iface": _regex_format("pve-iface", r"^[a-z][a-z0-9_]{1,20}([:\.]\d+)?$", re.I),
    "pve-vlan-id-or-range": _verify_vlan,
    "address": lambda v: _fmt_message("address", _fmt_ip(v) or bool(_DNS_NAME.search(v)), v),
    "disk-size": _regex_format("disk-size", r"^(\d+(\.\d+)?)([KMGT])?$"),
    "pve-startup-order": _verify_startup,
    "pve-tag": _regex_format("pve-tag", r"^[a-z0-9_][a-z0-9_\-\+\.]*$", re.I),
    "pve-tfa-secret": _verify_tfa_secret,
    "pve-task-status-type": _regex_format("pve-task-status-type", r"^(ok|error|warning|unknown)$", re.I),
    "pve-realm": _regex_format("pve-realm", rf"^{_REALM_RE}$"),
    "pve-userid": _verify_userid,
    "pve-tokenid": _regex_format("pve-tokenid", rf"^(({_USER_RE})\@({_REALM_RE}))!({_REALM_RE})$"),
    "pve-groupid": _regex_format("pve-groupid", r"^[A-Za-z0-9\.\-_]+$"),
    "pve-roleid": _regex_format("pve-roleid", r"^[A-Za-z0-9\.\-_]+$"),
    "pve-poolid": _verify_poolid,
    "pve-storage-path": _regex_format("pve-storage-path", r"^/[^;\(\)]+"),
    "pve-storage-server": lambda v: _fmt_message("pve-storage-server", _fmt_ip(v) or bool(_DNS_NAME.search(v)), v),
    "pve-storage-vgname": _regex_format("pve-storage-vgname", r"^[a-z0-9][a-z0-9\-\_\.]*[a-z0-9]$", re.I),
    "pve-storage-content": lambda v: _fmt_message("pve-storage-content", v in _STORAGE_CONTENT, v),
    "pve-storage-options": _regex_format("pve-storage-options", r"^\S+$"),
    "pve-volume-id": _regex_format("pve-volume-id", r"^([a-z][a-z0-9\-\_\.]*[a-z0-9]):(.+)$", re.I),
    "pve-dir-override": _verify_dir_override,
}
_PVE_FORMATS["storage-pair"] = _idmap_verifier("pve-storage-id")
_PVE_FORMATS["bridge-pair"] = _idmap_verifier("pve-bridge-id")


def named_format(name: str) -> Callable[[str], str | None] | None:
    """The verifier for a named format (with -list / -opt), or None when not known."""
    verify = _PVE_FORMATS.get(name)
    if verify is not None:
        return verify
    m = _FORMAT_SUFFIX_RE.match(name)
    if m is None or m.group(2) is None:
        return None
    base = _PVE_FORMATS.get(m.group(1))
    if base is None:
        return None
    if m.group(2) == "opt":
        return lambda value: base(value) if perl_true(value) else None

    def check_list(value: str) -> str | None:
        for item in split_list(value):
            err = base(item)
            if err is not None:
                return err
        return None

    return check_list
