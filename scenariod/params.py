"""Parameter validation as Proxmox does it: types, named formats, property strings.

An operation's `parameters` schema (as published in the API viewer data) is compiled once into
per-parameter check closures; `Validator.validate(raw)` then costs a dict lookup and a closure
call per parameter.

Two dialects, picked from the data itself (or forced with `dialect=`):

- ``pve``: Perl PVE::JSONSchema (pve-common) + PVE::RESTHandler, with the wording of those
  modules and of the registered format verifiers (pve-common, pve-access-control,
  pve-storage).  Booleans are 0/1 (form values: only ``1``/``0``; JSON ``true``/``false``;
  ``yes``/``on``/... are accepted inside property strings only, as in Perl).
- ``rust``: proxmox-schema (PBS, PDM): patterns wrapped in slashes, JSON booleans for
  ``additionalProperties``, nested schemas in ``format``; booleans ``1|0|true|false|yes|no|on|off``
  (any case), returned as ``True``/``False`` (JSON booleans, as PBS/PDM keep them).

Every error text lives in the `WORDING` table below.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from scenariod.wire import ApiError

__all__ = ["WORDING", "INDEX_LIMITS", "Validator", "compile_validator", "split_list"]

# --------------------------------------------------------------------------------------------
# Wording: every string an error answer carries.  Keys starting with "format:" are the
# messages of named format verifiers (Perl `die` texts keep their trailing newline, which PVE
# puts on the wire: "invalid format - value does not look like a valid VM ID\n").
# --------------------------------------------------------------------------------------------

WORDING: dict[str, dict[str, str]] = {
    "pve": {
        # PVE::Exception / PVE::JSONSchema::validate
        "verification_failed": "Parameter verification failed.",
        # check_type
        "type": "type check ('{type}') failed - got '{value}'",
        "type_ref": "type check ('{type}') failed - got {ref}",
        "type_plain": "type check ('{type}') failed",
        "type_null": "type check ('null') failed - value is not null",
        # check_prop / check_object
        "missing": "property is missing and it is not optional",
        "not_defined": "property is not defined in schema and the schema does not allow additional properties",
        "requires": "missing property - '{key}' requires this property",
        "maximum": "value must have a maximum value of {limit}",
        "minimum": "value must have a minimum value of {limit}",
        "max_length": "value may only be {limit} characters long",
        "min_length": "value must be at least {limit} characters long",
        "enum": "value '{value}' does not have a value in the enumeration '{values}'",
        "pattern": "value does not match the regex pattern",
        "format": "invalid format - {message}",
        "object_required": "an object is required",
        # add_error joins two messages for one path with a literal backslash-n ('\n' in Perl)
        "error_join": "\\n",
        # parse_property_string
        "ps_invalid_key": "invalid key in comma-separated list property: {key}\n",
        "ps_duplicate_key": "duplicate key in comma-separated list property: {key}\n",
        "ps_key_alias": "key alias '{key}' is already defined\n",
        "ps_no_default_key": "value without key, but schema does not define a default key\n",
        "ps_missing_key": "missing key in comma-separated list property\n",
        "ps_format_error": "format error\n",
        "ps_error_line": "{path}: {message}\n",
        # names of Perl references in type check messages
        "ref_array": "ARRAY",
        "ref_hash": "HASH",
        "ref_bool": "JSON::PP::Boolean",
        # named formats (pve-common PVE::JSONSchema unless noted)
        "format:urlencoded": "invalid urlencoded string: {value}\n",
        "format:pve-configid": "invalid configuration ID '{value}'\n",
        "format:pve-storage-id": "storage ID '{value}' contains illegal characters\n",
        "format:acme-plugin-id": "ACME plugin ID '{value}' contains illegal characters\n",
        "format:pve-bridge-id": "invalid bridge ID '{value}'\n",
        "format:pve-vmid": "value does not look like a valid VM ID\n",
        "format:pve-node": "value does not look like a valid node name\n",
        "format:mac-addr": "value does not look like a valid unicast MAC address\n",
        "format:ipv4": "value does not look like a valid IPv4 address\n",
        "format:ipv6": "value does not look like a valid IPv6 address\n",
        "format:ip": "value does not look like a valid IP address\n",
        "format:ldap-simple-attr": "value '{value}' does not look like a simple ldap attribute name\n",
        "format:ipv4mask": "value does not look like a valid IP netmask\n",
        "format:CIDRv6": "value does not look like a valid IPv6 CIDR network\n",
        "format:CIDRv4": "value does not look like a valid IPv4 CIDR network\n",
        "format:CIDR": "value does not look like a valid CIDR network\n",
        "format:pve-ipv4-config": "value does not look like a valid ipv4 network configuration\n",
        "format:pve-ipv6-config": "value does not look like a valid ipv6 network configuration\n",
        "format:email": "value does not look like a valid email address\n",
        "format:email-or-username": "value does not look like a valid email address or user name\n",
        "format:dns-name": "value does not look like a valid DNS name\n",
        "format:pve-iface": "invalid network interface name '{value}'\n",
        "format:pve-vlan-id-or-range": "invalid VLAN configuration '{value}'\n",
        "format:pve-vlan-tag": "invalid VLAN tag '{value}'\n",
        "format:pve-vlan-range-order": "VLAN range must go from lower to higher tag '{value}'\n",
        "format:address": "value does not look like a valid address: {value}\n",
        "format:disk-size": "value does not look like a valid disk size: {value}\n",
        "format:pve-startup-order": "unable to parse startup options\n",
        "format:pve-tag": "invalid characters in tag\n",
        "format:pve-tfa-secret": "unable to decode TFA secret\n",
        "format:pve-task-status-type": "invalid status '{value}'\n",
        # storage-pair / bridge-pair (PVE::JSONSchema::parse_idmap)
        "format:idmap-entry": "entry '{entry}' contains invalid ID - {message}\n",
        "format:idmap-duplicate": "duplicate mapping for source '{value}'\n",
        "format:idmap-default-twice": "default target ID can only be provided once\n",
        "format:idmap-identity": "identity mapping cannot be combined with other mappings\n",
        # pve-access-control (PVE::Auth::Plugin, PVE::AccessControl)
        "format:pve-realm": "value does not look like a valid realm\n",
        "format:pve-userid-short": "user name '{value}' is too short\n",
        "format:pve-userid-long": "user name '{value}' is too long ({length} > 64)\n",
        "format:pve-userid": "value '{value}' does not look like a valid user name\n",
        "format:pve-tokenid": "value '{value}' does not look like a valid token ID\n",
        "format:pve-groupid": "group name '{value}' contains invalid characters\n",
        "format:pve-roleid": "role name '{value}' contains invalid characters\n",
        "format:pve-poolid": "pool name '{value}' contains invalid characters\n",
        "format:pve-poolid-depth": "pool name '{value}' nested too deeply (max levels = 3)\n",
        # pve-storage (PVE::Storage::Plugin)
        "format:pve-storage-path": "value does not look like a valid absolute path\n",
        "format:pve-storage-server": "value does not look like a valid server name or IP address\n",
        "format:pve-storage-vgname": "lvm name '{value}' contains illegal characters\n",
        "format:pve-storage-content": "invalid content type '{value}'\n",
        "format:pve-storage-options": "invalid options '{value}'\n",
        "format:pve-volume-id": "unable to parse volume ID '{value}'\n",
        "format:pve-dir-override": "invalid override '{value}'\n",
    },
    "rust": {
        # proxmox-schema ParameterError Display
        "verification_failed_one": "parameter verification failed - '{key}': {message}",
        "verification_failed_many": "parameter verification failed:",
        "verification_failed_line": "- '{key}': {message}",
        # parse_parameter_strings (form / query values)
        "not_defined": "schema does not allow additional properties.",
        "missing": "parameter is missing and it is not optional.",
        # verify_json (JSON values, objects, property strings)
        "not_defined_json": "schema does not allow additional properties",
        "missing_json": "property is missing and it is not optional",
        "duplicate_key": "duplicate key",
        "expected_boolean": "Expected boolean value.",
        "expected_integer": "Expected integer value.",
        "expected_number": "Expected number value.",
        "expected_string": "Expected string value.",
        "expected_array_object": "Expected array - got object.",
        "expected_array_scalar": "Expected array - got scalar value.",
        "expected_object_array": "Expected object - got array.",
        "expected_object_scalar": "Expected object - got scalar value.",
        # parse_simple_value
        "bad_boolean": "Unable to parse boolean option.",
        "int_empty": "cannot parse integer from empty string",
        "int_invalid": "invalid digit found in string",
        "int_too_large": "number too large to fit in target type",
        "int_too_small": "number too small to fit in target type",
        "float_empty": "cannot parse float from empty string",
        "float_invalid": "invalid float literal",
        # constraints
        "minimum": "value must have a minimum value of {limit} (got {value})",
        "maximum": "value must have a maximum value of {limit} (got {value})",
        "min_length": "value must be at least {limit} characters long",
        "max_length": "value may only be {limit} characters long",
        "pattern": "value does not match the regex pattern",
        "enum": "value '{value}' is not defined in the enumeration.",
        "array_min": "array must contain at least {limit} elements",
        "array_max": "array may only contain {limit} elements",
        "array_element": "unable to parse array element: {message}",
        "ps_no_default_key": "Value without key, but schema does not define a default key.",
    },
}

# How many instances of an indexed parameter (`net[n]` -> net0..net31) the real products accept.
# The API data only says `net[n]`; these are the constants of qemu-server / pve-container /
# pve-cluster / pve-manager.  Names not listed accept any non-negative index.
INDEX_LIMITS: dict[str, int] = {
    "net": 32,  # qemu-server MAX_NETS, pve-container MAX_LXC_NETWORKS
    "ipconfig": 32,
    "ide": 4,
    "sata": 6,
    "scsi": 31,
    "virtio": 16,
    "unused": 256,
    "hostpci": 16,
    "serial": 4,
    "parallel": 3,
    "usb": 14,
    "numa": 8,
    "virtiofs": 10,
    "mp": 256,
    "dev": 256,
    "link": 8,  # corosync link0..link7
    "acmedomain": 5,
}


# Accepted values remembered per parameter (see _Compiler.pve_scalar).
_MEMO_SIZE = 512


class _Invalid(Exception):
    """Raised by a check closure; `errors` maps error paths to messages."""

    __slots__ = ("errors",)

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors


Check = Callable[[Any, str], Any]

# --------------------------------------------------------------------------------------------
# Perl helpers
# --------------------------------------------------------------------------------------------

_INT_RE = re.compile(r"^[+-]?\d+$")
_MAX_INT_DIGITS = 4000  # below Python's int() conversion limit (4300 digits)
_NUM_RE = re.compile(r"^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$")
_BLANK_RE = re.compile(r"^\s*$")
_KV_RE = re.compile(r"^([^=]+)=(.+)$")
_BOOL_TRUE_RE = re.compile(r"^(1|on|yes|true)$", re.I)
_BOOL_FALSE_RE = re.compile(r"^(0|off|no|false)$", re.I)
_SPLIT_SEP_RE = re.compile(r"[,;]")
_SPLIT_WS_RE = re.compile(r"\s+")
_FORMAT_SUFFIX_RE = re.compile(r"^(.*?)(?:-(list|opt|alist))?$")


def _perl_num(value: float | int) -> str:
    """A Perl number as Perl prints it (%.15g)."""
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return "%.15g" % value


def _perl_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, (int, float)):
        return _perl_num(value)
    return str(value)


def _perl_true(value: Any) -> bool:
    if isinstance(value, str):
        return value != "" and value != "0"
    return bool(value)


def _parse_boolean(value: str) -> int | None:
    """PVE::JSONSchema::parse_boolean."""
    if _BOOL_TRUE_RE.match(value):
        return 1
    if _BOOL_FALSE_RE.match(value):
        return 0
    return None


def split_list(text: str) -> list[str]:
    """PVE::Tools::split_list: NUL-, comma-, semicolon- or whitespace-separated items."""
    if not text:
        return []
    if "\0" in text:
        parts = text.split("\0")
    else:
        parts = _SPLIT_WS_RE.split(_SPLIT_SEP_RE.sub(" ", text).lstrip())
    while parts and parts[-1] == "":  # Perl's split drops trailing empty fields
        parts.pop()
    return parts


def _limit_text(limit: Any) -> str:
    return limit if isinstance(limit, str) else _perl_num(limit)


def _as_number(limit: Any) -> float | int | None:
    if isinstance(limit, bool):
        return int(limit)
    if isinstance(limit, (int, float)):
        return limit
    if isinstance(limit, str) and _NUM_RE.match(limit):
        return int(limit) if _INT_RE.match(limit) else float(limit)
    return None


def _truthy_flag(value: Any) -> bool:
    """`optional`, `default_key`, ... are 1/0, JSON booleans or strings ('1') in the data."""
    return _perl_true(value) if value is not None else False


# --------------------------------------------------------------------------------------------
# Regular expressions: Perl (PVE) and Rust (PBS/PDM) patterns to Python
# --------------------------------------------------------------------------------------------

_POSIX_CLASSES = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "xdigit": "0-9a-fA-F",
    "lower": "a-z",
    "upper": "A-Z",
    "space": r" \t\n\r\f\v",
    "blank": r" \t",
    "punct": r"!-/:-@\[-`{-~",
    "cntrl": r"\x00-\x1f\x7f",
    "print": r"\x20-\x7e",
    "graph": r"\x21-\x7e",
    "word": r"\w",
}
_PERL_FLAGS_GROUP_RE = re.compile(r"\(\?\^([a-z]*)([:)])")


def _translate_class(body: str, negated: bool) -> str:
    """Translate the inside of a bracket expression, expanding POSIX classes."""
    # A class that is just one negated POSIX class, e.g. [[:^cntrl:]]
    m = re.fullmatch(r"\[:\^(\w+):\]", body)
    if m and not negated and m.group(1) in _POSIX_CLASSES:
        return "[^" + _POSIX_CLASSES[m.group(1)] + "]"

    def repl(mm: re.Match[str]) -> str:
        name = mm.group(1)
        if name not in _POSIX_CLASSES:
            raise re.error(f"unknown POSIX class {name}")
        return _POSIX_CLASSES[name]

    if "[:^" in body:
        raise re.error("negated POSIX class inside a class")
    return ("[^" if negated else "[") + re.sub(r"\[:(\w+):\]", repl, body) + "]"


def _translate_regex(pattern: str, rust: bool) -> str:
    """Perl/Rust regex syntax to Python `re` syntax (best effort; may raise re.error)."""

    # Perl's stringified qr// groups: (?^:...), (?^i:...), (?^u:...)
    def flags(m: re.Match[str]) -> str:
        f = "".join(ch for ch in m.group(1) if ch in "imsx")
        return "(?" + f + m.group(2) if f else "(?" + (":" if m.group(2) == ":" else ":)")

    pattern = _PERL_FLAGS_GROUP_RE.sub(flags, pattern)
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "z":
                out.append(r"\Z")
            elif nxt == "Z":
                out.append(r"(?=\n?\Z)")
            elif nxt == "h":
                out.append(r"[ \t]")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[":
            # find the end of the bracket expression (POSIX classes and escapes inside)
            j = i + 1
            negated = False
            if j < n and pattern[j] == "^":
                negated = True
                j += 1
            start = j
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                if pattern[j] == "\\":
                    j += 2
                    continue
                if pattern[j] == "[" and j + 1 < n and pattern[j + 1] == ":":
                    end = pattern.find(":]", j + 2)
                    if end < 0:
                        raise re.error("unterminated POSIX class")
                    j = end + 2
                    continue
                j += 1
            if j >= n:
                raise re.error("unterminated character class")
            out.append(_translate_class(pattern[start:j], negated))
            i = j + 1
            continue
        if ch == "$" and rust:
            out.append(r"\Z")  # Rust's $ is the very end of the text
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@functools.cache
def _compile_pattern(pattern: str, dialect: str) -> re.Pattern[str] | None:
    """A compiled pattern, or None when Python cannot express it (then it accepts)."""
    try:
        if dialect == "rust":
            if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
                pattern = pattern[1:-1]
            return re.compile(_translate_regex(pattern, True))
        # PVE::JSONSchema: $value =~ m/^$pattern$/ (no grouping around the pattern)
        return re.compile("^" + _translate_regex(pattern, False) + "$")
    except (re.error, RecursionError, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# PVE named formats.  Each verifier returns None (valid) or the Perl `die` text.
# --------------------------------------------------------------------------------------------

_PW = WORDING["pve"]

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
_IPV4_FULL = re.compile(rf"^(?:{_IPV4RE})$")
_IPV6_FULL = re.compile(rf"^(?:{_IPV6RE})$")
_CIDRV4 = re.compile(rf"^(?:{_IPV4RE})(?:/(\d+))$")
_CIDRV6 = re.compile(rf"^(?:{_IPV6RE})(?:/(\d+))$")
_DNS_LABEL = r"([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)"
_DNS_NAME = re.compile(rf"^({_DNS_LABEL}\.)*{_DNS_LABEL}$")
_EMAIL_USER_RE = r"[\w\+\-\~]+(\.[\w\+\-\~]+)*"
_EMAIL = re.compile(rf"^{_EMAIL_USER_RE}@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*$")
_EMAIL_USER = re.compile(rf"^{_EMAIL_USER_RE}$")
_REALM_RE = r"[A-Za-z][A-Za-z0-9\.\-_]+"
_USER_RE = r"[^\s:/]+"
_ID_RE = re.compile(r"^[a-z][a-z0-9\-\_\.]*[a-z0-9]$", re.I)
_IPV4_MASKS = {
    ".".join(str((((0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF) >> s) & 0xFF) for s in (24, 16, 8, 0))
    for bits in range(0, 33)
}
_STORAGE_CONTENT = {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import", "none"}


def _regex_format(name: str, regex: str, flags: int = 0) -> Callable[[str], str | None]:
    compiled = re.compile(regex, flags)
    message = _PW["format:" + name]

    def verify(value: str) -> str | None:
        if compiled.search(value):
            return None
        return message.format(value=value)

    return verify


def _fmt_ip(value: str) -> bool:
    return bool(_IPV4_FULL.search(value) or _IPV6_FULL.search(value))


def _cidr_ok(regex: re.Pattern[str], value: str, top: int) -> bool:
    m = regex.search(value)
    return bool(m) and 7 < int(m.group(1)) <= top


def _fmt_message(name: str, ok: bool, value: str) -> str | None:
    return None if ok else _PW["format:" + name].format(value=value)


def _verify_vlan(value: str) -> str | None:
    m = re.search(r"^(\d+)(?:-(\d+))?$", value)
    if not m:
        return _PW["format:pve-vlan-id-or-range"].format(value=value)
    start, end = m.group(1), m.group(2)
    if not 2 <= int(start) <= 4094:
        return _PW["format:pve-vlan-tag"].format(value=start)
    if end is not None and _perl_true(end):
        if not 2 <= int(end) <= 4094:
            return _PW["format:pve-vlan-tag"].format(value=end)
        if int(start) >= int(end):
            return _PW["format:pve-vlan-range-order"].format(value=value)
    return None


def _verify_startup(value: str) -> str | None:
    ok = _perl_true(value)
    if ok:
        for part in value.split(","):
            if _BLANK_RE.match(part):
                continue
            if not re.search(r"^(order=)?(\d+)$|^up=(\d+)$|^down=(\d+)$", part):
                ok = False
                break
    return _fmt_message("pve-startup-order", ok, value)


def _verify_userid(value: str) -> str | None:
    name = value if _perl_true(value) else ""
    if len(name) < 3:
        return _PW["format:pve-userid-short"].format(value=name)
    if len(name) > 64:
        return _PW["format:pve-userid-long"].format(value=name, length=len(name))
    if re.search(rf"^({_USER_RE})\@({_REALM_RE})$", name):
        return None
    return _PW["format:pve-userid"].format(value=name)


def _verify_poolid(value: str) -> str | None:
    parts = value.split("/")
    while parts and parts[-1] == "":
        parts.pop()
    if len(parts) > 3:
        return _PW["format:pve-poolid-depth"].format(value=value)
    if re.search(r"^[A-Za-z0-9\.\-_]+(?:/[A-Za-z0-9\.\-_]+){0,2}$", value):
        return None
    return _PW["format:pve-poolid"].format(value=value)


def _verify_dir_override(value: str) -> str | None:
    m = re.search(r"^([a-z]+)=([^.]*(?:\.?[^.]+)+)$", value)
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
            m = re.search(r"^([^:]+):([^:]+)$", entry)
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
    ok = bool(
        re.search(r"^v2-0x[0-9a-fA-F]{16,128}$", value)
        or re.search(r"^v2-[A-Z2-7=]{16,128}$", value)
        or re.search(r"^(?:[A-Z2-7=]{16}|[A-Fa-f0-9]{40})$", value)
    )
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
        "pve-ipv4-config", bool(re.search(r"^(?:dhcp|manual)$", v)) or _cidr_ok(_CIDRV4, v, 32), v
    ),
    "pve-ipv6-config": lambda v: _fmt_message(
        "pve-ipv6-config", bool(re.search(r"^(?:auto|dhcp|manual)$", v)) or _cidr_ok(_CIDRV6, v, 128), v
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


def _pve_named_format(name: str) -> Callable[[str], str | None] | None:
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
        return lambda value: base(value) if _perl_true(value) else None

    def check_list(value: str) -> str | None:
        for item in split_list(value):
            err = base(item)
            if err is not None:
                return err
        return None

    return check_list


# --------------------------------------------------------------------------------------------
# PVE dialect: PVE::JSONSchema::check_prop compiled
# --------------------------------------------------------------------------------------------


def _add_error(errors: dict[str, str], path: str, message: str, wording: dict[str, str]) -> None:
    if path in errors:
        errors[path] = errors[path] + wording["error_join"] + message
    else:
        errors[path] = message


def _pve_ref_name(value: Any) -> str | None:
    """The Perl ref() of a decoded JSON value, or None for plain scalars."""
    if isinstance(value, bool):
        return _PW["ref_bool"]
    if isinstance(value, list):
        return _PW["ref_array"]
    if isinstance(value, dict):
        return _PW["ref_hash"]
    return None


def _pve_scalar_conv(type_: Any) -> Callable[[Any, str], tuple[str | None, Any]]:
    """check_type for scalar types: (string form for the later checks, typed value).

    The string form is None when Perl would skip the scalar checks (a reference value).
    """
    type_msg = _PW["type"]
    ref_msg = _PW["type_ref"]

    def fail_ref(path: str, ref: str) -> _Invalid:
        return _Invalid({path: ref_msg.format(type=type_, ref=ref)})

    if type_ == "integer":

        def conv(value: Any, path: str) -> tuple[str | None, Any]:
            tv = type(value)
            if tv is str:
                if _INT_RE.match(value):
                    return value, int(value)
                raise _Invalid({path: type_msg.format(type="integer", value=value)})
            if tv is int:
                return str(value), value
            if tv is float:
                s = _perl_num(value)
                if _INT_RE.match(s):
                    return s, int(s)
                raise _Invalid({path: type_msg.format(type="integer", value=s)})
            ref = _pve_ref_name(value)
            if ref is not None:
                raise fail_ref(path, ref)
            s = _perl_str(value)
            if _INT_RE.match(s):
                return s, int(s)
            raise _Invalid({path: type_msg.format(type="integer", value=s)})

        return conv

    if type_ == "number":

        def conv(value: Any, path: str) -> tuple[str | None, Any]:
            tv = type(value)
            if tv is int or tv is float:
                return _perl_num(value), value
            ref = _pve_ref_name(value)
            if ref is not None:
                raise fail_ref(path, ref)
            s = _perl_str(value)
            if _NUM_RE.match(s):
                return s, (int(s) if _INT_RE.match(s) else float(s))
            raise _Invalid({path: type_msg.format(type="number", value=s)})

        return conv

    if type_ == "boolean":

        def conv(value: Any, path: str) -> tuple[str | None, Any]:
            tv = type(value)
            if tv is bool:
                return None, 1 if value else 0  # JSON::is_bool: accepted, no further checks
            if tv is str:
                if value == "1":
                    return value, 1
                if value == "0":
                    return value, 0
                raise _Invalid({path: type_msg.format(type="boolean", value=value)})
            ref = _pve_ref_name(value)
            if ref is not None:
                raise fail_ref(path, ref)
            s = _perl_str(value)
            if s == "1" or s == "0":
                return s, int(s)
            raise _Invalid({path: type_msg.format(type="boolean", value=s)})

        return conv

    if type_ == "string":

        def conv(value: Any, path: str) -> tuple[str | None, Any]:
            if type(value) is str:
                return value, value
            ref = _pve_ref_name(value)
            if ref is not None:
                raise fail_ref(path, ref)
            s = _perl_str(value)
            return s, s

        return conv

    if type_ == "null":

        def conv_null(value: Any, path: str) -> tuple[str | None, Any]:
            raise _Invalid({path: _PW["type_null"]})

        return conv_null

    # no type, 'any', or a type Perl does not check
    def conv_any(value: Any, path: str) -> tuple[str | None, Any]:
        if _pve_ref_name(value) is not None:
            return None, value
        s = _perl_str(value)
        return s, value

    return conv_any


class _Compiler:
    """Compiles schema dicts of one dialect into check closures."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.w = WORDING[dialect]

    # ---- PVE -------------------------------------------------------------------------------

    def pve_prop(self, schema: Mapping[str, Any], top: bool = False) -> Check:
        """check_prop for a present (defined) value."""
        type_ = schema.get("type")
        if type_ == "array":
            return self.pve_array(schema, top)
        if type_ == "object":
            return self.pve_object_prop(schema)
        if isinstance(type_, list):
            return self.pve_union(schema, type_)
        return self.pve_scalar(schema, type_, top)

    def pve_union(self, schema: Mapping[str, Any], types: list[Any]) -> Check:
        alternatives = [self.pve_prop({**schema, "type": t}) for t in types]
        message = self.w["type_plain"].format(type="|".join(str(t) for t in types))

        def check(value: Any, path: str) -> Any:
            for alt in alternatives:
                try:
                    return alt(value, path)
                except _Invalid:
                    continue
            raise _Invalid({path: message})

        return check

    def pve_scalar(self, schema: Mapping[str, Any], type_: Any, top: bool) -> Check:
        """check_type, then format, pattern, maxLength, minLength, maximum, minimum, enum.

        One closure with every check inlined: each request pays a type test and a few
        `is None` tests per parameter, not a walk over the schema.
        """
        w = self.w
        slow_conv = _pve_scalar_conv(type_)
        kind = {"integer": 1, "number": 2, "boolean": 3, "string": 4}.get(type_, 0) if isinstance(type_, str) else 0
        type_msg = w["type"]

        fmt = schema.get("format")
        fmt_verify: Callable[[str], str | None] | None = None
        prop_string: Callable[[str, str], str | None] | None = None
        if isinstance(fmt, dict):
            prop_string = self.pve_property_string(fmt)
        elif isinstance(fmt, str) and fmt and fmt != "regex":
            fmt_verify = _pve_named_format(fmt)
        fmt_msg = w["format"]
        join_list = top and kind == 4 and isinstance(fmt, str) and fmt.endswith("-list")

        pattern_search = None
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and pattern:
            compiled = _compile_pattern(pattern, "pve")
            if compiled is not None:
                pattern_search = compiled.search
        pat_msg = w["pattern"]

        max_len = _as_number(schema.get("maxLength"))
        min_len = _as_number(schema.get("minLength"))
        max_len_msg = w["max_length"].format(limit=_limit_text(schema.get("maxLength"))) if max_len is not None else ""
        min_len_msg = w["min_length"].format(limit=_limit_text(schema.get("minLength"))) if min_len is not None else ""

        maximum, minimum = schema.get("maximum"), schema.get("minimum")
        max_n, min_n = _as_number(maximum), _as_number(minimum)
        has_range = max_n is not None or min_n is not None
        max_msg = w["maximum"].format(limit=_limit_text(maximum)) if max_n is not None else ""
        min_msg = w["minimum"].format(limit=_limit_text(minimum)) if min_n is not None else ""

        enum = schema.get("enum")
        enum_set = frozenset(_perl_str(e) for e in enum) if isinstance(enum, list) and enum else None
        enum_msg = w["enum"]
        enum_values = ", ".join(_perl_str(e) for e in enum) if enum_set is not None else ""

        int_match = _INT_RE.match
        num_match = _NUM_RE.match
        # Accepted string values -> typed value.  Every check here is a pure function of the
        # string, so a value that passed once passes again; most requests repeat node names,
        # VM IDs, storage IDs and property strings.
        memo: dict[str, Any] = {}
        memo_get = memo.get

        def check(value: Any, path: str) -> Any:
            try:
                if type(value) is str:
                    typed = memo_get(value)
                    if typed is not None:
                        return typed
                    s = value
                    if kind == 4 or kind == 0:
                        typed = s
                    elif kind == 1:
                        if s.isdecimal():
                            typed = int(s)
                        elif int_match(s) is None:
                            raise _Invalid({path: type_msg.format(type="integer", value=s)})
                        else:
                            typed = int(s)
                    elif kind == 3:
                        if s == "1":
                            typed = 1
                        elif s == "0":
                            typed = 0
                        else:
                            raise _Invalid({path: type_msg.format(type="boolean", value=s)})
                    else:
                        if num_match(s) is None:
                            raise _Invalid({path: type_msg.format(type="number", value=s)})
                        typed = int(s) if int_match(s) else float(s)
                else:
                    if join_list and type(value) is list and value:
                        # PVE::RESTHandler: an array for a '-list' string is joined with ','
                        return check(",".join(_perl_str(v) for v in value), path)
                    s, typed = slow_conv(value, path)
                    if s is None:
                        return typed
            except ValueError:  # more digits than int() converts: a number beyond every range
                raise _Invalid({path: _beyond_range(str(value), kind, max_msg, min_msg, type_msg)}) from None
            if fmt_verify is not None:
                err = fmt_verify(s)
                if err is not None:
                    raise _Invalid({path: fmt_msg.format(message=err)})
            elif prop_string is not None:
                err = prop_string(s, path)
                if err is not None:
                    raise _Invalid({path: err})
            if pattern_search is not None and pattern_search(s) is None:
                raise _Invalid({path: pat_msg})
            if max_len is not None and len(s) > max_len:
                raise _Invalid({path: max_len_msg})
            if min_len is not None and len(s) < min_len:
                raise _Invalid({path: min_len_msg})
            if has_range:
                if kind == 1 or kind == 2:
                    number = typed
                elif num_match(s) is not None:
                    number = float(s) if len(s) > _MAX_INT_DIGITS or not int_match(s) else int(s)
                else:
                    number = None
                if number is not None:
                    if max_n is not None and number > max_n:
                        raise _Invalid({path: max_msg})
                    if min_n is not None and number < min_n:
                        raise _Invalid({path: min_msg})
            if enum_set is not None and s not in enum_set:
                raise _Invalid({path: enum_msg.format(value=s, values=enum_values)})
            if s is value:
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                memo[s] = typed
            return typed

        return check

    def pve_property_string(self, fmt: Mapping[str, Any]) -> Callable[[str, str], str | None]:
        """parse_property_string + check_object over a hash format."""
        w = self.w
        entries: dict[str, Mapping[str, Any]] = {k: v for k, v in fmt.items() if isinstance(v, dict)}
        default_key = next((k for k, v in entries.items() if _truthy_flag(v.get("default_key"))), None)
        bools = frozenset(k for k, v in entries.items() if v.get("type") == "boolean")
        checks: dict[str, Check | None] = {}
        required: list[str] = []
        requires: dict[str, str] = {}
        for key, sub in entries.items():
            if sub.get("alias"):
                checks[key] = None
                continue
            checks[key] = self.pve_prop(sub)
            if not (_truthy_flag(sub.get("optional")) or sub.get("group")):
                required.append(key)
            if isinstance(sub.get("requires"), str):
                requires[key] = sub["requires"]
        fmt_msg = w["format"]

        def fail(message: str) -> str:
            return fmt_msg.format(message=message)

        def check(s: str, path: str) -> str | None:
            res: dict[str, Any] = {}
            used_default: str | None = None
            for part in s.split(","):
                if not part or part.isspace():
                    continue
                k, eq, v = part.partition("=")
                if eq and k and v and "\n" in v:
                    m = _KV_RE.match(part)  # Perl's /^([^=]+)=(.+)$/ around newlines
                    k, v = (m.group(1), m.group(2)) if m else ("", "")
                if k and v:
                    if k in res:
                        return fail(w["ps_duplicate_key"].format(key=k))
                    sub = entries.get(k)
                    if sub is not None and sub.get("alias"):
                        key_alias = sub.get("keyAlias")
                        if key_alias:
                            if key_alias in res:
                                return fail(w["ps_key_alias"].format(key=key_alias))
                            res[key_alias] = k
                        k = sub["alias"]
                        sub = entries.get(k)
                    if sub is None:
                        return fail(w["ps_invalid_key"].format(key=k))
                    if k in bools:
                        parsed = _parse_boolean(v)
                        if parsed is not None:
                            v = parsed
                    res[k] = v
                elif not eq:
                    if used_default:
                        return fail(w["ps_duplicate_key"].format(key=used_default))
                    if default_key is None:
                        return fail(w["ps_no_default_key"])
                    used_default = default_key
                    if _perl_true(res.get(default_key)):
                        return fail(w["ps_duplicate_key"].format(key=default_key))
                    res[default_key] = part
                else:
                    return fail(w["ps_missing_key"])

            errors: dict[str, str] = {}
            for key, value in res.items():
                if key not in entries:
                    _add_error(errors, f"{path}.{key}", w["not_defined"], w)
                    continue
                sub_check = checks[key]
                if sub_check is not None:
                    try:
                        sub_check(value, f"{path}.{key}")
                    except _Invalid as exc:
                        for p, m in exc.errors.items():
                            _add_error(errors, p, m, w)
                if requires:
                    req = requires.get(key)
                    if req is not None and res.get(req) is None:
                        _add_error(errors, f"{path}.{req}", w["requires"].format(key=f"{path}.{key}"), w)
            if required:
                for key in required:
                    if key not in res:
                        _add_error(errors, f"{path}.{key}", w["missing"], w)
            if errors:
                text = w["ps_format_error"] + "".join(
                    w["ps_error_line"].format(path=p, message=m) for p, m in errors.items()
                )
                return fail(text)
            return None

        return check

    def pve_array(self, schema: Mapping[str, Any], top: bool) -> Check:
        w = self.w
        items = schema.get("items")
        item_check = self.pve_prop(items) if isinstance(items, dict) else None
        item_optional = isinstance(items, dict) and _truthy_flag(items.get("optional"))
        type_msg = w["type_plain"].format(type="array")

        def check(value: Any, path: str) -> Any:
            if type(value) is not list:
                # PVE::RESTHandler: a plain (form) value for an array parameter becomes [value]
                if top and _pve_ref_name(value) is None and _perl_true(value):
                    value = [value]
                else:
                    raise _Invalid({path: type_msg})
            if item_check is None:
                return list(value)
            out = []
            errors: dict[str, str] = {}
            for i, element in enumerate(value):
                item_path = f"{path}[{i}]"
                if element is None:
                    if not item_optional:
                        _add_error(errors, item_path, w["missing"], w)
                    out.append(None)
                    continue
                try:
                    out.append(item_check(element, item_path))
                except _Invalid as exc:
                    for p, m in exc.errors.items():
                        _add_error(errors, p, m, w)
            if errors:
                raise _Invalid(errors)
            return out

        return check

    def pve_object_prop(self, schema: Mapping[str, Any]) -> Check:
        w = self.w
        props = schema.get("properties")
        additional = schema.get("additionalProperties")
        type_msg = w["type_plain"].format(type="object")
        has_object_checks = bool(props) or bool(additional)
        inner = _ObjectRules(self, props if isinstance(props, dict) else {}, additional) if has_object_checks else None

        def check(value: Any, path: str) -> Any:
            if type(value) is not dict:
                raise _Invalid({path: type_msg})
            if inner is None:
                return value
            out, errors = inner.run(value, path + ".")
            if errors:
                raise _Invalid(errors)
            return out

        return check

    # ---- Rust (proxmox-schema) -------------------------------------------------------------

    def rust_prop(self, schema: Mapping[str, Any], top: bool = False) -> Check:
        type_ = schema.get("type")
        w = self.w
        if type_ == "boolean":

            def check_bool(value: Any, path: str) -> Any:
                if type(value) is bool:
                    return value
                if type(value) is str:
                    low = value.lower()
                    if low in ("1", "on", "yes", "true"):
                        return True
                    if low in ("0", "off", "no", "false"):
                        return False
                    raise _Invalid({path: w["bad_boolean"]})
                raise _Invalid({path: w["expected_boolean"]})

            return check_bool
        if type_ in ("integer", "number"):
            return self.rust_number(schema, type_ == "integer")
        if type_ == "string" or type_ is None:
            return self.rust_string(schema)
        if type_ == "array":
            return self.rust_array(schema, top)
        if type_ == "object":
            return self.rust_object_prop(schema)
        return lambda value, path: value

    def rust_number(self, schema: Mapping[str, Any], integer: bool) -> Check:
        w = self.w
        maximum, minimum = schema.get("maximum"), schema.get("minimum")
        max_n, min_n = _as_number(maximum), _as_number(minimum)

        def constraints(v: int | float, path: str) -> None:
            if min_n is not None and v < min_n:
                raise _Invalid(
                    {path: w["minimum"].format(limit=_rust_num(min_n, integer), value=_rust_num(v, integer))}
                )
            if max_n is not None and v > max_n:
                raise _Invalid(
                    {path: w["maximum"].format(limit=_rust_num(max_n, integer), value=_rust_num(v, integer))}
                )

        def check(value: Any, path: str) -> Any:
            tv = type(value)
            if tv is str:
                v = _rust_parse_int(value, path, w) if integer else _rust_parse_float(value, path, w)
            elif tv is int or (tv is float and not integer):
                v = value
            else:
                raise _Invalid({path: w["expected_integer" if integer else "expected_number"]})
            constraints(v, path)
            return v

        return check

    def rust_string(self, schema: Mapping[str, Any]) -> Check:
        w = self.w
        min_len, max_len = _as_number(schema.get("minLength")), _as_number(schema.get("maxLength"))
        fmt = schema.get("format")
        pattern = schema.get("pattern")
        enum = schema.get("enum")
        verify: Callable[[str, str], None] | None = None
        if isinstance(fmt, dict):
            verify = self.rust_property_string(fmt)
        elif isinstance(pattern, str) and pattern:
            compiled = _compile_pattern(pattern, "rust")
            if compiled is not None:
                search = compiled.search

                def verify_pattern(s: str, path: str) -> None:
                    if not search(s):
                        raise _Invalid({path: w["pattern"]})

                verify = verify_pattern
        elif isinstance(enum, list) and enum:
            allowed = frozenset(str(e) for e in enum)

            def verify_enum(s: str, path: str) -> None:
                if s not in allowed:
                    raise _Invalid({path: w["enum"].format(value=s)})

            verify = verify_enum

        memo: dict[str, str] = {}

        def check(value: Any, path: str) -> Any:
            if type(value) is not str:
                raise _Invalid({path: w["expected_string"]})
            if value in memo:
                return value
            if min_len is not None or max_len is not None:
                length = len(value)
                if min_len is not None and length < min_len:
                    raise _Invalid({path: w["min_length"].format(limit=_limit_text(min_len))})
                if max_len is not None and length > max_len:
                    raise _Invalid({path: w["max_length"].format(limit=_limit_text(max_len))})
            if verify is not None:
                verify(value, path)
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[value] = value
            return value

        return check

    def rust_property_string(self, fmt: Mapping[str, Any]) -> Callable[[str, str], None]:
        w = self.w
        if fmt.get("type") == "array":
            items = fmt.get("items")
            item_check = self.rust_prop(items) if isinstance(items, dict) else (lambda v, p: v)
            # The published data repeats the array's minLength as maxLength (a dump quirk of
            # proxmox-schema: REMOVE_VANISHED_ARRAY has only min_length(1)); only the minimum
            # is enforced.
            min_items = _as_number(fmt.get("minLength"))

            def check_array(s: str, path: str) -> None:
                parts = [p for p in re.split(r"[,;\s]", s) if p]
                for part in parts:
                    try:
                        item_check(part.strip(), path)
                    except _Invalid as exc:
                        message = next(iter(exc.errors.values()))
                        raise _Invalid({path: w["array_element"].format(message=message)}) from None
                if min_items is not None and len(parts) < min_items:
                    raise _Invalid({path: w["array_min"].format(limit=_limit_text(min_items))})

            return check_array

        props = fmt.get("properties") if isinstance(fmt.get("properties"), dict) else {}
        additional = fmt.get("additionalProperties")
        default_key = fmt.get("default_key") if isinstance(fmt.get("default_key"), str) else None
        checks = {k: self.rust_prop(v) for k, v in props.items() if isinstance(v, dict)}
        required = [k for k, v in props.items() if isinstance(v, dict) and not _truthy_flag(v.get("optional"))]

        def check_object(s: str, path: str) -> None:
            errors: list[tuple[str, str]] = []
            seen: set[str] = set()
            for part in s.split(","):
                part = part.strip()
                if not part:
                    continue
                if "=" in part:
                    key, value = part.split("=", 1)
                    key, value = key.strip(), value.strip()
                elif default_key is not None:
                    key, value = default_key, part
                else:
                    raise _Invalid({path: w["ps_no_default_key"]})
                if key in seen:
                    errors.append((key, w["duplicate_key"]))
                    continue
                seen.add(key)
                sub_check = checks.get(key)
                if sub_check is None:
                    if not _truthy_flag(additional):
                        errors.append((key, w["not_defined_json"]))
                    continue
                try:
                    sub_check(value, key)
                except _Invalid as exc:
                    errors.extend(exc.errors.items())
            for key in required:
                if key not in seen:
                    errors.append((key, w["missing_json"]))
            if errors:
                raise _Invalid({path: _rust_error_text(errors, w)})

        return check_object

    def rust_array(self, schema: Mapping[str, Any], top: bool) -> Check:
        w = self.w
        items = schema.get("items")
        item_check = self.rust_prop(items) if isinstance(items, dict) else (lambda v, p: v)

        def check(value: Any, path: str) -> Any:
            if type(value) is str and top:
                # form values: every occurrence is parsed as one element
                return [item_check(value, path)]
            if type(value) is not list:
                raise _Invalid({path: w["expected_array_object" if type(value) is dict else "expected_array_scalar"]})
            out = []
            errors: dict[str, str] = {}
            for i, element in enumerate(value):
                try:
                    if type(element) is str and top:
                        out.append(item_check(element, path))
                    else:
                        out.append(item_check(element, f"{path}/[{i}]"))
                except _Invalid as exc:
                    errors.update(exc.errors)
            if errors:
                raise _Invalid(errors)
            return out

        return check

    def rust_object_prop(self, schema: Mapping[str, Any]) -> Check:
        w = self.w
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        additional = schema.get("additionalProperties")
        checks = {k: self.rust_prop(v) for k, v in props.items() if isinstance(v, dict)}
        required = [k for k, v in props.items() if isinstance(v, dict) and not _truthy_flag(v.get("optional"))]

        def check(value: Any, path: str) -> Any:
            if type(value) is not dict:
                raise _Invalid({path: w["expected_object_array" if type(value) is list else "expected_object_scalar"]})
            errors: dict[str, str] = {}
            out: dict[str, Any] = {}
            for key, sub in value.items():
                sub_path = f"{path}/{key}"
                sub_check = checks.get(key)
                if sub_check is None:
                    if _truthy_flag(additional):
                        out[key] = sub
                    else:
                        errors[sub_path] = w["not_defined_json"]
                    continue
                try:
                    out[key] = sub_check(sub, sub_path)
                except _Invalid as exc:
                    errors.update(exc.errors)
            for key in required:
                if value.get(key) is None:
                    errors[f"{path}/{key}"] = w["missing_json"]
            if errors:
                raise _Invalid(errors)
            return out

        return check


def _rust_num(value: int | float, integer: bool) -> str:
    if integer or isinstance(value, int):
        return str(int(value))
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


_RUST_FLOAT_RE = re.compile(r"^[+-]?(?:inf|infinity|nan|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)$", re.I)


def _beyond_range(s: str, kind: int, max_msg: str, min_msg: str, type_msg: str) -> str:
    """The error for a number too long to convert: Perl reads it as +-inf, so PVE refuses it
    against the schema's maximum (minimum); without one, it is no number this mock can hold."""
    negative = s.lstrip().startswith("-")
    return (min_msg if negative else max_msg) or type_msg.format(type="integer" if kind == 1 else "number", value=s)


def _rust_parse_int(value: str, path: str, w: dict[str, str]) -> int:
    """`value.parse::<isize>()` with Rust's error texts."""
    if value == "":
        raise _Invalid({path: w["int_empty"]})
    digits = value[1:] if value[0] in "+-" else value
    if not digits or not digits.isascii() or not digits.isdigit():
        raise _Invalid({path: w["int_invalid"]})
    number = int(value) if len(digits) <= 19 else (-(2**64) if value[0] == "-" else 2**64)
    if number > 2**63 - 1:
        raise _Invalid({path: w["int_too_large"]})
    if number < -(2**63):
        raise _Invalid({path: w["int_too_small"]})
    return number


def _rust_parse_float(value: str, path: str, w: dict[str, str]) -> float:
    if value == "":
        raise _Invalid({path: w["float_empty"]})
    if not _RUST_FLOAT_RE.match(value):
        raise _Invalid({path: w["float_invalid"]})
    return float(value)


def _rust_error_text(errors: list[tuple[str, str]] | dict[str, str], w: dict[str, str]) -> str:
    """proxmox-schema ParameterError's Display."""
    items = list(errors.items()) if isinstance(errors, dict) else errors
    if len(items) == 1:
        key, message = items[0]
        return w["verification_failed_one"].format(key=key, message=message)
    lines = [w["verification_failed_many"]]
    lines += [w["verification_failed_line"].format(key=k, message=m) for k, m in items]
    return "\n".join(lines).strip()


# --------------------------------------------------------------------------------------------
# Objects (the parameter object itself, and nested `type: object` values)
# --------------------------------------------------------------------------------------------

_INDEXED_KEY_RE = re.compile(r"^(.+)\[n\]$")
_INDEX_OF_RE = re.compile(r"^(\D+)(\d+)$")
_N_IS_RE = re.compile(r"\(n is 0 to (\d+)\)")


class _OneOf:
    """A parameter whose schema is chosen by another parameter (`type-property`, PVE SDN)."""

    __slots__ = ("type_property", "alternatives", "outer")

    def __init__(
        self, type_property: str, alternatives: list[tuple[frozenset[str] | None, Check, bool]], outer: Check
    ) -> None:
        self.type_property = type_property
        self.alternatives = alternatives
        self.outer = outer


class _ObjectRules:
    """check_object for one object schema (PVE) compiled: per-key checks and object rules."""

    def __init__(self, compiler: _Compiler, properties: Mapping[str, Any], additional: Any, top: bool = False) -> None:
        self.wording = compiler.w
        self.checks: dict[str, Check] = {}
        self.required: list[str] = []
        self.requires: list[tuple[str, str]] = []
        self.indexed: dict[str, tuple[Check, int | None]] = {}
        self.oneof: dict[str, _OneOf] = {}
        self.oneof_required: list[str] = []
        pve = compiler.dialect == "pve"
        prop_compiler = compiler.pve_prop if pve else compiler.rust_prop
        for name, schema in properties.items():
            if not isinstance(schema, dict):
                continue
            if pve and schema.get("oneOf") and schema.get("type-property"):
                self.oneof[name] = self._compile_oneof(compiler, schema, top)
                continue
            check = prop_compiler(schema, top)
            m = _INDEXED_KEY_RE.match(name)
            if m:
                base = m.group(1)
                self.indexed[base] = (check, _index_limit(base, schema))
                continue
            self.checks[name] = check
            optional = _truthy_flag(schema.get("optional"))
            if not optional and not (pve and (schema.get("alias") or schema.get("group"))):
                self.required.append(name)
            if pve and isinstance(schema.get("requires"), str):
                self.requires.append((name, schema["requires"]))
        self.pve = pve
        if additional is None:
            # PVE: an absent additionalProperties does not restrict; proxmox-schema: false
            self.allow_additional = pve
            self.additional_check: Check | None = None
        elif isinstance(additional, dict):
            self.allow_additional = True
            self.additional_check = prop_compiler(additional)
        else:
            self.allow_additional = _truthy_flag(additional)
            self.additional_check = None

    @staticmethod
    def _compile_oneof(compiler: _Compiler, schema: Mapping[str, Any], top: bool) -> _OneOf:
        alternatives = []
        for alt in schema.get("oneOf") or []:
            if not isinstance(alt, dict):
                continue
            types = alt.get("instance-types")
            alternatives.append(
                (
                    frozenset(types) if isinstance(types, list) else None,
                    compiler.pve_prop(alt, top),
                    _truthy_flag(alt.get("optional")),
                )
            )
        outer = compiler.pve_prop({k: v for k, v in schema.items() if k not in ("oneOf", "items")}, top)
        return _OneOf(str(schema["type-property"]), alternatives, outer)

    def lookup_indexed(self, key: str) -> Check | None:
        m = _INDEX_OF_RE.match(key)
        if m is None:
            return None
        entry = self.indexed.get(m.group(1))
        if entry is None:
            return None
        digits = m.group(2)
        if len(digits) > 1 and digits[0] == "0":
            return None
        check, limit = entry
        if limit is not None and int(digits) >= limit:
            return None
        self.checks[key] = check  # a real property of the schema: remember it
        return check

    def run(self, raw: Mapping[str, Any], prefix: str = "") -> tuple[dict[str, Any], dict[str, str]]:
        """Validate an object; returns (typed values, errors by path)."""
        out: dict[str, Any] = {}
        errors: dict[str, str] = {}
        checks = self.checks
        w = self.wording
        for key, value in raw.items():
            check = checks.get(key)
            if check is None:
                if self.oneof and key in self.oneof:
                    self._run_oneof(key, value, raw, prefix, out, errors)
                    continue
                if self.indexed:
                    check = self.lookup_indexed(key)
                if check is None:
                    if self.allow_additional:
                        if self.additional_check is not None and value is not None:
                            try:
                                out[key] = self.additional_check(value, prefix + key)
                            except _Invalid as exc:
                                errors.update(exc.errors)
                        else:
                            out[key] = value
                    else:
                        path = prefix + key
                        if self.pve:
                            _add_error(errors, path, w["not_defined"], w)
                        else:
                            errors[path] = w["not_defined"]
                    continue
            if value is None:
                continue
            try:
                out[key] = check(value, prefix + key)
            except _Invalid as exc:
                if self.pve:
                    for p, m in exc.errors.items():
                        _add_error(errors, p, m, w)
                else:
                    errors.update(exc.errors)
        if self.pve:
            for name in self.required:
                if raw.get(name) is None:
                    _add_error(errors, prefix + name, w["missing"], w)
            for name, needed in self.requires:
                if raw.get(name) is not None and raw.get(needed) is None:
                    _add_error(errors, prefix + needed, w["requires"].format(key=prefix + name), w)
            for name in self.oneof:
                if raw.get(name) is None:
                    self._oneof_missing(name, raw, prefix, errors)
        elif not errors:
            # proxmox-schema reports missing parameters only when nothing else failed
            for name in self.required:
                if raw.get(name) is None:
                    errors[prefix + name] = w["missing"]
        return out, errors

    def _instance_type(self, spec: _OneOf, raw: Mapping[str, Any]) -> str | None:
        value = raw.get(spec.type_property)
        return _perl_str(value) if value is not None else None

    def _run_oneof(
        self, key: str, value: Any, raw: Mapping[str, Any], prefix: str, out: dict[str, Any], errors: dict[str, str]
    ) -> None:
        spec = self.oneof[key]
        w = self.wording
        path = prefix + key
        if value is None:
            return
        instance_type = self._instance_type(spec, raw)
        matched = False
        typed = value
        try:
            if instance_type:
                for types, check, _optional in spec.alternatives:
                    if types is not None and instance_type in types:
                        typed = check(value, path)
            typed_outer = spec.outer(value, path)
            if typed is value:
                typed = typed_outer
        except _Invalid as exc:
            for p, m in exc.errors.items():
                _add_error(errors, p, m, w)
            return
        for types, _check, _optional in spec.alternatives:
            if types is None or (instance_type is not None and instance_type in types):
                matched = True
                break
        if not matched and not self.allow_additional:
            _add_error(errors, path, w["not_defined"], w)
            return
        out[key] = typed

    def _oneof_missing(self, key: str, raw: Mapping[str, Any], prefix: str, errors: dict[str, str]) -> None:
        spec = self.oneof[key]
        instance_type = self._instance_type(spec, raw)
        if not instance_type:
            return
        for types, _check, optional in spec.alternatives:
            if types is not None and instance_type in types and not optional:
                _add_error(errors, prefix + key, self.wording["missing"], self.wording)
                return


def _index_limit(base: str, schema: Mapping[str, Any]) -> int | None:
    description = schema.get("description")
    if isinstance(description, str):
        m = _N_IS_RE.search(description)
        if m:
            return int(m.group(1)) + 1
    return INDEX_LIMITS.get(base)


# --------------------------------------------------------------------------------------------
# Public surface
# --------------------------------------------------------------------------------------------


def _detect_dialect(parameters: Mapping[str, Any]) -> str:
    """PBS/PDM publish JSON booleans for additionalProperties and `/.../` patterns."""
    if isinstance(parameters.get("additionalProperties"), bool):
        return "rust"
    for schema in (parameters.get("properties") or {}).values():
        if isinstance(schema, dict):
            pattern = schema.get("pattern")
            if isinstance(pattern, str) and len(pattern) >= 2 and pattern[0] == "/" and pattern[-1] == "/":
                return "rust"
            if isinstance(schema.get("optional"), bool):
                return "rust"
    return "pve"


class Validator:
    """A compiled `parameters` schema of one operation."""

    __slots__ = ("dialect", "_rules", "_message")

    def __init__(self, parameters: Mapping[str, Any], dialect: str | None = None) -> None:
        if dialect in ("pbs", "pdm"):
            dialect = "rust"
        if dialect is None:
            dialect = _detect_dialect(parameters)
        if dialect not in WORDING:
            raise ValueError(f"unknown parameter dialect {dialect!r}")
        self.dialect = dialect
        compiler = _Compiler(dialect)
        properties = parameters.get("properties")
        self._rules = _ObjectRules(
            compiler,
            properties if isinstance(properties, dict) else {},
            parameters.get("additionalProperties"),
            top=True,
        )
        self._message = WORDING["pve"]["verification_failed"]

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Typed parameters, or ApiError(400, ..., errors={param: message}) with every failure.

        `raw` holds path parameters (strings) plus query/form strings or JSON body values.
        PVE: integers -> int, numbers -> int/float, booleans -> 1/0, property strings and
        other strings unchanged, arrays -> lists.  Unknown keys are kept only when the schema
        allows additional properties.
        """
        out, errors = self._rules.run(raw)
        if errors:
            if self.dialect == "pve":
                raise ApiError(400, self._message, errors=errors)
            raise ApiError(400, _rust_error_text(errors, WORDING["rust"]), errors=errors)
        return out

    @property
    def known(self) -> frozenset[str]:
        """Names of the declared (non-indexed) parameters."""
        return frozenset(self._rules.checks) | frozenset(self._rules.oneof)


def compile_validator(op_or_parameters: Any, dialect: str | None = None) -> Validator:
    """Compile an Operation (anything with `.parameters`) or a `parameters` dict.

    `dialect` is "pve", or "rust"/"pbs"/"pdm"; by default it is read from the data.
    """
    parameters = getattr(op_or_parameters, "parameters", op_or_parameters)
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, Mapping):
        raise TypeError(f"parameters schema must be a mapping, not {type(parameters).__name__}")
    return Validator(parameters, dialect)
