"""Deterministic, field-aware values generated from a `returns` schema.

A GET leaf that the scenario did not seed still answers something of the declared type, and
something a person (or a client parsing it) would believe: a real node never holds
`devpath567`. The value depends only on the scenario's `seed`, the concrete path, the schema
and the scenario's node names, so the same scenario answers the same bytes on every run.

How a value is chosen, first rule that applies:

1. `enum`: one of its values.
2. a path parameter of the same name (`node`, `vmid`, `storage`...): its value.
3. `format`: a value of that format (`ipv4`, `mac-addr`, `pve-storage-id`, `-list` forms...);
   a property-string format (a schema of its own) becomes `key=value,...`.
4. the property's name (exact, then by its words: `...date` -> `YYYY-MM-DD`, `...time` on an
   integer -> a recent epoch, `devpath` -> `/dev/sdX`, `hwaddr` -> a `BC:24:11` MAC,
   `size`/`used` -> bytes, `...time` on a string -> RFC 3339, `...schedule` -> a calendar
   event, `uuid`, `fingerprint`, `version`, `url`, `email`...); a node field takes one of
   the scenario's own nodes. Array items are named by their array; an array whose items
   declare nothing is empty.
5. a `pattern` that is a list of alternatives: one of them.
6. the description (a date, an IP address, a path...).
7. otherwise a plausible word (`default`, `main`...): never the field's name with digits.

Integers keep to `minimum`/`maximum`; booleans are 0/1; numbers named like a load or a usage
are fractions. Name rules are resolved once per name (cached), so generation stays cheap.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

# Epochs are recent relative to a fixed instant, not the clock: the same run after run.
ANCHOR_EPOCH = 1_790_000_000  # 2026-09-21
DAY = 86_400
GiB = 1024**3


class _Ctx:
    """What a generated value may draw on besides the schema: the scenario's node names."""

    __slots__ = ("nodes", "params")

    def __init__(self, nodes: Sequence[str], params: dict[str, str]) -> None:
        self.nodes = tuple(nodes) or ("pve",)
        self.params = params


Maker = Callable[[random.Random, _Ctx], Any]


# --- building blocks ----------------------------------------------------------------------------


def _hex(bits: int) -> Maker:
    return lambda r, c: f"{r.getrandbits(bits):0{bits // 4}x}"


def _node(r: random.Random, c: _Ctx) -> str:
    return c.params.get("node") or r.choice(c.nodes)


def _epoch_past(r: random.Random, c: _Ctx) -> int:
    return ANCHOR_EPOCH - r.randint(60, 30 * DAY)


def _epoch_future(r: random.Random, c: _Ctx) -> int:
    return ANCHOR_EPOCH + r.randint(30 * DAY, 365 * DAY)


def _date(epoch: Maker) -> Maker:
    return lambda r, c: time.strftime("%Y-%m-%d", time.gmtime(epoch(r, c)))


def _rfc3339(r: random.Random, c: _Ctx) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_epoch_past(r, c)))


def _ipv4(r: random.Random, c: _Ctx) -> str:
    return f"192.0.2.{r.randint(10, 250)}"  # the node addresses' network (proxmox/node_data.py)


def _ipv6(r: random.Random, c: _Ctx) -> str:
    return f"fd00::{r.randint(0x10, 0xFFFF):x}"


def _mac(r: random.Random, c: _Ctx) -> str:
    return "BC:24:11:" + ":".join(f"{r.randint(0, 255):02X}" for _ in range(3))


def _uuid(r: random.Random, c: _Ctx) -> str:
    h = f"{r.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _fingerprint(r: random.Random, c: _Ctx) -> str:
    return ":".join(f"{r.getrandbits(8):02X}" for _ in range(32))


def _choice(*values: Any) -> Maker:
    return lambda r, c: r.choice(values)


def _const(value: Any) -> Maker:
    return lambda r, c: value


def _bytes(r: random.Random, c: _Ctx) -> int:
    return r.choice((1, 2, 4, 8, 16, 32, 64, 128, 256, 512)) * GiB + r.randint(0, 1023) * 1024**2


def _upid(r: random.Random, c: _Ctx) -> str:
    return (
        f"UPID:{_node(r, c)}:{r.randint(1000, 0xFFFFF):08X}:{r.randint(1, 0xFFFFFF):08X}:"
        f"{_epoch_past(r, c):08X}:qmstart:{r.randint(100, 999)}:root@pam:"
    )


def _log_line(r: random.Random, c: _Ctx) -> str:
    stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(_epoch_past(r, c)))
    return f"{stamp} {_node(r, c)} {r.choice(LOG_LINES)}"


def _text(lines: Sequence[str]) -> Maker:
    return lambda r, c: "\n".join(lines) + "\n"


# --- data -------------------------------------------------------------------------------------------

WORDS = ("default", "main", "primary", "standard", "local", "system", "generic", "auto")
NAMES = ("web-01", "db-01", "app-01", "backup", "mail", "proxy", "monitor", "build")
LOG_LINES = (
    "systemd[1]: Started pvestatd.service - PVE Status Daemon.",
    "pvedaemon[1432]: <root@pam> successful auth for user 'root@pam'",
    "pveproxy[1520]: worker 1523 started",
    "pmxcfs[1190]: [status] notice: received log",
    "systemd[1]: Starting apt-daily.service - Daily apt download activities...",
    "chronyd[980]: Selected source 192.0.2.1 (2.debian.pool.ntp.org)",
    "kernel: vmbr0: port 2(tap100i0) entered forwarding state",
    "pvescheduler[2204]: starting task UPID:pve:000089AC:0012A3F1:6700A2B0:vzdump::root@pam:",
)
REPORT = (
    "==== general system info ====",
    "",
    "# hostname",
    "pve",
    "",
    "# pveversion --verbose",
    "proxmox-ve: 9.0.0 (running kernel: 6.14.8-2-pve)",
    "pve-manager: 9.2.0 (running version: 9.2.0/4a9b1f2c)",
)

# Formats by name (params.py names them; `-list` and `-opt` forms reuse the base).
FORMATS: dict[str, Maker] = {
    "pve-node": _node,
    "pve-storage-id": _choice("local", "local-lvm"),
    "pve-vmid": lambda r, c: r.randint(100, 999),
    "pve-configid": _choice("net0", "scsi0", "ide2", "memory", "cores"),
    "pve-poolid": _choice("production", "lab"),
    "pve-userid": _const("root@pam"),
    "pve-tokenid": _const("root@pam!monitoring"),
    "pve-groupid": _choice("admins", "operators"),
    "pve-roleid": _choice("PVEAdmin", "PVEAuditor", "PVEVMUser"),
    "pve-realm": _choice("pam", "pve"),
    "pve-bridge-id": _const("vmbr0"),
    "pve-iface": _choice("eno1", "eno2", "vmbr0"),
    "pve-volume-id": lambda r, c: f"local-lvm:vm-{r.randint(100, 999)}-disk-0",
    "pve-storage-content": _choice("images", "rootdir", "iso", "vztmpl", "backup"),
    "pve-storage-path": _const("/var/lib/vz"),
    "pve-storage-server": _ipv4,
    "pve-storage-vgname": _const("pve"),
    "pve-tag": _choice("prod", "web", "db"),
    "pve-task-status-type": _choice("ok", "warning"),
    "pve-startup-order": _const("order=1"),
    "pve-vlan-id-or-range": _choice("10", "20", "100-200"),
    "pve-ipv4-config": lambda r, c: f"ip={_ipv4(r, c)}/24,gw=192.0.2.1",
    "ipv4": _ipv4,
    "ipv6": _ipv6,
    "ip": _ipv4,
    "address": _ipv4,
    "ipv4mask": _const("255.255.255.0"),
    "CIDRv4": lambda r, c: f"{_ipv4(r, c)}/24",
    "CIDRv6": _const("fd00::/64"),
    "CIDR": lambda r, c: f"{_ipv4(r, c)}/24",
    "mac-addr": _mac,
    "email": _const("admin@example.com"),
    "email-or-username": _const("admin@example.com"),
    "dns-name": _const("pve.example.com"),
    "disk-size": _choice("32G", "64G", "8G"),
    "urlencoded": _choice("default", "main"),
    "pve-dir-override": _const("/var/lib/vz"),
}

# Names (lower case, `-` for `_`) whose value is known outright.
NAMED: dict[str, Maker] = {
    "node": _node,
    "hostname": _node,
    "nodename": _node,
    "upid": _upid,
    "digest": _hex(160),
    "config-digest": _hex(256),
    "md5sum": _hex(128),
    "sha256": _hex(256),
    "sha512sum": _hex(512),
    "csum": _hex(256),
    "checksum": _hex(256),
    "storage": _choice("local", "local-lvm"),
    "store": _choice("backups", "offsite"),
    "datastore": _choice("backups", "offsite"),
    "pool": _choice("production", "lab"),
    "realm": _choice("pam", "pve"),
    "userid": _const("root@pam"),
    "ugid": _const("root@pam"),
    "owner": _const("root@pam"),
    "roleid": _choice("PVEAdmin", "PVEAuditor"),
    "role": _choice("PVEAdmin", "PVEAuditor"),
    "version": _const("9.2.0"),
    "pveversion": _const("pve-manager/9.2.0/4a9b1f2c"),
    "release": _const("9.2"),
    "repoid": _hex(32),
    "comment": _const(""),
    "description": _const(""),
    "descr": _const(""),
    "notes": _const(""),
    "message": _const("OK"),
    "error": _const(""),
    "status": _const("ok"),
    "state": _const("ok"),
    "health": _const("PASSED"),
    "level": _const(""),
    "type": _const("default"),
    "kind": _const("default"),
    "iface": _choice("eno1", "vmbr0"),
    "bridge": _const("vmbr0"),
    "bridge-ports": _const("eno1"),
    "slaves": _const("eno1 eno2"),
    "interface": _choice("eno1", "vmbr0"),
    "vnet": _const("vnlan"),
    "zone": _const("lab"),
    "vmid": lambda r, c: str(r.randint(100, 999)),
    "volid": lambda r, c: f"local-lvm:vm-{r.randint(100, 999)}-disk-0",
    "volume": lambda r, c: f"local-lvm:vm-{r.randint(100, 999)}-disk-0",
    "path": _const("/"),
    "devpath": lambda r, c: f"/dev/sd{r.choice('abcd')}",
    "dev": lambda r, c: f"/dev/sd{r.choice('abcd')}",
    "device": lambda r, c: f"/dev/sd{r.choice('abcd')}",
    "by-id-link": lambda r, c: f"/dev/disk/by-id/ata-{r.getrandbits(32):08X}",
    "filename": _choice("vzdump-qemu-100-2026_09_20-02_00_00.vma.zst", "index.json.blob"),
    "file": _choice("index.json.blob", "root.pxar.didx"),
    "model": _choice("Samsung SSD 870 EVO 1TB", "INTEL SSDSC2KB960G8", "WDC WD40EFRX-68N32N0"),
    "vendor": _choice("ATA", "Samsung", "Intel"),
    "manufacturer": _choice("Intel Corporation", "Supermicro"),
    "product": _choice("X11SPi-TF", "Ethernet Controller X710"),
    "productname": _choice("X11SPi-TF", "PowerEdge R640"),
    "serial": lambda r, c: f"S{r.getrandbits(40):010X}",
    "wwn": lambda r, c: f"0x5002538{r.getrandbits(36):09x}",
    "hwaddr": _mac,
    "hardware-address": _mac,
    "mac": _mac,
    "macaddr": _mac,
    "hostmac": _mac,
    "address": _ipv4,
    "addr": _ipv4,
    "ip": _ipv4,
    "ipaddr": _ipv4,
    "gateway": _const("192.0.2.1"),
    "gateway6": _const("fd00::1"),
    "netmask": _const("24"),
    "mask": _const("255.255.255.0"),
    "cidr": lambda r, c: f"{_ipv4(r, c)}/24",
    "dns": _const("192.0.2.1"),
    "dns1": _const("192.0.2.1"),
    "search": _const("example.com"),
    "domain": _const("example.com"),
    "host": _const("192.0.2.20"),
    "server": _const("192.0.2.20"),
    "timezone": _const("Europe/Vienna"),
    "uuid": _uuid,
    "fsid": _uuid,
    "fingerprint": _fingerprint,
    "pve-fp": _fingerprint,
    "pem": _const("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
    "subject": lambda r, c: f"/CN={_node(r, c)}.example.com",
    "issuer": _const("/CN=Proxmox Virtual Environment/OU=PVE Cluster Manager CA/O=PVE Cluster Manager CA"),
    "public-key-type": _const("rsaEncryption"),
    "signature": _hex(256),
    "url": _const("https://www.proxmox.com/"),
    "website": _const("https://www.proxmox.com/"),
    "infopage": _const("https://www.proxmox.com/"),
    "location": _const("http://download.proxmox.com/images/"),
    "email": _const("admin@example.com"),
    "mailto": _const("admin@example.com"),
    "email-from": _const("root@example.com"),
    "speed": _choice("1000", "10000"),
    "proto": _choice("tcp", "udp"),
    "dport": _choice("22", "8006", "443"),
    "sport": _choice(
        "1024:65535",
    ),
    "action": _choice("ACCEPT", "DROP"),
    "macro": _choice("SSH", "HTTPS", "Ping"),
    "icmp-type": _const("echo-request"),
    "log-ratelimit": _const("enable=1,rate=1/second,burst=5"),
    "nf-conntrack-helpers": _const(""),
    "scope": _const("node"),
    "sysname": _const("Linux"),
    "machine": _const("x86_64"),
    "section": _const("system"),
    "t": _log_line,
    "journal": _log_line,
    "syslog": _log_line,
    "report": _text(REPORT),
    "dump": _const("#cloud-config\nhostname: pve\nmanage_etc_hosts: true\n"),
    "changelog": _const("pve-manager (9.2.0) trixie; urgency=medium\n\n  * update to 9.2.0\n"),
    "tos": _const("https://letsencrypt.org/documents/LE-SA-v1.5-February-24-2025.pdf"),
    "termsofservice": _const("https://letsencrypt.org/documents/LE-SA-v1.5-February-24-2025.pdf"),
    "remote": _choice("pve-main", "pbs-offsite"),
    "ceph-version": _const("ceph version 19.2.1 (9b7c4ef2c8e4d3b0d3b6e2f5c1f9b6a0b1c2d3e4) squid (stable)"),
    "ceph-version-short": _const("19.2.1"),
    "ceph-release": _const("squid"),
    "osd-objectstore": _const("bluestore"),
    "crush-rule-name": _const("replicated_rule"),
    "pg-autoscale-mode": _const("on"),
    "package": _choice("pve-manager", "proxmox-ve", "qemu-server", "libpve-common-perl"),
    "title": _choice("Proxmox VE management tools", "Proxmox Virtual Environment"),
    "origin": _const("Proxmox"),
    "priority": _const("optional"),
    "arch": _const("amd64"),
    "oldversion": _const("9.1.0"),
    "manager-version": _const("9.2.0"),
    "running-kernel": _const("6.14.8-2-pve"),
    "notifystatus": _const(""),
    "extrainfo": _const(""),
    "changes": _const(""),
    "severity": _choice("info", "notice"),
    "headline": _const("Debian 12 (standard)"),
    "os": _const("debian-12"),
    "template": _const("debian-12-standard_12.7-1_amd64.tar.zst"),
}

# By the words of a name, for names not listed: (test on the normalized name, maker).
_WORDS: tuple[tuple[Callable[[str], bool], Maker], ...] = (
    (lambda n: "uuid" in n, _uuid),
    (lambda n: "fingerprint" in n or n.endswith("-fp"), _fingerprint),
    (lambda n: "mac" in n.split("-") or n.endswith("hwaddr"), _mac),
    (lambda n: any(w in n for w in ("next", "due", "expir", "notafter")) and "date" in n, _date(_epoch_future)),
    (lambda n: "date" in n, _date(_epoch_past)),
    (lambda n: n.endswith("schedule"), _choice("daily", "02:00", "sat 03:30")),
    (lambda n: n.endswith(("time", "timestamp")), _rfc3339),
    (lambda n: "digest" in n or n.endswith(("sum", "hash")), _hex(256)),
    (lambda n: n.endswith(("-addr", "address", "-ip", "ipaddr")), _ipv4),
    (lambda n: n.endswith("cidr"), lambda r, c: f"{_ipv4(r, c)}/24"),
    (lambda n: n.endswith("gateway"), _const("192.0.2.1")),
    (lambda n: n.endswith(("url", "uri")), _const("https://www.proxmox.com/")),
    (lambda n: n.endswith(("email", "mail")), _const("admin@example.com")),
    (lambda n: n.endswith(("node", "nodes")), _node),
    (lambda n: n.endswith(("host", "hostname", "server")), _const("192.0.2.20")),
    (lambda n: n.endswith("version"), _const("9.2.0")),
    (lambda n: n.endswith(("dir", "path")), _const("/var/lib/vz")),
    (lambda n: n.endswith(("pool", "pools")), _choice("production", "lab")),
    (lambda n: n.endswith(("storage", "store")), _choice("local", "backups")),
    (lambda n: n.endswith("key"), _hex(128)),
    (lambda n: n.endswith(("id", "name")), _choice(*NAMES)),
    (lambda n: n.endswith(("text", "message", "msg", "summary", "comment")), _const("")),
)

# Integers by name.
_INT_NAMED: dict[str, Maker] = {
    "uptime": lambda r, c: r.randint(3_600, 90 * DAY),
    "vmid": lambda r, c: r.randint(100, 999),
    "pid": lambda r, c: r.randint(1_000, 99_999),
    "port": lambda r, c: r.choice((8006, 8007, 443, 22)),
    "cpus": _choice(2, 4, 8, 16),
    "maxcpu": _choice(2, 4, 8, 16),
    "cores": _choice(1, 2, 4),
    "sockets": _const(1),
    "cpu": _const(0),
    "rpm": _choice(0, 7200),
    "wearout": lambda r, c: r.randint(90, 100),
    "nodeid": lambda r, c: r.randint(1, 3),
    "vlan": _choice(10, 20, 100),
    "mtu": _const(1500),
    "priority": _const(0),
    "quorum-votes": _const(1),
    "votes": _const(1),
}
_INT_BYTES = ("size", "bytes", "mem", "disk", "total", "used", "avail", "free", "swap", "netin", "netout")
_INT_EPOCH = ("time", "date", "stamp", "epoch")


# --- generation ---------------------------------------------------------------------------------


def rng_for(seed: int, path: str) -> random.Random:
    digest = hashlib.blake2b(f"{seed}\0{path}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def generate(
    schema: dict[str, Any],
    seed: int,
    path: str,
    params: dict[str, str] | None = None,
    nodes: Sequence[str] = (),
) -> Any:
    """A value of the schema's declared type, the same for the same (seed, path, nodes).

    `nodes`: the scenario's node names, for fields that name a node. The answer's own name is
    the path's last segment (a top-level `journal` list holds log lines)."""
    top = path.rsplit("/", 1)[-1]
    return _value(schema or {}, rng_for(seed, path), _Ctx(nodes, params or {}), top, 0)


def _value(schema: dict[str, Any], r: random.Random, c: _Ctx, name: str | None, depth: int) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if "enum" in schema and schema["enum"]:
        return r.choice(list(schema["enum"]))
    params = c.params
    if name is not None and name in params and kind in ("string", "integer", None):
        value = params[name]
        if kind != "integer":
            return value
        if value.lstrip("-").isdigit():
            return int(value)
        # a path key that is no integer (a job id for a nested vmid `id`): synthesized as declared
    if kind == "object" or (kind is None and "properties" in schema):
        return _object(schema, r, c, depth)
    if kind == "array":
        if depth > 3:
            return []
        items = schema.get("items") or {}
        if items.get("type", "object") == "object" and not items.get("properties"):
            return []  # nothing declared of the items: an empty list, not `[{}, {}]`
        return [_value(items, r, c, name, depth + 1) for _ in range(r.randint(1, 3))]
    if kind == "integer":
        return _integer(schema, r, c, name)
    if kind == "number":
        return _number(schema, r, name)
    if kind == "boolean":
        return r.randint(0, 1)
    if kind == "string":
        return _string(schema, r, c, name)
    return None


def _object(schema: dict[str, Any], r: random.Random, c: _Ctx, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        if sub.get("optional") and (depth > 1 or r.random() < 0.5):
            continue
        out[key] = _value(sub, r, c, key, depth + 1)
    return out


def _bounds(schema: dict[str, Any]) -> tuple[float | None, float | None]:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    return (float(lo) if lo is not None else None, float(hi) if hi is not None else None)


def _integer(schema: dict[str, Any], r: random.Random, c: _Ctx, name: str | None) -> int:
    lo, hi = _bounds(schema)
    make = _int_rule(_normal(name)) if name else None
    if make is not None:
        value = int(make(r, c))
        if (lo is None or value >= lo) and (hi is None or value <= hi):
            return value
    low = int(lo) if lo is not None else 0
    high = int(hi) if hi is not None else low + 4096
    return r.randint(low, max(low, min(high, low + 1_000_000)))


def _number(schema: dict[str, Any], r: random.Random, name: str | None) -> float:
    lo, hi = _bounds(schema)
    n = _normal(name) if name else ""
    if lo is None and hi is None and n.endswith(_INT_BYTES):
        return float(_bytes(r, _Ctx((), {})))
    if hi is not None and hi >= 100 and ("percent" in n or "pct" in n):
        return round(r.uniform(lo or 0, 100), 2)
    low = lo if lo is not None else 0.0
    return round(r.uniform(low, hi if hi is not None else low + 1), 4)


@lru_cache(maxsize=4096)
def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


@lru_cache(maxsize=4096)
def _int_rule(n: str) -> Maker | None:
    if n in _INT_NAMED:
        return _INT_NAMED[n]
    if any(w in n for w in ("next", "expir", "notafter")) and any(w in n for w in _INT_EPOCH):
        return _epoch_future
    if n.endswith(_INT_EPOCH) or n in ("notbefore", "ctime", "mtime", "atime"):
        return _epoch_past
    if n.endswith(_INT_BYTES) or n.startswith(("max", "disk", "net")):
        return _bytes
    return None


@lru_cache(maxsize=4096)
def _name_rule(n: str) -> Maker | None:
    make = NAMED.get(n)
    if make is not None:
        return make
    for test, maker in _WORDS:
        if test(n):
            return maker
    return None


_ALTERNATIVES = re.compile(r"^\^?\(?((?:[\w.-]+\|)+[\w.-]+)\)?\$?$")


def _string(schema: dict[str, Any], r: random.Random, c: _Ctx, name: str | None) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, dict):
        return _property_string(fmt, r, c)
    if isinstance(fmt, str):
        base, _, _suffix = fmt.partition("-list") if fmt.endswith("-list") else fmt.partition("-opt")
        make = FORMATS.get(fmt) or FORMATS.get(base)
        if make is not None:
            return str(make(r, c))
    if name is not None:
        make = _name_rule(_normal(name))
        if make is not None:
            return _fit(str(make(r, c)), schema)
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        m = _ALTERNATIVES.match(pattern)
        if m is not None:
            return r.choice(m.group(1).split("|"))
    described = _from_description(str(schema.get("description") or ""))
    if described is not None:
        return str(described(r, c))
    return _fit(r.choice(WORDS), schema)


def _fit(text: str, schema: dict[str, Any]) -> str:
    limit = schema.get("maxLength")
    return text[: int(limit)] if limit else text


_DESCRIBED: tuple[tuple[str, Maker], ...] = (
    ("date", _date(_epoch_past)),
    ("cidr", lambda r, c: f"{_ipv4(r, c)}/24"),  # "IP address ... with netmask (CIDR notation)"
    ("ip address", _ipv4),
    ("mac address", _mac),
    ("uuid", _uuid),
    ("fingerprint", _fingerprint),
    ("hostname", _node),
    ("url", _const("https://www.proxmox.com/")),
    ("path", _const("/var/lib/vz")),
    ("version", _const("9.2.0")),
)


@lru_cache(maxsize=1024)
def _from_description(text: str) -> Maker | None:
    low = text.lower()
    for word, maker in _DESCRIBED:
        if re.search(rf"\b{word}\b", low):
            return maker
    return None


def _property_string(fmt: dict[str, Any], r: random.Random, c: _Ctx) -> str:
    """A PVE property string (`key=value,...`) with the format's required keys."""
    parts: list[str] = []
    for key, sub in fmt.items():
        if not isinstance(sub, dict) or sub.get("optional") or sub.get("alias"):
            continue
        value = _value(sub, r, c, key, 4)
        if sub.get("default_key"):
            parts.insert(0, str(value))
        else:
            parts.append(f"{key}={value}")
    return ",".join(parts)
